// core/include/treadle/core/extra_info.hpp — keyed, chained transport information.
// Tests: tests/cpp/core/test_extra_info.cpp
#pragma once

#include <any>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace treadle {

/// @brief The standard keys of `BaseTransport::get_extra_info` (asyncio's names).
namespace extra {
inline constexpr std::string_view peername = "peername";        ///< `Endpoint` of the peer.
inline constexpr std::string_view sockname = "sockname";        ///< `Endpoint` of this end.
inline constexpr std::string_view socket = "socket";            ///< `int` file descriptor.
inline constexpr std::string_view sslcontext = "sslcontext";    ///< TLS context (TLS layer).
inline constexpr std::string_view peercert = "peercert";        ///< Peer certificate (TLS).
inline constexpr std::string_view cipher = "cipher";            ///< Negotiated cipher (TLS).
inline constexpr std::string_view compression = "compression";  ///< Compression (TLS).
inline constexpr std::string_view ssl_object = "ssl_object";    ///< The TLS session object.
inline constexpr std::string_view pipe = "pipe";                ///< `int` fd of a pipe.
inline constexpr std::string_view subprocess = "subprocess";    ///< Child process id.
}  // namespace extra

/**
 * @brief A small key/value store answering `get_extra_info`, with a fallback.
 *
 * A layered transport answers its own keys first and then asks the layer below: a TLS
 * transport sets `cipher` itself and chains to the TCP transport for `peername`. Values are
 * `std::any`; an absent key yields an empty `std::any`.
 *
 * Thread safety: none; owned by a transport on the loop's thread.
 */
class ExtraInfo {
 public:
  /// @brief Looks keys up in another source when this one lacks them.
  using Fallback = std::function<std::any(std::string_view key)>;

  /// @brief Sets (or replaces) `key`.
  void set(std::string_view key, std::any value);
  /// @brief Removes `key` from this layer (the fallback may still answer it).
  void erase(std::string_view key);
  /// @brief Installs the next layer's lookup.
  void chain(Fallback next) { next_ = std::move(next); }
  /// @brief This layer's value, else the fallback's, else an empty `std::any`.
  std::any get(std::string_view key) const;

 private:
  std::vector<std::pair<std::string, std::any>> items_;
  Fallback next_;
};

/// @brief Returns a pointer to the value of type `T` in `value`, or null.
template <class T>
const T* extra_cast(const std::any& value) noexcept {
  return std::any_cast<T>(&value);
}

}  // namespace treadle
