// bindings/python/src/module.cpp — the extension module treadle._treadle: LoopCore (the C++
// half of treadle.EventLoop), the Handle types, and the backend list.
// Tests: tests/python/
#include <boost/python.hpp>
#include <cstdlib>

#include "fast_sock.hpp"
#include "fast_sockopt.hpp"
#include "fast_write.hpp"
#include "loop_core.hpp"
#include "native_protocols.hpp"
#include "py_protocol.hpp"
#include "treadle/loops/backends.hpp"

namespace bp = boost::python;
using treadle::py::LoopCore;

namespace {

bp::list backends() {
  bp::list out;
  for (auto name : treadle::list_backends()) out.append(std::string(name));
  return out;
}

// The watcher entry points take Python objects as they come; Boost.Python is fine here (cold).
void add_reader(LoopCore& c, int fd, bp::object cb, bp::object args, bp::object ctx) {
  c.add_reader(fd, cb.ptr(), args.ptr(), ctx.ptr());
}
void add_writer(LoopCore& c, int fd, bp::object cb, bp::object args, bp::object ctx) {
  c.add_writer(fd, cb.ptr(), args.ptr(), ctx.ptr());
}
bp::object get_task_factory(LoopCore& c) {
  PyObject* f = c.task_factory();
  return f ? bp::object(bp::handle<>(bp::borrowed(f))) : bp::object();
}
void set_task_factory(LoopCore& c, bp::object f) { c.set_task_factory(f.ptr()); }
bp::object thread_id(LoopCore& c) {
  return c.thread_id() ? bp::object(c.thread_id()) : bp::object();
}

/// glibc's malloc returns the top of its heap to the kernel whenever more than
/// M_TRIM_THRESHOLD (128 KiB at first) is free there, and raises that threshold (to twice its
/// mmap threshold) the first time a block it had mmap()ed is freed. A stock asyncio process
/// gets there at once through its 256 KiB socket reads; a treadle process whose only big
/// allocations are Python's `sock_recv(65536)` buffers never does, and then gives the heap
/// back and faults it in again on every call (7 page faults per 100 KiB echo, 2.5x the CPU).
/// Freeing one 1 MiB block here settles the thresholds at 1 MiB (mmap) and 2 MiB (trim), as
/// any long-running server's allocator would be.
void settle_malloc_thresholds() {
#ifdef __GLIBC__
  void* volatile block = std::malloc(1 << 20);
  std::free(block);
#endif
}

}  // namespace

BOOST_PYTHON_MODULE(_treadle) {
  settle_malloc_thresholds();
  treadle::py::register_exception_translators();
  bp::scope().attr("__doc__") = "treadle's C++ event loop core (use the `treadle` package).";
  bp::def("backends", backends, "The loop backends compiled in, default first.");
  bp::def(
      "default_backend", +[] { return std::string(treadle::default_backend()); },
      "The backend used when none is named.");

  bp::object cls = bp::class_<LoopCore, boost::noncopyable>(
                       "LoopCore", "The C++ half of treadle.EventLoop: one treadle::Loop.",
                       bp::init<std::string>(bp::args("self", "backend")))
                       .add_property(
                           "backend", +[](LoopCore& c) { return c.backend(); },
                           "The backend's name ('reactor', 'proactor').")
                       .add_property("_thread_id", thread_id)
                       .def_readwrite("slow_callback_duration", &LoopCore::slow_callback_duration)
                       .def("_bind", &LoopCore::bind)
                       .def("_run_forever", &LoopCore::run_forever)
                       .def("_run_once", &LoopCore::run_once)
                       .def("_stop", &LoopCore::stop)
                       .def("_close", &LoopCore::close)
                       .def("is_running", &LoopCore::is_running, "True while the loop runs.")
                       .def("is_closed", &LoopCore::is_closed, "True once the loop was closed.")
                       .def("_set_debug", &LoopCore::set_debug)
                       .def("_add_reader", add_reader)
                       .def("_remove_reader", &LoopCore::remove_reader)
                       .def("_add_writer", add_writer)
                       .def("_remove_writer", &LoopCore::remove_writer)
                       .def("_signal_fd", &LoopCore::signal_fd)
                       .def("_set_task_factory", set_task_factory)
                       .def("get_task_factory", get_task_factory, "The task factory, or None.");
  treadle::py::register_stream_bindings();
  treadle::py::register_native_protocols();
  if (!treadle::py::install_fast_methods(cls.ptr()) ||
      !treadle::py::install_sock_methods(cls.ptr()) ||
      !treadle::py::install_sockopt_functions(bp::scope().ptr()) ||
      !treadle::py::init_handle_types(bp::scope().ptr()) ||
      !treadle::py::init_writer_type(bp::scope().ptr())) {
    bp::throw_error_already_set();
  }
}
