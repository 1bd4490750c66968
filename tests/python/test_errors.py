# tests/python/test_errors.py — exception handler API, callback errors, slow-callback logging.
"""Tests of error reporting."""

import asyncio
import logging
import time


def test_callback_exception_goes_to_handler_and_loop_continues(loop):
    contexts = []
    out = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append((lp, ctx)))

    def bad():
        raise ZeroDivisionError("x")

    h = loop.call_soon(bad)
    loop.call_soon(out.append, "after")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["after"]
    (lp, ctx), = contexts
    assert lp is loop
    assert isinstance(ctx["exception"], ZeroDivisionError)
    assert ctx["handle"] is h
    assert ctx["message"].startswith("Exception in callback")


def test_get_set_exception_handler(loop):
    assert loop.get_exception_handler() is None
    handler = lambda lp, ctx: None  # noqa: E731
    loop.set_exception_handler(handler)
    assert loop.get_exception_handler() is handler
    loop.set_exception_handler(None)
    import pytest
    with pytest.raises(TypeError):
        loop.set_exception_handler(1)


def test_default_handler_logs(loop, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")
    loop.call_soon(lambda: 1 / 0)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert "Exception in callback" in caplog.text
    assert "ZeroDivisionError" in caplog.text
    caplog.clear()
    loop.default_exception_handler({"message": "custom", "exception": ValueError("v"),
                                    "extra": 1})
    assert "custom" in caplog.text and "extra: 1" in caplog.text


def test_failing_handler_reported(loop, caplog):
    caplog.set_level(logging.ERROR, logger="asyncio")

    def handler(lp, ctx):
        raise RuntimeError("handler broke")

    loop.set_exception_handler(handler)
    loop.call_exception_handler({"message": "m"})
    assert "Unhandled error in exception handler" in caplog.text


def test_cancelled_error_in_callback_reported(loop):
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    def bad():
        raise asyncio.CancelledError

    loop.call_soon(bad)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert isinstance(contexts[0]["exception"], asyncio.CancelledError)


def test_slow_callback_warning(loop, caplog):
    caplog.set_level(logging.WARNING, logger="asyncio")
    loop.set_debug(True)
    loop.slow_callback_duration = 0.01
    loop.call_soon(time.sleep, 0.03)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert "Executing" in caplog.text and "took" in caplog.text


def test_unhandled_task_exception_reported(loop):
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    async def bad():
        raise ValueError("task")

    t = loop.create_task(bad())
    loop.run_until_complete(asyncio.sleep(0.01))
    del t
    import gc
    gc.collect()
    assert any(isinstance(c.get("exception"), ValueError) for c in contexts)
