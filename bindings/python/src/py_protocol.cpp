// bindings/python/src/py_protocol.cpp — Python protocols over C++ stream transports: the
// adapter protocol, the transport and server handles, create_connection and adopted servers.
// Tests: tests/python/test_tcp.py
#include "py_protocol.hpp"

#include "fast_write.hpp"
#include "native_protocols.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <unistd.h>

#include <boost/python.hpp>
#include <utility>
#include <vector>

#include "loop_core.hpp"
#include "treadle/core/error.hpp"
#include "treadle/transports/tcp.hpp"

namespace treadle::py {
namespace bp = boost::python;

namespace {

PyObject* g_transport_class = nullptr;  // treadle._transports.TCPTransport (one reference)

/**
 * A Python reference captured by a C++ callback that may be destroyed on a thread not holding
 * the GIL (a resolver's completion dropped when the loop closes): takes the GIL to let go.
 */
class GilRef {
 public:
  explicit GilRef(PyObject* o = nullptr) noexcept : p_(Py_XNewRef(o)) {}
  GilRef(const GilRef& o) noexcept : p_(nullptr) {
    PyGILState_STATE g = PyGILState_Ensure();
    p_ = Py_XNewRef(o.p_);
    PyGILState_Release(g);
  }
  GilRef& operator=(const GilRef&) = delete;
  ~GilRef() { reset(nullptr); }
  PyObject* get() const noexcept { return p_; }
  void reset(PyObject* o) noexcept {
    if (p_ == nullptr && o == nullptr) return;
    if (!Py_IsInitialized()) {
      p_ = nullptr;
      return;
    }
    PyGILState_STATE g = PyGILState_Ensure();
    Py_XINCREF(o);
    Py_XDECREF(p_);
    p_ = o;
    PyGILState_Release(g);
  }

 private:
  PyObject* p_;
};

// The handles below hold C++ objects that use their loop until they are destroyed, so each
// also holds the Python loop object, released after them (members go in reverse order). The
// reference is one the garbage collector cannot see: a transport's socket, say, collected
// with its loop in one cycle would otherwise be freed after the loop and crash.

/// The Boost.Python object behind a Python transport: keeps the C++ transport alive.
struct StreamHandle {
  PyRef loop;
  std::shared_ptr<StreamTransport> t;
};

/// The Boost.Python object behind one listening socket of a Python server.
struct ServerHandle {
  PyRef loop;
  std::shared_ptr<Server> s;
};

[[noreturn]] void raise_pending() { throw bp::error_already_set(); }

// Runs a call into the C++ transport, turning C++ exceptions into the pending Python error.
template <class F>
auto guarded(F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const bp::error_already_set&) {
    throw;
  } catch (...) {
    set_error_from_current_exception();
    raise_pending();
  }
}

bp::object to_object(PyRef r) {
  if (!r) raise_pending();
  return bp::object(bp::handle<>(r.release()));
}

// -- StreamHandle methods --------------------------------------------------------------------

bp::object handle_peername(StreamHandle& h) {
  const std::any value = h.t->get_extra_info(extra::peername);
  const auto* e = extra_cast<Endpoint>(value);
  return e ? to_object(endpoint_to_python(*e)) : bp::object();
}

bp::object handle_sockname(StreamHandle& h) {
  const std::any value = h.t->get_extra_info(extra::sockname);
  const auto* e = extra_cast<Endpoint>(value);
  return e ? to_object(endpoint_to_python(*e)) : bp::object();
}

int handle_fileno(StreamHandle& h) {
  if (h.t->state() == StreamTransport::State::closed) return -1;
  const std::any value = h.t->get_extra_info(extra::socket);
  const auto* fd = extra_cast<int>(value);
  return fd ? *fd : -1;
}

bp::tuple handle_limits(StreamHandle& h) {
  auto [low, high] = h.t->get_write_buffer_limits();
  return bp::make_tuple(low, high);
}

void handle_set_limits(StreamHandle& h, std::size_t high, std::size_t low) {
  guarded([&] { h.t->set_write_buffer_limits(high, low); });
}

/// loop.sendfile's wait: `callback(exc)` once the write buffer is empty (exc None), or with
/// the error that ended the connection first (ConnectionError if it was closed).
void handle_when_drained(StreamHandle& h, bp::object core_obj, bp::object callback) {
  LoopCore* core = core_of(core_obj.ptr());
  if (core == nullptr) raise_pending();
  h.t->when_drained([core, f = GilRef(callback.ptr())](std::error_code ec) {
    PyRef exc;
    if (ec == errc::aborted) {
      exc = PyRef::steal(
          PyObject_CallFunction(PyExc_ConnectionError, "s", "Connection is closed by peer"));
    } else {
      exc = exception_from_error(ec);
    }
    PyRef r;
    if (exc) r = PyRef::steal(PyObject_CallOneArg(f.get(), exc.get()));
    if (!r) core->report_python_error("Exception in sendfile's drain callback", nullptr);
  });
}

void handle_set_protocol(StreamHandle& h, bp::object core_obj, bp::object transport,
                         bp::object protocol) {
  LoopCore* core = core_of(core_obj.ptr());
  if (core == nullptr) raise_pending();
  PyRef on_lost;
  if (auto old = std::dynamic_pointer_cast<PyProtocolCore>(h.t->get_protocol())) {
    on_lost = old->take_on_lost();
  }
  std::shared_ptr<StreamProtocol> next;
  try {
    next = make_adapter(core, PyRef::borrow(protocol.ptr()), on_lost);
  } catch (const PyCallbackError& e) {
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(e.exception())), e.exception());
    raise_pending();
  }
  std::dynamic_pointer_cast<PyProtocolCore>(next)->set_transport_object(
      PyRef::borrow(transport.ptr()));
  guarded([&] { h.t->set_protocol(next); });
}

