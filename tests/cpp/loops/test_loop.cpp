// tests/cpp/loops/test_loop.cpp — scheduling, stopping, closing and errors, on every backend.
#include "treadle/core/loop.hpp"

#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <stdexcept>
#include <vector>

#include "support/backends.hpp"
#include "treadle/core/error.hpp"

using namespace treadle;
using treadle::test::make_test_loop;

namespace {
struct TestInterrupt : Interrupt {};
}  // namespace

BOOST_AUTO_TEST_SUITE(loop)

BOOST_AUTO_TEST_CASE(backend_name_matches) {
  auto loop = make_test_loop();
  BOOST_TEST(loop->backend() == test::backend());
  BOOST_CHECK_THROW(make_loop("no-such-backend"), Error);
  BOOST_TEST(list_backends().size() >= 2u);
}

BOOST_AUTO_TEST_CASE(call_soon_runs_in_fifo_order) {
  auto loop = make_test_loop();
  std::vector<int> order;
  for (int i = 0; i < 1000; ++i) loop->call_soon([&, i] { order.push_back(i); });
  loop->call_soon([&] { loop->stop(); });
  loop->run_forever();
  BOOST_REQUIRE(order.size() == 1000u);
  for (int i = 0; i < 1000; ++i) BOOST_TEST(order[i] == i);
}

BOOST_AUTO_TEST_CASE(callbacks_scheduled_by_callbacks_run_next_iteration) {
  auto loop = make_test_loop();
  std::vector<std::string> log;
  loop->call_soon([&] {
    log.push_back("a");
    loop->call_soon([&] { log.push_back("c"); });
  });
  loop->call_soon([&] { log.push_back("b"); });
  loop->run_once(0);
  BOOST_TEST(log == (std::vector<std::string>{"a", "b"}));
  loop->run_once(0);
  BOOST_TEST(log == (std::vector<std::string>{"a", "b", "c"}));
}

BOOST_AUTO_TEST_CASE(never_runs_inside_the_scheduling_call) {
  auto loop = make_test_loop();
  bool ran = false;
  loop->call_soon([&] { ran = true; });
  loop->call_later(0, [&] { ran = true; });
  loop->call_soon_threadsafe([&] { ran = true; });
  BOOST_TEST(!ran);
}

BOOST_AUTO_TEST_CASE(cancel_before_run) {
  auto loop = make_test_loop();
  int runs = 0;
  Handle h = loop->call_soon([&] { ++runs; });
  TimerHandle t = loop->call_later(0.001, [&] { ++runs; });
  h.cancel();
  t.cancel();
  loop->call_later(0.01, [&] { loop->stop(); });
  loop->run_forever();
  BOOST_TEST(runs == 0);
  BOOST_TEST(h.cancelled());
}

BOOST_AUTO_TEST_CASE(cancel_during_run_from_an_earlier_callback) {
  auto loop = make_test_loop();
  int runs = 0;
  Handle later;
  TimerHandle timer;
  loop->call_soon([&] {
    later.cancel();
    timer.cancel();
  });
  later = loop->call_soon([&] { ++runs; });
  timer = loop->call_later(0, [&] { ++runs; });
  loop->call_later(0.005, [&] { loop->stop(); });
  loop->run_forever();
  BOOST_TEST(runs == 0);
}

BOOST_AUTO_TEST_CASE(stop_from_callback_finishes_the_iteration) {
  auto loop = make_test_loop();
  std::vector<int> log;
  loop->call_soon([&] {
    log.push_back(1);
    loop->stop();
    loop->call_soon([&] { log.push_back(3); });
  });
  loop->call_soon([&] { log.push_back(2); });
  loop->run_forever();
  BOOST_TEST(log == (std::vector<int>{1, 2}));
  BOOST_TEST(!loop->is_running());
  // What was scheduled after stop() runs on the next run.
  loop->call_soon([&] { loop->stop(); });
  loop->run_forever();
  BOOST_TEST(log == (std::vector<int>{1, 2, 3}));
}

