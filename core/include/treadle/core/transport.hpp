// core/include/treadle/core/transport.hpp — the transport interfaces protocols write to.
// Tests: tests/cpp/core/test_transport.cpp, tests/cpp/transports/*
#pragma once

#include <sys/types.h>

#include <any>
#include <cstddef>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/core/endpoint.hpp"
#include "treadle/core/extra_info.hpp"

namespace treadle {

class BaseProtocol;

/**
 * @brief What every transport offers: information, closing, and its protocol.
 *
 * States (each transport enforces them with a `set_state` that rejects other transitions):
 *
 * ```
 * open --close()--> closing --buffer flushed--> closed (connection_lost called)
 *   \--abort() / fatal error -----------------> closed (connection_lost called)
 * ```
 *
 * Thread safety: a transport belongs to its loop's thread; call it from there only.
 */
class BaseTransport {
 public:
  virtual ~BaseTransport() = default;

  /// @brief Transport information by key (see `treadle::extra`); an empty `std::any` when
  /// unknown. Layered transports chain to the layer below.
  virtual std::any get_extra_info(std::string_view key) const = 0;

  /// @brief True once `close()` or `abort()` was called or the connection failed.
  virtual bool is_closing() const noexcept = 0;

  /// @brief Closes after the write buffer drains; no more data is delivered. The protocol's
  /// `connection_lost` follows (empty error) — never inside this call. Idempotent.
  virtual void close() = 0;

  /// @brief Replaces the protocol that receives callbacks from now on.
  virtual void set_protocol(std::shared_ptr<BaseProtocol> protocol) = 0;
  /// @brief The current protocol.
  virtual std::shared_ptr<BaseProtocol> get_protocol() const = 0;
};

/// @brief The reading half: pause and resume delivery.
class ReadTransport : public virtual BaseTransport {
 public:
  /// @brief True unless reading is paused (or the transport is closing).
  virtual bool is_reading() const noexcept = 0;
  /// @brief Stops delivering data until `resume_reading`. A read already in flight is not
  /// cancelled: its data is held and delivered on resume. Idempotent.
  virtual void pause_reading() = 0;
  /// @brief Resumes delivery, starting with any held data. Idempotent.
  virtual void resume_reading() = 0;
};

/**
 * @brief The writing half, with asyncio's flow control.
 *
 * Writes never block and never fail synchronously: bytes that cannot be sent at once are
 * queued (copied), and errors surface through `connection_lost`. Writing to a closing or
 * closed transport is ignored, as in asyncio.
 *
 * Flow control: `get_write_buffer_size()` counts queued bytes plus bytes in flight. When it
 * goes strictly above the high-water mark the protocol's `pause_writing()` is called (once);
 * when it falls to the low-water mark or below, `resume_writing()` (once). Both are called
 * synchronously from the call that crossed the mark, and are paired.
 */
class WriteTransport : public virtual BaseTransport {
 public:
  /// @brief Sends `data` (copied if it cannot be sent at once). When nothing is queued the
  /// bytes go to the kernel inside this call.
  virtual void write(ConstBuffer data) = 0;
  /// @brief `write` for text.
  void write(std::string_view text) { write(as_bytes(text)); }
  /// @brief Sends several buffers as one gather write (asyncio's `writelines`).
  virtual void writev(ConstBufferSequence buffers) = 0;
  /// @brief Closes the sending side once the buffer drains (half-close); reading goes on.
  /// @throws Error `errc::not_supported` if `can_write_eof()` is false.
  virtual void write_eof() = 0;
  /// @brief True if `write_eof` is supported (TCP, Unix stream, pipes; not TLS).
  virtual bool can_write_eof() const noexcept = 0;
  /// @brief Closes at once: queued bytes are dropped, `connection_lost(errc::aborted)`
  /// follows on a later loop iteration.
  virtual void abort() = 0;
  /// @brief Bytes queued or in flight.
  virtual std::size_t get_write_buffer_size() const noexcept = 0;
  /// @brief The current (low, high) water marks.
  virtual std::pair<std::size_t, std::size_t> get_write_buffer_limits() const noexcept = 0;
  /// @brief Sets the water marks with asyncio's defaults: both absent → high 64 KiB; only
  /// `low` → high = 4 × low; only `high` → low = high / 4.
  /// @throws Error `errc::invalid_argument` unless high >= low.
  virtual void set_write_buffer_limits(std::optional<std::size_t> high = std::nullopt,
                                       std::optional<std::size_t> low = std::nullopt) = 0;
};

/**
 * @brief A bidirectional stream transport (TCP, Unix stream, TLS), driving a
 * `StreamProtocol`:
 *
 * ```
 * connection_made -> data_received* -> eof_received? -> connection_lost
 * ```
 */
class Transport : public ReadTransport, public WriteTransport {};

/// @brief A datagram endpoint (UDP, Unix datagram) driving a `DatagramProtocol`.
class DatagramTransport : public virtual BaseTransport {
 public:
  /// @brief Sends one datagram, to `to` or (if empty) to the connected peer. Errors that do
  /// not close the endpoint go to `error_received`.
  virtual void sendto(ConstBuffer data, const Endpoint& to = {}) = 0;
  /// @brief Closes at once, dropping queued datagrams.
  virtual void abort() = 0;
  /// @brief Bytes of datagrams queued.
  virtual std::size_t get_write_buffer_size() const noexcept = 0;
};

/// @brief A child process with its pipes, driving a `SubprocessProtocol`.
class SubprocessTransport : public virtual BaseTransport {
 public:
  /// @brief The child's process id.
  virtual pid_t get_pid() const noexcept = 0;
  /// @brief The exit status once exited (negative signal number if killed), else empty.
  virtual std::optional<int> get_returncode() const noexcept = 0;
  /// @brief The transport of the child's stdin (fd 0), stdout (1) or stderr (2), or null.
  virtual BaseTransport* get_pipe_transport(int fd) const noexcept = 0;
  /// @brief Sends `signal` to the child.
  virtual std::error_code send_signal(int signal) = 0;
};

}  // namespace treadle
