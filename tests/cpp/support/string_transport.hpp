// tests/cpp/support/string_transport.hpp — a loop-free fake Transport that records calls.
// Tests: tests/cpp/protocols/test_receivers.cpp
#pragma once

#include <algorithm>
#include <any>
#include <cstddef>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>

#include "treadle/core/buffer.hpp"
#include "treadle/core/error.hpp"
#include "treadle/core/extra_info.hpp"
#include "treadle/core/protocol.hpp"
#include "treadle/core/transport.hpp"

namespace treadle::test {

/**
 * @brief A `Transport` with no loop and no socket, for protocol tests (Twisted's
 * `StringTransport`): everything written is appended to `value()`, and every call is recorded.
 *
 * The test plays both the peer and the loop with the methods in the "test side" group:
 * `connect()` calls `connection_made`, `receive()` delivers bytes, `receive_eof()` the peer's
 * half-close, and `lose_connection()` the final `connection_lost` — which a real transport
 * would schedule after `close()`, and which this one never calls by itself, so a test decides
 * when it happens (and a protocol cannot rely on it happening inside `close()`).
 *
 * Write buffer: by default writes "reach the peer" at once, so the buffer stays empty. After
 * `set_write_blocked(true)` written bytes stay counted in `get_write_buffer_size()` until
 * `drain()`, and the water marks work as asyncio's: `pause_writing()` once the size goes
 * strictly above the high mark, `resume_writing()` once it falls to the low mark or below,
 * defaults high 64 KiB / low 16 KiB.
 *
 * Writes after `close()`, `abort()`, `write_eof()` or `lose_connection()` are ignored (and
 * still not appended), as on a real transport.
 *
 * Thread safety: none; use from the test's thread.
 */
class StringTransport final : public Transport {
 public:
  /// @brief Makes a transport driving `protocol` (which may also be set later).
  explicit StringTransport(std::shared_ptr<BaseProtocol> protocol = nullptr)
      : protocol_(std::move(protocol)) {}

  // ---- BaseTransport ----

  std::any get_extra_info(std::string_view key) const override { return extra_.get(key); }
  bool is_closing() const noexcept override { return closing_; }
  void close() override {
    close_called_ = true;
    closing_ = true;
  }
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override {
    protocol_ = std::move(protocol);
  }
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }

  // ---- ReadTransport ----

  bool is_reading() const noexcept override { return !reading_paused_ && !closing_; }
  void pause_reading() override {
    ++pause_reading_calls_;
    if (!closing_) reading_paused_ = true;
  }
  void resume_reading() override {
    ++resume_reading_calls_;
    reading_paused_ = false;
  }

  // ---- WriteTransport ----

  using WriteTransport::write;
  void write(ConstBuffer data) override {
    if (!writable()) return;
    append(data);
    maybe_pause_protocol();
  }
  void writev(ConstBufferSequence buffers) override {
    if (!writable()) return;
    ++gather_writes_;
    for (ConstBuffer data : buffers) append(data);
    maybe_pause_protocol();
  }
  void write_eof() override {
    if (!can_write_eof_) Error::raise(errc::not_supported, "StringTransport::write_eof");
    if (closing_) return;
    eof_written_ = true;
  }
  bool can_write_eof() const noexcept override { return can_write_eof_; }
  void abort() override {
    abort_called_ = true;
    closing_ = true;
    buffered_ = 0;  // queued bytes are dropped
  }
  std::size_t get_write_buffer_size() const noexcept override { return buffered_; }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
    return {low_water_, high_water_};
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override {
    // asyncio's _set_write_buffer_limits, then _maybe_pause_protocol (never resume here).
    std::size_t h = 0;
    if (high) {
      h = *high;
    } else {
      h = low ? 4 * *low : 64 * 1024;
    }
    const std::size_t l = low ? *low : h / 4;
    if (h < l) Error::raise(errc::invalid_argument, "high water mark below low water mark");
    high_water_ = h;
    low_water_ = l;
    maybe_pause_protocol();
  }

  // ---- test side: play the peer and the loop ----

  /// @brief Calls the protocol's `connection_made(*this)`.
  /// @throws std::logic_error without a stream protocol, or if called twice.
  void connect() {
    if (connected_) throw std::logic_error("StringTransport: connect() called twice");
    auto* stream = dynamic_cast<StreamProtocol*>(protocol_.get());
    if (stream == nullptr) throw std::logic_error("StringTransport: no stream protocol");
    connected_ = true;
    stream->connection_made(*this);
  }

