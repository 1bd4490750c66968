// bindings/python/src/common.hpp — C-API helpers shared by the binding: owned references,
// the Interrupt that carries KeyboardInterrupt/SystemExit through the C++ loop, errors.
// Tests: tests/python/test_errors.py, tests/python/test_signals.py
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <utility>

#include "treadle/core/loop.hpp"

namespace treadle::py {

/// An owned `PyObject*` (the C-API counterpart of `detail::Ref`). Needs the GIL.
class PyRef {
 public:
  PyRef() noexcept = default;
  /// Takes over a new reference (may be null).
  static PyRef steal(PyObject* o) noexcept { return PyRef(o); }
  /// Adds a reference to a borrowed one.
  static PyRef borrow(PyObject* o) noexcept {
    Py_XINCREF(o);
    return PyRef(o);
  }
  PyRef(const PyRef& o) noexcept : p_(o.p_) { Py_XINCREF(p_); }
  PyRef(PyRef&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
  PyRef& operator=(PyRef o) noexcept {
    std::swap(p_, o.p_);
    return *this;
  }
  ~PyRef() { Py_XDECREF(p_); }
  PyObject* get() const noexcept { return p_; }
  PyObject* release() noexcept { return std::exchange(p_, nullptr); }
  explicit operator bool() const noexcept { return p_ != nullptr; }

 private:
  explicit PyRef(PyObject* o) noexcept : p_(o) {}
  PyObject* p_ = nullptr;
};

/**
 * A `KeyboardInterrupt` or `SystemExit` raised inside a callback.
 *
 * asyncio lets these two escape `run_forever`; everything else goes to the exception handler.
 * Deriving from `treadle::Interrupt` makes the C++ loop stop the iteration and propagate it;
 * `restore()` turns it back into the pending Python exception at the `run_forever` boundary.
 * Created, copied and destroyed with the GIL held (on the loop's thread).
 */
class PyInterrupt : public Interrupt {
 public:
  /// Takes the pending Python exception.
  PyInterrupt() noexcept { PyErr_Fetch(&type_, &value_, &tb_); }
  PyInterrupt(const PyInterrupt& o) noexcept : type_(o.type_), value_(o.value_), tb_(o.tb_) {
    Py_XINCREF(type_);
    Py_XINCREF(value_);
    Py_XINCREF(tb_);
  }
  PyInterrupt& operator=(const PyInterrupt&) = delete;
  ~PyInterrupt() override {
    Py_XDECREF(type_);
    Py_XDECREF(value_);
    Py_XDECREF(tb_);
  }
  /// Makes the exception pending again (the object no longer owns it).
  void restore() noexcept {
    PyErr_Restore(std::exchange(type_, nullptr), std::exchange(value_, nullptr),
                  std::exchange(tb_, nullptr));
  }

 private:
  PyObject* type_ = nullptr;
  PyObject* value_ = nullptr;
  PyObject* tb_ = nullptr;
};

/// True if the pending Python exception must leave the loop (KeyboardInterrupt, SystemExit).
inline bool pending_is_interrupt() noexcept {
  return PyErr_ExceptionMatches(PyExc_KeyboardInterrupt) ||
         PyErr_ExceptionMatches(PyExc_SystemExit);
}

/// Sets the Python error for the C++ exception being handled (call inside `catch (...)`):
/// treadle's loop errors become asyncio's RuntimeErrors, OS errors become OSError subclasses.
void set_error_from_current_exception() noexcept;

/// Registers the same translation with Boost.Python for the cold API.
void register_exception_translators();

}  // namespace treadle::py
