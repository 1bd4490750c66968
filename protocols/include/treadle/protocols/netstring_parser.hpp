// protocols/include/treadle/protocols/netstring_parser.hpp — decodes netstrings, with a size cap.
// Tests: tests/cpp/protocols/test_netstring_parser.cpp
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/protocols/detail/frame_parser.hpp"

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
 * `feed()`, `feed_eof()`, `reset()`, `error()`, `buffered_size()` and `buffer_capacity()` are
 * the ones all three parsers share (`detail::FrameParser`); here the two sizes never exceed
 * `max_length()`.
 *
 * Call order: `(feed | next_string)* -> feed_eof?`, then optionally `reset()`.
 *
 * Thread safety: none; one parser belongs to one connection. Callbacks must not call back
 * into the parser that is delivering to them.
 */
class NetstringParser : public detail::FrameParser<NetstringParser> {
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
  std::optional<std::string_view> next_string(ConstBuffer& input, std::error_code& ec) {
    return next_message(input, ec);
  }

  /// @brief The largest accepted payload, in bytes.
  std::size_t max_length() const noexcept { return max_length_; }

 private:
  enum class State { length, payload, comma };

  friend class detail::FrameParser<NetstringParser>;

  // The steps FrameParser calls (see there).
  std::optional<std::string_view> parse(ConstBuffer& input, std::error_code& ec);
  bool in_frame() const noexcept { return state_ != State::length || digits_ != 0; }
  void start_frame() noexcept {
    state_ = State::length;
    digits_ = 0;
    length_ = 0;
  }

  // FrameParser's buffer_ holds the payload of the current frame when it spans calls.
  std::size_t max_length_;
  std::size_t max_digits_;  // decimal digits of max_length_: a longer length is malformed
  State state_ = State::length;
  std::size_t digits_ = 0;  // length digits read so far in this frame
  std::size_t length_ = 0;  // the length, as read so far
};

}  // namespace treadle
