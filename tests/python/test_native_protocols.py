# tests/python/test_native_protocols.py — treadle.protocols: C++ protocols served from Python
# (run per backend).
"""treadle.protocols.Echo/Discard over treadle's loop: no Python in the data path."""

import asyncio
import pytest

import treadle
from treadle import protocols


async def _echo_roundtrip(loop, port, payload):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(payload)
    writer.write_eof()
    received = await reader.read()  # Echo closes after flushing once it saw our EOF
    writer.close()
    await writer.wait_closed()
    return received


def test_echo_server_serves_many_connections(loop):
    async def main():
        server = await loop.create_server(protocols.Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        payloads = [bytes([i % 256]) * (1000 * i + 1) for i in range(20)]
        results = await asyncio.gather(*(_echo_roundtrip(loop, port, p) for p in payloads))
        assert results == payloads
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_large_echo_with_flow_control(loop):
    """4 MiB through a client that reads slowly: Echo's pause/resume keeps it correct."""
    data = bytes(range(256)) * (4 * 4096)

    async def main():
        server = await loop.create_server(protocols.Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(data)
        got = bytearray()
        while len(got) < len(data):
            chunk = await reader.read(65536)
            assert chunk
            got += chunk
            await asyncio.sleep(0)
        assert bytes(got) == data
        writer.close()
        await writer.wait_closed()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_factory_returning_instance_and_counters(loop):
    made = []

    def factory():
        p = protocols.Discard()
        made.append(p)
        return p

    async def main():
        server = await loop.create_server(factory, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"x" * 12345)
        await writer.drain()
        while not made or made[0].bytes_received < 12345:
            await asyncio.sleep(0.01)
        assert made[0].connected
        writer.close()
        await writer.wait_closed()
        while made[0].connected:
            await asyncio.sleep(0.01)
        server.close()
        await server.wait_closed()  # the server counted the connection and its end

    loop.run_until_complete(main())
    assert isinstance(made[0], protocols.NativeProtocol)
    assert made[0].bytes_received == 12345


def test_create_connection_with_native_protocol(loop):
    """The client side: create_connection returns a real transport and the C++ protocol."""
    async def main():
        received = bytearray()
        done = loop.create_future()

        class Sink(asyncio.Protocol):
            def connection_made(self, transport):
                self.transport = transport

            def data_received(self, data):
                received.extend(data)
                if len(received) >= 5:
                    self.transport.close()

            def connection_lost(self, exc):
                done.set_result(exc)

        server = await loop.create_server(Sink, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, protocol = await loop.create_connection(protocols.Echo, "127.0.0.1", port)
        assert isinstance(transport, asyncio.Transport)
        assert isinstance(protocol, protocols.Echo)
        assert transport.get_protocol() is protocol
        transport.write(b"hello")
        assert await done is None
        assert bytes(received) == b"hello"
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_instance_serves_one_connection(loop):
    shared = protocols.Echo()

    async def main():
        server = await loop.create_server(protocols.Echo, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        transport, _ = await loop.create_connection(lambda: shared, "127.0.0.1", port)
        with pytest.raises(RuntimeError, match="already attached"):
            await loop.create_connection(lambda: shared, "127.0.0.1", port)
        transport.close()
        server.close()
        await server.wait_closed()

    loop.run_until_complete(main())


def test_package_exposes_protocols():
    assert treadle.protocols.Echo is protocols.Echo
    assert protocols.Echo.__doc__ and protocols.Discard.__doc__
