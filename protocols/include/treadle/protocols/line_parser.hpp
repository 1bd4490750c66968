// protocols/include/treadle/protocols/line_parser.hpp — splits a byte stream into bounded lines.
// Tests: tests/cpp/protocols/test_line_parser.cpp
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/protocols/detail/frame_parser.hpp"

namespace treadle {

/**
 * @brief An I/O-free line splitter: feed it bytes, it hands back lines without their
 * delimiter, and it never holds more than one line's worth of memory.
 *
 * The parser does no I/O and knows no transport or loop (Beast's `basic_parser::put` idea): a
 * caller passes the bytes it received to `feed()` (or steps through them with `next_line()`)
 * and the end of the stream to `feed_eof()`. `LineReceiver` is the `Protocol` built on it.
 *
 * Bounded memory: a line longer than `max_length()` bytes is an error (`errc::line_too_long`)
 * as soon as that is certain — when `max_length() + 1` bytes that cannot start a delimiter
 * have arrived, not when its delimiter finally comes — so a peer that never sends a
 * delimiter cannot make the parser grow. The internal buffer never exceeds
 * `max_length() + delimiter().size()` bytes. A line exactly `max_length()` bytes long is
 * accepted.
 *
 * Errors are sticky: after one, every `feed`/`next_line`/`feed_eof` returns the same error
 * and consumes nothing, until `reset()`.
 *
 * End of stream: `feed_eof()` with an unterminated line buffered returns
 * `errc::malformed_frame` (the stream was cut inside a line); the partial line is not
 * delivered. With nothing buffered it succeeds. After `feed_eof()` the parser accepts no more
 * bytes (`errc::invalid_argument`) until `reset()`.
 *
 * `feed()`, `feed_eof()`, `reset()`, `error()`, `buffered_size()` and `buffer_capacity()` are
 * the ones all three parsers share (`detail::FrameParser`); here the two sizes never exceed
 * `max_length() + delimiter().size()`.
 *
 * Call order: `(feed | next_line)* -> feed_eof?`, then optionally `reset()` to start over.
 *
 * Thread safety: none; one parser belongs to one connection. Callbacks must not call back
 * into the parser that is delivering to them (except through the view they receive).
 */
class LineParser : public detail::FrameParser<LineParser> {
 public:
  /// @brief The default maximum line length, 16 KiB (Twisted's `LineReceiver.MAX_LENGTH`).
  static constexpr std::size_t default_max_length = 16 * 1024;

  /**
   * @brief Makes a parser.
   * @param delimiter the bytes that end a line; copied. Default `"\r\n"`.
   * @param max_length the longest line accepted, in bytes, delimiter excluded.
   * @throws Error `errc::invalid_argument` if `delimiter` is empty.
   */
  explicit LineParser(std::string delimiter = "\r\n", std::size_t max_length = default_max_length);

  /**
   * @brief Consumes bytes from the front of `input` until one line is complete.
   *
   * This is the pull interface: call it in a loop until it returns `std::nullopt`, and stop
   * whenever you like — the bytes left in `input` are untouched and can be fed later (or
   * handled in another way, e.g. when a protocol switches to raw mode).
   *
   * @param input the unparsed bytes; advanced past everything consumed. The bytes must stay
   *        alive until the returned view is no longer used.
   * @param ec cleared, or set to the (sticky) error: `errc::line_too_long`, or
   *        `errc::invalid_argument` after `feed_eof()`.
   * @returns the line without its delimiter, or `std::nullopt` when `input` ran out first (its
   *          bytes are then buffered) or on error. The view points into `input` or into the
   *          parser's buffer, and is valid until the next call on this parser.
   */
  std::optional<std::string_view> next_line(ConstBuffer& input, std::error_code& ec) {
    return next_message(input, ec);
  }

  /// @brief The delimiter that ends lines.
  const std::string& delimiter() const noexcept { return delimiter_; }
  /// @brief The longest accepted line, in bytes (delimiter excluded).
  std::size_t max_length() const noexcept { return max_length_; }

 private:
  friend class detail::FrameParser<LineParser>;

  // The steps FrameParser calls (see there): `next_line` after the common checks; a line is
  // cut short when part of one is buffered; a line keeps no state outside the buffer.
  std::optional<std::string_view> parse(ConstBuffer& input, std::error_code& ec);
  bool in_frame() const noexcept { return !buffer_.empty(); }
  void start_frame() noexcept {}
  // Bytes at the end of `bytes` that could be the start of a delimiter.
  std::size_t partial_delimiter(std::string_view bytes) const noexcept;

  std::string delimiter_;
  std::size_t max_length_;
};

}  // namespace treadle
