// tests/cpp/core/main.cpp — Boost.Test entry point of test_core.
#define BOOST_TEST_MODULE treadle core
#include <boost/test/unit_test.hpp>
