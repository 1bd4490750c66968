// tests/cpp/transports/test_stream_transport.cpp — asyncio stream semantics, every backend.
#include "treadle/transports/stream_transport.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>

#include "support/stream_fixtures.hpp"
#include "treadle/protocols/echo.hpp"

using namespace treadle;
using namespace treadle::test;

namespace {
/// Collects server-side protocols so tests can look at them.
struct ServerSide {
  std::vector<std::shared_ptr<Recorder>> protocols;
  bool keep_open_on_eof = false;
  StreamProtocolFactory factory() {
    return [this] {
      auto p = std::make_shared<Recorder>();
      p->keep_open_on_eof = keep_open_on_eof;
      protocols.push_back(p);
      return p;
    };
  }
};
}  // namespace

BOOST_AUTO_TEST_SUITE(stream_transport)

BOOST_AUTO_TEST_CASE(echo_round_trip_with_extra_info) {
  auto loop = make_test_loop();
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  auto client = tcp_client(*loop, port_of(*server));
  auto* t = client->transport;
  // get_extra_info returns a std::any by value: keep it alive while looking inside.
  const std::any peer_info = t->get_extra_info(extra::peername);
  const std::any self_info = t->get_extra_info(extra::sockname);
  auto peer = extra_cast<Endpoint>(peer_info);
  auto self = extra_cast<Endpoint>(self_info);
  BOOST_REQUIRE(peer && self);
  BOOST_TEST(peer->port() == port_of(*server));
  BOOST_TEST(self->host() == "127.0.0.1");
  BOOST_TEST(*extra_cast<int>(t->get_extra_info(extra::socket)) >= 0);
  BOOST_TEST(!t->get_extra_info("no-such-key").has_value());
  t->write(std::string_view("hello "));
  std::array<ConstBuffer, 2> parts{as_bytes("wor"), as_bytes("ld")};
  t->writev(parts);
  BOOST_REQUIRE(run_until(*loop, [&] { return client->data == "hello world"; }));
  t->close();
  BOOST_TEST(t->is_closing());
  BOOST_TEST(client->lost == 0);  // never inside close()
  BOOST_REQUIRE(run_until(*loop, [&] { return client->lost == 1; }));
  BOOST_TEST(!client->lost_error);
  loop->run_once(0.01);
  BOOST_TEST(client->lost == 1);
}

BOOST_AUTO_TEST_CASE(unix_socket_round_trip) {
  auto loop = make_test_loop();
  const std::string path = "/tmp/treadle-test-" + std::to_string(::getpid()) + ".sock";
  Listening l;
  create_unix_server(
      *loop, path, [] { return std::make_shared<Echo>(); }, [&](Listening r) { l = std::move(r); });
  BOOST_REQUIRE(run_until(*loop, [&] { return l.server || l.error; }));
  BOOST_REQUIRE_MESSAGE(!l.error, l.message);
  Connection c;
  create_unix_connection(
      *loop, path, [] { return std::make_shared<Recorder>(); },
      [&](Connection r) { c = std::move(r); });
  BOOST_REQUIRE(run_until(*loop, [&] { return c.transport || c.error; }));
  BOOST_REQUIRE_MESSAGE(!c.error, c.message);
  auto p = std::static_pointer_cast<Recorder>(c.protocol);
  BOOST_REQUIRE(run_until(*loop, [&] { return p->made == 1; }));
  p->transport->write(std::string_view("over unix"));
  BOOST_REQUIRE(run_until(*loop, [&] { return p->data == "over unix"; }));
  const std::any peer_info = p->transport->get_extra_info(extra::peername);
  auto peer = extra_cast<Endpoint>(peer_info);
  BOOST_REQUIRE(peer);
  BOOST_TEST(peer->host() == path);
  p->transport->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return p->lost == 1; }));
  l.server->close();
  ::unlink(path.c_str());
}

BOOST_AUTO_TEST_CASE(connect_errors_name_the_address) {
  auto loop = make_test_loop();
  // A port nobody listens on: bind one, learn its number, close it.
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  const auto port = port_of(*server);
  server->close();
  Connection c = connect_and_wait(*loop, "127.0.0.1", port);
  BOOST_TEST((c.error == std::errc::connection_refused));
  BOOST_TEST(c.message.find("127.0.0.1:" + std::to_string(port)) != std::string::npos);
  BOOST_TEST(!c.transport);
}

