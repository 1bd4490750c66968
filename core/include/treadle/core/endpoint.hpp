// core/include/treadle/core/endpoint.hpp — a socket address (IPv4, IPv6 or Unix path).
// Tests: tests/cpp/core/test_endpoint.cpp
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <system_error>

namespace treadle {

/**
 * @brief A socket address, as `getpeername`/`getsockname` return it.
 *
 * It answers the `peername` and `sockname` extra-info keys. The Python binding converts it to
 * the tuple asyncio gives (`(host, port)`, `(host, port, flowinfo, scope_id)` or a path).
 *
 * Thread safety: a plain value.
 */
class Endpoint {
 public:
  /// @brief An empty endpoint (`family() == AF_UNSPEC`).
  Endpoint() noexcept = default;
  /// @brief Copies `len` bytes of `addr`; lengths beyond `sockaddr_storage` are truncated.
  Endpoint(const sockaddr* addr, socklen_t len) noexcept;

  /// @brief Parses a numeric IPv4 or IPv6 address (no name resolution).
  /// @returns an empty endpoint and sets `ec` to `EINVAL` if `host` is not numeric.
  static Endpoint from_numeric(const std::string& host, std::uint16_t port,
                               std::error_code& ec) noexcept;
  /// @brief A Unix-domain address; a leading NUL selects the abstract namespace.
  /// @returns an empty endpoint and sets `ec` to `ENAMETOOLONG` if the path does not fit.
  static Endpoint from_unix_path(const std::string& path, std::error_code& ec) noexcept;

  /// @brief `AF_INET`, `AF_INET6`, `AF_UNIX` or `AF_UNSPEC`.
  int family() const noexcept { return storage_.ss_family; }
  /// @brief The numeric host (IP families), or the path (`AF_UNIX`).
  std::string host() const;
  /// @brief The port (IP families), else 0.
  std::uint16_t port() const noexcept;
  /// @brief `1.2.3.4:80`, `[::1]:80`, the Unix path, or empty.
  std::string to_string() const;

  const sockaddr* data() const noexcept { return reinterpret_cast<const sockaddr*>(&storage_); }
  sockaddr* data() noexcept { return reinterpret_cast<sockaddr*>(&storage_); }
  socklen_t size() const noexcept { return len_; }
  /// @brief Sets the size after a system call filled `data()`.
  void resize(socklen_t len) noexcept { len_ = len; }
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

  friend bool operator==(const Endpoint& a, const Endpoint& b) noexcept;

 private:
  sockaddr_storage storage_{};
  socklen_t len_ = 0;
};

}  // namespace treadle
