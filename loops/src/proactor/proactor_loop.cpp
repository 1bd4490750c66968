// loops/src/proactor/proactor_loop.cpp — the proactor's poll phase, wake-ups and watchers.
// Tests: tests/cpp/loops/* (proactor)
#include "proactor_loop.hpp"

#include "asio_channel.hpp"

#include <algorithm>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>

#include "treadle/core/error.hpp"

namespace treadle::detail {

namespace asio = boost::asio;
using Wait = asio::posix::descriptor_base::wait_type;

ProactorLoop::ProactorLoop() {
  if (auto ec = poller_.add(waker_.fd(), EPOLLIN, &waker_)) {
    Error::raise(ec, "epoll_ctl(eventfd)");
  }
  boost::system::error_code ec;
  watch_fd_.assign(poller_.fd(), ec);
  if (ec) Error::raise(errno_code(ec.value()), "cannot watch the watchers' epoll set");
  arm_watchers();
}

ProactorLoop::~ProactorLoop() { close_from_destructor(); }

bool ProactorLoop::start_read(DeferredRead& r) {
  if (r.channel != nullptr) return r.channel->start_read(r.buffer, std::move(r.done));
  asio::post(io_, [this, done = std::move(r.done)] {
    run_io_callback([&] { done(make_error_code(errc::aborted), 0); });
  });
  return false;
}

std::size_t ProactorLoop::start_deferred() {
  // A read that completes here runs its callback here, which may close channels whose reads
  // are further down starting_: abort_deferred_reads() looks there too.
  starting_.swap(deferred_reads_);
  std::size_t completed = 0;
  for (DeferredRead& r : starting_) completed += start_read(r) ? 1 : 0;
  starting_.clear();
  return completed;
}

void ProactorLoop::defer_read(DeferredRead read) {
  // Each read starts from its own handler, queued behind the handlers ready now and so
  // behind Asio's next epoll round: as late as raw Asio code starts its next read (from its
  // write's posted completion). Not while ready callbacks are queued: one of them may be
  // what answers the peer (an asyncio stream's task), so the read waits for the next phase.
  // Nor while flushes are: the answer waits in a transport until the end of this phase.
  if (ready_count() != 0 || has_flushes()) {
    deferred_reads_.push_back(std::move(read));
    return;
  }
  queued_reads_.push_back(std::move(read));
  asio::post(io_, [this] {
    if (queued_reads_.empty()) return;  // the loop closed meanwhile
    DeferredRead r = std::move(queued_reads_.front());
    queued_reads_.pop_front();
    start_read(r);
  });
}

void ProactorLoop::abort_deferred_reads(const AsioChannel* channel) noexcept {
  // Reads waiting for the next phase, for their posted handler, or being started now (a read
  // that completes as it starts may close another channel).
  auto abort_in = [channel](auto& reads) {
    for (DeferredRead& r : reads) {
      if (r.channel == channel) r.channel = nullptr;
    }
  };
  abort_in(deferred_reads_);
  abort_in(queued_reads_);
  abort_in(starting_);
}

void ProactorLoop::poll_io(std::int64_t timeout_ns) {
  // Reads deferred since the last poll phase start first (see defer_read()).
  // Reads that complete as they start ran callbacks: the phase must then not block before
  // their answers are flushed, as after any other handler.
  std::size_t ran = deferred_reads_.empty() ? 0 : start_deferred();
  // Watchers that may still be ready run first, without waiting (has_deferred_io() made the
  // timeout zero).
  if (watchers_again_) run_watchers();
  const std::int64_t deadline = timeout_ns > 0 ? Clock::now_ns() + timeout_ns : timeout_ns;
  // While the handlers leave the loop nothing else to do, the phase goes on one handler at a
  // time with run_one(), which blocks in epoll when no handler is ready, as Asio's own run()
  // does. poll_one() would instead end every burst with a non-blocking epoll_wait that finds
  // nothing, followed by the blocking one of the next iteration: one system call more per
  // burst. Wait hooks (the Python binding's GIL release) cost more than the non-blocking
  // epoll_wait that poll_one() makes once no handler is ready: with hooks, run what is ready
  // first and bracket only a wait that may block. The cap keeps one phase finite (handlers
  // may post handlers) so timers and ready callbacks are never starved.
  while (ran < kMaxHandlersPerPoll) {
    std::int64_t wait = ran == 0 ? timeout_ns : (deadline == 0 ? 0 : idle_wait_ns());
    if (wait != 0 && deadline > 0) {
      const std::int64_t left = deadline - Clock::now_ns();
      wait = left <= 0 ? 0 : (wait < 0 ? left : std::min(wait, left));
    }
    if (wait == 0) {
      finish_phase();  // something else needs the loop
      return;
    }
    std::size_t n = wait_hooks() != nullptr ? io_.poll_one() : 0;
    if (n == 0) {
      // The work guard keeps run_one*() waiting even when no operation is outstanding.
      begin_wait(wait);
      n = wait < 0 ? io_.run_one() : io_.run_one_for(std::chrono::nanoseconds(wait));
      end_wait();
    }
    if (n == 0) return;  // the wait timed out
    ran += n;
  }
}

void ProactorLoop::finish_phase() {
  // Asio's scheduler keeps its reactor task in its queue of ready handlers: each time the task
  // comes round it makes a (non-blocking, if handlers are queued) epoll_wait and queues what
  // it found behind the handlers queued then, and itself last. Run until nothing is ready,
  // a phase went on for as long as requests trickled in, one epoll_wait per request, while
  // the answers (flushed at the end of the phase) waited. A marker posted now runs after the
  // handlers ready now and one turn of the task, like the reactor's one epoll_wait per phase:
  // what that turn found runs in the next phase. The stop costs no system call: the task's
  // last turn did not block (the marker was queued).
  asio::post(io_, asio::bind_allocator(handler_allocator(), [this, phase = ++phase_] {
               if (phase == phase_) io_.stop();
             }));
  // The task's turn comes right after the last handler of the batch it found before, and
  // Asio gives no notice of it. Held to the end of the phase, the answers of that batch would
  // leave after the turn, which then found only requests that arrived while they were being
  // made, rarely those of peers waiting for their answers: 0.36 epoll_wait per 1 KiB Python
  // echo request against the reactor's 0.20, and 5 % more CPU. So a handler's writes go out
  // as it returns, before the next handler runs, as a Boost.Asio program's handlers write.
  // poll() sets up Asio's per-thread state once, where a poll_one() per handler cost about
  // 190 instructions per request.
  if (has_flushes()) run_io_callback([this] { run_flushes(); });
  flush_each_io_callback_ = true;
  io_.poll();
  flush_each_io_callback_ = false;
  io_.restart();
}

void ProactorLoop::wakeup() noexcept {
  // Not asio::post: other threads never touch Asio, which lets it run without its scheduler
  // lock. The eventfd makes the watcher set readable, and Asio's wait returns.
  waker_.wake();
}

void ProactorLoop::close_io() noexcept {
  boost::system::error_code ignored;
  watch_fd_.cancel(ignored);
  (void)watch_fd_.release();  // the poller owns its fd
  watchers_.close();
  waker_.close();
  poller_.close();
  deferred_reads_.clear();  // their completions are dropped with the loop, as queued ones
  queued_reads_.clear();
  // Handlers still queued are destroyed, never run, when the io_context is destroyed with
  // the loop.
  work_.reset();
}

void ProactorLoop::arm_watchers() {
  if (watchers_armed_ || watchers_again_) return;
  watchers_armed_ = true;
  watch_fd_.async_wait(Wait::wait_read, [this](boost::system::error_code ec) {
    watchers_armed_ = false;
    if (!ec) run_watchers();
  });
}

void ProactorLoop::run_watchers() {
  watchers_again_ = false;
  const int n = poller_.wait(0, [](IoSource* source, std::uint32_t events) {
    if (!source->retired) source->on_events(events);
  });
  watchers_.end_batch();
  // Asio's registration of the set is edge-triggered, and epoll does not promise a new edge
  // for events the set still holds after a wait: a persistent (level-triggered) watcher that
  // ran may still be ready, and a full batch leaves some. Then the set is polled again at
  // the start of the next phase; otherwise it is empty and Asio waits for its next edge.
  if (watchers_.take_level_fired() || n == EpollPoller::kMaxEvents) {
    watchers_again_ = true;
  } else {
    arm_watchers();
  }
}

}  // namespace treadle::detail
