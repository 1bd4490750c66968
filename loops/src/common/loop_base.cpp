// loops/src/common/loop_base.cpp — one loop iteration, and the state around it.
// Tests: tests/cpp/loops/test_loop.cpp (run on every backend)
#include "loop_base.hpp"

#include <netdb.h>
#include <algorithm>
#include <cmath>

#include "treadle/core/error.hpp"

namespace treadle::detail {

/// Marks the loop running on this thread for the duration of a run call.
class LoopBase::RunScope {
 public:
  explicit RunScope(LoopBase& loop) : loop_(loop) {
    loop.check_open();
    if (loop.running_ || Loop::current() != nullptr) Error::raise(errc::loop_running);
    loop.running_ = true;
    Loop::set_current(&loop);
  }
  ~RunScope() {
    loop_.running_ = false;
    Loop::set_current(nullptr);
  }
  RunScope(const RunScope&) = delete;
  RunScope& operator=(const RunScope&) = delete;

 private:
  LoopBase& loop_;
};

LoopBase::~LoopBase() = default;

void LoopBase::check_open() const {
  if (is_closed()) Error::raise(errc::loop_closed);
}

void LoopBase::schedule(Ref<HandleImpl> h) {
  check_open();
  // One FIFO for everyone, as asyncio's single ready deque: a callback another thread
  // scheduled before this call (happens-before) must run before this one.
  adopt_remote();
  ready_.push_back(std::move(h));
}

void LoopBase::schedule_timer(Ref<TimerImpl> t) {
  check_open();
  timers_.push(std::move(t));
}

void LoopBase::schedule_threadsafe(Ref<HandleImpl> h) {
  // The wake-up happens under the lock so that it can never race with close_io().
  std::lock_guard lock(remote_mutex_);
  check_open();
  remote_.push_back(std::move(h));
  has_remote_.store(true, std::memory_order_release);
  // One wake-up per batch: the loop clears the flag when it takes the whole batch, so any
  // later push wakes it again.
  if (!wake_pending_) {
    wake_pending_ = true;
    wakeup();
  }
}

void LoopBase::stop() noexcept {
  stopping_.store(true, std::memory_order_release);
  std::lock_guard lock(remote_mutex_);
  if (!is_closed()) wakeup();
}

void LoopBase::run_forever() {
  RunScope scope(*this);
  forever_ = true;
  struct Reset {
    bool& flag;
    ~Reset() { flag = false; }
  } reset{forever_};
  for (;;) {
    iterate(-1);
    if (stopping_.exchange(false, std::memory_order_acq_rel)) break;
  }
}

void LoopBase::run_once(double max_wait) {
  RunScope scope(*this);
  std::int64_t max_wait_ns = -1;
  if (std::isfinite(max_wait)) max_wait_ns = Clock::from_seconds(std::max(0.0, max_wait));
  iterate(max_wait_ns);
}

// One iteration; the numbered phases are those of Loop's class comment and of
// doc/design/loop.rst.
void LoopBase::iterate(std::int64_t max_wait_ns) {
  // 1. Poll: wait for I/O no longer than the earliest timer (not at all if work is ready),
  //    running I/O callbacks as the backend reports them.
  //    A zero-timeout poll is a syscall that usually finds nothing; while callbacks keep the
  //    loop busy it is done at most every kBusyPollNs, which bounds the I/O latency it adds.
  const std::int64_t timeout = poll_timeout(max_wait_ns);
  if (timeout != 0 || Clock::now_ns() - last_poll_ns_ >= kBusyPollNs) {
    poll_io(timeout);
    last_poll_ns_ = Clock::now_ns();
  }
  if (interrupt_) std::rethrow_exception(std::exchange(interrupt_, nullptr));
  //    What the I/O callbacks wrote goes out together, after all of them (Loop::defer_flush).
  if (has_flushes()) run_flushes();

  // 2. Adopt: callbacks scheduled from other threads join the ready queue, in order.
  adopt_remote();

  // 3. Timers: every timer due now joins the ready queue, earliest first. The clock is read
  //    once, so a timer scheduled for "now" by a callback below waits for the next iteration.
  const std::int64_t now = Clock::now_ns();
  while (Ref<TimerImpl> t = timers_.pop_due(now)) ready_.push_back(std::move(t));

  // 4. Ready: run what is queued now; callbacks these schedule run next iteration. Then
  //    flush what they wrote, before the next poll may wait.
  run_ready();
  if (has_flushes()) run_flushes();
}

std::int64_t LoopBase::poll_timeout(std::int64_t max_wait_ns) {
  std::int64_t timeout = -1;
  if (!ready_.empty() || has_flushes() || stopping_.load(std::memory_order_acquire) ||
      has_remote_.load(std::memory_order_acquire) || has_deferred_io()) {
    timeout = 0;
  } else if (auto next = timers_.next_deadline()) {
    timeout = std::max<std::int64_t>(0, *next - Clock::now_ns());
  }
  if (max_wait_ns >= 0 && (timeout < 0 || timeout > max_wait_ns)) timeout = max_wait_ns;
  return timeout;
}

void LoopBase::adopt_remote() {
  if (!has_remote_.load(std::memory_order_acquire)) return;
  std::vector<Ref<HandleImpl>> batch;
  {
    std::lock_guard lock(remote_mutex_);
    batch.swap(remote_);
    wake_pending_ = false;
    has_remote_.store(false, std::memory_order_relaxed);
  }
  for (auto& h : batch) ready_.push_back(std::move(h));
}

void LoopBase::run_ready() {
  for (std::size_t n = ready_.size(); n > 0; --n) {
    Ref<HandleImpl> h = std::move(ready_.front());
    ready_.pop_front();
    if (h->cancelled()) continue;
    try {
      h->invoke();
    } catch (const Interrupt&) {
      throw;  // the rest of the queue stays for the next run
    } catch (...) {
      call_exception_handler(
          {"Exception in callback", std::current_exception(), {}, Handle(std::move(h))});
    }
  }
}

void LoopBase::resolve(std::string host, std::uint16_t port, int family, int flags,
                       ResolveCallback done) {
  check_open();
  // Numeric hosts need no thread: they are converted here and delivered next iteration.
  std::vector<Endpoint> direct;
  std::error_code ec;
  if (host.empty()) {
    const bool passive = (flags & AI_PASSIVE) != 0;
    if (family != AF_INET6)
      direct.push_back(Endpoint::from_numeric(passive ? "0.0.0.0" : "127.0.0.1", port, ec));
    if (family != AF_INET)
      direct.push_back(Endpoint::from_numeric(passive ? "::" : "::1", port, ec));
  } else {
    Endpoint e = Endpoint::from_numeric(host, port, ec);
    if (!ec && (family == AF_UNSPEC || family == e.family())) direct.push_back(e);
    if (!ec && direct.empty()) ec = make_error_code(errc::no_address);
    if (ec == std::errc::invalid_argument) {  // not numeric: a name for the resolver thread
      if (!resolver_) resolver_ = std::make_unique<Resolver>(*this);
      resolver_->submit(std::move(host), port, family, flags, std::move(done));
      return;
    }
  }
  call_soon([done = std::move(done), ec, direct = std::move(direct)]() mutable {
    done(direct.empty() ? ec : std::error_code{}, std::move(direct));
  });
}

void LoopBase::close() {
  if (running_) Error::raise(errc::loop_running);
  std::vector<Ref<HandleImpl>> remote;
  {
    std::lock_guard lock(remote_mutex_);
    if (closed_.exchange(true, std::memory_order_acq_rel)) return;
    remote.swap(remote_);
    has_remote_.store(false, std::memory_order_relaxed);
    close_io();
  }
  resolver_.reset();
  // Callbacks are released explicitly: a handle the user still holds must not keep the
  // callback's captures alive after the loop that would have run it is gone.
  for (auto& h : ready_) h->release_callback();
  for (auto& h : remote) h->release_callback();
  ready_.clear();
  timers_.clear();
  drop_flushes();
  // Last: transports and servers still open let go of their sockets and of themselves.
  close_resources();
}

void LoopBase::close_from_destructor() noexcept {
  if (running_ || is_closed()) return;
  try {
    close();
  } catch (...) {
    // close() only throws when running, which was excluded above.
  }
}

}  // namespace treadle::detail
