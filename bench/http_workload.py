#!/usr/bin/python3
"""One aiohttp workload on one loop, server and client in this process (bench/run_http_bench.py).

    http_workload.py --loop L --workload W [--python-dir BUILD/python]

Workloads, each in rounds of 100 concurrent requests over one keep-alive ClientSession:
  upload    400 POSTs of a 300 kB body, read by the server in 64 KiB chunks
  download  200 GETs of a 3.2 MB streamed response (50 writes of 64 KiB)
  small     3000 GETs of a 2-byte response
  connect   600 GETs, each on a new ClientSession (a new connection per request)

Prints one line "cpu=SECONDS requests=N": the process's CPU time (user+system, all threads)
over the requests, after the server and the first connection are set up.
"""

import argparse
import asyncio
import os
import sys
import time
import warnings

from py_echo_server import LOOPS, make_loop

WORKLOADS = {"upload": 400, "download": 200, "small": 3000, "connect": 600}
ROUND = 100


async def workload(name: str) -> tuple[float, int]:
    import aiohttp
    from aiohttp import web

    async def download(request):
        response = web.StreamResponse()
        await response.prepare(request)
        for _ in range(50):
            await response.write(b"z" * 65536)
        return response

    async def upload(request):
        n = 0
        async for chunk in request.content.iter_chunked(65536):
            n += len(chunk)
        return web.Response(text=str(n))

    async def small(request):
        return web.Response(text="ok")

    app = web.Application()
    app.add_routes([web.get("/download", download), web.post("/upload", upload),
                    web.get("/small", small)])
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    body = os.urandom(300_000)

    async with aiohttp.ClientSession() as session:
        async def one():
            if name == "upload":
                async with session.post(url + "/upload", data=body) as r:
                    assert int(await r.text()) == len(body)
            elif name == "download":
                async with session.get(url + "/download") as r:
                    assert len(await r.read()) == 50 * 65536
            elif name == "small":
                async with session.get(url + "/small") as r:
                    assert await r.text() == "ok"
            else:
                async with aiohttp.ClientSession() as fresh:
                    async with fresh.get(url + "/small") as r:
                        assert await r.text() == "ok"

        async with session.get(url + "/small") as r:  # the first connection is set-up time
            await r.read()
        total = WORKLOADS[name]
        start = time.process_time()
        for done in range(0, total, ROUND):
            await asyncio.gather(*(one() for _ in range(min(ROUND, total - done))))
        cpu = time.process_time() - start
    await runner.cleanup()
    return cpu, total


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--loop", choices=LOOPS, required=True)
    ap.add_argument("--workload", choices=sorted(WORKLOADS), required=True)
    ap.add_argument("--python-dir", help="directory holding the treadle package (BUILD/python)")
    args = ap.parse_args()
    if args.python_dir:
        sys.path.insert(0, args.python_dir)
    # aiohttp warns that a bytes body "might lock the event loop"; the same on every loop.
    warnings.simplefilter("ignore", ResourceWarning)
    with asyncio.Runner(loop_factory=lambda: make_loop(args.loop)) as runner:
        cpu, n = runner.run(workload(args.workload))
    print(f"cpu={cpu:.4f} requests={n}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
