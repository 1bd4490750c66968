// tests/cpp/support/fds.hpp — pipes, socketpairs and loopback TCP connections for tests, closed
// on scope exit.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <string>
#include <utility>

namespace treadle::test {

/// A pair of connected fds, closed on scope exit.
struct FdPair {
  int a = -1, b = -1;
  static FdPair pipe() {
    int fds[2];
    BOOST_REQUIRE(::pipe2(fds, O_NONBLOCK | O_CLOEXEC) == 0);
    return {fds[0], fds[1]};
  }
  static FdPair sockets() {
    int fds[2];
    BOOST_REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) == 0);
    return {fds[0], fds[1]};
  }
  /// A TCP connection over loopback: `a` the accepted end, `b` the connecting one (blocking).
  static FdPair tcp() {
    FdPair listener{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), -1};
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    auto* sa = reinterpret_cast<sockaddr*>(&addr);
    BOOST_REQUIRE(::bind(listener.a, sa, len) == 0);
    BOOST_REQUIRE(::listen(listener.a, 1) == 0);
    BOOST_REQUIRE(::getsockname(listener.a, sa, &len) == 0);
    FdPair out{-1, ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    BOOST_REQUIRE(::connect(out.b, sa, len) == 0);
    out.a = ::accept4(listener.a, nullptr, nullptr, SOCK_CLOEXEC);
    BOOST_REQUIRE(out.a >= 0);
    return out;
  }
  /// Gives up `a` to a new owner (a channel, say).
  int take_a() { return std::exchange(a, -1); }
  ~FdPair() {
    if (a >= 0) ::close(a);
    if (b >= 0) ::close(b);
  }
};

inline void put(int fd, const std::string& s) {
  BOOST_REQUIRE(::write(fd, s.data(), s.size()) == ssize_t(s.size()));
}

inline std::string drain(int fd) {
  std::string out;
  std::array<char, 4096> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

}  // namespace treadle::test