// -- connecting and serving ------------------------------------------------------------------

std::shared_ptr<StreamProtocol> make_protocol(LoopCore* core, PyObject* factory,
                                              PyObject* on_lost) {
  PyRef p = PyRef::steal(PyObject_CallNoArgs(factory));
  if (!p) throw PyCallbackError(fetch_exception(), {}, {});
  try {
    return make_adapter(core, std::move(p), PyRef::borrow(on_lost));
  } catch (const PyCallbackError&) {
    // The server counted the connection when its factory returned: uncount it.
    if (on_lost != nullptr) {
      PyRef r = PyRef::steal(PyObject_CallNoArgs(on_lost));
      if (!r) PyErr_Clear();
    }
    throw;
  }
}

/// The factory and completion of one connection attempt made from Python: `done(transport,
/// protocol, exc)` runs on the loop thread. `plain_errors` reports a failure as asyncio's
/// socket call would (strerror only), else with every attempt's address.
std::pair<StreamProtocolFactory, ConnectCallback> connect_callbacks(LoopCore* core,
                                                                    bp::object factory,
                                                                    bp::object done,
                                                                    bool plain_errors) {
  auto stash = std::make_shared<GilRef>();
  StreamProtocolFactory make = [core, f = GilRef(factory.ptr()),
                                stash]() -> std::shared_ptr<StreamProtocol> {
    try {
      return make_protocol(core, f.get(), nullptr);
    } catch (const PyCallbackError& e) {
      stash->reset(e.exception());
      throw;
    }
  };
  ConnectCallback finish = [core, d = GilRef(done.ptr()), stash, plain_errors](Connection c) {
    PyRef transport, protocol, exc;
    if (c.transport) {
      auto p = std::dynamic_pointer_cast<PyProtocolCore>(c.protocol);
      try {
        transport = p->transport_object(*c.transport);
        protocol = PyRef::borrow(p->protocol());
      } catch (const PyCallbackError& e) {
        exc = PyRef::borrow(e.exception());
        transport = protocol = PyRef();
        c.transport->abort();
      }
    } else if (stash->get() != nullptr) {
      exc = PyRef::borrow(stash->get());
    } else {
      exc = exception_from_error(c.error ? c.error : make_error_code(errc::no_address),
                                 plain_errors ? std::string() : c.message);
      if (!exc) exc = fetch_exception();
    }
    PyObject* none = Py_None;
    PyRef r = PyRef::steal(PyObject_CallFunctionObjArgs(d.get(), transport ? transport.get() : none,
                                                        protocol ? protocol.get() : none,
                                                        exc ? exc.get() : none, nullptr));
    if (!r) core->report_python_error("Exception in create_connection() completion", nullptr);
  };
  return {std::move(make), std::move(finish)};
}

