// bindings/python/src/fast_sock.cpp — the loop's sock_* operations in C: argument checks, the
// attempt, and the wait for readiness, with no Python frame between the coroutine and the socket.
// Tests: tests/python/test_sock.py, the conformance suite's test_sock_lowlevel
#include "fast_sock.hpp"

#include <cstdint>

#include "loop_core.hpp"

namespace treadle::py {
namespace {

PyTypeObject* g_op_type = nullptr;
PyObject* g_socket_type = nullptr;      // socket.socket
PyObject* g_ssl_socket_type = nullptr;  // ssl.SSLSocket, or null without ssl
PyObject* s_gettimeout = nullptr;
PyObject* s_fileno = nullptr;
PyObject* s_transports = nullptr;
PyObject* s_ensure_fd = nullptr;
PyObject* s_done = nullptr;
PyObject* s_add_done_callback = nullptr;
PyObject* s_remove_done_callback = nullptr;
PyObject* s_set_result = nullptr;
PyObject* s_set_exception = nullptr;
PyObject* s_send = nullptr;
PyObject* s_create_future = nullptr;

/// What `_sock_io` does besides calling `sock.<method>(*args)`.
enum Kind : int {
  kPlain = 0,    // try, then wait until it does not block
  kRead = 1,     // recv/recv_into: the first attempt is skipped after a short read (see below)
  kSendAll = 2,  // send until everything is sent; the result is None
};

/**
 * One pending operation (type `treadle._treadle._SockOp`).
 *
 * Its one-shot readiness wait holds a reference to it; it is also the future's done-callback,
 * so that cancelling the future removes the wait at once, as asyncio's remove_reader does.
 * When the operation completes it takes itself off the future's callbacks first: completion
 * then schedules nothing extra.
 */
struct SockOp {
  PyObject_HEAD PyObject* loop;  // the Python loop object: keeps `core` alive
  LoopCore* core;
  PyObject* fut;
  PyObject* sock;
  PyObject* method;  // the socket method's name, looked up on every attempt (as asyncio)
  PyObject* args;    // tuple
  Py_ssize_t want;   // kRead: bytes asked for (-1 unknown); kSendAll: total bytes
  Py_ssize_t sent;   // kSendAll: bytes sent so far
  int fd;
  int kind;
  bool writer;
  bool pending;  // a wait is registered
};

std::uint64_t key_of(int fd, bool writer) {
  return (static_cast<std::uint64_t>(static_cast<unsigned>(fd)) << 1) | (writer ? 1u : 0u);
}

bool is_would_block() {
  return PyErr_ExceptionMatches(PyExc_BlockingIOError) ||
         PyErr_ExceptionMatches(PyExc_InterruptedError);
}

/// Calls sock.<method>(*args), or for kSendAll sock.send(<the rest>).
PyObject* attempt(SockOp* op) {
  if (op->kind != kSendAll) {
    PyRef bound = PyRef::steal(PyObject_GetAttr(op->sock, op->method));
    if (!bound) return nullptr;
    return PyObject_Call(bound.get(), op->args, nullptr);
  }
  PyObject* data = PyTuple_GET_ITEM(op->args, 0);
  PyRef rest;
  if (op->sent == 0) {
    rest = PyRef::borrow(data);
  } else {
    PyRef view = PyRef::steal(PyMemoryView_FromObject(data));
    if (!view) return nullptr;
    PyRef bytes_view = PyRef::steal(PyObject_CallMethod(view.get(), "cast", "s", "B"));
    if (!bytes_view) return nullptr;
    rest = PyRef::steal(PySequence_GetSlice(bytes_view.get(), op->sent, op->want));
    if (!rest) return nullptr;
  }
  return PyObject_CallMethodOneArg(op->sock, s_send, rest.get());
}

Py_ssize_t result_size(PyObject* result) {
  if (PyBytes_Check(result)) return PyBytes_GET_SIZE(result);
  if (PyLong_Check(result)) return PyLong_AsSsize_t(result);
  return -1;
}

/// Applies a successful attempt: true if the operation is complete with `*out`.
bool absorb(SockOp* op, PyObject* result, PyObject** out) {
  if (op->kind == kSendAll) {
    const Py_ssize_t n = PyLong_AsSsize_t(result);
    Py_DECREF(result);
    if (n < 0 && PyErr_Occurred()) return false;
    op->sent += n;
    if (op->sent < op->want) return false;
    *out = Py_NewRef(Py_None);
    return true;
  }
  if (op->kind == kRead && op->want > 0) {
    // A read that did not fill the buffer most likely emptied the socket: the next read on
    // this fd waits for readiness first instead of failing with EAGAIN (as Asio's reactor
    // does). A full read keeps trying first. Either way the bytes and their order are the same.
    const Py_ssize_t n = result_size(result);
    if (n < 0) PyErr_Clear();
    op->core->set_sock_read_hint(op->fd, n >= 0 && n < op->want);
  }
  *out = result;
  return true;
}

bool register_wait(SockOp* op);

/// Resolves the future with `method(value)` (set_result or set_exception).
void finish(SockOp* op, PyObject* method, PyObject* value) {
  // Off the done-callbacks first, so that completing schedules nothing more.
  PyRef r = PyRef::steal(
      PyObject_CallMethodOneArg(op->fut, s_remove_done_callback, reinterpret_cast<PyObject*>(op)));
  if (r) r = PyRef::steal(PyObject_CallMethodOneArg(op->fut, method, value));
  if (!r) op->core->report_python_error("sock_* completion failed", Py_None);
}

/// The readiness callback (runs with the GIL, on the loop's thread).
void on_ready(SockOp* op) {
  op->pending = false;
  op->core->forget_sock_wait(key_of(op->fd, op->writer), reinterpret_cast<PyObject*>(op));
  PyRef done = PyRef::steal(PyObject_CallMethodNoArgs(op->fut, s_done));
  if (!done) {
    op->core->report_python_error(nullptr, Py_None);
    return;
  }
  if (done.get() == Py_True) return;  // cancelled; the done-callback will find nothing to do
  PyObject* result = attempt(op);
  PyObject* out = nullptr;
  if (result != nullptr) {
    if (absorb(op, result, &out)) {
      finish(op, s_set_result, out);
      Py_DECREF(out);
      return;
    }
    if (!PyErr_Occurred()) {  // kSendAll, not finished: wait again
      if (!register_wait(op)) op->core->report_python_error(nullptr, Py_None);
      return;
    }
  }
  if (is_would_block()) {
    PyErr_Clear();
    if (!register_wait(op)) op->core->report_python_error(nullptr, Py_None);
    return;
  }
  if (pending_is_interrupt()) {
    // asyncio's callback re-raises these out of run_forever and stays registered: so does
    // this one, and the operation is attempted again when the loop runs again.
    PyInterrupt interrupt;
    if (!register_wait(op)) PyErr_Clear();
    throw interrupt;
  }
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr) PyException_SetTraceback(value, tb);
  PyRef exc = PyRef::steal(value);
  Py_XDECREF(type);
  Py_XDECREF(tb);
  finish(op, s_set_exception, exc.get());
}

bool register_wait(SockOp* op) {
  PyRef keep = PyRef::borrow(reinterpret_cast<PyObject*>(op));
  auto callback = [keep] { on_ready(reinterpret_cast<SockOp*>(keep.get())); };
  try {
    if (op->writer) {
      op->core->loop().wait_writable(op->fd, std::move(callback));
    } else {
      op->core->loop().wait_readable(op->fd, std::move(callback));
    }
  } catch (...) {
    set_error_from_current_exception();
    return false;
  }
  op->pending = true;
  op->core->own_sock_wait(key_of(op->fd, op->writer), reinterpret_cast<PyObject*>(op), !op->writer,
                          op->fd);
  return true;
}

// -- the _SockOp type ------------------------------------------------------------------------

/// Called by the future when it is done (so, for a completed operation, only if cancelled):
/// removes the wait if it is still this operation's.
PyObject* op_call(PyObject* self, PyObject*, PyObject*) {
  auto* op = reinterpret_cast<SockOp*>(self);
  if (op->pending && op->core->forget_sock_wait(key_of(op->fd, op->writer), self)) {
    op->pending = false;
    if (op->writer) {
      op->core->remove_writer(op->fd);
    } else {
      op->core->remove_reader(op->fd);
    }
  }
  Py_RETURN_NONE;
}

int op_traverse(PyObject* self, visitproc visit, void* arg) {
  auto* op = reinterpret_cast<SockOp*>(self);
  Py_VISIT(op->loop);
  Py_VISIT(op->fut);
  Py_VISIT(op->sock);
  Py_VISIT(op->args);
  Py_VISIT(Py_TYPE(self));
  return 0;
}

int op_clear(PyObject* self) {
  auto* op = reinterpret_cast<SockOp*>(self);
  Py_CLEAR(op->fut);
  Py_CLEAR(op->sock);
  Py_CLEAR(op->args);
  Py_CLEAR(op->method);
  Py_CLEAR(op->loop);
  return 0;
}

void op_dealloc(PyObject* self) {
  PyObject_GC_UnTrack(self);
  op_clear(self);
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyType_Slot op_slots[] = {
    {Py_tp_call, reinterpret_cast<void*>(op_call)},
    {Py_tp_traverse, reinterpret_cast<void*>(op_traverse)},
    {Py_tp_clear, reinterpret_cast<void*>(op_clear)},
    {Py_tp_dealloc, reinterpret_cast<void*>(op_dealloc)},
    {Py_tp_doc, const_cast<char*>("One pending loop.sock_* operation (internal).")},
    {0, nullptr}};

PyType_Spec op_spec = {"treadle._treadle._SockOp", sizeof(SockOp), 0,
                       Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                       op_slots};

// -- _sock_io ----------------------------------------------------------------------------------

/// asyncio's checks on a sock_* argument, with asyncio's messages; then the fd, refused if a
/// live transport of this loop owns it. Every sock_* method checks through here.
int checked_fd(PyObject* loop, PyObject* sock) {
  int r = PyObject_IsInstance(sock, g_socket_type);
  if (r < 0) return -1;
  if (r == 0) {
    PyErr_Format(PyExc_TypeError, "a socket.socket was expected, got %R", sock);
    return -1;
  }
  if (g_ssl_socket_type != nullptr) {
    r = PyObject_IsInstance(sock, g_ssl_socket_type);
    if (r != 0) {
      if (r > 0) PyErr_SetString(PyExc_TypeError, "Socket cannot be of type SSLSocket");
      return -1;
    }
  }
  PyRef timeout = PyRef::steal(PyObject_CallMethodNoArgs(sock, s_gettimeout));
  if (!timeout) return -1;
  if (timeout.get() == Py_None || PyFloat_AsDouble(timeout.get()) != 0.0) {
    if (PyErr_Occurred()) return -1;
    PyErr_SetString(PyExc_ValueError, "the socket must be non-blocking");
    return -1;
  }
  PyRef transports = PyRef::steal(PyObject_GetAttr(loop, s_transports));
  if (!transports) return -1;
  if (!PyDict_Check(transports.get()) || PyDict_GET_SIZE(transports.get()) != 0) {
    // Some transport is alive: the Python check, with its messages.
    PyRef fd = PyRef::steal(PyObject_CallMethodOneArg(loop, s_ensure_fd, sock));
    if (!fd) return -1;
    const long n = PyLong_AsLong(fd.get());
    if (n == -1 && PyErr_Occurred()) return -1;
    return n >= 0 && n <= INT32_MAX ? static_cast<int>(n) : -1;
  }
  PyRef fd = PyRef::steal(PyObject_CallMethodNoArgs(sock, s_fileno));
  if (!fd) return -1;
  const long n = PyLong_AsLong(fd.get());
  if (n == -1 && PyErr_Occurred()) return -1;
  if (n < 0 || n > INT32_MAX) {
    PyErr_Format(PyExc_ValueError, "Invalid file descriptor: %ld", n);
    return -1;
  }
  return static_cast<int>(n);
}

/// loop.create_future(), through the method as asyncio's sock_* do (a subclass may override it).
PyObject* new_future(PyObject* loop) { return PyObject_CallMethodNoArgs(loop, s_create_future); }

PyObject* done_future(PyObject* loop, PyObject* result) {
  PyRef fut = PyRef::steal(new_future(loop));
  if (!fut) return nullptr;
  PyRef r = PyRef::steal(PyObject_CallMethodOneArg(fut.get(), s_set_result, result));
  if (!r) return nullptr;
  return fut.release();
}

Py_ssize_t read_size_wanted(PyObject* method, PyObject* args) {
  // recv(n[, flags]) and recv_into(buffer[, nbytes[, flags]]); -1 when unknown.
  if (PyTuple_GET_SIZE(args) < 1) return -1;
  Py_ssize_t want = -1;
  if (PyUnicode_CompareWithASCIIString(method, "recv") == 0) {
    want = PyNumber_AsSsize_t(PyTuple_GET_ITEM(args, 0), nullptr);
  } else if (PyTuple_GET_SIZE(args) >= 2) {
    want = PyNumber_AsSsize_t(PyTuple_GET_ITEM(args, 1), nullptr);
  }
  if (want == 0 && PyTuple_GET_SIZE(args) >= 1) want = PyObject_Length(PyTuple_GET_ITEM(args, 0));
  if (want <= 0 || PyErr_Occurred()) {
    PyErr_Clear();
    return -1;
  }
  return want;
}

/// `loop._sock_io(sock, kind, method, args) -> Future`: checks `sock`, attempts the operation
/// (unless kRead's hint says the socket is empty) and, if it would block, waits for readiness
/// and attempts it again, resolving the future with the result or the exception.
PyObject* sock_io(PyObject* self, PyObject* const* argv, Py_ssize_t nargs) {
  if (nargs != 4 || !PyLong_Check(argv[1]) || !PyUnicode_Check(argv[2]) ||
      !PyTuple_Check(argv[3])) {
    PyErr_SetString(PyExc_TypeError, "_sock_io(sock, kind, method, args)");
    return nullptr;
  }
  LoopCore* core = core_of(self);
  if (core == nullptr) return nullptr;
  if (core->is_closed()) {
    PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
    return nullptr;
  }
  if (core->debug() && !core->check_thread()) return nullptr;
  PyObject* sock = argv[0];
  const int kind = static_cast<int>(PyLong_AsLong(argv[1]));
  const int fd = checked_fd(self, sock);
  if (fd < 0) return nullptr;

  Py_ssize_t want = -1;
  if (kind == kRead) want = read_size_wanted(argv[2], argv[3]);
  if (kind == kSendAll) {
    if (PyTuple_GET_SIZE(argv[3]) != 1) {
      PyErr_SetString(PyExc_TypeError, "sendall takes one argument");
      return nullptr;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(PyTuple_GET_ITEM(argv[3], 0), &view, PyBUF_SIMPLE) != 0) {
      return nullptr;
    }
    want = view.len;
    PyBuffer_Release(&view);
  }
  const bool writer = kind == kSendAll || PyUnicode_CompareWithASCIIString(argv[2], "sendto") == 0;

  auto* op = reinterpret_cast<SockOp*>(PyType_GenericAlloc(g_op_type, 0));
  if (op == nullptr) return nullptr;
  PyRef op_ref = PyRef::steal(reinterpret_cast<PyObject*>(op));
  op->loop = Py_NewRef(self);
  op->core = core;
  op->sock = Py_NewRef(sock);
  op->method = Py_NewRef(argv[2]);
  op->args = Py_NewRef(argv[3]);
  op->want = want;
  op->fd = fd;
  op->kind = kind;
  op->writer = writer;

  if (!(kind == kRead && core->sock_read_hint(fd))) {
    PyObject* result = attempt(op);
    PyObject* out = nullptr;
    if (result != nullptr) {
      if (absorb(op, result, &out)) {
        PyRef keep = PyRef::steal(out);
        return done_future(self, out);
      }
      if (PyErr_Occurred()) return nullptr;
    } else if (is_would_block()) {
      PyErr_Clear();
      if (kind == kRead) core->set_sock_read_hint(fd, true);
    } else {
      return nullptr;
    }
  }
  op->fut = new_future(self);
  if (op->fut == nullptr) return nullptr;
  PyRef r = PyRef::steal(
      PyObject_CallMethodOneArg(op->fut, s_add_done_callback, reinterpret_cast<PyObject*>(op)));
  if (!r || !register_wait(op)) return nullptr;
  return Py_NewRef(op->fut);
}

/// `loop._check_sock(sock) -> int`: `checked_fd` for the sock_* methods written in Python
/// (sock_connect, sock_sendfile), so that every sock_* method checks its socket the same way.
PyObject* check_sock(PyObject* self, PyObject* sock) {
  const int fd = checked_fd(self, sock);
  return fd < 0 ? nullptr : PyLong_FromLong(fd);
}

PyMethodDef sock_methods[] = {
    {"_sock_io", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(sock_io)),
     METH_FASTCALL,
     "_sock_io(sock, kind, method, args) -> Future\n\n"
     "The body of the sock_* coroutines (internal): kind 0 calls sock.<method>(*args) until it "
     "does not block, 1 likewise for recv/recv_into (see fast_sock.cpp), 2 sends all of "
     "args[0]."},
    {"_check_sock", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(check_sock)), METH_O,
     "_check_sock(sock) -> int\n\n"
     "asyncio's checks on a sock_* argument (a non-blocking socket.socket, not an SSLSocket, "
     "not owned by a transport of this loop); returns its fd (internal)."},
    {nullptr, nullptr, 0, nullptr}};

PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }

}  // namespace

bool install_sock_methods(PyObject* cls) {
  PyRef socket_mod = PyRef::steal(PyImport_ImportModule("socket"));
  if (!socket_mod) return false;
  g_socket_type = PyObject_GetAttrString(socket_mod.get(), "socket");
  if (g_socket_type == nullptr) return false;
  PyRef ssl_mod = PyRef::steal(PyImport_ImportModule("ssl"));
  if (ssl_mod) {
    g_ssl_socket_type = PyObject_GetAttrString(ssl_mod.get(), "SSLSocket");
  }
  PyErr_Clear();  // no ssl module: no SSLSocket to refuse
  s_gettimeout = intern("gettimeout");
  s_fileno = intern("fileno");
  s_transports = intern("_transports");
  s_ensure_fd = intern("_ensure_fd_no_transport");
  s_done = intern("done");
  s_add_done_callback = intern("add_done_callback");
  s_remove_done_callback = intern("remove_done_callback");
  s_set_result = intern("set_result");
  s_set_exception = intern("set_exception");
  s_send = intern("send");
  s_create_future = intern("create_future");
  g_op_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&op_spec));
  if (g_op_type == nullptr) return false;
  for (PyMethodDef* def = sock_methods; def->ml_name != nullptr; ++def) {
    PyRef descr = PyRef::steal(PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls), def));
    if (!descr || PyObject_SetAttrString(cls, def->ml_name, descr.get()) != 0) return false;
  }
  return true;
}

}  // namespace treadle::py
