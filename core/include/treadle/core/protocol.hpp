// core/include/treadle/core/protocol.hpp — the protocol callbacks a transport drives.
// Tests: tests/cpp/core/test_protocol.cpp, tests/cpp/protocols/*
#pragma once

#include <cstddef>
#include <system_error>

#include "treadle/core/buffer.hpp"
#include "treadle/core/endpoint.hpp"

namespace treadle {

class Transport;
class DatagramTransport;
class SubprocessTransport;

/**
 * @brief What every protocol hears from its transport: loss of the connection and flow
 * control of its writes.
 *
 * Protocols are written once against these interfaces and run unchanged on every loop
 * backend, over plain sockets or TLS. A transport owns its protocol (by `shared_ptr`) and
 * calls it on the loop's thread only; no callback is ever made from inside a call the protocol
 * itself is making into the transport (e.g. `close()` never calls `connection_lost`
 * synchronously).
 *
 * Thread safety: callbacks arrive on the loop's thread.
 */
class BaseProtocol {
 public:
  virtual ~BaseProtocol() = default;

  /// @brief The connection is gone; called exactly once, last.
  /// @param error empty after an orderly close or EOF; otherwise why the connection failed
  ///        (`errc::aborted` after `abort()`, a system error after a reset, ...).
  virtual void connection_lost(std::error_code error) { (void)error; }

  /// @brief The transport's write buffer went above its high-water mark.
  ///
  /// Called once per crossing, and always paired with a later `resume_writing` unless the
  /// connection is lost first. The protocol should stop producing until then.
  virtual void pause_writing() {}

  /// @brief The write buffer drained to the low-water mark or below.
  virtual void resume_writing() {}
};

/**
 * @brief The common base of stream protocols; the transport calls, in this order:
 *
 * ```
 * connection_made -> (data_received | buffer_updated)* -> eof_received? -> connection_lost
 * ```
 *
 * `connection_lost` is called exactly once, even if `connection_made` raised.
 */
class StreamProtocol : public BaseProtocol {
 public:
  /// @brief The connection is up. `transport` stays valid until `connection_lost` returns;
  /// hold it by reference (or `shared_from_this()` it) to write.
  virtual void connection_made(Transport& transport) { (void)transport; }

  /// @brief The peer closed its sending side (orderly half-close).
  /// @returns false (the default) to have the transport close itself; true to keep the
  ///          connection half-open so the protocol can still write, and close later.
  virtual bool eof_received() { return false; }
};

/// @brief A stream protocol that receives data as views of the transport's receive buffer.
class Protocol : public StreamProtocol {
 public:
  /// @brief Bytes arrived. `data` is valid only during the call (copy what you keep); it is
  /// never empty.
  virtual void data_received(ConstBuffer data) = 0;
};

/**
 * @brief A stream protocol that lends the transport its own buffer, so reads land in it with
 * no copy.
 *
 * Before each read the transport calls `get_buffer`, reads into the returned region, and
 * reports the count with `buffer_updated`.
 */
class BufferedProtocol : public StreamProtocol {
 public:
  /// @brief Returns a writable region for the next read.
  /// @param size_hint a suggested size; any non-empty region is acceptable. An empty region
  ///        is a protocol error: the transport reports it and closes.
  virtual MutableBuffer get_buffer(std::size_t size_hint) = 0;
  /// @brief `nbytes` (> 0) were written at the start of the region last returned.
  virtual void buffer_updated(std::size_t nbytes) = 0;
};

/**
 * @brief A datagram protocol: `connection_made -> (datagram_received | error_received)* ->
 * connection_lost`.
 */
class DatagramProtocol : public BaseProtocol {
 public:
  /// @brief The endpoint is ready; `transport` is valid until `connection_lost` returns.
  virtual void connection_made(DatagramTransport& transport) { (void)transport; }
  /// @brief One datagram from `from`; `data` is valid only during the call.
  virtual void datagram_received(ConstBuffer data, const Endpoint& from) = 0;
  /// @brief A send or receive failed without closing the endpoint (e.g. ICMP unreachable).
  virtual void error_received(std::error_code error) { (void)error; }
};

/**
 * @brief The protocol of a child process:
 * `connection_made -> (pipe_data_received | pipe_connection_lost)* -> process_exited ->
 * connection_lost`.
 */
class SubprocessProtocol : public BaseProtocol {
 public:
  /// @brief The child started; `transport` is valid until `connection_lost` returns.
  virtual void connection_made(SubprocessTransport& transport) { (void)transport; }
  /// @brief The child wrote `data` on its stdout (fd 1) or stderr (fd 2).
  virtual void pipe_data_received(int fd, ConstBuffer data) {
    (void)fd;
    (void)data;
  }
  /// @brief One of the child's pipes closed.
  virtual void pipe_connection_lost(int fd, std::error_code error) {
    (void)fd;
    (void)error;
  }
  /// @brief The child exited.
  virtual void process_exited() {}
};

}  // namespace treadle
