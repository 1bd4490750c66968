// tests/cpp/protocols/test_receivers.cpp — Echo, Discard and the receivers, driven through
// StringTransport (no loop, no socket).
#include <boost/test/data/test_case.hpp>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>
#include <vector>

#include "support/chunked_feeder.hpp"
#include "support/string_transport.hpp"
#include "treadle/core/error.hpp"
#include "treadle/protocols/discard.hpp"
#include "treadle/protocols/echo.hpp"
#include "treadle/protocols/framed_receiver.hpp"
#include "treadle/protocols/intn_receiver.hpp"
#include "treadle/protocols/line_receiver.hpp"
#include "treadle/protocols/netstring_receiver.hpp"

using namespace std::string_literals;
using treadle::errc;
using treadle::test::StringTransport;
using Strings = std::vector<std::string>;
namespace data = boost::unit_test::data;

namespace {

// What every test receiver records: its messages, its errors, and whether the transport was
// still open when the error was reported (it must be: report first, then close).
struct Record {
  Strings messages;
  std::vector<std::error_code> errors;
  bool open_at_error = false;
};

class Lines : public treadle::LineReceiver {
 public:
  using LineReceiver::LineReceiver;
  Record record;
  void line_received(std::string_view line) override {
    record.messages.emplace_back(line);
    if (line == "quit") transport()->close();
    if (line.starts_with("say ")) send_line(line.substr(4));
  }
  void protocol_error(std::error_code error) override {
    record.errors.push_back(error);
    record.open_at_error = !transport()->is_closing();
  }
};

class Netstrings : public treadle::NetstringReceiver {
 public:
  using NetstringReceiver::NetstringReceiver;
  Record record;
  void string_received(std::string_view payload) override { record.messages.emplace_back(payload); }
  void protocol_error(std::error_code error) override {
    record.errors.push_back(error);
    record.open_at_error = !transport()->is_closing();
  }
};

// Records for any of the length-prefixed receivers (the named widths are abstract too).
template <class Base>
class IntNRecorder : public Base {
 public:
  using Base::Base;
  Record record;
  void string_received(std::string_view payload) override { record.messages.emplace_back(payload); }
  void protocol_error(std::error_code error) override {
    record.errors.push_back(error);
    record.open_at_error = !this->transport()->is_closing();
  }
};
using IntNStrings = IntNRecorder<treadle::IntNStringReceiver>;

// A connected fake transport with a fresh protocol of type P.
template <class P, class... Args>
std::pair<std::shared_ptr<P>, std::unique_ptr<StringTransport>> connected(Args&&... args) {
  auto protocol = std::make_shared<P>(std::forward<Args>(args)...);
  auto transport = std::make_unique<StringTransport>(protocol);
  transport->connect();
  return {protocol, std::move(transport)};
}

const std::vector<std::size_t> widths{1, 2, 4};

}  // namespace

BOOST_AUTO_TEST_SUITE(echo)

BOOST_AUTO_TEST_CASE(writes_back_what_it_receives) {
  auto [echo, t] = connected<treadle::Echo>();
  t->receive("hello");
  t->receive(" world\0"s);
  BOOST_TEST(t->value() == "hello world\0"s);
  BOOST_TEST(echo->bytes_echoed() == 12u);
}

BOOST_AUTO_TEST_CASE(peer_eof_closes_after_the_echo) {
  auto [echo, t] = connected<treadle::Echo>();
  t->receive("bye");
  BOOST_TEST(!t->receive_eof());
  BOOST_TEST(t->close_called());
  BOOST_TEST(!t->abort_called());
  t->lose_connection();
  BOOST_TEST(t->value() == "bye");
}

BOOST_AUTO_TEST_CASE(stops_reading_while_the_peer_does_not) {
  // An echo to a peer that never reads must not buffer without bound.
  auto [echo, t] = connected<treadle::Echo>();
  t->set_write_blocked(true);
  t->set_write_buffer_limits(16, 4);
  t->receive(std::string(16, 'a'));
  BOOST_TEST(t->is_reading());  // at the high mark, not above it
  t->receive("b");
  BOOST_TEST(t->writing_paused());
  BOOST_TEST(!t->is_reading());
  t->drain(12);  // 5 left: still above the low mark
  BOOST_TEST(!t->is_reading());
  t->drain(1);
  BOOST_TEST(t->is_reading());
  BOOST_TEST(t->pause_reading_calls() == 1);
  BOOST_TEST(t->resume_reading_calls() == 1);
}

