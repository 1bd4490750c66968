# tests/python/test_readers.py — add_reader/remove_reader/add_writer/remove_writer.
"""Tests of readiness watchers."""

import contextvars
import os
import socket
import tempfile

import pytest

var = contextvars.ContextVar("var", default="none")


def test_reader_fires_and_removes(loop):
    r, w = socket.socketpair()
    got = []

    def on_read(tag):
        got.append((tag, r.recv(100), var.get()))
        assert loop.remove_reader(r)
        loop.stop()

    var.set("ctx")
    loop.add_reader(r, on_read, "tag")  # an object with fileno()
    var.set("none")
    w.send(b"hello")
    loop.run_forever()
    assert got == [("tag", b"hello", "ctx")]
    assert not loop.remove_reader(r.fileno())
    r.close(), w.close()


def test_writer(loop):
    r, w = socket.socketpair()
    hits = []

    def on_write():
        hits.append(1)
        loop.remove_writer(w.fileno())
        loop.stop()

    loop.add_writer(w.fileno(), on_write)
    loop.run_forever()
    assert hits == [1]
    assert not loop.remove_writer(w)
    r.close(), w.close()


def test_replace_reader(loop):
    r, w = socket.socketpair()
    got = []
    loop.add_reader(r, got.append, "first")

    def second():
        got.append("second")
        r.recv(10)
        loop.stop()

    loop.add_reader(r, second)
    w.send(b"x")
    loop.run_forever()
    assert got == ["second"]
    loop.remove_reader(r)
    r.close(), w.close()


def test_reader_exception_goes_to_handler(loop):
    r, w = socket.socketpair()
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: (contexts.append(ctx), loop.stop()))

    def bad():
        r.recv(10)
        raise ValueError("reader")

    loop.add_reader(r, bad)
    w.send(b"x")
    loop.run_forever()
    assert isinstance(contexts[0]["exception"], ValueError)
    loop.remove_reader(r)
    r.close(), w.close()


def test_regular_file_rejected(loop):
    with tempfile.TemporaryFile() as f:
        with pytest.raises(PermissionError):
            loop.add_reader(f, print)


def test_bad_fd(loop):
    with pytest.raises(ValueError):
        loop.add_reader(-1, print)
    with pytest.raises(ValueError):
        loop.add_reader(object(), print)
    r, w = os.pipe()
    os.close(r), os.close(w)
    with pytest.raises(OSError):
        loop.add_reader(r, print)
