// tests/cpp/protocols/test_netstring_parser.cpp — NetstringParser, fed every cut of its input.
#include <boost/test/unit_test.hpp>
#include <limits>
#include <string>
#include <vector>

#include "support/chunked_feeder.hpp"
#include "treadle/core/error.hpp"
#include "treadle/protocols/netstring_parser.hpp"

using namespace std::string_literals;
using treadle::errc;
using treadle::NetstringParser;
using treadle::test::Chunks;
using Strings = std::vector<std::string>;

namespace {

// Feeds every cut of `input` to a fresh parser, then the end of the stream; checks that the
// payloads are `expected` and the first error (from feeding or from EOF) is `error`.
void check_all_cuts(std::string_view input, const Strings& expected, std::error_code error,
                    std::size_t max_length = NetstringParser::default_max_length) {
  treadle::test::for_each_chunking(input, [&](const Chunks& chunks) {
    BOOST_TEST_CONTEXT(treadle::test::describe(chunks)) {
      NetstringParser parser(max_length);
      Strings got;
      std::error_code ec = treadle::test::feed_chunks(chunks, [&](std::string_view piece) {
        return parser.feed(piece, [&](std::string_view s) { got.emplace_back(s); });
      });
      if (!ec) ec = parser.feed_eof();
      BOOST_TEST(got == expected, boost::test_tools::per_element());
      BOOST_TEST(ec == error);
    }
  });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(netstring_parser)

BOOST_AUTO_TEST_CASE(decodes_at_every_cut) {
  check_all_cuts("3:abc,0:,5:hello,", {"abc", "", "hello"}, {});
}

BOOST_AUTO_TEST_CASE(payload_is_opaque_bytes) {
  check_all_cuts("6:1:,\0\r\n,"s, {"1:,\0\r\n"s}, {});
}

BOOST_AUTO_TEST_CASE(payload_exactly_at_the_limit_is_accepted) {
  check_all_cuts("5:hello,1:x,", {"hello", "x"}, {}, 5);
  check_all_cuts("10:0123456789,", {"0123456789"}, {}, 10);
}

BOOST_AUTO_TEST_CASE(payload_one_past_the_limit_is_refused) {
  check_all_cuts("1:x,6:hello!,", {"x"}, errc::frame_too_large, 5);
  check_all_cuts("11:0123456789a,", {}, errc::frame_too_large, 10);
}

BOOST_AUTO_TEST_CASE(oversize_is_refused_from_the_length_digits_alone) {
  // The length is refused digit by digit: no ':' and no payload byte is needed, and nothing
  // is buffered.
  NetstringParser parser(100);
  BOOST_TEST(!parser.feed("10", [](std::string_view) {}));
  BOOST_TEST(parser.feed("1", [](std::string_view) {}) == errc::frame_too_large);
  BOOST_TEST(parser.buffer_capacity() == 0u);
  check_all_cuts("999:", {}, errc::frame_too_large, 100);
}

BOOST_AUTO_TEST_CASE(more_digits_than_the_limit_has_are_malformed) {
  // 1000 needs four digits where the limit (100) has three.
  check_all_cuts("1000:", {}, errc::malformed_frame, 100);
  check_all_cuts("100:", {}, errc::malformed_frame, 100);  // EOF inside the frame
}

BOOST_AUTO_TEST_CASE(huge_lengths_do_not_overflow) {
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  check_all_cuts("18446744073709551616:", {}, errc::frame_too_large, max);  // 2^64
  check_all_cuts("99999999999999999999:", {}, errc::frame_too_large, max);
  check_all_cuts("184467440737095516150:", {}, errc::malformed_frame, max);  // 21 digits
}

BOOST_AUTO_TEST_CASE(malformed_frames) {
  check_all_cuts("a:", {}, errc::malformed_frame);
  check_all_cuts(":", {}, errc::malformed_frame);        // empty length
  check_all_cuts("-1:x,", {}, errc::malformed_frame);    // sign
  check_all_cuts(" 3:abc,", {}, errc::malformed_frame);  // space
  check_all_cuts("3 :abc,", {}, errc::malformed_frame);
  check_all_cuts("03:abc,", {}, errc::malformed_frame);  // leading zero
  check_all_cuts("00:,", {}, errc::malformed_frame);
  check_all_cuts("1:a,3:abc;", {"a"}, errc::malformed_frame);  // wrong terminator
  check_all_cuts("3:abcd,", {}, errc::malformed_frame);        // payload longer than said
}

BOOST_AUTO_TEST_CASE(eof_inside_a_frame_is_malformed) {
  check_all_cuts("1:a,3", {"a"}, errc::malformed_frame);
  check_all_cuts("1:a,3:", {"a"}, errc::malformed_frame);
  check_all_cuts("1:a,3:ab", {"a"}, errc::malformed_frame);
  check_all_cuts("1:a,3:abc", {"a"}, errc::malformed_frame);  // the ',' never came
  check_all_cuts("0:", {}, errc::malformed_frame);
}

BOOST_AUTO_TEST_CASE(payload_is_delivered_only_with_its_comma) {
  NetstringParser parser;
  Strings got;
  auto collect = [&](std::string_view s) { got.emplace_back(s); };
  BOOST_TEST(!parser.feed("3:abc", collect));
  BOOST_TEST(got.empty());
  BOOST_TEST(parser.buffered_size() == 3u);
  BOOST_TEST(!parser.feed(",", collect));
  BOOST_TEST(got == Strings{"abc"}, boost::test_tools::per_element());
  BOOST_TEST(parser.buffered_size() == 0u);
}

BOOST_AUTO_TEST_CASE(memory_stays_within_the_limit) {
  const std::size_t max = 500;
  NetstringParser parser(max);
  std::string input;
  for (std::size_t len = 0; len <= max; len += 50) {
    input += std::to_string(len) + ":" + std::string(len, 'p') + ",";
  }
  std::size_t count = 0;
  for (auto piece : treadle::test::pieces_of(input, 13)) {
    BOOST_TEST_REQUIRE(!parser.feed(piece, [&](std::string_view s) {
      BOOST_TEST(s == std::string(s.size(), 'p'));
      ++count;
    }));
    BOOST_TEST_REQUIRE(parser.buffer_capacity() <= max);
  }
  BOOST_TEST(count == 11u);
}

BOOST_AUTO_TEST_CASE(whole_frames_are_views_of_the_input) {
  NetstringParser parser;
  const std::string data = "3:abc,4:rest";
  treadle::ConstBuffer input = treadle::as_bytes(data);
  std::error_code ec;
  auto payload = parser.next_string(input, ec);
  BOOST_TEST_REQUIRE(payload.has_value());
  BOOST_TEST(*payload == "abc");
  BOOST_TEST(static_cast<const void*>(payload->data()) ==
             static_cast<const void*>(data.data() + 2));
  BOOST_TEST(treadle::as_chars(input) == "4:rest");
}

BOOST_AUTO_TEST_CASE(errors_are_sticky_until_reset) {
  NetstringParser parser;
  Strings got;
  auto collect = [&](std::string_view s) { got.emplace_back(s); };
  BOOST_TEST(parser.feed("x", collect) == errc::malformed_frame);
  BOOST_TEST(parser.feed("1:a,", collect) == errc::malformed_frame);
  BOOST_TEST(parser.feed_eof() == errc::malformed_frame);
  BOOST_TEST(got.empty());
  parser.reset();
  BOOST_TEST(!parser.feed("1:a,", collect));
  BOOST_TEST(!parser.feed_eof());
  BOOST_TEST(parser.feed("1:a,", collect) == errc::invalid_argument);  // after EOF
  BOOST_TEST(got == Strings{"a"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(zero_limit_allows_only_empty_strings) {
  check_all_cuts("0:,0:,", {"", ""}, {}, 0);
  check_all_cuts("1:x,", {}, errc::frame_too_large, 0);
}

BOOST_AUTO_TEST_SUITE_END()
