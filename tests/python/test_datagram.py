# tests/python/test_datagram.py — create_datagram_endpoint and the datagram transport on
# treadle's loop (UDP over IPv4/IPv6, Unix datagram sockets), checked against asyncio 3.11.
"""Datagram endpoints: echo, adoption, sendto rules, errors, closing, flow control, leaks."""

import asyncio
import errno
import gc
import os
import socket
import warnings
from asyncio import trsock

import pytest

from treadle import _datagram


class Recorder(asyncio.DatagramProtocol):
    """Records every callback; with echo=True sends each datagram back to its sender."""

    def __init__(self, loop, echo=False):
        self.events = []
        self.datagrams = []
        self.errors = []
        self.transport = None
        self.echo = echo
        self.lost = loop.create_future()

    def connection_made(self, transport):
        self.transport = transport
        self.events.append("made")

    def datagram_received(self, data, addr):
        self.datagrams.append((data, addr))
        if self.echo:
            self.transport.sendto(data, addr)

    def error_received(self, exc):
        self.errors.append(exc)
        self.events.append("error")

    def connection_lost(self, exc):
        self.events.append("lost")
        if not self.lost.done():
            self.lost.set_result(exc)

    def pause_writing(self):
        self.events.append("pause")

    def resume_writing(self):
        self.events.append("resume")


class FlakySocket(socket.socket):
    """A socket whose send()/sendto() can be made to report "would block" (UDP on Linux
    practically never blocks, so queueing is driven from here)."""

    block = False
    sent = 0

    def send(self, data, *args):
        if self.block:
            raise BlockingIOError(errno.EAGAIN, "would block (test)")
        self.sent += 1
        return super().send(data, *args)

    def sendto(self, data, *args):
        if self.block:
            raise BlockingIOError(errno.EAGAIN, "would block (test)")
        self.sent += 1
        return super().sendto(data, *args)


async def wait_for(predicate, timeout=5.0):
    """Let the loop run until predicate() is true (fail after `timeout` seconds)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.001)


def open_fds():
    return len(os.listdir("/proc/self/fd"))


def ipv6_available():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def closed_udp_port():
    """A local UDP port nobody listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


LOCALHOST = ("127.0.0.1", 0)  # a UDP address to bind: any free port on the IPv4 loopback


async def endpoint(loop, *, echo=False, recorder=Recorder, **kwargs):
    """create_datagram_endpoint(**kwargs) with a new `recorder` (a Recorder class, echoing
    with echo=True) as the protocol; (transport, protocol)."""
    return await loop.create_datagram_endpoint(lambda: recorder(loop, echo=echo), **kwargs)


async def connected_pair(loop, echo=False):
    """A server endpoint on LOCALHOST (echoing with echo=True) and a client endpoint connected
    to it; (s_transport, server, c_transport, client)."""
    st, server = await endpoint(loop, echo=echo, local_addr=LOCALHOST)
    ct, client = await endpoint(loop, remote_addr=st.get_extra_info("sockname"))
    return st, server, ct, client


async def close_all(*pairs):
    for transport, protocol in pairs:
        transport.close()
    for transport, protocol in pairs:
        await protocol.lost


# -- echo over each family --------------------------------------------------------------------

def test_udp_ipv4_echo(loop):
    async def main():
        st, server, ct, client = await connected_pair(loop, echo=True)
        saddr = st.get_extra_info("sockname")
        # connection_made ran before create_datagram_endpoint returned.
        assert server.events == ["made"] and client.events == ["made"]
        assert server.transport is st and client.transport is ct
        assert isinstance(ct, asyncio.DatagramTransport)
        assert isinstance(ct, asyncio.Transport)  # as asyncio's (CPython's tests check it)
        assert isinstance(ct, _datagram.DatagramTransport)
        # Message boundaries are kept, in order; addr=None goes to the remote address.
        ct.sendto(b"one")
        ct.sendto(bytearray(b"two"), saddr)
        ct.sendto(memoryview(b"three"))
        await wait_for(lambda: len(client.datagrams) == 3)
        caddr = ct.get_extra_info("sockname")
        assert server.datagrams == [(b"one", caddr), (b"two", caddr), (b"three", caddr)]
        assert client.datagrams == [(b"one", saddr), (b"two", saddr), (b"three", saddr)]
        assert ct.get_write_buffer_size() == 0
        await close_all((ct, client), (st, server))
        assert client.events == ["made", "lost"] and server.events == ["made", "lost"]
        assert client.lost.result() is None

    loop.run_until_complete(main())


