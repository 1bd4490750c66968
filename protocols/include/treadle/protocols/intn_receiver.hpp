// protocols/include/treadle/protocols/intn_receiver.hpp — IntNStringReceiver: length-prefixed.
// Tests: tests/cpp/protocols/test_receivers.cpp (the parser: test_intn_parser.cpp)
#pragma once

#include <cstddef>
#include <string_view>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/protocols/framed_receiver.hpp"
#include "treadle/protocols/intn_parser.hpp"

namespace treadle {

/**
 * @brief A protocol that receives and sends messages prefixed by their length as a 1-, 2- or
 * 4-byte big-endian integer (Twisted's `IntNStringReceiver`), with a bound on message size.
 *
 * Subclass it (or `Int8StringReceiver`, `Int16StringReceiver`, `Int32StringReceiver`) and
 * implement `string_received`. Incoming bytes are decoded by an `IntNParser`: a prefix above
 * `max_length` calls `protocol_error(errc::frame_too_large)` as soon as it is read, and a
 * stream that ends inside a message `protocol_error(errc::malformed_frame)`; the transport is
 * then closed.
 *
 * Call order: see `FramedReceiver`; within one `data_received`, `string_received*` in stream
 * order, then possibly `protocol_error`. Messages stop as soon as the transport is closing.
 *
 * Thread safety: none; callbacks come on the loop's thread.
 */
class IntNStringReceiver : public FramedReceiver {
 public:
  /**
   * @brief Makes a receiver.
   * @param prefix_length bytes in the length prefix: 1, 2 or 4.
   * @param max_length the largest incoming payload; default 64 KiB, and never more than the
   *        prefix can express.
   * @throws Error `errc::invalid_argument` if `prefix_length` is not 1, 2 or 4.
   */
  explicit IntNStringReceiver(std::size_t prefix_length,
                              std::size_t max_length = IntNParser::default_max_length);

  /// @brief Decodes `data` and calls `string_received` for each complete message.
  void data_received(ConstBuffer data) override;

  /// @brief Reports a partial message, if any, as `errc::malformed_frame`.
  /// @returns false: the transport closes once its buffer drains.
  bool eof_received() override;

  /**
   * @brief One complete message arrived.
   * @param payload its payload; valid only during the call (copy what you keep). May be empty.
   */
  virtual void string_received(std::string_view payload) = 0;

  /**
   * @brief Writes `payload` with its length prefix (a gather write; the payload is not copied
   * here).
   *
   * The local `max_length` is not applied (the peer's limit may differ), but the prefix
   * must be able to express the size. Does nothing before `connection_made` or after
   * `connection_lost`; ignored, like every write, once the transport is closing.
   * @throws Error `errc::frame_too_large` if `payload` is longer than
   *         `IntNParser::prefix_limit(prefix_length())`; nothing is written then.
   */
  void send_string(std::string_view payload);

  /// @brief `send_string` that reports `errc::frame_too_large` in `ec` instead of throwing.
  void send_string(std::string_view payload, std::error_code& ec);

  /// @brief Bytes in the length prefix: 1, 2 or 4.
  std::size_t prefix_length() const noexcept { return parser_.prefix_length(); }

  /// @brief The parser, for its limit and buffered size.
  const IntNParser& parser() const noexcept { return parser_; }

 private:
  IntNParser parser_;
};

/// @brief `IntNStringReceiver` with a 1-byte prefix (messages up to 255 bytes).
class Int8StringReceiver : public IntNStringReceiver {
 public:
  explicit Int8StringReceiver(std::size_t max_length = IntNParser::default_max_length)
      : IntNStringReceiver(1, max_length) {}
};

/// @brief `IntNStringReceiver` with a 2-byte prefix (messages up to 65535 bytes).
class Int16StringReceiver : public IntNStringReceiver {
 public:
  explicit Int16StringReceiver(std::size_t max_length = IntNParser::default_max_length)
      : IntNStringReceiver(2, max_length) {}
};

/// @brief `IntNStringReceiver` with a 4-byte prefix (messages up to 4 GiB - 1).
class Int32StringReceiver : public IntNStringReceiver {
 public:
  explicit Int32StringReceiver(std::size_t max_length = IntNParser::default_max_length)
      : IntNStringReceiver(4, max_length) {}
};

}  // namespace treadle
