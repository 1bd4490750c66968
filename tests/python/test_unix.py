# tests/python/test_unix.py — Unix sockets, sock= adoption, connect_accepted_socket and
# getaddrinfo/getnameinfo on treadle's loop, checked against asyncio's behaviour (per backend).
"""Unix stream transports and servers, adopted sockets and name resolution from Python."""

import asyncio
import concurrent.futures
import os
import socket
import stat
import threading

import pytest

from treadle import _transports

from test_tcp import Recorder, wait_for


@pytest.fixture
def sock_path(tmp_path):
    return str(tmp_path / "sock")


async def unix_echo_server(loop, path, **kwargs):
    protocols = []

    def factory():
        p = Recorder(loop, echo=True)
        protocols.append(p)
        return p

    server = await loop.create_unix_server(factory, path, **kwargs)
    return server, protocols


def test_unix_round_trip_and_addresses(loop, sock_path):
    async def main():
        server, sprotos = await unix_echo_server(loop, sock_path)
        assert isinstance(server, asyncio.AbstractServer)
        assert server.is_serving()
        assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
        assert server.sockets[0].getsockname() == sock_path
        assert server.sockets[0].family == socket.AF_UNIX
        transport, client = await loop.create_unix_connection(lambda: Recorder(loop), sock_path)
        assert isinstance(transport, _transports.TCPTransport)
        assert client.events == ["made"]  # connection_made ran before the call returned
        # The tuples (strings) asyncio gives: the server's path, '' for the unbound client.
        assert transport.get_extra_info("peername") == sock_path
        assert transport.get_extra_info("sockname") == ""
        tsock = transport.get_extra_info("socket")
        assert tsock.family == socket.AF_UNIX and tsock.type == socket.SOCK_STREAM
        assert tsock.getpeername() == sock_path
        transport.write(b"over unix ")
        transport.writelines([b"sockets", memoryview(b"!")])
        await wait_for(lambda: bytes(client.data) == b"over unix sockets!")
        big = os.urandom(1 << 20)
        transport.write(big)
        await wait_for(lambda: len(client.data) == 18 + len(big))
        assert bytes(client.data[18:]) == big
        s = sprotos[0].transport
        assert s.get_extra_info("sockname") == sock_path
        assert s.get_extra_info("peername") == ""
        assert transport.can_write_eof()
        transport.write_eof()
        await sprotos[0].eof
        await client.lost
        assert client.events[-1] == ("lost", None)
        server.close()
        await server.wait_closed()
        assert server.sockets == ()
        # asyncio 3.11 leaves the socket file behind on close.
        assert os.path.exists(sock_path)

    loop.run_until_complete(main())


def test_unix_path_like_and_bytes(loop, tmp_path):
    async def main():
        path = tmp_path / "pathlike"
        server, _ = await unix_echo_server(loop, path)
        transport, client = await loop.create_unix_connection(lambda: Recorder(loop),
                                                              os.fsencode(str(path)))
        transport.write(b"ping")
        await wait_for(lambda: bytes(client.data) == b"ping")
        transport.close()
        await client.lost
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_unix_abstract_namespace(loop):
    async def main():
        name = "\0treadle-test-%d-%d" % (os.getpid(), id(loop))
        server, _ = await unix_echo_server(loop, name)
        assert server.sockets[0].getsockname() == name.encode()
        transport, client = await loop.create_unix_connection(lambda: Recorder(loop), name)
        assert transport.get_extra_info("peername") == name.encode()
        transport.write(b"abstract")
        await wait_for(lambda: bytes(client.data) == b"abstract")
        transport.close()
        await client.lost
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_stale_socket_file_removed(loop, sock_path):
    async def main():
        stale = socket.socket(socket.AF_UNIX)
        stale.bind(sock_path)
        stale.close()  # the file stays, nobody listens: a stale socket
        assert stat.S_ISSOCK(os.stat(sock_path).st_mode)
        with pytest.raises(ConnectionRefusedError):
            await loop.create_unix_connection(asyncio.Protocol, sock_path)
        server, _ = await unix_echo_server(loop, sock_path)
        transport, client = await loop.create_unix_connection(lambda: Recorder(loop), sock_path)
        transport.write(b"fresh")
        await wait_for(lambda: bytes(client.data) == b"fresh")
        transport.close()
        await client.lost
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_non_socket_file_is_kept(loop, sock_path):
    async def main():
        with open(sock_path, "w") as f:
            f.write("not a socket")
        with pytest.raises(OSError) as info:
            await loop.create_unix_server(asyncio.Protocol, sock_path)
        assert info.value.errno == 98  # EADDRINUSE
        assert "is already in use" in str(info.value)
        with open(sock_path) as f:
            assert f.read() == "not a socket"

    loop.run_until_complete(main())


