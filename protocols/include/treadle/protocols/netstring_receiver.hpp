// protocols/include/treadle/protocols/netstring_receiver.hpp — NetstringReceiver: netstrings.
// Tests: tests/cpp/protocols/test_receivers.cpp (the parser: test_netstring_parser.cpp)
#pragma once

#include <cstddef>
#include <string_view>

#include "treadle/core/buffer.hpp"
#include "treadle/protocols/framed_receiver.hpp"
#include "treadle/protocols/netstring_parser.hpp"

namespace treadle {

/**
 * @brief A protocol that receives and sends netstrings (`<length>:<payload>,`; Twisted's
 * `NetstringReceiver`), with a bound on payload size.
 *
 * Subclass it and implement `string_received`. Incoming bytes are decoded by a
 * `NetstringParser`. Malformed framing calls `protocol_error(errc::malformed_frame)`, and a
 * length above `max_length` calls `protocol_error(errc::frame_too_large)` as soon as its
 * digits show it (before any payload is stored); either way the transport is then closed. A
 * stream that ends inside a netstring is reported as `errc::malformed_frame`.
 *
 * Call order: see `FramedReceiver`; within one `data_received`, `string_received*` in stream
 * order, then possibly `protocol_error`. Strings stop as soon as the transport is closing.
 *
 * Thread safety: none; callbacks come on the loop's thread.
 */
class NetstringReceiver : public FramedReceiver {
 public:
  /// @brief Makes a receiver accepting payloads of up to `max_length` bytes (default 64 KiB).
  explicit NetstringReceiver(std::size_t max_length = NetstringParser::default_max_length);

  /// @brief Decodes `data` and calls `string_received` for each complete netstring.
  void data_received(ConstBuffer data) override;

  /// @brief Reports a partial netstring, if any, as `errc::malformed_frame`.
  /// @returns false: the transport closes once its buffer drains.
  bool eof_received() override;

  /**
   * @brief One complete netstring arrived.
   * @param payload its payload; valid only during the call (copy what you keep). May be empty.
   */
  virtual void string_received(std::string_view payload) = 0;

  /**
   * @brief Writes `payload` as one netstring (a gather write of header, payload and `,`; the
   * payload is not copied here). Any size can be expressed.
   *
   * Does nothing before `connection_made` or after `connection_lost`; like every write, it is
   * ignored once the transport is closing.
   */
  void send_string(std::string_view payload);

  /// @brief The parser, for its limit and buffered size.
  const NetstringParser& parser() const noexcept { return parser_; }

 private:
  NetstringParser parser_;
};

}  // namespace treadle
