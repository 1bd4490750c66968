# tests/python/test_bad_input.py — bad input from Python on the network API: wrong types and
# values, closing transports, huge writes, raising protocol callbacks, resetting peers (run per
# backend). Each case must give a clear error, lose no byte it accepted, and leak nothing.
"""Bad input and hostile peers on treadle's transports, seen from Python."""

import asyncio
import gc
import os
import socket
import struct
import weakref

import pytest

import treadle

from test_tcp import Recorder, echo_server, wait_for


def _sockets_open():
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
        except OSError:
            pass
    return count


@pytest.fixture
def errors(loop):
    """Every context the loop's exception handler receives."""
    seen = []
    loop.set_exception_handler(lambda lp, ctx: seen.append(ctx))
    return seen


def test_wrong_argument_types_and_values(loop):
    async def main():
        server, port, _ = await echo_server(loop)
        with pytest.raises(socket.gaierror):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", "not a port")
        with pytest.raises(TypeError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", 1.5)
        with pytest.raises(OverflowError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", 70000)
        with pytest.raises(ConnectionRefusedError):  # a service name resolves (/etc/services)
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", "tcpmux")
        with pytest.raises((TypeError, OSError)):
            await loop.create_server(asyncio.Protocol, 12345, 0)
        with pytest.raises(TypeError):
            await loop.create_connection(asyncio.Protocol, sock=object())
        with pytest.raises(TypeError):
            await loop.create_server(asyncio.Protocol, sock="not a socket")
        with pytest.raises((TypeError, ValueError)):
            await loop.sock_recv(object(), 10)
        with pytest.raises(ValueError):
            loop.add_reader(-1, lambda: None)
        with pytest.raises(ValueError):
            loop.add_writer(object(), lambda: None)
        transport, _ = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1", port)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=1, low=2)
        with pytest.raises((ValueError, OverflowError, TypeError)):
            transport.set_write_buffer_limits(high=-1)
        with pytest.raises(TypeError):
            transport.write(12)
        with pytest.raises(TypeError):
            transport.writelines(b"not a list of bytes objects"[0])
        with pytest.raises(TypeError):
            transport.writelines([b"ok", "str"])
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_non_contiguous_write_is_refused_and_connection_survives(loop):
    """asyncio's socket.send() fails on a non-contiguous buffer and kills the connection;
    treadle refuses it up front with BufferError and keeps the connection usable."""
    async def main():
        server, port, sprotos = await echo_server(loop)
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        with pytest.raises(BufferError):
            transport.write(memoryview(b"abcdef")[::2])
        transport.write(memoryview(b"abcdef")[1:3])  # contiguous slices are fine
        await wait_for(lambda: bytes(client.data) == b"bc")
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_write_to_closing_and_closed_transport(loop, errors):
    async def main():
        server, port, sprotos = await echo_server(loop)
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        transport.write(b"before close")
        transport.close()
        assert transport.is_closing()
        transport.write(b"dropped")  # asyncio: silently dropped once closing
        transport.writelines([b"dropped", b"too"])
        transport.write_eof()  # no-op once closing
        transport.pause_reading()  # no-op once closing
        transport.resume_reading()
        await client.lost
        await wait_for(lambda: sprotos and bytes(sprotos[0].data) == b"before close")
        for _ in range(10):
            transport.write(b"after connection_lost")
        transport.abort()
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
    assert errors == []


def test_huge_write_is_delivered_whole(loop):
    """A 64 MiB write in one call: buffered, delivered in order, memory released."""
    payload = os.urandom(1 << 20) * 64

    async def main():
        received = bytearray()
        done = loop.create_future()

        class Sink(asyncio.Protocol):
            def data_received(self, data):
                received.extend(data)
                if len(received) == len(payload):
                    done.set_result(None)

        server = await loop.create_server(Sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        transport.write(payload)
        assert 0 < transport.get_write_buffer_size() <= len(payload)
        assert "pause" in client.events
        await asyncio.wait_for(done, 60)
        assert received == payload
        await wait_for(lambda: transport.get_write_buffer_size() == 0)
        assert client.events.count("pause") == client.events.count("resume")
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_raising_pause_writing_is_reported_and_connection_survives(loop, errors):
    """asyncio reports a failing pause_writing()/resume_writing() and carries on."""
    class Raising(Recorder):
        def pause_writing(self):
            super().pause_writing()
            raise RuntimeError("pause_writing failed")

    async def main():
        server, port, sprotos = await echo_server(loop)
        transport, client = await loop.create_connection(lambda: Raising(loop), "127.0.0.1",
                                                         port)
        transport.set_write_buffer_limits(high=0)
        transport.write(b"x" * (4 << 20))
        await wait_for(lambda: errors, 10)
        assert errors[0]["message"] == "protocol.pause_writing() failed"
        assert not transport.is_closing()
        await wait_for(lambda: len(client.data) == 4 << 20, 30)  # echoed back in full
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
    assert len(errors) == 1


@pytest.mark.parametrize("method", ["connection_made", "eof_received", "connection_lost"])
def test_raising_callbacks_are_reported_and_close_cleanly(loop, errors, method):
    class Raising(Recorder):
        pass

    def boom(self, *args):
        getattr(Recorder, method)(self, *args)
        raise RuntimeError(f"{method} failed")

    setattr(Raising, method, boom)

    async def main():
        before = _sockets_open()
        protos = []

        def factory():
            protos.append(Raising(loop))
            return protos[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await wait_for(lambda: protos and protos[0].transport is not None)
        if method in ("eof_received", "connection_lost"):
            writer.write_eof()
        await wait_for(lambda: errors, 10)
        # The failing connection is closed: our reader sees its end.
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
        await wait_for(lambda: protos[0].lost.done(), 10)
        server.close()
        await server.wait_closed()
        await asyncio.sleep(0.01)
        assert _sockets_open() == before

    loop.run_until_complete(main())
    assert len(errors) == 1, errors
    assert isinstance(errors[0]["exception"], RuntimeError)
    assert method in str(errors[0]["exception"])


@pytest.mark.parametrize("bad", ["empty", "not_a_buffer", "readonly", "raises"])
def test_buffered_protocol_bad_get_buffer(loop, errors, bad):
    class Bad(asyncio.BufferedProtocol):
        def __init__(self):
            self.lost = loop.create_future()

        def connection_made(self, transport):
            self.transport = transport

        def get_buffer(self, sizehint):
            if bad == "empty":
                return bytearray()
            if bad == "not_a_buffer":
                return 42
            if bad == "readonly":
                return b"immutable"
            raise KeyError("get_buffer")

        def buffer_updated(self, nbytes):
            raise AssertionError("never reached")

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        protos = []

        def factory():
            protos.append(Bad())
            return protos[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"data")
        await wait_for(lambda: protos and protos[0].lost.done(), 10)
        try:
            assert await reader.read() == b""
        except ConnectionResetError:
            pass  # closed with our bytes unread: the kernel resets, as with asyncio
        writer.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
    assert len(errors) == 1
    assert "get_buffer" in errors[0]["message"]


def test_peer_reset_mid_stream(loop, errors):
    """The peer resets while we have megabytes queued: connection_lost once, with the reset
    (or broken pipe) error, no call to the exception handler, nothing left open."""
    async def main():
        accepted = loop.create_future()

        class Accept(Recorder):
            def connection_made(self, transport):
                super().connection_made(transport)
                accepted.set_result(self)

        server = await loop.create_server(lambda: Accept(loop), "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        peer = socket.create_connection(("127.0.0.1", port))
        proto = await accepted
        proto.transport.write(b"z" * (16 << 20))
        assert proto.transport.get_write_buffer_size() > 0
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()  # RST
        exc = await asyncio.wait_for(proto.lost, 10)
        assert isinstance(exc, (ConnectionResetError, BrokenPipeError))
        await asyncio.sleep(0.05)
        assert proto.events.count(("lost", exc)) == 1
        assert proto.transport.get_write_buffer_size() == 0
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
    assert errors == []


def test_peer_reset_while_reading(loop, errors):
    async def main():
        server, port, sprotos = await echo_server(loop)
        peer = socket.create_connection(("127.0.0.1", port))
        peer.sendall(b"partial frame")
        await wait_for(lambda: sprotos and bytes(sprotos[0].data) == b"partial frame")
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        peer.close()
        exc = await asyncio.wait_for(sprotos[0].lost, 10)
        assert exc is None or isinstance(exc, ConnectionResetError)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())
    assert errors == []


def test_operations_on_closed_loop(loop):
    loop.close()
    coro = loop.create_connection(asyncio.Protocol, "127.0.0.1", 1)
    with pytest.raises(RuntimeError, match="closed"):
        loop.run_until_complete(coro)
    coro.close()  # never started (asyncio behaves the same)
    with pytest.raises(RuntimeError, match="closed"):
        loop.call_soon(print)


def test_fd_of_a_transport_is_refused(loop):
    """asyncio refuses add_reader/sock_* on a socket a live transport uses."""
    async def main():
        server, port, _ = await echo_server(loop)
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setblocking(False)
        transport, proto = await loop.create_connection(lambda: Recorder(loop), sock=sock)
        own_fd = transport.get_extra_info("socket").fileno()
        for fd in (sock, own_fd):
            with pytest.raises(RuntimeError, match="is used by transport"):
                loop.add_reader(fd, lambda: None)
            with pytest.raises(RuntimeError, match="is used by transport"):
                loop.add_writer(fd, lambda: None)
            with pytest.raises(RuntimeError, match="is used by transport"):
                loop.remove_reader(fd)
        with pytest.raises(RuntimeError, match="is used by transport"):
            await loop.sock_recv(sock, 10)
        with pytest.raises(RuntimeError, match="is used by transport"):
            await loop.sock_sendall(sock, b"x")
        transport.close()
        await proto.lost
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_transport_objects_outliving_their_loop_crash_nothing(backend):
    """A transport's socket and write method, and a server's handles, may be freed after their
    loop was closed and dropped (say, in a reference cycle that the collector reaches late).
    They keep the loop object alive until then, and free it with them: no crash, no leak."""
    loop = treadle.new_event_loop(backend)

    class Client(asyncio.Protocol):
        def __init__(self):
            self.lost = loop.create_future()

        def connection_lost(self, exc):
            self.lost.set_result(exc)

    async def main():
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(Client, "127.0.0.1", port)
        kept = [transport.get_extra_info("socket"), transport.write, server._handles]
        transport.close()
        await client.lost
        server.close()
        await server.wait_closed()
        return kept

    kept = loop.run_until_complete(main())
    loop.close()
    loop_ref = weakref.ref(loop)
    del loop, main, Client
    gc.collect()
    assert loop_ref() is not None  # held by what was kept
    del kept  # the last owners of the C++ transport and server, which use their loop as they go
    gc.collect()
    assert loop_ref() is None
