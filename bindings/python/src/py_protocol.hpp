// bindings/python/src/py_protocol.hpp — Python protocols over C++ stream transports: the
// adapter protocol, the error that carries a Python exception through StreamTransport's guard,
// and the handle object behind treadle._transports.TCPTransport.
// Tests: tests/python/test_tcp.py
#pragma once

#include <exception>
#include <memory>
#include <string>
#include <system_error>

#include "common.hpp"
#include "treadle/core/protocol.hpp"
#include "treadle/transports/stream_transport.hpp"

namespace treadle::py {

class LoopCore;

/**
 * A Python exception raised by a protocol callback (or a protocol factory), thrown through
 * C++ so that `StreamTransport`'s guard reports it and closes the connection.
 *
 * The loop's C++ exception handler (installed by LoopCore) recognises it and gives Python's
 * exception handler asyncio's context: `exception`, `transport`, `protocol`. Created, copied
 * and destroyed with the GIL held (loop thread).
 */
class PyCallbackError : public std::exception {
 public:
  PyCallbackError(PyRef exception, PyRef transport, PyRef protocol) noexcept
      : exception_(std::move(exception)), transport_(std::move(transport)),
        protocol_(std::move(protocol)) {}
  const char* what() const noexcept override { return "Python protocol callback raised"; }
  PyObject* exception() const noexcept { return exception_.get(); }
  PyObject* transport() const noexcept { return transport_.get(); }
  PyObject* protocol() const noexcept { return protocol_.get(); }

 private:
  PyRef exception_, transport_, protocol_;
};

/// Takes the pending Python error: throws `PyInterrupt` for KeyboardInterrupt/SystemExit,
/// else returns the normalised exception object (with its traceback attached).
PyRef fetch_exception();

/// The exception asyncio passes to `connection_lost`/futures for an error code (OSError
/// subclass chosen by errno); None for no error and for `errc::aborted` (asyncio's abort()).
PyRef exception_from_error(std::error_code ec, const std::string& message = {});

/// An `Endpoint` as the tuple asyncio gives: (host, port), (host, port, flowinfo, scope_id),
/// or the Unix path; None if empty.
PyRef endpoint_to_python(const Endpoint& e);

/**
 * What the C++ adapters of a Python stream protocol share: the Python protocol object, its
 * Python-visible transport, and the callbacks common to `Protocol` and `BufferedProtocol`.
 *
 * Callbacks are looked up when called, as asyncio does, except the per-read ones (cached bound
 * methods called through vectorcall). A Python exception becomes a `PyCallbackError` (the
 * transport reports it and closes), and `connection_lost` then receives that exception, as
 * asyncio's `_fatal_error` passes it on.
 */
class PyProtocolCore {
 public:
  /// `on_lost` (may be null) is called with no arguments after `connection_lost` (a server's
  /// connection count).
  PyProtocolCore(LoopCore* core, PyRef protocol, PyRef on_lost) noexcept
      : core_(core), protocol_(std::move(protocol)), on_lost_(std::move(on_lost)) {}
  virtual ~PyProtocolCore() = default;

  /// The Python transport object for `t` (a new reference), created on first use.
  PyRef transport_object(StreamTransport& t);
  /// Uses an existing Python transport object (protocol switched with set_protocol).
  void set_transport_object(PyRef t) noexcept { transport_ = std::move(t); }
  PyObject* protocol() const noexcept { return protocol_.get(); }
  /// Moves the server's `on_lost` hook to another adapter (set_protocol).
  PyRef take_on_lost() noexcept { return std::move(on_lost_); }

 protected:
  [[noreturn]] void fail();
  void call(const char* method);
  PyRef lookup(const char* method);
  void made(Transport& transport);
  bool eof();
  void lost(std::error_code error);
  /// The bookkeeping after `connection_lost`: tells the Python transport object, calls the
  /// server's `on_lost` hook; returns the transport object (now released).
  PyRef released();

  LoopCore* core_;
  PyRef protocol_;
  PyRef transport_;  // the Python-visible transport, until connection_lost
  PyRef on_lost_;
  PyRef error_;  // the exception a callback raised, for connection_lost
};

/// The adapter for a Python `asyncio.Protocol`: `data_received` gets a new `bytes`.
class PyProtocol final : public Protocol, public PyProtocolCore {
 public:
  PyProtocol(LoopCore* core, PyRef protocol, PyRef on_lost);
  void connection_made(Transport& transport) override { made(transport); }
  void data_received(ConstBuffer data) override;
  bool eof_received() override { return eof(); }
  void connection_lost(std::error_code error) override { lost(error); }
  void pause_writing() override { call("pause_writing"); }
  void resume_writing() override { call("resume_writing"); }

 private:
  PyRef data_received_;  // bound method, cached: the hot path
};

/// The adapter for a Python `asyncio.BufferedProtocol`: reads land in the buffer its
/// `get_buffer` returns, with no copy.
class PyBufferedProtocol final : public BufferedProtocol, public PyProtocolCore {
 public:
  PyBufferedProtocol(LoopCore* core, PyRef protocol, PyRef on_lost);
  ~PyBufferedProtocol() override;
  void connection_made(Transport& transport) override { made(transport); }
  MutableBuffer get_buffer(std::size_t size_hint) override;
  void buffer_updated(std::size_t nbytes) override;
  bool eof_received() override { return eof(); }
  void connection_lost(std::error_code error) override { lost(error); }
  void pause_writing() override { call("pause_writing"); }
  void resume_writing() override { call("resume_writing"); }

 private:
  void release_view() noexcept;
  PyRef get_buffer_, buffer_updated_;  // bound methods, cached
  Py_buffer view_{};
  bool has_view_ = false;
};

/// The adapter matching the Python protocol's kind (asyncio's isinstance check on
/// `BufferedProtocol`). Throws `PyCallbackError` if the protocol lacks its methods.
std::shared_ptr<StreamProtocol> make_adapter(LoopCore* core, PyRef protocol, PyRef on_lost);

/// Sets the Python class instantiated as `cls(handle, loop)` for new transports.
void set_transport_class(PyObject* cls);

/// Registers the handle classes and the connect/serve entry points with Boost.Python.
void register_stream_bindings();

}  // namespace treadle::py