@pytest.mark.skipif(not ipv6_available(), reason="IPv6 loopback (::1) is not available")
def test_udp_ipv6_echo(loop):
    async def main():
        st, server = await endpoint(loop, echo=True, local_addr=("::1", 0),
                                    family=socket.AF_INET6)
        saddr = st.get_extra_info("sockname")
        assert len(saddr) == 4 and saddr[0] == "::1"
        ct, client = await endpoint(loop, remote_addr=("::1", saddr[1]))
        assert ct.get_extra_info("socket").family == socket.AF_INET6
        assert ct.get_extra_info("peername")[:2] == ("::1", saddr[1])
        ct.sendto(b"six")
        await wait_for(lambda: client.datagrams)
        assert client.datagrams[0][0] == b"six"
        await close_all((ct, client), (st, server))

    loop.run_until_complete(main())


def test_unix_datagram_echo(loop, tmp_path):
    server_path = str(tmp_path / "server")
    client_path = os.fsencode(tmp_path / "client")  # bytes paths work too

    # A socket file left behind by an earlier endpoint is removed, as asyncio does.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    stale.bind(server_path)
    stale.close()
    assert os.path.exists(server_path)

    async def main():
        st, server = await endpoint(loop, echo=True, local_addr=server_path,
                                    family=socket.AF_UNIX)
        assert st.get_extra_info("sockname") == server_path
        ct, client = await endpoint(loop, local_addr=client_path, remote_addr=server_path,
                                    family=socket.AF_UNIX)
        assert ct.get_extra_info("peername") == server_path
        ct.sendto(b"over unix")
        ct.sendto(b"datagrams", server_path)
        await wait_for(lambda: len(client.datagrams) == 2)
        assert client.datagrams == [(b"over unix", server_path), (b"datagrams", server_path)]
        assert [d for d, _ in server.datagrams] == [b"over unix", b"datagrams"]
        with pytest.raises(ValueError, match="Invalid address"):
            ct.sendto(b"x", str(tmp_path / "elsewhere"))
        await close_all((ct, client), (st, server))

    loop.run_until_complete(main())


def test_unix_abstract_address(loop):
    name = f"\0treadle-test-{os.getpid()}"

    async def main():
        st, server = await endpoint(loop, local_addr=name, family=socket.AF_UNIX)
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"abstract", name)
            await wait_for(lambda: server.datagrams)
        assert server.datagrams[0][0] == b"abstract"
        await close_all((st, server))

    loop.run_until_complete(main())


# -- sock= adoption -------------------------------------------------------------------------

def test_sock_adoption(loop):
    async def main():
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        st, server = await endpoint(loop, echo=True, sock=sock)
        assert sock.gettimeout() == 0  # made non-blocking
        tsock = st.get_extra_info("socket")
        assert isinstance(tsock, trsock.TransportSocket)
        assert tsock.fileno() == sock.fileno()
        assert st.get_extra_info("sockname") == sock.getsockname()
        assert st.get_extra_info("peername") is None
        # An adopted, already connected socket sends to its peer with addr=None.
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.connect(sock.getsockname())
        ct, client = await endpoint(loop, sock=peer)
        assert ct.get_extra_info("peername") == sock.getsockname()
        ct.sendto(b"adopted")
        await wait_for(lambda: client.datagrams)
        assert client.datagrams == [(b"adopted", sock.getsockname())]
        await close_all((ct, client), (st, server))
        # The transport owned the sockets and closed them.
        assert sock.fileno() == -1 and peer.fileno() == -1

    loop.run_until_complete(main())


