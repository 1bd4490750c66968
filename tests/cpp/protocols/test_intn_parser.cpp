// tests/cpp/protocols/test_intn_parser.cpp — IntNParser (8/16/32-bit prefixes), fed every cut.
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "support/chunked_feeder.hpp"
#include "treadle/core/error.hpp"
#include "treadle/protocols/intn_parser.hpp"

using namespace std::string_literals;
using treadle::errc;
using treadle::IntNParser;
using treadle::test::Chunks;
using Strings = std::vector<std::string>;
namespace data = boost::unit_test::data;

namespace {

// The length prefix of `length` in `width` big-endian bytes, written independently of the
// code under test.
std::string prefix(std::size_t width, std::size_t length) {
  std::string out(width, '\0');
  for (std::size_t i = width; i-- > 0; length >>= 8) out[i] = static_cast<char>(length & 0xff);
  return out;
}

std::string frame(std::size_t width, std::string_view payload) {
  return prefix(width, payload.size()) + std::string(payload);
}

void check_all_cuts(std::size_t width, std::string_view input, const Strings& expected,
                    std::error_code error,
                    std::size_t max_length = IntNParser::default_max_length) {
  treadle::test::for_each_chunking(input, [&](const Chunks& chunks) {
    BOOST_TEST_CONTEXT("width " << width << ", " << treadle::test::describe(chunks)) {
      IntNParser parser(width, max_length);
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

const std::vector<std::size_t> widths{1, 2, 4};

}  // namespace

BOOST_AUTO_TEST_SUITE(intn_parser)

BOOST_DATA_TEST_CASE(decodes_at_every_cut, data::make(widths), width) {
  const std::string input = frame(width, "hello") + frame(width, "") + frame(width, "\0,x"s);
  check_all_cuts(width, input, {"hello", "", "\0,x"s}, {});
}

BOOST_DATA_TEST_CASE(payload_exactly_at_the_limit_is_accepted, data::make(widths), width) {
  check_all_cuts(width, frame(width, "12345") + frame(width, "a"), {"12345", "a"}, {}, 5);
}

BOOST_DATA_TEST_CASE(payload_one_past_the_limit_is_refused, data::make(widths), width) {
  check_all_cuts(width, frame(width, "a") + frame(width, "123456"), {"a"}, errc::frame_too_large,
                 5);
}

BOOST_DATA_TEST_CASE(oversize_is_refused_once_the_prefix_is_read, data::make(widths), width) {
  // Only the prefix is sent: the refusal must not wait for (or store) payload bytes.
  IntNParser parser(width, 5);
  const std::string p = prefix(width, 6);
  BOOST_TEST(!parser.feed(std::string_view(p).substr(0, width - 1), [](std::string_view) {}));
  BOOST_TEST(parser.feed(std::string_view(p).substr(width - 1), [](std::string_view) {}) ==
             errc::frame_too_large);
  BOOST_TEST(parser.buffer_capacity() == 0u);
}

BOOST_DATA_TEST_CASE(eof_inside_a_frame_is_malformed, data::make(widths), width) {
  const std::string first = frame(width, "a");
  const std::string second = frame(width, "abc");
  for (std::size_t cut = 1; cut < second.size(); ++cut) {
    BOOST_TEST_CONTEXT("stream cut " << cut << " bytes into the second frame") {
      check_all_cuts(width, first + second.substr(0, cut), {"a"}, errc::malformed_frame);
    }
  }
}

BOOST_AUTO_TEST_CASE(prefix_is_big_endian) {
  const std::string payload(258, 'q');
  check_all_cuts(2, "\x01\x02"s + payload, {payload}, {});
  IntNParser parser(4);
  std::size_t size = 0;
  BOOST_TEST(!parser.feed("\x00\x00\x01\x00"s + std::string(256, 'z'),
                          [&](std::string_view s) { size = s.size(); }));
  BOOST_TEST(size == 256u);
}

BOOST_AUTO_TEST_CASE(limits_follow_the_prefix_width) {
  BOOST_TEST(IntNParser::prefix_limit(1) == 255u);
  BOOST_TEST(IntNParser::prefix_limit(2) == 65535u);
  BOOST_TEST(IntNParser::prefix_limit(4) == 4294967295u);
  // The default cap (64 KiB) is lowered to what the prefix can say.
  BOOST_TEST(IntNParser(1).max_length() == 255u);
  BOOST_TEST(IntNParser(2).max_length() == 65535u);
  BOOST_TEST(IntNParser(4).max_length() == 65536u);
  BOOST_TEST(IntNParser(4, 10).max_length() == 10u);
  BOOST_TEST(IntNParser().prefix_length() == 4u);
}

BOOST_AUTO_TEST_CASE(largest_default_frames) {
  // 255 bytes is the most an 8-bit prefix says; 65536 is the default cap of a 32-bit one.
  const std::string p255(255, 'a');
  IntNParser parser8(1);
  std::size_t got = 0;
  BOOST_TEST(!parser8.feed(frame(1, p255), [&](std::string_view s) { got = s.size(); }));
  BOOST_TEST(got == 255u);
  IntNParser parser32(4);
  BOOST_TEST(!parser32.feed(frame(4, std::string(65536, 'b')),
                            [&](std::string_view s) { got = s.size(); }));
  BOOST_TEST(got == 65536u);
  BOOST_TEST(parser32.feed(prefix(4, 65537), [](std::string_view) {}) == errc::frame_too_large);
}

BOOST_AUTO_TEST_CASE(other_widths_are_rejected) {
  for (std::size_t width : {0, 3, 8}) {
    BOOST_CHECK_EXCEPTION(IntNParser{width}, treadle::Error, [](const treadle::Error& e) {
      return e.code() == errc::invalid_argument;
    });
  }
}

BOOST_AUTO_TEST_CASE(memory_stays_within_the_limit) {
  const std::size_t max = 300;
  IntNParser parser(2, max);
  std::string input;
  for (std::size_t len = 0; len <= max; len += 30) input += frame(2, std::string(len, 'm'));
  std::size_t count = 0;
  for (auto piece : treadle::test::pieces_of(input, 11)) {
    BOOST_TEST_REQUIRE(!parser.feed(piece, [&](std::string_view) { ++count; }));
    BOOST_TEST_REQUIRE(parser.buffer_capacity() <= max);
  }
  BOOST_TEST(count == 11u);
}

BOOST_AUTO_TEST_CASE(whole_frames_are_views_of_the_input) {
  IntNParser parser(1);
  const std::string data =
      "\x03"
      "abc"
      "\x05"
      "par";
  treadle::ConstBuffer input = treadle::as_bytes(data);
  std::error_code ec;
  auto payload = parser.next_frame(input, ec);
  BOOST_TEST_REQUIRE(payload.has_value());
  BOOST_TEST(*payload == "abc");
  BOOST_TEST(static_cast<const void*>(payload->data()) ==
             static_cast<const void*>(data.data() + 1));
  BOOST_TEST(!parser.next_frame(input, ec).has_value());
  BOOST_TEST(input.empty());
  BOOST_TEST(parser.buffered_size() == 3u);
}

BOOST_AUTO_TEST_CASE(errors_are_sticky_until_reset) {
  IntNParser parser(1, 2);
  Strings got;
  auto collect = [&](std::string_view s) { got.emplace_back(s); };
  BOOST_TEST(parser.feed("\x03"s, collect) == errc::frame_too_large);
  BOOST_TEST(parser.feed("\x01x"s, collect) == errc::frame_too_large);
  BOOST_TEST(parser.feed_eof() == errc::frame_too_large);
  parser.reset();
  BOOST_TEST(!parser.feed("\x01x"s, collect));
  BOOST_TEST(!parser.feed_eof());
  BOOST_TEST(parser.feed("\x01x"s, collect) == errc::invalid_argument);  // after EOF
  BOOST_TEST(got == Strings{"x"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
