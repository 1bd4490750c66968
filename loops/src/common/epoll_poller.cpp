// loops/src/common/epoll_poller.cpp — epoll_create/ctl/wait, and nothing else.
// Tests: tests/cpp/loops/test_loop.cpp (reactor), tests/cpp/loops/test_watchers.cpp
#include "epoll_poller.hpp"

#include <unistd.h>

#include <cerrno>
#include <ctime>

#include "treadle/core/error.hpp"

namespace treadle::detail {

EpollPoller::EpollPoller() : epfd_(::epoll_create1(EPOLL_CLOEXEC)) {
  if (epfd_ < 0) Error::raise(errno_code(errno), "epoll_create1");
}

EpollPoller::~EpollPoller() { close(); }

void EpollPoller::close() noexcept {
  if (epfd_ >= 0) ::close(epfd_);
  epfd_ = -1;
}

std::error_code EpollPoller::add(int fd, std::uint32_t events, IoSource* source) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = source;
  if (::epoll_ctl(epfd_, EPOLL_CTL_ADD, fd, &ev) != 0) return errno_code(errno);
  return {};
}

std::error_code EpollPoller::modify(int fd, std::uint32_t events, IoSource* source) noexcept {
  epoll_event ev{};
  ev.events = events;
  ev.data.ptr = source;
  if (::epoll_ctl(epfd_, EPOLL_CTL_MOD, fd, &ev) == 0) return {};
  // Closing an fd removes it from epoll behind our back; the number may since belong to a new
  // file, which must be added afresh.
  if (errno == ENOENT) return add(fd, events, source);
  return errno_code(errno);
}

void EpollPoller::remove(int fd) noexcept {
  epoll_event ev{};
  (void)::epoll_ctl(epfd_, EPOLL_CTL_DEL, fd, &ev);
}

int EpollPoller::wait_raw(std::int64_t timeout_ns) {
  const int max = static_cast<int>(events_.size());
  int n;
  if (have_pwait2_) {
    timespec ts{timeout_ns / 1'000'000'000, timeout_ns % 1'000'000'000};
    n = ::epoll_pwait2(epfd_, events_.data(), max, timeout_ns < 0 ? nullptr : &ts, nullptr);
    if (n >= 0 || errno != ENOSYS) return n < 0 ? 0 : n;  // EINTR: a spurious wake-up
    have_pwait2_ = false;
  }
  int ms = -1;
  if (timeout_ns >= 0) {
    const std::int64_t up = (timeout_ns + 999'999) / 1'000'000;
    ms = up > 1'000'000'000 ? 1'000'000'000 : static_cast<int>(up);
  }
  n = ::epoll_wait(epfd_, events_.data(), max, ms);
  return n < 0 ? 0 : n;
}

}  // namespace treadle::detail
