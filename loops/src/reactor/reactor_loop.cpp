// loops/src/reactor/reactor_loop.cpp — the reactor's poll phase, wake-ups and watchers.
// Tests: tests/cpp/loops/* (reactor)
#include "reactor_loop.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "treadle/core/error.hpp"

namespace treadle::detail {

/// The eventfd that `call_soon_threadsafe` and `stop` write to wake a waiting poll.
class ReactorLoop::Waker final : public IoSource {
 public:
  Waker() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) Error::raise(errno_code(errno), "eventfd");
  }
  ~Waker() { close(); }
  Waker(const Waker&) = delete;
  Waker& operator=(const Waker&) = delete;

  int fd() const noexcept { return fd_; }
  void wake() noexcept {
    const std::uint64_t one = 1;
    // EAGAIN means the counter is saturated, i.e. a wake-up is pending anyway.
    (void)!::write(fd_, &one, sizeof one);
  }
  void on_events(std::uint32_t) override {
    std::uint64_t count;
    (void)!::read(fd_, &count, sizeof count);
  }
  void close() noexcept {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

/// A reader and/or writer callback on one fd, registered level-triggered.
class ReactorLoop::Watcher final : public IoSource {
 public:
  Watcher(ReactorLoop& loop, int fd) : loop_(loop), fd_(fd) {}

  Callback reader, writer;

  std::uint32_t mask() const noexcept { return (reader ? EPOLLIN : 0u) | (writer ? EPOLLOUT : 0u); }

  void on_events(std::uint32_t events) override {
    // Errors and hang-ups wake both sides, as selectors do: the callback's own read or
    // write then reports the condition.
    constexpr std::uint32_t kAlways = EPOLLHUP | EPOLLERR;
    if (!retired && reader && (events & (EPOLLIN | kAlways))) {
      Callback cb = reader;  // the callback may replace or remove itself
      loop_.run_io_callback(*cb);
    }
    if (!retired && writer && (events & (EPOLLOUT | kAlways))) {
      Callback cb = writer;
      loop_.run_io_callback(*cb);
    }
  }

 private:
  ReactorLoop& loop_;
  [[maybe_unused]] int fd_;
};

ReactorLoop::ReactorLoop() : waker_(std::make_unique<Waker>()) {
  if (auto ec = poller_.add(waker_->fd(), EPOLLIN, waker_.get())) {
    Error::raise(ec, "epoll_ctl(eventfd)");
  }
}

ReactorLoop::~ReactorLoop() { close_from_destructor(); }

void ReactorLoop::poll_io(std::int64_t timeout_ns) {
  begin_wait(timeout_ns);
  poller_.wait(timeout_ns, [this](IoSource* source, std::uint32_t events) {
    end_wait();
    if (!source->retired) source->on_events(events);
  });
  end_wait();
  // Speculative attempts queued by channels; those queued meanwhile wait for the next phase,
  // so a channel that keeps re-arming cannot hold the loop in this phase.
  if (!deferred_.empty()) {
    std::vector<IoSource*> batch;
    batch.swap(deferred_);
    for (IoSource* source : batch) {
      if (!source->retired) source->on_events(0);
    }
  }
  retired_.clear();
}

void ReactorLoop::retire(std::unique_ptr<IoSource> source) noexcept {
  source->retired = true;
  if (is_closed()) return;  // nothing can dispatch to it any more
  retired_.push_back(std::move(source));
}

void ReactorLoop::defer(IoSource* source) { deferred_.push_back(source); }

void ReactorLoop::wakeup() noexcept { waker_->wake(); }

void ReactorLoop::close_io() noexcept {
  for (auto& [fd, w] : watchers_) poller_.remove(fd);
  watchers_.clear();
  retired_.clear();
  deferred_.clear();
  waker_->close();
  poller_.close();
}

void ReactorLoop::add_reader(int fd, std::function<void()> callback) {
  set_callback(fd, true, std::make_shared<std::function<void()>>(std::move(callback)));
}
void ReactorLoop::add_writer(int fd, std::function<void()> callback) {
  set_callback(fd, false, std::make_shared<std::function<void()>>(std::move(callback)));
}
bool ReactorLoop::remove_reader(int fd) { return clear_callback(fd, true); }
bool ReactorLoop::remove_writer(int fd) { return clear_callback(fd, false); }

void ReactorLoop::set_callback(int fd, bool reading, Callback cb) {
  check_open();
  if (fd < 0) throw std::system_error(errno_code(EBADF), "invalid file descriptor");
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) {
    auto w = std::make_unique<Watcher>(*this, fd);
    (reading ? w->reader : w->writer) = std::move(cb);
    if (auto ec = poller_.add(fd, w->mask(), w.get())) {
      throw std::system_error(ec, "cannot watch file descriptor " + std::to_string(fd));
    }
    watchers_.emplace(fd, std::move(w));
    return;
  }
  Watcher& w = *it->second;
  const std::uint32_t before = w.mask();
  (reading ? w.reader : w.writer) = std::move(cb);
  if (w.mask() == before) return;
  if (auto ec = poller_.modify(fd, w.mask(), &w)) {
    (reading ? w.reader : w.writer) = nullptr;
    throw std::system_error(ec, "cannot watch file descriptor " + std::to_string(fd));
  }
}

bool ReactorLoop::clear_callback(int fd, bool reading) {
  if (is_closed()) return false;
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) return false;
  Watcher& w = *it->second;
  Callback& slot = reading ? w.reader : w.writer;
  if (!slot) return false;
  slot = nullptr;
  if (w.mask() != 0) {
    (void)poller_.modify(fd, w.mask(), &w);
    return true;
  }
  poller_.remove(fd);
  retire(std::move(it->second));
  watchers_.erase(it);
  return true;
}

}  // namespace treadle::detail