def test_unix_errors(loop, tmp_path):
    async def main():
        with pytest.raises(FileNotFoundError) as info:
            await loop.create_unix_connection(asyncio.Protocol, str(tmp_path / "missing"))
        assert info.value.errno == 2
        assert info.value.strerror == os.strerror(2)
        with pytest.raises(ValueError, match="no path and sock"):
            await loop.create_unix_connection(asyncio.Protocol)
        with pytest.raises(ValueError, match="path was not specified"):
            await loop.create_unix_server(asyncio.Protocol)
        with socket.socket() as tcp, pytest.raises(ValueError, match="UNIX Domain"):
            await loop.create_unix_connection(asyncio.Protocol, sock=tcp)
        with socket.socket() as tcp, pytest.raises(ValueError, match="UNIX Domain"):
            await loop.create_unix_server(asyncio.Protocol, sock=tcp)
        with socket.socket(socket.AF_UNIX) as s, pytest.raises(ValueError,
                                                                match="at the same time"):
            await loop.create_unix_connection(asyncio.Protocol, str(tmp_path / "x"), sock=s)
        with pytest.raises(ValueError, match="server_hostname"):
            await loop.create_unix_connection(asyncio.Protocol, "x", server_hostname="h")
        with pytest.raises(ValueError, match="ssl_handshake_timeout"):
            await loop.create_unix_server(asyncio.Protocol, "x", ssl_handshake_timeout=1)
        with pytest.raises(TypeError):
            await loop.create_unix_server(asyncio.Protocol, "x", ssl=True)
        with pytest.raises(NotImplementedError, match="ssl="):
            await loop.create_unix_connection(asyncio.Protocol, "x", ssl=object(),
                                              server_hostname="h")
        with pytest.raises(NotImplementedError, match="ssl="):
            await loop.create_unix_server(asyncio.Protocol, str(tmp_path / "y"), ssl=object())
        assert not os.path.exists(tmp_path / "y")

    loop.run_until_complete(main())


def test_unix_sock_adoption(loop, sock_path):
    async def main():
        lsock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        lsock.bind(sock_path)
        server, sprotos = await unix_echo_server(loop, None, sock=lsock, start_serving=False)
        assert not server.is_serving()
        await server.start_serving()
        csock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        csock.connect(sock_path)
        transport, client = await loop.create_unix_connection(lambda: Recorder(loop),
                                                              sock=csock)
        # As asyncio: the socket stays usable while the transport lives, closed with it.
        assert csock.fileno() != -1
        csock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        assert client.events == ["made"]
        assert transport.get_extra_info("peername") == sock_path
        transport.write(b"adopted")
        await wait_for(lambda: bytes(client.data) == b"adopted")
        fd = transport.get_extra_info("socket").fileno()
        transport.close()
        await client.lost
        with pytest.raises(OSError):
            os.fstat(fd)  # closed with the transport
        assert csock.fileno() == -1
        server.close()
        await server.wait_closed()
        assert lsock.fileno() == -1  # the server closed the socket it was given

    loop.run_until_complete(main())


def test_tcp_sock_adoption(loop):
    async def main():
        lsock = socket.socket()
        lsock.bind(("127.0.0.1", 0))
        port = lsock.getsockname()[1]
        server, sprotos = await unix_echo_server_tcp(loop, lsock)
        csock = socket.create_connection(("127.0.0.1", port))
        local = csock.getsockname()
        transport, client = await loop.create_connection(lambda: Recorder(loop), sock=csock)
        assert csock.getsockname() == local  # still the caller's, shared with the transport
        assert transport.get_extra_info("peername") == ("127.0.0.1", port)
        assert transport.get_extra_info("sockname") == local
        transport.write(b"tcp adopted")
        await wait_for(lambda: bytes(client.data) == b"tcp adopted")
        transport.close()
        await client.lost
        assert csock.fileno() == -1
        server.close()
        await server.wait_closed()
        with socket.socket() as s, pytest.raises(ValueError, match="at the same time"):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", port, sock=s)

    loop.run_until_complete(main())


async def unix_echo_server_tcp(loop, lsock):
    protocols = []

    def factory():
        p = Recorder(loop, echo=True)
        protocols.append(p)
        return p

    server = await loop.create_server(factory, sock=lsock)
    return server, protocols


def test_connect_accepted_socket_socketpair(loop):
    async def main():
        a, b = socket.socketpair()
        with a:
            transport, proto = await loop.connect_accepted_socket(lambda: Recorder(loop), b)
            assert isinstance(transport, asyncio.Transport)
            assert proto.events == ["made"]
            assert b.fileno() != -1  # asyncio shares it with the transport until it closes
            assert transport.get_extra_info("peername") == ""
            assert transport.get_extra_info("sockname") == ""
            a.sendall(b"from peer")
            await wait_for(lambda: bytes(proto.data) == b"from peer")
            transport.write(b"reply")
            a.settimeout(5)
            assert await loop.run_in_executor(None, a.recv, 100) == b"reply"
            a.shutdown(socket.SHUT_WR)
            await proto.eof
            await proto.lost
            assert b.fileno() == -1
            assert await loop.run_in_executor(None, a.recv, 100) == b""
        with socket.socket(type=socket.SOCK_DGRAM) as u, pytest.raises(ValueError):
            await loop.connect_accepted_socket(asyncio.Protocol, u)
        c, d = socket.socketpair()
        with c, d, pytest.raises(NotImplementedError, match="ssl="):
            await loop.connect_accepted_socket(asyncio.Protocol, d, ssl=object())

    loop.run_until_complete(main())


