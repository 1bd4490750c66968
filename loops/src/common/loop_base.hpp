// loops/src/common/loop_base.hpp — the scheduler every backend shares.
// Tests: tests/cpp/loops/test_loop.cpp (run on every backend)
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "epoll_watchers.hpp"
#include "resolver.hpp"
#include "timer_heap.hpp"
#include "treadle/core/loop.hpp"

namespace treadle::detail {

/**
 * @brief Everything about a loop except waiting for I/O: ready queue, timer heap, the queue
 * of work from other threads, running and stopping, closing.
 *
 * A backend derives from it and supplies the seam: `poll_io` (wait at most a timeout and run
 * the I/O callbacks that are due), `wakeup` (make a wait return early, from any thread) and
 * `close_io`, plus the readiness watchers. The phase order written in `Loop`'s class comment
 * is implemented once, in `iterate()`, so callback order is the same on every backend.
 */
class LoopBase : public Loop {
 public:
  ~LoopBase() override;

  void schedule(Ref<HandleImpl> h) override;
  void schedule_timer(Ref<TimerImpl> t) override;
  void schedule_threadsafe(Ref<HandleImpl> h) override;

  void run_forever() override;
  void run_once(double max_wait) override;
  void stop() noexcept override;
  bool is_running() const noexcept override { return running_; }
  void close() override;

  // The watcher entry points of Loop, the same for every backend: each keeps its watchers in
  // an EpollWatchers (see watchers()).
  void add_reader(int fd, std::function<void()> cb) final { watch(fd, true, false, cb); }
  void add_writer(int fd, std::function<void()> cb) final { watch(fd, false, false, cb); }
  void wait_readable(int fd, std::function<void()> cb) final { watch(fd, true, true, cb); }
  void wait_writable(int fd, std::function<void()> cb) final { watch(fd, false, true, cb); }
  bool remove_reader(int fd) final { return !is_closed() && watchers().clear(fd, true); }
  bool remove_writer(int fd) final { return !is_closed() && watchers().clear(fd, false); }
  bool is_closed() const noexcept override { return closed_.load(std::memory_order_acquire); }

  void resolve(std::string host, std::uint16_t port, int family, int flags,
               ResolveCallback done) override;

  /// Runs an I/O callback: exceptions go to the exception handler; an `Interrupt` is held
  /// until the poll phase ends (so the rest of the batch is still dispatched), then rethrown.
  /// While `flush_each_io_callback_` is set, the flushes it deferred run right after it.
  template <class F>
  void run_io_callback(F&& f) noexcept {
    end_wait();
    try {
      f();
      if (flush_each_io_callback_ && has_flushes()) run_flushes();
    } catch (const Interrupt&) {
      if (!interrupt_) interrupt_ = std::current_exception();
    } catch (...) {
      call_exception_handler({"Exception in I/O callback", std::current_exception(), {}, {}});
    }
  }

  /// Ready callbacks and timers held (for tests and debugging).
  std::size_t ready_count() const noexcept { return ready_.size(); }
  std::size_t timer_count() const noexcept { return timers_.size(); }

 protected:
  LoopBase() = default;

  /// Waits for I/O for at most `timeout_ns` (-1: no limit, 0: do not block) and runs the
  /// I/O callbacks that became due, each through `run_io_callback`.
  virtual void poll_io(std::int64_t timeout_ns) = 0;
  /// Makes a current or the next `poll_io` return promptly. Called from any thread, never
  /// after `close_io`.
  virtual void wakeup() noexcept = 0;
  /// Removes watchers and releases the backend's OS resources; called once by `close()`.
  virtual void close_io() noexcept = 0;
  /// The backend's readiness watchers: the reactor keeps them in the epoll set it waits on,
  /// the proactor in one that Asio watches.
  virtual EpollWatchers& watchers() noexcept = 0;

  /// True if the backend has I/O work to do without waiting (the poll must not block).
  virtual bool has_deferred_io() const noexcept { return false; }

  /// How long a poll phase that has already run callbacks may go on waiting for more I/O:
  /// 0 once anything else needs the loop (ready callbacks, callbacks from other threads, a
  /// stop, an interrupt to rethrow), else until the earliest timer (-1: no timer).
  /// Under `run_once` there is no such time: its one iteration ends after one wait.
  std::int64_t idle_wait_ns() {
    if (interrupt_ || !forever_) return 0;
    return poll_timeout(-1);
  }

  /// Throws `Error(errc::loop_closed)` if closed.
  void check_open() const;

  /// Brackets the blocking part of `poll_io`: calls the `WaitHooks` when `timeout_ns` is not
  /// zero. `end_wait` is idempotent, and `run_io_callback` calls it, so a backend whose wait
  /// also runs handlers (Asio's `run_one_for`) still runs every callback outside the wait.
  void begin_wait(std::int64_t timeout_ns) noexcept {
    if (timeout_ns != 0 && wait_hooks() != nullptr) {
      in_wait_ = true;
      wait_hooks()->before_wait();
    }
  }
  void end_wait() noexcept {
    if (in_wait_) {
      in_wait_ = false;
      wait_hooks()->after_wait();
    }
  }

  /// Closes the backend if a derived destructor did not (backends call `close()` in their own
  /// destructor, while their members still exist).
  void close_from_destructor() noexcept;

  /// Set by a backend while its poll phase may look at the kernel between I/O callbacks (the
  /// proactor's): each callback's flushes then run as it returns (see `Loop::defer_flush`).
  bool flush_each_io_callback_ = false;

 private:
  class RunScope;
  void watch(int fd, bool reading, bool once, std::function<void()>& cb) {
    check_open();
    watchers().set(fd, reading, once, std::make_shared<std::function<void()>>(std::move(cb)));
  }
  void iterate(std::int64_t max_wait_ns);
  std::int64_t poll_timeout(std::int64_t max_wait_ns);
  void adopt_remote();
  void run_ready();

  std::deque<Ref<HandleImpl>> ready_;
  TimerHeap timers_;
  std::unique_ptr<Resolver> resolver_;  // started on the first name lookup

  std::mutex remote_mutex_;  // guards remote_, wake_pending_ and closing against wakeup()
  std::vector<Ref<HandleImpl>> remote_;
  bool wake_pending_ = false;
  std::atomic<bool> has_remote_{false};

  std::atomic<bool> stopping_{false};
  std::atomic<bool> closed_{false};
  bool running_ = false;
  bool forever_ = false;  // running under run_forever (see idle_wait_ns())
  bool in_wait_ = false;
  static constexpr std::int64_t kBusyPollNs = 50'000;  // see iterate()
  std::int64_t last_poll_ns_ = 0;
  std::exception_ptr interrupt_;
};

}  // namespace treadle::detail