def test_sock_argument_validation(loop):
    async def main():
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            with pytest.raises(ValueError, match="A UDP Socket was expected, got"):
                await loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=tcp)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            with pytest.raises(ValueError) as info:
                await loop.create_datagram_endpoint(
                    asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0),
                    family=socket.AF_INET, reuse_port=True, sock=udp)
            assert str(info.value) == (
                "socket modifier keyword arguments can not be used when sock is specified. "
                "(local_addr=('127.0.0.1', 0), family=2, reuse_port=True)")  # asyncio's f"{v}"
            assert udp.fileno() != -1  # a rejected socket stays the caller's, open

    loop.run_until_complete(main())


# -- argument validation and connection errors ------------------------------------------------

def test_address_argument_validation(loop):
    async def main():
        create = loop.create_datagram_endpoint  # the raw API: no Recorder
        with pytest.raises(ValueError, match="unexpected address family"):
            await create(asyncio.DatagramProtocol)
        with pytest.raises(TypeError, match="2-tuple is expected"):
            await create(asyncio.DatagramProtocol, local_addr="127.0.0.1")
        with pytest.raises(TypeError, match="2-tuple is expected"):
            await create(asyncio.DatagramProtocol, remote_addr=("127.0.0.1", 1, 2))
        with pytest.raises(TypeError, match="string is expected"):
            await create(asyncio.DatagramProtocol, local_addr=("x", 1), family=socket.AF_UNIX)
        # Local and remote addresses of different families have no (family, proto) in common.
        if ipv6_available():
            with pytest.raises(ValueError, match="can not get address information"):
                await create(asyncio.DatagramProtocol, local_addr=("127.0.0.1", 0),
                             remote_addr=("::1", 9))
        with pytest.raises(socket.gaierror):
            await create(asyncio.DatagramProtocol, local_addr=("::1", 0),
                         family=socket.AF_INET)

    loop.run_until_complete(main())


def test_bind_error_raises_and_closes(loop):
    async def main():
        st, server = await endpoint(loop, local_addr=LOCALHOST)
        before = open_fds()
        with pytest.raises(OSError) as info:
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                local_addr=st.get_extra_info("sockname"))
        assert info.value.errno == errno.EADDRINUSE
        assert open_fds() == before
        await close_all((st, server))

    loop.run_until_complete(main())


def test_reuse_port_and_allow_broadcast(loop):
    async def main():
        a, pa = await endpoint(loop, local_addr=LOCALHOST, reuse_port=True)
        port = a.get_extra_info("sockname")[1]
        b, pb = await endpoint(loop, local_addr=("127.0.0.1", port), reuse_port=True)
        assert b.get_extra_info("sockname")[1] == port
        # allow_broadcast: SO_BROADCAST set, the socket stays unconnected and addr=None
        # sends to remote_addr.
        rx, prx = await endpoint(loop, local_addr=LOCALHOST)
        raddr = rx.get_extra_info("sockname")
        bc, pbc = await endpoint(loop, remote_addr=raddr, allow_broadcast=True)
        assert bc.get_extra_info("socket").getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST)
        assert bc.get_extra_info("peername") is None
        bc.sendto(b"to remote_addr")
        await wait_for(lambda: prx.datagrams)
        assert prx.datagrams[0][0] == b"to remote_addr"
        with pytest.raises(ValueError, match="Invalid address: must be None or"):
            bc.sendto(b"x", ("127.0.0.1", 9))
        await close_all((a, pa), (b, pb), (rx, prx), (bc, pbc))

    loop.run_until_complete(main())


# -- sendto rules ---------------------------------------------------------------------------

def test_sendto_wrong_address_when_connected(loop):
    async def main():
        port = closed_udp_port()
        ct, client = await endpoint(loop, remote_addr=("127.0.0.1", port))
        with pytest.raises(ValueError) as info:
            ct.sendto(b"x", ("127.0.0.1", port + 1 if port < 65535 else port - 1))
        assert str(info.value) == f"Invalid address: must be None or ('127.0.0.1', {port})"
        ct.sendto(b"x", ("127.0.0.1", port))  # the remote address itself is fine
        await close_all((ct, client))

    loop.run_until_complete(main())


