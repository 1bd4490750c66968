// loops/src/common/epoll_watchers.cpp — readiness watchers, persistent and one-shot, on epoll.
// Tests: tests/cpp/loops/test_watchers.cpp, tests/cpp/loops/test_waits.cpp (every backend)
#include "epoll_watchers.hpp"

#include <sys/epoll.h>

#include <string>

#include "loop_base.hpp"
#include "treadle/core/error.hpp"

namespace treadle::detail {

/// A reader and/or writer callback on one fd.
///
/// `armed` mirrors the mask the kernel holds for the fd (0 once an `EPOLLONESHOT` event has
/// disarmed it), `registered` whether the fd is in the interest list at all. A watcher with no
/// callback left is either removed (it was armed: `EPOLL_CTL_DEL`) or, after a one-shot fired,
/// parked: registered and disarmed.
class EpollWatchers::Watcher final : public IoSource {
 public:
  Watcher(EpollWatchers& set, int fd) : set_(set), fd_(fd) {}

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
    // write then reports the condition.
    constexpr std::uint32_t kAlways = EPOLLHUP | EPOLLERR;
    if (!retired && reader && (events & (EPOLLIN | kAlways))) run(reader, reader_once);
    if (!retired && writer && (events & (EPOLLOUT | kAlways))) run(writer, writer_once);
    if (!retired) (void)set_.sync(fd_, *this);
  }

 private:
  void run(Callback& slot, bool once) {
    Callback cb = slot;  // the callback may replace or remove itself
    // A one-shot slot is emptied before its callback runs, so the callback may start the
    // next wait.
    if (once) {
      slot = nullptr;
    } else {
      set_.level_fired_ = true;
    }
    Resync resync{*this};
    set_.loop_.run_io_callback(*cb);
  }

  /// Re-arms what is still watched even if a callback throws (an `Interrupt` leaves the loop,
  /// and a disarmed watcher would never fire again).
  struct Resync {
    Watcher& w;
    ~Resync() {
      if (!w.retired) (void)w.set_.sync(w.fd_, w);
    }
  };

  EpollWatchers& set_;
  int fd_;
};

EpollWatchers::EpollWatchers(LoopBase& loop, EpollPoller& poller) : loop_(loop), poller_(poller) {}

EpollWatchers::~EpollWatchers() = default;

void EpollWatchers::set(int fd, bool reading, bool once, Callback cb) {
  if (fd < 0) throw std::system_error(errno_code(EBADF), "invalid file descriptor");
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) it = watchers_.emplace(fd, std::make_unique<Watcher>(*this, fd)).first;
  Watcher& w = *it->second;
  Callback& slot = reading ? w.reader : w.writer;
  bool& slot_once = reading ? w.reader_once : w.writer_once;
  Callback old = std::exchange(slot, std::move(cb));
  const bool old_once = std::exchange(slot_once, once);
  if (auto ec = sync(fd, w)) {
    slot = std::move(old);
    slot_once = old_once;
    if (!w.registered) watchers_.erase(fd);  // never reached the kernel: nothing to retire
    throw std::system_error(ec, "cannot watch file descriptor " + std::to_string(fd));
  }
}

bool EpollWatchers::clear(int fd, bool reading) {
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) return false;
  Watcher& w = *it->second;
  Callback& slot = reading ? w.reader : w.writer;
  if (!slot) return false;
  slot = nullptr;
  (void)sync(fd, w);
  return true;
}

std::error_code EpollWatchers::sync(int fd, Watcher& w) {
  const std::uint32_t want = w.mask();
  if (want == w.armed && w.registered) return {};
  if (want == 0) {
    // Nothing left to watch. A parked watcher (disarmed by its one-shot) stays registered;
    // an armed one is removed now, since it would keep reporting.
    if (w.armed == 0) return {};
    poller_.remove(fd);
    auto it = watchers_.find(fd);
    retire(std::move(it->second));
    watchers_.erase(it);
    return {};
  }
  // `modify` re-adds an fd the kernel dropped because it was closed (and its number reused).
  std::error_code ec = w.registered ? poller_.modify(fd, want, &w) : poller_.add(fd, want, &w);
  if (ec) return ec;
  w.registered = true;
  w.armed = want;
  return {};
}

void EpollWatchers::forget_parked(int fd) noexcept {
  auto it = watchers_.find(fd);
  if (it == watchers_.end() || it->second->mask() != 0) return;
  poller_.remove(fd);
  retire(std::move(it->second));
  watchers_.erase(it);
}

void EpollWatchers::retire(std::unique_ptr<IoSource> source) noexcept {
  source->retired = true;
  if (loop_.is_closed()) return;  // nothing can dispatch to it any more
  retired_.push_back(std::move(source));
}

void EpollWatchers::close() noexcept {
  for (auto& [fd, w] : watchers_) {
    if (w->registered) poller_.remove(fd);
  }
  watchers_.clear();
  retired_.clear();
}

}  // namespace treadle::detail
