// tests/cpp/loops/test_timer_heap.cpp — the shared timer heap, without a loop.
#define BOOST_TEST_MODULE treadle timer heap
#include "common/timer_heap.hpp"

#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <functional>
#include <random>
#include <vector>

using namespace treadle;
using namespace treadle::detail;

namespace {
Ref<TimerImpl> timer(std::int64_t when, std::vector<int>* log = nullptr, int id = 0) {
  Ref<TimerImpl> t(new CallbackHandle<std::function<void()>, TimerImpl>([log, id] {
    if (log) log->push_back(id);
  }));
  t->when_ns = when;
  return t;
}
}  // namespace

BOOST_AUTO_TEST_CASE(pops_in_deadline_then_sequence_order) {
  TimerHeap heap;
  std::mt19937 rng(7);
  std::vector<std::pair<std::int64_t, int>> expected;
  for (int i = 0; i < 2000; ++i) {
    const std::int64_t when = rng() % 100;
    heap.push(timer(when, nullptr, i));
    expected.emplace_back(when, i);
  }
  std::stable_sort(expected.begin(), expected.end(),
                   [](auto& a, auto& b) { return a.first < b.first; });
  std::vector<std::pair<std::int64_t, std::uint64_t>> got;
  while (auto t = heap.pop_due(1000)) got.emplace_back(t->when_ns, t->sequence);
  BOOST_REQUIRE(got.size() == expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    BOOST_TEST(got[i].first == expected[i].first);
    BOOST_TEST(got[i].second == std::uint64_t(expected[i].second));
  }
}

BOOST_AUTO_TEST_CASE(not_due_is_not_popped) {
  TimerHeap heap;
  heap.push(timer(50));
  BOOST_TEST(!heap.pop_due(49));
  BOOST_TEST(*heap.next_deadline() == 50);
  BOOST_TEST(static_cast<bool>(heap.pop_due(50)));
  BOOST_TEST(!heap.next_deadline());
}

BOOST_AUTO_TEST_CASE(cancelled_timers_are_skipped_and_compacted) {
  TimerHeap heap;
  std::vector<Ref<TimerImpl>> kept;
  for (int i = 0; i < 1000; ++i) {
    auto t = timer(i);
    heap.push(t);
    kept.push_back(t);
  }
  // Cancel 90%: the heap must shrink on its own, long before they reach the top.
  for (int i = 0; i < 1000; ++i) {
    if (i % 10 != 0) kept[i]->cancel();
  }
  BOOST_TEST(heap.size() < 1000u);
  BOOST_TEST(heap.cancelled_count() * 2 <= heap.size() + 64);
  std::vector<std::int64_t> due;
  while (auto t = heap.pop_due(1'000'000)) due.push_back(t->when_ns);
  BOOST_TEST(due.size() == 100u);
  for (std::size_t i = 0; i < due.size(); ++i) BOOST_TEST(due[i] == std::int64_t(i * 10));
  BOOST_TEST(heap.cancelled_count() == 0u);
  for (auto& t : kept) BOOST_TEST(t->owner == nullptr);
}

BOOST_AUTO_TEST_CASE(cancelled_top_does_not_hide_next_deadline) {
  TimerHeap heap;
  auto a = timer(1);
  heap.push(a);
  heap.push(timer(5));
  a->cancel();
  BOOST_TEST(*heap.next_deadline() == 5);
  BOOST_TEST(heap.cancelled_count() == 0u);
}
