// core/include/treadle/core/buffer.hpp — byte views and gather lists.
// Tests: tests/cpp/core/test_buffer.cpp
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace treadle {

/// @brief A read-only view of bytes; the caller keeps the bytes alive for the call.
using ConstBuffer = std::span<const std::byte>;
/// @brief A writable view of bytes, e.g. the region a `BufferedProtocol` lends for a read.
using MutableBuffer = std::span<std::byte>;
/// @brief A gather list: several views written as one (`writev`).
using ConstBufferSequence = std::span<const ConstBuffer>;

/// @brief Views the characters of a string as bytes (no copy).
inline ConstBuffer as_bytes(std::string_view s) noexcept {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

/// @brief Views bytes as characters (no copy), for protocols that parse text.
inline std::string_view as_chars(ConstBuffer b) noexcept {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

}  // namespace treadle
