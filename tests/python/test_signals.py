# tests/python/test_signals.py — add_signal_handler/remove_signal_handler and Ctrl-C while
# the loop is blocked waiting for I/O.
"""Tests of signal handling."""

import os
import signal
import threading
import time

import pytest


def test_signal_handler_runs_in_loop(loop):
    got = []

    def handler(arg):
        got.append(arg)
        loop.stop()

    loop.add_signal_handler(signal.SIGUSR1, handler, "usr1")
    loop.call_later(0.05, os.kill, os.getpid(), signal.SIGUSR1)
    loop.call_later(10, loop.stop)
    loop.run_forever()
    assert got == ["usr1"]
    assert loop.remove_signal_handler(signal.SIGUSR1)
    assert not loop.remove_signal_handler(signal.SIGUSR1)
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL


def test_signal_handler_errors(loop):
    with pytest.raises(TypeError):
        loop.add_signal_handler("x", print)
    with pytest.raises(ValueError):
        loop.add_signal_handler(10000, print)
    with pytest.raises(RuntimeError):
        loop.add_signal_handler(signal.SIGKILL, print)

    async def coro():
        pass

    with pytest.raises(TypeError):
        loop.add_signal_handler(signal.SIGUSR2, coro)


def test_sigint_while_blocked_raises_promptly(loop):
    # Nothing is scheduled: the loop blocks in epoll/Asio with the GIL released.
    def killer():
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    t = threading.Thread(target=killer)
    t.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    elapsed = time.monotonic() - t0
    t.join()
    assert elapsed < 2.0
    assert not loop.is_running()


def test_sigint_while_sleeping_in_run_until_complete(loop):
    import asyncio
    loop.call_later(0.1, os.kill, os.getpid(), signal.SIGINT)
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(asyncio.sleep(30))
    assert time.monotonic() - t0 < 2.0
