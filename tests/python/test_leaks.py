# tests/python/test_leaks.py — 100,000 callbacks and timers, twice: neither gc-tracked objects
# nor RSS may grow between the rounds; loops closed with servers and connections open free
# every fd and themselves, even a server the program no longer refers to.
"""Leak checks."""

import asyncio
import gc
import os
import subprocess
import sys
import warnings
import weakref

import treadle


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def one_round(loop, n=100_000):
    count = [0]

    def cb(arg):
        count[0] += 1

    for i in range(n):
        loop.call_soon(cb, i)
    handles = [loop.call_later(0.0001 * (i % 10), cb, i) for i in range(n)]
    for h in handles[::2]:
        h.cancel()
    del handles

    async def tiny():
        await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*[tiny() for _ in range(1000)])
        await asyncio.sleep(0.01)

    loop.run_until_complete(main())
    assert count[0] == n + n // 2


def test_no_growth_between_rounds(loop):
    one_round(loop)  # warm-up: caches, free lists, heap capacity
    gc.collect()
    objects1, rss1 = len(gc.get_objects()), rss_kib()
    one_round(loop)
    gc.collect()
    objects2, rss2 = len(gc.get_objects()), rss_kib()
    one_round(loop)
    gc.collect()
    objects3, rss3 = len(gc.get_objects()), rss_kib()
    assert objects3 - objects1 < 100, (objects1, objects2, objects3)
    assert rss3 - rss2 < 2048, (rss1, rss2, rss3)


def test_closing_a_loop_with_open_connections_and_servers_frees_them(backend):
    """A loop closed while a server listens and connections are open (nobody closed them, as
    asyncio allows) lets go of them: once the program drops its references, every fd and the
    loop object itself are freed. The C++ server's protocol factory refers back to the Python
    server, whose handle holds the C++ server: closing the loop must break that cycle."""
    def open_fds():
        return len(os.listdir("/proc/self/fd"))

    before = open_fds()
    refs = []
    for _ in range(5):
        loop = treadle.new_event_loop(backend)

        async def main():
            server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
            port = server.sockets[0].getsockname()[1]
            transport, _ = await loop.create_connection(asyncio.Protocol, "127.0.0.1", port)
            await asyncio.sleep(0.01)  # accepted, both ends connected
            return server, transport

        kept = loop.run_until_complete(main())
        loop.close()
        refs.append(weakref.ref(loop))
        del loop, main, kept
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ResourceWarning)  # the server's unclosed sockets
            gc.collect()
    assert [r() for r in refs] == [None] * 5
    assert open_fds() == before


_DROPPED_SERVER = """
import asyncio, gc, sys, warnings, weakref
import treadle

loop = treadle.new_event_loop(sys.argv[1])

async def main():
    server = await loop.create_server(asyncio.Protocol, "127.0.0.1", 0)
    return weakref.ref(server)

ref = loop.run_until_complete(main())
gc.collect()
kept = ref() is not None  # the cycle through C++ keeps it while the loop is open
with warnings.catch_warnings():
    warnings.simplefilter("ignore", ResourceWarning)  # its unclosed listening socket
    loop.close()
    gc.collect()
print("kept", kept, "freed", ref() is None)
"""


def test_a_server_nobody_refers_to_is_freed_when_its_loop_closes(backend):
    """A server the program dropped without closing it, still listening: only the cycle
    through its C++ protocol factory keeps it. Closing the loop releases the factory, which
    frees the server while the C++ side is closing it; that used to free memory twice. The
    scenario runs in a process of its own, under glibc's checking malloc (part of libc6),
    which aborts on the double free that plain malloc may not notice."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path))
    debug_malloc = "/lib/x86_64-linux-gnu/libc_malloc_debug.so.0"
    if os.path.exists(debug_malloc):
        env.update(LD_PRELOAD=debug_malloc, MALLOC_CHECK_="3")
    done = subprocess.run([sys.executable, "-c", _DROPPED_SERVER, backend], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["kept", "True", "freed", "True"]
