// loops/src/common/socket_ops.hpp — small socket helpers both backends' channels share.
// Tests: tests/cpp/transports/test_byte_channel.cpp
#pragma once

#include <sys/socket.h>

#include <system_error>

#include "treadle/core/endpoint.hpp"
#include "treadle/core/error.hpp"

namespace treadle::detail {

/// getsockname/getpeername into an Endpoint.
inline Endpoint socket_endpoint(int fd, bool peer, std::error_code& ec) {
  Endpoint e;
  socklen_t len = Endpoint::capacity();
  const int rc = peer ? ::getpeername(fd, e.data(), &len) : ::getsockname(fd, e.data(), &len);
  if (rc != 0) {
    ec = errno_code(fd < 0 ? EBADF : errno);
    return {};
  }
  ec.clear();
  e.resize(len);
  return e;
}

/// Maps "the peer closed" and "cancelled" onto treadle's codes; everything else stays errno.
inline std::error_code closed_or_errno(int err) noexcept {
  return err == ECANCELED ? make_error_code(errc::aborted) : errno_code(err);
}

}  // namespace treadle::detail
