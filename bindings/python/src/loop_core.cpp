// bindings/python/src/loop_core.cpp — running a treadle::Loop for Python: the GIL around the
// wait, the run boundary where Interrupts become Python exceptions again, watchers, signals.
// Tests: tests/python/test_run.py, tests/python/test_readers.py, tests/python/test_signals.py
#include "loop_core.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <boost/python.hpp>
#include <vector>

#include "py_protocol.hpp"
#include "treadle/loops/backends.hpp"

namespace treadle::py {
namespace bp = boost::python;

/// Marks the loop as running Python callbacks for the duration of a run call.
class LoopCore::RunScope {
 public:
  RunScope(LoopCore& core, PyObject* self) : core_(core) {
    core.self_ = self;
    core.thread_id_ = PyThread_get_thread_ident();
  }
  ~RunScope() { core_.thread_id_ = 0; }
  RunScope(const RunScope&) = delete;
  RunScope& operator=(const RunScope&) = delete;

 private:
  LoopCore& core_;
};

LoopCore::LoopCore(const std::string& backend) : backend_(backend), loop_(make_loop(backend)) {
  if (backend_.empty()) backend_ = std::string(default_backend());
  loop_->set_wait_hooks(&gil_hooks_);
  loop_->set_exception_handler(
      [this](Loop&, const ExceptionContext& context) { report_context(context); });
}

LoopCore::~LoopCore() {
  try {
    if (!loop_->is_running()) close();
  } catch (...) {
    // close() only throws while running, excluded above.
  }
}

void LoopCore::run_forever(bp::object self) {
  LoopCore& core = bp::extract<LoopCore&>(self);
  RunScope scope(core, self.ptr());
  try {
    core.loop_->run_forever();
  } catch (...) {
    set_error_from_current_exception();
    bp::throw_error_already_set();
  }
}

void LoopCore::run_once(bp::object self, double timeout) {
  LoopCore& core = bp::extract<LoopCore&>(self);
  RunScope scope(core, self.ptr());
  try {
    core.loop_->run_once(timeout);
  } catch (...) {
    set_error_from_current_exception();
    bp::throw_error_already_set();
  }
}

void LoopCore::close() {
  if (loop_->is_closed()) return;
  // Cancelling drops the callbacks now, while the GIL is certainly held.
  for (auto& [fd, h] : readers_) h->cancel();
  for (auto& [fd, h] : writers_) h->cancel();
  readers_.clear();
  writers_.clear();
  loop_->close();
  if (signal_read_ >= 0) ::close(signal_read_);
  if (signal_write_ >= 0) ::close(signal_write_);
  signal_read_ = signal_write_ = -1;
}

bool LoopCore::check_thread() const noexcept {
  if (!debug_ || thread_id_ == 0 || thread_id_ == PyThread_get_thread_ident()) return true;
  PyErr_SetString(PyExc_RuntimeError,
                  "Non-thread-safe operation invoked on an event loop other than the current one");
  return false;
}

void LoopCore::watch(bool reading, int fd, PyObject* callback, PyObject* args, PyObject* context) {
  if (!PyTuple_Check(args)) {
    PyErr_SetString(PyExc_TypeError, "args must be a tuple");
    bp::throw_error_already_set();
  }
  detail::Ref<PyHandle> h(new PyHandle(this, callback, &PyTuple_GET_ITEM(args, 0),
                                       PyTuple_GET_SIZE(args), Py_NewRef(context), false));
  // The watcher keeps its own reference on the stack while it runs: the callback may remove
  // (and so destroy) the std::function it is running from.
  auto run = [h] {
    detail::Ref<PyHandle> keep = h;
    keep->invoke();
  };
  if (reading) {
    loop_->add_reader(fd, std::move(run));
  } else {
    loop_->add_writer(fd, std::move(run));
  }
  auto& map = reading ? readers_ : writers_;
  auto [it, inserted] = map.try_emplace(fd, h);
  if (!inserted) {
    it->second->cancel();  // asyncio cancels the handle it replaces
    it->second = h;
  }
}

bool LoopCore::unwatch(bool reading, int fd) {
  if (loop_->is_closed()) return false;
  const bool removed = reading ? loop_->remove_reader(fd) : loop_->remove_writer(fd);
  auto& map = reading ? readers_ : writers_;
  if (auto it = map.find(fd); it != map.end()) {
    it->second->cancel();
    map.erase(it);
  }
  return removed;
}

void LoopCore::add_reader(int fd, PyObject* cb, PyObject* args, PyObject* ctx) {
  watch(true, fd, cb, args, ctx);
}
bool LoopCore::remove_reader(int fd) { return unwatch(true, fd); }
void LoopCore::add_writer(int fd, PyObject* cb, PyObject* args, PyObject* ctx) {
  watch(false, fd, cb, args, ctx);
}
bool LoopCore::remove_writer(int fd) { return unwatch(false, fd); }

void LoopCore::own_sock_wait(std::uint64_t key, PyObject* op, bool reading, int fd) {
  sock_waits_[key] = op;
  auto& map = reading ? readers_ : writers_;
  if (auto it = map.find(fd); it != map.end()) {
    it->second->cancel();  // the wait replaced this watcher in the C++ loop
    map.erase(it);
  }
}

bool LoopCore::forget_sock_wait(std::uint64_t key, PyObject* op) noexcept {
  auto it = sock_waits_.find(key);
  if (it == sock_waits_.end() || it->second != op) return false;
  sock_waits_.erase(it);
  return true;
}

void LoopCore::set_sock_read_hint(int fd, bool empty) {
  if (fd < 0) return;
  const auto i = static_cast<std::size_t>(fd);
  if (i >= read_hints_.size()) {
    if (!empty) return;
    read_hints_.resize(i + 1);
  }
  read_hints_[i] = empty ? 1 : 0;
}

int LoopCore::signal_fd() {
  if (signal_write_ >= 0) return signal_write_;
  int fds[2];
  if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0) {
    PyErr_SetFromErrno(PyExc_OSError);
    bp::throw_error_already_set();
  }
  signal_read_ = fds[0];
  signal_write_ = fds[1];
  loop_->add_reader(signal_read_, [this] { on_signal_pipe(); });
  return signal_write_;
}

