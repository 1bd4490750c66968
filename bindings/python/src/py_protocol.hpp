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
 * The C++ `Protocol` a stream transport drives on behalf of a Python protocol object.
 *
 * `data_received` builds a `bytes` and calls the cached bound method through vectorcall; the
 * other callbacks are looked up when called, as asyncio does. A Python exception becomes a
 * `PyCallbackError` (the transport reports it and closes), and `connection_lost` then receives
 * that exception, as asyncio's `_fatal_error` passes it on.
 */
class PyProtocol final : public Protocol {
 public:
  /// `on_lost` (may be null) is called with no arguments after `connection_lost` (a server's
  /// connection count). Throws `boost::python::error_already_set` if the lookup fails.
  PyProtocol(LoopCore* core, PyRef protocol, PyRef on_lost);
  ~PyProtocol() override;

  void connection_made(Transport& transport) override;
  void data_received(ConstBuffer data) override;
  bool eof_received() override;
  void connection_lost(std::error_code error) override;
  void pause_writing() override;
  void resume_writing() override;

  /// The Python transport object for `t` (a new reference), created on first use.
  PyRef transport_object(StreamTransport& t);
  /// Uses an existing Python transport object (protocol switched with set_protocol).
  void set_transport_object(PyRef t) noexcept { transport_ = std::move(t); }
  PyObject* protocol() const noexcept { return protocol_.get(); }
  /// Moves the server's `on_lost` hook to another adapter (set_protocol).
  PyRef take_on_lost() noexcept { return std::move(on_lost_); }

 private:
  [[noreturn]] void fail();
  void call(const char* method);

  LoopCore* core_;
  PyRef protocol_;
  PyRef data_received_;  // bound method, cached: the hot path
  PyRef transport_;      // the Python-visible transport, until connection_lost
  PyRef on_lost_;
  PyRef error_;  // the exception a callback raised, for connection_lost
};

/// Sets the Python class instantiated as `cls(handle, loop)` for new transports.
void set_transport_class(PyObject* cls);

/// Registers the handle classes and the connect/serve entry points with Boost.Python.
void register_stream_bindings();

}  // namespace treadle::py