def test_connect_accepted_socket_from_accept(loop):
    async def main():
        with socket.socket() as lsock:
            lsock.bind(("127.0.0.1", 0))
            lsock.listen()
            client = socket.create_connection(lsock.getsockname())
            accepted, peer = lsock.accept()
            with client:
                transport, proto = await loop.connect_accepted_socket(
                    lambda: Recorder(loop, echo=True), accepted)
                assert transport.get_extra_info("peername") == peer
                assert transport.get_extra_info("sockname") == lsock.getsockname()
                client.sendall(b"echo me")
                client.settimeout(5)
                got = b""
                while len(got) < 7:  # off the loop thread: the loop must run to echo
                    got += await loop.run_in_executor(None, client.recv, 100)
                assert got == b"echo me"
                transport.close()
                await proto.lost

    loop.run_until_complete(main())


def test_unix_streams_unchanged(loop, sock_path):
    async def handle(reader, writer):
        while data := await reader.readline():
            writer.write(data.upper())
            await writer.drain()
        writer.close()
        await writer.wait_closed()

    async def main():
        server = await asyncio.start_unix_server(handle, sock_path)
        async with server:
            reader, writer = await asyncio.open_unix_connection(sock_path)
            assert writer.get_extra_info("peername") == sock_path
            for i in range(20):
                writer.write(b"line %d\n" % i)
                await writer.drain()
                assert await asyncio.wait_for(reader.readline(), 5) == b"LINE %d\n" % i
            writer.write(b"y" * 60000 + b"\n")  # under readline()'s 64 KiB limit
            await writer.drain()
            assert await asyncio.wait_for(reader.readexactly(60001), 5) == b"Y" * 60000 + b"\n"
            writer.write_eof()
            assert await reader.read() == b""
            writer.close()
            await writer.wait_closed()

    loop.run_until_complete(main())


class _CountingExecutor(concurrent.futures.ThreadPoolExecutor):
    """A default executor that counts the calls it runs (to see thread hops)."""

    def __init__(self):
        super().__init__(1)
        self.calls = 0
        self.threads = set()

    def submit(self, fn, /, *args, **kwargs):
        self.calls += 1

        def run():
            self.threads.add(threading.get_ident())
            return fn(*args, **kwargs)

        return super().submit(run)


def test_getaddrinfo_numeric_without_executor(loop):
    executor = _CountingExecutor()
    loop.set_default_executor(executor)

    async def main():
        cases = [
            (("127.0.0.1", 80), {}),
            (("127.0.0.1", "8080"), {"type": socket.SOCK_STREAM}),
            (("::1", 443), {"family": socket.AF_INET6, "proto": socket.IPPROTO_TCP}),
            ((b"10.1.2.3", None), {}),
            ((None, 0), {"flags": socket.AI_PASSIVE}),
            (("127.0.0.1", 53), {"family": socket.AF_INET, "type": socket.SOCK_DGRAM}),
        ]
        for args, kwargs in cases:
            got = await loop.getaddrinfo(*args, **kwargs)
            want = socket.getaddrinfo(*args, kwargs.get("family", 0), kwargs.get("type", 0),
                                      kwargs.get("proto", 0), kwargs.get("flags", 0))
            assert got == want, (args, kwargs)
        assert executor.calls == 0
        info = await loop.getnameinfo(("127.0.0.1", 80),
                                      socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)
        assert info == ("127.0.0.1", "80")
        assert executor.calls == 0

    loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_default_executor())


def test_getaddrinfo_names_in_executor(loop):
    executor = _CountingExecutor()
    loop.set_default_executor(executor)

    async def main():
        got = await loop.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)
        assert got == socket.getaddrinfo("localhost", 80, 0, socket.SOCK_STREAM)
        assert executor.calls == 1
        assert threading.get_ident() not in executor.threads
        got = await loop.getaddrinfo("127.0.0.1", "http", type=socket.SOCK_STREAM)
        assert got == socket.getaddrinfo("127.0.0.1", "http", 0, socket.SOCK_STREAM)
        assert executor.calls == 2  # a service name is looked up off the loop thread
        got = await loop.getaddrinfo("127.0.0.1", 80, flags=socket.AI_CANONNAME)
        assert got == socket.getaddrinfo("127.0.0.1", 80, 0, 0, 0, socket.AI_CANONNAME)
        assert executor.calls == 3
        info = await loop.getnameinfo(("127.0.0.1", 80))
        assert info == socket.getnameinfo(("127.0.0.1", 80), 0)
        assert executor.calls == 4
        with pytest.raises(socket.gaierror):
            await loop.getaddrinfo("127.0.0.1", 80, family=socket.AF_INET6,
                                   flags=socket.AI_NUMERICHOST)
        with pytest.raises(TypeError):
            await loop.getnameinfo("not a tuple")

    loop.run_until_complete(main())
    loop.run_until_complete(loop.shutdown_default_executor())
