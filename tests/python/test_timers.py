# tests/python/test_timers.py — call_later, call_at, TimerHandle, time().
"""Tests of timers."""

import time

import pytest

import treadle


def test_time_is_monotonic(loop):
    t = loop.time()
    assert abs(t - time.monotonic()) < 0.5
    assert loop.time() >= t


def test_call_later_order_and_never_early(loop):
    out = []
    start = loop.time()
    for d in (0.03, 0.01, 0.02):
        loop.call_later(d, lambda d=d: out.append((d, loop.time() - start)))
    loop.call_later(0.05, loop.stop)
    loop.run_forever()
    assert [d for d, _ in out] == [0.01, 0.02, 0.03]
    assert all(elapsed >= d for d, elapsed in out)


def test_timer_handle_api(loop):
    now = loop.time()
    h = loop.call_at(now + 10, print)
    assert isinstance(h, treadle.TimerHandle) and isinstance(h, treadle.Handle)
    assert h.when() == now + 10
    h2 = loop.call_later(5, print, 1, context=None)
    assert h2 < h and h2.when() <= loop.time() + 5
    assert "when=" in repr(h)
    h.cancel()
    h2.cancel()
    assert h.cancelled()


def test_cancel_timer(loop):
    out = []
    h = loop.call_later(0.001, out.append, 1)
    loop.call_later(0.01, loop.stop)
    h.cancel()
    loop.run_forever()
    assert out == []


def test_none_delay_rejected(loop):
    with pytest.raises(TypeError):
        loop.call_later(None, print)
    with pytest.raises(TypeError):
        loop.call_at(None, print)
    with pytest.raises(TypeError):
        loop.call_later("x", print)


def test_zero_and_negative_delay(loop):
    out = []
    loop.call_later(-1, out.append, "neg")
    loop.call_later(0, out.append, "zero")
    loop.call_later(0.001, loop.stop)
    loop.run_forever()
    assert out == ["neg", "zero"]
