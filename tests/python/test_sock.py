# tests/python/test_sock.py — the low-level socket API (sock_*, sock_sendfile, sendfile) of
# treadle's loop, on both backends (TREADLE_BACKEND).
"""sock_* coroutines, sock_sendfile and loop.sendfile on treadle's loop."""

import asyncio
import io
import os
import socket
from unittest import mock

import pytest

BIG = 4 * 1024 * 1024


def nb(sock):
    sock.setblocking(False)
    return sock


@pytest.fixture
def pair():
    a, b = socket.socketpair()
    nb(a), nb(b)
    yield a, b
    a.close()
    b.close()


@pytest.fixture
def listener():
    s = nb(socket.socket())
    s.bind(("127.0.0.1", 0))
    s.listen(8)
    yield s
    s.close()


@pytest.fixture
def datafile(tmp_path):
    data = os.urandom(BIG // 2 + 12345)
    path = tmp_path / "data.bin"
    path.write_bytes(data)
    return path, data


async def recv_exactly(loop, sock, n):
    out = bytearray()
    while len(out) < n:
        chunk = await loop.sock_recv(sock, n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)


async def recv_all(loop, sock):
    out = bytearray()
    while True:
        chunk = await loop.sock_recv(sock, 65536)
        if not chunk:
            return bytes(out)
        out += chunk


async def tcp_pair(loop, listener):
    client = nb(socket.socket())
    accept = loop.create_task(loop.sock_accept(listener))
    await loop.sock_connect(client, listener.getsockname())
    conn, addr = await accept
    assert addr == client.getsockname()
    return client, conn


def test_recv_and_sendall_socketpair(loop, pair):
    a, b = pair

    async def main():
        pending = loop.create_task(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        assert not pending.done()
        await loop.sock_sendall(b, b"hello")
        assert await pending == b"hello"
        await loop.sock_sendall(b, bytearray(b"again"))
        buf = bytearray(10)
        n = await loop.sock_recv_into(a, buf)
        assert buf[:n] == b"again"
        b.close()
        assert await loop.sock_recv(a, 10) == b""

    loop.run_until_complete(main())


def test_recv_into_waits(loop, pair):
    a, b = pair

    async def main():
        buf = bytearray(8)
        pending = loop.create_task(loop.sock_recv_into(a, memoryview(buf)[2:]))
        await asyncio.sleep(0.01)
        assert not pending.done()
        b.send(b"xyz")
        assert await pending == 3
        assert buf[2:5] == b"xyz"

    loop.run_until_complete(main())


def test_sendall_would_block_large(loop, pair):
    a, b = pair
    data = os.urandom(BIG)

    async def main():
        sender = loop.create_task(loop.sock_sendall(a, data))
        await asyncio.sleep(0.05)
        assert not sender.done()  # the peer has not read yet: sendall is waiting
        got = await recv_exactly(loop, b, len(data))
        await sender
        assert got == data
        assert loop.remove_writer(a) is False  # the writer was unregistered

    loop.run_until_complete(main())


def test_tcp_connect_accept_round_trip(loop, listener):
    async def main():
        client, conn = await tcp_pair(loop, listener)
        with client, conn:
            assert conn.gettimeout() == 0
            await loop.sock_sendall(client, b"ping")
            assert await recv_exactly(loop, conn, 4) == b"ping"
            await loop.sock_sendall(conn, b"pong")
            assert await recv_exactly(loop, client, 4) == b"pong"

    loop.run_until_complete(main())


def test_connect_resolves_names(loop, listener):
    port = listener.getsockname()[1]

    async def main():
        client = nb(socket.socket())
        accept = loop.create_task(loop.sock_accept(listener))
        with mock.patch.object(loop, "getaddrinfo", wraps=loop.getaddrinfo) as gai:
            await loop.sock_connect(client, ("localhost", port))
            assert gai.call_count == 1
        conn, _ = await accept
        client.close()
        conn.close()

    loop.run_until_complete(main())


def test_connect_refused(loop):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    addr = probe.getsockname()
    probe.close()

    async def main():
        with nb(socket.socket()) as s:
            with pytest.raises(ConnectionRefusedError):
                await loop.sock_connect(s, addr)

    loop.run_until_complete(main())


def test_udp_sendto_recvfrom(loop):
    a = nb(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    b = nb(socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    a.bind(("127.0.0.1", 0))
    b.bind(("127.0.0.1", 0))

    async def main():
        pending = loop.create_task(loop.sock_recvfrom(b, 100))
        await asyncio.sleep(0.01)
        assert not pending.done()
        assert await loop.sock_sendto(a, b"dgram", b.getsockname()) == 5
        assert await pending == (b"dgram", a.getsockname())
        buf = bytearray(16)
        pending = loop.create_task(loop.sock_recvfrom_into(b, buf))
        await asyncio.sleep(0.01)
        await loop.sock_sendto(a, b"second", b.getsockname())
        assert await pending == (6, a.getsockname())
        assert buf[:6] == b"second"
        await loop.sock_sendto(a, b"truncated", b.getsockname())
        buf = bytearray(16)
        n, addr = await loop.sock_recvfrom_into(b, buf, 4)
        assert (n, bytes(buf[:4]), addr) == (4, b"trun", a.getsockname())

    try:
        loop.run_until_complete(main())
    finally:
        a.close()
        b.close()


def test_cancel_recv_leaves_socket_usable(loop, pair):
    a, b = pair

    async def main():
        pending = loop.create_task(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert loop.remove_reader(a) is False  # nothing left registered
        b.send(b"after")
        assert await loop.sock_recv(a, 100) == b"after"
        pending = loop.create_task(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        b.send(b"again")
        assert await pending == b"again"

    loop.run_until_complete(main())


def test_cancel_accept_leaves_socket_usable(loop, listener):
    async def main():
        pending = loop.create_task(loop.sock_accept(listener))
        await asyncio.sleep(0.01)
        pending.cancel()
        with pytest.raises(asyncio.CancelledError):
            await pending
        assert loop.remove_reader(listener) is False
        client, conn = await tcp_pair(loop, listener)
        client.close()
        conn.close()

    loop.run_until_complete(main())


def test_cancel_sendall_leaves_writer_unregistered(loop, pair):
    a, b = pair

    async def main():
        sender = loop.create_task(loop.sock_sendall(a, os.urandom(BIG)))
        await asyncio.sleep(0.02)
        sender.cancel()
        with pytest.raises(asyncio.CancelledError):
            await sender
        assert loop.remove_writer(a) is False

    loop.run_until_complete(main())


def test_blocking_socket_rejected(loop, pair):
    a, b = pair
    a.setblocking(True)

    async def main():
        for coro in every_sock_method(loop, a):
            with pytest.raises(ValueError, match="non-blocking"):
                await coro

    loop.run_until_complete(main())


def every_sock_method(loop, sock):
    return (loop.sock_recv(sock, 1), loop.sock_recv_into(sock, bytearray(1)),
            loop.sock_recvfrom(sock, 1), loop.sock_recvfrom_into(sock, bytearray(1)),
            loop.sock_sendall(sock, b"x"), loop.sock_sendto(sock, b"x", None),
            loop.sock_connect(sock, "x"), loop.sock_accept(sock),
            loop.sock_sendfile(sock, mock.Mock()))


def test_every_sock_method_checks_its_socket_alike(loop, pair):
    ssl = pytest.importorskip("ssl")
    ssl_sock = ssl.create_default_context().wrap_socket(
        nb(socket.socket()), server_hostname="x", do_handshake_on_connect=False)

    async def main():
        for coro in every_sock_method(loop, 12):
            with pytest.raises(TypeError, match="a socket.socket was expected, got 12"):
                await coro
        for coro in every_sock_method(loop, ssl_sock):
            with pytest.raises(TypeError, match="Socket cannot be of type SSLSocket"):
                await coro
        a, b = pair
        transport, _ = await loop.connect_accepted_socket(asyncio.Protocol, sock=a)
        try:
            for coro in every_sock_method(loop, a):
                with pytest.raises(RuntimeError, match="is used by transport"):
                    await coro
        finally:
            transport.close()

    try:
        loop.run_until_complete(main())
    finally:
        ssl_sock.close()


def test_sock_sendfile_zero_copy(loop, listener, datafile):
    path, data = datafile

    async def main():
        client, conn = await tcp_pair(loop, listener)
        with client, conn, open(path, "rb") as f:
            with mock.patch.object(loop, "_sock_sendfile_fallback") as fb:
                reader = loop.create_task(recv_exactly(loop, conn, len(data) - 100))
                sent = await loop.sock_sendfile(client, f, 100)
                assert not fb.called
            assert sent == len(data) - 100
            assert f.tell() == len(data)
            assert await reader == data[100:]
            # offset and count
            reader = loop.create_task(recv_exactly(loop, conn, 1000))
            assert await loop.sock_sendfile(client, f, 10, 1000) == 1000
            assert f.tell() == 1010
            assert await reader == data[10:1010]

    loop.run_until_complete(main())


def test_sock_sendfile_fallback(loop, listener, datafile):
    path, data = datafile

    class NoFileno:
        mode = "rb"

        def __init__(self, f):
            self.f = f

        def __getattr__(self, name):
            if name == "fileno":
                raise AttributeError(name)
            return getattr(self.f, name)

    async def main():
        client, conn = await tcp_pair(loop, listener)
        with client, conn, open(path, "rb") as raw:
            f = NoFileno(raw)
            with pytest.raises(asyncio.SendfileNotAvailableError):
                await loop.sock_sendfile(client, f, fallback=False)
            reader = loop.create_task(recv_exactly(loop, conn, len(data) - 5))
            assert await loop.sock_sendfile(client, f, 5) == len(data) - 5
            assert raw.tell() == len(data)
            assert await reader == data[5:]
            reader = loop.create_task(recv_exactly(loop, conn, 77))
            assert await loop.sock_sendfile(client, f, 3, 77) == 77
            assert raw.tell() == 80
            assert await reader == data[3:80]

    loop.run_until_complete(main())


def test_sock_sendfile_bad_arguments(loop, pair, datafile, tmp_path):
    path, _ = datafile
    a, b = pair

    async def main():
        with open(path, "rb") as f:
            with pytest.raises(ValueError, match="positive"):
                await loop.sock_sendfile(a, f, count=0)
            with pytest.raises(TypeError):
                await loop.sock_sendfile(a, f, offset="1")
            with pytest.raises(ValueError, match="non-negative"):
                await loop.sock_sendfile(a, f, offset=-1)
        with open(tmp_path / "t.txt", "w") as f:
            with pytest.raises(ValueError, match="binary"):
                await loop.sock_sendfile(a, f)
        with nb(socket.socket(socket.AF_INET, socket.SOCK_DGRAM)) as u, open(path, "rb") as f:
            with pytest.raises(ValueError, match="SOCK_STREAM"):
                await loop.sock_sendfile(u, f)

    loop.run_until_complete(main())


def test_sock_sendfile_empty_file(loop, pair, tmp_path):
    a, b = pair
    (tmp_path / "empty").write_bytes(b"")

    async def main():
        with open(tmp_path / "empty", "rb") as f:
            assert await loop.sock_sendfile(a, f) == 0

    loop.run_until_complete(main())


class Sink(asyncio.Protocol):
    def __init__(self, loop):
        self.data = bytearray()
        self.done = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        transport.pause_reading()  # the test resumes once the sender is flow-controlled

    def data_received(self, data):
        self.data += data

    def eof_received(self):
        self.done.set_result(bytes(self.data))


class Client(asyncio.Protocol):
    def __init__(self):
        self.paused = 0
        self.resumed = 0
        self.received = bytearray()

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.received += data

    def pause_writing(self):
        self.paused += 1

    def resume_writing(self):
        self.resumed += 1


def test_loop_sendfile_over_tcp_transport(loop, tmp_path):
    data = os.urandom(4 * BIG)  # more than loopback's socket buffers hold
    path = tmp_path / "big.bin"
    path.write_bytes(data)

    async def main():
        sinks = []

        def factory():
            sinks.append(Sink(loop))
            return sinks[-1]

        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, proto = await loop.create_connection(Client, "127.0.0.1", port)
        transport.set_write_buffer_limits(high=64 * 1024)
        transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 65536)
        with open(path, "rb") as f:
            # Native: sendfile(2) on the socket; the peer does not read, so it waits.
            sending = loop.create_task(loop.sendfile(transport, f, 7))
            await asyncio.sleep(0.1)
            assert not sending.done()
            assert not transport.is_reading()  # paused while sendfile owns the socket
            with pytest.raises(RuntimeError, match="sendfile is in progress"):
                transport.write(b"x")
            sinks[0].transport.resume_reading()
            sent = await sending
            assert sent == len(data) - 7
            assert f.tell() == len(data)
            assert transport.is_reading()
            assert await loop.sendfile(transport, f, 0, 100) == 100
        # Fallback (a file without fileno): transport.write() under flow control.
        sinks[0].transport.pause_reading()
        memfile = io.BytesIO(data)
        paused_before = proto.paused
        sending = loop.create_task(loop.sendfile(transport, memfile, 7))
        for _ in range(100):
            await asyncio.sleep(0.01)
            if proto.paused > paused_before:
                break
        assert proto.paused > paused_before  # the peer does not read: the buffer filled
        await asyncio.sleep(0.05)
        assert not sending.done()  # ... and sendfile waits for it to drain
        assert transport.get_write_buffer_size() <= 2 * 64 * 1024
        sinks[0].transport.resume_reading()
        assert await sending == len(data) - 7
        assert memfile.tell() == len(data)
        with pytest.raises(asyncio.SendfileNotAvailableError):
            await loop.sendfile(transport, io.BytesIO(data), fallback=False)
        assert transport.get_protocol() is proto
        assert transport.is_reading()
        assert proto.paused == proto.resumed
        transport.write(b"tail")
        transport.write_eof()
        got = await asyncio.wait_for(sinks[0].done, 10)
        assert got == data[7:] + data[:100] + data[7:] + b"tail"
        transport.close()
        with pytest.raises(RuntimeError, match="closing"):
            with open(path, "rb") as f:
                await loop.sendfile(transport, f)
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_cancel_then_recv_at_once_keeps_new_reader(loop, pair):
    """The cancelled operation's cleanup (a done callback, run later) must not unregister
    the reader of the operation started right after it on the same socket."""
    a, b = pair

    async def main():
        first = loop.create_task(loop.sock_recv(a, 100))
        await asyncio.sleep(0)
        first.cancel()
        second = loop.create_task(loop.sock_recv(a, 100))
        await asyncio.sleep(0.01)
        b.send(b"racing")
        assert await asyncio.wait_for(second, 5) == b"racing"
        assert first.cancelled()

    loop.run_until_complete(main())


def test_retry_looks_method_up_again(loop, pair):
    """The wait path calls the socket's method afresh (asyncio's own tests swap it)."""
    a, b = pair
    mock_sock = mock.Mock(a)
    mock_sock.gettimeout = a.gettimeout
    mock_sock.fileno = a.fileno
    mock_sock.recv.configure_mock(side_effect=BlockingIOError)

    async def main():
        loop.call_soon(lambda: setattr(mock_sock, "recv", a.recv))
        b.send(b"late")
        assert await asyncio.wait_for(loop.sock_recv(mock_sock, 10), 5) == b"late"

    loop.run_until_complete(main())


def test_reads_of_mixed_sizes_keep_every_byte_in_order(loop, pair):
    """Short reads make the next sock_recv wait for readiness before reading, full reads make
    it read at once (fast_sock.cpp); whichever path each read takes, the bytes are the same."""
    a, b = pair
    payload = os.urandom(300_000)

    async def sender():
        pos = 0
        for size in (1, 7, 4096, 65536, 3, 100_000, 17):
            await loop.sock_sendall(b, payload[pos:pos + size])
            pos += size
            await asyncio.sleep(0)
        await loop.sock_sendall(b, payload[pos:])
        b.shutdown(socket.SHUT_WR)

    async def main():
        task = loop.create_task(sender())
        out = bytearray()
        sizes = [1, 5000, 2, 65536, 100, 300_000]
        i = 0
        while True:
            if i % 2:
                buf = bytearray(sizes[i % len(sizes)])
                n = await loop.sock_recv_into(a, buf)
                chunk = bytes(buf[:n])
            else:
                chunk = await loop.sock_recv(a, sizes[i % len(sizes)])
            if not chunk:
                break
            out += chunk
            i += 1
        await task
        assert bytes(out) == payload

    loop.run_until_complete(asyncio.wait_for(main(), 30))


def test_data_already_there_after_a_short_read(loop, pair):
    a, b = pair

    async def main():
        b.send(b"x")
        assert await loop.sock_recv(a, 100) == b"x"  # short: the next read waits first
        b.send(b"yz")
        assert await asyncio.wait_for(loop.sock_recv(a, 100), 5) == b"yz"

    loop.run_until_complete(main())


def test_interrupt_from_the_socket_leaves_the_loop_and_the_read_resumes(loop, pair):
    """As asyncio's readiness callback: KeyboardInterrupt leaves run_until_complete, and the
    operation stays registered, so running the loop again completes it."""
    a, b = pair
    mock_sock = mock.Mock(a)
    mock_sock.gettimeout = a.gettimeout
    mock_sock.fileno = a.fileno
    calls = []

    def recv(n):
        calls.append(n)
        if len(calls) == 1:
            raise BlockingIOError
        if len(calls) == 2:
            raise KeyboardInterrupt
        return a.recv(n)

    mock_sock.recv = recv
    task = loop.create_task(loop.sock_recv(mock_sock, 10))
    b.send(b"data")
    with pytest.raises(KeyboardInterrupt):
        loop.run_until_complete(task)
    assert loop.run_until_complete(asyncio.wait_for(task, 5)) == b"data"
    assert len(calls) == 3


def test_pending_operation_is_freed_with_the_loop(backend):
    """A sock_recv still waiting when its loop closes holds nothing alive afterwards."""
    import gc
    import weakref

    import treadle

    lp = treadle.new_event_loop(backend)
    a, b = socket.socketpair()
    a.setblocking(False)
    ref = weakref.ref(a)
    task = lp.create_task(lp.sock_recv(a, 10))
    lp.run_until_complete(asyncio.sleep(0.01))
    assert not task.done()
    lp.close()
    a.close()
    b.close()
    del a, task
    gc.collect()
    assert ref() is None
