// core/include/treadle/core/loop.hpp — the abstract event loop every backend implements.
// Tests: tests/cpp/loops/test_loop.cpp (run on every backend)
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <unordered_set>
#include <utility>

#include <memory>
#include <vector>

#include "treadle/core/byte_channel.hpp"
#include "treadle/core/clock.hpp"
#include "treadle/core/endpoint.hpp"
#include "treadle/core/handle.hpp"

namespace treadle {

class Loop;

/// @brief What the loop tells its exception handler (asyncio's context dict, typed).
struct ExceptionContext {
  std::string message;           ///< Always set: what went wrong, in a sentence.
  std::exception_ptr exception;  ///< The exception a callback threw, if any.
  std::error_code error;         ///< The error, when the failure is an error code.
  Handle handle;                 ///< The handle whose callback failed, if any.
};

/// @brief Receives errors nobody else can handle; see `Loop::set_exception_handler`.
using ExceptionHandler = std::function<void(Loop&, const ExceptionContext&)>;

/// @brief Marker base for exceptions that must leave `run_forever()` instead of being
/// reported.
///
/// Everything else a callback throws goes to the exception handler and the loop keeps running.
/// An exception derived from `Interrupt` (the Python binding uses it for `KeyboardInterrupt`
/// and `SystemExit`) stops the iteration and propagates to the caller of `run_forever()` or
/// `run_once()`; callbacks not yet run in that iteration stay queued and the loop can be run
/// again.
class Interrupt {
 public:
  virtual ~Interrupt() = default;
};

/**
 * @brief Something that lives on a loop and must let go of it when the loop closes
 * (transports, servers): see `Loop::add_resource`.
 */
class LoopResource {
 public:
  /// @brief The loop is closing: release OS resources and every reference that keeps this
  /// object alive. No callback can run any more, so protocols get no `connection_lost`.
  /// Called once, on the loop's thread; the resource is already unregistered.
  virtual void loop_closed() noexcept = 0;

 protected:
  ~LoopResource() = default;
};

/**
 * @brief Work that a layer above the loop batches until the end of a phase: see
 * `Loop::defer_flush`. Stream transports are flushables: what their protocols write during
 * one phase goes to the kernel together at its end.
 */
class Flushable {
 public:
  /// @brief Does the deferred work; called once per `defer_flush`, on the loop's thread.
  /// Reports its own errors: the only exception it may let through derives from `Interrupt`.
  virtual void flush() = 0;

 protected:
  ~Flushable() = default;
};

/**
 * @brief Callbacks around the blocking part of the poll phase.
 *
 * An embedding that holds a lock while it runs callbacks (the Python binding and its GIL)
 * releases it in `before_wait` and takes it back in `after_wait`. Both are called on the
 * loop's thread, only when the wait may block (non-zero timeout), and always in pairs; the
 * loop calls `after_wait` before it runs any callback.
 */
class WaitHooks {
 public:
  virtual void before_wait() noexcept = 0;
  virtual void after_wait() noexcept = 0;

 protected:
  ~WaitHooks() = default;
};

/**
 * @brief An event loop: a ready queue, a timer heap and an I/O poller on one thread.
 *
 * Backends (see `treadle/loops/backends.hpp`) differ only in how they wait for I/O; they share
 * one scheduler, so the order in which callbacks run is the same on all of them. One iteration
 * (`run_once`) is, in order:
 *
 * 1. **Poll.** Wait for I/O. The wait is zero if callbacks are ready or `stop()` was called,
 *    until the earliest timer otherwise, forever if there is none (and never longer than
 *    `run_once`'s argument). I/O callbacks (readiness watchers, channel completions) run here,
 *    in the order the backend reports them. A zero-timeout poll is skipped if the last poll
 *    was less than 50 µs ago: while callbacks keep the loop busy, I/O is still looked at
 *    every 50 µs, without a syscall per iteration. Under `run_forever` a backend may go on
 *    waiting and running I/O callbacks in the same phase as long as they give the loop
 *    nothing else to do (no ready callback, thread callback, stop or due timer): the
 *    proactor does, as Asio's `run()`.
 * 2. **Adopt.** Append callbacks scheduled from other threads (`call_soon_threadsafe`) to the
 *    ready queue, in the order they were scheduled. `call_soon` adopts them too before it
 *    queues its own callback, so the ready queue is one FIFO across threads (asyncio's
 *    order): a callback scheduled from another thread before a `call_soon` runs before it.
 * 3. **Timers.** Move every timer whose deadline is not after now to the ready queue, in
 *    deadline order (scheduling order among equal deadlines). Cancelled timers are dropped.
 * 4. **Ready.** Run the callbacks that are in the ready queue at the start of this phase, in
 *    FIFO order. Callbacks they schedule run in the next iteration.
 *
 * Flushes deferred during the poll phase run at its end, and those deferred during the ready
 * phase at the end of that (see `defer_flush`): before the loop waits for I/O again either way.
 * (A backend whose poll phase may look at the kernel between I/O callbacks, as the proactor's
 * does, runs the poll phase's flushes after each I/O callback instead.)
 *
 * `run_forever()` repeats iterations until `stop()` was called; the iteration in which it is
 * called completes first, so `stop()` is "run what is ready now, then return".
 *
 * Callbacks that throw are reported to the exception handler and the loop carries on (see
 * `Interrupt` for the exception).
 *
 * **Thread safety.** A loop belongs to the thread that runs it. Only `call_soon_threadsafe`,
 * `stop` and `time` may be called from other threads; everything else, including cancelling
 * handles, must happen on the loop's thread (or while it is not running).
 */
class Loop {
 public:
  Loop() = default;
  Loop(const Loop&) = delete;
  Loop& operator=(const Loop&) = delete;
  /// Destroying a loop closes it first. It must not be running.
  virtual ~Loop() = default;

