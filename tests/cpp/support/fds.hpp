// tests/cpp/support/fds.hpp — pipes and socketpairs for watcher tests, closed on scope exit.
#pragma once

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <boost/test/unit_test.hpp>
#include <string>

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
