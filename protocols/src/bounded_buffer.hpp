// protocols/src/bounded_buffer.hpp — appends to a parser's buffer without passing a hard cap.
// Tests: tests/cpp/protocols/test_line_parser.cpp, test_netstring_parser.cpp, test_intn_parser.cpp
#pragma once

#include <algorithm>
#include <cstddef>
#include <string_view>
#include <vector>

namespace treadle::detail {

/// @brief Appends `bytes` to `buffer`, growing its capacity geometrically but never past `cap`.
///
/// `std::string` and `std::vector` growth may double the capacity, so a buffer holding a
/// 9 KiB line could own 16 KiB; the parsers promise a hard bound instead. `vector::reserve`
/// allocates exactly what it is asked for, so reserving here first keeps `insert` from
/// choosing a size of its own.
/// @pre `buffer.size() + bytes.size() <= cap`.
inline void append_bounded(std::vector<char>& buffer, std::string_view bytes, std::size_t cap) {
  const std::size_t needed = buffer.size() + bytes.size();
  if (needed > buffer.capacity()) {
    buffer.reserve(std::min(cap, std::max(needed, 2 * buffer.capacity())));
  }
  buffer.insert(buffer.end(), bytes.begin(), bytes.end());
}

}  // namespace treadle::detail
