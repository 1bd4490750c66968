// loops/src/common/epoll_watchers.hpp — readiness watchers over an epoll set, for every backend.
// Tests: tests/cpp/loops/test_watchers.cpp, tests/cpp/loops/test_waits.cpp (every backend)
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <system_error>
#include <unordered_map>
#include <utility>
#include <vector>

#include "epoll_poller.hpp"

namespace treadle::detail {

class LoopBase;

/**
 * @brief The `add_reader` … `wait_writable` watchers of one loop, kept in an `EpollPoller`.
 *
 * Persistent watchers are level-triggered, as selectors are. One-shot waits use
 * `EPOLLONESHOT`; after one fires with nothing else watching the fd, its watcher is *parked*:
 * still registered but disarmed, so the next wait on the fd needs one `EPOLL_CTL_MOD` instead
 * of a DEL now and an ADD later. A disarmed registration can never report, which is what
 * makes parking safe when the fd is closed behind the loop's back, even while a dup keeps
 * the old file open; `EpollPoller::modify` re-adds a reused fd number.
 *
 * The reactor keeps its watchers in the poller it waits on. The proactor keeps them in a
 * poller of their own, whose fd it watches through Asio (see proactor_loop.cpp), so both
 * backends share this code and its costs: one `epoll_ctl` per one-shot wait.
 *
 * Sources removed while a batch of events is dispatched are retired: kept until `end_batch`
 * and skipped meanwhile, so a callback may remove any watcher, including its own.
 */
class EpollWatchers {
 public:
  /// A watcher's callback, shared so that a running callback survives its own removal.
  using Callback = std::shared_ptr<std::function<void()>>;

  /// Callbacks run through `loop.run_io_callback`; fds are registered in `poller`.
  EpollWatchers(LoopBase& loop, EpollPoller& poller);
  ~EpollWatchers();
  EpollWatchers(const EpollWatchers&) = delete;
  EpollWatchers& operator=(const EpollWatchers&) = delete;

  /// Installs `cb` as the fd's reader (writer), persistent or one-shot (`once`); throws
  /// `std::system_error` with epoll's errno (EBADF, EPERM for regular files, ...).
  void set(int fd, bool reading, bool once, Callback cb);
  /// Removes the fd's reader (writer); true if there was one.
  bool clear(int fd, bool reading);
  /// Drops the fd's parked registration, if any: a channel is taking the fd.
  void forget_parked(int fd) noexcept;

  /// Frees `source` at `end_batch` (at once once the loop is closed).
  void retire(std::unique_ptr<IoSource> source) noexcept;
  /// Frees the sources retired during the batch just dispatched.
  void end_batch() noexcept { retired_.clear(); }

  /// True if a persistent watcher's callback ran since the last call. Its fd may still be
  /// ready, and epoll re-queues such an event without waking an epoll set that watches this
  /// one, so a nested set must be polled again without waiting.
  bool take_level_fired() noexcept { return std::exchange(level_fired_, false); }

  /// Unregisters every watcher (the loop is closing).
  void close() noexcept;

 private:
  class Watcher;

  std::error_code sync(int fd, Watcher& w);

  LoopBase& loop_;
  EpollPoller& poller_;
  std::unordered_map<int, std::unique_ptr<Watcher>> watchers_;
  std::vector<std::unique_ptr<IoSource>> retired_;  // freed by end_batch()
  bool level_fired_ = false;
};

}  // namespace treadle::detail
