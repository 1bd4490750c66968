#!/usr/bin/python3
# bench/loop_micro.py — loop micro-benchmarks on stock asyncio, uvloop and treadle's backends.
# Not run by CTest (timing on shared machines); run: PYTHONPATH=build/python bench/loop_micro.py
"""Loop micro-benchmarks: chained call_soon, call_later with cancellation, tiny tasks with
sleep(0), Future create/set/await and short TCP connections, on every loop available,
printing ops/s and ratios against uvloop and asyncio. Each measurement is the best of
--repeat runs."""

import argparse
import asyncio
import gc
import time

from py_echo_server import EchoProtocol  # the echo benchmarks' server protocol


def bench_call_soon(loop, n):
    """Chained call_soon: each callback schedules the next; n callbacks."""
    left = [n]

    def cb():
        left[0] -= 1
        if left[0]:
            loop.call_soon(cb)
        else:
            loop.stop()

    loop.call_soon(cb)
    t0 = time.perf_counter()
    loop.run_forever()
    return n / (time.perf_counter() - t0)


def bench_timers(loop, n):
    """n positive-delay call_later timers; every other one cancelled; run until all fired."""
    fired = [0]
    target = n - n // 2

    def cb():
        fired[0] += 1
        if fired[0] == target:
            loop.stop()

    t0 = time.perf_counter()
    base = 0.001
    handles = [loop.call_later(base + (i % 100) * 1e-5, cb) for i in range(n)]
    for h in handles[1::2]:
        h.cancel()
    loop.run_forever()
    return n / (time.perf_counter() - t0)


def bench_tasks(loop, n):
    """n tiny tasks that each await sleep(0) once."""

    async def tiny():
        await asyncio.sleep(0)

    async def main():
        await asyncio.gather(*[tiny() for _ in range(n)])

    t0 = time.perf_counter()
    loop.run_until_complete(main())
    return n / (time.perf_counter() - t0)


def bench_futures(loop, n):
    """n times: create a Future, set its result from a callback, await it."""

    async def main():
        for _ in range(n):
            fut = loop.create_future()
            loop.call_soon(fut.set_result, 1)
            await fut

    t0 = time.perf_counter()
    loop.run_until_complete(main())
    return n / (time.perf_counter() - t0)


class _OneReply(asyncio.Protocol):
    def __init__(self, done):
        self.done = done

    def data_received(self, data):
        self.done.set_result(data)


def bench_connections(loop, n):
    """n loopback TCP connections, 10 at a time: create_connection, one byte echoed by the
    echo benchmarks' EchoProtocol (which sets TCP_NODELAY), close. Both ends are in this process, so it is the loop's whole
    cost of a short connection (accept, connect, two transports, their teardown)."""

    async def main():
        server = await loop.create_server(EchoProtocol, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def one():
            done = loop.create_future()
            transport, _ = await loop.create_connection(lambda: _OneReply(done), "127.0.0.1",
                                                        port)
            transport.write(b"x")
            await done
            transport.close()

        for _ in range(n // 10):
            await asyncio.gather(*[one() for _ in range(10)])
        server.close()
        await server.wait_closed()

    t0 = time.perf_counter()
    loop.run_until_complete(main())
    return n / (time.perf_counter() - t0)


BENCHES = [
    ("call_soon (chained)", bench_call_soon, 1_000_000),
    ("call_later+cancel", bench_timers, 200_000),
    ("tasks sleep(0)", bench_tasks, 100_000),
    ("future create/set/await", bench_futures, 100_000),
    ("TCP connect/echo/close", bench_connections, 5_000),
]


def loop_factories():
    """(name, factory) for every loop available here."""
    out = [("asyncio", asyncio.new_event_loop)]
    try:
        import uvloop
        out.append(("uvloop", uvloop.new_event_loop))
    except ImportError:
        pass
    import treadle
    for backend in treadle.backends():
        out.append((f"treadle-{backend}", lambda b=backend: treadle.new_event_loop(b)))
    return out


def main():
    """Run every benchmark on every loop and print a markdown table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the counts")
    args = parser.parse_args()
    loops = loop_factories()
    results = {}
    for title, fn, n in BENCHES:
        n = max(1, int(n * args.scale))
        for name, factory in loops:
            best = 0.0
            for _ in range(args.repeat):
                loop = factory()
                gc.collect()
                try:
                    best = max(best, fn(loop, n))
                finally:
                    loop.close()
            results[(title, name)] = best
    names = [name for name, _ in loops]
    print("| benchmark | " + " | ".join(f"{n} ops/s" for n in names)
          + " | treadle/uvloop | treadle/asyncio |")
    print("|" + "---|" * (len(names) + 3))
    for title, _, _ in BENCHES:
        row = [f"{results[(title, n)]:,.0f}" for n in names]
        ratios_uv, ratios_aio = [], []
        for n in names:
            if n.startswith("treadle"):
                r = results[(title, n)]
                if "uvloop" in names:
                    ratios_uv.append(f"{n[8:]} {r / results[(title, 'uvloop')]:.2f}x")
                ratios_aio.append(f"{n[8:]} {r / results[(title, 'asyncio')]:.2f}x")
        print(f"| {title} | " + " | ".join(row) + f" | {', '.join(ratios_uv)} | "
              f"{', '.join(ratios_aio)} |")


if __name__ == "__main__":
    main()
