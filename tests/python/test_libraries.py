# tests/python/test_libraries.py — real asyncio libraries on treadle's loop, unchanged
# (run per backend). The libraries are Debian's python3-aiohttp and python3-websockets, which
# scripts/bootstrap installs.
"""aiohttp and websockets, server and client, on treadle.

These libraries use the loop the way applications do: create_server/create_connection with
their own protocols, Unix sockets, loop.sendfile() for static files, flow control on big
bodies, timeouts that cancel reads, and orderly shutdown of keep-alive connections. Each test
also checks that the process has as many open file descriptors at the end as at the start.
"""

import asyncio
import gc
import hashlib
import io
import os

import aiohttp
import pytest
import websockets
from aiohttp import web


def _open_fds():
    gc.collect()
    fds = {}
    for name in os.listdir("/proc/self/fd"):
        try:
            fds[int(name)] = os.readlink(f"/proc/self/fd/{name}")
        except OSError:  # the directory's own fd, closed by now
            pass
    return fds


@pytest.fixture
def fds_balanced(loop):
    """Fail the test if it leaves file descriptors open.

    The loop runs once first, so that the fds it opens for itself on its first run (the
    signal wake-up pipe) are in the baseline.
    """
    loop.run_until_complete(asyncio.sleep(0))
    before = _open_fds()
    yield
    after = _open_fds()
    assert {fd: after[fd] for fd in after.keys() - before.keys()} == {}


def _make_app(static_dir):
    async def hello(request):
        return web.Response(text="hello " + request.match_info["name"])

    async def echo(request):
        return web.Response(body=await request.read())

    async def stream(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for i in range(100):
            await response.write(bytes([i]) * 10_000)
        await response.write_eof()
        return response

    async def slow(request):
        await asyncio.sleep(30)
        return web.Response(text="too late")

    async def ws_upper(request):
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type == aiohttp.WSMsgType.TEXT:
                await ws.send_str(message.data.upper())
            else:
                await ws.send_bytes(message.data[::-1])
        return ws

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.add_routes([
        web.get("/hello/{name}", hello),
        web.post("/echo", echo),
        web.get("/stream", stream),
        web.get("/slow", slow),
        web.get("/ws", ws_upper),
        web.static("/static", static_dir),
    ])
    return app


async def _serve(app, tmp_path):
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    unix_path = str(tmp_path / "aiohttp.sock")
    await web.UnixSite(runner, unix_path).start()
    port = runner.addresses[0][1]
    return runner, f"http://127.0.0.1:{port}", unix_path


def test_aiohttp_server_and_client(loop, tmp_path, fds_balanced):
    static = tmp_path / "static"
    static.mkdir()
    blob = os.urandom(2 * 1024 * 1024 + 123)
    (static / "blob.bin").write_bytes(blob)

    async def main():
        runner, url, unix_path = await _serve(_make_app(static), tmp_path)
        try:
            async with aiohttp.ClientSession() as session:
                async with session.get(url + "/hello/treadle") as r:
                    assert (r.status, await r.text()) == (200, "hello treadle")

                # A body bigger than every socket buffer, both ways: flow control on both ends.
                body = os.urandom(8 * 1024 * 1024)
                async with session.post(url + "/echo", data=io.BytesIO(body)) as r:
                    assert await r.read() == body

                async with session.get(url + "/stream") as r:
                    expected = b"".join(bytes([i]) * 10_000 for i in range(100))
                    assert await r.read() == expected

                # web.static answers with FileResponse, which sends through loop.sendfile().
                async with session.get(url + "/static/blob.bin") as r:
                    assert hashlib.sha256(await r.read()).digest() == hashlib.sha256(blob).digest()
                headers = {"Range": "bytes=1000-99999"}
                async with session.get(url + "/static/blob.bin", headers=headers) as r:
                    assert r.status == 206
                    assert await r.read() == blob[1000:100000]

                async with session.ws_connect(url + "/ws") as ws:
                    await ws.send_str("shout")
                    assert (await ws.receive()).data == "SHOUT"
                    await ws.send_bytes(b"\x01\x02\x03" * 100_000)
                    assert (await ws.receive()).data == (b"\x01\x02\x03" * 100_000)[::-1]

                # Many concurrent requests over a small pool of keep-alive connections.
                limited = aiohttp.TCPConnector(limit=4)
                async with aiohttp.ClientSession(connector=limited) as pooled:
                    async def get(i):
                        async with pooled.get(f"{url}/hello/{i}") as r:
                            return await r.text()
                    texts = await asyncio.gather(*(get(i) for i in range(60)))
                    assert texts == [f"hello {i}" for i in range(60)]

            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(unix_path)) as s:
                async with s.get("http://unix/hello/unix") as r:
                    assert await r.text() == "hello unix"
        finally:
            await runner.cleanup()

    loop.run_until_complete(main())


def test_aiohttp_timeouts_and_refused_connections(loop, tmp_path, fds_balanced):
    async def main():
        runner, url, _ = await _serve(_make_app(tmp_path), tmp_path)
        try:
            async with aiohttp.ClientSession() as session:
                # The timeout cancels the client's read; the server's handler is cancelled
                # when the connection goes; both ends carry on serving.
                with pytest.raises(asyncio.TimeoutError):
                    async with session.get(url + "/slow", timeout=aiohttp.ClientTimeout(0.2)):
                        pass
                async with session.get(url + "/hello/again") as r:
                    assert await r.text() == "hello again"

            port = int(url.rsplit(":", 1)[1])
        finally:
            await runner.cleanup()
        async with aiohttp.ClientSession() as session:
            with pytest.raises(aiohttp.ClientConnectorError) as info:
                await session.get(f"http://127.0.0.1:{port}/")
            assert isinstance(info.value.os_error, ConnectionRefusedError)

    loop.run_until_complete(main())


def test_websockets_library(loop, fds_balanced):
    async def main():
        async def handler(ws):
            async for message in ws:
                if message == "close-please":
                    await ws.close(4000, "asked to")
                    return
                await ws.send(message[::-1])

        async with websockets.serve(handler, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            uri = f"ws://127.0.0.1:{port}"
            async with websockets.connect(uri) as client:
                await client.send("hello")
                assert await client.recv() == "olleh"
                big = os.urandom(700_000)
                await client.send(big)
                assert await client.recv() == big[::-1]
                pong_waiter = await client.ping()
                await asyncio.wait_for(pong_waiter, 5)

            async def roundtrip(i):
                async with websockets.connect(uri) as c:
                    await c.send(f"message {i}")
                    return await c.recv()
            replies = await asyncio.gather(*(roundtrip(i) for i in range(20)))
            assert replies == [f"message {i}"[::-1] for i in range(20)]

            async with websockets.connect(uri) as client:
                await client.send("close-please")
                with pytest.raises(websockets.ConnectionClosed) as info:
                    await client.recv()
                assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "asked to")

    loop.run_until_complete(main())
