# tests/python/test_tcp.py — Python protocols over the C++ StreamTransport: create_connection,
# create_server, TCPTransport, asyncio streams on top; errors from Python (run per backend).
"""TCP transports and servers of treadle's loop, seen from Python."""

import asyncio
import errno
import os
import socket
import struct

import pytest

from treadle import _transports


class Recorder(asyncio.Protocol):
    """Records every callback; echoes if asked to."""

    def __init__(self, loop, echo=False, eof_result=False):
        self.loop = loop
        self.echo = echo
        self.eof_result = eof_result
        self.events = []
        self.data = bytearray()
        self.transport = None
        self.made = loop.create_future()
        self.lost = loop.create_future()
        self.eof = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")
        self.made.set_result(transport)

    def data_received(self, data):
        assert isinstance(data, bytes)
        self.events.append("data")
        self.data += data
        if self.echo:
            self.transport.write(data)

    def eof_received(self):
        self.events.append("eof")
        self.eof.set_result(None)
        return self.eof_result

    def connection_lost(self, exc):
        self.events.append(("lost", exc))
        self.lost.set_result(exc)

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")


async def wait_for(cond, timeout=5.0):
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise TimeoutError("condition not met")
        await asyncio.sleep(0.005)


async def echo_server(loop, echo=True, **kwargs):
    protocols = []

    def factory():
        p = Recorder(loop, echo=echo, **kwargs)
        protocols.append(p)
        return p

    server = await loop.create_server(factory, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, port, protocols


def test_echo_round_trip(loop):
    async def main():
        server, port, sprotos = await echo_server(loop)
        assert isinstance(server, asyncio.AbstractServer)
        assert server.is_serving()
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        assert isinstance(transport, asyncio.Transport)
        assert isinstance(transport, _transports.TCPTransport)
        assert transport.get_protocol() is client
        await client.made
        transport.write(b"hello ")
        transport.writelines([b"wor", bytearray(b"ld"), memoryview(b"!")])
        await wait_for(lambda: bytes(client.data) == b"hello world!")
        big = bytes(range(256)) * 4096  # 1 MiB: goes through the write queue
        transport.write(big)
        await wait_for(lambda: len(client.data) == 12 + len(big))
        assert bytes(client.data[12:]) == big
        transport.close()
        assert transport.is_closing()
        assert await client.lost is None
        assert client.events[0] == "made"
        assert client.events[-1] == ("lost", None)
        assert client.events.count(("lost", None)) == 1
        await wait_for(lambda: sprotos and sprotos[0].lost.done())
        assert sprotos[0].events[-2:] == ["eof", ("lost", None)]
        server.close()
        await server.wait_closed()
        assert not server.is_serving()
        assert server.sockets == ()

    loop.run_until_complete(main())


def test_writes_keep_their_order_and_their_bytes(loop):
    """Small writes wait for the end of the phase and large ones go at once (with the small
    ones before them): the peer still gets every byte in write order, and a buffer changed
    after write() does not change what is sent."""

    async def main():
        server, port, protos = await echo_server(loop, echo=False)
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        expected = bytearray()

        def burst():
            buf = bytearray(b"abc")
            transport.write(buf)
            expected.extend(buf)
            buf[:] = b"XYZ"
            transport.write(b"1" * 10)
            expected.extend(b"1" * 10)
            big = os.urandom(200_000)
            transport.write(big)
            expected.extend(big)
            transport.writelines([b"t", memoryview(b"ail")])
            expected.extend(b"tail")
            transport.write_eof()

        loop.call_soon(burst)
        await wait_for(lambda: protos and protos[0].eof.done())
        assert bytes(protos[0].data) == bytes(expected)
        transport.close()
        assert await client.lost is None
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_a_write_made_before_stop_is_sent_before_run_forever_returns(loop):
    """Small writes wait for the end of the loop phase, and that phase ends before
    run_forever() returns: nothing is left unsent in the transport once the loop stops."""
    a, b = socket.socketpair()
    b.settimeout(5)
    try:
        transport, _ = loop.run_until_complete(
            loop.create_connection(asyncio.Protocol, sock=a))

        def write_and_stop():
            transport.write(b"sent ")
            transport.write(b"before stop")
            loop.stop()

        loop.call_soon(write_and_stop)
        loop.run_forever()
        assert transport.get_write_buffer_size() == 0
        got = b""
        while len(got) < 16:
            got += b.recv(64)
        assert got == b"sent before stop"
        transport.close()
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        b.close()


def test_streams_unchanged(loop):
    async def handle(reader, writer):
        while data := await reader.read(65536):
            writer.write(data.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        async with server:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            for i in range(50):
                writer.write(b"line %d\n" % i)
                await writer.drain()
                assert await asyncio.wait_for(reader.readline(), 5) == b"LINE %d\n" % i
            writer.write(b"x" * 300000 + b"\n")
            await writer.drain()
            assert await asyncio.wait_for(reader.readexactly(300001), 5) == b"X" * 300000 + b"\n"
            writer.write_eof()
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()
            assert writer.get_extra_info("peername") == ("127.0.0.1", port)

    loop.run_until_complete(main())


def test_half_close(loop):
    async def main():
        server, port, sprotos = await echo_server(loop, eof_result=True)
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        assert transport.can_write_eof()
        transport.write(b"ping")
        transport.write_eof()
        await wait_for(lambda: sprotos and sprotos[0].eof.done())
        # The server kept its side open (eof_received returned True) and can still write.
        sprotos[0].transport.write(b"after eof")
        await wait_for(lambda: bytes(client.data) == b"pingafter eof")
        with pytest.raises(RuntimeError, match="write_eof"):
            transport.write(b"more")
        sprotos[0].transport.close()
        await client.eof
        assert await client.lost is None
        assert await sprotos[0].lost is None
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_flow_control(loop):
    async def main():
        protos = []

        def factory():
            p = Recorder(loop)
            protos.append(p)
            return p

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        await wait_for(lambda: protos and protos[0].transport is not None)
        protos[0].transport.pause_reading()
        assert not protos[0].transport.is_reading()
        transport.set_write_buffer_limits(high=64 * 1024, low=16 * 1024)
        assert transport.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        with pytest.raises(ValueError):
            transport.set_write_buffer_limits(high=1, low=2)
        chunk = b"z" * 65536
        for _ in range(200):
            transport.write(chunk)
            if "pause" in client.events:
                break
        assert "pause" in client.events
        assert transport.get_write_buffer_size() > 64 * 1024
        protos[0].transport.resume_reading()
        assert protos[0].transport.is_reading()
        await wait_for(lambda: "resume" in client.events)
        assert client.events.index("pause") < client.events.index("resume")
        transport.close()
        await client.lost
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_abort_and_reset(loop):
    async def main():
        server, port, sprotos = await echo_server(loop)
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        await wait_for(lambda: sprotos and sprotos[0].transport is not None)
        # SO_LINGER 0 makes close() send a RST: the server sees ConnectionResetError.
        import struct
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                                      struct.pack("ii", 1, 0))
        transport.write(b"x")
        await wait_for(lambda: sprotos[0].data == b"x")
        transport.abort()
        assert await client.lost is None  # asyncio's abort(): connection_lost(None)
        exc = await sprotos[0].lost
        assert isinstance(exc, ConnectionResetError)
        server.close()

    loop.run_until_complete(main())


def test_callback_error_closes_and_reports(loop):
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    class Boom(Recorder):
        def data_received(self, data):
            super().data_received(data)
            raise ZeroDivisionError("boom")

    async def main():
        protos = []

        def factory():
            p = Boom(loop)
            protos.append(p)
            return p

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        transport.write(b"trigger")
        exc = await protos[0].lost
        assert isinstance(exc, ZeroDivisionError)  # as asyncio's _fatal_error passes it on
        assert await client.lost is None  # the server closed its side
        assert len(errors) == 1
        ctx = errors[0]
        assert ctx["message"] == "Fatal error: protocol.data_received() call failed."
        assert isinstance(ctx["exception"], ZeroDivisionError)
        assert ctx["protocol"] is protos[0]
        assert ctx["transport"] is protos[0].transport
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_factory_error(loop):
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    def bad_factory():
        raise KeyError("factory")

    async def main():
        server, port, _ = await echo_server(loop)
        with pytest.raises(KeyError):
            await loop.create_connection(bad_factory, "127.0.0.1", port)
        bad = await loop.create_server(bad_factory, "127.0.0.1", 0)
        bad_port = bad.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", bad_port)
        assert await reader.read() == b""  # the accepted connection was closed
        writer.close()
        await wait_for(lambda: errors)
        assert isinstance(errors[0]["exception"], KeyError)
        bad.close()
        server.close()

    loop.run_until_complete(main())


def test_connection_refused(loop):
    async def main():
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        with pytest.raises(ConnectionRefusedError):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)

    loop.run_until_complete(main())


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_addresses_match_asyncio(loop, host):
    async def main():
        try:
            server, port, sprotos = await echo_server_on(loop, host)
        except OSError:
            pytest.skip(f"{host} unavailable")
        transport, client = await loop.create_connection(lambda: Recorder(loop), host, port)
        await wait_for(lambda: sprotos and sprotos[0].transport is not None)
        sock = transport.get_extra_info("socket")
        # What the socket module (and so asyncio) gives for the same addresses.
        assert transport.get_extra_info("peername") == sock.getpeername()
        assert transport.get_extra_info("sockname") == sock.getsockname()
        assert sprotos[0].transport.get_extra_info("peername") == sock.getsockname()
        assert transport.get_extra_info("peername")[:2] == (host, port)
        assert len(transport.get_extra_info("peername")) == (2 if ":" not in host else 4)
        assert sock.family == (socket.AF_INET6 if ":" in host else socket.AF_INET)
        assert sock.fileno() >= 0
        assert transport.get_extra_info("nonexistent", 42) == 42
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
        transport.close()
        await client.lost
        assert sock.fileno() == -1
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_socket_dup_keeps_the_transport_non_blocking(loop):
    """get_extra_info("socket").dup() is non-blocking, as asyncio's; the fd it shares its file
    description with (the transport's) stays non-blocking, and the transport carries on."""
    async def main():
        server, port, sprotos = await echo_server(loop)
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1", port)
        fd = transport.get_extra_info("socket").fileno()
        copy = transport.get_extra_info("socket").dup()
        blocking = os.get_blocking(fd)
        os.set_blocking(fd, False)  # a failure below is then reported, not a hung loop
        try:
            assert not blocking
            assert copy.gettimeout() == 0.0
            assert copy.getpeername() == transport.get_extra_info("peername")
        finally:
            copy.close()
        for i in range(3):  # would hang in a blocking recv() had the fd turned blocking
            transport.write(b"ping %d" % i)
            await wait_for(lambda: bytes(client.data).endswith(b"ping %d" % i))
        transport.close()
        await client.lost
        server.close()
        await server.wait_closed()

    loop.run_until_complete(asyncio.wait_for(main(), 10))


