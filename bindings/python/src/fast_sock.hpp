// bindings/python/src/fast_sock.hpp — the sock_* operations' C body (`loop._sock_io`).
// Tests: tests/python/test_sock.py, the conformance suite's test_sock_lowlevel
#pragma once

#include "common.hpp"

namespace treadle::py {

/**
 * Adds `_sock_io(sock, kind, method, args) -> Future` to the LoopCore class: what every
 * `loop.sock_*` coroutine of treadle/_sock.py awaits.
 *
 * It makes asyncio's argument checks (a non-blocking `socket.socket`, not an SSLSocket, not a
 * live transport's), attempts `sock.<method>(*args)` and, if that would block, waits for
 * readiness with the loop's one-shot waits (`Loop::wait_readable`/`wait_writable`) and attempts
 * it again, resolving the future with the result or the exception. Cancelling the future
 * removes the wait at once, so the socket is left registered nowhere and usable.
 *
 * `kind` 1 (recv, recv_into) skips the first attempt when the previous read on the same fd
 * did not fill its buffer, since the socket is then most likely empty: the attempt would cost
 * a failing system call. `kind` 2 sends all of `args[0]`, resolving with None.
 */
bool install_sock_methods(PyObject* cls);

}  // namespace treadle::py
