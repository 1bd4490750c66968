// tests/cpp/loops/main.cpp — Boost.Test entry point of test_loops; prints the backend.
#define BOOST_TEST_MODULE treadle loops
#include <boost/test/unit_test.hpp>

#include "support/backends.hpp"

namespace {
struct AnnounceBackend {
  AnnounceBackend() { BOOST_TEST_MESSAGE("backend: " << treadle::test::backend()); }
};
}  // namespace
BOOST_TEST_GLOBAL_FIXTURE(AnnounceBackend);
