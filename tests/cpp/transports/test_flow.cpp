// tests/cpp/transports/test_flow.cpp — 1 GiB through an echo connection under flow control.
#include <boost/test/unit_test.hpp>
#include <cstdlib>
#include <random>

#include "support/stream_fixtures.hpp"
#include "treadle/protocols/echo.hpp"

using namespace treadle;
using namespace treadle::test;

namespace {

inline char pattern(std::uint64_t i) { return static_cast<char>((i * 7) ^ (i >> 13)); }

/// Sends `total` pattern bytes as fast as flow control allows, and checks what comes back,
/// pausing its own reading at random.
class Streamer : public Protocol {
 public:
  Streamer(Loop& loop, std::uint64_t total) : loop_(loop), total_(total), rng_(42) {}

  Transport* transport = nullptr;
  std::uint64_t sent = 0, received = 0;
  std::size_t max_buffered = 0;
  int pauses = 0, resumes = 0, read_pauses = 0;
  bool corrupt = false;
  int lost = 0;

  void connection_made(Transport& t) override {
    transport = &t;
    pump();
  }
  void pause_writing() override {
    ++pauses;
    writing_paused_ = true;
  }
  void resume_writing() override {
    ++resumes;
    writing_paused_ = false;
    // Not from inside the transport's call: schedule the next burst.
    loop_.call_soon([this] { pump(); });
  }
  void data_received(ConstBuffer d) override {
    for (std::byte b : d) {
      if (static_cast<char>(b) != pattern(received)) corrupt = true;
      ++received;
    }
    if (received == total_) {
      transport->close();
      return;
    }
    // Now and then stop reading for a moment: the echo side must back up, not lose data.
    if (std::uniform_int_distribution<int>(0, 200)(rng_) == 0) {
      ++read_pauses;
      transport->pause_reading();
      loop_.call_later(std::uniform_int_distribution<int>(0, 2000)(rng_) * 1e-6, [this] {
        if (transport != nullptr) transport->resume_reading();
      });
    }
  }
  void connection_lost(std::error_code) override {
    ++lost;
    transport = nullptr;
  }

 private:
  void pump() {
    while (transport != nullptr && !writing_paused_ && sent < total_) {
      const std::size_t n =
          static_cast<std::size_t>(std::min<std::uint64_t>(chunk_.size(), total_ - sent));
      for (std::size_t i = 0; i < n; ++i) chunk_[i] = pattern(sent + i);
      transport->write(std::string_view(chunk_.data(), n));
      sent += n;
      max_buffered = std::max(max_buffered, transport->get_write_buffer_size());
    }
  }

  Loop& loop_;
  std::uint64_t total_;
  std::mt19937 rng_;
  bool writing_paused_ = false;
  std::array<char, 64 * 1024> chunk_{};
};

}  // namespace

BOOST_AUTO_TEST_SUITE(flow_control)

BOOST_AUTO_TEST_CASE(one_gibibyte_through_echo_with_random_pauses) {
  std::uint64_t total = 1ull << 30;
  if (const char* env = std::getenv("TREADLE_STREAM_BYTES"))
    total = std::strtoull(env, nullptr, 10);
  auto loop = make_test_loop();
  std::vector<std::shared_ptr<Echo>> echoes;
  auto server = tcp_server(*loop, [&] {
    echoes.push_back(std::make_shared<Echo>());
    return echoes.back();
  });
  std::shared_ptr<Streamer> s;
  bool done = false;
  create_connection(
      *loop, "127.0.0.1", port_of(*server),
      [&] { return s = std::make_shared<Streamer>(*loop, total); },
      [&](Connection c) { done = !c.error; });
  BOOST_REQUIRE(run_until(
      *loop, [&] { return s && s->lost == 1; }, 300));
  BOOST_TEST(done);
  BOOST_TEST(s->sent == total);
  BOOST_TEST(s->received == total);
  BOOST_TEST(!s->corrupt);
  BOOST_TEST(s->pauses > 0);
  BOOST_TEST(s->resumes > 0);
  BOOST_TEST(s->read_pauses > 0);
  // Bounded by the high-water mark plus one write: the producer stops when told.
  BOOST_TEST(s->max_buffered <= 64u * 1024 + 64 * 1024);
  BOOST_TEST_MESSAGE("pauses " << s->pauses << ", read pauses " << s->read_pauses
                               << ", max buffered " << s->max_buffered);
}

