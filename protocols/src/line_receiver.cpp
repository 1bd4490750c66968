// protocols/src/line_receiver.cpp — LineReceiver: LineParser glued to a transport.
// Tests: tests/cpp/protocols/test_receivers.cpp
#include "treadle/protocols/line_receiver.hpp"

#include <functional>
#include <utility>

namespace treadle {

LineReceiver::LineReceiver(std::string delimiter, std::size_t max_length)
    : parser_(std::move(delimiter), max_length) {}

void LineReceiver::data_received(ConstBuffer data) {
  dispatch(data, std::bind_front(&LineParser::next_line, &parser_),
           std::bind_front(&LineReceiver::line_received, this));
}

bool LineReceiver::eof_received() { return end_of_stream(parser_); }

void LineReceiver::send_line(std::string_view line) {
  if (transport() == nullptr) return;
  const ConstBuffer parts[] = {as_bytes(line), as_bytes(parser_.delimiter())};
  transport()->writev(parts);
}

}  // namespace treadle
