// tests/cpp/core/test_handle.cpp — Handle/TimerHandle lifetime and cancellation, no loop.
#include "treadle/core/handle.hpp"

#include <boost/test/unit_test.hpp>
#include <memory>

using namespace treadle;

BOOST_AUTO_TEST_SUITE(handle)

BOOST_AUTO_TEST_CASE(empty_handle) {
  Handle h;
  BOOST_TEST(!h);
  BOOST_TEST(!h.cancelled());
  h.cancel();  // no effect, no crash
  TimerHandle t;
  BOOST_TEST(t.when() == 0.0);
}

BOOST_AUTO_TEST_CASE(cancel_releases_captures_and_blocks_invoke) {
  auto token = std::make_shared<int>(7);
  int runs = 0;
  detail::Ref<detail::HandleImpl> impl(
      new detail::CallbackHandle([token, &runs] { runs += *token; }));
  Handle h(impl);
  BOOST_TEST(token.use_count() == 2);
  impl->invoke();
  BOOST_TEST(runs == 7);
  h.cancel();
  BOOST_TEST(h.cancelled());
  BOOST_TEST(token.use_count() == 1);  // the capture is gone at once
  impl->invoke();                      // a loop never does this, but it must be harmless
  BOOST_TEST(runs == 7);
  h.cancel();  // idempotent
}

BOOST_AUTO_TEST_CASE(copies_share_state_and_last_reference_frees) {
  auto token = std::make_shared<int>(1);
  {
    Handle a(detail::Ref<detail::HandleImpl>(new detail::CallbackHandle([token] {})));
    Handle b = a;
    b.cancel();
    BOOST_TEST(a.cancelled());
    BOOST_TEST(a.impl() == b.impl());
  }
  BOOST_TEST(token.use_count() == 1);
}

BOOST_AUTO_TEST_CASE(timer_handle_reports_when) {
  detail::Ref<detail::TimerImpl> t(
      new detail::CallbackHandle<std::function<void()>, detail::TimerImpl>([] {}));
  t->when_ns = 2'500'000'000;
  TimerHandle th(t);
  BOOST_TEST(th.when() == 2.5);
  BOOST_TEST(th.when_ns() == 2'500'000'000);
  th.cancel();
  BOOST_TEST(th.cancelled());
}

BOOST_AUTO_TEST_SUITE_END()
