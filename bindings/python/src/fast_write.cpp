// bindings/python/src/fast_write.cpp — the Writer type behind transport.write/writelines.
// Tests: tests/python/test_tcp.py, tests/python/test_bad_input.py
#include "fast_write.hpp"

#include <new>
#include <system_error>
#include <utility>
#include <vector>

#include "treadle/core/error.hpp"

namespace treadle::py {
namespace {

struct WriterObject {
  PyObject_HEAD std::shared_ptr<StreamTransport> transport;
  PyObject* loop;  // released after the transport (see StreamHandle in py_protocol.cpp)
  bool sendfile_busy;
};

PyTypeObject* g_writer_type = nullptr;

/// Releases the Py_buffers it collected, whatever happens.
class Views {
 public:
  Views() = default;
  Views(const Views&) = delete;
  Views& operator=(const Views&) = delete;
  ~Views() {
    for (auto& v : views_) PyBuffer_Release(&v);
  }
  /// Adds `o`'s bytes; false with a Python error set.
  bool add(PyObject* o) {
    if (!PyObject_CheckBuffer(o)) {
      PyErr_Format(PyExc_TypeError, "data argument must be a bytes-like object, not '%.100s'",
                   Py_TYPE(o)->tp_name);
      return false;
    }
    views_.emplace_back();
    if (PyObject_GetBuffer(o, &views_.back(), PyBUF_SIMPLE) < 0) {
      views_.pop_back();
      return false;
    }
    const Py_buffer& v = views_.back();
    buffers_.emplace_back(static_cast<const std::byte*>(v.buf), static_cast<std::size_t>(v.len));
    return true;
  }
  ConstBufferSequence buffers() const noexcept { return buffers_; }
  void reserve(std::size_t n) {
    views_.reserve(n);
    buffers_.reserve(n);
  }

 private:
  std::vector<Py_buffer> views_;
  std::vector<ConstBuffer> buffers_;
};

bool check_busy(WriterObject* w) {
  if (!w->sendfile_busy) return true;
  PyErr_SetString(PyExc_RuntimeError, "unable to write; sendfile is in progress");
  return false;
}

PyObject* hand_over(WriterObject* w, ConstBufferSequence buffers) {
  try {
    w->transport->writev(buffers);
  } catch (const std::system_error& e) {
    if (e.code() == errc::closed) {
      PyErr_SetString(PyExc_RuntimeError, "Cannot call write() after write_eof()");
    } else {
      set_error_from_current_exception();
    }
    return nullptr;
  } catch (...) {
    set_error_from_current_exception();
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* writer_write(PyObject* self, PyObject* data) {
  auto* w = reinterpret_cast<WriterObject*>(self);
  if (!check_busy(w)) return nullptr;
  // The common case, bytes: no buffer protocol round trip.
  if (PyBytes_CheckExact(data)) {
    const ConstBuffer b(reinterpret_cast<const std::byte*>(PyBytes_AS_STRING(data)),
                        static_cast<std::size_t>(PyBytes_GET_SIZE(data)));
    return hand_over(w, {&b, 1});
  }
  Views views;
  if (!views.add(data)) return nullptr;
  return hand_over(w, views.buffers());
}

PyObject* writer_writelines(PyObject* self, PyObject* seq) {
  auto* w = reinterpret_cast<WriterObject*>(self);
  if (!check_busy(w)) return nullptr;
  PyRef fast = PyRef::steal(PySequence_Fast(seq, "writelines() expects an iterable"));
  if (!fast) return nullptr;
  const Py_ssize_t n = PySequence_Fast_GET_SIZE(fast.get());
  Views views;
  views.reserve(static_cast<std::size_t>(n));
  for (Py_ssize_t i = 0; i < n; ++i) {
    if (!views.add(PySequence_Fast_GET_ITEM(fast.get(), i))) return nullptr;
  }
  return hand_over(w, views.buffers());
}

PyObject* writer_set_sendfile_busy(PyObject* self, PyObject* flag) {
  const int truth = PyObject_IsTrue(flag);
  if (truth < 0) return nullptr;
  reinterpret_cast<WriterObject*>(self)->sendfile_busy = truth != 0;
  Py_RETURN_NONE;
}

PyObject* writer_is_closing(PyObject* self, PyObject* /*unused*/) {
  return PyBool_FromLong(reinterpret_cast<WriterObject*>(self)->transport->is_closing() ? 1 : 0);
}

void writer_dealloc(PyObject* self) {
  auto* w = reinterpret_cast<WriterObject*>(self);
  w->transport.~shared_ptr();
  Py_XDECREF(w->loop);
  PyTypeObject* type = Py_TYPE(self);
  type->tp_free(self);
  Py_DECREF(type);
}

PyMethodDef writer_methods[] = {
    {"write", writer_write, METH_O, "write(data): queue a bytes-like object (asyncio's)."},
    {"writelines", writer_writelines, METH_O,
     "writelines(list_of_data): queue every bytes-like object, as one gather write."},
    {"is_closing", writer_is_closing, METH_NOARGS,
     "is_closing(): True once the transport is closing or closed (asyncio's)."},
    {"set_sendfile_busy", writer_set_sendfile_busy, METH_O,
     "set_sendfile_busy(flag): make write()/writelines() raise while loop.sendfile runs."},
    {nullptr, nullptr, 0, nullptr}};

PyType_Slot writer_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(writer_dealloc)},
    {Py_tp_methods, writer_methods},
    {Py_tp_doc, const_cast<char*>("The C write path of one treadle transport.")},
    {0, nullptr}};

PyType_Spec writer_spec = {"treadle._treadle.Writer", sizeof(WriterObject), 0,
                           Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION, writer_slots};

}  // namespace

PyRef make_writer(std::shared_ptr<StreamTransport> t, const PyRef& loop) {
  PyObject* o = g_writer_type->tp_alloc(g_writer_type, 0);
  if (o == nullptr) return {};
  auto* w = reinterpret_cast<WriterObject*>(o);
  new (&w->transport) std::shared_ptr<StreamTransport>(std::move(t));
  w->loop = PyRef(loop).release();
  w->sendfile_busy = false;
  return PyRef::steal(o);
}

bool init_writer_type(PyObject* module) {
  g_writer_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&writer_spec));
  if (g_writer_type == nullptr) return false;
  Py_INCREF(g_writer_type);
  return PyModule_AddObject(module, "Writer", reinterpret_cast<PyObject*>(g_writer_type)) == 0;
}

}  // namespace treadle::py
