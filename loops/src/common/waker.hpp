// loops/src/common/waker.hpp — the eventfd that wakes a loop's epoll wait from other threads.
// Tests: tests/cpp/loops/test_threads.cpp (every backend)
#pragma once

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "epoll_poller.hpp"
#include "treadle/core/error.hpp"

namespace treadle::detail {

/// The eventfd that `call_soon_threadsafe` and `stop` write to wake a waiting poll: registered
/// in the reactor's epoll set, and in the proactor's watcher set that Asio watches (so no
/// thread but the loop's ever touches Asio).
class Waker final : public IoSource {
 public:
  Waker() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) Error::raise(errno_code(errno), "eventfd");
  }
  ~Waker() { close(); }
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  int fd() const noexcept { return fd_; }
  void wake() noexcept {
    const std::uint64_t one = 1;
    // EAGAIN means the counter is saturated, i.e. a wake-up is pending anyway.
    (void)!::write(fd_, &one, sizeof one);
  }
  void on_events(std::uint32_t) override {
    std::uint64_t count;
    (void)!::read(fd_, &count, sizeof count);
  }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

}  // namespace treadle::detail
