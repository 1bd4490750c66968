// bindings/python/src/fast_write.hpp — transport.write/writelines as C methods: the per-message
// call of every Python protocol, without a Python frame or Boost.Python's dispatch.
// Tests: tests/python/test_tcp.py, tests/python/test_bad_input.py
#pragma once

#include <memory>

#include "common.hpp"
#include "treadle/transports/stream_transport.hpp"

namespace treadle::py {

/**
 * A new `treadle._treadle.Writer` for `t`: an object whose `write(data)` and
 * `writelines(seq)` methods (METH_O builtins) hand bytes-like objects straight to the C++
 * transport, whose `is_closing()` answers asyncio streams' per-drain() question, and whose
 * `set_sendfile_busy(flag)` makes both raise asyncio's "sendfile is in progress" RuntimeError while
 * loop.sendfile owns the socket.
 *
 * treadle's Python transport stores the bound methods as instance attributes, so that
 * `transport.write(data)` costs one dictionary lookup and one C call. Errors are asyncio's:
 * TypeError for a non-bytes-like object, BufferError for a non-contiguous one, RuntimeError
 * after write_eof(); writes to a closing transport are dropped.
 *
 * The writer holds `loop`, the Python loop object, until the transport is released: the
 * transport uses its loop until it is destroyed.
 */
PyRef make_writer(std::shared_ptr<StreamTransport> t, const PyRef& loop);

/// Readies the Writer type (once, at module import); false with a Python error set.
bool init_writer_type(PyObject* module);

}  // namespace treadle::py