void tcp_connect(bp::object core_obj, const std::string& host, int port, bp::object factory,
                 bp::object done, int family, bp::object local_host, int local_port) {
  LoopCore* core = core_of(core_obj.ptr());
  if (core == nullptr) raise_pending();
  ConnectOptions options;
  options.family = family;
  if (!local_host.is_none()) {
    const std::string lh = bp::extract<std::string>(local_host);
    std::error_code ec;
    options.local_address = Endpoint::from_numeric(lh, static_cast<std::uint16_t>(local_port), ec);
    if (ec) {
      PyErr_Format(PyExc_NotImplementedError,
                   "local_addr must be a numeric address for now, got %R", local_host.ptr());
      raise_pending();
    }
  }
  auto [make, finish] = connect_callbacks(core, factory, done, false);
  guarded([&] {
    create_connection(core->loop(), host, static_cast<std::uint16_t>(port), std::move(make),
                      std::move(finish), options);
  });
}

/// Connects to a Unix socket path given as bytes (a leading NUL: the abstract namespace).
void unix_connect(bp::object core_obj, bp::object path, bp::object factory, bp::object done) {
  LoopCore* core = core_of(core_obj.ptr());
  if (core == nullptr) raise_pending();
  char* data = nullptr;
  Py_ssize_t size = 0;
  if (PyBytes_AsStringAndSize(path.ptr(), &data, &size) < 0) raise_pending();
  auto [make, finish] = connect_callbacks(core, factory, done, true);
  guarded([&] {
    create_unix_connection(core->loop(), std::string(data, static_cast<std::size_t>(size)),
                           std::move(make), std::move(finish));
  });
}

/// Wraps a connected stream socket's fd (ownership passes here, also on failure) in a
/// transport for the Python `protocol`; returns the Python transport. `connection_made`
/// follows on a later iteration.
bp::object adopt_stream(bp::object core_obj, int fd, bp::object protocol) {
  LoopCore* core = core_of(core_obj.ptr());
  if (core == nullptr) {
    ::close(fd);
    raise_pending();
  }
  std::shared_ptr<StreamProtocol> adapter;
  try {
    adapter = make_adapter(core, PyRef::borrow(protocol.ptr()), PyRef());
  } catch (const PyCallbackError& e) {
    ::close(fd);
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(e.exception())), e.exception());
    raise_pending();
  }
  std::shared_ptr<StreamTransport> t =
      guarded([&] { return adopt_connection(core->loop(), fd, adapter); });
  auto p = std::dynamic_pointer_cast<PyProtocolCore>(adapter);
  try {
    return to_object(p->transport_object(*t));
  } catch (const PyCallbackError& e) {
    t->abort();
    PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(e.exception())), e.exception());
    raise_pending();
  }
}

ServerHandle adopt_listener(bp::object core_obj, int fd, bp::object factory, bp::object on_lost,
                            int backlog) {
  LoopCore* core = core_of(core_obj.ptr());
  if (core == nullptr) raise_pending();
  ServerOptions options;
  options.backlog = backlog;
  options.start_serving = false;
  StreamProtocolFactory make = [core, f = GilRef(factory.ptr()),
                                l = GilRef(on_lost.ptr())]() -> std::shared_ptr<StreamProtocol> {
    return make_protocol(core, f.get(), l.get());
  };
  return guarded([&] {
    return ServerHandle{PyRef::borrow(core_obj.ptr()),
                        adopt_server(core->loop(), fd, std::move(make), options)};
  });
}

}  // namespace

