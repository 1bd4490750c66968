// protocols/src/framed_receiver.cpp — the receivers' shared transport handling and failure path.
// Tests: tests/cpp/protocols/test_receivers.cpp
#include "treadle/protocols/framed_receiver.hpp"

namespace treadle {

void FramedReceiver::connection_made(Transport& transport) {
  transport_ = &transport;
  failed_ = false;
}

void FramedReceiver::connection_lost(std::error_code /*error*/) { transport_ = nullptr; }

void FramedReceiver::protocol_error(std::error_code /*error*/) {}

bool FramedReceiver::receiving() const noexcept {
  return transport_ != nullptr && !transport_->is_closing();
}

void FramedReceiver::fail(std::error_code error) {
  // A parser error is sticky, so end of stream after a bad frame would report it again; the
  // subclass hears about the broken framing once.
  if (failed_) return;
  failed_ = true;
  protocol_error(error);
  if (transport_ != nullptr) transport_->close();
}

}  // namespace treadle
