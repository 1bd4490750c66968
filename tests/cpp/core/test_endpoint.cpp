// tests/cpp/core/test_endpoint.cpp — socket address parsing and formatting.
#include "treadle/core/endpoint.hpp"

#include <boost/test/unit_test.hpp>
#include <cerrno>

using treadle::Endpoint;

BOOST_AUTO_TEST_SUITE(endpoint)

BOOST_AUTO_TEST_CASE(ipv4_and_ipv6) {
  std::error_code ec;
  auto v4 = Endpoint::from_numeric("127.0.0.1", 8080, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(v4.family() == AF_INET);
  BOOST_TEST(v4.host() == "127.0.0.1");
  BOOST_TEST(v4.port() == 8080);
  BOOST_TEST(v4.to_string() == "127.0.0.1:8080");
  auto v6 = Endpoint::from_numeric("::1", 443, ec);
  BOOST_TEST(!ec);
  BOOST_TEST(v6.family() == AF_INET6);
  BOOST_TEST(v6.to_string() == "[::1]:443");
  BOOST_TEST(!(v4 == v6));
  BOOST_TEST((v4 == Endpoint(v4.data(), v4.size())));
}

BOOST_AUTO_TEST_CASE(names_are_not_resolved) {
  std::error_code ec;
  auto e = Endpoint::from_numeric("localhost", 80, ec);
  BOOST_TEST(ec.value() == EINVAL);
  BOOST_TEST(e.family() == AF_UNSPEC);
  BOOST_TEST(e.to_string().empty());
}

BOOST_AUTO_TEST_CASE(unix_paths) {
  std::error_code ec;
  auto p = Endpoint::from_unix_path("/tmp/sock", ec);
  BOOST_TEST(!ec);
  BOOST_TEST(p.family() == AF_UNIX);
  BOOST_TEST(p.host() == "/tmp/sock");
  auto abstract = Endpoint::from_unix_path(std::string("\0abc", 4), ec);
  BOOST_TEST(abstract.host() == std::string("\0abc", 4));
  (void)Endpoint::from_unix_path(std::string(200, 'x'), ec);
  BOOST_TEST(ec.value() == ENAMETOOLONG);
}

BOOST_AUTO_TEST_SUITE_END()
