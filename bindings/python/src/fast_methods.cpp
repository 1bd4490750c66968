// bindings/python/src/fast_methods.cpp — the loop's hot methods as METH_FASTCALL C functions
// (call_soon, call_later, call_at, call_soon_threadsafe, time, get_debug, create_future,
// create_task): asyncio's C Task calls these by vectorcall on every step, so they bypass
// Boost.Python's overload resolution.
// Tests: tests/python/test_call_soon.py, tests/python/test_timers.py, tests/python/test_tasks.py
#include <boost/python.hpp>
#include <boost/python/object/find_instance.hpp>

#include "loop_core.hpp"

namespace treadle::py {
namespace {

PyObject* s_context = nullptr;      // interned "context"
PyObject* s_name = nullptr;         // interned "name"
PyObject* s_loop_kw = nullptr;      // ("loop",)
PyObject* s_future_type = nullptr;  // asyncio.Future (the C one)
PyObject* s_task_type = nullptr;    // asyncio.Task (the C one)
PyObject* s_iscoroutinefunction = nullptr;

bool same_name(PyObject* a, PyObject* b) { return a == b || PyUnicode_Compare(a, b) == 0; }

/// Parses the keyword-only `context=` of the call_* methods; `*context` is borrowed or null.
bool parse_context(const char* method, PyObject* kwnames, PyObject* const* kwvalues,
                   PyObject** context) {
  *context = nullptr;
  if (kwnames == nullptr) return true;
  for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
    PyObject* key = PyTuple_GET_ITEM(kwnames, i);
    if (!same_name(key, s_context)) {
      PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", method, key);
      return false;
    }
    if (kwvalues[i] != Py_None) *context = kwvalues[i];
  }
  return true;
}

/// asyncio's `_check_callback`, done in debug mode only (as asyncio does).
bool check_callback(PyObject* callback, const char* method) {
  int is_coro = PyCoro_CheckExact(callback);
  if (!is_coro && s_iscoroutinefunction != nullptr) {
    PyRef r = PyRef::steal(PyObject_CallOneArg(s_iscoroutinefunction, callback));
    if (!r) return false;
    is_coro = PyObject_IsTrue(r.get());
  }
  if (is_coro) {
    PyErr_Format(PyExc_TypeError, "coroutines cannot be used with %s()", method);
    return false;
  }
  if (!PyCallable_Check(callback)) {
    PyErr_Format(PyExc_TypeError, "a callable object was expected by %s(), got %R", method,
                 callback);
    return false;
  }
  return true;
}

bool check_closed(LoopCore* core) {
  if (!core->is_closed()) return true;
  PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
  return false;
}

enum class Kind { soon, threadsafe, timer };

/// Creates the handle, queues it and returns its Python object.
PyObject* schedule(LoopCore* core, Kind kind, double when, PyObject* callback,
                   PyObject* const* args, Py_ssize_t nargs, PyObject* context, const char* method) {
  if (!check_closed(core)) return nullptr;
  if (core->debug()) {
    if (kind != Kind::threadsafe && !core->check_thread()) return nullptr;
    if (!check_callback(callback, method)) return nullptr;
  }
  PyObject* ctx = context != nullptr ? Py_NewRef(context) : PyContext_CopyCurrent();
  if (ctx == nullptr) return nullptr;
  PyHandle* raw;
  try {
    raw = new PyHandle(core, callback, args, nargs, ctx, kind == Kind::timer);
  } catch (const std::bad_alloc&) {
    Py_DECREF(ctx);
    return PyErr_NoMemory();
  }
  detail::Ref<PyHandle> h(raw);
  PyObject* w = h->wrapper();
  if (w == nullptr) return nullptr;
  try {
    switch (kind) {
      case Kind::soon:
        core->loop().schedule(detail::Ref<detail::HandleImpl>(raw));
        break;
      case Kind::threadsafe:
        core->loop().schedule_threadsafe(detail::Ref<detail::HandleImpl>(raw));
        break;
      case Kind::timer:
        raw->when = when;
        raw->when_ns = Clock::from_seconds(when);
        core->loop().schedule_timer(detail::Ref<detail::TimerImpl>(raw));
        break;
    }
  } catch (...) {
    Py_DECREF(w);
    set_error_from_current_exception();
    return nullptr;
  }
  return w;
}

PyObject* call_soon(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  LoopCore* core = core_of(self);
  if (core == nullptr) return nullptr;
  if (nargs < 1) {
    PyErr_SetString(PyExc_TypeError, "call_soon() missing required argument 'callback'");
    return nullptr;
  }
  PyObject* context;
  if (!parse_context("call_soon", kwnames, args + nargs, &context)) return nullptr;
  return schedule(core, Kind::soon, 0, args[0], args + 1, nargs - 1, context, "call_soon");
}

PyObject* call_soon_threadsafe(PyObject* self, PyObject* const* args, Py_ssize_t nargs,
                               PyObject* kwnames) {
  LoopCore* core = core_of(self);
  if (core == nullptr) return nullptr;
  if (nargs < 1) {
    PyErr_SetString(PyExc_TypeError, "call_soon_threadsafe() missing required argument 'callback'");
    return nullptr;
  }
  PyObject* context;
  if (!parse_context("call_soon_threadsafe", kwnames, args + nargs, &context)) return nullptr;
  return schedule(core, Kind::threadsafe, 0, args[0], args + 1, nargs - 1, context,
                  "call_soon_threadsafe");
}

/// Shared by call_later (relative) and call_at (absolute).
PyObject* call_timer(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                     bool relative) {
  const char* method = relative ? "call_later" : "call_at";
  LoopCore* core = core_of(self);
  if (core == nullptr) return nullptr;
  if (nargs < 2) {
    PyErr_Format(PyExc_TypeError, "%s() missing required arguments", method);
    return nullptr;
  }
  if (args[0] == Py_None) {
    PyErr_SetString(PyExc_TypeError, relative ? "delay must not be None" : "when cannot be None");
    return nullptr;
  }
  double t = PyFloat_AsDouble(args[0]);
  if (t == -1.0 && PyErr_Occurred()) return nullptr;
  if (relative) t += core->loop().time();
  PyObject* context;
  if (!parse_context(method, kwnames, args + nargs, &context)) return nullptr;
  return schedule(core, Kind::timer, t, args[1], args + 2, nargs - 2, context, method);
}

PyObject* call_later(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kw) {
  return call_timer(self, args, nargs, kw, true);
}

PyObject* call_at(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kw) {
  return call_timer(self, args, nargs, kw, false);
}

PyObject* loop_time(PyObject* self, PyObject*) {
  LoopCore* core = core_of(self);
  if (core == nullptr) return nullptr;
  return PyFloat_FromDouble(core->loop().time());
}

PyObject* get_debug(PyObject* self, PyObject*) {
  LoopCore* core = core_of(self);
  if (core == nullptr) return nullptr;
  return PyBool_FromLong(core->debug());
}

PyObject* create_future(PyObject* self, PyObject*) {
  PyObject* args[] = {self};
  return PyObject_Vectorcall(s_future_type, args, 0, s_loop_kw);
}

// asyncio 3.11's create_task: Task(coro, loop=self, name=name, context=context), or the
// factory (called with context= only when given), then set_name.
PyObject* create_task(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  LoopCore* core = core_of(self);
  if (core == nullptr) return nullptr;
  if (nargs != 1) {
    PyErr_SetString(PyExc_TypeError, "create_task() takes exactly one positional argument");
    return nullptr;
  }
  PyObject* name = nullptr;
  PyObject* context = nullptr;
  if (kwnames != nullptr) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(kwnames); ++i) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, i);
      PyObject* value = args[nargs + i] == Py_None ? nullptr : args[nargs + i];
      if (same_name(key, s_name)) {
        name = value;
      } else if (same_name(key, s_context)) {
        context = value;
      } else {
        PyErr_Format(PyExc_TypeError, "create_task() got an unexpected keyword argument '%U'", key);
        return nullptr;
      }
    }
  }
  if (!check_closed(core)) return nullptr;
  if (PyObject* factory = core->task_factory()) {
    PyRef task;
    if (context == nullptr) {
      task = PyRef::steal(PyObject_CallFunctionObjArgs(factory, self, args[0], nullptr));
    } else {
      PyObject* fargs[] = {self, args[0], context};
      PyRef kw = PyRef::steal(PyTuple_Pack(1, s_context));
      if (!kw) return nullptr;
      task = PyRef::steal(PyObject_Vectorcall(factory, fargs, 2, kw.get()));
    }
    if (!task) return nullptr;
    if (name != nullptr) {
      PyRef r = PyRef::steal(PyObject_CallMethod(task.get(), "set_name", "O", name));
      if (!r) return nullptr;
    }
    return task.release();
  }
  // Positional coro, then loop= and whichever of name=/context= were given.
  PyObject* targs[4] = {args[0], self};
  PyObject* names[3] = {PyTuple_GET_ITEM(s_loop_kw, 0)};
  Py_ssize_t nkw = 1;
  if (name != nullptr) {
    targs[1 + nkw] = name;
    names[nkw++] = s_name;
  }
  if (context != nullptr) {
    targs[1 + nkw] = context;
    names[nkw++] = s_context;
  }
  PyRef kw = nkw == 1 ? PyRef::borrow(s_loop_kw)
                      : PyRef::steal(nkw == 2 ? PyTuple_Pack(2, names[0], names[1])
                                              : PyTuple_Pack(3, names[0], names[1], names[2]));
  if (!kw) return nullptr;
  return PyObject_Vectorcall(s_task_type, targs, 1, kw.get());
}

