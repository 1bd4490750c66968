#!/usr/bin/python3
"""Python echo server for the Python echo benchmark (bench/run_py_echo_bench.py).

    py_echo_server.py --loop asyncio|uvloop|treadle-reactor|treadle-proactor
                      --variant protocol|buffered|streams|sock --port P
                      [--python-dir BUILD/python] [--probe]

Serves echo on 127.0.0.1:P with one of four server styles, the same code on every loop:

  protocol  asyncio.Protocol: data_received(data) -> transport.write(data)
  buffered  asyncio.BufferedProtocol: get_buffer() hands out one 256 KiB bytearray,
            buffer_updated(n) -> transport.write(view[:n])
  streams   asyncio.start_server: reader.read(65536) -> writer.write(data); await drain()
  sock      loop.sock_accept, then per connection loop.sock_recv(65536) -> loop.sock_sendall

Prints `listening on 127.0.0.1:<port>` (flushed) once listening and exits 0 on SIGTERM/SIGINT.
If the loop does not implement what the variant needs (NotImplementedError), it prints
`unsupported: <reason>` and exits with status 3 before listening. --probe only checks that
(status 0 or 3) and exits without serving. TCP_NODELAY is set on every accepted connection,
as in the C++ servers. Nothing is printed per request.
"""

import argparse
import asyncio
import signal
import socket
import sys

UNSUPPORTED = 3
LOOPS = ("asyncio", "uvloop", "treadle-reactor", "treadle-proactor")
VARIANTS = ("protocol", "buffered", "streams", "sock")
BUFSIZE = 256 * 1024


def make_loop(name):
    if name == "asyncio":
        return asyncio.new_event_loop()
    if name == "uvloop":
        import uvloop
        return uvloop.new_event_loop()
    import treadle
    return treadle.new_event_loop(name.split("-", 1)[1])


def nodelay(sock):
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (OSError, AttributeError):
        pass


class EchoProtocol(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        nodelay(transport.get_extra_info("socket"))

    def data_received(self, data):
        self.transport.write(data)


class EchoBufferedProtocol(asyncio.BufferedProtocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray(BUFSIZE)
        self.view = memoryview(self.buf)
        nodelay(transport.get_extra_info("socket"))

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        # write() copies what it cannot send at once, so reusing the buffer is safe.
        self.transport.write(self.view[:nbytes])

    def eof_received(self):
        return False


async def stream_client(reader, writer):
    nodelay(writer.get_extra_info("socket"))
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


async def sock_client(loop, conn):
    try:
        while True:
            data = await loop.sock_recv(conn, 65536)
            if not data:
                break
            await loop.sock_sendall(conn, data)
    except (ConnectionError, OSError):
        pass
    finally:
        conn.close()


async def sock_server(loop, lsock, tasks):
    while True:
        conn, _ = await loop.sock_accept(lsock)
        conn.setblocking(False)
        nodelay(conn)
        task = loop.create_task(sock_client(loop, conn))
        tasks.add(task)
        task.add_done_callback(tasks.discard)


def listening_socket(port):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", port))
    lsock.listen(128)
    lsock.setblocking(False)
    return lsock


async def probe_sock(loop):
    """Raises NotImplementedError if the loop lacks sock_accept/sock_recv/sock_sendall."""
    a, b = socket.socketpair()
    lsock = listening_socket(0)
    try:
        for s in (a, b):
            s.setblocking(False)
        await loop.sock_sendall(a, b"x")
        await asyncio.wait_for(loop.sock_recv(b, 1), 5)
        acc = loop.create_task(loop.sock_accept(lsock))
        await asyncio.sleep(0)
        if acc.done():
            acc.result()  # raises NotImplementedError if that is what it did
        acc.cancel()
        try:
            await acc
        except asyncio.CancelledError:
            pass
    finally:
        a.close()
        b.close()
        lsock.close()


async def serve(loop, variant, port, probe):
    if variant == "sock":
        await probe_sock(loop)
    if probe:
        return
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = set()
    server = None
    if variant == "protocol":
        server = await loop.create_server(EchoProtocol, "127.0.0.1", port)
    elif variant == "buffered":
        server = await loop.create_server(EchoBufferedProtocol, "127.0.0.1", port)
    elif variant == "streams":
        server = await asyncio.start_server(stream_client, "127.0.0.1", port)
    else:
        lsock = listening_socket(port)
        tasks.add(loop.create_task(sock_server(loop, lsock, tasks)))
    sock = server.sockets[0] if server is not None else lsock
    print(f"listening on 127.0.0.1:{sock.getsockname()[1]}", flush=True)
    await stop.wait()
    if server is not None:
        server.close()
    else:
        lsock.close()
    for t in list(tasks):
        t.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--loop", choices=LOOPS, required=True)
    ap.add_argument("--variant", choices=VARIANTS, default="protocol")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--python-dir", default=None,
                    help="directory holding the treadle package (BUILD/python); put first on "
                         "sys.path (PYTHONPATH works too)")
    ap.add_argument("--probe", action="store_true",
                    help="only check that the loop supports the variant (exit 0, or 3)")
    args = ap.parse_args()
    if args.python_dir:
        sys.path.insert(0, args.python_dir)
    try:
        loop = make_loop(args.loop)
    except ImportError as e:
        print(f"unsupported: {args.loop} not importable: {e}", flush=True)
        return UNSUPPORTED
    try:
        loop.run_until_complete(serve(loop, args.variant, args.port, args.probe))
    except NotImplementedError as e:
        print(f"unsupported: {args.loop} --variant {args.variant}: {e}", flush=True)
        return UNSUPPORTED
    finally:
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
