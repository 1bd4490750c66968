// tests/cpp/protocols/test_line_parser.cpp — LineParser, fed every cut of its input, no loop.
#include <boost/test/unit_test.hpp>
#include <string>
#include <vector>

#include "support/chunked_feeder.hpp"
#include "treadle/core/error.hpp"
#include "treadle/protocols/line_parser.hpp"

using treadle::errc;
using treadle::LineParser;
using treadle::test::Chunks;
using Lines = std::vector<std::string>;

namespace {

struct Outcome {
  Lines lines;
  std::error_code error;      // from the feeds
  std::error_code eof_error;  // from feed_eof (if the feeds succeeded)
};

// Feeds `chunks` to a fresh parser, then the end of the stream.
Outcome parse(const Chunks& chunks, std::string delimiter = "\r\n",
              std::size_t max_length = LineParser::default_max_length) {
  LineParser parser(std::move(delimiter), max_length);
  Outcome out;
  out.error = treadle::test::feed_chunks(chunks, [&](std::string_view piece) {
    return parser.feed(piece, [&](std::string_view line) { out.lines.emplace_back(line); });
  });
  if (!out.error) out.eof_error = parser.feed_eof();
  return out;
}

// Checks that every cut of `input` gives `lines` and then `error` (from feeding or from EOF).
void check_all_cuts(std::string_view input, const Lines& lines, std::error_code error,
                    std::string delimiter = "\r\n",
                    std::size_t max_length = LineParser::default_max_length) {
  treadle::test::for_each_chunking(input, [&](const Chunks& chunks) {
    BOOST_TEST_CONTEXT(treadle::test::describe(chunks)) {
      const Outcome out = parse(chunks, delimiter, max_length);
      BOOST_TEST(out.lines == lines, boost::test_tools::per_element());
      BOOST_TEST((out.error ? out.error : out.eof_error) == error);
    }
  });
}

}  // namespace

BOOST_AUTO_TEST_SUITE(line_parser)

BOOST_AUTO_TEST_CASE(splits_crlf_lines_at_every_cut) {
  check_all_cuts("a\r\nbc\r\n\r\nlast one\r\n", {"a", "bc", "", "last one"}, {});
}

BOOST_AUTO_TEST_CASE(bare_cr_and_lf_are_line_content_with_crlf) {
  check_all_cuts("a\rb\nc\r\r\n\n\r\n", {"a\rb\nc\r", "\n"}, {});
}

BOOST_AUTO_TEST_CASE(single_byte_delimiter) {
  check_all_cuts("one\ntwo\n\nthree\n", {"one", "two", "", "three"}, {}, "\n");
}

BOOST_AUTO_TEST_CASE(long_delimiter_with_self_overlap) {
  // "\r\n\r\n" overlaps itself: "\r\n\r" can be a delimiter prefix twice over.
  check_all_cuts("a\r\nb\r\n\r\nc\r\n\r\r\n\r\n", {"a\r\nb", "c\r\n\r"}, {}, "\r\n\r\n");
  check_all_cuts("xENxENDEEND", {"xENx", "E"}, {}, "END");
}

BOOST_AUTO_TEST_CASE(line_exactly_at_the_limit_is_accepted) {
  check_all_cuts("12345678\r\nabc\r\n", {"12345678", "abc"}, {}, "\r\n", 8);
  // Bytes that may still begin a delimiter do not count against the limit.
  check_all_cuts("ab\r\r\n", {"ab\r"}, {}, "\r\n", 3);
}

BOOST_AUTO_TEST_CASE(line_one_past_the_limit_is_refused) {
  check_all_cuts("ok\r\n123456789\r\nnever\r\n", {"ok"}, errc::line_too_long, "\r\n", 8);
  check_all_cuts("abcd\r\n", {}, errc::line_too_long, "\r\n", 3);
}

BOOST_AUTO_TEST_CASE(overlong_line_is_refused_before_its_delimiter) {
  // No delimiter at all: the peer must not be able to grow the buffer by never sending one.
  check_all_cuts("ok\r\n123456789", {"ok"}, errc::line_too_long, "\r\n", 8);
  LineParser parser("\r\n", 8);
  BOOST_TEST(!parser.feed("12345678\r", [](std::string_view) {}));  // may still be a line
  BOOST_TEST(parser.buffered_size() == 9u);
  BOOST_TEST(parser.feed("x", [](std::string_view) {}) == errc::line_too_long);
  BOOST_TEST(parser.buffer_capacity() == 0u);  // the memory is given back
}

