// transports/include/treadle/transports/stream_transport.hpp — the one stream transport.
// Tests: tests/cpp/transports/test_stream_transport.cpp (every backend)
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <system_error>
#include <vector>

#include "treadle/core/byte_channel.hpp"
#include "treadle/core/extra_info.hpp"
#include "treadle/core/loop.hpp"
#include "treadle/core/protocol.hpp"
#include "treadle/core/transport.hpp"

namespace treadle {

/**
 * @brief asyncio's stream transport, written once over `ByteChannel`: TCP, Unix sockets and
 * (later) pipes on every backend use it.
 *
 * Call order to the protocol (`Protocol` or `BufferedProtocol`):
 * ```
 * connection_made -> (data_received | get_buffer/buffer_updated)* -> eof_received? ->
 * connection_lost (exactly once, never from inside a call the protocol made)
 * ```
 *
 * States, enforced by `set_state`:
 * ```
 * open ──close()──> closing ──queue drained──> closed
 *   │                  │
 *   └──abort()/error───┴─────────────────────> closed
 * ```
 * In `closed` the channel is closed and `connection_lost` is scheduled with `call_soon`.
 *
 * Writing: writes are copied and handed to the kernel together at the end of the loop phase
 * in which they were made (`Loop::defer_flush`), so the replies that one phase's callbacks
 * write leave in one system call per connection, after all of those callbacks, as on uvloop.
 * A write that would take the deferred bytes past 64 KiB or the high-water mark goes at once,
 * in one gather write with the deferred bytes before it (`ByteChannel::try_write_some`), and
 * is not copied unless the kernel refuses it.
 * What the kernel does not take is queued and sent with gather writes as it makes room.
 * `get_write_buffer_size()` counts deferred and queued bytes, including those in flight; the
 * protocol is paused only for bytes the kernel refused. `close()`, `write_eof()` and
 * `when_drained()` wait for deferred bytes as for queued ones. Water marks follow asyncio
 * exactly (see `WriteTransport`).
 *
 * Reading: one read is outstanding while reading is not paused, into a buffer owned by
 * the transport (256 KiB, as uvloop; pages are touched only as data arrives) (or the protocol's own
 * buffer for a `BufferedProtocol`). `pause_reading` does not cancel a read in flight: its result is
 * held and delivered after `resume_reading`.
 *
 * A protocol callback that throws is reported to the loop's exception handler and the
 * connection is aborted with `errc::protocol_error`.
 *
 * Lifetime: created by `make`; the transport keeps itself alive until `connection_lost` has
 * returned and no channel operation is outstanding, so users may drop their references. If
 * the loop closes first, the transport closes its socket and lets go of itself (no
 * `connection_lost`: the loop can no longer run callbacks), so nothing leaks.
 *
 * Thread safety: loop thread only.
 */
class StreamTransport final : public Transport,
                              public std::enable_shared_from_this<StreamTransport>,
                              private LoopResource,
                              private Flushable {
 public:
  /// The transport's states (see the class diagram).
  enum class State { open, closing, closed };

  /// @brief Creates the transport and schedules `connection_made` (it runs on a later
  /// iteration, then reading starts).
  /// @param channel a connected channel of `loop`'s backend; owned from now on.
  /// @param protocol a `Protocol` or `BufferedProtocol`.
  /// @param extra extra information to answer besides `peername`, `sockname` and `socket`.
  static std::shared_ptr<StreamTransport> make(Loop& loop, std::unique_ptr<ByteChannel> channel,
                                               std::shared_ptr<StreamProtocol> protocol,
                                               ExtraInfo extra = {});

  ~StreamTransport() override;

  // BaseTransport
  std::any get_extra_info(std::string_view key) const override { return extra_.get(key); }
  bool is_closing() const noexcept override { return state_ != State::open; }
  void close() override;
  void set_protocol(std::shared_ptr<BaseProtocol> protocol) override;
  std::shared_ptr<BaseProtocol> get_protocol() const override { return protocol_; }

  // ReadTransport
  bool is_reading() const noexcept override { return state_ == State::open && reading_; }
  void pause_reading() override;
  void resume_reading() override;

  // WriteTransport
  void write(ConstBuffer data) override;
  using WriteTransport::write;
  void writev(ConstBufferSequence buffers) override;
  void write_eof() override;
  bool can_write_eof() const noexcept override { return true; }
  void abort() override;
  std::size_t get_write_buffer_size() const noexcept override { return buffer_size_; }
  std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept override {
    return {low_, high_};
  }
  void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                               std::optional<std::size_t> low = std::nullopt) override;

