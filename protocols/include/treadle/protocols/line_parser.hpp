// protocols/include/treadle/protocols/line_parser.hpp — splits a byte stream into bounded lines.
// Tests: tests/cpp/protocols/test_line_parser.cpp
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "treadle/core/buffer.hpp"

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
 * Call order: `(feed | next_line)* -> feed_eof?`, then optionally `reset()` to start over.
 *
 * Thread safety: none; one parser belongs to one connection. Callbacks must not call back
 * into the parser that is delivering to them (except through the view they receive).
 */
class LineParser {
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
  std::optional<std::string_view> next_line(ConstBuffer& input, std::error_code& ec);

  /**
   * @brief Consumes all of `data`, calling `on_line(std::string_view line)` for every complete
   * line, in order.
   * @param data bytes received; need not stay alive after the call.
   * @param on_line called synchronously with each line (delimiter excluded); the view is only
   *        valid during the call.
   * @returns empty, or the error that stopped parsing (see `next_line`); lines before the
   *          error were delivered.
   */
  template <class OnLine>
  std::error_code feed(ConstBuffer data, OnLine&& on_line) {
    std::error_code ec;
    while (auto line = next_line(data, ec)) std::invoke(on_line, *line);
    return ec;
  }

  /// @brief `feed` for text.
  template <class OnLine>
  std::error_code feed(std::string_view text, OnLine&& on_line) {
    return feed(as_bytes(text), std::forward<OnLine>(on_line));
  }

  /**
   * @brief Marks the end of the stream.
   * @returns empty if the stream ended between lines; `errc::malformed_frame` if an
   *          unterminated line was buffered (it is dropped); the sticky error if one occurred.
   */
  std::error_code feed_eof();

  /// @brief Forgets buffered bytes, errors and end of stream: the parser is as new.
  void reset() noexcept;

  /// @brief The sticky error, or empty.
  std::error_code error() const noexcept { return error_; }
  /// @brief The delimiter that ends lines.
  const std::string& delimiter() const noexcept { return delimiter_; }
  /// @brief The longest accepted line, in bytes (delimiter excluded).
  std::size_t max_length() const noexcept { return max_length_; }
  /// @brief Bytes of an incomplete line held between calls (at most
  /// `max_length() + delimiter().size()`).
  std::size_t buffered_size() const noexcept { return release_ ? 0 : buffer_.size(); }
  /// @brief Bytes of memory the buffer holds (for checking the bound; never more than
  /// `max_length() + delimiter().size()`).
  std::size_t buffer_capacity() const noexcept { return buffer_.capacity(); }

 private:
  // Bytes at the end of `bytes` that could be the start of a delimiter.
  std::size_t partial_delimiter(std::string_view bytes) const noexcept;
  std::optional<std::string_view> fail(std::error_code& ec, std::error_code error);

  std::string delimiter_;
  std::size_t max_length_;
  // The incomplete line carried over from earlier input. When `release_` is set it holds the
  // line last returned instead, which the next call discards.
  std::vector<char> buffer_;
  bool release_ = false;
  bool eof_ = false;
  std::error_code error_;
};

}  // namespace treadle
