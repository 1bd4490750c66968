// protocols/include/treadle/protocols/detail/frame_parser.hpp — what the frame parsers share.
// Tests: tests/cpp/protocols/test_line_parser.cpp, test_netstring_parser.cpp, test_intn_parser.cpp
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "treadle/core/buffer.hpp"
#include "treadle/core/error.hpp"

namespace treadle::detail {

/**
 * @brief The part of `LineParser`, `NetstringParser` and `IntNParser` that does not depend on
 * the framing: the buffer of a message that spans calls, the sticky error, end of stream,
 * `reset()`, and the `feed()` loop over the parser's pull method.
 *
 * A parser derives from `FrameParser<Parser>` (CRTP), declares `FrameParser<Parser>` a friend
 * and provides, privately:
 * - `std::optional<std::string_view> parse(ConstBuffer& input, std::error_code& ec)`: one step
 *   of its pull method (`next_line`, `next_string`, `next_frame`), which forwards to
 *   `next_message()`. `parse` is only called with `ec` cleared, no sticky error, before end of
 *   stream, and with the message handed out last time already dropped from the buffer. It
 *   reports errors with `fail()` and hands out a message it assembled in `buffer_` with
 *   `hand_out_buffer()`.
 * - `bool in_frame() const noexcept`: true if the stream would end inside a message.
 * - `void start_frame() noexcept`: back to the start of a message (used by `reset()`).
 */
template <class Parser>
class FrameParser {
 public:
  /**
   * @brief Consumes all of `data`, calling `on_message(std::string_view message)` for every
   * complete message (a line, a netstring's payload, a frame's payload), in order.
   * @param data bytes received; need not stay alive after the call.
   * @param on_message called synchronously with each message; the view is only valid during
   *        the call.
   * @returns empty, or the (sticky) error that stopped parsing; messages before the error
   *          were delivered.
   */
  template <class OnMessage>
  std::error_code feed(ConstBuffer data, OnMessage&& on_message) {
    std::error_code ec;
    while (auto message = next_message(data, ec)) std::invoke(on_message, *message);
    return ec;
  }

  /// @brief `feed` for text.
  template <class OnMessage>
  std::error_code feed(std::string_view text, OnMessage&& on_message) {
    return feed(as_bytes(text), std::forward<OnMessage>(on_message));
  }

  /**
   * @brief Marks the end of the stream. The parser accepts no more bytes
   * (`errc::invalid_argument`) until `reset()`.
   * @returns empty if the stream ended between messages; `errc::malformed_frame` if it ended
   *          inside one (the partial message is dropped, never delivered); the sticky error
   *          if one occurred.
   */
  std::error_code feed_eof() {
    if (error_) return error_;
    drop_released();
    eof_ = true;
    if (self().in_frame()) {
      // The stream was cut inside a message: a truncated one must not pass for a whole one.
      std::error_code ec;
      fail(ec, errc::malformed_frame);
      return ec;
    }
    return {};
  }

  /// @brief Forgets buffered bytes, errors and end of stream: the parser is as new.
  void reset() noexcept {
    drop_buffer();
    release_ = false;
    eof_ = false;
    error_.clear();
    self().start_frame();
  }

  /// @brief The sticky error, or empty.
  std::error_code error() const noexcept { return error_; }
  /// @brief Bytes of an incomplete message held between calls (bounded; see the parser).
  std::size_t buffered_size() const noexcept { return release_ ? 0 : buffer_.size(); }
  /// @brief Bytes of memory the buffer holds (for checking the parser's bound).
  std::size_t buffer_capacity() const noexcept { return buffer_.capacity(); }

 protected:
  /// @brief The pull step: the checks every parser makes first, then `Parser::parse`.
  std::optional<std::string_view> next_message(ConstBuffer& input, std::error_code& ec) {
    if (error_) {
      ec = error_;
      return std::nullopt;
    }
    if (eof_) return fail(ec, errc::invalid_argument);
    ec.clear();
    // The message returned last time may live in the buffer; its caller is done with it.
    drop_released();
    return self().parse(input, ec);
  }

  /// @brief Makes `error` the sticky error, sets `ec` to it, frees the buffer.
  /// @returns `std::nullopt`, for `return fail(ec, error);`.
  std::optional<std::string_view> fail(std::error_code& ec, std::error_code error) {
    error_ = error;
    ec = error;
    release_ = false;
    drop_buffer();
    return std::nullopt;
  }

  /// @brief Hands out the whole buffer as the message; the next call discards it.
  std::string_view hand_out_buffer() noexcept {
    release_ = true;
    return std::string_view(buffer_.data(), buffer_.size());
  }

  /// @brief The incomplete message carried over from earlier input; after
  /// `hand_out_buffer()`, the message last returned instead.
  std::vector<char> buffer_;

 private:
  Parser& self() noexcept { return static_cast<Parser&>(*this); }

  void drop_released() noexcept {
    if (release_) {
      buffer_.clear();
      release_ = false;
    }
  }

  // Empties the buffer and gives its memory back.
  void drop_buffer() noexcept { std::vector<char>().swap(buffer_); }

  bool release_ = false;  // the buffer holds the message last handed out
  bool eof_ = false;
  std::error_code error_;
};

}  // namespace treadle::detail
