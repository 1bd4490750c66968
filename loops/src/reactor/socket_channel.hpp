// loops/src/reactor/socket_channel.hpp — the reactor's ByteChannel over a non-blocking socket.
// Tests: tests/cpp/transports/test_byte_channel.cpp (reactor)
#pragma once

#include <sys/uio.h>

#include <array>

#include "reactor_loop.hpp"
#include "treadle/core/byte_channel.hpp"

namespace treadle::detail {

/**
 * @brief `ByteChannel` for the reactor: system calls first, epoll only when they would block.
 *
 * The socket is registered once, edge-triggered for input and output, and never re-armed: the
 * channel remembers whether the socket may be readable (writable) and only goes back to the
 * kernel after an edge says so. An operation started while the socket may be ready is
 * attempted in the same loop iteration's poll phase (`ReactorLoop::defer`), never inside the
 * initiating call; a short read means the socket is drained, so a request/response exchange
 * costs one `epoll_wait`, one `recv` and one `send` per round trip.
 *
 * The epoll registration points at a small `Source` object rather than the channel itself, so
 * that destroying the channel while a batch of events is being dispatched is safe.
 */
class SocketChannel final : public ByteChannel {
 public:
  /// Takes ownership of `fd` (made non-blocking here).
  SocketChannel(ReactorLoop& loop, int fd);
  ~SocketChannel() override;

  Loop& loop() const noexcept override { return loop_; }
  void async_read_some(MutableBuffer buffer, Completion done) override;
  void async_write_some(ConstBufferSequence buffers, Completion done) override;
  std::size_t try_write_some(ConstBufferSequence buffers, std::error_code& ec) override;
  std::error_code shutdown_send() override;
  void cancel() override;
  void close() override;
  bool is_open() const noexcept override { return fd_ >= 0; }
  // perform_read() calls recv(2) and runs the completion in one go.
  bool reads_land_at_completion() const noexcept override { return true; }
  Endpoint local_endpoint(std::error_code& ec) const override;
  Endpoint remote_endpoint(std::error_code& ec) const override;
  int native_handle() const noexcept override { return fd_; }

 private:
  struct Source;
  static constexpr std::size_t kMaxIov = 64;

  void on_events(std::uint32_t events);
  bool perform_read();   // false if the channel was destroyed by the completion
  bool perform_write();  // likewise
  void complete(Completion& slot, std::error_code ec, std::size_t n);

  ReactorLoop& loop_;
  int fd_;
  Source* source_;  // owned by the channel; retired to the loop on destruction
  bool readable_ = true;
  bool writable_ = true;
  bool deferred_ = false;
  bool hung_up_ = false;

  MutableBuffer read_buffer_;
  Completion read_done_;
  bool read_aborted_ = false;

  std::array<iovec, kMaxIov> write_iov_{};
  std::size_t write_iov_count_ = 0;
  Completion write_done_;
  bool write_aborted_ = false;
};

}  // namespace treadle::detail
