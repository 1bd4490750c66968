// tests/cpp/support/stream_fixtures.hpp — a recording protocol, servers and clients for
// transport tests that run on every backend.
#pragma once

#include <dirent.h>

#include <boost/test/unit_test.hpp>
#include <memory>
#include <string>

#include "support/backends.hpp"
#include "treadle/core/error.hpp"
#include "treadle/transports/tcp.hpp"

namespace treadle::test {

/// Records everything a transport tells it.
class Recorder : public Protocol {
 public:
  Transport* transport = nullptr;
  std::string data;
  bool eof = false;
  bool keep_open_on_eof = false;
  int made = 0, lost = 0, paused = 0, resumed = 0;
  std::error_code lost_error;

  void connection_made(Transport& t) override {
    transport = &t;
    ++made;
  }
  void data_received(ConstBuffer d) override { data.append(as_chars(d)); }
  bool eof_received() override {
    eof = true;
    return keep_open_on_eof;
  }
  void connection_lost(std::error_code ec) override {
    ++lost;
    lost_error = ec;
    transport = nullptr;
  }
  void pause_writing() override { ++paused; }
  void resume_writing() override { ++resumed; }
};

/// Count of this process's open file descriptors.
inline int open_fds() {
  int n = 0;
  if (DIR* d = ::opendir("/proc/self/fd")) {
    while (::readdir(d) != nullptr) ++n;
    ::closedir(d);
  }
  return n - 3;  // ".", ".." and the directory's own fd
}

/// Starts a TCP server on 127.0.0.1 (port chosen by the kernel) and waits for it.
inline std::shared_ptr<Server> tcp_server(Loop& loop, StreamProtocolFactory factory,
                                          ServerOptions options = {}) {
  Listening result;
  bool done = false;
  create_server(
      loop, "127.0.0.1", 0, std::move(factory),
      [&](Listening l) {
        result = std::move(l);
        done = true;
      },
      options);
  BOOST_REQUIRE(run_until(loop, [&] { return done; }));
  BOOST_REQUIRE_MESSAGE(!result.error, result.message);
  return result.server;
}

/// Runs create_connection with a new P and waits for its outcome (error or not).
template <class P = Recorder>
Connection connect_and_wait(Loop& loop, const std::string& host, std::uint16_t port,
                            ConnectOptions options = {}) {
  Connection c;
  bool done = false;
  create_connection(
      loop, host, port, [] { return std::make_shared<P>(); },
      [&](Connection r) {
        c = std::move(r);
        done = true;
      },
      options);
  BOOST_REQUIRE(run_until(loop, [&] { return done; }));
  return c;
}

/// Connects to `port` on 127.0.0.1 with a new protocol of type P; waits for connection_made.
template <class P = Recorder>
std::shared_ptr<P> tcp_client(Loop& loop, std::uint16_t port) {
  Connection c = connect_and_wait<P>(loop, "127.0.0.1", port);
  BOOST_REQUIRE_MESSAGE(!c.error, c.message);
  auto p = std::static_pointer_cast<P>(c.protocol);
  BOOST_REQUIRE(run_until(loop, [&] { return p->made == 1; }));
  return p;
}

inline std::uint16_t port_of(const Server& s) { return s.sockets().at(0).port(); }

}  // namespace treadle::test
