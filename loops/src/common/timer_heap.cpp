// loops/src/common/timer_heap.cpp — heap operations and lazy cancellation.
// Tests: tests/cpp/loops/test_timer_heap.cpp
#include "timer_heap.hpp"

#include <algorithm>

namespace treadle::detail {
namespace {

// std heap algorithms build a max-heap, so "greater" puts the earliest deadline on top.
struct Later {
  bool operator()(const Ref<TimerImpl>& a, const Ref<TimerImpl>& b) const noexcept {
    if (a->when_ns != b->when_ns) return a->when_ns > b->when_ns;
    return a->sequence > b->sequence;
  }
};

// Below this many cancelled entries a rebuild is not worth its O(n).
constexpr std::size_t kMinCancelledForCompaction = 64;

}  // namespace

void TimerHeap::push(Ref<TimerImpl> t) {
  t->sequence = next_sequence_++;
  t->owner = this;
  heap_.push_back(std::move(t));
  std::push_heap(heap_.begin(), heap_.end(), Later{});
}

Ref<TimerImpl> TimerHeap::pop_top() {
  std::pop_heap(heap_.begin(), heap_.end(), Later{});
  Ref<TimerImpl> t = std::move(heap_.back());
  heap_.pop_back();
  t->owner = nullptr;
  if (t->cancelled()) --cancelled_;
  return t;
}

std::optional<std::int64_t> TimerHeap::next_deadline() {
  while (!heap_.empty() && heap_.front()->cancelled()) pop_top();
  if (heap_.empty()) return std::nullopt;
  return heap_.front()->when_ns;
}

Ref<TimerImpl> TimerHeap::pop_due(std::int64_t now_ns) {
  auto next = next_deadline();
  if (!next || *next > now_ns) return {};
  return pop_top();
}

void TimerHeap::timer_cancelled() noexcept {
  ++cancelled_;
  if (cancelled_ >= kMinCancelledForCompaction && cancelled_ * 2 > heap_.size()) compact();
}

void TimerHeap::compact() {
  // Called from inside TimerImpl::cancel(); the cancelled timer itself may be among those
  // removed, which is safe because the caller's Handle still holds a reference to it.
  std::erase_if(heap_, [](Ref<TimerImpl>& t) {
    if (!t->cancelled()) return false;
    t->owner = nullptr;
    return true;
  });
  cancelled_ = 0;
  std::make_heap(heap_.begin(), heap_.end(), Later{});
}

void TimerHeap::clear() noexcept {
  for (auto& t : heap_) {
    t->owner = nullptr;
    t->release_callback();
  }
  heap_.clear();
  cancelled_ = 0;
}

}  // namespace treadle::detail
