// loops/src/reactor/watchers.cpp — the reactor's readiness watchers: persistent and one-shot.
// Tests: tests/cpp/loops/test_watchers.cpp (every backend)
#include <string>

#include "reactor_loop.hpp"
#include "treadle/core/error.hpp"
#include "watcher.hpp"

namespace treadle::detail {

void ReactorLoop::set_callback(int fd, bool reading, bool once, Callback cb) {
  check_open();
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

bool ReactorLoop::clear_callback(int fd, bool reading) {
  if (is_closed()) return false;
  auto it = watchers_.find(fd);
  if (it == watchers_.end()) return false;
  Watcher& w = *it->second;
  Callback& slot = reading ? w.reader : w.writer;
  if (!slot) return false;
  slot = nullptr;
  (void)sync(fd, w);
  return true;
}

std::error_code ReactorLoop::sync(int fd, Watcher& w) {
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

void ReactorLoop::forget_parked(int fd) noexcept {
  auto it = watchers_.find(fd);
  if (it == watchers_.end() || it->second->mask() != 0) return;
  // A channel is taking this fd: drop the disarmed registration so that it can add its own.
  poller_.remove(fd);
  retire(std::move(it->second));
  watchers_.erase(it);
}

void ReactorLoop::forget_watchers() noexcept {
  for (auto& [fd, w] : watchers_) {
    if (w->registered) poller_.remove(fd);
  }
  watchers_.clear();
}

}  // namespace treadle::detail
