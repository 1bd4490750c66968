// loops/src/common/timer_heap.hpp — the timer heap every backend schedules with.
// Tests: tests/cpp/loops/test_timer_heap.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "treadle/core/handle.hpp"

namespace treadle::detail {

/**
 * @brief A binary min-heap of timers ordered by (deadline, scheduling order), with lazy
 * cancellation.
 *
 * Cancelling is O(1): the timer stays in the heap, flagged, and is discarded when it reaches
 * the top. So that a program that cancels most of its timers (timeouts that did not fire)
 * does not grow the heap without bound, the heap is rebuilt without the cancelled entries
 * once they are more than half of it (and more than a small floor), as asyncio does.
 * Push and pop are O(log n); the rebuild is O(n), amortised O(1) per cancellation.
 */
class TimerHeap final : public TimerImpl::Owner {
 public:
  TimerHeap() = default;
  TimerHeap(const TimerHeap&) = delete;
  TimerHeap& operator=(const TimerHeap&) = delete;
  ~TimerHeap() { clear(); }

  /// Adds `t` (which must not be in a heap already).
  void push(Ref<TimerImpl> t);
  /// The earliest live deadline, discarding cancelled timers at the top.
  std::optional<std::int64_t> next_deadline();
  /// Removes and returns the earliest live timer if it is due at `now_ns`, else null.
  Ref<TimerImpl> pop_due(std::int64_t now_ns);
  /// Entries held, including cancelled ones not yet discarded.
  std::size_t size() const noexcept { return heap_.size(); }
  /// Cancelled entries still held.
  std::size_t cancelled_count() const noexcept { return cancelled_; }
  /// Drops every timer, releasing their callbacks.
  void clear() noexcept;

  void timer_cancelled() noexcept override;

 private:
  Ref<TimerImpl> pop_top();
  void compact();

  std::vector<Ref<TimerImpl>> heap_;
  std::size_t cancelled_ = 0;
  std::uint64_t next_sequence_ = 0;
};

}  // namespace treadle::detail