// -- errors and addresses --------------------------------------------------------------------

PyRef fetch_exception() {
  if (pending_is_interrupt()) throw PyInterrupt();
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  if (value == nullptr) return PyRef::borrow(Py_None);
  return PyRef::steal(value);
}

PyRef exception_from_error(std::error_code ec, const std::string& message) {
  if (!ec || ec == errc::aborted) return PyRef::borrow(Py_None);
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    // OSError(errno, text) is constructed as the matching subclass (ConnectionResetError, ...).
    const std::string text = message.empty() ? ec.message() : message;
    return PyRef::steal(PyObject_CallFunction(PyExc_OSError, "is", ec.value(), text.c_str()));
  }
  if (ec.category() == resolver_category()) {
    // What asyncio's getaddrinfo raises: socket.gaierror(EAI_*, gai_strerror), which code
    // catches by type; the host is not in the message, as there.
    PyRef socket_module = PyRef::steal(PyImport_ImportModule("socket"));
    PyRef gaierror = socket_module
                         ? PyRef::steal(PyObject_GetAttrString(socket_module.get(), "gaierror"))
                         : PyRef();
    if (!gaierror) return PyRef();
    return PyRef::steal(
        PyObject_CallFunction(gaierror.get(), "is", ec.value(), ec.message().c_str()));
  }
  const std::string text = message.empty() ? ec.message() : message;
  return PyRef::steal(PyObject_CallFunction(PyExc_OSError, "s", text.c_str()));
}

PyRef endpoint_to_python(const Endpoint& e) {
  switch (e.family()) {
    case AF_INET:
      return PyRef::steal(Py_BuildValue("(si)", e.host().c_str(), int{e.port()}));
    case AF_INET6: {
      const auto* s6 = reinterpret_cast<const sockaddr_in6*>(e.data());
      return PyRef::steal(Py_BuildValue("(siII)", e.host().c_str(), int{e.port()},
                                        static_cast<unsigned>(ntohl(s6->sin6_flowinfo)),
                                        static_cast<unsigned>(s6->sin6_scope_id)));
    }
    case AF_UNIX: {
      const std::string path = e.host();
      if (!path.empty() && path[0] == '\0') {
        return PyRef::steal(
            PyBytes_FromStringAndSize(path.data(), static_cast<Py_ssize_t>(path.size())));
      }
      return PyRef::steal(
          PyUnicode_DecodeFSDefaultAndSize(path.data(), static_cast<Py_ssize_t>(path.size())));
    }
    default:
      return PyRef::borrow(Py_None);
  }
}

// -- the adapters ----------------------------------------------------------------------------

void PyProtocolCore::fail() {
  PyRef exc = fetch_exception();  // throws PyInterrupt for KeyboardInterrupt/SystemExit
  error_ = exc;
  throw PyCallbackError(std::move(exc), transport_, protocol_);
}

void PyProtocolCore::call(const char* method) {
  PyRef r = PyRef::steal(PyObject_CallMethod(protocol_.get(), method, nullptr));
  if (!r) fail();
}

PyRef PyProtocolCore::lookup(const char* method) {
  PyRef m = PyRef::steal(PyObject_GetAttrString(protocol_.get(), method));
  if (!m) throw PyCallbackError(fetch_exception(), {}, protocol_);
  return m;
}

PyRef PyProtocolCore::transport_object(StreamTransport& t) {
  if (transport_) return transport_;
  if (g_transport_class == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "treadle._transports is not initialised");
    fail();
  }
  try {
    bp::object handle(StreamHandle{PyRef::borrow(core_->self_object()), t.shared_from_this()});
    transport_ = PyRef::steal(PyObject_CallFunctionObjArgs(
        g_transport_class, handle.ptr(), core_->self_object(), protocol_.get(), nullptr));
  } catch (const bp::error_already_set&) {
    transport_ = PyRef();
  }
  if (!transport_) fail();
  return transport_;
}

void PyProtocolCore::made(Transport& transport) {
  PyRef t = transport_object(dynamic_cast<StreamTransport&>(transport));
  PyRef r = PyRef::steal(PyObject_CallMethod(protocol_.get(), "connection_made", "O", t.get()));
  if (!r) fail();
}

