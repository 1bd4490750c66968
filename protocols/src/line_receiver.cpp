// protocols/src/line_receiver.cpp — LineReceiver: LineParser glued to a transport.
// Tests: tests/cpp/protocols/test_receivers.cpp
#include "treadle/protocols/line_receiver.hpp"

#include <utility>

namespace treadle {

LineReceiver::LineReceiver(std::string delimiter, std::size_t max_length)
    : parser_(std::move(delimiter), max_length) {}

void LineReceiver::data_received(ConstBuffer data) {
  dispatch(
      data,
      [this](ConstBuffer& input, std::error_code& ec) { return parser_.next_line(input, ec); },
      [this](std::string_view line) { line_received(line); });
}

bool LineReceiver::eof_received() {
  if (std::error_code ec = parser_.feed_eof()) fail(ec);
  return false;
}

void LineReceiver::send_line(std::string_view line) {
  if (transport() == nullptr) return;
  const ConstBuffer parts[] = {as_bytes(line), as_bytes(parser_.delimiter())};
  transport()->writev(parts);
}

}  // namespace treadle