constexpr int kFast = METH_FASTCALL | METH_KEYWORDS;

PyMethodDef fast_methods[] = {
    {"call_soon", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(call_soon)), kFast,
     "call_soon(callback, *args, context=None) -> Handle\n\n"
     "Arrange for callback(*args) to run in the next iteration, in `context` (a copy of the "
     "current context by default)."},
    {"call_soon_threadsafe",
     reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(call_soon_threadsafe)), kFast,
     "call_soon_threadsafe(callback, *args, context=None) -> Handle\n\n"
     "Like call_soon(), callable from any thread; wakes the loop."},
    {"call_later", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(call_later)), kFast,
     "call_later(delay, callback, *args, context=None) -> TimerHandle\n\n"
     "Arrange for callback(*args) to run once `delay` seconds have passed (never earlier)."},
    {"call_at", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(call_at)), kFast,
     "call_at(when, callback, *args, context=None) -> TimerHandle\n\n"
     "Arrange for callback(*args) to run once loop.time() >= when."},
    {"create_task", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(create_task)), kFast,
     "create_task(coro, *, name=None, context=None) -> asyncio.Task\n\n"
     "Schedule the coroutine as an asyncio.Task (or through the task factory)."},
    {"time", loop_time, METH_NOARGS, "The loop's monotonic clock (time.monotonic()), seconds."},
    {"get_debug", get_debug, METH_NOARGS, "True if debug mode is on."},
    {"create_future", create_future, METH_NOARGS, "A new asyncio.Future attached to this loop."},
    {nullptr, nullptr, 0, nullptr}};

}  // namespace