// Python's C-level signal handler wrote the signal numbers to the pipe; the handlers written in
// Python (KeyboardInterrupt's among them) run only when someone calls PyErr_CheckSignals, which
// is the point of this reader: a loop blocked in epoll_wait has no other way to notice Ctrl-C.
void LoopCore::on_signal_pipe() {
  std::vector<int> signums;
  unsigned char buf[64];
  for (;;) {
    const ssize_t n = ::read(signal_read_, buf, sizeof buf);
    if (n <= 0) break;
    signums.insert(signums.end(), buf, buf + n);
  }
  for (int sig : signums) {
    if (self_ == nullptr) break;
    PyRef r = PyRef::steal(PyObject_CallMethod(self_, "_handle_signal", "i", sig));
    if (!r) report_python_error("Exception in signal handler", nullptr);
  }
  if (PyErr_CheckSignals() < 0) report_python_error("Exception in signal handler", nullptr);
}

void LoopCore::report_callback_error(PyHandle* handle) {
  if (pending_is_interrupt()) throw PyInterrupt();
  PyRef w = PyRef::steal(handle->wrapper());
  if (!w) {
    PyErr_Clear();
    w = PyRef::borrow(Py_None);
  }
  report_python_error(nullptr, w.get());
}

// Hands the pending exception to EventLoop._report_error (Python: it builds asyncio's context
// dict and message, which is cold-path work).
void LoopCore::report_python_error(const char* message, PyObject* handle) {
  if (pending_is_interrupt()) throw PyInterrupt();
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  PyRef t = PyRef::steal(type), v = PyRef::steal(value), b = PyRef::steal(tb);
  if (self_ == nullptr) {
    PyErr_Restore(t.release(), v.release(), b.release());
    PyErr_WriteUnraisable(nullptr);
    return;
  }
  PyRef msg = PyRef::steal(message ? PyUnicode_FromString(message) : Py_NewRef(Py_None));
  PyRef r = PyRef::steal(PyObject_CallMethod(self_, "_report_error", "OOO", msg.get(),
                                             v ? v.get() : Py_None, handle ? handle : Py_None));
  if (!r) {
    if (pending_is_interrupt()) throw PyInterrupt();
    PyErr_WriteUnraisable(self_);
  }
}

