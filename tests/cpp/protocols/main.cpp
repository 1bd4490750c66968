// tests/cpp/protocols/main.cpp — Boost.Test entry point of test_protocols.
#define BOOST_TEST_MODULE treadle protocols
#include <boost/test/unit_test.hpp>