LoopCore* core_of(PyObject* self) noexcept {
  void* p = boost::python::objects::find_instance_impl(self, boost::python::type_id<LoopCore>());
  if (p == nullptr) PyErr_SetString(PyExc_TypeError, "expected a treadle event loop");
  return static_cast<LoopCore*>(p);
}

bool install_fast_methods(PyObject* cls) {
  s_context = PyUnicode_InternFromString("context");
  s_name = PyUnicode_InternFromString("name");
  PyObject* loop = PyUnicode_InternFromString("loop");
  if (s_context == nullptr || s_name == nullptr || loop == nullptr) return false;
  s_loop_kw = PyTuple_Pack(1, loop);
  Py_DECREF(loop);
  PyRef futures = PyRef::steal(PyImport_ImportModule("asyncio.futures"));
  PyRef tasks = PyRef::steal(PyImport_ImportModule("asyncio.tasks"));
  PyRef coroutines = PyRef::steal(PyImport_ImportModule("asyncio.coroutines"));
  if (!futures || !tasks || !coroutines || s_loop_kw == nullptr) return false;
  s_future_type = PyObject_GetAttrString(futures.get(), "Future");
  s_task_type = PyObject_GetAttrString(tasks.get(), "Task");
  s_iscoroutinefunction = PyObject_GetAttrString(coroutines.get(), "iscoroutinefunction");
  if (s_future_type == nullptr || s_task_type == nullptr || s_iscoroutinefunction == nullptr) {
    return false;
  }
  for (PyMethodDef* def = fast_methods; def->ml_name != nullptr; ++def) {
    PyRef descr = PyRef::steal(PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(cls), def));
    if (!descr || PyObject_SetAttrString(cls, def->ml_name, descr.get()) < 0) return false;
  }
  return true;
}

}  // namespace treadle::py
