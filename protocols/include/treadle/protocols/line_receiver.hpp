// protocols/include/treadle/protocols/line_receiver.hpp — LineReceiver: bounded lines.
// Tests: tests/cpp/protocols/test_receivers.cpp (the parser: test_line_parser.cpp)
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "treadle/core/buffer.hpp"
#include "treadle/protocols/framed_receiver.hpp"
#include "treadle/protocols/line_parser.hpp"

namespace treadle {

/**
 * @brief A protocol that receives and sends delimited lines (Twisted's `LineReceiver`), with
 * a bound on line length.
 *
 * Subclass it and implement `line_received`. Incoming bytes are split by a `LineParser`; a
 * line longer than `max_length` (even one whose delimiter has not arrived yet) makes the
 * receiver call `protocol_error(errc::line_too_long)` and close the transport, so memory per
 * connection stays under `max_length + delimiter size`. If the peer half-closes in the middle
 * of a line, `protocol_error(errc::malformed_frame)` is called and the partial line dropped.
 *
 * Example:
 * ```
 * class Shout : public treadle::LineReceiver {
 *   void line_received(std::string_view line) override { send_line(upper(line)); }
 * };
 * ```
 *
 * Call order: see `FramedReceiver`; within one `data_received`, `line_received*` in stream
 * order, then possibly `protocol_error`. Lines stop as soon as the transport is closing.
 *
 * Thread safety: none; callbacks come on the loop's thread.
 */
class LineReceiver : public FramedReceiver {
 public:
  /**
   * @brief Makes a receiver.
   * @param delimiter what ends a line, incoming and outgoing; default `"\r\n"`.
   * @param max_length the longest incoming line, delimiter excluded; default 16 KiB.
   * @throws Error `errc::invalid_argument` if `delimiter` is empty.
   */
  explicit LineReceiver(std::string delimiter = "\r\n",
                        std::size_t max_length = LineParser::default_max_length);

  /// @brief Splits `data` into lines and calls `line_received` for each.
  void data_received(ConstBuffer data) override;

  /// @brief Reports a partial line, if any, as `errc::malformed_frame`.
  /// @returns false: the transport closes once its buffer drains.
  bool eof_received() override;

  /**
   * @brief One complete line arrived.
   * @param line the line without its delimiter; valid only during the call (copy what you
   *        keep). May be empty.
   *
   * It may write, close, or pause reading. Replacing the transport's protocol from here must
   * keep this object alive until the call returns.
   */
  virtual void line_received(std::string_view line) = 0;

  /**
   * @brief Writes `line` followed by the delimiter, as one gather write (no copy here).
   *
   * Does nothing before `connection_made` or after `connection_lost`; like every write, it is
   * ignored once the transport is closing. `line` is not checked for embedded delimiters or
   * length: the peer's limit may differ from ours.
   */
  void send_line(std::string_view line);

  /// @brief The parser, for its delimiter, limit and buffered size.
  const LineParser& parser() const noexcept { return parser_; }

 private:
  LineParser parser_;
};

}  // namespace treadle