BOOST_AUTO_TEST_CASE(stop_before_run_forever_runs_one_iteration) {
  auto loop = make_test_loop();
  int runs = 0;
  loop->call_soon([&] { ++runs; });
  loop->stop();
  loop->run_forever();  // must return, not block
  BOOST_TEST(runs == 1);
}

BOOST_AUTO_TEST_CASE(is_running_and_current) {
  auto loop = make_test_loop();
  bool running = false;
  Loop* current = nullptr;
  BOOST_TEST(Loop::current() == nullptr);
  loop->call_soon([&] {
    running = loop->is_running();
    current = Loop::current();
    loop->stop();
  });
  loop->run_forever();
  BOOST_TEST(running);
  BOOST_TEST(current == loop.get());
  BOOST_TEST(!loop->is_running());
  BOOST_TEST(Loop::current() == nullptr);
}

BOOST_AUTO_TEST_CASE(reentrant_run_is_refused) {
  auto loop = make_test_loop();
  auto other = make_test_loop();
  std::error_code inner, nested;
  loop->call_soon([&] {
    try {
      loop->run_forever();
    } catch (const Error& e) {
      inner = e.code();
    }
    try {
      other->run_once(0);  // another loop on the same thread
    } catch (const Error& e) {
      nested = e.code();
    }
    loop->stop();
  });
  loop->run_forever();
  BOOST_TEST(inner == errc::loop_running);
  BOOST_TEST(nested == errc::loop_running);
}

BOOST_AUTO_TEST_CASE(exception_goes_to_handler_and_loop_continues) {
  auto loop = make_test_loop();
  std::vector<std::string> messages;
  std::string what;
  loop->set_exception_handler([&](Loop&, const ExceptionContext& ctx) {
    messages.push_back(ctx.message);
    BOOST_TEST(static_cast<bool>(ctx.handle));
    try {
      std::rethrow_exception(ctx.exception);
    } catch (const std::runtime_error& e) {
      what = e.what();
    }
  });
  bool after = false;
  loop->call_soon([] { throw std::runtime_error("boom"); });
  loop->call_soon([&] { after = true; });
  loop->call_later(0.001, [] { throw std::runtime_error("timer boom"); });
  loop->call_later(0.002, [&] { loop->stop(); });
  loop->run_forever();
  BOOST_TEST(after);
  BOOST_TEST(messages.size() == 2u);
  BOOST_TEST(messages[0] == "Exception in callback");
  BOOST_TEST(what == "timer boom");
}

BOOST_AUTO_TEST_CASE(throwing_exception_handler_does_not_kill_the_loop) {
  auto loop = make_test_loop();
  loop->set_exception_handler([](Loop&, const ExceptionContext&) { throw 42; });
  bool after = false;
  loop->call_soon([] { throw std::logic_error("first"); });
  loop->call_soon([&] {
    after = true;
    loop->stop();
  });
  loop->run_forever();
  BOOST_TEST(after);
  loop->set_exception_handler({});
  BOOST_TEST(!loop->get_exception_handler());
}

BOOST_AUTO_TEST_CASE(interrupt_propagates_and_loop_can_run_again) {
  auto loop = make_test_loop();
  std::vector<int> log;
  loop->call_soon([&] { log.push_back(1); });
  loop->call_soon([] { throw TestInterrupt{}; });
  loop->call_soon([&] { log.push_back(3); });
  BOOST_CHECK_THROW(loop->run_forever(), TestInterrupt);
  BOOST_TEST(!loop->is_running());
  BOOST_TEST(log == (std::vector<int>{1}));
  loop->call_soon([&] { loop->stop(); });
  loop->run_forever();
  BOOST_TEST(log == (std::vector<int>{1, 3}));  // the rest of the queue survived
}

