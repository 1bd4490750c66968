// tests/cpp/core/test_clock.cpp — the monotonic clock and its rounding.
#include "treadle/core/clock.hpp"

#include <time.h>

#include <boost/test/unit_test.hpp>
#include <cmath>
#include <limits>

using treadle::Clock;

BOOST_AUTO_TEST_SUITE(monotonic_clock)

BOOST_AUTO_TEST_CASE(monotonic_and_matches_clock_monotonic) {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  const double os = static_cast<double>(ts.tv_sec) + ts.tv_nsec * 1e-9;
  const double a = Clock::now();
  const double b = Clock::now();
  BOOST_TEST(b >= a);
  BOOST_TEST(std::fabs(a - os) < 0.5);
}

BOOST_AUTO_TEST_CASE(from_seconds_rounds_up_and_saturates) {
  BOOST_TEST(Clock::from_seconds(1.5) == 1'500'000'000);
  BOOST_TEST(Clock::from_seconds(1e-10) == 1);  // a sub-nanosecond deadline is not "now"
  // Rounding up means the deadline in ns is never before the deadline in seconds.
  for (double t : {0.1, 12345.678901234, 1e6 + 1e-7}) {
    BOOST_TEST(static_cast<double>(Clock::from_seconds(t)) >= t * 1e9);
  }
  BOOST_TEST(Clock::from_seconds(std::numeric_limits<double>::infinity()) == INT64_MAX);
  BOOST_TEST(Clock::from_seconds(std::nan("")) == INT64_MAX);
  BOOST_TEST(Clock::from_seconds(-1e300) == INT64_MIN);
  BOOST_TEST(Clock::to_seconds(2'000'000'000) == 2.0);
}

BOOST_AUTO_TEST_SUITE_END()