async def echo_server_on(loop, host):
    protocols = []

    def factory():
        p = Recorder(loop, echo=True)
        protocols.append(p)
        return p

    server = await loop.create_server(factory, host, 0)
    return server, server.sockets[0].getsockname()[1], protocols


def test_bad_input(loop):
    async def main():
        server, port, sprotos = await echo_server(loop)
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                         port)
        with pytest.raises(TypeError, match="bytes-like object, not 'str'"):
            transport.write("text")
        with pytest.raises(TypeError):
            transport.writelines([b"ok", 3])
        with pytest.raises(TypeError):
            transport.write(None)
        transport.write(b"")  # nothing, as asyncio
        transport.close()
        transport.write(b"ignored")  # as asyncio: writes after close() are dropped
        transport.close()  # idempotent
        assert await client.lost is None
        transport.write(b"ignored too")
        assert transport.get_write_buffer_size() == 0
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_unsupported_arguments(loop):
    async def main():
        with pytest.raises(NotImplementedError, match="ssl="):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", 1, ssl=True)
        with socket.socket(type=socket.SOCK_DGRAM) as sock, pytest.raises(ValueError):
            await loop.create_connection(asyncio.Protocol, sock=sock)
        with socket.socket(type=socket.SOCK_DGRAM) as sock, pytest.raises(ValueError):
            await loop.create_server(asyncio.Protocol, sock=sock)
        with socket.socket() as sock, pytest.raises(ValueError, match="at the same time"):
            await loop.create_server(asyncio.Protocol, "127.0.0.1", 0, sock=sock)
        with pytest.raises(ValueError):
            await loop.create_connection(asyncio.Protocol)

    loop.run_until_complete(main())