BOOST_AUTO_TEST_CASE(close_discards_pending_work_and_releases_it) {
  auto loop = make_test_loop();
  auto token = std::make_shared<int>(0);
  int runs = 0;
  Handle kept = loop->call_soon([token, &runs] { ++runs; });
  loop->call_later(10, [token, &runs] { ++runs; });
  loop->call_at(loop->time() + 100, [token, &runs] { ++runs; });
  loop->call_soon_threadsafe([token, &runs] { ++runs; });
  BOOST_TEST(token.use_count() == 5);
  loop->close();
  BOOST_TEST(loop->is_closed());
  BOOST_TEST(runs == 0);
  BOOST_TEST(token.use_count() == 1);  // nothing leaked, even through the handle we hold
  loop->close();                       // idempotent

  auto expect_closed = [](auto&& f) {
    try {
      f();
      BOOST_FAIL("no exception");
    } catch (const Error& e) {
      BOOST_TEST(e.code() == errc::loop_closed);
    }
  };
  expect_closed([&] { loop->call_soon([] {}); });
  expect_closed([&] { loop->call_later(1, [] {}); });
  expect_closed([&] { loop->call_soon_threadsafe([] {}); });
  expect_closed([&] { loop->run_forever(); });
  expect_closed([&] { loop->run_once(0); });
  loop->stop();  // harmless
}

BOOST_AUTO_TEST_CASE(close_while_running_is_refused) {
  auto loop = make_test_loop();
  std::error_code ec;
  loop->call_soon([&] {
    try {
      loop->close();
    } catch (const Error& e) {
      ec = e.code();
    }
    loop->stop();
  });
  loop->run_forever();
  BOOST_TEST(ec == errc::loop_running);
  BOOST_TEST(!loop->is_closed());
}

BOOST_AUTO_TEST_CASE(destroying_an_open_loop_closes_it) {
  auto token = std::make_shared<int>(0);
  {
    auto loop = make_test_loop();
    loop->call_soon([token] {});
    loop->call_later(5, [token] {});
  }
  BOOST_TEST(token.use_count() == 1);
}

BOOST_AUTO_TEST_CASE(run_once_waits_at_most_max_wait) {
  auto loop = make_test_loop();
  const double start = loop->time();
  loop->run_once(0.02);
  const double waited = loop->time() - start;
  BOOST_TEST(waited >= 0.02);
  BOOST_TEST(waited < 5.0);  // generous: only proves it returned
}

BOOST_AUTO_TEST_CASE(wait_hooks_bracket_only_blocking_waits_and_never_callbacks) {
  struct Hooks : WaitHooks {
    bool waiting = false;
    int waits = 0;
    bool callback_ran_inside_wait = false;
    void before_wait() noexcept override {
      BOOST_TEST(!waiting);
      waiting = true;
      ++waits;
    }
    void after_wait() noexcept override {
      BOOST_TEST(waiting);
      waiting = false;
    }
  } hooks;
  auto loop = make_test_loop();
  loop->set_wait_hooks(&hooks);
  int fds[2];
  BOOST_REQUIRE(::pipe(fds) == 0);
  loop->add_reader(fds[0], [&] {
    if (hooks.waiting) hooks.callback_ran_inside_wait = true;
    char c;
    (void)!::read(fds[0], &c, 1);
    loop->remove_reader(fds[0]);
  });
  loop->call_later(0.01, [&] {
    if (hooks.waiting) hooks.callback_ran_inside_wait = true;
    (void)!::write(fds[1], "x", 1);
  });
  loop->call_later(0.03, [&] { loop->stop(); });
  loop->call_soon([&] {
    if (hooks.waiting) hooks.callback_ran_inside_wait = true;
  });
  loop->run_forever();
  BOOST_TEST(hooks.waits >= 2);
  BOOST_TEST(!hooks.waiting);
  BOOST_TEST(!hooks.callback_ran_inside_wait);
  loop->set_wait_hooks(nullptr);
  ::close(fds[0]);
  ::close(fds[1]);
}

BOOST_AUTO_TEST_SUITE_END()
