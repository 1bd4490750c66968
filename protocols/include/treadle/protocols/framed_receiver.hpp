// protocols/include/treadle/protocols/framed_receiver.hpp — the base of the message receivers.
// Tests: tests/cpp/protocols/test_receivers.cpp
#pragma once

#include <optional>
#include <string_view>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/core/protocol.hpp"
#include "treadle/core/transport.hpp"

namespace treadle {

/**
 * @brief What `LineReceiver`, `NetstringReceiver` and `IntNStringReceiver` share: the
 * transport they write to, the loop that feeds their parser, and one way to fail on bad input.
 *
 * A subclass splits the incoming bytes into messages with an I/O-free parser and hands each
 * one to a virtual method. When the peer breaks the framing, the receiver calls
 * `protocol_error(error)` once and then closes the transport: the connection cannot be
 * resynchronised, and dropping it is what keeps a hostile peer from costing more memory.
 *
 * Delivery stops as soon as the transport is closing, even in the middle of one
 * `data_received` chunk: after `close()` or `abort()` (by the subclass or anyone else) no
 * further message is delivered, as Twisted's receivers do.
 *
 * Call order (from the transport): `connection_made -> data_received* -> eof_received? ->
 * connection_lost`, and from within `data_received`: `message* -> protocol_error?`.
 *
 * Overriding: a subclass that overrides `connection_made` or `connection_lost` must call this
 * class's version (first, respectively last), or `transport()` stays null / dangling.
 *
 * Thread safety: none; callbacks come on the loop's thread.
 */
class FramedReceiver : public Protocol {
 public:
  /// @brief Remembers `transport` (returned by `transport()`) until `connection_lost`.
  void connection_made(Transport& transport) override;
  /// @brief Forgets the transport.
  void connection_lost(std::error_code error) override;

  /**
   * @brief The peer broke the framing; called once, just before the receiver closes the
   * transport. The default does nothing. It may still write (an error reply, say): the
   * `close()` that follows flushes it.
   * @param error `errc::line_too_long`, `errc::frame_too_large` or `errc::malformed_frame`
   *        (also for a stream that ended inside a message).
   */
  virtual void protocol_error(std::error_code error);

  /// @brief The transport, from `connection_made` until `connection_lost`; else null.
  Transport* transport() const noexcept { return transport_; }

 protected:
  /// @brief True while messages may be delivered: connected and the transport not closing.
  bool receiving() const noexcept;

  /// @brief Reports `error` with `protocol_error` (once per connection) and closes.
  void fail(std::error_code error);

  /**
   * @brief The delivery loop the receivers share: takes messages from `data` with
   * `next(data, ec)` (a parser's `next_line`/`next_string`/`next_frame`) and hands each to
   * `deliver`, stopping when the bytes run out, the transport starts closing, or the parser
   * fails (which is then reported with `fail`).
   */
  template <class Next, class Deliver>
  void dispatch(ConstBuffer data, Next&& next, Deliver&& deliver) {
    std::error_code ec;
    while (receiving()) {
      std::optional<std::string_view> message = next(data, ec);
      if (!message) break;
      deliver(*message);
    }
    if (ec) fail(ec);
  }

  /**
   * @brief The receivers' `eof_received`: ends the stream of `parser` (a `LineParser`,
   * `NetstringParser` or `IntNParser`) and reports a message cut short with `fail`.
   * @returns false: the transport closes once its buffer drains.
   */
  template <class Parser>
  bool end_of_stream(Parser& parser) {
    if (std::error_code ec = parser.feed_eof()) fail(ec);
    return false;
  }

 private:
  Transport* transport_ = nullptr;  // valid from connection_made until connection_lost
  bool failed_ = false;             // protocol_error was reported on this connection
};

}  // namespace treadle
