// bindings/python/src/fast_sockopt.cpp — getsockopt/setsockopt on a bare fd, as
// socket.socket's methods behave (Modules/socketmodule.c is the reference).
// Tests: tests/python/test_tcp.py (test_transport_socket_*)
#include "fast_sockopt.hpp"

#include <sys/socket.h>

#include <climits>

namespace treadle::py {
namespace {

// The largest option getsockopt() returns as bytes, as in CPython.
constexpr long kMaxOptionBytes = 1024;

bool as_int(PyObject* o, int& out) {
  const long v = PyLong_AsLong(o);
  if (v == -1 && PyErr_Occurred()) return false;
  if (v < INT_MIN || v > INT_MAX) {  // CPython's messages for an "i" argument
    PyErr_SetString(PyExc_OverflowError, v < INT_MIN ? "signed integer is less than minimum"
                                                     : "signed integer is greater than maximum");
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

PyObject* get_sockopt(PyObject*, PyObject* const* args, Py_ssize_t n) {
  if (n < 3 || n > 4) {
    PyErr_Format(PyExc_TypeError, "getsockopt() takes at %s %d arguments (%zd given)",
                 n < 3 ? "least" : "most", n < 3 ? 2 : 3, n - 1);
    return nullptr;
  }
  int fd = 0;
  int level = 0;
  int name = 0;
  int buflen = 0;
  if (!as_int(args[0], fd) || !as_int(args[1], level) || !as_int(args[2], name) ||
      (n == 4 && !as_int(args[3], buflen))) {
    return nullptr;
  }
  if (buflen == 0) {
    int flag = 0;
    socklen_t size = sizeof flag;
    if (::getsockopt(fd, level, name, &flag, &size) < 0) return PyErr_SetFromErrno(PyExc_OSError);
    return PyLong_FromLong(flag);
  }
  if (buflen < 0 || buflen > kMaxOptionBytes) {
    PyErr_SetString(PyExc_OSError, "getsockopt buflen out of range");
    return nullptr;
  }
  PyRef bytes = PyRef::steal(PyBytes_FromStringAndSize(nullptr, buflen));
  if (!bytes) return nullptr;
  auto size = static_cast<socklen_t>(buflen);
  if (::getsockopt(fd, level, name, PyBytes_AS_STRING(bytes.get()), &size) < 0) {
    return PyErr_SetFromErrno(PyExc_OSError);
  }
  PyObject* out = bytes.release();
  if (_PyBytes_Resize(&out, static_cast<Py_ssize_t>(size)) < 0) return nullptr;
  return out;
}

PyObject* set_sockopt(PyObject*, PyObject* const* args, Py_ssize_t n) {
  // CPython names the 3-argument form whenever the 4-argument one does not apply.
  if (n != 4 && !(n == 5 && args[3] == Py_None)) {
    PyErr_Format(PyExc_TypeError, "setsockopt() takes exactly 3 arguments (%zd given)", n - 1);
    return nullptr;
  }
  int fd = 0;
  int level = 0;
  int name = 0;
  if (!as_int(args[0], fd) || !as_int(args[1], level) || !as_int(args[2], name)) return nullptr;
  PyObject* value = args[3];
  int rc = 0;
  int flag = 0;
  if (n == 5) {  // setsockopt(level, optname, None, optlen): a null option of that length
    const unsigned long optlen = PyLong_AsUnsignedLong(args[4]);
    if (optlen == static_cast<unsigned long>(-1) && PyErr_Occurred()) return nullptr;
    rc = ::setsockopt(fd, level, name, nullptr, static_cast<socklen_t>(optlen));
  } else if (PyLong_Check(value) && as_int(value, flag)) {
    rc = ::setsockopt(fd, level, name, &flag, sizeof flag);
  } else {
    // Not an int, or one out of range: CPython then takes the value as bytes, and refuses
    // it with "a bytes-like object is required".
    PyErr_Clear();
    Py_buffer view;
    if (PyObject_GetBuffer(value, &view, PyBUF_SIMPLE) < 0) return nullptr;
    rc = ::setsockopt(fd, level, name, view.buf, static_cast<socklen_t>(view.len));
    PyBuffer_Release(&view);
  }
  if (rc < 0) return PyErr_SetFromErrno(PyExc_OSError);
  Py_RETURN_NONE;
}

PyMethodDef sockopt_functions[] = {
    {"_getsockopt", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(get_sockopt)),
     METH_FASTCALL,
     "_getsockopt(fd, level, optname[, buflen]) -> int or bytes\n\n"
     "socket.socket.getsockopt on a bare fd (internal)."},
    {"_setsockopt", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(set_sockopt)),
     METH_FASTCALL,
     "_setsockopt(fd, level, optname, value) or (fd, level, optname, None, optlen)\n\n"
     "socket.socket.setsockopt on a bare fd (internal)."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

bool install_sockopt_functions(PyObject* module) {
  return PyModule_AddFunctions(module, sockopt_functions) == 0;
}

}  // namespace treadle::py
