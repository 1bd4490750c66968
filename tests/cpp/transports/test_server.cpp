// tests/cpp/transports/test_server.cpp — servers: many clients, EMFILE, lifecycle, no fd leaks.
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cstdlib>

#include "support/stream_fixtures.hpp"
#include "treadle/protocols/echo.hpp"

using namespace treadle;
using namespace treadle::test;

BOOST_AUTO_TEST_SUITE(server)

BOOST_AUTO_TEST_CASE(two_thousand_concurrent_connections_then_no_fd_left) {
  const int before = open_fds();
  {
    auto loop = make_test_loop();
    auto server = tcp_server(
        *loop, [] { return std::make_shared<Echo>(); },
        [] {
          ServerOptions o;
          o.backlog = 1024;
          return o;
        }());
    constexpr int kClients = 2000;
    std::vector<std::shared_ptr<Recorder>> clients;
    int connected = 0, failed = 0;
    for (int i = 0; i < kClients; ++i) {
      create_connection(
          *loop, "127.0.0.1", port_of(*server),
          [&] {
            clients.push_back(std::make_shared<Recorder>());
            return clients.back();
          },
          [&](Connection c) { ++(c.error ? failed : connected); });
    }
    BOOST_REQUIRE(run_until(
        *loop, [&] { return connected + failed == kClients; }, 60));
    BOOST_REQUIRE(failed == 0);
    BOOST_REQUIRE(run_until(
        *loop,
        [&] {
          return std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->made == 1; });
        },
        60));
    // All 2000 are open at once; each echoes its own message.
    for (std::size_t i = 0; i < clients.size(); ++i) {
      clients[i]->transport->write("client " + std::to_string(i));
    }
    BOOST_REQUIRE(run_until(
        *loop,
        [&] {
          for (std::size_t i = 0; i < clients.size(); ++i) {
            if (clients[i]->data != "client " + std::to_string(i)) return false;
          }
          return true;
        },
        60));
    BOOST_TEST(server->accepted() == std::size_t(kClients));
    for (auto& c : clients) c->transport->close();
    BOOST_REQUIRE(run_until(
        *loop,
        [&] {
          return std::all_of(clients.begin(), clients.end(), [](auto& c) { return c->lost == 1; });
        },
        60));
    for (auto& c : clients) BOOST_TEST(!c->lost_error);
    // The server side sees EOF and closes its halves too.
    for (int i = 0; i < 50; ++i) loop->run_once(0.01);
    server->close();
    loop->run_once(0.01);
    loop->close();
  }
  BOOST_TEST(open_fds() == before);
}

BOOST_AUTO_TEST_CASE(emfile_on_accept_pauses_and_recovers) {
  if (const char* why = std::getenv("TREADLE_SKIP_EMFILE")) {
    BOOST_TEST_MESSAGE("skipped: " << why);  // set by `make sanitize`, with its reason
    return;
  }
  // The server runs in a child whose descriptor limit leaves room for three connections;
  // the parent opens six and closes the first three once they are served.
  int ports[2];
  BOOST_REQUIRE(::pipe(ports) == 0);
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    ::close(ports[0]);
    int status = 1;
    try {
      auto loop = make_test_loop();
      int reports = 0;
      loop->set_exception_handler([&](Loop&, const ExceptionContext& ctx) {
        if (ctx.error == std::errc::too_many_files_open) ++reports;
      });
      // Counts finished connections: the child serves until the parent has closed all six.
      struct CountingEcho : Echo {
        int* finished;
        explicit CountingEcho(int* f) : finished(f) {}
        void connection_lost(std::error_code ec) override {
          Echo::connection_lost(ec);
          ++*finished;
        }
      };
      int finished = 0;
      auto server = tcp_server(
          *loop, [&] { return std::make_shared<CountingEcho>(&finished); },
          [] {
            ServerOptions o;
            o.accept_retry_delay = 0.05;
            return o;
          }());
      const std::uint16_t port = port_of(*server);
      (void)!::write(ports[1], &port, sizeof port);
      ::close(ports[1]);
      rlimit r{};
      ::getrlimit(RLIMIT_NOFILE, &r);
      r.rlim_cur = static_cast<rlim_t>(open_fds() + 3 + 1);  // +1: the fd readdir needs
      ::setrlimit(RLIMIT_NOFILE, &r);
      const bool ok = run_until(
          *loop, [&] { return finished == 6; }, 60);
      status = ok && server->accepted() == 6 && reports > 0 && server->is_serving() ? 0 : 2;
    } catch (...) {
      status = 3;
    }
    ::_exit(status);
  }
  ::close(ports[1]);
  std::uint16_t port = 0;
  BOOST_REQUIRE(::read(ports[0], &port, sizeof port) == sizeof port);
  ::close(ports[0]);
  auto connect_blocking = [&] {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    BOOST_REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    timeval tv{20, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
  };
  auto echoed = [](int fd) {
    char c = 0;
    return ::send(fd, "e", 1, MSG_NOSIGNAL) == 1 && ::recv(fd, &c, 1, 0) == 1 && c == 'e';
  };
  std::vector<int> fds;
  for (int i = 0; i < 6; ++i) fds.push_back(connect_blocking());
  for (int i = 0; i < 3; ++i) BOOST_TEST(echoed(fds[i]), "connection " << i << " served");
  for (int i = 0; i < 3; ++i) ::close(fds[i]);  // frees the server's descriptors
  for (int i = 3; i < 6; ++i)
    BOOST_TEST(echoed(fds[i]), "connection " << i << " served after EMFILE");
  for (int i = 3; i < 6; ++i) ::close(fds[i]);
  int status = -1;
  BOOST_REQUIRE(::waitpid(child, &status, 0) == child);
  BOOST_TEST(WIFEXITED(status));
  BOOST_TEST(WEXITSTATUS(status) == 0);
}

