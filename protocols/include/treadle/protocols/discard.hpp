// protocols/include/treadle/protocols/discard.hpp — Discard: drops what it receives, counting it.
// Tests: tests/cpp/protocols/test_receivers.cpp
#pragma once

#include <cstdint>

#include "treadle/core/buffer.hpp"
#include "treadle/core/protocol.hpp"

namespace treadle {

/**
 * @brief The discard protocol (RFC 863 over a stream): receives and drops everything,
 * counting the bytes. Useful as a sink in benchmarks and tests.
 *
 * It never writes, so it needs no transport; the peer's half-close closes the connection
 * (`eof_received()` returns false).
 *
 * Thread safety: none; callbacks come on the loop's thread.
 */
class Discard : public Protocol {
 public:
  /// @brief Counts and drops `data`.
  void data_received(ConstBuffer data) override { bytes_received_ += data.size(); }
  /// @brief Bytes received so far.
  std::uint64_t bytes_received() const noexcept { return bytes_received_; }

 private:
  std::uint64_t bytes_received_ = 0;
};

}  // namespace treadle
