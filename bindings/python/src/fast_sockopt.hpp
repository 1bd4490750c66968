// bindings/python/src/fast_sockopt.hpp — socket options on a transport's fd, for the socket
// object that `transport.get_extra_info("socket")` returns.
// Tests: tests/python/test_tcp.py (test_transport_socket_*)
#pragma once

#include "common.hpp"

namespace treadle::py {

/**
 * Adds `_getsockopt(fd, level, optname[, buflen])` and
 * `_setsockopt(fd, level, optname, value)` / `_setsockopt(fd, level, optname, None, optlen)`
 * to `module`: `socket.socket.getsockopt`/`setsockopt` on a bare fd, with the same argument
 * forms, results and errors (`TypeError`, `OverflowError`, `OSError` from `errno`), and no
 * socket object borrowed for the call.
 *
 * Every asyncio library sets options through the transport's socket (aiohttp sets
 * TCP_NODELAY on each connection, from both ends); borrowing the fd in a temporary
 * `socket.socket` for each call cost more than the system call itself.
 */
bool install_sockopt_functions(PyObject* module);

}  // namespace treadle::py
