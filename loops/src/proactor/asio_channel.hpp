// loops/src/proactor/asio_channel.hpp — the proactor's ByteChannel over an Asio socket.
// Tests: tests/cpp/transports/test_byte_channel.cpp (proactor)
#pragma once

#include <boost/asio/generic/stream_protocol.hpp>
#include <memory>

#include "proactor_loop.hpp"
#include "readable_op.hpp"
#include "treadle/core/byte_channel.hpp"

namespace treadle::detail {

/**
 * @brief `ByteChannel` for the proactor: `generic::stream_protocol::socket` (so TCP and Unix
 * sockets share one type).
 *
 * Completion handlers capture the loop and the caller's completion, and the channel only
 * with a flag that says whether it is still open: Asio delivers `operation_aborted` for
 * operations outstanding when the socket closes, and by then the channel may already be
 * gone. Asio never completes inside the initiating call.
 *
 * A read starts later, by the loop, not at once (see `async_read_some`), and waits for
 * readability, through Asio's reactor with no system call (readable_op.hpp), if the last read
 * left the socket empty or it has nothing to read then (see `start_read`). `cancel()`/`close()`
 * (and so destruction) before it completes complete it with `errc::aborted`.
 */
class AsioChannel final : public ByteChannel {
 public:
  /// Takes ownership of `fd`, a connected stream socket.
  AsioChannel(ProactorLoop& loop, int fd);
  ~AsioChannel() override;

  Loop& loop() const noexcept override { return loop_; }
  void async_read_some(MutableBuffer buffer, Completion done) override;
  void async_write_some(ConstBufferSequence buffers, Completion done) override;
  std::size_t try_write_some(ConstBufferSequence buffers, std::error_code& ec) override;
  std::error_code shutdown_send() override;
  void cancel() override;
  void close() override;
  bool is_open() const noexcept override { return socket_.is_open(); }
  Endpoint local_endpoint(std::error_code& ec) const override;
  Endpoint remote_endpoint(std::error_code& ec) const override;
  int native_handle() const noexcept override;

  /// Starts a read deferred by `async_read_some` (called by the loop): completes it at once
  /// if the socket has bytes or an error (returns true), else waits for readability through
  /// Asio and reads then. After a read that left the socket empty it waits without trying.
  bool start_read(MutableBuffer buffer, Completion done);

  /// Bytes land in a read's buffer only as its completion runs (see `wait_then_read`).
  bool reads_land_at_completion() const noexcept override { return true; }

 private:
  bool read_now(MutableBuffer buffer, Completion& done);
  void wait_then_read(MutableBuffer buffer, Completion done);
  void note_events(std::uint32_t events) noexcept;

  ProactorLoop& loop_;
  ReactiveSocket socket_;
  // What handlers may need to know of the channel after it is gone: shared with them.
  struct Flags {
    bool write_in_flight = false;
    bool open = true;  // false once close() ran
  };
  std::shared_ptr<Flags> flags_ = std::make_shared<Flags>();
  bool reports_shutdown_ = false;  // Asio's epoll registration includes EPOLLRDHUP
  bool peer_shut_down_ = false;    // epoll reported EPOLLRDHUP, EPOLLHUP or EPOLLERR
  bool drained_ = false;           // the last read left the socket empty
};

}  // namespace treadle::detail
