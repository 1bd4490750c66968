// protocols/src/intn_receiver.cpp — IntNStringReceiver: IntNParser glued to a transport.
// Tests: tests/cpp/protocols/test_receivers.cpp
#include "treadle/protocols/intn_receiver.hpp"

#include <array>
#include <cstddef>
#include <functional>

#include "treadle/core/error.hpp"

namespace treadle {

IntNStringReceiver::IntNStringReceiver(std::size_t prefix_length, std::size_t max_length)
    : parser_(prefix_length, max_length) {}

void IntNStringReceiver::data_received(ConstBuffer data) {
  dispatch(data, std::bind_front(&IntNParser::next_frame, &parser_),
           std::bind_front(&IntNStringReceiver::string_received, this));
}

bool IntNStringReceiver::eof_received() { return end_of_stream(parser_); }

void IntNStringReceiver::send_string(std::string_view payload) {
  std::error_code ec;
  send_string(payload, ec);
  if (ec) Error::raise(ec, "IntNStringReceiver::send_string");
}

void IntNStringReceiver::send_string(std::string_view payload, std::error_code& ec) {
  const std::size_t width = prefix_length();
  if (payload.size() > IntNParser::prefix_limit(width)) {
    // A truncated prefix would desynchronise the peer for the rest of the connection.
    ec = errc::frame_too_large;
    return;
  }
  ec.clear();
  if (transport() == nullptr) return;
  std::array<std::byte, 4> prefix{};
  for (std::size_t i = 0; i < width; ++i) {
    prefix[width - 1 - i] = static_cast<std::byte>((payload.size() >> (8 * i)) & 0xff);
  }
  const ConstBuffer parts[] = {ConstBuffer(prefix.data(), width), as_bytes(payload)};
  transport()->writev(parts);
}

}  // namespace treadle
