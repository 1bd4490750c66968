# tests/python/test_connect.py — create_connection's general path: Happy Eyeballs, family
# interleaving, named local addresses, all_errors (run per backend).
"""create_connection with asyncio's full address policy on treadle's loop."""

import asyncio
import os
import socket

import pytest

from treadle import _connect


def _closed_port():
    """A local TCP port with nothing listening (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _info(family, host, port):
    return (family, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (host, port))


def test_interleave_by_family():
    v4 = [_info(socket.AF_INET, f"10.0.0.{i}", 1) for i in range(3)]
    v6 = [_info(socket.AF_INET6, f"::{i}", 1) for i in range(2)]
    assert _connect.interleave_by_family(v6 + v4) == [v6[0], v4[0], v6[1], v4[1], v4[2]]
    assert _connect.interleave_by_family(v4 + v6, 2) == [v4[0], v4[1], v6[0], v4[2], v6[1]]
    assert _connect.interleave_by_family([]) == []


@pytest.fixture
def echo_server(loop):
    class Echo(asyncio.Protocol):
        def connection_made(self, transport):
            self.transport = transport

        def data_received(self, data):
            self.transport.write(data)

    server = loop.run_until_complete(loop.create_server(Echo, "127.0.0.1", 0))
    yield server.sockets[0].getsockname()[1]
    server.close()
    loop.run_until_complete(server.wait_closed())


SILENT = ("192.0.2.1", 9)  # TEST-NET-1; connecting to it never completes (see _fake_resolver)


def _fake_resolver(loop, monkeypatch, infos):
    """Resolve "fake.test" to `infos`; make connecting to SILENT hang like a blackhole."""
    real_connect = loop.sock_connect

    async def sock_connect(sock, address):
        if address == SILENT:
            await asyncio.sleep(3600)
        return await real_connect(sock, address)

    monkeypatch.setattr(loop, "sock_connect", sock_connect)

    async def getaddrinfo(host, port, **kwargs):
        if host == "fake.test":
            return infos
        return socket.getaddrinfo(host, port, kwargs.get("family", 0), socket.SOCK_STREAM)

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)


@pytest.mark.parametrize("delay", [None, 0.05])
def test_falls_through_to_working_address(loop, monkeypatch, echo_server, delay):
    bad = _info(socket.AF_INET, "127.0.0.1", _closed_port())
    good = _info(socket.AF_INET, "127.0.0.1", echo_server)
    _fake_resolver(loop, monkeypatch, [bad, bad, good])

    async def main():
        transport, _ = await loop.create_connection(
            asyncio.Protocol, "fake.test", 80, happy_eyeballs_delay=delay, interleave=1)
        assert transport.get_extra_info("peername") == ("127.0.0.1", echo_server)
        transport.close()

    loop.run_until_complete(main())


def test_happy_eyeballs_does_not_wait_for_a_silent_address(loop, monkeypatch, echo_server):
    """A first address that never answers (a blackhole) does not block the second."""
    blackhole = _info(socket.AF_INET, *SILENT)
    good = _info(socket.AF_INET, "127.0.0.1", echo_server)
    _fake_resolver(loop, monkeypatch, [blackhole, good])

    async def main():
        transport, _ = await asyncio.wait_for(loop.create_connection(
            asyncio.Protocol, "fake.test", 80, happy_eyeballs_delay=0.05), 10)
        assert transport.get_extra_info("peername") == ("127.0.0.1", echo_server)
        transport.close()

    loop.run_until_complete(main())


def test_all_errors_and_multiple_exceptions(loop, monkeypatch):
    refused = [_info(socket.AF_INET, "127.0.0.1", _closed_port()),
               _info(socket.AF_INET, "127.0.0.2", _closed_port())]
    _fake_resolver(loop, monkeypatch, refused)

    async def main():
        with pytest.raises(ExceptionGroup) as group:
            await loop.create_connection(asyncio.Protocol, "fake.test", 80, all_errors=True)
        assert len(group.value.exceptions) == 2
        assert all(isinstance(e, ConnectionRefusedError) for e in group.value.exceptions)
        with pytest.raises(OSError, match="Multiple exceptions") as one:
            await loop.create_connection(asyncio.Protocol, "fake.test", 80, interleave=1)
        assert not isinstance(one.value, ExceptionGroup)

    loop.run_until_complete(main())


def test_named_local_addr(loop, echo_server):
    async def main():
        transport, _ = await loop.create_connection(
            asyncio.Protocol, "127.0.0.1", echo_server, local_addr=("localhost", 0),
            family=socket.AF_INET)
        assert transport.get_extra_info("sockname")[0] == "127.0.0.1"
        transport.close()

    loop.run_until_complete(main())


def test_local_addr_without_matching_family(loop, echo_server):
    async def main():
        with pytest.raises(OSError, match="no matching local address"):
            await loop.create_connection(asyncio.Protocol, "127.0.0.1", echo_server,
                                         local_addr=("::1", 0), flags=socket.AI_NUMERICHOST)

    loop.run_until_complete(main())


def _open_sockets():
    """The sockets this process has open (the loop's own fds, created lazily, are not)."""
    found = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                found.add(fd)
        except OSError:
            pass
    return found


def test_cancel_during_race_leaks_nothing(loop, monkeypatch):
    blackhole = _info(socket.AF_INET, *SILENT)
    _fake_resolver(loop, monkeypatch, [blackhole, blackhole])

    async def main():
        task = loop.create_task(loop.create_connection(
            asyncio.Protocol, "fake.test", 80, happy_eyeballs_delay=0.01))
        await asyncio.sleep(0.1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    before = _open_sockets()
    loop.run_until_complete(main())
    # staggered_race cancels its attempts without awaiting them: let them finish closing.
    loop.run_until_complete(asyncio.sleep(0.05))
    assert _open_sockets() == before


def test_unresolvable_host_raises_gaierror_like_asyncio(loop):
    """Every way of connecting to a name that does not resolve raises socket.gaierror with
    the resolver's own (code, message), as asyncio does: code catches it by type."""
    host = "no-such-host.invalid"  # RFC 2606: never resolves
    with pytest.raises(socket.gaierror) as expected:
        socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)

    async def main():
        attempts = {
            "create_connection": lambda: loop.create_connection(asyncio.Protocol, host, 80),
            "create_connection(happy_eyeballs_delay)": lambda: loop.create_connection(
                asyncio.Protocol, host, 80, happy_eyeballs_delay=0.1),
            "open_connection": lambda: asyncio.open_connection(host, 80),
            "create_server": lambda: loop.create_server(asyncio.Protocol, host, 80),
            "getaddrinfo": lambda: loop.getaddrinfo(host, 80, type=socket.SOCK_STREAM),
        }
        for name, attempt in attempts.items():
            with pytest.raises(socket.gaierror) as raised:
                await asyncio.wait_for(attempt(), 30)
            assert raised.value.args == expected.value.args, name

    loop.run_until_complete(main())


def test_resolver_hints_are_honoured(loop, monkeypatch, echo_server):
    """aiohttp connects with the (proto, flags) its resolver returned: IPPROTO_TCP with
    AI_NUMERICHOST | AI_NUMERICSERV. They connect a numeric address as without them, on the
    C++ path (the general one cost aiohttp 10 % per connection), and AI_NUMERICHOST still
    refuses a name, as getaddrinfo does on asyncio."""
    numeric = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV

    async def general_path(*args):
        raise AssertionError("a numeric address with resolver hints took the general path")

    with pytest.raises(socket.gaierror) as expected:
        socket.getaddrinfo("localhost", echo_server, type=socket.SOCK_STREAM, flags=numeric)

    async def main():
        monkeypatch.setattr(_connect, "connect_first", general_path)
        for port in (echo_server, str(echo_server)):
            transport, _ = await loop.create_connection(
                asyncio.Protocol, "127.0.0.1", port, family=socket.AF_INET,
                proto=socket.IPPROTO_TCP, flags=numeric)
            assert transport.get_extra_info("peername") == ("127.0.0.1", echo_server)
            transport.close()
        monkeypatch.undo()
        with pytest.raises(socket.gaierror) as raised:
            await loop.create_connection(asyncio.Protocol, "localhost", echo_server,
                                         proto=socket.IPPROTO_TCP, flags=numeric)
        assert raised.value.args == expected.value.args

    loop.run_until_complete(main())
