# tests/python/test_pipes.py — connect_read_pipe / connect_write_pipe (run per backend).
"""Pipe transports of treadle's loop: pipes, socketpairs and ptys, both directions."""

import asyncio
import os
import socket
import tempfile

import pytest

TIMEOUT = 10  # seconds: a broken transport fails its test instead of hanging the suite


def run(loop, coro):
    return loop.run_until_complete(asyncio.wait_for(coro, TIMEOUT))


class ReadRecorder(asyncio.Protocol):
    def __init__(self, loop):
        self.events = []
        self.data = bytearray()
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.events.append("eof")
        return True  # ignored: a read pipe cannot stay half-open

    def connection_lost(self, exc):
        self.events.append(("lost", exc))
        self.done.set_result(exc)


class WriteRecorder(asyncio.BaseProtocol):
    def __init__(self, loop):
        self.events = []
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")

    def connection_lost(self, exc):
        self.events.append(("lost", exc))
        self.done.set_result(exc)


def _pipe_file(pipe, mode):
    """`pipe` as an unbuffered file object: an fd is opened (and owned by the file)."""
    return open(pipe, mode, buffering=0) if isinstance(pipe, int) else pipe


async def read_pipe(loop, pipe):
    """connect_read_pipe with a ReadRecorder on `pipe` (a file object or an fd, which the
    transport then owns); (transport, protocol)."""
    return await loop.connect_read_pipe(lambda: ReadRecorder(loop), _pipe_file(pipe, "rb"))


async def write_pipe(loop, pipe):
    """connect_write_pipe with a WriteRecorder on `pipe` (a file object or an fd, which the
    transport then owns); (transport, protocol)."""
    return await loop.connect_write_pipe(lambda: WriteRecorder(loop), _pipe_file(pipe, "wb"))


def test_read_pipe_delivers_data_then_eof(loop):
    r, w = os.pipe()
    pipe = open(r, "rb", buffering=0)

    async def main():
        transport, proto = await read_pipe(loop, pipe)
        assert proto.events == ["made"]
        assert transport.get_extra_info("pipe") is pipe
        assert transport.is_reading()
        os.write(w, b"hello ")
        os.write(w, b"pipe")
        os.close(w)
        assert await proto.done is None
        assert bytes(proto.data) == b"hello pipe"
        assert proto.events == ["made", "eof", ("lost", None)]
        assert pipe.closed  # the transport owned it
        assert "closed" in repr(transport)

    run(loop, main())


def test_read_pipe_pause_and_resume(loop):
    r, w = os.pipe()

    async def main():
        transport, proto = await read_pipe(loop, r)
        transport.pause_reading()
        assert not transport.is_reading()
        os.write(w, b"held")
        await asyncio.sleep(0.05)
        assert proto.data == b""
        transport.resume_reading()
        while proto.data != b"held":
            await asyncio.sleep(0.01)
        transport.close()
        assert transport.is_closing()
        assert await proto.done is None
        assert "eof" not in proto.events  # close() is not an end of stream
        os.close(w)

    run(loop, main())


def test_write_pipe_writes_and_flushes_on_close(loop):
    r, w = os.pipe()
    os.set_blocking(r, False)

    async def main():
        transport, proto = await write_pipe(loop, w)
        assert transport.can_write_eof()
        big = os.urandom(1 << 20)  # more than a pipe holds: most of it is queued
        transport.write(b"head:")
        transport.write(bytearray(big))
        assert transport.get_write_buffer_size() > 0
        assert "pause" in proto.events
        transport.close()  # flushes the queue first
        got = bytearray()
        while True:
            try:
                chunk = os.read(r, 1 << 16)
            except BlockingIOError:
                await asyncio.sleep(0.001)
                continue
            if not chunk:
                break
            got += chunk
        assert bytes(got) == b"head:" + big
        assert await proto.done is None
        assert proto.events[-2:] == ["resume", ("lost", None)]
        transport.write(b"after close")  # ignored, as asyncio does
        os.close(r)

    run(loop, main())


def test_write_pipe_reader_gone(loop):
    """The reader closing ends the transport (with BrokenPipeError if bytes were queued)."""
    r, w = os.pipe()

    async def main():
        transport, proto = await write_pipe(loop, w)
        transport.write(b"x" * (1 << 20))
        os.close(r)
        exc = await asyncio.wait_for(proto.done, 5)
        assert isinstance(exc, BrokenPipeError)
        transport.write(b"more")  # no exception: counted as a write after loss

    run(loop, main())


def test_write_pipe_abort_drops_queue(loop):
    r, w = os.pipe()

    async def main():
        transport, proto = await write_pipe(loop, w)
        transport.write(b"y" * (1 << 20))
        transport.abort()
        assert transport.get_write_buffer_size() == 0
        assert await proto.done is None

    run(loop, main())
    os.close(r)


def test_socketpair_as_pipes(loop):
    a, b = socket.socketpair()

    async def main():
        rt, rp = await read_pipe(loop, a.detach())
        wt, wp = await write_pipe(loop, b.detach())
        wt.write(b"through a socketpair")
        wt.close()
        assert await rp.done is None
        assert await wp.done is None
        assert bytes(rp.data) == b"through a socketpair"

    run(loop, main())


def test_pty_read_and_write(loop):
    master, slave = os.openpty()

    async def main():
        rt, rp = await read_pipe(loop, master)
        wt, wp = await write_pipe(loop, os.dup(slave))
        wt.write(b"ping\n")
        while b"ping" not in rp.data:
            await asyncio.sleep(0.01)
        wt.close()
        await wp.done
        os.close(slave)  # the master now reads EIO: a quiet end, not an error
        rt.close()
        await rp.done

    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))
    run(loop, main())
    assert errors == []


def test_regular_file_rejected(loop):
    with tempfile.TemporaryFile() as f:
        with pytest.raises(ValueError, match="Pipe transport"):
            loop.run_until_complete(loop.connect_read_pipe(asyncio.Protocol, f))
        with pytest.raises(ValueError, match="Pipe transport"):
            loop.run_until_complete(loop.connect_write_pipe(asyncio.BaseProtocol, f))


def test_write_type_errors(loop):
    r, w = os.pipe()

    async def main():
        transport, proto = await write_pipe(loop, w)
        with pytest.raises(TypeError, match="bytes-like"):
            transport.write("text")
        transport.write(b"")  # nothing to do
        assert transport.get_write_buffer_size() == 0
        transport.close()
        await proto.done

    run(loop, main())
    os.close(r)


def test_unclosed_transport_warns(loop):
    r, w = os.pipe()

    async def main():
        transport, _ = await loop.connect_read_pipe(asyncio.Protocol, open(r, "rb", 0))
        return transport

    transport = run(loop, main())
    with pytest.warns(ResourceWarning, match="unclosed transport"):
        transport.__del__()
    os.close(w)
