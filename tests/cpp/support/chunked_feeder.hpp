// tests/cpp/support/chunked_feeder.hpp — cuts input every way a network might (parsegrind).
// Tests: tests/cpp/protocols/test_line_parser.cpp, test_netstring_parser.cpp, test_intn_parser.cpp
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

namespace treadle::test {

/// @brief One way of cutting an input: the pieces, in order, that concatenate to it.
using Chunks = std::vector<std::string_view>;

/// @brief `input` as two pieces, cut before byte `pos` (`0 < pos < input.size()`).
inline Chunks split_at(std::string_view input, std::size_t pos) {
  return {input.substr(0, pos), input.substr(pos)};
}

/// @brief `input` in pieces of `size` bytes (the last may be shorter); `size` 0 counts as 1.
inline Chunks pieces_of(std::string_view input, std::size_t size) {
  if (size == 0) size = 1;
  Chunks chunks;
  for (std::size_t pos = 0; pos < input.size(); pos += size)
    chunks.push_back(input.substr(pos, size));
  return chunks;
}

/**
 * @brief The cuts a parser test tries: the whole input at once (coalesced), every two-piece
 * split, and one byte at a time (fully fragmented).
 *
 * Together they put a feed boundary at every byte position — so in every state of a parser
 * (inside a length, a delimiter, a payload, between frames) — once alone and once with all
 * other boundaries, and also try everything coalesced. Keep inputs small: the splits make a
 * test quadratic in the input size.
 */
inline std::vector<Chunks> chunkings(std::string_view input) {
  std::vector<Chunks> all;
  all.push_back({input});
  for (std::size_t pos = 1; pos < input.size(); ++pos) all.push_back(split_at(input, pos));
  if (input.size() > 2) all.push_back(pieces_of(input, 1));
  return all;
}

/// @brief Names a cut for failure messages: "whole", "split at 3", "pieces of 1", ...
inline std::string describe(const Chunks& chunks) {
  if (chunks.size() == 1) return "whole";
  if (chunks.size() == 2) return "split at " + std::to_string(chunks[0].size());
  return "pieces of " + std::to_string(chunks.empty() ? 0 : chunks[0].size());
}

/// @brief Calls `check(const Chunks&)` once per cut of `input` (see `chunkings`).
template <class Check>
void for_each_chunking(std::string_view input, Check&& check) {
  for (const Chunks& chunks : chunkings(input)) check(chunks);
}

/**
 * @brief Feeds `chunks` one by one to `feed(std::string_view) -> std::error_code`, stopping
 * at the first error.
 * @returns the first error, or empty.
 */
template <class Feed>
std::error_code feed_chunks(const Chunks& chunks, Feed&& feed) {
  for (std::string_view piece : chunks) {
    if (std::error_code ec = feed(piece)) return ec;
  }
  return {};
}

}  // namespace treadle::test