BOOST_AUTO_TEST_CASE(half_close_from_client_keeps_server_writing) {
  auto loop = make_test_loop();
  ServerSide side;
  side.keep_open_on_eof = true;  // eof_received() -> true: half-open
  auto server = tcp_server(*loop, side.factory());
  auto client = tcp_client(*loop, port_of(*server));
  BOOST_TEST(client->transport->can_write_eof());
  client->transport->write(std::string_view("request"));
  client->transport->write_eof();
  BOOST_CHECK_THROW(client->transport->write(std::string_view("late")), Error);
  BOOST_REQUIRE(
      run_until(*loop, [&] { return !side.protocols.empty() && side.protocols[0]->eof; }));
  auto srv = side.protocols[0];
  BOOST_TEST(srv->data == "request");
  BOOST_TEST(srv->lost == 0);  // still open: it may answer
  srv->transport->write(std::string_view("response"));
  srv->transport->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return client->lost == 1 && srv->lost == 1; }));
  BOOST_TEST(client->data == "response");
  BOOST_TEST(client->eof);
  BOOST_TEST(!client->lost_error);
  BOOST_TEST(!srv->lost_error);
}

BOOST_AUTO_TEST_CASE(half_close_from_server_with_default_eof_closes_client) {
  auto loop = make_test_loop();
  ServerSide side;
  auto server = tcp_server(*loop, side.factory());
  auto client = tcp_client(*loop, port_of(*server));  // eof_received -> false
  BOOST_REQUIRE(
      run_until(*loop, [&] { return side.protocols.size() == 1 && side.protocols[0]->made; }));
  auto srv = side.protocols[0];
  srv->transport->write(std::string_view("bye"));
  srv->transport->write_eof();
  BOOST_REQUIRE(run_until(*loop, [&] { return client->lost == 1; }));
  BOOST_TEST(client->data == "bye");
  BOOST_TEST(client->eof);
  // The client closed in response; the server sees EOF and (default) closes too.
  BOOST_REQUIRE(run_until(*loop, [&] { return srv->lost == 1; }));
  BOOST_TEST(srv->eof);
}

BOOST_AUTO_TEST_CASE(close_with_full_write_queue_delivers_everything) {
  auto loop = make_test_loop();
  ServerSide side;
  auto server = tcp_server(*loop, side.factory());
  auto client = tcp_client(*loop, port_of(*server));
  std::string big(8 << 20, '\0');
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = char('a' + i % 26);
  client->transport->write(std::string_view(big));
  BOOST_TEST(client->transport->get_write_buffer_size() > 0u);  // more than the kernel takes
  client->transport->close();
  client->transport->write(std::string_view("ignored after close"));
  BOOST_REQUIRE(run_until(
      *loop,
      [&] { return client->lost == 1 && !side.protocols.empty() && side.protocols[0]->lost == 1; },
      30));
  BOOST_TEST(!client->lost_error);
  BOOST_TEST(side.protocols[0]->eof);
  BOOST_TEST((side.protocols[0]->data == big));
}

BOOST_AUTO_TEST_CASE(abort_drops_the_queue_and_reports_once) {
  auto loop = make_test_loop();
  ServerSide side;
  auto server = tcp_server(*loop, side.factory());
  auto client = tcp_client(*loop, port_of(*server));
  // More than loopback's socket buffers can take at once (tcp_wmem/tcp_rmem maxima).
  std::string big(32 << 20, 'x');
  client->transport->write(std::string_view(big));
  const auto queued = client->transport->get_write_buffer_size();
  BOOST_TEST(queued > 0u);
  client->transport->abort();
  BOOST_TEST(client->transport->get_write_buffer_size() == 0u);
  client->transport->abort();  // idempotent
  client->transport->close();
  BOOST_TEST(client->lost == 0);
  BOOST_REQUIRE(run_until(*loop, [&] { return client->lost == 1; }));
  BOOST_TEST(client->lost_error == errc::aborted);
  BOOST_REQUIRE(
      run_until(*loop, [&] { return !side.protocols.empty() && side.protocols[0]->lost == 1; }));
  // The queue was dropped: not everything arrives. (Bytes counted as queued may still arrive:
  // a write in flight counts until its completion, and a proactor's channel may have handed
  // them to the kernel already, speculatively, inside async_write_some.)
  BOOST_TEST(side.protocols[0]->data.size() < big.size());
  loop->run_once(0.01);
  BOOST_TEST(client->lost == 1);
}

