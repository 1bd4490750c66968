# tests/python/test_call_soon.py — call_soon, call_soon_threadsafe, Handle objects, contexts.
"""Tests of the ready queue as seen from Python."""

import contextvars
import threading
import time

import pytest

import treadle

var = contextvars.ContextVar("var", default="unset")


def test_call_soon_order_and_args(loop):
    out = []
    for i in range(5):
        loop.call_soon(out.append, i)
    loop.call_soon(lambda *a: out.append(a), 1, 2, 3, 4, 5)
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == [0, 1, 2, 3, 4, (1, 2, 3, 4, 5)]


def test_handle_api(loop):
    h = loop.call_soon(lambda: None)
    assert isinstance(h, treadle.Handle)
    assert not h.cancelled()
    assert isinstance(h.get_context(), contextvars.Context)
    assert "lambda" in repr(h)
    h.cancel()
    assert h.cancelled()
    assert "cancelled" in repr(h)


def test_cancelled_does_not_run(loop):
    out = []
    h = loop.call_soon(out.append, 1)
    h.cancel()
    h.cancel()
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == []


def test_context_copied_at_schedule_time(loop):
    out = []
    var.set("outer")
    loop.call_soon(lambda: out.append(var.get()))
    var.set("later")
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["outer"]


def test_explicit_context_honoured(loop):
    ctx = contextvars.Context()
    ctx.run(var.set, "inside")
    out = []

    def cb():
        out.append(var.get())
        var.set("changed")

    h = loop.call_soon(cb, context=ctx)
    assert h.get_context() is ctx
    loop.call_soon(loop.stop)
    loop.run_forever()
    assert out == ["inside"] and ctx[var] == "changed"
    assert var.get() != "changed"


def test_call_soon_threadsafe_wakes_loop(loop):
    out = []

    def worker():
        time.sleep(0.05)
        loop.call_soon_threadsafe(out.append, "x")
        loop.call_soon_threadsafe(loop.stop)

    t = threading.Thread(target=worker)
    t.start()
    t0 = time.monotonic()
    loop.run_forever()  # blocks in the wait with the GIL released
    t.join()
    assert out == ["x"]
    assert time.monotonic() - t0 < 5


def test_call_soon_threadsafe_returns_handle(loop):
    h = loop.call_soon_threadsafe(lambda: None, context=contextvars.copy_context())
    assert isinstance(h, treadle.Handle)
    h.cancel()
    assert h.cancelled()


def test_bad_keyword(loop):
    with pytest.raises(TypeError):
        loop.call_soon(print, foo=1)
    with pytest.raises(TypeError):
        loop.call_soon()


def test_debug_checks(loop):
    loop.set_debug(True)
    assert loop.get_debug()

    async def coro():
        pass

    with pytest.raises(TypeError):
        loop.call_soon(coro)
    with pytest.raises(TypeError):
        loop.call_soon(1)
    loop.set_debug(False)
    loop.call_soon(1).cancel()  # not checked outside debug mode, as asyncio


def test_debug_wrong_thread_raises(loop):
    loop.set_debug(True)
    errors = []

    def other_thread():
        try:
            loop.call_soon(lambda: None)
        except RuntimeError as exc:
            errors.append(exc)
        loop.call_soon_threadsafe(loop.stop)

    loop.call_soon(lambda: threading.Thread(target=other_thread).start())
    loop.run_forever()
    assert errors and "other than the current one" in str(errors[0])


def test_closed_loop_rejects(loop):
    loop.close()
    assert loop.is_closed()
    for call in (lambda: loop.call_soon(print), lambda: loop.call_later(1, print),
                 lambda: loop.call_at(1, print), lambda: loop.call_soon_threadsafe(print),
                 lambda: loop.run_forever(), lambda: loop.create_task(None),
                 lambda: loop.add_reader(0, print)):
        with pytest.raises(RuntimeError, match="Event loop is closed"):
            call()
    loop.close()  # idempotent


def test_close_drops_pending_callbacks(loop):
    class Token:
        pass

    import weakref
    tok = Token()
    ref = weakref.ref(tok)
    h = loop.call_soon(lambda t: None, tok)
    del tok
    loop.close()
    assert ref() is None
    assert not h.cancelled()


def test_loops_waiting_in_several_threads(backend):
    # Each loop releases the GIL in its own wait; they must not share the saved thread state.
    loops = [treadle.new_event_loop(backend) for _ in range(4)]
    results = []

    def run(lp):
        lp.call_later(0.05, lp.stop)
        lp.run_forever()
        results.append(lp)

    threads = [threading.Thread(target=run, args=(lp,)) for lp in loops]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 4
    for lp in loops:
        lp.close()