BOOST_AUTO_TEST_CASE(closing_the_loop_releases_open_connections_and_servers) {
  const int before = open_fds();
  std::vector<std::weak_ptr<Recorder>> watched;
  {
    auto loop = make_test_loop();
    auto server = tcp_server(*loop, [&] {
      auto p = std::make_shared<Recorder>();
      watched.push_back(p);
      return p;
    });
    for (int i = 0; i < 5; ++i) {
      auto c = tcp_client(*loop, port_of(*server));
      c->transport->write(std::string(100'000, 'q'));  // leave bytes queued too
      watched.push_back(c);
    }
    BOOST_REQUIRE(run_until(*loop, [&] { return watched.size() == 10; }));
    loop->close();  // nobody closed anything
    for (auto& w : watched) BOOST_TEST(w.expired());
    BOOST_TEST(server->is_closed());
  }
  BOOST_TEST(open_fds() == before);
}

BOOST_AUTO_TEST_CASE(closing_the_loop_releases_the_protocol_factory) {
  // What the factory holds may own the server (a Python server's does): the server must let
  // go of it when the loop closes, or the two keep each other alive.
  auto owner = std::make_shared<int>(0);
  std::weak_ptr<int> watched = owner;
  const int before = open_fds();
  {
    auto loop = make_test_loop();
    auto server =
        tcp_server(*loop, [owner = std::move(owner)] { return std::make_shared<Echo>(); });
    BOOST_TEST(!watched.expired());
    loop->close();
    BOOST_TEST(watched.expired());  // while the server object still lives
    BOOST_TEST(server->is_closed());
  }
  BOOST_TEST(open_fds() == before);
}

BOOST_AUTO_TEST_CASE(a_server_owned_only_by_its_factory_is_freed_when_the_loop_closes) {
  // A Python server nobody refers to any more, kept only by the cycle through its factory:
  // releasing the factory destroys the server while it is closing. (Assigning to the factory
  // destroyed it from inside that assignment, twice: a double free under the sanitizers.)
  auto loop = make_test_loop();
  auto holder = std::make_shared<std::shared_ptr<Server>>();
  std::weak_ptr<Server> watched;
  {
    auto server = tcp_server(*loop, [holder] { return std::make_shared<Echo>(); });
    *holder = server;
    watched = server;
  }
  holder.reset();
  BOOST_TEST(!watched.expired());  // the cycle keeps it
  loop->close();
  BOOST_TEST(watched.expired());
}

BOOST_AUTO_TEST_CASE(start_serving_later_and_close_keeps_connections) {
  auto loop = make_test_loop();
  auto server = tcp_server(
      *loop, [] { return std::make_shared<Echo>(); },
      [] {
        ServerOptions o;
        o.start_serving = false;
        return o;
      }());
  BOOST_TEST(!server->is_serving());
  server->start_serving();
  BOOST_TEST(server->is_serving());
  auto client = tcp_client(*loop, port_of(*server));
  server->close();
  BOOST_TEST(!server->is_serving());
  BOOST_TEST(server->sockets().empty());
  client->transport->write(std::string_view("still echoed"));  // accepted connection lives on
  BOOST_REQUIRE(run_until(*loop, [&] { return client->data == "still echoed"; }));
  client->transport->close();
  BOOST_REQUIRE(run_until(*loop, [&] { return client->lost == 1; }));
}

BOOST_AUTO_TEST_CASE(all_interfaces_listens_on_v4_and_v6_with_one_port) {
  auto loop = make_test_loop();
  Listening l;
  create_server(
      *loop, "", 0, [] { return std::make_shared<Echo>(); },
      [&](Listening r) { l = std::move(r); });
  BOOST_REQUIRE(run_until(*loop, [&] { return l.server || l.error; }));
  BOOST_REQUIRE_MESSAGE(!l.error, l.message);
  auto socks = l.server->sockets();
  BOOST_REQUIRE(socks.size() >= 1u);
  for (auto& s : socks) BOOST_TEST(s.port() == socks[0].port());
  for (const char* host : {"127.0.0.1", "::1"}) {
    Connection c = connect_and_wait(*loop, host, socks[0].port());
    if (c.error && std::string(host) == "::1") continue;  // no IPv6 loopback on this machine
    BOOST_REQUIRE_MESSAGE(!c.error, c.message);
    c.transport->close();
  }
  l.server->close();
}

BOOST_AUTO_TEST_CASE(name_resolution_off_the_loop_thread) {
  auto loop = make_test_loop();
  auto server = tcp_server(*loop, [] { return std::make_shared<Echo>(); });
  ConnectOptions v4;
  v4.family = AF_INET;
  Connection c = connect_and_wait(*loop, "localhost", port_of(*server), v4);
  BOOST_REQUIRE_MESSAGE(!c.error, c.message);
  c.transport->close();
  bool failed = false;
  create_connection(
      *loop, "no-such-host.invalid", 80, [] { return std::make_shared<Recorder>(); },
      [&](Connection r) { failed = static_cast<bool>(r.error); });
  BOOST_TEST(run_until(
      *loop, [&] { return failed; }, 30));
}

BOOST_AUTO_TEST_SUITE_END()