BOOST_AUTO_TEST_CASE(forgets_the_transport_when_lost) {
  auto [echo, t] = connected<treadle::Echo>();
  t->lose_connection();
  echo->data_received(treadle::as_bytes("late"));  // a misbehaving transport: ignored
  BOOST_TEST(t->value().empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(discard)

BOOST_AUTO_TEST_CASE(counts_and_drops) {
  auto [sink, t] = connected<treadle::Discard>();
  t->receive("12345");
  t->receive(std::string(1000, 'x'));
  BOOST_TEST(sink->bytes_received() == 1005u);
  BOOST_TEST(t->value().empty());
  BOOST_TEST(!t->receive_eof());
  BOOST_TEST(t->close_called());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(line_receiver)

BOOST_AUTO_TEST_CASE(delivers_lines_at_every_cut) {
  const std::string input = "one\r\n\r\nsay hi\r\nthree\r\n";
  treadle::test::for_each_chunking(input, [&](const treadle::test::Chunks& chunks) {
    BOOST_TEST_CONTEXT(treadle::test::describe(chunks)) {
      auto [p, t] = connected<Lines>();
      for (auto piece : chunks) t->receive(piece);
      BOOST_TEST(p->record.messages == (Strings{"one", "", "say hi", "three"}),
                 boost::test_tools::per_element());
      BOOST_TEST(t->value() == "hi\r\n");
      BOOST_TEST(!t->is_closing());
    }
  });
}

BOOST_AUTO_TEST_CASE(send_line_is_one_gather_write) {
  auto [p, t] = connected<Lines>("\n");
  p->send_line("hello");
  BOOST_TEST(t->value() == "hello\n");
  BOOST_TEST(t->gather_writes() == 1);
}

BOOST_AUTO_TEST_CASE(oversize_line_is_reported_then_closes) {
  auto [p, t] = connected<Lines>("\r\n", 8);
  t->receive("12345678\r\n123456789");
  BOOST_TEST(p->record.messages == Strings{"12345678"}, boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(p->record.errors.size() == 1u);
  BOOST_TEST(p->record.errors[0] == errc::line_too_long);
  BOOST_TEST(p->record.open_at_error);
  BOOST_TEST(t->close_called());
  BOOST_TEST(!t->abort_called());
  // Nothing more is delivered or reported.
  t->receive("ok\r\n");
  p->eof_received();
  BOOST_TEST(p->record.messages.size() == 1u);
  BOOST_TEST(p->record.errors.size() == 1u);
}

BOOST_AUTO_TEST_CASE(no_lines_after_close_even_within_one_chunk) {
  auto [p, t] = connected<Lines>();
  t->receive("a\r\nquit\r\nb\r\nsay x\r\n");
  BOOST_TEST(p->record.messages == (Strings{"a", "quit"}), boost::test_tools::per_element());
  BOOST_TEST(t->value().empty());
}

BOOST_AUTO_TEST_CASE(eof_inside_a_line_is_reported) {
  auto [p, t] = connected<Lines>();
  t->receive("whole\r\npart");
  BOOST_TEST(!t->receive_eof());
  BOOST_TEST(p->record.messages == Strings{"whole"}, boost::test_tools::per_element());
  BOOST_TEST_REQUIRE(p->record.errors.size() == 1u);
  BOOST_TEST(p->record.errors[0] == errc::malformed_frame);
  BOOST_TEST(t->close_called());
}

BOOST_AUTO_TEST_CASE(clean_eof_closes_without_error) {
  auto [p, t] = connected<Lines>();
  t->receive("whole\r\n");
  BOOST_TEST(!t->receive_eof());
  BOOST_TEST(p->record.errors.empty());
  BOOST_TEST(t->close_called());
}

BOOST_AUTO_TEST_CASE(transport_is_forgotten_when_lost) {
  auto [p, t] = connected<Lines>();
  BOOST_TEST(p->transport() == t.get());
  t->lose_connection();
  BOOST_TEST(p->transport() == nullptr);
  p->send_line("nobody listens");  // must not crash
  BOOST_TEST(t->value().empty());
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(netstring_receiver)

BOOST_AUTO_TEST_CASE(round_trip_through_send_string) {
  auto [sender, wire] = connected<Netstrings>();
  const Strings messages{"hello", "", "with:colon,and comma", std::string(1000, 'z'), "\0\xff"s};
  for (const auto& m : messages) sender->send_string(m);
  BOOST_TEST(wire->value().starts_with("5:hello,0:,20:with:colon,and comma,1000:zz"));
  BOOST_TEST(wire->gather_writes() == 5);
  for (std::size_t piece : {1, 7, 4096}) {
    BOOST_TEST_CONTEXT("pieces of " << piece) {
      auto [receiver, t] = connected<Netstrings>();
      for (auto part : treadle::test::pieces_of(wire->value(), piece)) t->receive(part);
      BOOST_TEST(receiver->record.messages == messages, boost::test_tools::per_element());
      BOOST_TEST(receiver->record.errors.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(malformed_netstrings_close_the_transport) {
  for (std::string bad : {"3:abc;", "x:", "03:abc,", ":,"}) {
    BOOST_TEST_CONTEXT(bad) {
      auto [p, t] = connected<Netstrings>();
      t->receive("1:a," + bad + "1:b,");
      BOOST_TEST(p->record.messages == Strings{"a"}, boost::test_tools::per_element());
      BOOST_TEST_REQUIRE(p->record.errors.size() == 1u);
      BOOST_TEST(p->record.errors[0] == errc::malformed_frame);
      BOOST_TEST(p->record.open_at_error);
      BOOST_TEST(t->close_called());
    }
  }
}

BOOST_AUTO_TEST_CASE(oversize_netstring_closes_before_its_payload) {
  auto [p, t] = connected<Netstrings>(100);
  t->receive("101");
  BOOST_TEST_REQUIRE(p->record.errors.size() == 1u);
  BOOST_TEST(p->record.errors[0] == errc::frame_too_large);
  BOOST_TEST(t->close_called());
  BOOST_TEST(p->parser().buffer_capacity() == 0u);
}

BOOST_AUTO_TEST_CASE(eof_inside_a_netstring_is_reported) {
  auto [p, t] = connected<Netstrings>();
  t->receive("5:hel");
  BOOST_TEST(!t->receive_eof());
  BOOST_TEST_REQUIRE(p->record.errors.size() == 1u);
  BOOST_TEST(p->record.errors[0] == errc::malformed_frame);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(intn_receiver)

BOOST_DATA_TEST_CASE(round_trip_through_send_string, data::make(widths), width) {
  auto [sender, wire] = connected<IntNStrings>(width);
  const Strings messages{"hello", "", std::string(255, 'm'), "\0\x01"s};
  for (const auto& m : messages) sender->send_string(m);
  BOOST_TEST(wire->value().size() == 4 * width + 5 + 0 + 255 + 2);
  for (std::size_t piece : {std::size_t{1}, std::size_t{3}, wire->value().size()}) {
    BOOST_TEST_CONTEXT("pieces of " << piece) {
      auto [receiver, t] = connected<IntNStrings>(width);
      for (auto part : treadle::test::pieces_of(wire->value(), piece)) t->receive(part);
      BOOST_TEST(receiver->record.messages == messages, boost::test_tools::per_element());
      BOOST_TEST(receiver->record.errors.empty());
    }
  }
}

BOOST_AUTO_TEST_CASE(wire_format_is_big_endian) {
  auto [p8, t8] = connected<IntNRecorder<treadle::Int8StringReceiver>>();
  p8->send_string("a");
  BOOST_TEST(t8->value() ==
             "\x01"
             "a");
  auto [p16, t16] = connected<IntNStrings>(2);
  p16->send_string(std::string(258, 'x'));
  BOOST_TEST(t16->value().substr(0, 3) == "\x01\x02x");
  auto [p32, t32] = connected<IntNStrings>(4);
  p32->send_string("hi");
  BOOST_TEST(t32->value() == "\0\0\0\x02hi"s);
}

BOOST_AUTO_TEST_CASE(send_string_refuses_what_the_prefix_cannot_say) {
  auto [p, t] = connected<IntNStrings>(1);
  BOOST_CHECK_EXCEPTION(p->send_string(std::string(256, 'x')), treadle::Error,
                        [](const treadle::Error& e) { return e.code() == errc::frame_too_large; });
  std::error_code ec;
  p->send_string(std::string(256, 'x'), ec);
  BOOST_TEST(ec == errc::frame_too_large);
  BOOST_TEST(t->value().empty());  // nothing written
  BOOST_TEST(!t->is_closing());    // a local mistake does not drop the connection
  p->send_string(std::string(255, 'x'), ec);
  BOOST_TEST(!ec);
  BOOST_TEST(t->value().size() == 256u);
}

BOOST_DATA_TEST_CASE(oversize_frame_closes_once_its_prefix_is_read, data::make(widths), width) {
  auto [p, t] = connected<IntNStrings>(width, 10);
  std::string prefix(width, '\0');
  prefix.back() = 11;
  t->receive(prefix);
  BOOST_TEST_REQUIRE(p->record.errors.size() == 1u);
  BOOST_TEST(p->record.errors[0] == errc::frame_too_large);
  BOOST_TEST(p->record.open_at_error);
  BOOST_TEST(t->close_called());
}

BOOST_AUTO_TEST_CASE(eof_inside_a_frame_is_reported) {
  auto [p, t] = connected<IntNRecorder<treadle::Int32StringReceiver>>();
  BOOST_TEST(p->prefix_length() == 4u);
  t->receive("\0\0"s);
  BOOST_TEST(!t->receive_eof());
  BOOST_TEST(t->close_called());
}

BOOST_AUTO_TEST_CASE(named_widths) {
  BOOST_TEST(IntNRecorder<treadle::Int8StringReceiver>().prefix_length() == 1u);
  BOOST_TEST(IntNRecorder<treadle::Int16StringReceiver>().prefix_length() == 2u);
  BOOST_TEST(IntNRecorder<treadle::Int32StringReceiver>().prefix_length() == 4u);
  BOOST_TEST(IntNRecorder<treadle::Int16StringReceiver>(100).parser().max_length() == 100u);
  BOOST_TEST(IntNRecorder<treadle::Int8StringReceiver>().parser().max_length() == 255u);
}

BOOST_AUTO_TEST_SUITE_END()
