// loops/src/reactor/reactor_loop.cpp — the reactor's poll phase, wake-ups and watchers.
// Tests: tests/cpp/loops/* (reactor)
#include "reactor_loop.hpp"

#include "treadle/core/error.hpp"

namespace treadle::detail {

ReactorLoop::ReactorLoop() {
  if (auto ec = poller_.add(waker_.fd(), EPOLLIN, &waker_)) {
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
  watchers_.end_batch();
}

void ReactorLoop::defer(IoSource* source) { deferred_.push_back(source); }

void ReactorLoop::wakeup() noexcept { waker_.wake(); }

void ReactorLoop::close_io() noexcept {
  watchers_.close();
  deferred_.clear();
  waker_.close();
  poller_.close();
}

}  // namespace treadle::detail