  /// @brief The backend's name, as given to `make_loop` ("reactor", "proactor", ...).
  virtual std::string_view backend() const noexcept = 0;

  /// @brief The loop running on the calling thread, or null.
  static Loop* current() noexcept;

  /// @name Time
  /// @{

  /// @brief The loop's clock in seconds (`Clock::now()`): monotonic, shared with
  /// Python's `time.monotonic()`.
  double time() const noexcept { return Clock::now(); }
  /// @brief The loop's clock in nanoseconds.
  std::int64_t time_ns() const noexcept { return Clock::now_ns(); }
  /// @}

  /// @name Scheduling callbacks
  /// Each returns a handle that can cancel the callback. The callback never runs inside the
  /// scheduling call. All throw `Error(errc::loop_closed)` once the loop is closed.
  /// @{

  /// @brief Runs `f()` in the ready phase of the next iteration, after everything already
  /// scheduled with `call_soon`.
  /// @param f any callable taking no arguments; moved into the handle, destroyed after it
  ///        ran, when it is cancelled, or when the loop closes.
  template <class F>
  Handle call_soon(F&& f) {
    auto h = make_handle(std::forward<F>(f));
    schedule(h);
    return Handle(std::move(h));
  }

  /// @brief Runs `f()` once `time() >= when` (never earlier).
  template <class F>
  TimerHandle call_at(double when, F&& f) {
    return call_at_ns(Clock::from_seconds(when), std::forward<F>(f));
  }

  /// @brief Runs `f()` once `delay` seconds have passed (never earlier). A delay of zero or
  /// less makes the timer due in the next iteration.
  template <class F>
  TimerHandle call_later(double delay, F&& f) {
    return call_at_ns(time_ns() + Clock::from_seconds(delay < 0 ? 0 : delay), std::forward<F>(f));
  }

  /// @brief `call_at` with a deadline in `Clock::now_ns()` nanoseconds.
  template <class F>
  TimerHandle call_at_ns(std::int64_t when_ns, F&& f) {
    detail::Ref<detail::TimerImpl> t(
        new detail::CallbackHandle<std::decay_t<F>, detail::TimerImpl>(std::forward<F>(f)));
    t->when_ns = when_ns;
    schedule_timer(t);
    return TimerHandle(std::move(t));
  }

  /// @brief `call_soon` that is safe from any thread: wakes the loop if it is waiting for
  /// I/O. Callbacks from one thread run in the order they were scheduled.
  template <class F>
  Handle call_soon_threadsafe(F&& f) {
    auto h = make_handle(std::forward<F>(f));
    schedule_threadsafe(h);
    return Handle(std::move(h));
  }
  /// @}

  /// @name Scheduling primitives
  /// What the templates above hand off to; bindings call them with their own handle types.
  /// @{

  /// @brief Appends `h` to the ready queue.
  virtual void schedule(detail::Ref<detail::HandleImpl> h) = 0;
  /// @brief Adds `t` to the timer heap at `t->when_ns`.
  virtual void schedule_timer(detail::Ref<detail::TimerImpl> t) = 0;
  /// @brief Queues `h` from any thread and wakes the loop.
  virtual void schedule_threadsafe(detail::Ref<detail::HandleImpl> h) = 0;
  /// @}

