# tests/python/test_tasks.py — create_task (name, context), task factories, run_in_executor,
# default executors.
"""Tests of tasks and executors."""

import asyncio
import concurrent.futures
import contextvars
import threading

import pytest

var = contextvars.ContextVar("var", default=None)


def test_create_task_is_c_task(loop):
    async def coro():
        return 7

    task = loop.create_task(coro(), name="seven")
    assert type(task) is asyncio.Task and type(task).__module__ == "_asyncio"
    assert task.get_name() == "seven"
    assert loop.run_until_complete(task) == 7


def test_create_task_context(loop):
    ctx = contextvars.Context()
    ctx.run(var.set, "ctx")

    async def coro():
        return var.get()

    assert loop.run_until_complete(loop.create_task(coro(), context=ctx)) == "ctx"


def test_create_task_rejects_non_coroutine(loop):
    with pytest.raises(TypeError):
        loop.create_task(42)


def test_task_factory(loop):
    calls = []

    def factory(lp, coro, context=None):
        calls.append(context)
        return asyncio.Task(coro, loop=lp, context=context)

    assert loop.get_task_factory() is None
    loop.set_task_factory(factory)
    assert loop.get_task_factory() is factory

    async def coro():
        return 1

    t = loop.create_task(coro(), name="named")
    assert t.get_name() == "named"
    ctx = contextvars.copy_context()
    loop.create_task(coro(), context=ctx)
    assert calls == [None, ctx]
    loop.run_until_complete(t)
    loop.set_task_factory(None)
    assert loop.get_task_factory() is None
    with pytest.raises(TypeError):
        loop.set_task_factory(1)
    loop.run_until_complete(asyncio.sleep(0))


def test_cancel_task(loop):
    async def sleeper():
        await asyncio.sleep(10)

    async def main():
        t = loop.create_task(sleeper())
        await asyncio.sleep(0)
        t.cancel()
        with pytest.raises(asyncio.CancelledError):
            await t

    loop.run_until_complete(main())


def test_run_in_executor(loop):
    main_thread = threading.get_ident()

    async def main():
        tid = await loop.run_in_executor(None, threading.get_ident)
        assert tid != main_thread
        return await loop.run_in_executor(None, sum, [1, 2, 3])

    assert loop.run_until_complete(main()) == 6
    loop.run_until_complete(loop.shutdown_default_executor())
    with pytest.raises(RuntimeError, match="shutdown"):
        loop.run_in_executor(None, print)


def test_set_default_executor(loop):
    ex = concurrent.futures.ThreadPoolExecutor(1)
    loop.set_default_executor(ex)
    assert loop.run_until_complete(loop.run_in_executor(None, lambda: 5)) == 5
    with pytest.raises(TypeError):
        loop.set_default_executor(object())
    loop.run_until_complete(loop.shutdown_default_executor())


def test_gather_many_and_timeouts(loop):
    async def main():
        results = await asyncio.gather(*[asyncio.sleep(0.001, i) for i in range(100)])
        assert results == list(range(100))
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.01):
                await asyncio.sleep(10)

    loop.run_until_complete(main())
