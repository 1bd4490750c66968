// transports/src/socket_setup.hpp — socket creation and options shared by connect and listen.
// Tests: tests/cpp/transports/test_tcp.cpp
#pragma once

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <system_error>

#include "treadle/core/error.hpp"

namespace treadle::detail {

/// A non-blocking, close-on-exec stream socket, or -1 with `ec` set.
inline int open_socket(int family, std::error_code& ec) {
  const int fd = ::socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) ec = errno_code(errno);
  return fd;
}

/// TCP_NODELAY on a TCP socket; a no-op for other families.
inline void set_no_delay(int fd) {
  int one = 1;
  (void)::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace treadle::detail