def test_server_lifecycle(loop):
    async def main():
        server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0,
                                          start_serving=False)
        assert not server.is_serving()
        assert server.get_loop() is loop
        await server.start_serving()
        assert server.is_serving()
        port = server.sockets[0].getsockname()[1]
        task = asyncio.ensure_future(server.serve_forever())
        await asyncio.sleep(0)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        await writer.wait_closed()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not server.is_serving()
        with pytest.raises(OSError):
            await asyncio.open_connection("127.0.0.1", port)

        async with await loop.create_server(asyncio.Protocol, "127.0.0.1", 0) as srv:
            assert srv.is_serving()
        assert not srv.is_serving()

        # Several hosts, reuse_port.
        multi = await loop.create_server(asyncio.Protocol, ["127.0.0.1", "127.0.0.1"], 0,
                                         reuse_port=True)
        assert len(multi.sockets) >= 1
        multi.close()
        await multi.wait_closed()

    loop.run_until_complete(main())


def test_set_protocol(loop):
    async def main():
        server, port, sprotos = await echo_server(loop)
        transport, first = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1",
                                                        port)
        transport.write(b"one")
        await wait_for(lambda: first.data == b"one")
        second = Recorder(loop)
        transport.set_protocol(second)
        second.transport = transport
        assert transport.get_protocol() is second
        transport.write(b"two")
        await wait_for(lambda: second.data == b"two")
        transport.close()
        assert await second.lost is None
        assert not first.lost.done()
        server.close()

    loop.run_until_complete(main())


