# tests/python/test_leaks.py — 100,000 callbacks and timers, twice: neither gc-tracked objects
# nor RSS may grow between the rounds.
"""Leak checks."""

import asyncio
import gc


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
