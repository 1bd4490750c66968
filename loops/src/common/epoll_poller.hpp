// loops/src/common/epoll_poller.hpp — the loops' only contact with epoll: the reactor polls one
// directly; the proactor nests one, for its watchers, in Asio's reactor.
// Tests: tests/cpp/loops/test_loop.cpp (reactor), tests/cpp/loops/test_watchers.cpp
#pragma once

#include <sys/epoll.h>

#include <array>
#include <cstdint>
#include <system_error>

namespace treadle::detail {

/// @brief Something registered with the poller: it receives the epoll event mask.
class IoSource {
 public:
  virtual ~IoSource() = default;
  virtual void on_events(std::uint32_t events) = 0;
  /// Set when the source is handed to `EpollWatchers::retire`: its remaining events in the
  /// current batch are skipped.
  bool retired = false;
};

/**
 * @brief A thin wrapper of one epoll instance.
 *
 * Waits with nanosecond timeouts (`epoll_pwait2`, falling back to `epoll_wait` with the
 * timeout rounded *up* to a millisecond, so a wait never ends before a timer is due).
 */
class EpollPoller {
 public:
  EpollPoller();
  ~EpollPoller();
  EpollPoller(const EpollPoller&) = delete;
  EpollPoller& operator=(const EpollPoller&) = delete;

  std::error_code add(int fd, std::uint32_t events, IoSource* source) noexcept;
  /// Changes the mask; re-adds the fd if the kernel forgot it (closed and reused fd number).
  std::error_code modify(int fd, std::uint32_t events, IoSource* source) noexcept;
  /// Removes the fd; an fd that is already closed or unknown is not an error.
  void remove(int fd) noexcept;

  /// Waits up to `timeout_ns` (-1: forever) and calls `dispatch(source, events)` for each
  /// ready source. Returns the number of events.
  template <class Dispatch>
  int wait(std::int64_t timeout_ns, Dispatch&& dispatch) {
    const int n = wait_raw(timeout_ns);
    for (int i = 0; i < n; ++i) {
      dispatch(static_cast<IoSource*>(events_[i].data.ptr), events_[i].events);
    }
    return n;
  }

  void close() noexcept;

  /// The epoll fd itself (readable while any registered source is ready).
  int fd() const noexcept { return epfd_; }
  /// The most events one `wait` reports: a wait that returns this many may have left more.
  static constexpr int kMaxEvents = 256;

 private:
  int wait_raw(std::int64_t timeout_ns);

  int epfd_ = -1;
  bool have_pwait2_ = true;
  std::array<epoll_event, kMaxEvents> events_{};
};

}  // namespace treadle::detail