def test_loop_closed_with_open_transport(backend):
    import gc

    import treadle

    lp = treadle.new_event_loop(backend)

    async def main():
        server, port, sprotos = await echo_server(lp)
        transport, client = await lp.create_connection(lambda: Recorder(lp), "127.0.0.1", port)
        await wait_for(lambda: sprotos and sprotos[0].transport is not None)
        return server, transport, client

    server, transport, client = lp.run_until_complete(main())
    lp.close()  # closes the sockets; connection_lost can no longer run
    assert transport.is_closing()
    assert transport.get_extra_info("socket").fileno() == -1
    transport.write(b"dropped")
    transport.close()
    transport.abort()
    server.close()
    del server, transport, client
    gc.collect()


class BufferedRecorder(asyncio.BufferedProtocol):
    """Receives into its own small buffer (zero copy from the transport's side)."""

    def __init__(self, loop, size=7):
        self.buf = bytearray(size)
        self.data = bytearray()
        self.hints = []
        self.transport = None
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport

    def get_buffer(self, sizehint):
        self.hints.append(sizehint)
        return self.buf

    def buffer_updated(self, nbytes):
        self.data += self.buf[:nbytes]

    def eof_received(self):
        return False

    def connection_lost(self, exc):
        self.lost.set_result(exc)


