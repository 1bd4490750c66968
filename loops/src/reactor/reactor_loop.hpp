// loops/src/reactor/reactor_loop.hpp — treadle's own readiness loop on epoll.
// Tests: tests/cpp/loops/* (reactor)
#pragma once

#include <functional>
#include <memory>
#include <vector>

#include "../common/epoll_poller.hpp"
#include "../common/epoll_watchers.hpp"
#include "../common/loop_base.hpp"
#include "../common/waker.hpp"

namespace treadle::detail {

/**
 * @brief The reactor backend: `LoopBase` plus an epoll poller, an eventfd for wake-ups, and
 * the readiness watchers of `EpollWatchers` in that same poller.
 *
 * I/O callbacks run straight from the poll phase (no trip through the ready queue). A source
 * removed while a batch of events is being dispatched is kept until the batch ends and skips
 * its remaining events, so a callback may remove any watcher, including its own.
 *
 * Watchers are level-triggered, one-shot waits `EPOLLONESHOT` (see common/epoll_watchers.hpp).
 */
class ReactorLoop final : public LoopBase {
 public:
  ReactorLoop();
  ~ReactorLoop() override;

  std::string_view backend() const noexcept override { return "reactor"; }

  /// The poller, for the reactor's channels.
  EpollPoller& poller() noexcept { return poller_; }

  std::unique_ptr<ByteChannel> make_stream_channel(int fd) override;

  /// Frees `source` once the current batch of events has been dispatched (at once if the
  /// loop is closed): events already fetched for it are skipped, never delivered to freed
  /// memory.
  void retire(std::unique_ptr<IoSource> source) noexcept { watchers_.retire(std::move(source)); }
  /// Calls `source->on_events(0)` in the next poll phase, without waiting for the kernel:
  /// how channels attempt an operation speculatively without completing inside the call
  /// that started it.
  void defer(IoSource* source);

 protected:
  void poll_io(std::int64_t timeout_ns) override;
  void wakeup() noexcept override;
  void close_io() noexcept override;
  bool has_deferred_io() const noexcept override { return !deferred_.empty(); }

 private:
  EpollWatchers& watchers() noexcept override { return watchers_; }

  EpollPoller poller_;
  Waker waker_;
  EpollWatchers watchers_{*this, poller_};
  std::vector<IoSource*> deferred_;  // see defer()
};

}  // namespace treadle::detail
