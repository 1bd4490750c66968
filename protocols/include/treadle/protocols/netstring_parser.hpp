// protocols/include/treadle/protocols/netstring_parser.hpp — decodes netstrings, with a size cap.
// Tests: tests/cpp/protocols/test_netstring_parser.cpp
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "treadle/core/buffer.hpp"

namespace treadle {

/**
 * @brief An I/O-free decoder of netstrings (`<length>:<payload>,`, D. J. Bernstein's format),
 * which refuses oversize frames before buffering any of their payload.
 *
 * Like `LineParser`, it does no I/O: feed it received bytes with `feed()` (or step with
 * `next_string()`) and the end of the stream with `feed_eof()`. `NetstringReceiver` is the
 * `Protocol` built on it.
 *
 * Framing: `<length>` is ASCII decimal without sign, spaces or leading zeros (`"0"` itself is
 * fine: `0:,` is the empty string); `<payload>` is exactly `<length>` bytes of anything; the
 * frame ends with `,`. A payload is delivered only once its `,` has arrived, so a frame is
 * either whole or not delivered.
 *
 * Errors (sticky: every later call returns the same error and consumes nothing, until
 * `reset()`):
 * - `errc::malformed_frame` — a byte other than a digit or `:` in the length; an empty
 *   length; a leading zero; more length digits than `max_length()` has (so the length cannot
 *   overflow); a byte other than `,` after the payload; or the end of the stream inside a
 *   frame (`feed_eof()`).
 * - `errc::frame_too_large` — the length, while still being read, exceeds `max_length()`.
 *   Digits are checked one by one, so this is known before the `:`, and no payload byte is
 *   ever stored for such a frame.
 *
 * Bounded memory: at most one payload (`<= max_length()` bytes) is buffered, and only when it
 * arrives split over several `feed` calls; a payload wholly inside one call is handed out as
 * a view of the caller's bytes.
 *
 * Call order: `(feed | next_string)* -> feed_eof?`, then optionally `reset()`.
 *
 * Thread safety: none; one parser belongs to one connection. Callbacks must not call back
 * into the parser that is delivering to them.
 */
class NetstringParser {
 public:
  /// @brief The default payload cap, 64 KiB.
  static constexpr std::size_t default_max_length = 64 * 1024;

  /// @brief Makes a parser accepting payloads of up to `max_length` bytes.
  explicit NetstringParser(std::size_t max_length = default_max_length) noexcept;

  /**
   * @brief Consumes bytes from the front of `input` until one netstring is complete.
   * @param input the unparsed bytes; advanced past everything consumed. They must stay alive
   *        while the returned view is used.
   * @param ec cleared, or set to the (sticky) error (see the class comment);
   *        `errc::invalid_argument` if called after `feed_eof()`.
   * @returns the payload, or `std::nullopt` when `input` ran out first or on error. The view
   *          points into `input` or into the parser's buffer and is valid until the next call
   *          on this parser.
   */
  std::optional<std::string_view> next_string(ConstBuffer& input, std::error_code& ec);

  /**
   * @brief Consumes all of `data`, calling `on_string(std::string_view payload)` for every
   * complete netstring, in order.
   * @param data bytes received; need not stay alive after the call.
   * @param on_string called synchronously; the view is only valid during the call.
   * @returns empty, or the error that stopped parsing; frames before it were delivered.
   */
  template <class OnString>
  std::error_code feed(ConstBuffer data, OnString&& on_string) {
    std::error_code ec;
    while (auto payload = next_string(data, ec)) std::invoke(on_string, *payload);
    return ec;
  }

  /// @brief `feed` for text.
  template <class OnString>
  std::error_code feed(std::string_view text, OnString&& on_string) {
    return feed(as_bytes(text), std::forward<OnString>(on_string));
  }

  /**
   * @brief Marks the end of the stream.
   * @returns empty between frames; `errc::malformed_frame` if the stream ended inside one;
   *          the sticky error if one occurred.
   */
  std::error_code feed_eof();

  /// @brief Forgets buffered bytes, errors and end of stream: the parser is as new.
  void reset() noexcept;

  /// @brief The sticky error, or empty.
  std::error_code error() const noexcept { return error_; }
  /// @brief The largest accepted payload, in bytes.
  std::size_t max_length() const noexcept { return max_length_; }
  /// @brief Payload bytes held between calls (at most `max_length()`).
  std::size_t buffered_size() const noexcept { return release_ ? 0 : payload_.size(); }
  /// @brief Bytes of memory the buffer holds (never more than `max_length()`).
  std::size_t buffer_capacity() const noexcept { return payload_.capacity(); }

 private:
  enum class State { length, payload, comma };

  std::optional<std::string_view> fail(std::error_code& ec, std::error_code error);
  void start_frame() noexcept;

  std::size_t max_length_;
  std::size_t max_digits_;  // decimal digits of max_length_: a longer length is malformed
  State state_ = State::length;
  std::size_t digits_ = 0;  // length digits read so far in this frame
  std::size_t length_ = 0;  // the length, as read so far
  // The payload of the current frame when it spans calls. When `release_` is set it holds the
  // payload last returned instead, which the next call discards.
  std::vector<char> payload_;
  bool release_ = false;
  bool eof_ = false;
  std::error_code error_;
};

}  // namespace treadle
