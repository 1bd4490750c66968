# tests/python/test_run.py — run_forever, run_until_complete, stop, close, is_running,
# the running-loop registration, asyncgen hooks.
"""Tests of running and stopping the loop."""

import asyncio
import sys

import pytest


def test_run_until_complete_result(loop):
    async def coro():
        await asyncio.sleep(0)
        return "done"

    assert loop.run_until_complete(coro()) == "done"
    fut = loop.create_future()
    loop.call_soon(fut.set_result, 3)
    assert loop.run_until_complete(fut) == 3


def test_is_running_and_running_loop(loop):
    seen = []

    def cb():
        seen.append((loop.is_running(), asyncio.get_running_loop() is loop))
        loop.stop()

    assert not loop.is_running()
    loop.call_soon(cb)
    loop.run_forever()
    assert seen == [(True, True)]
    assert not loop.is_running()
    with pytest.raises(RuntimeError):
        asyncio.get_running_loop()


def test_nested_run_rejected(loop):
    errors = []

    def cb():
        coro = asyncio.sleep(0)
        for f in (loop.run_forever, lambda: loop.run_until_complete(coro)):
            try:
                f()
            except RuntimeError as exc:
                errors.append(str(exc))
        coro.close()
        loop.stop()

    loop.call_soon(cb)
    loop.run_forever()
    assert len(errors) == 2 and all("already running" in e for e in errors)


def test_stop_before_run_runs_one_iteration(loop):
    out = []
    loop.call_soon(out.append, 1)
    loop.stop()
    loop.run_forever()
    assert out == [1]


def test_stop_runs_ready_then_returns(loop):
    out = []

    def first():
        loop.stop()
        loop.call_soon(out.append, "next-iteration")

    loop.call_soon(first)
    loop.call_soon(out.append, "same-iteration")
    loop.run_forever()
    assert out == ["same-iteration"]
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["same-iteration", "next-iteration"]


def test_close_running_loop_rejected(loop):
    errors = []

    def cb():
        try:
            loop.close()
        except RuntimeError as exc:
            errors.append(exc)
        loop.stop()

    loop.call_soon(cb)
    loop.run_forever()
    assert errors
    assert not loop.is_closed()


def test_stopped_before_complete(loop):
    fut = loop.create_future()
    loop.call_soon(loop.stop)
    with pytest.raises(RuntimeError, match="stopped before Future completed"):
        loop.run_until_complete(fut)


def test_create_future_is_c_future(loop):
    fut = loop.create_future()
    assert type(fut) is asyncio.Future
    assert type(fut).__module__ == "_asyncio"
    assert fut.get_loop() is loop


def test_asyncgen_hooks_and_shutdown(loop):
    closed = []

    async def agen():
        try:
            yield 1
            yield 2
        finally:
            closed.append(True)

    async def main():
        g = agen()
        assert await g.__anext__() == 1
        hooks = sys.get_asyncgen_hooks()
        assert hooks.firstiter is not None
        return g

    g = loop.run_until_complete(main())
    assert g in loop._asyncgens
    loop.run_until_complete(loop.shutdown_asyncgens())
    assert closed == [True]
    assert sys.get_asyncgen_hooks().firstiter is None or \
        sys.get_asyncgen_hooks().firstiter != loop._asyncgen_firstiter_hook


def test_keyboard_interrupt_from_callback(loop):
    def cb():
        raise KeyboardInterrupt

    out = []
    loop.call_soon(cb)
    loop.call_soon(out.append, 1)
    with pytest.raises(KeyboardInterrupt):
        loop.run_forever()
    assert not loop.is_running()
    # The rest of the queue survives and the loop can run again.
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == [1]


def test_system_exit_from_callback(loop):
    def cb():
        raise SystemExit(3)

    loop.call_soon(cb)
    with pytest.raises(SystemExit):
        loop.run_forever()
