// loops/src/proactor/proactor_loop.cpp — the proactor's poll phase, wake-ups and watchers.
// Tests: tests/cpp/loops/* (proactor)
#include "proactor_loop.hpp"

#include "asio_channel.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>

#include <algorithm>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <cerrno>
#include <chrono>

#include "treadle/core/error.hpp"

namespace treadle::detail {

namespace asio = boost::asio;
using Wait = asio::posix::descriptor_base::wait_type;

/// A reader and/or writer on one fd. Asio registers descriptors edge-triggered and never
/// completes a wait speculatively, so a wait on an fd that is *still* ready would hang: before
/// re-arming, the watcher checks the level with poll(2) and, if ready, runs again at once.
class ProactorLoop::Watcher final : public std::enable_shared_from_this<Watcher> {
 public:
  Watcher(ProactorLoop& loop, int fd) : loop_(loop), fd_(fd), sd_(loop.io_) {
    boost::system::error_code ec;
    sd_.assign(fd, ec);
    if (ec) throw std::system_error(ec.value(), std::system_category(), "cannot watch fd");
  }

  Callback reader, writer;
  bool reader_once = false;  // the slot holds a one-shot wait (see ready())
  bool writer_once = false;
  bool retired = false;

  void arm(Wait type) {
    bool& armed = type == Wait::wait_read ? read_armed_ : write_armed_;
    if (armed || retired) return;
    armed = true;
    // The watcher's very first wait needs no level check: Asio has just registered the fd
    // with epoll_ctl (and adds EPOLLOUT with another for a write wait), which queues an event
    // at once if the fd is ready, and no epoll_wait can have consumed it yet. Any later wait
    // may follow a consumed edge, so it checks the level first.
    auto self = shared_from_this();
    if (fresh_) {
      fresh_ = false;
      sd_.async_wait(type, [self, type](boost::system::error_code ec) { self->ready(type, ec); });
      return;
    }
    pollfd p{fd_, static_cast<short>(type == Wait::wait_read ? POLLIN : POLLOUT), 0};
    if (::poll(&p, 1, 0) > 0) {
      // Still ready: run again in the next poll phase (posting now would run it again inside
      // this very phase, forever, for a callback that does not drain the fd).
      loop_.level_ready_.push_back([self, type] { self->ready(type, {}); });
    } else {
      sd_.async_wait(type, [self, type](boost::system::error_code ec) { self->ready(type, ec); });
    }
  }

  void retire() noexcept {
    retired = true;
    reader = nullptr;
    writer = nullptr;
    boost::system::error_code ignored;
    sd_.cancel(ignored);
    (void)sd_.release();  // deregisters from Asio's epoll without closing the user's fd
  }

 private:
  void ready(Wait type, boost::system::error_code ec) {
    (type == Wait::wait_read ? read_armed_ : write_armed_) = false;
    if (retired || ec == asio::error::operation_aborted) return;
    const bool reading = type == Wait::wait_read;
    Callback& slot = reading ? reader : writer;
    Callback cb = slot;
    if (!cb) return;  // removed while the wait was outstanding
    // A one-shot slot is emptied first, so that its callback may start the next wait; a
    // watcher left with nothing to do is then released like a removed one. (Asio offers no
    // disarmed registration to keep: a descriptor it registered stays edge-triggered.)
    auto self = shared_from_this();  // release_if_idle() may drop the loop's reference
    if (reading ? reader_once : writer_once) {
      slot = nullptr;
      // Released before the callback runs: it may hand the fd to a channel, and Asio refuses
      // to register a descriptor twice.
      loop_.release_if_idle(fd_);
    }
    struct Settle {
      Watcher& w;
      Wait type;
      ~Settle() {
        if (w.retired) return;
        if (type == Wait::wait_read ? w.reader != nullptr : w.writer != nullptr) w.arm(type);
        if (!w.reader && !w.writer) w.loop_.release_if_idle(w.fd_);
      }
    } settle{*this, type};
    loop_.run_io_callback(*cb);
  }