  /// @name Running and stopping
  /// @{

  /// @brief Runs iterations until `stop()` is called.
  /// @throws Error `errc::loop_running` if this loop, or another on this thread, is running;
  ///         `errc::loop_closed` if closed. Exceptions derived from `Interrupt` propagate.
  virtual void run_forever() = 0;
  /// @brief Runs exactly one iteration, waiting for I/O at most `max_wait` seconds.
  /// @throws Error as `run_forever`.
  virtual void run_once(double max_wait = std::numeric_limits<double>::infinity()) = 0;
  /// @brief Makes `run_forever` return after the current iteration; if the loop is not
  /// running, the next `run_forever` runs one iteration and returns. Safe from any thread.
  virtual void stop() noexcept = 0;
  /// @brief True while `run_forever` or `run_once` executes.
  virtual bool is_running() const noexcept = 0;
  /// @brief Closes the loop: pending callbacks and timers are discarded without running (their
  /// captures are destroyed now), watchers are removed, OS resources released. Idempotent.
  /// @throws Error `errc::loop_running` if called while running.
  virtual void close() = 0;
  /// @brief True once `close()` was called.
  virtual bool is_closed() const noexcept = 0;
  /// @}

  /// @name Readiness watchers
  /// Persistent watchers on any pollable file descriptor (sockets, pipes, eventfds, ttys):
  /// the callback runs in the poll phase of every iteration in which the fd is readable
  /// (writable), until removed. Adding a second reader (writer) for the same fd replaces the
  /// first. The loop never closes the fd. Both backends offer them, with the same code (the
  /// proactor keeps them in an epoll set that Asio watches).
  /// @{

  /// @throws std::system_error `EPERM` for fds that cannot be polled (regular files),
  ///         `EBADF` for invalid ones; `Error(errc::loop_closed)` when closed.
  virtual void add_reader(int fd, std::function<void()> callback) = 0;
  /// @returns true if a reader was registered for `fd`.
  virtual bool remove_reader(int fd) = 0;
  /// @copydoc add_reader
  virtual void add_writer(int fd, std::function<void()> callback) = 0;
  /// @returns true if a writer was registered for `fd`.
  virtual bool remove_writer(int fd) = 0;

  /// @brief One-shot watchers: `callback` runs once, in the poll phase of the first iteration
  /// in which `fd` is readable (writable), and the watcher is gone before it runs.
  ///
  /// They share the reader (writer) slot of `add_reader` (`add_writer`): each replaces the
  /// other, and `remove_reader` (`remove_writer`) cancels a wait that has not fired. A callback
  /// may start the next wait on the same fd. What they add over `add_reader` + `remove_reader`
  /// is cost: a backend may keep the fd registered, disarmed, between waits, so a loop of
  /// waits on one socket (the asyncio `sock_*` pattern) costs one system call per wait, not two.
  /// Both backends do so with `EPOLLONESHOT`: a disarmed registration can report nothing, so
  /// it is harmless when the fd is closed meanwhile, and a new file under the same number is
  /// registered afresh.
  /// @throws as `add_reader`.
  virtual void wait_readable(int fd, std::function<void()> callback) = 0;
  /// @copydoc wait_readable
  virtual void wait_writable(int fd, std::function<void()> callback) = 0;
  /// @}

  /// @brief Installs `hooks` (null removes them); the caller keeps them alive while set.
  void set_wait_hooks(WaitHooks* hooks) noexcept { wait_hooks_ = hooks; }

  /// @name Channels and name resolution
  /// What the transports layer builds connections from; it is backend-neutral because every
  /// backend supplies these.
  /// @{

  /// @brief Wraps a connected stream socket (TCP or Unix) in this backend's `ByteChannel`.
  /// @param fd a connected socket; ownership passes to the channel, which makes it
  ///        non-blocking and closes it. On failure the fd is closed and the error thrown.
  virtual std::unique_ptr<ByteChannel> make_stream_channel(int fd) = 0;

  /// @brief Delivers the result of a resolution: an error, or the addresses in the order the
  /// resolver returned them.
  using ResolveCallback = std::function<void(std::error_code, std::vector<Endpoint>)>;

