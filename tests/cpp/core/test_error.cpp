// tests/cpp/core/test_error.cpp — treadle::errc, its category and Error.
#include "treadle/core/error.hpp"

#include <boost/test/unit_test.hpp>
#include <set>

using treadle::errc;

BOOST_AUTO_TEST_SUITE(error)

BOOST_AUTO_TEST_CASE(codes_have_category_and_messages) {
  std::error_code ec = errc::loop_closed;
  BOOST_TEST(ec.category().name() == std::string("treadle"));
  BOOST_TEST(ec.message() == "event loop is closed");
  BOOST_TEST(std::error_code(errc::aborted).message() == "operation aborted");
  BOOST_TEST(treadle::treadle_category().message(999) == "unknown treadle error 999");
}

BOOST_AUTO_TEST_CASE(every_code_has_its_own_message) {
  std::set<std::string> seen;
#define COLLECT(name, value, text) seen.insert(std::error_code(errc::name).message());
  TREADLE_ERRC_TABLE(COLLECT)
#undef COLLECT
  std::size_t count = 0;
#define COUNT(name, value, text) ++count;
  TREADLE_ERRC_TABLE(COUNT)
#undef COUNT
  BOOST_TEST(seen.size() == count);
}

BOOST_AUTO_TEST_CASE(error_carries_code) {
  try {
    treadle::Error::raise(errc::loop_running, "run_forever");
    BOOST_FAIL("no throw");
  } catch (const treadle::Error& e) {
    BOOST_TEST(e.code() == errc::loop_running);
    BOOST_TEST(std::string(e.what()).find("run_forever") != std::string::npos);
  }
  BOOST_CHECK_THROW(treadle::Error::raise(treadle::errno_code(EPIPE)), std::system_error);
}

BOOST_AUTO_TEST_SUITE_END()
