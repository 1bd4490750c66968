// bindings/python/src/loop_core.hpp — LoopCore: a treadle::Loop owned by a Python object, with
// the GIL released around the wait and signals delivered through a wake-up pipe.
// Tests: tests/python/test_run.py, tests/python/test_readers.py, tests/python/test_signals.py
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.hpp"
#include "py_handle.hpp"

namespace boost::python::api {
class object;
}

namespace treadle::py {

/**
 * The C++ half of `treadle.EventLoop` (the Python class derives from it and from
 * `asyncio.AbstractEventLoop`).
 *
 * Owns the backend loop. While `run_forever` executes, the Python loop object is known
 * (`self_`, borrowed: the Python object contains this one), the GIL is held except inside the
 * blocking wait, and KeyboardInterrupt/SystemExit travel as `PyInterrupt`.
 */
class LoopCore {
  /// Releases the GIL while the loop blocks in epoll/Asio, and only then: every callback runs
  /// with the GIL held, so the fast paths need no locking of their own. One per loop: loops
  /// on different threads wait at the same time.
  class GilHooks final : public WaitHooks {
   public:
    void before_wait() noexcept override { state_ = PyEval_SaveThread(); }
    void after_wait() noexcept override { PyEval_RestoreThread(state_); }

   private:
    PyThreadState* state_ = nullptr;
  };

 public:
  explicit LoopCore(const std::string& backend);
  ~LoopCore();
  LoopCore(const LoopCore&) = delete;
  LoopCore& operator=(const LoopCore&) = delete;

  Loop& loop() noexcept { return *loop_; }
  const std::string& backend() const noexcept { return backend_; }

  /// @name Running (called from Python with the loop object)
  /// @{
  /// Remembers the Python object this core belongs to (borrowed: it contains the core).
  static void bind(boost::python::api::object self);
  static void run_forever(boost::python::api::object self);
  static void run_once(boost::python::api::object self, double timeout);
  void stop() noexcept { loop_->stop(); }
  void close();
  bool is_running() const noexcept { return loop_->is_running(); }
  bool is_closed() const noexcept { return loop_->is_closed(); }
  /// The thread running the loop (PyThread ident), 0 when not running.
  unsigned long thread_id() const noexcept { return thread_id_; }
  /// @}

  /// @name Readiness watchers; `args` is a tuple, `context` a contextvars.Context.
  /// @{
  void add_reader(int fd, PyObject* callback, PyObject* args, PyObject* context);
  bool remove_reader(int fd);
  void add_writer(int fd, PyObject* callback, PyObject* args, PyObject* context);
  bool remove_writer(int fd);
  /// The write end of the signal wake-up pipe (for `signal.set_wakeup_fd`), created lazily.
  int signal_fd();
  /// @}

  /// @name Debug mode and the task factory (read by the fast paths)
  /// @{
  bool debug() const noexcept { return debug_; }
  void set_debug(bool on) noexcept { debug_ = on; }
  double slow_callback_duration = 0.1;
  PyObject* task_factory() const noexcept { return task_factory_.get(); }
  void set_task_factory(PyObject* f) { task_factory_ = PyRef::borrow(f == Py_None ? nullptr : f); }
  /// @}

  /// Raises RuntimeError (returns false) if debug mode is on and the loop runs on another
  /// thread: asyncio's `_check_thread`.
  bool check_thread() const noexcept;

  /// Handles the pending Python error of a failed callback: throws `PyInterrupt` for
  /// KeyboardInterrupt/SystemExit, else hands it to the loop's exception handler.
  void report_callback_error(PyHandle* handle);
  /// Debug mode: logs callbacks that ran for `slow_callback_duration` or longer.
  void check_slow_callback(PyHandle* handle, double seconds);
  /// Hands the pending Python error to the loop's exception handler (`message` may be null);
  /// throws `PyInterrupt` for KeyboardInterrupt/SystemExit.
  void report_python_error(const char* message, PyObject* handle);
  /// The C++ loop's exception handler: builds asyncio's context dict (with `transport` and
  /// `protocol` for a failed Python protocol callback) and calls `call_exception_handler`.
  void report_context(const ExceptionContext& context) noexcept;
  /// The Python loop object (borrowed; set by `_bind` in `__init__`).
  PyObject* self_object() const noexcept { return self_ ? self_ : Py_None; }

  /// @name Bookkeeping of the C sock_* operations (fast_sock.cpp)
  /// @{
  /// Records `op` (borrowed: its wait holds it) as the operation waiting on `key` (fd and
  /// direction), and cancels the asyncio handle of a watcher the wait replaced.
  void own_sock_wait(std::uint64_t key, PyObject* op, bool reading, int fd);
  /// Forgets `op` as the waiter on `key`; false if another operation (or none) owns it.
  bool forget_sock_wait(std::uint64_t key, PyObject* op) noexcept;
  /// Whether the last read on `fd` left the socket empty (the next one waits first).
  bool sock_read_hint(int fd) const noexcept {
    return fd >= 0 && static_cast<std::size_t>(fd) < read_hints_.size() && read_hints_[fd] != 0;
  }
  void set_sock_read_hint(int fd, bool empty);
  /// @}

 private:
  class RunScope;
  void watch(bool reading, int fd, PyObject* callback, PyObject* args, PyObject* context);
  bool unwatch(bool reading, int fd);
  void on_signal_pipe();

  GilHooks gil_hooks_;
  std::string backend_;
  std::unique_ptr<Loop> loop_;
  PyObject* self_ = nullptr;  // the Python loop object while running (borrowed)
  unsigned long thread_id_ = 0;
  bool debug_ = false;
  PyRef task_factory_;
  std::unordered_map<int, detail::Ref<PyHandle>> readers_, writers_;
  std::unordered_map<std::uint64_t, PyObject*> sock_waits_;  // see own_sock_wait()
  std::vector<std::uint8_t> read_hints_;                     // by fd; see sock_read_hint()
  int signal_read_ = -1, signal_write_ = -1;
};

/// Extracts the LoopCore from a Python loop object (null with TypeError if it is none).
LoopCore* core_of(PyObject* self) noexcept;

/// Adds the vectorcall fast paths (call_soon, call_later, ...) to the LoopCore class.
bool install_fast_methods(PyObject* cls);

}  // namespace treadle::py
