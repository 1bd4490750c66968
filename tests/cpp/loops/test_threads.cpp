// tests/cpp/loops/test_threads.cpp — call_soon_threadsafe and stop() from other threads.
#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <thread>
#include <vector>

#include "support/backends.hpp"

using namespace treadle;
using treadle::test::make_test_loop;

BOOST_AUTO_TEST_SUITE(threads)

BOOST_AUTO_TEST_CASE(eight_threads_ten_thousand_calls_each_nothing_lost) {
  auto loop = make_test_loop();
  constexpr int kThreads = 8;
  constexpr int kCalls = 10'000;
  std::vector<int> last(kThreads, -1);
  bool in_order = true;
  std::atomic<int> total{0};  // the watchdog thread reads it
  std::atomic<bool> go{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      while (!go.load()) std::this_thread::yield();
      for (int i = 0; i < kCalls; ++i) {
        loop->call_soon_threadsafe([&, t, i] {
          // Runs on the loop thread: no locking needed for the checks.
          if (last[t] != i - 1) in_order = false;
          last[t] = i;
          if (++total == kThreads * kCalls) loop->stop();
        });
      }
    });
  }
  loop->call_soon([&] { go = true; });
  std::thread watchdog([&] {
    // Only a safety net so a lost wake-up fails the test instead of hanging it.
    for (int i = 0; i < 600 && total < kThreads * kCalls; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    loop->stop();
  });
  loop->run_forever();
  for (auto& t : threads) t.join();
  watchdog.join();
  BOOST_TEST(total == kThreads * kCalls);
  BOOST_TEST(in_order);
}

BOOST_AUTO_TEST_CASE(threadsafe_call_before_call_soon_runs_first) {
  // asyncio's order: one FIFO, whichever thread scheduled (test_events'
  // test_call_soon_threadsafe).
  auto loop = make_test_loop();
  std::vector<int> order;
  std::thread t([&] { loop->call_soon_threadsafe([&] { order.push_back(1); }); });
  t.join();  // happens-before the call_soon below
  loop->call_soon([&] {
    order.push_back(2);
    loop->stop();
  });
  loop->run_forever();
  BOOST_TEST((order == std::vector<int>{1, 2}));
}

BOOST_AUTO_TEST_CASE(threadsafe_call_wakes_a_loop_blocked_in_poll) {
  auto loop = make_test_loop();
  // No timers and no ready work: the loop blocks in poll indefinitely until woken.
  const auto start = std::chrono::steady_clock::now();
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    loop->call_soon_threadsafe([&] { loop->stop(); });
  });
  loop->run_forever();
  t.join();
  const auto waited = std::chrono::steady_clock::now() - start;
  BOOST_TEST(waited >= std::chrono::milliseconds(50));
}

BOOST_AUTO_TEST_CASE(stop_from_another_thread_wakes_the_loop) {
  auto loop = make_test_loop();
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    loop->stop();
  });
  loop->run_forever();  // returns only because of the stop
  t.join();
  BOOST_TEST(!loop->is_running());
}

BOOST_AUTO_TEST_CASE(threadsafe_calls_after_close_are_refused_not_lost_silently) {
  auto loop = make_test_loop();
  loop->close();
  std::atomic<int> refused{0};
  std::thread t([&] {
    try {
      loop->call_soon_threadsafe([] {});
    } catch (const std::exception&) {
      ++refused;
    }
  });
  t.join();
  BOOST_TEST(refused == 1);
}

BOOST_AUTO_TEST_SUITE_END()