  /// @brief Resolves `host`:`port` without blocking the loop.
  ///
  /// Numeric addresses (and an empty host, meaning "any" for `AI_PASSIVE` or loopback
  /// otherwise) are converted at once; names go to `getaddrinfo(3)` on a resolver thread
  /// owned by the loop. `done` runs on the loop's thread, never inside this call; if the
  /// loop closes first it is destroyed without running. Errors from `getaddrinfo` are in
  /// `resolver_category()`.
  /// @param family `AF_UNSPEC`, `AF_INET` or `AF_INET6`.
  /// @param flags `getaddrinfo` flags, e.g. `AI_PASSIVE` for servers.
  virtual void resolve(std::string host, std::uint16_t port, int family, int flags,
                       ResolveCallback done) = 0;
  /// @}

  /// @name Flushing at the end of a phase
  /// @{

  /// @brief Calls `f.flush()` once, at the end of the current phase: the poll phase if this is
  /// called from an I/O callback, the ready phase if from a ready callback or a timer (from
  /// outside `run_*`: at the end of the next poll phase). Either way that is before the loop
  /// next waits for I/O, and a pending flush makes the next poll not wait. On the proactor,
  /// whose poll phase may look at the kernel between I/O callbacks, a flush deferred by one
  /// runs as soon as it returns (see doc/design/loop.rst).
  ///
  /// Transports use it to send what one phase's callbacks wrote in one system call per
  /// connection, and every connection's together: after the callbacks that produce replies
  /// rather than between them (what uvloop does with libuv's check phase). Each call queues
  /// `f` once more: the caller keeps a flag. Flushes queued while flushes run, run too.
  void defer_flush(Flushable& f) { flushes_.push_back(&f); }
  /// @brief Forgets every queued flush of `f`: for an `f` that goes away first.
  void cancel_flush(Flushable& f) noexcept {
    for (Flushable*& queued : flushes_) {
      if (queued == &f) queued = nullptr;
    }
  }
  /// @}

  /// @brief Registers `resource` to be told when this loop closes (it must unregister
  /// itself with `remove_resource` if it goes away first).
  void add_resource(LoopResource* resource) { resources_.insert(resource); }
  /// @brief Unregisters `resource`; unknown ones are ignored.
  void remove_resource(LoopResource* resource) noexcept { resources_.erase(resource); }

  /// @name Errors
  /// @{

  /// @brief Installs `handler` (an empty one restores the default).
  void set_exception_handler(ExceptionHandler handler) { handler_ = std::move(handler); }
  /// @brief The installed handler (empty for the default).
  const ExceptionHandler& get_exception_handler() const noexcept { return handler_; }
  /// @brief Calls the installed handler, or `default_exception_handler`. Never throws: a
  /// handler that throws is reported by the default handler.
  void call_exception_handler(const ExceptionContext& context) noexcept;
  /// @brief Writes the context (message, exception text, error) to standard error.
  void default_exception_handler(const ExceptionContext& context) noexcept;
  /// @}

 protected:
  /// Marks (or clears, with null) the loop running on this thread; used by backends.
  static void set_current(Loop* loop) noexcept;

  /// Tells every registered resource that the loop closed (for backends' `close()`).
  void close_resources() noexcept {
    // One at a time from the live set: closing one may destroy (and unregister) others.
    while (!resources_.empty()) {
      LoopResource* r = *resources_.begin();
      resources_.erase(resources_.begin());
      r->loop_closed();
    }
  }

  /// The installed hooks, or null (for backends).
  WaitHooks* wait_hooks() const noexcept { return wait_hooks_; }

  /// True while `defer_flush` has queued flushes that have not run (for backends).
  bool has_flushes() const noexcept { return !flushes_.empty(); }
  /// Runs the queued flushes, including those they queue, in order (for backends). An
  /// `Interrupt` propagates; flushes not yet run stay queued. Anything else a flush throws
  /// goes to the exception handler.
  void run_flushes();
  /// Drops the queued flushes unrun (for backends' `close()`).
  void drop_flushes() noexcept { flushes_.clear(); }

 private:
  template <class F>
  static detail::Ref<detail::HandleImpl> make_handle(F&& f) {
    return detail::Ref<detail::HandleImpl>(
        new detail::CallbackHandle<std::decay_t<F>>(std::forward<F>(f)));
  }

  ExceptionHandler handler_;
  WaitHooks* wait_hooks_ = nullptr;
  std::unordered_set<LoopResource*> resources_;
  std::vector<Flushable*> flushes_;  // null: cancelled
};

}  // namespace treadle
