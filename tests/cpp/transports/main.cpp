// tests/cpp/transports/main.cpp — Boost.Test entry point of test_transports.
#define BOOST_TEST_MODULE treadle transports
#include <sys/resource.h>

#include <boost/test/unit_test.hpp>

#include "support/backends.hpp"

namespace {
struct Setup {
  Setup() {
    // The many-connections test needs a few thousand descriptors.
    rlimit r{};
    if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
      r.rlim_cur = r.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &r);
    }
    BOOST_TEST_MESSAGE("backend: " << treadle::test::backend());
  }
};
}  // namespace
BOOST_TEST_GLOBAL_FIXTURE(Setup);
