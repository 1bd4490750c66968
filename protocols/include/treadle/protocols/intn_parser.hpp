// protocols/include/treadle/protocols/intn_parser.hpp — decodes 8/16/32-bit length-prefixed frames.
// Tests: tests/cpp/protocols/test_intn_parser.cpp
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/protocols/detail/frame_parser.hpp"

namespace treadle {

/**
 * @brief An I/O-free decoder of frames prefixed by their length as a 1-, 2- or 4-byte
 * unsigned big-endian integer (Twisted's `Int8StringReceiver` … `Int32StringReceiver` wire
 * format), which refuses oversize frames as soon as the prefix is read.
 *
 * Like `LineParser`, it does no I/O: feed it received bytes with `feed()` (or step with
 * `next_frame()`) and the end of the stream with `feed_eof()`. `IntNStringReceiver` is the
 * `Protocol` built on it.
 *
 * Errors (sticky: every later call returns the same error and consumes nothing, until
 * `reset()`):
 * - `errc::frame_too_large` — a prefix announced more than `max_length()` bytes. It is
 *   reported when the last prefix byte arrives, before any payload byte is stored.
 * - `errc::malformed_frame` — the stream ended inside a frame (`feed_eof()`): in the prefix
 *   or before the payload was complete.
 *
 * Bounded memory: at most one payload (`<= max_length()` bytes) is buffered, and only when it
 * arrives split over several `feed` calls; a payload wholly inside one call is handed out as
 * a view of the caller's bytes. A zero-length frame is delivered as an empty view.
 *
 * `feed()`, `feed_eof()`, `reset()`, `error()`, `buffered_size()` and `buffer_capacity()` are
 * the ones all three parsers share (`detail::FrameParser`); here the two sizes never exceed
 * `max_length()`.
 *
 * Call order: `(feed | next_frame)* -> feed_eof?`, then optionally `reset()`.
 *
 * Thread safety: none; one parser belongs to one connection. Callbacks must not call back
 * into the parser that is delivering to them.
 */
class IntNParser : public detail::FrameParser<IntNParser> {
 public:
  /// @brief The default payload cap, 64 KiB, lowered to what the prefix can express.
  static constexpr std::size_t default_max_length = 64 * 1024;

  /// @brief The largest length a prefix of `prefix_length` bytes can express
  /// (255, 65535 or 4294967295 for 1, 2 or 4 bytes).
  static constexpr std::size_t prefix_limit(std::size_t prefix_length) noexcept {
    return prefix_length >= sizeof(std::size_t) ? static_cast<std::size_t>(-1)
                                                : (std::size_t{1} << (8 * prefix_length)) - 1;
  }

  /**
   * @brief Makes a parser.
   * @param prefix_length bytes in the length prefix: 1, 2 or 4.
   * @param max_length the largest accepted payload, in bytes; values above
   *        `prefix_limit(prefix_length)` act as that limit.
   * @throws Error `errc::invalid_argument` if `prefix_length` is not 1, 2 or 4.
   */
  explicit IntNParser(std::size_t prefix_length = 4, std::size_t max_length = default_max_length);

  /**
   * @brief Consumes bytes from the front of `input` until one frame is complete.
   * @param input the unparsed bytes; advanced past everything consumed. They must stay alive
   *        while the returned view is used.
   * @param ec cleared, or set to the (sticky) error (see the class comment);
   *        `errc::invalid_argument` if called after `feed_eof()`.
   * @returns the payload, or `std::nullopt` when `input` ran out first or on error. The view
   *          points into `input` or into the parser's buffer and is valid until the next call
   *          on this parser.
   */
  std::optional<std::string_view> next_frame(ConstBuffer& input, std::error_code& ec) {
    return next_message(input, ec);
  }

  /// @brief Bytes in the length prefix: 1, 2 or 4.
  std::size_t prefix_length() const noexcept { return prefix_length_; }
  /// @brief The largest accepted payload (already lowered to `prefix_limit()`).
  std::size_t max_length() const noexcept { return max_length_; }

 private:
  friend class detail::FrameParser<IntNParser>;

  // The steps FrameParser calls (see there).
  std::optional<std::string_view> parse(ConstBuffer& input, std::error_code& ec);
  bool in_frame() const noexcept { return prefix_read_ != 0; }
  void start_frame() noexcept {
    prefix_read_ = 0;
    length_ = 0;
  }

  // FrameParser's buffer_ holds the payload of the current frame when it spans calls.
  std::size_t prefix_length_;
  std::size_t max_length_;
  std::size_t prefix_read_ = 0;  // prefix bytes of the current frame read so far
  std::size_t length_ = 0;       // the length, as read so far
};

}  // namespace treadle
