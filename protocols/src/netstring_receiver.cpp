// protocols/src/netstring_receiver.cpp — NetstringReceiver: NetstringParser glued to a transport.
// Tests: tests/cpp/protocols/test_receivers.cpp
#include "treadle/protocols/netstring_receiver.hpp"

#include <charconv>
#include <functional>

namespace treadle {

NetstringReceiver::NetstringReceiver(std::size_t max_length) : parser_(max_length) {}

void NetstringReceiver::data_received(ConstBuffer data) {
  dispatch(data, std::bind_front(&NetstringParser::next_string, &parser_),
           std::bind_front(&NetstringReceiver::string_received, this));
}

bool NetstringReceiver::eof_received() { return end_of_stream(parser_); }

void NetstringReceiver::send_string(std::string_view payload) {
  if (transport() == nullptr) return;
  // 20 digits hold any 64-bit size, plus the ':'.
  char header[24];
  char* end = std::to_chars(header, header + sizeof header - 1, payload.size()).ptr;
  *end++ = ':';
  const ConstBuffer parts[] = {as_bytes(std::string_view(header, end - header)), as_bytes(payload),
                               as_bytes(",")};
  transport()->writev(parts);
}

}  // namespace treadle