BOOST_AUTO_TEST_CASE(when_drained_waits_for_the_queue_and_never_runs_inline) {
  auto loop = make_test_loop();
  ServerSide side;
  auto server = tcp_server(*loop, side.factory());
  auto client = tcp_client(*loop, port_of(*server));
  auto& t = dynamic_cast<StreamTransport&>(*client->transport);
  int calls = 0;
  std::error_code got = make_error_code(errc::invalid_argument);
  t.when_drained([&](std::error_code ec) { ++calls, got = ec; });
  BOOST_TEST(calls == 0);  // empty now: called on a later iteration, not inline
  BOOST_REQUIRE(run_until(*loop, [&] { return calls == 1; }));
  BOOST_TEST(!got);
  const std::string big(8 << 20, 'd');
  t.write(std::string_view(big));
  t.when_drained([&](std::error_code ec) {
    ++calls, got = ec;
    BOOST_TEST(t.get_write_buffer_size() == 0u);
  });
  BOOST_REQUIRE(run_until(
      *loop, [&] { return calls == 2; }, 30));
  BOOST_TEST(!got);
  BOOST_REQUIRE(run_until(*loop, [&] {
    return !side.protocols.empty() && side.protocols[0]->data.size() == big.size();
  }));
  // A waiter pending when the connection is aborted hears errc::aborted.
  t.write(std::string_view(big));
  t.when_drained([&](std::error_code ec) { ++calls, got = ec; });
  t.abort();
  BOOST_REQUIRE(run_until(*loop, [&] { return calls == 3; }));
  BOOST_TEST((got == errc::aborted));
}

BOOST_AUTO_TEST_CASE(peer_reset_during_write_is_reported_once) {
  auto loop = make_test_loop();
  ServerSide side;
  auto server = tcp_server(*loop, side.factory());
  auto client = tcp_client(*loop, port_of(*server));
  BOOST_REQUIRE(
      run_until(*loop, [&] { return side.protocols.size() == 1 && side.protocols[0]->made; }));
  // Reset from the server side: SO_LINGER 0 then close sends RST.
  const int fd = *extra_cast<int>(side.protocols[0]->transport->get_extra_info(extra::socket));
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
  side.protocols[0]->transport->abort();
  std::string chunk(64 << 10, 'r');
  BOOST_REQUIRE(run_until(*loop, [&] {
    if (client->transport != nullptr && !client->transport->is_closing()) {
      client->transport->write(std::string_view(chunk));
    }
    return client->lost == 1;
  }));
  BOOST_TEST(static_cast<bool>(client->lost_error));
  BOOST_TEST_MESSAGE("reset reported as: " << client->lost_error.message());
  loop->run_once(0.01);
  BOOST_TEST(client->lost == 1);
}

BOOST_AUTO_TEST_CASE(write_buffer_limits_follow_asyncio) {
  auto loop = make_test_loop();
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  auto client = tcp_client(*loop, port_of(*server));
  auto* t = client->transport;
  BOOST_TEST((t->get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{16384, 65536}));
  t->set_write_buffer_limits(std::nullopt, 1000);
  BOOST_TEST((t->get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{1000, 4000}));
  t->set_write_buffer_limits(800);
  BOOST_TEST((t->get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{200, 800}));
  t->set_write_buffer_limits(0, 0);
  BOOST_TEST((t->get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{0, 0}));
  BOOST_CHECK_THROW(t->set_write_buffer_limits(10, 20), Error);
  t->set_write_buffer_limits();
  BOOST_TEST((t->get_write_buffer_limits() == std::pair<std::size_t, std::size_t>{16384, 65536}));
  t->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return client->lost == 1; }));
}

BOOST_AUTO_TEST_CASE(protocol_exception_is_reported_and_connection_closed) {
  struct Thrower : Recorder {
    void data_received(ConstBuffer) override { throw std::runtime_error("bad protocol"); }
  };
  auto loop = make_test_loop();
  std::vector<std::string> reports;
  loop->set_exception_handler(
      [&](Loop&, const ExceptionContext& ctx) { reports.push_back(ctx.message); });
  std::vector<std::shared_ptr<Thrower>> servers;
  auto server = tcp_server(*loop, [&] {
    servers.push_back(std::make_shared<Thrower>());
    return servers.back();
  });
  auto client = tcp_client(*loop, port_of(*server));
  client->transport->write(std::string_view("trigger"));
  BOOST_REQUIRE(run_until(*loop, [&] { return client->lost == 1; }));
  BOOST_REQUIRE(servers.size() == 1u);
  BOOST_TEST(servers[0]->lost == 1);
  BOOST_TEST(servers[0]->lost_error == errc::protocol_error);
  BOOST_REQUIRE(reports.size() == 1u);
  BOOST_TEST(reports[0] == "Fatal error: protocol.data_received() call failed.");
}

