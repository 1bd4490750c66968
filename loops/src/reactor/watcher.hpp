// loops/src/reactor/watcher.hpp — one fd's readiness watcher (defined by reactor/watchers.cpp).
// Tests: tests/cpp/loops/test_watchers.cpp (every backend)
#pragma once

#include <sys/epoll.h>

#include <cstdint>

#include "reactor_loop.hpp"

namespace treadle::detail {

/// A reader and/or writer callback on one fd.
///
/// `armed` mirrors the mask the kernel holds for the fd (0 once an `EPOLLONESHOT` event has
/// disarmed it), `registered` whether the fd is in the interest list at all. A watcher with no
/// callback left is either removed (it was armed: `EPOLL_CTL_DEL`) or, after a one-shot fired,
/// parked: registered and disarmed, ready to be re-armed with one `EPOLL_CTL_MOD`.
class ReactorLoop::Watcher final : public IoSource {
 public:
  Watcher(ReactorLoop& loop, int fd) : loop_(loop), fd_(fd) {}

  Callback reader, writer;
  bool reader_once = false;
  bool writer_once = false;
  std::uint32_t armed = 0;
  bool registered = false;

  std::uint32_t mask() const noexcept {
    const std::uint32_t m = (reader ? EPOLLIN : 0u) | (writer ? EPOLLOUT : 0u);
    const bool once = (reader && reader_once) || (writer && writer_once);
    return once ? m | EPOLLONESHOT : m;
  }

  void on_events(std::uint32_t events) override {
    if ((armed & EPOLLONESHOT) != 0) armed = 0;  // the kernel disarmed it to report this
    // Errors and hang-ups wake both sides, as selectors do: the callback's own read or
    // write then reports the condition. A one-shot slot is emptied before its callback runs,
    // so the callback may start the next wait.
    constexpr std::uint32_t kAlways = EPOLLHUP | EPOLLERR;
    if (!retired && reader && (events & (EPOLLIN | kAlways))) {
      Callback cb = reader;  // the callback may replace or remove itself
      if (reader_once) reader = nullptr;
      Resync resync{*this};
      loop_.run_io_callback(*cb);
    }
    if (!retired && writer && (events & (EPOLLOUT | kAlways))) {
      Callback cb = writer;
      if (writer_once) writer = nullptr;
      Resync resync{*this};
      loop_.run_io_callback(*cb);
    }
    if (!retired) (void)loop_.sync(fd_, *this);
  }

 private:
  /// Re-arms what is still watched even if a callback throws (an `Interrupt` leaves the loop,
  /// and a disarmed watcher would never fire again).
  struct Resync {
    Watcher& w;
    ~Resync() {
      if (!w.retired) (void)w.loop_.sync(w.fd_, w);
    }
  };

  ReactorLoop& loop_;
  int fd_;
};

}  // namespace treadle::detail
