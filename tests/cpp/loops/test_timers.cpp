// tests/cpp/loops/test_timers.cpp — timer order, never-early firing, cancellation cost.
#include <algorithm>
#include <boost/test/unit_test.hpp>
#include <random>
#include <vector>

#include "support/backends.hpp"

using namespace treadle;
using treadle::test::make_test_loop;

BOOST_AUTO_TEST_SUITE(timers)

BOOST_AUTO_TEST_CASE(fire_in_deadline_order_and_never_early) {
  auto loop = make_test_loop();
  std::mt19937 rng(1234);
  std::uniform_int_distribution<int> delay_us(0, 30'000);
  struct Fired {
    int id;
    double when;
    double at;
  };
  std::vector<Fired> fired;
  std::vector<TimerHandle> handles;
  const int n = 300;
  for (int i = 0; i < n; ++i) {
    // Some share a deadline exactly, to check that ties keep scheduling order.
    const double when = loop->time() + (i % 10 == 0 ? 0.01 : delay_us(rng) * 1e-6);
    auto h = loop->call_at(when, [&, i] { fired.push_back({i, handles[i].when(), loop->time()}); });
    handles.push_back(h);
  }
  BOOST_REQUIRE(test::run_until(*loop, [&] { return fired.size() == std::size_t(n); }));
  for (const auto& f : fired) BOOST_TEST(f.at >= f.when, "timer " << f.id << " fired early");
  for (std::size_t i = 1; i < fired.size(); ++i) {
    const auto& a = fired[i - 1];
    const auto& b = fired[i];
    BOOST_TEST((a.when < b.when || (a.when == b.when && a.id < b.id)),
               "timer " << b.id << " ran after " << a.id << " out of order");
  }
}

BOOST_AUTO_TEST_CASE(call_later_is_relative_to_now) {
  auto loop = make_test_loop();
  const double start = loop->time();
  double at = 0;
  TimerHandle h = loop->call_later(0.05, [&] {
    at = loop->time();
    loop->stop();
  });
  BOOST_TEST(h.when() >= start + 0.05);
  loop->run_forever();
  BOOST_TEST(at >= start + 0.05);
  BOOST_TEST(at >= h.when());
}

BOOST_AUTO_TEST_CASE(negative_and_zero_delays_run_next_iteration) {
  auto loop = make_test_loop();
  std::vector<int> log;
  loop->call_later(-5, [&] { log.push_back(1); });
  loop->call_later(0, [&] { log.push_back(2); });
  loop->call_at(0.0, [&] { log.push_back(3); });  // far in the past
  loop->run_once(0);
  std::sort(log.begin(), log.end());
  BOOST_TEST(log == (std::vector<int>{1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(timers_due_together_run_before_later_ones_and_after_ready) {
  auto loop = make_test_loop();
  std::vector<std::string> log;
  const double when = loop->time() + 0.005;
  loop->call_at(when, [&] { log.push_back("t1"); });
  loop->call_at(when, [&] {
    log.push_back("t2");
    loop->call_soon([&] {
      log.push_back("soon");
      loop->stop();
    });
  });
  loop->run_forever();
  BOOST_TEST(log == (std::vector<std::string>{"t1", "t2", "soon"}));
}

BOOST_AUTO_TEST_CASE(many_cancelled_timers_never_run_and_do_not_pile_up) {
  auto loop = make_test_loop();
  int runs = 0;
  for (int round = 0; round < 5; ++round) {
    std::vector<TimerHandle> hs;
    for (int i = 0; i < 20'000; ++i)
      hs.push_back(loop->call_later(0.001 + i * 1e-7, [&] { ++runs; }));
    for (auto& h : hs) h.cancel();
  }
  loop->call_later(0.02, [&] { loop->stop(); });
  loop->run_forever();
  BOOST_TEST(runs == 0);
}

BOOST_AUTO_TEST_CASE(timer_cancelled_by_callback_in_same_batch) {
  auto loop = make_test_loop();
  const double when = loop->time() + 0.002;
  bool second_ran = false;
  TimerHandle second;
  loop->call_at(when, [&] { second.cancel(); });
  second = loop->call_at(when, [&] { second_ran = true; });
  loop->call_at(when + 0.005, [&] { loop->stop(); });
  loop->run_forever();
  BOOST_TEST(!second_ran);
}

BOOST_AUTO_TEST_SUITE_END()