  /**
   * @brief Delivers `data` from the peer: one `data_received` for a `Protocol`; for a
   * `BufferedProtocol`, `get_buffer`/`buffer_updated` rounds until all is copied.
   *
   * Ignored once the transport is closing (a real one delivers nothing after `close()`).
   * @throws std::logic_error if not connected, if reading is paused (a real transport would
   *         hold the bytes: the test should not send them yet), or if a `BufferedProtocol`
   *         lends an empty buffer.
   */
  void receive(std::string_view data) {
    if (!connected_ || lost_)
      throw std::logic_error("StringTransport: receive() while not connected");
    if (closing_ || data.empty()) return;
    if (reading_paused_)
      throw std::logic_error("StringTransport: receive() while reading is paused");
    if (auto* plain = dynamic_cast<Protocol*>(protocol_.get())) {
      plain->data_received(as_bytes(data));
      return;
    }
    auto* buffered = dynamic_cast<BufferedProtocol*>(protocol_.get());
    if (buffered == nullptr) throw std::logic_error("StringTransport: no stream protocol");
    while (!data.empty() && !closing_) {
      MutableBuffer region = buffered->get_buffer(data.size());
      if (region.empty()) throw std::logic_error("StringTransport: get_buffer() returned nothing");
      const std::size_t n = std::min(region.size(), data.size());
      std::memcpy(region.data(), data.data(), n);
      data.remove_prefix(n);
      buffered->buffer_updated(n);
    }
  }

  /// @brief Delivers the peer's half-close; closes the transport if `eof_received()` returns
  /// false (as a real transport does).
  /// @returns what `eof_received()` returned.
  bool receive_eof() {
    if (!connected_ || lost_)
      throw std::logic_error("StringTransport: receive_eof() while not connected");
    if (closing_) return false;
    auto* stream = dynamic_cast<StreamProtocol*>(protocol_.get());
    const bool keep_open = stream != nullptr && stream->eof_received();
    if (!keep_open) close();
    return keep_open;
  }

  /// @brief Ends the connection and calls `connection_lost(error)` — once; later calls do
  /// nothing. This is the loop's part after `close()`/`abort()` or a failure.
  void lose_connection(std::error_code error = {}) {
    if (lost_) return;
    lost_ = true;
    closing_ = true;
    buffered_ = 0;
    lost_error_ = error;
    if (protocol_) protocol_->connection_lost(error);
  }

  /// @brief While blocked, written bytes stay in the write buffer until `drain()`.
  void set_write_blocked(bool blocked) noexcept { write_blocked_ = blocked; }

  /// @brief The peer took `n` buffered bytes (all by default); may call `resume_writing()`.
  void drain(std::size_t n = std::numeric_limits<std::size_t>::max()) {
    buffered_ -= std::min(n, buffered_);
    maybe_resume_protocol();
  }

  /// @brief Makes `can_write_eof()` return `value` (and `write_eof()` throw when false).
  void set_can_write_eof(bool value) noexcept { can_write_eof_ = value; }

  /// @brief The keys `get_extra_info` answers (none unless a test sets some).
  ExtraInfo& extra() noexcept { return extra_; }

  // ---- test side: what happened ----

  /// @brief Everything written so far, in order.
  const std::string& value() const noexcept { return written_; }
  /// @brief Forgets what was written (not the write buffer size).
  void clear() noexcept { written_.clear(); }

  bool connected() const noexcept { return connected_; }        ///< `connect()` was called.
  bool close_called() const noexcept { return close_called_; }  ///< `close()` was called.
  bool abort_called() const noexcept { return abort_called_; }  ///< `abort()` was called.
  bool eof_written() const noexcept { return eof_written_; }    ///< `write_eof()` took effect.
  bool lost() const noexcept { return lost_; }                  ///< `connection_lost` was called.
  std::error_code lost_error() const noexcept { return lost_error_; }  ///< Its argument.
  /// @brief True between the protocol's `pause_writing()` and `resume_writing()`.
  bool writing_paused() const noexcept { return protocol_paused_; }
  int pause_reading_calls() const noexcept { return pause_reading_calls_; }
  int resume_reading_calls() const noexcept { return resume_reading_calls_; }
  int gather_writes() const noexcept { return gather_writes_; }  ///< `writev` calls accepted.

 private:
  bool writable() const noexcept { return !closing_ && !eof_written_; }

  void append(ConstBuffer data) {
    written_.append(as_chars(data));
    if (write_blocked_) buffered_ += data.size();
  }

  void maybe_pause_protocol() {
    if (get_write_buffer_size() <= high_water_ || protocol_paused_) return;
    protocol_paused_ = true;
    if (protocol_) protocol_->pause_writing();
  }

  void maybe_resume_protocol() {
    if (!protocol_paused_ || get_write_buffer_size() > low_water_) return;
    protocol_paused_ = false;
    if (protocol_) protocol_->resume_writing();
  }

  std::shared_ptr<BaseProtocol> protocol_;
  ExtraInfo extra_;
  std::string written_;
  std::size_t buffered_ = 0;
  std::size_t high_water_ = 64 * 1024;
  std::size_t low_water_ = 16 * 1024;
  bool connected_ = false;
  bool closing_ = false;
  bool close_called_ = false;
  bool abort_called_ = false;
  bool eof_written_ = false;
  bool lost_ = false;
  bool reading_paused_ = false;
  bool protocol_paused_ = false;
  bool write_blocked_ = false;
  bool can_write_eof_ = true;
  std::error_code lost_error_;
  int pause_reading_calls_ = 0;
  int resume_reading_calls_ = 0;
  int gather_writes_ = 0;
};

}  // namespace treadle::test