bool PyProtocolCore::eof() {
  PyRef r = PyRef::steal(PyObject_CallMethod(protocol_.get(), "eof_received", nullptr));
  if (!r) fail();
  const int truth = PyObject_IsTrue(r.get());
  if (truth < 0) fail();
  return truth != 0;
}

void PyProtocolCore::lost(std::error_code error) {
  PyRef exc = (error == errc::protocol_error && error_) ? error_ : exception_from_error(error);
  if (!exc) fail();
  PyRef r = PyRef::steal(PyObject_CallMethod(protocol_.get(), "connection_lost", "O", exc.get()));
  PyRef raised;
  if (!r) raised = fetch_exception();
  PyRef transport = released();
  if (raised) throw PyCallbackError(std::move(raised), std::move(transport), protocol_);
}

PyRef PyProtocolCore::released() {
  PyRef transport = std::move(transport_);
  if (transport) {
    PyRef done = PyRef::steal(PyObject_CallMethod(transport.get(), "_connection_lost", nullptr));
    if (!done) core_->report_python_error("Exception in transport._connection_lost()", nullptr);
  }
  if (PyRef hook = std::move(on_lost_)) {
    PyRef done = PyRef::steal(PyObject_CallNoArgs(hook.get()));
    if (!done) core_->report_python_error("Exception in server connection tracking", nullptr);
  }
  return transport;
}

PyProtocol::PyProtocol(LoopCore* core, PyRef protocol, PyRef on_lost)
    : PyProtocolCore(core, std::move(protocol), std::move(on_lost)),
      data_received_(lookup("data_received")) {}