BOOST_AUTO_TEST_CASE(default_limit_is_16_kib) {
  BOOST_TEST(LineParser().max_length() == 16u * 1024);
  BOOST_TEST(LineParser().delimiter() == "\r\n");
  const std::string at_limit(16 * 1024, 'x');
  const std::string input = at_limit + "\r\n" + at_limit + "y\r\n";
  // The full sweep of a 32 KiB input is slow; these cuts reach every state.
  const std::size_t n = at_limit.size();
  for (const Chunks& chunks :
       {Chunks{input}, treadle::test::split_at(input, n), treadle::test::split_at(input, n + 1),
        treadle::test::split_at(input, 2 * n + 2), treadle::test::split_at(input, 2 * n + 3),
        treadle::test::pieces_of(input, 1), treadle::test::pieces_of(input, 1000)}) {
    BOOST_TEST_CONTEXT(treadle::test::describe(chunks)) {
      const Outcome out = parse(chunks);
      BOOST_TEST_REQUIRE(out.lines.size() == 1u);
      BOOST_TEST(out.lines[0] == at_limit);
      BOOST_TEST(out.error == errc::line_too_long);
    }
  }
}

BOOST_AUTO_TEST_CASE(zero_limit_allows_only_empty_lines) {
  check_all_cuts("\r\n\r\n", {"", ""}, {}, "\r\n", 0);
  check_all_cuts("\r\nx\r\n", {""}, errc::line_too_long, "\r\n", 0);
}

BOOST_AUTO_TEST_CASE(memory_never_exceeds_limit_plus_delimiter) {
  const std::size_t max = 1000;
  LineParser parser("\r\n", max);
  std::string input;
  for (std::size_t len = 0; len <= max; len += 37) input += std::string(len, 'a') + "\r\n";
  input += std::string(max, 'z') + "\r";  // the worst case: a full line and half a delimiter
  std::size_t lines = 0;
  for (auto piece : treadle::test::pieces_of(input, 7)) {
    BOOST_TEST_REQUIRE(!parser.feed(piece, [&](std::string_view) { ++lines; }));
    BOOST_TEST_REQUIRE(parser.buffer_capacity() <= max + 2);
  }
  BOOST_TEST(lines == 28u);
  BOOST_TEST(parser.buffered_size() == max + 1);
}

BOOST_AUTO_TEST_CASE(eof_inside_a_line_is_malformed) {
  check_all_cuts("one\r\ntwo", {"one"}, errc::malformed_frame);
  check_all_cuts("one\r\n\r", {"one"}, errc::malformed_frame);
  LineParser parser;
  BOOST_TEST(!parser.feed_eof());  // between lines: a clean end
}

BOOST_AUTO_TEST_CASE(errors_are_sticky_until_reset) {
  LineParser parser("\n", 2);
  Lines lines;
  auto collect = [&](std::string_view line) { lines.emplace_back(line); };
  BOOST_TEST(parser.feed("abc", collect) == errc::line_too_long);
  BOOST_TEST(parser.feed("ok\n", collect) == errc::line_too_long);
  BOOST_TEST(parser.feed_eof() == errc::line_too_long);
  BOOST_TEST(parser.error() == errc::line_too_long);
  BOOST_TEST(lines.empty());
  parser.reset();
  BOOST_TEST(!parser.error());
  BOOST_TEST(!parser.feed("ok\n", collect));
  BOOST_TEST(lines == Lines{"ok"}, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(feeding_after_eof_is_refused) {
  LineParser parser;
  BOOST_TEST(!parser.feed_eof());
  BOOST_TEST(parser.feed("a\r\n", [](std::string_view) { BOOST_FAIL("line after eof"); }) ==
             errc::invalid_argument);
  parser.reset();
  BOOST_TEST(!parser.feed("a\r\n", [](std::string_view) {}));
}

BOOST_AUTO_TEST_CASE(next_line_stops_where_asked) {
  // The pull interface leaves what it did not need in the input, e.g. for a raw-mode switch.
  LineParser parser;
  const std::string data = "first\r\nsecond\r\nraw bytes";
  treadle::ConstBuffer input = treadle::as_bytes(data);
  std::error_code ec;
  auto line = parser.next_line(input, ec);
  BOOST_TEST_REQUIRE(line.has_value());
  BOOST_TEST(*line == "first");
  BOOST_TEST(treadle::as_chars(input) == "second\r\nraw bytes");
  // A line whole in the input is a view of it, not a copy.
  BOOST_TEST(static_cast<const void*>(line->data()) == static_cast<const void*>(data.data()));
  line = parser.next_line(input, ec);
  BOOST_TEST(*line == "second");
  BOOST_TEST(!parser.next_line(input, ec).has_value());
  BOOST_TEST(!ec);
  BOOST_TEST(input.empty());
  BOOST_TEST(parser.buffered_size() == 9u);
}

BOOST_AUTO_TEST_CASE(empty_delimiter_is_rejected) {
  BOOST_CHECK_EXCEPTION(LineParser(""), treadle::Error,
                        [](const treadle::Error& e) { return e.code() == errc::invalid_argument; });
}

BOOST_AUTO_TEST_SUITE_END()
