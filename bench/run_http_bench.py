#!/usr/bin/python3
"""HTTP benchmark: aiohttp server and client on stock asyncio, uvloop and each treadle backend.

    /usr/bin/python3 bench/run_http_bench.py [--repeat 5] [--workloads upload,download]

Runs bench/http_workload.py once per loop, workload and repeat, the loops alternating within
each repeat (so drifting background load hits them alike), and reports the process CPU time
per request: the median and range over the repeats, and each loop's median ÷ asyncio's and
÷ uvloop's. Server and client share the process and the loop, as in an aiohttp service that
calls other services; the aiohttp and llhttp work is the same on every loop, so the ratios show
what the loop adds. Writes bench/results/http_python.md (Debian's python3-aiohttp, which
scripts/bootstrap installs).
"""

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from echo_common import REPO, emit, entry_point, host_info, loadavg, parse_kv, resolve_build_dir
from http_workload import LOOPS, WORKLOADS

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "http_workload.py"


def run(loop: str, workload: str, python_dir: Path) -> tuple[float, int]:
    out = subprocess.run([sys.executable, str(WORKLOAD), "--loop", loop, "--workload", workload,
                          "--python-dir", str(python_dir)],
                         capture_output=True, text=True, timeout=600, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{loop} {workload} failed:\n{out.stderr}")
    kv = parse_kv(out.stdout.strip().splitlines()[-1])
    return float(kv["cpu"]), int(kv["requests"])


def report(results: dict, args, started: str, load_start: str) -> str:
    lines = ["# HTTP benchmark (aiohttp)", "",
             f"- Run: {started}",
             f"- Host: {host_info()[0]}; load average {load_start} at start, {loadavg()} at end",
             f"- Python {sys.version.split()[0]} ({sys.executable}); "
             f"treadle from {args.python_dir}",
             "- Workload: bench/http_workload.py (aiohttp server and client in one process, "
             "rounds of 100 concurrent requests); "
             f"median of {args.repeat} run(s) per cell, loops alternating within each repeat",
             "- CPU µs/req = the process's user+system CPU time over the requests ÷ requests", "",
             "| Workload | Loop | CPU µs/req | range | ÷ asyncio | ÷ uvloop |",
             "|---|---|---:|---:|---:|---:|"]
    for workload in args.workloads:
        med = {loop: statistics.median(v) for loop, v in results[workload].items()}
        for loop, values in results[workload].items():
            ratio = [f"{med[loop] / med[b]:.2f}" if b in med and med[b] else ""
                     for b in ("asyncio", "uvloop")]
            lines.append(f"| {workload} | {loop} | {med[loop]:.0f} | "
                         f"{min(values):.0f}–{max(values):.0f} | {ratio[0]} | {ratio[1]} |")
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--workloads", default=",".join(WORKLOADS))
    ap.add_argument("--loops", default=",".join(LOOPS))
    ap.add_argument("--build", default="build")
    ap.add_argument("--output", default=str(HERE / "results" / "http_python.md"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    args.workloads = [w for w in args.workloads.split(",") if w]
    loops = [x for x in args.loops.split(",") if x]
    for bad in set(args.workloads) - set(WORKLOADS) | set(loops) - set(LOOPS):
        ap.error(f"unknown workload or loop: {bad}")
    if args.repeat < 1:
        ap.error("--repeat must be positive")
    args.python_dir = resolve_build_dir(args.build) / "python"
    if not (args.python_dir / "treadle").is_dir():
        ap.error(f"no treadle package in {args.python_dir}: build first (cmake --build "
                 f"{args.build}) or pass --build; repository: {REPO}")
    started = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    load_start = loadavg()
    results = {w: {loop: [] for loop in loops} for w in args.workloads}
    for rep in range(args.repeat):
        for workload in args.workloads:
            for loop in loops:
                cpu, n = run(loop, workload, args.python_dir)
                results[workload][loop].append(cpu * 1e6 / n)
                print(f"repeat {rep + 1} {workload:8} {loop:16} {cpu * 1e6 / n:8.0f} CPU µs/req",
                      file=sys.stderr, flush=True)
    emit(report(results, args, started, load_start), args.output, args.no_write)
    return 0


if __name__ == "__main__":
    entry_point(main)