BOOST_AUTO_TEST_CASE(buffered_protocol_reads_into_its_own_buffer) {
  struct Buffered : BufferedProtocol {
    std::array<std::byte, 7> storage{};  // small on purpose: many reads
    std::string got;
    Transport* transport = nullptr;
    int lost = 0;
    bool region_ok = true;
    const std::byte* last = nullptr;
    void connection_made(Transport& t) override { transport = &t; }
    MutableBuffer get_buffer(std::size_t hint) override {
      if (hint == 0) region_ok = false;
      last = storage.data();
      return storage;
    }
    void buffer_updated(std::size_t n) override {
      if (n == 0 || n > storage.size()) region_ok = false;
      got.append(reinterpret_cast<const char*>(storage.data()), n);
    }
    void connection_lost(std::error_code) override { ++lost; }
  };
  auto loop = make_test_loop();
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  Connection c;
  create_connection(
      *loop, "127.0.0.1", port_of(*server), [] { return std::make_shared<Buffered>(); },
      [&](Connection r) { c = std::move(r); });
  BOOST_REQUIRE(run_until(*loop, [&] { return static_cast<bool>(c.protocol); }));
  auto p = std::static_pointer_cast<Buffered>(c.protocol);
  BOOST_REQUIRE(run_until(*loop, [&] { return p->transport != nullptr; }));
  const std::string msg = "zero copy into the protocol's own buffer";
  p->transport->write(std::string_view(msg));
  BOOST_REQUIRE(run_until(*loop, [&] { return p->got.size() == msg.size(); }));
  BOOST_TEST(p->got == msg);
  BOOST_TEST(p->region_ok);
  p->transport->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return p->lost == 1; }));
}

BOOST_AUTO_TEST_CASE(set_protocol_switches_mid_connection) {
  auto loop = make_test_loop();
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  auto first = tcp_client(*loop, port_of(*server));
  first->transport->write(std::string_view("one"));
  BOOST_REQUIRE(run_until(*loop, [&] { return first->data == "one"; }));
  auto second = std::make_shared<Recorder>();
  second->transport = first->transport;
  first->transport->set_protocol(second);
  BOOST_TEST(first->transport->get_protocol() == second);
  second->transport->write(std::string_view("two"));
  BOOST_REQUIRE(run_until(*loop, [&] { return second->data == "two"; }));
  BOOST_TEST(first->data == "one");
  second->transport->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return second->lost == 1; }));
  BOOST_TEST(first->lost == 0);
}

BOOST_AUTO_TEST_CASE(set_protocol_switches_between_protocol_kinds) {
  // A read is in flight when the protocol changes kind: its bytes reach the new protocol
  // (copied into a BufferedProtocol's buffer, or handed to data_received) and nothing is lost.
  struct Small : BufferedProtocol {
    std::array<std::byte, 3> storage{};
    std::string got;
    int lost = 0;
    MutableBuffer get_buffer(std::size_t) override { return storage; }
    void buffer_updated(std::size_t n) override {
      got.append(reinterpret_cast<const char*>(storage.data()), n);
    }
    void connection_lost(std::error_code) override { ++lost; }
  };
  auto loop = make_test_loop();
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  auto first = tcp_client(*loop, port_of(*server));
  auto* t = first->transport;
  t->write(std::string_view("one"));
  BOOST_REQUIRE(run_until(*loop, [&] { return first->data == "one"; }));
  auto small = std::make_shared<Small>();
  t->set_protocol(small);
  t->write(std::string_view("buffered bytes"));
  BOOST_REQUIRE(run_until(*loop, [&] { return small->got == "buffered bytes"; }));
  auto plain = std::make_shared<Recorder>();
  t->set_protocol(plain);
  t->write(std::string_view("plain again"));
  BOOST_REQUIRE(run_until(*loop, [&] { return plain->data == "plain again"; }));
  BOOST_TEST(first->data == "one");
  BOOST_TEST(small->got == "buffered bytes");
  t->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return plain->lost == 1; }));
  BOOST_TEST(small->lost == 0);
}

BOOST_AUTO_TEST_CASE(adopt_connected_socketpair) {
  auto loop = make_test_loop();
  int fds[2];
  BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  auto a = std::make_shared<Recorder>();
  auto b = std::make_shared<Recorder>();
  adopt_connection(*loop, fds[0], a);
  adopt_connection(*loop, fds[1], b);
  BOOST_REQUIRE(run_until(*loop, [&] { return a->made && b->made; }));
  a->transport->write(std::string_view("ping"));
  BOOST_REQUIRE(run_until(*loop, [&] { return b->data == "ping"; }));
  a->transport->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return a->lost == 1 && b->lost == 1; }));
}

BOOST_AUTO_TEST_SUITE_END()