  ProactorLoop& loop_;
  int fd_;
  asio::posix::stream_descriptor sd_;
  bool read_armed_ = false;
  bool write_armed_ = false;
  bool fresh_ = true;  // no wait was started yet (see arm())
};

ProactorLoop::ProactorLoop() = default;

ProactorLoop::~ProactorLoop() { close_from_destructor(); }

void ProactorLoop::start_read(DeferredRead& r) {
  if (r.channel != nullptr) {
    r.channel->start_read(r.buffer, std::move(r.done));
    return;
  }
  asio::post(io_, [this, done = std::move(r.done)] {
    run_io_callback([&] { done(make_error_code(errc::aborted), 0); });
  });
}

void ProactorLoop::start_deferred() {
  starting_.swap(deferred_reads_);
  for (DeferredRead& r : starting_) start_read(r);
  starting_.clear();
}

void ProactorLoop::defer_read(DeferredRead read) {
  // Each read starts from its own handler, queued behind the handlers ready now and so
  // behind Asio's next epoll round: as late as raw Asio code starts its next read (from its
  // write's posted completion). Not while ready callbacks are queued: one of them may be
  // what answers the peer (an asyncio stream's task), so the read waits for the next phase.
  if (ready_count() != 0) {
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
  for (DeferredRead& r : deferred_reads_) {
    if (r.channel == channel) r.channel = nullptr;
  }
  for (DeferredRead& r : queued_reads_) {
    if (r.channel == channel) r.channel = nullptr;
  }
}

void ProactorLoop::poll_io(std::int64_t timeout_ns) {
  // Reads deferred since the last poll phase start first (see defer_read()).
  if (!deferred_reads_.empty()) start_deferred();
  // Watchers found still ready at the end of the last phase run first, without waiting
  // (has_deferred_io() made the timeout zero).
  if (!level_ready_.empty()) {
    std::vector<std::function<void()>> batch;
    batch.swap(level_ready_);
    for (auto& f : batch) asio::post(io_, std::move(f));
  }
  const std::int64_t deadline = timeout_ns > 0 ? Clock::now_ns() + timeout_ns : timeout_ns;
  // One handler at a time. While the handlers leave the loop nothing else to do, the phase
  // goes on with run_one(), which blocks in epoll when no handler is ready, as Asio's own
  // run() does. poll_one() would instead end every burst with a non-blocking epoll_wait that
  // finds nothing, followed by the blocking one of the next iteration: one system call more
  // per burst. Once something else needs the loop, poll_one() finishes what is ready. The cap
  // keeps one phase finite (handlers may post handlers) so timers and ready callbacks are
  // never starved.
  std::size_t ran = 0;
  while (ran < kMaxHandlersPerPoll) {
    std::int64_t wait = ran == 0 ? timeout_ns : (deadline == 0 ? 0 : idle_wait_ns());
    if (wait != 0 && deadline > 0) {
      const std::int64_t left = deadline - Clock::now_ns();
      wait = left <= 0 ? 0 : (wait < 0 ? left : std::min(wait, left));
    }
    std::size_t n = 0;
    // Wait hooks (the Python binding's GIL release) cost more than the non-blocking
    // epoll_wait that poll_one() makes once no handler is ready: with hooks, run what is
    // ready first and bracket only a wait that may block.
    if (wait == 0 || wait_hooks() != nullptr) n = io_.poll_one();
    if (n == 0 && wait != 0) {
      // The work guard keeps run_one*() waiting even when no operation is outstanding.
      begin_wait(wait);
      n = wait < 0 ? io_.run_one() : io_.run_one_for(std::chrono::nanoseconds(wait));
      end_wait();
    }
    if (n == 0) break;
    ran += n;
  }
}

void ProactorLoop::wakeup() noexcept {
  try {
    asio::post(io_, [] {});
  } catch (...) {
    // Allocation failure: the loop will still wake at its next timer.
  }
}

void ProactorLoop::close_io() noexcept {
  for (auto& [fd, w] : watchers_) w->retire();
  watchers_.clear();
  level_ready_.clear();
  deferred_reads_.clear();  // their completions are dropped with the loop, as queued ones
  queued_reads_.clear();
  // Handlers still queued are destroyed, never run, when the io_context is destroyed with
  // the loop; the watchers' own callbacks were released by retire() above.
  work_.reset();
}

void ProactorLoop::set_callback(int fd, bool reading, bool once, Callback cb) {
  check_open();
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) {
    // Match the reactor (and epoll): Asio would accept regular files and then never report
    // them ready, so refuse what epoll refuses, with the same errno.
    struct stat st;
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      throw std::system_error(errno_code(EBADF), "invalid file descriptor");
    }
    if (S_ISREG(st.st_mode) || S_ISDIR(st.st_mode)) {
      throw std::system_error(errno_code(EPERM),
                              "cannot watch file descriptor " + std::to_string(fd));
    }
    it = watchers_.emplace(fd, std::make_shared<Watcher>(*this, fd)).first;
  }
  Watcher& w = *it->second;
  (reading ? w.reader : w.writer) = std::move(cb);
  (reading ? w.reader_once : w.writer_once) = once;
  w.arm(reading ? Wait::wait_read : Wait::wait_write);
}

void ProactorLoop::release_if_idle(int fd) noexcept {
  auto it = watchers_.find(fd);
  if (it == watchers_.end() || it->second->reader || it->second->writer) return;
  it->second->retire();
  watchers_.erase(it);
}

bool ProactorLoop::clear_callback(int fd, bool reading) {
  if (is_closed()) return false;
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) return false;
  Watcher& w = *it->second;
  Callback& slot = reading ? w.reader : w.writer;
  if (!slot) return false;
  slot = nullptr;
  release_if_idle(fd);
  return true;
}

}  // namespace treadle::detail