void LoopCore::report_context(const ExceptionContext& context) noexcept {
  PyGILState_STATE gil = PyGILState_Ensure();  // normally held already (loop thread)
  PyObject *saved_type, *saved_value, *saved_tb;
  PyErr_Fetch(&saved_type, &saved_value, &saved_tb);
  PyRef dict = PyRef::steal(PyDict_New());
  PyRef exc, transport, protocol;
  if (context.exception) {
    try {
      std::rethrow_exception(context.exception);
    } catch (const PyCallbackError& e) {
      exc = PyRef::borrow(e.exception());
      transport = PyRef::borrow(e.transport());
      protocol = PyRef::borrow(e.protocol());
    } catch (...) {
      set_error_from_current_exception();
      PyObject *t, *v, *tb;
      PyErr_Fetch(&t, &v, &tb);
      PyErr_NormalizeException(&t, &v, &tb);
      if (tb != nullptr && v != nullptr) PyException_SetTraceback(v, tb);
      Py_XDECREF(t);
      Py_XDECREF(tb);
      exc = PyRef::steal(v);
    }
  } else if (context.error) {
    exc = exception_from_error(context.error);
    if (!exc) PyErr_Clear();
  }
  // asyncio's _fatal_error logs OSErrors of a transport only in debug mode.
  const bool quiet =
      transport && exc && PyErr_GivenExceptionMatches(exc.get(), PyExc_OSError) && !debug_;
  bool ok = dict && !quiet;
  if (ok) {
    PyRef msg = PyRef::steal(PyUnicode_FromString(context.message.c_str()));
    ok = msg && PyDict_SetItemString(dict.get(), "message", msg.get()) == 0;
    if (ok && exc && exc.get() != Py_None) {
      ok = PyDict_SetItemString(dict.get(), "exception", exc.get()) == 0;
    }
    if (ok && transport) ok = PyDict_SetItemString(dict.get(), "transport", transport.get()) == 0;
    if (ok && protocol) ok = PyDict_SetItemString(dict.get(), "protocol", protocol.get()) == 0;
  }
  if (ok && self_ != nullptr) {
    PyRef r = PyRef::steal(PyObject_CallMethod(self_, "call_exception_handler", "O", dict.get()));
    if (!r) PyErr_WriteUnraisable(self_);
  } else if (!quiet) {
    PyErr_Clear();
    PySys_WriteStderr("treadle: %s\n", context.message.c_str());
  }
  PyErr_Restore(saved_type, saved_value, saved_tb);
  PyGILState_Release(gil);
}

void LoopCore::check_slow_callback(PyHandle* handle, double seconds) {
  if (seconds < slow_callback_duration || self_ == nullptr) return;
  PyRef w = PyRef::steal(handle->wrapper());
  if (!w) {
    PyErr_Clear();
    return;
  }
  PyRef r = PyRef::steal(PyObject_CallMethod(self_, "_log_slow_callback", "Od", w.get(), seconds));
  if (!r) PyErr_WriteUnraisable(self_);
}

void LoopCore::bind(bp::object self) {
  LoopCore& core = bp::extract<LoopCore&>(self);
  core.self_ = self.ptr();
}

}  // namespace treadle::py