def test_sendto_wrong_data_type_and_empty(loop):
    async def main():
        st, server, ct, client = await connected_pair(loop)
        saddr = st.get_extra_info("sockname")
        with pytest.raises(TypeError,
                           match="data argument must be a bytes-like object, not 'str'"):
            ct.sendto("text")
        with pytest.raises(TypeError, match="not 'int'"):
            ct.sendto(42, saddr)
        ct.sendto(b"")  # asyncio 3.11 accepts an empty datagram and sends nothing
        ct.sendto(b"after")
        await wait_for(lambda: server.datagrams)
        await asyncio.sleep(0.01)
        assert [d for d, _ in server.datagrams] == [b"after"]
        await close_all((ct, client), (st, server))

    loop.run_until_complete(main())


def test_error_received_connection_refused(loop):
    async def main():
        port = closed_udp_port()
        ct, client = await endpoint(loop, remote_addr=("127.0.0.1", port))
        # The ICMP port unreachable answer is reported on the next socket operation.
        for _ in range(200):
            ct.sendto(b"anyone?")
            if client.errors:
                break
            await asyncio.sleep(0.005)
        assert client.errors and isinstance(client.errors[0], ConnectionRefusedError)
        assert not ct.is_closing()  # an error is not the end of a datagram transport
        await close_all((ct, client))
        assert client.lost.result() is None

    loop.run_until_complete(main())


def test_error_received_on_send_error(loop):
    async def main():
        ct, client = await endpoint(loop, family=socket.AF_INET)
        # Broadcast without SO_BROADCAST: EACCES from sendto(), given to error_received.
        ct.sendto(b"x", ("255.255.255.255", 9))
        assert [type(e) for e in client.errors] == [PermissionError]
        assert not ct.is_closing()
        await close_all((ct, client))

    loop.run_until_complete(main())


# -- closing --------------------------------------------------------------------------------

async def flaky_client(loop):
    """A receiving endpoint and a client on a FlakySocket connected to it."""
    rx, receiver = await endpoint(loop, local_addr=LOCALHOST)
    sock = FlakySocket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.connect(rx.get_extra_info("sockname"))
    ct, client = await endpoint(loop, sock=sock)
    return rx, receiver, ct, client, sock


def test_close_flushes_queue_then_connection_lost_once(loop):
    async def main():
        rx, receiver, ct, client, sock = await flaky_client(loop)
        sock.block = True
        for i in range(3):
            ct.sendto(b"queued %d" % i)
        assert ct.get_write_buffer_size() == 3 * len(b"queued 0")
        ct.close()
        assert ct.is_closing()
        assert "closing" in repr(ct)
        ct.close()  # idempotent
        await asyncio.sleep(0.01)
        assert client.events == ["made"]  # still flushing: not lost yet
        sock.block = False
        await client.lost
        assert client.lost.result() is None
        await wait_for(lambda: len(receiver.datagrams) == 3)
        assert [d for d, _ in receiver.datagrams] == [b"queued 0", b"queued 1", b"queued 2"]
        await asyncio.sleep(0.01)
        assert client.events == ["made", "lost"]
        assert ct.get_write_buffer_size() == 0
        assert sock.fileno() == -1
        assert "closed" in repr(ct)
        assert ct.get_protocol() is None  # dropped with the socket, as asyncio
        ct.sendto(b"after close")  # dropped silently, as asyncio
        await close_all((rx, receiver))

    loop.run_until_complete(main())


def test_close_with_empty_queue(loop):
    async def main():
        ct, client = await endpoint(loop, local_addr=LOCALHOST)
        assert "open" in repr(ct) and f"fd={ct.get_extra_info('socket').fileno()}" in repr(ct)
        ct.close()
        assert ct.is_closing()
        assert client.events == ["made"]  # connection_lost is called soon, not now
        await client.lost
        assert client.events == ["made", "lost"]

    loop.run_until_complete(main())


