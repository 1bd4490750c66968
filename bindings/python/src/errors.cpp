// bindings/python/src/errors.cpp — C++ exceptions to the Python exceptions asyncio raises.
// Tests: tests/python/test_errors.py
#include <boost/python.hpp>

#include "common.hpp"
#include "treadle/core/error.hpp"

namespace treadle::py {
namespace {

void set_from_system_error(const std::system_error& e) {
  const std::error_code& ec = e.code();
  if (ec.category() == treadle_category()) {
    switch (static_cast<errc>(ec.value())) {
      // The messages are asyncio's own: tests and users match on them.
      case errc::loop_closed:
        PyErr_SetString(PyExc_RuntimeError, "Event loop is closed");
        return;
      case errc::loop_running:
        PyErr_SetString(PyExc_RuntimeError, "This event loop is already running");
        return;
      case errc::unknown_backend:
        PyErr_SetString(PyExc_ValueError, e.what());
        return;
      case errc::invalid_argument:
        PyErr_SetString(PyExc_ValueError, e.what());
        return;
      default:
        PyErr_SetString(PyExc_RuntimeError, e.what());
        return;
    }
  }
  if (ec.category() == std::system_category() || ec.category() == std::generic_category()) {
    // OSError(errno, strerror) picks the subclass (PermissionError for EPERM, ...).
    PyObject* args = Py_BuildValue("(is)", ec.value(), ec.message().c_str());
    if (args != nullptr) {
      PyErr_SetObject(PyExc_OSError, args);
      Py_DECREF(args);
    }
    return;
  }
  PyErr_SetString(PyExc_OSError, e.what());
}

}  // namespace

void set_error_from_current_exception() noexcept {
  try {
    throw;
  } catch (const boost::python::error_already_set&) {
    // The Python error is already pending.
  } catch (PyInterrupt& e) {
    e.restore();
  } catch (const std::system_error& e) {
    set_from_system_error(e);
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
  } catch (const std::exception& e) {
    PyErr_SetString(PyExc_RuntimeError, e.what());
  } catch (...) {
    PyErr_SetString(PyExc_RuntimeError, "unknown C++ exception");
  }
}

void register_exception_translators() {
  boost::python::register_exception_translator<std::system_error>(
      [](const std::system_error& e) { set_from_system_error(e); });
}

}  // namespace treadle::py
