// protocols/include/treadle/protocols/echo.hpp — Echo: writes back every byte it receives.
// Tests: tests/cpp/protocols/test_receivers.cpp
#pragma once

#include <cstdint>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/core/protocol.hpp"
#include "treadle/core/transport.hpp"

namespace treadle {

/**
 * @brief The echo protocol (RFC 862 over a stream): every byte received is written back.
 *
 * Serve it by giving each connection its own instance:
 * `[] { return std::make_shared<treadle::Echo>(); }` as the protocol factory.
 *
 * Flow control: a peer that sends but never reads would make the echoed bytes pile up in the
 * write buffer without bound. So when the transport calls `pause_writing()`, Echo pauses
 * reading, and resumes it on `resume_writing()`; the backlog then stays near the transport's
 * high-water mark.
 *
 * End of stream: when the peer half-closes, `eof_received()` returns false, so the transport
 * closes once the echoed bytes are flushed.
 *
 * Call order (from the transport): `connection_made -> (data_received | pause_writing |
 * resume_writing)* -> eof_received? -> connection_lost`.
 *
 * Thread safety: none; callbacks come on the loop's thread.
 */
class Echo : public Protocol {
 public:
  /// @brief Remembers `transport` until `connection_lost`.
  void connection_made(Transport& transport) override;
  /// @brief Writes `data` back.
  void data_received(ConstBuffer data) override;
  /// @brief Forgets the transport.
  void connection_lost(std::error_code error) override;
  /// @brief Stops reading until the echoed bytes drain.
  void pause_writing() override;
  /// @brief Reads again.
  void resume_writing() override;

  /// @brief Bytes written back so far.
  std::uint64_t bytes_echoed() const noexcept { return bytes_echoed_; }

 private:
  Transport* transport_ = nullptr;  // valid from connection_made until connection_lost
  std::uint64_t bytes_echoed_ = 0;
};

}  // namespace treadle