def test_abort_drops_queue(loop):
    async def main():
        rx, receiver, ct, client, sock = await flaky_client(loop)
        sock.block = True
        ct.sendto(b"never sent")
        assert ct.get_write_buffer_size() == len(b"never sent")
        ct.abort()
        assert ct.is_closing() and ct.get_write_buffer_size() == 0
        await client.lost
        assert client.lost.result() is None
        ct.abort()
        ct.close()
        await asyncio.sleep(0.02)
        assert client.events == ["made", "lost"]
        assert receiver.datagrams == [] and sock.fileno() == -1
        await close_all((rx, receiver))

    loop.run_until_complete(main())


def test_close_after_abort_and_abort_after_close(loop):
    async def main():
        rx, receiver, ct, client, sock = await flaky_client(loop)
        sock.block = True
        ct.sendto(b"queued")
        ct.close()
        ct.abort()  # abort while flushing drops the queue
        await client.lost
        await asyncio.sleep(0.01)
        assert client.events == ["made", "lost"] and receiver.datagrams == []
        await close_all((rx, receiver))

    loop.run_until_complete(main())


def test_cancelled_creation_closes_transport(loop):
    async def main():
        protocols = []

        def factory():
            protocols.append(Recorder(loop))
            return protocols[-1]

        before = open_fds()
        task = loop.create_task(loop.create_datagram_endpoint(factory,
                                                              local_addr=("127.0.0.1", 0)))
        await asyncio.sleep(0)  # the task now waits for connection_made
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await protocols[0].lost
        assert protocols[0].events == ["made", "lost"]
        assert open_fds() == before

    loop.run_until_complete(main())


# -- extra info, protocol, flow control -------------------------------------------------------

def test_get_extra_info_and_protocol(loop):
    async def main():
        st, server, ct, client = await connected_pair(loop)
        saddr = st.get_extra_info("sockname")
        assert saddr[0] == "127.0.0.1" and saddr[1] > 0
        assert st.get_extra_info("peername") is None
        assert st.get_extra_info("nonexistent", "default") == "default"
        assert ct.get_extra_info("peername") == saddr
        tsock = ct.get_extra_info("socket")
        assert isinstance(tsock, trsock.TransportSocket)
        assert tsock.family == socket.AF_INET and tsock.type == socket.SOCK_DGRAM
        assert tsock.getpeername() == saddr
        assert ct.get_protocol() is client
        other = Recorder(loop)
        ct.set_protocol(other)
        assert ct.get_protocol() is other
        st.sendto(b"to the new protocol", ct.get_extra_info("sockname"))
        await wait_for(lambda: other.datagrams)
        assert client.datagrams == []
        await close_all((ct, other), (st, server))

    loop.run_until_complete(main())


def test_flow_control_and_buffer_accounting(loop):
    async def main():
        rx, receiver, ct, client, sock = await flaky_client(loop)
        assert ct.get_write_buffer_limits() == (16 * 1024, 64 * 1024)
        with pytest.raises(ValueError, match=r"high \(1\) must be >= low \(2\) must be >= 0"):
            ct.set_write_buffer_limits(high=1, low=2)
        ct.set_write_buffer_limits(high=250, low=100)
        assert ct.get_write_buffer_limits() == (100, 250)
        sock.block = True
        for _ in range(2):
            ct.sendto(b"x" * 100)
        assert ct.get_write_buffer_size() == 200 and "pause" not in client.events
        ct.sendto(memoryview(b"y" * 100))
        assert ct.get_write_buffer_size() == 300
        assert client.events == ["made", "pause"]  # above the high-water mark
        ct.sendto(b"z" * 100)
        assert client.events == ["made", "pause"]  # paused once
        assert "write=<polling, bufsize=400>" in repr(ct)
        sock.block = False
        await wait_for(lambda: len(receiver.datagrams) == 4)
        assert ct.get_write_buffer_size() == 0
        assert client.events == ["made", "pause", "resume"]
        assert [d for d, _ in receiver.datagrams] == [b"x" * 100] * 2 + [b"y" * 100, b"z" * 100]
        # Lowering the high-water mark below what is queued pauses at once.
        sock.block = True
        ct.sendto(b"w" * 10)
        ct.set_write_buffer_limits(high=5)
        assert client.events[-1] == "pause"
        sock.block = False
        await wait_for(lambda: client.events[-1] == "resume")
        await close_all((ct, client), (rx, receiver))

    loop.run_until_complete(main())


