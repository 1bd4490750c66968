// tests/cpp/core/test_extra_info.cpp — keyed lookup with a chained fallback.
#include "treadle/core/extra_info.hpp"

#include <boost/test/unit_test.hpp>

using namespace treadle;

BOOST_AUTO_TEST_SUITE(extra_info)

BOOST_AUTO_TEST_CASE(own_keys_then_fallback) {
  ExtraInfo lower;
  lower.set(extra::peername, std::string("10.0.0.1:1"));
  lower.set(extra::socket, 5);
  ExtraInfo upper;
  upper.set(extra::cipher, std::string("TLS_AES_128_GCM_SHA256"));
  upper.chain([&](std::string_view key) { return lower.get(key); });

  BOOST_TEST(*extra_cast<std::string>(upper.get(extra::cipher)) == "TLS_AES_128_GCM_SHA256");
  BOOST_TEST(*extra_cast<int>(upper.get(extra::socket)) == 5);
  BOOST_TEST(!upper.get("nonexistent").has_value());
  BOOST_TEST(extra_cast<int>(upper.get(extra::cipher)) == nullptr);  // wrong type: null

  upper.set(extra::socket, 9);  // own value shadows the layer below
  BOOST_TEST(*extra_cast<int>(upper.get(extra::socket)) == 9);
  upper.set(extra::socket, 10);  // replace
  BOOST_TEST(*extra_cast<int>(upper.get(extra::socket)) == 10);
  upper.erase(extra::socket);
  BOOST_TEST(*extra_cast<int>(upper.get(extra::socket)) == 5);
}

BOOST_AUTO_TEST_SUITE_END()
