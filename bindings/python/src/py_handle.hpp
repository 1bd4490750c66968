// bindings/python/src/py_handle.hpp — a loop handle running a Python callable in its context,
// and the asyncio-compatible Handle/TimerHandle objects Python code holds.
// Tests: tests/python/test_call_soon.py, tests/python/test_timers.py
#pragma once

#include "common.hpp"
#include "treadle/core/handle.hpp"

namespace treadle::py {

class LoopCore;

/**
 * The scheduled unit for a Python callback: callable, arguments and `contextvars.Context`.
 *
 * One class serves the ready queue, the timer heap and readiness watchers (a timer only uses
 * the extra deadline fields). The Python `Handle` object is a view holding a reference; the
 * loop holds another, so discarding the returned handle costs nothing. All members are touched
 * with the GIL held; the reference count is the only thing other threads touch.
 */
class PyHandle final : public detail::TimerImpl {
 public:
  // Handles are small and made by the million: pymalloc beats the global heap (GIL held).
  static void* operator new(std::size_t n);
  static void operator delete(void* p) noexcept;

  /// Takes new references to everything; `context` is stolen (never null).
  PyHandle(LoopCore* loop, PyObject* callback, PyObject* const* args, Py_ssize_t nargs,
           PyObject* context, bool timer) noexcept;
  ~PyHandle() override;

  /// Runs the callback; errors go to the loop's exception handler, KeyboardInterrupt and
  /// SystemExit are thrown as `PyInterrupt`.
  void invoke() override;
  void release_callback() noexcept override;

  /// A new reference to this handle's Python object (the live one if it exists).
  PyObject* wrapper();

  PyObject* callback() const noexcept { return callback_; }
  PyObject* context() const noexcept { return context_; }
  /// The arguments as a new tuple.
  PyObject* args_tuple() const;
  bool is_timer() const noexcept { return timer_; }
  double when = 0;  ///< The deadline exactly as asyncio computed it (`TimerHandle.when()`).

  /// Borrowed pointer to the live Python object, cleared by its deallocation.
  PyObject* wrapper_ = nullptr;

 private:
  static constexpr Py_ssize_t kInline = 3;
  void drop() noexcept;

  LoopCore* loop_;
  PyObject* callback_;
  PyObject* context_;
  PyObject* inline_[kInline] = {};
  PyObject* tuple_ = nullptr;  // used when there are more than kInline arguments
  Py_ssize_t nargs_;
  bool timer_;
  bool running_ = false;
  bool drop_pending_ = false;  // cancelled from inside its own callback
};

/// Creates the Handle and TimerHandle types and adds them to `module`; false on error.
bool init_handle_types(PyObject* module);
/// The TimerHandle type (for isinstance checks in C++).
PyTypeObject* timer_handle_type() noexcept;

}  // namespace treadle::py