BOOST_AUTO_TEST_CASE(pause_and_resume_writing_are_paired_and_synchronous) {
  auto loop = make_test_loop();
  // A server that does not read: the client's buffer can only grow.
  std::vector<std::shared_ptr<Recorder>> sinks;
  auto server = tcp_server(*loop, [&] {
    sinks.push_back(std::make_shared<Recorder>());
    return sinks.back();
  });
  auto client = tcp_client(*loop, port_of(*server));
  BOOST_REQUIRE(run_until(*loop, [&] { return sinks.size() == 1 && sinks[0]->transport; }));
  sinks[0]->transport->pause_reading();
  auto* t = client->transport;
  t->set_write_buffer_limits(100'000, 50'000);
  std::string chunk(32 * 1024, 'p');
  int writes = 0;
  while (client->paused == 0 && writes < 10'000) {
    t->write(std::string_view(chunk));
    ++writes;
  }
  BOOST_REQUIRE(client->paused == 1);  // synchronously, from inside write()
  BOOST_TEST(t->get_write_buffer_size() > 100'000u);
  t->write(std::string_view(chunk));
  BOOST_TEST(client->paused == 1);  // once per crossing
  sinks[0]->transport->resume_reading();
  BOOST_REQUIRE(run_until(*loop, [&] { return client->resumed == 1; }));
  BOOST_TEST(t->get_write_buffer_size() <= 50'000u);
  t->close();
  BOOST_REQUIRE(run_until(
      *loop, [&] { return client->lost == 1; }, 30));
}

BOOST_AUTO_TEST_CASE(pause_reading_holds_data_until_resume) {
  auto loop = make_test_loop();
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  auto client = tcp_client(*loop, port_of(*server));
  // Pause once the first read is in flight, so that the echo lands in it and is held (paused
  // before that, the bytes would only wait in the kernel).
  for (int i = 0; i < 5; ++i) loop->run_once(0.005);
  client->transport->pause_reading();
  BOOST_TEST(!client->transport->is_reading());
  client->transport->write(std::string_view("held"));
  for (int i = 0; i < 20; ++i) loop->run_once(0.005);
  BOOST_TEST(client->data.empty());  // the read in flight kept its data
  client->transport->resume_reading();
  BOOST_TEST(client->data.empty());  // delivered later, not inside resume_reading()
  BOOST_REQUIRE(run_until(*loop, [&] { return client->data == "held"; }));
  client->transport->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return client->lost == 1; }));
}

// Transports whose channels read at completion share one receive buffer per thread; data
// held for a paused transport must not be overwritten by the other connections' reads.
BOOST_AUTO_TEST_CASE(held_data_survives_other_connections_reads) {
  auto loop = make_test_loop();
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  auto held = tcp_client(*loop, port_of(*server));
  auto other = tcp_client(*loop, port_of(*server));
  // Paused only once its read is in flight (started on the connection's first iteration), so
  // that the echo lands in that read and is held, rather than waiting in the kernel.
  for (int i = 0; i < 5; ++i) loop->run_once(0.005);
  held->transport->pause_reading();
  held->transport->write(std::string_view("held bytes"));
  for (int i = 0; i < 20; ++i) loop->run_once(0.005);
  BOOST_TEST(held->data.empty());
  const std::string noise(100'000, 'x');
  other->transport->write(std::string_view(noise));
  BOOST_REQUIRE(run_until(*loop, [&] { return other->data.size() == noise.size(); }));
  held->transport->resume_reading();
  BOOST_REQUIRE(run_until(*loop, [&] { return held->data == "held bytes"; }));
  held->transport->close();
  other->transport->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return held->lost == 1 && other->lost == 1; }));
}

BOOST_AUTO_TEST_SUITE_END()