def test_buffered_protocol(loop):
    errors = []
    loop.set_exception_handler(lambda lp, ctx: errors.append(ctx))

    async def main():
        server, port, _ = await echo_server(loop)
        payload = bytes(range(256)) * 200
        transport, proto = await loop.create_connection(lambda: BufferedRecorder(loop),
                                                        "127.0.0.1", port)
        transport.write(payload)
        await wait_for(lambda: len(proto.data) == len(payload))
        assert bytes(proto.data) == payload
        assert proto.hints and all(h > 0 for h in proto.hints)
        # Switching to a Protocol and back mid-connection.
        plain = Recorder(loop)
        transport.set_protocol(plain)
        transport.write(b"plain")
        await wait_for(lambda: plain.data == b"plain")
        again = BufferedRecorder(loop, size=1)
        transport.set_protocol(again)
        transport.write(b"buffered")
        await wait_for(lambda: again.data == b"buffered")
        transport.close()
        assert await again.lost is None

        class Empty(BufferedRecorder):
            def get_buffer(self, sizehint):
                return bytearray()

        transport, proto = await loop.create_connection(lambda: Empty(loop), "127.0.0.1", port)
        transport.write(b"x")
        await proto.lost
        assert errors
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_transport_socket_options_match_the_socket_module(loop):
    """get_extra_info("socket")'s getsockopt/setsockopt (C, on the fd) accept, return and
    refuse what socket.socket's do, message for message; family/type/proto are its enums."""
    async def main():
        server, port, _ = await echo_server(loop)
        transport, client = await loop.create_connection(lambda: Recorder(loop), "127.0.0.1", port)
        tsock = transport.get_extra_info("socket")
        real = socket.socket(fileno=os.dup(tsock.fileno()))
        try:
            assert (tsock.family, tsock.type, tsock.proto) == (real.family, real.type, real.proto)
            assert isinstance(tsock.family, socket.AddressFamily)
            assert isinstance(tsock.type, socket.SocketKind)
            level, opt = socket.SOL_SOCKET, socket.SO_KEEPALIVE
            tsock.setsockopt(level, opt, 1)
            assert tsock.getsockopt(level, opt) == real.getsockopt(level, opt) == 1
            tsock.setsockopt(level, opt, False)
            assert real.getsockopt(level, opt) == 0
            tsock.setsockopt(level, socket.SO_LINGER, struct.pack("ii", 1, 5))
            assert tsock.getsockopt(level, socket.SO_LINGER, 8) == struct.pack("ii", 1, 5)
            assert tsock.getsockopt(level, socket.SO_LINGER, 8) == real.getsockopt(
                level, socket.SO_LINGER, 8)
            bad_calls = [
                ("setsockopt", (level,)),
                ("setsockopt", (level, opt, "1")),
                ("setsockopt", (level, opt, 1.5)),
                ("setsockopt", (level, opt, 1, 4)),
                ("setsockopt", (level, opt, 2 ** 40)),
                ("setsockopt", ("a", opt, 1)),
                ("setsockopt", (2 ** 40, opt, 1)),
                ("setsockopt", (-2 ** 40, opt, 1)),
                ("getsockopt", (level, 2 ** 70)),
                ("setsockopt", (level, 12345, 1)),
                ("getsockopt", (level,)),
                ("getsockopt", (level, opt, 4, 4)),
                ("getsockopt", (level, opt, 2000)),
                ("getsockopt", (level, opt, -1)),
                ("getsockopt", (level, 12345)),
            ]
            for name, args in bad_calls:
                with pytest.raises(Exception) as expected:
                    getattr(real, name)(*args)
                with pytest.raises(Exception) as raised:
                    getattr(tsock, name)(*args)
                assert type(raised.value) is type(expected.value), (name, args)
                assert str(raised.value) == str(expected.value), (name, args)
        finally:
            real.close()
        transport.close()
        await client.lost
        with pytest.raises(OSError) as closed:
            tsock.setsockopt(level, opt, 1)
        assert closed.value.errno == errno.EBADF
        server.close()
        await server.wait_closed()

    loop.run_until_complete(asyncio.wait_for(main(), 10))