  /// @brief Calls `done` on a later iteration once the write buffer is empty (every queued
  /// byte handed to the kernel): at once if it is empty now, with `errc::aborted` or the
  /// connection's error if the connection ends first. One waiter at a time; a new one
  /// replaces the old (which is dropped uncalled). This is what a zero-copy `sendfile(2)` on
  /// the transport's socket waits for, so that its bytes follow the queued ones.
  void when_drained(std::function<void(std::error_code)> done);

  /// @brief The current state.
  State state() const noexcept { return state_; }
  /// @brief The loop this transport runs on.
  Loop& loop() const noexcept { return loop_; }

  /// Size of a receive buffer: the transport's own, or the one its thread's transports share
  /// when their channels allow it (ByteChannel::reads_land_at_completion).
  static constexpr std::size_t kReadBufferSize = 256 * 1024;

 private:
  StreamTransport(Loop& loop, std::unique_ptr<ByteChannel> channel);
  void set_state(State next);
  void start();
  void start_read();
  MutableBuffer own_read_buffer();
  void on_read(std::error_code ec, std::size_t n);
  void deliver(std::error_code ec, std::size_t n);
  bool copy_to_buffered(ConstBuffer data);
  void empty_buffer_error();
  void flush() override;
  void send_now(ConstBufferSequence more);
  void start_write();
  void after_drain();
  void on_write(std::error_code ec, std::size_t n);
  void append(ConstBufferSequence buffers, std::size_t skip);
  void consume(std::size_t n);
  void maybe_pause_protocol();
  void maybe_resume_protocol();
  void fatal_error(std::error_code ec);
  void force_close(std::error_code ec);
  void call_connection_lost(std::error_code ec);
  void maybe_release();
  void loop_closed() noexcept override;
  template <class F>
  bool guard(F&& f, const char* what);

  Loop& loop_;
  std::unique_ptr<ByteChannel> channel_;
  std::shared_ptr<StreamProtocol> protocol_;
  Protocol* stream_ = nullptr;            // protocol_ as a Protocol, or null
  BufferedProtocol* buffered_ = nullptr;  // protocol_ as a BufferedProtocol, or null
  ExtraInfo extra_;
  std::shared_ptr<StreamTransport> self_;  // held until lost and idle

  State state_ = State::open;
  bool made_ = false;    // connection_made has run
  bool lost_ = false;    // connection_lost has been called
  bool reading_ = true;  // not paused
  bool read_in_flight_ = false;
  bool eof_seen_ = false;
  std::optional<std::pair<std::error_code, std::size_t>> held_;  // read result while paused
  std::unique_ptr<std::byte[]> read_buffer_;
  std::byte* shared_read_buffer_ = nullptr;  // the thread's, if the channel allows sharing
  MutableBuffer read_region_;                // where the read in flight lands
  // The BufferedProtocol whose buffer read_region_ is (null: the transport's own or the shared
  // receive buffer), kept alive until the read completes even if set_protocol() replaced it
  // meanwhile.
  std::shared_ptr<StreamProtocol> read_lender_;

  std::deque<std::vector<std::byte>> queue_;
  std::size_t head_offset_ = 0;  // bytes of queue_.front() already sent
  std::size_t in_flight_chunks_ = 0;
  bool write_in_flight_ = false;
  bool flush_deferred_ = false;   // queued with Loop::defer_flush
  std::vector<std::byte> spare_;  // a sent chunk, kept for the next one
  std::size_t buffer_size_ = 0;
  std::size_t high_ = 64 * 1024;
  std::size_t low_ = 16 * 1024;
  bool protocol_paused_ = false;
  bool eof_pending_ = false;  // write_eof() called; shut down once drained
  bool eof_written_ = false;
  bool loop_gone_ = false;                        // the loop closed: do not touch it again
  std::function<void(std::error_code)> drained_;  // when_drained's waiter
  void notify_drained(std::error_code ec);
};

}  // namespace treadle
