// bindings/python/src/py_handle.cpp — running a Python callback from the loop; the Handle and
// TimerHandle types (cancel, cancelled, when, get_context) built with the C API.
// Tests: tests/python/test_call_soon.py, tests/python/test_timers.py
#include "py_handle.hpp"

#include <new>

#include "loop_core.hpp"

namespace treadle::py {
namespace {

struct HandleObject {
  PyObject_HEAD PyHandle* impl;  // one reference (add_ref), released by dealloc
};

PyTypeObject* g_handle_type = nullptr;
PyTypeObject* g_timer_type = nullptr;

PyHandle* impl_of(PyObject* self) { return reinterpret_cast<HandleObject*>(self)->impl; }

void handle_dealloc(PyObject* self) {
  PyTypeObject* type = Py_TYPE(self);
  PyHandle* impl = impl_of(self);
  if (impl->wrapper_ == self) impl->wrapper_ = nullptr;
  impl->release();
  PyObject_Free(self);
  Py_DECREF(type);  // heap types are referenced by their instances
}

PyObject* handle_cancel(PyObject* self, PyObject*) {
  impl_of(self)->cancel();
  Py_RETURN_NONE;
}

PyObject* handle_cancelled(PyObject* self, PyObject*) {
  return PyBool_FromLong(impl_of(self)->cancelled());
}

PyObject* handle_get_context(PyObject* self, PyObject*) {
  PyObject* ctx = impl_of(self)->context();
  if (ctx == nullptr) Py_RETURN_NONE;
  return Py_NewRef(ctx);
}

PyObject* handle_when(PyObject* self, PyObject*) { return PyFloat_FromDouble(impl_of(self)->when); }

// `_run()` exists because some libraries (and asyncio's own tests) call it directly.
PyObject* handle_run(PyObject* self, PyObject*) {
  try {
    impl_of(self)->invoke();
  } catch (...) {
    set_error_from_current_exception();
    return nullptr;
  }
  Py_RETURN_NONE;
}

PyObject* handle_get_callback(PyObject* self, void*) {
  PyObject* cb = impl_of(self)->callback();
  if (cb == nullptr) Py_RETURN_NONE;
  return Py_NewRef(cb);
}

PyObject* handle_get_args(PyObject* self, void*) {
  if (impl_of(self)->callback() == nullptr) Py_RETURN_NONE;
  return impl_of(self)->args_tuple();
}

// repr in asyncio's shape: <Handle cancelled func(args) ...>, via the loop's Python helper.
PyObject* handle_repr(PyObject* self) {
  PyHandle* h = impl_of(self);
  PyObject* fmt = PyImport_ImportModule("asyncio.format_helpers");
  if (fmt == nullptr) return nullptr;
  PyRef mod = PyRef::steal(fmt);
  std::string s = "<";
  s += Py_TYPE(self)->tp_name;
  if (h->cancelled()) s += " cancelled";
  if (h->is_timer()) s += " when=" + std::to_string(h->when);
  PyObject* cb = h->callback();
  if (cb != nullptr) {
    PyRef args = PyRef::steal(h->args_tuple());
    if (!args) return nullptr;
    PyRef text = PyRef::steal(
        PyObject_CallMethod(mod.get(), "_format_callback_source", "OO", cb, args.get()));
    if (!text) return nullptr;
    const char* utf8 = PyUnicode_AsUTF8(text.get());
    if (utf8 == nullptr) return nullptr;
    s += " ";
    s += utf8;
  }
  s += ">";
  return PyUnicode_FromString(s.c_str());
}

// TimerHandles order and compare by deadline, as asyncio's do.
PyObject* timer_richcompare(PyObject* a, PyObject* b, int op) {
  if (!PyObject_TypeCheck(b, g_timer_type)) Py_RETURN_NOTIMPLEMENTED;
  const double x = impl_of(a)->when;
  const double y = impl_of(b)->when;
  if (op == Py_EQ || op == Py_NE) {
    const bool same = impl_of(a) == impl_of(b);
    return PyBool_FromLong(op == Py_EQ ? same : !same);
  }
  Py_RETURN_RICHCOMPARE(x, y, op);
}

Py_hash_t handle_hash(PyObject* self) { return _Py_HashPointer(impl_of(self)); }

PyMethodDef handle_methods[] = {
    {"cancel", handle_cancel, METH_NOARGS, "Cancel the callback; a no-op if it already ran."},
    {"cancelled", handle_cancelled, METH_NOARGS, "True once cancel() was called."},
    {"get_context", handle_get_context, METH_NOARGS,
     "The contextvars.Context the callback runs in."},
    {"_run", handle_run, METH_NOARGS, "Run the callback now (asyncio compatibility)."},
    {nullptr, nullptr, 0, nullptr}};

PyMethodDef timer_methods[] = {
    {"when", handle_when, METH_NOARGS, "The scheduled time, in loop.time() seconds."},
    {nullptr, nullptr, 0, nullptr}};

PyGetSetDef handle_getset[] = {
    {"_callback", handle_get_callback, nullptr, "The callback (None once cancelled).", nullptr},
    {"_args", handle_get_args, nullptr, "The arguments (None once cancelled).", nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr}};

PyType_Slot handle_slots[] = {
    {Py_tp_dealloc, reinterpret_cast<void*>(handle_dealloc)},
    {Py_tp_methods, handle_methods},
    {Py_tp_getset, handle_getset},
    {Py_tp_repr, reinterpret_cast<void*>(handle_repr)},
    {Py_tp_hash, reinterpret_cast<void*>(handle_hash)},
    {Py_tp_doc, const_cast<char*>("A callback scheduled by call_soon() or call_soon_threadsafe()"
                                  " (asyncio.Handle's API).")},
    {0, nullptr}};

PyType_Slot timer_slots[] = {
    {Py_tp_methods, timer_methods},
    {Py_tp_richcompare, reinterpret_cast<void*>(timer_richcompare)},
    {Py_tp_hash, reinterpret_cast<void*>(handle_hash)},
    {Py_tp_doc, const_cast<char*>("A callback scheduled by call_later() or call_at()"
                                  " (asyncio.TimerHandle's API).")},
    {0, nullptr}};

PyType_Spec handle_spec = {"treadle.Handle", sizeof(HandleObject), 0,
                           Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE, handle_slots};
PyType_Spec timer_spec = {"treadle.TimerHandle", sizeof(HandleObject), 0, Py_TPFLAGS_DEFAULT,
                          timer_slots};

}  // namespace

void* PyHandle::operator new(std::size_t n) {
  void* p = PyObject_Malloc(n);
  if (p == nullptr) throw std::bad_alloc();
  return p;
}

void PyHandle::operator delete(void* p) noexcept { PyObject_Free(p); }

PyHandle::PyHandle(LoopCore* loop, PyObject* callback, PyObject* const* args, Py_ssize_t nargs,
                   PyObject* context, bool timer) noexcept
    : loop_(loop), callback_(Py_NewRef(callback)), context_(context), nargs_(nargs), timer_(timer) {
  if (nargs <= kInline) {
    for (Py_ssize_t i = 0; i < nargs; ++i) inline_[i] = Py_NewRef(args[i]);
  } else {
    // Rare; a failed allocation leaves a null tuple, which args_tuple()/invoke() report.
    tuple_ = PyTuple_New(nargs);
    if (tuple_ != nullptr) {
      for (Py_ssize_t i = 0; i < nargs; ++i) PyTuple_SET_ITEM(tuple_, i, Py_NewRef(args[i]));
    }
  }
}

PyHandle::~PyHandle() {
  drop();
  Py_CLEAR(context_);
}

void PyHandle::drop() noexcept {
  Py_CLEAR(callback_);
  for (auto& a : inline_) Py_CLEAR(a);
  Py_CLEAR(tuple_);
  // The context stays: asyncio's get_context() keeps answering after cancel().
}

void PyHandle::release_callback() noexcept {
  // A callback that cancels its own handle must not free the arguments it is running with.
  if (running_) {
    drop_pending_ = true;
    return;
  }
  drop();
}

PyObject* PyHandle::args_tuple() const {
  if (nargs_ > kInline) {
    if (tuple_ == nullptr) return PyTuple_New(0);
    return Py_NewRef(tuple_);
  }
  PyObject* t = PyTuple_New(nargs_);
  if (t == nullptr) return nullptr;
  for (Py_ssize_t i = 0; i < nargs_; ++i) {
    PyTuple_SET_ITEM(t, i, Py_NewRef(inline_[i] != nullptr ? inline_[i] : Py_None));
  }
  return t;
}

PyObject* PyHandle::wrapper() {
  if (wrapper_ != nullptr) return Py_NewRef(wrapper_);
  PyTypeObject* type = timer_ ? g_timer_type : g_handle_type;
  auto* obj = PyObject_New(HandleObject, type);
  if (obj == nullptr) return nullptr;
  add_ref();
  obj->impl = this;
  wrapper_ = reinterpret_cast<PyObject*>(obj);
  return wrapper_;
}

void PyHandle::invoke() {
  if (callback_ == nullptr) return;
  PyObject* const* args = nargs_ > kInline ? &PyTuple_GET_ITEM(tuple_, 0) : inline_;
  running_ = true;
  const bool debug = loop_->debug();
  const double t0 = debug ? loop_->loop().time() : 0.0;
  PyObject* result = nullptr;
  if (nargs_ > kInline && tuple_ == nullptr) {
    PyErr_NoMemory();
  } else if (PyContext_Enter(context_) == 0) {
    result = PyObject_Vectorcall(callback_, args, static_cast<std::size_t>(nargs_), nullptr);
    if (PyContext_Exit(context_) < 0) Py_CLEAR(result);
  }
  running_ = false;
  // Whoever called invoke() holds a reference, so `this` outlives the error report.
  if (result != nullptr) {
    Py_DECREF(result);
  } else {
    loop_->report_callback_error(this);  // may throw PyInterrupt
  }
  if (debug) loop_->check_slow_callback(this, loop_->loop().time() - t0);
  if (drop_pending_) {
    drop_pending_ = false;
    drop();
  }
}

bool init_handle_types(PyObject* module) {
  g_handle_type = reinterpret_cast<PyTypeObject*>(PyType_FromSpec(&handle_spec));
  if (g_handle_type == nullptr) return false;
  PyRef bases = PyRef::steal(PyTuple_Pack(1, g_handle_type));
  if (!bases) return false;
  g_timer_type =
      reinterpret_cast<PyTypeObject*>(PyType_FromSpecWithBases(&timer_spec, bases.get()));
  if (g_timer_type == nullptr) return false;
  if (PyModule_AddObjectRef(module, "Handle", reinterpret_cast<PyObject*>(g_handle_type)) < 0 ||
      PyModule_AddObjectRef(module, "TimerHandle", reinterpret_cast<PyObject*>(g_timer_type)) < 0) {
    return false;
  }
  return true;
}

PyTypeObject* timer_handle_type() noexcept { return g_timer_type; }

}  // namespace treadle::py