void PyProtocol::data_received(ConstBuffer data) {
  PyObject* args[2] = {nullptr,
                       PyBytes_FromStringAndSize(reinterpret_cast<const char*>(data.data()),
                                                 static_cast<Py_ssize_t>(data.size()))};
  if (args[1] == nullptr) fail();
  PyObject* r = PyObject_Vectorcall(data_received_.get(), args + 1,
                                    1 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
  Py_DECREF(args[1]);
  if (r == nullptr) fail();
  Py_DECREF(r);
}

PyBufferedProtocol::PyBufferedProtocol(LoopCore* core, PyRef protocol, PyRef on_lost)
    : PyProtocolCore(core, std::move(protocol), std::move(on_lost)),
      get_buffer_(lookup("get_buffer")),
      buffer_updated_(lookup("buffer_updated")) {}

PyBufferedProtocol::~PyBufferedProtocol() { release_view(); }

void PyBufferedProtocol::release_view() noexcept {
  if (!has_view_) return;
  has_view_ = false;
  PyBuffer_Release(&view_);
}

MutableBuffer PyBufferedProtocol::get_buffer(std::size_t size_hint) {
  release_view();
  PyObject* args[2] = {nullptr, PyLong_FromSize_t(size_hint)};
  if (args[1] == nullptr) fail();
  PyRef buffer = PyRef::steal(PyObject_Vectorcall(get_buffer_.get(), args + 1,
                                                  1 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr));
  Py_DECREF(args[1]);
  if (!buffer) fail();
  // The view holds a reference to the exporter until buffer_updated (or the next read).
  if (PyObject_GetBuffer(buffer.get(), &view_, PyBUF_WRITABLE) < 0) fail();
  has_view_ = true;
  if (view_.len == 0) {
    PyErr_SetString(PyExc_RuntimeError, "get_buffer() returned an empty buffer");
    fail();
  }
  return {static_cast<std::byte*>(view_.buf), static_cast<std::size_t>(view_.len)};
}

void PyBufferedProtocol::buffer_updated(std::size_t nbytes) {
  release_view();
  PyObject* args[2] = {nullptr, PyLong_FromSize_t(nbytes)};
  if (args[1] == nullptr) fail();
  PyObject* r = PyObject_Vectorcall(buffer_updated_.get(), args + 1,
                                    1 | PY_VECTORCALL_ARGUMENTS_OFFSET, nullptr);
  Py_DECREF(args[1]);
  if (r == nullptr) fail();
  Py_DECREF(r);
}

std::shared_ptr<StreamProtocol> make_adapter(LoopCore* core, PyRef protocol, PyRef on_lost) {
  if (auto native = make_native_adapter(core, protocol, on_lost)) return native;
  static PyObject* buffered_cls = nullptr;  // asyncio.BufferedProtocol, kept for good
  if (buffered_cls == nullptr) {
    PyRef mod = PyRef::steal(PyImport_ImportModule("asyncio.protocols"));
    if (mod) buffered_cls = PyObject_GetAttrString(mod.get(), "BufferedProtocol");
    if (buffered_cls == nullptr) throw PyCallbackError(fetch_exception(), {}, protocol);
  }
  const int buffered = PyObject_IsInstance(protocol.get(), buffered_cls);
  if (buffered < 0) throw PyCallbackError(fetch_exception(), {}, protocol);
  if (buffered) {
    return std::make_shared<PyBufferedProtocol>(core, std::move(protocol), std::move(on_lost));
  }
  return std::make_shared<PyProtocol>(core, std::move(protocol), std::move(on_lost));
}

void set_transport_class(PyObject* cls) {
  Py_XINCREF(cls);
  Py_XSETREF(g_transport_class, cls);
}

void register_stream_bindings() {
  bp::class_<StreamHandle>("StreamHandle", "The C++ StreamTransport behind a Python transport.",
                           bp::no_init)
      .def(
          "writer", +[](StreamHandle& h) { return to_object(make_writer(h.t, h.loop)); })
      .def(
          "write_eof", +[](StreamHandle& h) { guarded([&] { h.t->write_eof(); }); })
      .def(
          "close", +[](StreamHandle& h) { guarded([&] { h.t->close(); }); })
      .def(
          "abort", +[](StreamHandle& h) { guarded([&] { h.t->abort(); }); })
      .def(
          "is_closing", +[](StreamHandle& h) { return h.t->is_closing(); })
      .def(
          "pause_reading", +[](StreamHandle& h) { guarded([&] { h.t->pause_reading(); }); })
      .def(
          "resume_reading", +[](StreamHandle& h) { guarded([&] { h.t->resume_reading(); }); })
      .def(
          "is_reading", +[](StreamHandle& h) { return h.t->is_reading(); })
      .def(
          "get_write_buffer_size", +[](StreamHandle& h) { return h.t->get_write_buffer_size(); })
      .def("get_write_buffer_limits", handle_limits)
      .def("set_write_buffer_limits", handle_set_limits)
      .def("when_drained", handle_when_drained)
      .def("set_protocol", handle_set_protocol)
      .def("peername", handle_peername)
      .def("sockname", handle_sockname)
      .def("fileno", handle_fileno);
  bp::class_<ServerHandle>("ServerHandle", "One adopted listening socket of a Python server.",
                           bp::no_init)
      .def(
          "start_serving", +[](ServerHandle& h) { guarded([&] { h.s->start_serving(); }); })
      .def(
          "close", +[](ServerHandle& h) { h.s->close(); })
      .def(
          "is_serving", +[](ServerHandle& h) { return h.s->is_serving(); });
  bp::def("_tcp_connect", tcp_connect,
          "_tcp_connect(loop, host, port, factory, done, family, local_host, local_port)");
  bp::def("_unix_connect", unix_connect,
          "_unix_connect(loop, path_bytes, factory, done) -> None; done(transport, protocol, exc)");
  bp::def("_adopt_stream", adopt_stream,
          "_adopt_stream(loop, fd, protocol) -> transport (fd owned from here, also on failure)");
  bp::def("_adopt_listener", adopt_listener,
          "_adopt_listener(loop, fd, factory, on_lost, backlog) -> ServerHandle (not serving)");
  bp::def(
      "_set_transport_class", +[](bp::object cls) { set_transport_class(cls.ptr()); });
}

}  // namespace treadle::py
