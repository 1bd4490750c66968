// core/include/treadle/core/byte_channel.hpp — the contract a stream transport sits on.
// Tests: tests/cpp/transports/test_byte_channel.cpp (every backend + the memory channel)
#pragma once

#include <cstddef>
#include <functional>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/core/endpoint.hpp"

namespace treadle {

class Loop;

/**
 * @brief A connected byte stream in completion style: the thin common denominator of a
 * readiness loop and a proactor.
 *
 * `StreamTransport` is written once against this interface; each backend supplies one channel
 * type (the reactor's tries the system call first and arms epoll only on `EAGAIN`; the
 * proactor's wraps an Asio socket). The full requirements, with preconditions, are on the
 * design page `doc/design/byte_channel.rst`; in short:
 *
 * - At most one `async_read_some` and one `async_write_some` are outstanding at a time.
 * - Completions run on the loop's thread, in the poll phase, and **never inside the initiating
 *   call**.
 * - `async_read_some` completes with at least one byte, or with an error: `errc::eof` when the
 *   peer closed its side, `errc::aborted` after `cancel()`/`close()`.
 * - `async_write_some` may complete partially (the count says how much was sent, from the
 *   start of the gather list).
 * - `cancel()` makes each outstanding operation complete exactly once with `errc::aborted`.
 * - The caller keeps buffers alive until the completion runs.
 *
 * Thread safety: a channel belongs to its loop's thread.
 */
class ByteChannel {
 public:
  /// Completion of a read or write: error (empty on success) and bytes transferred.
  using Completion = std::function<void(std::error_code, std::size_t)>;

  virtual ~ByteChannel() = default;

  /// @brief The loop whose thread runs the completions.
  virtual Loop& loop() const noexcept = 0;

  /// @brief Reads at least one byte into `buffer` (non-empty), then calls `done`.
  virtual void async_read_some(MutableBuffer buffer, Completion done) = 0;

  /// @brief Writes some of `buffers` (gather), then calls `done` with the count written.
  /// The span itself may be discarded after the call; the bytes it points to may not.
  virtual void async_write_some(ConstBufferSequence buffers, Completion done) = 0;

  /// @brief Writes what the kernel takes now, without waiting and without a completion:
  /// the transport's "send immediately when nothing is queued" fast path.
  /// @returns bytes written (0 with `ec` = `EAGAIN` if none could be).
  virtual std::size_t try_write_some(ConstBufferSequence buffers, std::error_code& ec) = 0;

  /// @brief Half-closes: the peer reads EOF after the bytes already written.
  virtual std::error_code shutdown_send() = 0;

  /// @brief Completes each outstanding operation with `errc::aborted`.
  virtual void cancel() = 0;

  /// @brief Cancels, then closes the descriptor. Idempotent.
  virtual void close() = 0;

  /// @brief True until `close()`.
  virtual bool is_open() const noexcept = 0;

  /// @brief This end's address.
  virtual Endpoint local_endpoint(std::error_code& ec) const = 0;
  /// @brief The peer's address.
  virtual Endpoint remote_endpoint(std::error_code& ec) const = 0;

  /// @brief The file descriptor (-1 once closed).
  virtual int native_handle() const noexcept = 0;

  /// @brief True if a read's bytes land in its buffer only inside the call that runs its
  /// completion: between the system call and `done` no other read on this thread runs, and
  /// the bytes need to stay put only until `done` returns. A transport that copies what it
  /// reads may then give every connection on the thread one shared buffer, which stays in
  /// cache, as libuv-based loops do. False by default: a proactor may read ahead and queue the
  /// completion (Asio's speculative reads), so each read needs a buffer of its own.
  virtual bool reads_land_at_completion() const noexcept { return false; }
};

}  // namespace treadle
