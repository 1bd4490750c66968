// tests/cpp/protocols/test_string_transport.cpp — the StringTransport fake keeps the Transport
// contract the protocol tests rely on (asyncio's water-mark rules above all).
#include <array>
#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>

#include "support/string_transport.hpp"

using treadle::errc;
using treadle::test::StringTransport;

namespace {

// Counts flow-control callbacks and keeps what it receives.
class Probe : public treadle::Protocol {
 public:
  int made = 0, pauses = 0, resumes = 0, lost = 0;
  bool keep_open_on_eof = false;
  std::string received;
  void connection_made(treadle::Transport&) override { ++made; }
  void data_received(treadle::ConstBuffer data) override { received += treadle::as_chars(data); }
  bool eof_received() override { return keep_open_on_eof; }
  void pause_writing() override { ++pauses; }
  void resume_writing() override { ++resumes; }
  void connection_lost(std::error_code) override { ++lost; }
};

// Lends a 3-byte buffer, so a longer delivery takes several rounds.
class SmallBuffers : public treadle::BufferedProtocol {
 public:
  std::string received;
  treadle::MutableBuffer get_buffer(std::size_t) override { return buffer_; }
  void buffer_updated(std::size_t n) override {
    received += treadle::as_chars(treadle::ConstBuffer(buffer_.data(), n));
  }

 private:
  std::array<std::byte, 3> buffer_{};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(string_transport)

BOOST_AUTO_TEST_CASE(water_mark_defaults_follow_asyncio) {
  StringTransport t;
  BOOST_TEST((t.get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{16384, 65536}));
  t.set_write_buffer_limits(1000);
  BOOST_TEST((t.get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{250, 1000}));
  t.set_write_buffer_limits(std::nullopt, 100);
  BOOST_TEST((t.get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{100, 400}));
  t.set_write_buffer_limits();
  BOOST_TEST((t.get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{16384, 65536}));
  BOOST_CHECK_EXCEPTION(t.set_write_buffer_limits(10, 11), treadle::Error,
                        [](const treadle::Error& e) { return e.code() == errc::invalid_argument; });
}

BOOST_AUTO_TEST_CASE(pause_and_resume_writing_are_paired) {
  auto probe = std::make_shared<Probe>();
  StringTransport t(probe);
  t.connect();
  t.set_write_blocked(true);
  t.set_write_buffer_limits(10, 5);
  t.write(std::string(10, 'a'));
  BOOST_TEST(probe->pauses == 0);  // at the mark is not above it
  t.write(std::string_view("b"));
  t.write(std::string_view("c"));
  BOOST_TEST(probe->pauses == 1);  // once per crossing
  t.drain(6);
  BOOST_TEST(probe->resumes == 0);  // 6 > low
  t.drain(1);
  BOOST_TEST(probe->resumes == 1);
  t.set_write_buffer_limits(4, 0);  // lowering the marks can pause at once
  BOOST_TEST(probe->pauses == 2);
  BOOST_TEST(t.value() == std::string(10, 'a') + "bc");
}

BOOST_AUTO_TEST_CASE(close_abort_and_eof_are_recorded) {
  auto probe = std::make_shared<Probe>();
  StringTransport t(probe);
  t.connect();
  BOOST_TEST(t.can_write_eof());
  t.write_eof();
  BOOST_TEST(t.eof_written());
  t.write(std::string_view("ignored after write_eof"));
  BOOST_TEST(t.value().empty());
  t.close();
  BOOST_TEST(t.is_closing());
  BOOST_TEST(!t.is_reading());
  BOOST_TEST(probe->lost == 0);  // never inside close()
  t.abort();
  BOOST_TEST(t.abort_called());
  t.lose_connection(errc::aborted);
  t.lose_connection();
  BOOST_TEST(probe->lost == 1);
  BOOST_TEST(t.lost_error() == errc::aborted);
  StringTransport tls_like;
  tls_like.set_can_write_eof(false);
  BOOST_CHECK_THROW(tls_like.write_eof(), treadle::Error);
}

BOOST_AUTO_TEST_CASE(delivery_follows_the_protocol_contract) {
  auto probe = std::make_shared<Probe>();
  StringTransport t(probe);
  BOOST_CHECK_THROW(t.receive("early"), std::logic_error);
  t.connect();
  BOOST_TEST(probe->made == 1);
  t.receive("abc");
  t.pause_reading();
  BOOST_CHECK_THROW(t.receive("while paused"), std::logic_error);
  t.resume_reading();
  probe->keep_open_on_eof = true;
  BOOST_TEST(t.receive_eof());
  BOOST_TEST(!t.is_closing());  // half-open, as the protocol asked
  t.close();
  t.receive("after close");  // dropped, as by a real transport
  BOOST_TEST(probe->received == "abc");
  BOOST_TEST(!t.get_extra_info(treadle::extra::peername).has_value());
  BOOST_TEST(t.get_protocol() == probe);
}

BOOST_AUTO_TEST_CASE(buffered_protocols_get_several_rounds) {
  auto proto = std::make_shared<SmallBuffers>();
  StringTransport t(proto);
  t.connect();
  t.receive("abcdefgh");
  BOOST_TEST(proto->received == "abcdefgh");
}

BOOST_AUTO_TEST_SUITE_END()
