// core/src/endpoint.cpp — socket address conversions.
// Tests: tests/cpp/core/test_endpoint.cpp
#include "treadle/core/endpoint.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace treadle {

Endpoint::Endpoint(const sockaddr* addr, socklen_t len) noexcept {
  len_ = std::min<socklen_t>(len, sizeof(storage_));
  std::memcpy(&storage_, addr, len_);
}

Endpoint Endpoint::from_numeric(const std::string& host, std::uint16_t port,
                                std::error_code& ec) noexcept {
  Endpoint e;
  ec.clear();
  auto* v4 = reinterpret_cast<sockaddr_in*>(&e.storage_);
  if (::inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    e.len_ = sizeof(sockaddr_in);
    return e;
  }
  e.storage_ = {};
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&e.storage_);
  if (::inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    e.len_ = sizeof(sockaddr_in6);
    return e;
  }
  ec = std::error_code(EINVAL, std::system_category());
  return {};
}

Endpoint Endpoint::from_unix_path(const std::string& path, std::error_code& ec) noexcept {
  Endpoint e;
  auto* un = reinterpret_cast<sockaddr_un*>(&e.storage_);
  if (path.size() >= sizeof(un->sun_path)) {
    ec = std::error_code(ENAMETOOLONG, std::system_category());
    return {};
  }
  ec.clear();
  un->sun_family = AF_UNIX;
  std::memcpy(un->sun_path, path.data(), path.size());
  // Abstract names are exactly as long as given; filesystem paths are NUL-terminated.
  e.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                  (path.empty() || path[0] != '\0' ? 1 : 0));
  return e;
}

std::string Endpoint::host() const {
  char buf[INET6_ADDRSTRLEN] = {};
  switch (family()) {
    case AF_INET:
      ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage_)->sin_addr, buf,
                  sizeof buf);
      return buf;
    case AF_INET6:
      ::inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_addr, buf,
                  sizeof buf);
      return buf;
    case AF_UNIX: {
      const auto* un = reinterpret_cast<const sockaddr_un*>(&storage_);
      const std::size_t off = offsetof(sockaddr_un, sun_path);
      if (len_ <= off) return {};
      std::size_t n = len_ - off;
      if (un->sun_path[0] != '\0') n = ::strnlen(un->sun_path, n);
      return std::string(un->sun_path, n);
    }
    default:
      return {};
  }
}

std::uint16_t Endpoint::port() const noexcept {
  switch (family()) {
    case AF_INET:
      return ntohs(reinterpret_cast<const sockaddr_in*>(&storage_)->sin_port);
    case AF_INET6:
      return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage_)->sin6_port);
    default:
      return 0;
  }
}

std::string Endpoint::to_string() const {
  switch (family()) {
    case AF_INET:
      return host() + ":" + std::to_string(port());
    case AF_INET6:
      return "[" + host() + "]:" + std::to_string(port());
    default:
      return host();
  }
}

bool operator==(const Endpoint& a, const Endpoint& b) noexcept {
  return a.len_ == b.len_ && std::memcmp(&a.storage_, &b.storage_, a.len_) == 0;
}

}  // namespace treadle