# -- callback errors ------------------------------------------------------------------------

def test_protocol_exception_is_reported_and_closes(loop):
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    class Faulty(Recorder):
        def datagram_received(self, data, addr):
            raise ZeroDivisionError("boom")

    async def main():
        st, server = await endpoint(loop, recorder=Faulty, local_addr=LOCALHOST)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as peer:
            peer.sendto(b"x", st.get_extra_info("sockname"))
            exc = await server.lost
        assert isinstance(exc, ZeroDivisionError)
        assert len(contexts) == 1
        ctx = contexts[0]
        assert "datagram_received" in ctx["message"]
        assert ctx["exception"] is exc
        assert ctx["transport"] is st and ctx["protocol"] is server
        assert st.is_closing()

    loop.run_until_complete(main())


def test_non_oserror_from_sendto_is_fatal(loop):
    contexts = []
    loop.set_exception_handler(lambda lp, ctx: contexts.append(ctx))

    async def main():
        ct, client = await endpoint(loop, family=socket.AF_INET)
        ct.sendto(b"x", "not an address")  # TypeError from the socket: asyncio's fatal error
        exc = await client.lost
        assert isinstance(exc, TypeError)
        assert contexts[0]["message"] == "Fatal write error on datagram transport"
        assert contexts[0]["transport"] is ct

    loop.run_until_complete(main())


# -- resources --------------------------------------------------------------------------------

def test_no_fd_leak(loop, tmp_path):
    async def cycle(i):
        st, server = await endpoint(loop, echo=True, local_addr=LOCALHOST)
        ct, client = await endpoint(loop, family=socket.AF_INET)
        ct.sendto(b"ping", st.get_extra_info("sockname"))
        await wait_for(lambda: client.datagrams)
        path = str(tmp_path / f"u{i}")
        ut, up = await endpoint(loop, local_addr=path, family=socket.AF_UNIX)
        with pytest.raises(OSError):
            await loop.create_datagram_endpoint(asyncio.DatagramProtocol,
                                                local_addr=st.get_extra_info("sockname"))
        ct.abort()
        await close_all((st, server), (ut, up))
        await client.lost

    async def main():
        await cycle(-1)  # first use may open lazily created loop resources
        before = open_fds()
        for i in range(20):
            await cycle(i)
        assert open_fds() == before

    loop.run_until_complete(main())


def test_unclosed_transport_warns(loop):
    async def main():
        return await endpoint(loop, local_addr=LOCALHOST)

    transport, protocol = loop.run_until_complete(main())
    sock_fd = transport.get_extra_info("socket").fileno()
    loop.close()  # drops the loop's watchers, the last references besides ours
    del protocol
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del transport
        gc.collect()
    messages = [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]
    assert any(m.startswith("unclosed transport <DatagramTransport") for m in messages)
    with pytest.raises(OSError):
        os.fstat(sock_fd)  # the socket was closed with the warning


def test_methods_after_loop_close(loop):
    async def main():
        st, server, ct, client = await connected_pair(loop)
        return st, ct

    st, ct = loop.run_until_complete(main())
    loop.close()
    ct.sendto(b"still sent: the socket is open")
    assert "open" in repr(ct)
    assert ct.get_extra_info("sockname") is not None
    assert ct.get_write_buffer_size() == 0
    fd = st.get_extra_info("socket").fileno()
    st.abort()
    ct.close()
    ct.close()
    assert st.is_closing() and ct.is_closing()
    assert "closed" in repr(st) and "closed" in repr(ct)
    with pytest.raises(OSError):
        os.fstat(fd)
    ct.sendto(b"dropped")
