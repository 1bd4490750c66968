// protocols/src/echo.cpp — Echo: writes back what it receives, reading no faster than it writes.
// Tests: tests/cpp/protocols/test_receivers.cpp
#include "treadle/protocols/echo.hpp"

namespace treadle {

void Echo::connection_made(Transport& transport) { transport_ = &transport; }

void Echo::data_received(ConstBuffer data) {
  if (transport_ == nullptr) return;
  transport_->write(data);
  bytes_echoed_ += data.size();
}

void Echo::connection_lost(std::error_code /*error*/) { transport_ = nullptr; }

void Echo::pause_writing() {
  if (transport_ != nullptr) transport_->pause_reading();
}

void Echo::resume_writing() {
  if (transport_ != nullptr) transport_->resume_reading();
}

}  // namespace treadle
