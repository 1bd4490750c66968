#!/usr/bin/python3
"""Instructions per request: the echo servers' user-space work, counted by callgrind.

CPU time on a shared VM moves by 10 % from one minute to the next; instruction counts do not.
For each server (the C floor, and the Python echo variants on each loop) this starts it under
``valgrind --tool=callgrind --instr-atstart=no``, warms it up with bench/loadgen, switches
counting on with callgrind_control, loads it for --duration seconds, switches counting off,
and reports the instructions the server executed in user space ÷ the requests it answered.

What it does not count is the kernel's work: the system calls, which bench/README.md shows to
be the same per request on every loop (one recv/read and one send/write per message), and
whose cost is the floor's. So the column to read is "above the floor": the loop's own work
per request, ÷ uvloop's. The CPU-time benchmark (run_py_echo_bench.py) is the one the targets
are stated in; this one says where a ratio there comes from, reproducibly.

    /usr/bin/python3 bench/run_instruction_count.py [--build-dir build] [--size 1k]
        [--duration 4] [--loops ...] [--variants ...] [--no-floor]
        [--output bench/results/instructions_python.md] [--no-write]

Needs valgrind (Debian: apt-get install valgrind); the server runs about 50x slower under it,
so the request counts are small but the per-request figures are stable to a few percent.
"""

from __future__ import annotations

import argparse
import datetime
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from echo_common import (LOADGEN, REPO, RunError, ServerProcess, build_config,  # noqa: E402
                         emit, entry_point, fmt_size, host_info, parse_sizes, pick_cpus,
                         resolve_build_dir, run_loadgen)
from run_py_echo_bench import (FLOORS, LOOPS, VARIANT_TITLE, VARIANTS,  # noqa: E402
                               server_argv, server_env)

READY_UNDER_VALGRIND = 60.0  # seconds: Python's start-up is slow under valgrind


def loadgen(args, port: int, duration: float) -> int:
    """Requests answered in `duration` seconds of load (no warm-up: counting is switched on
    around this call)."""
    kv = run_loadgen(args.loadgen, port, args.conns, args.size, duration, 0, args.client_cpu)
    return int(kv["requests"])


def control(*argv: str) -> None:
    res = subprocess.run(["callgrind_control", *argv], capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise RunError(f"callgrind_control {' '.join(argv)} failed: {res.stderr[-300:]!r}")


def count(args, name: str, argv: list[str], env: dict[str, str]) -> tuple[int, int]:
    """(instructions, requests) of one server over the measured window."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        server = ServerProcess(name, ["valgrind", "--tool=callgrind", "--instr-atstart=no",
                                      f"--callgrind-out-file={out}", *argv],
                               args.server_cpu, env, ready_timeout=READY_UNDER_VALGRIND)
        try:
            port = server.start()
            loadgen(args, port, 1.0)  # warm-up: caches, allocator pools, lazily made objects
            pid = str(server.proc.pid)
            control("-i", "on", pid)
            requests = loadgen(args, port, args.duration)
            control("-i", "off", pid)
            control("-d", pid)
        finally:
            server.stop()
        dumps = sorted(Path(tmp).glob("callgrind.out.*"))
        if not dumps:
            raise RunError(f"{name}: callgrind wrote no dump")
        text = dumps[0].read_text(errors="replace")
        # "totals:" is what was counted; "summary:" stays 0 when counting is switched on late.
        m = re.search(r"^totals:\s*(\d+)", text, re.M)
        if not m:
            raise RunError(f"{name}: no instruction total in {dumps[0].name}")
        return int(m.group(1)), requests


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build")
    ap.add_argument("--python-dir", default=None, help="the treadle package (default BUILD/python)")
    ap.add_argument("--size", type=lambda t: parse_sizes(t)[0], default=1024,
                    help="message size, 'k' suffix allowed (default 1k)")
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--duration", type=float, default=4.0, help="counted seconds (default 4)")
    ap.add_argument("--loops", default=",".join(LOOPS))
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--no-floor", action="store_true", help="skip the raw C servers")
    ap.add_argument("--server-cpu", type=int, default=None)
    ap.add_argument("--client-cpu", type=int, default=None)
    ap.add_argument("--output", default=str(REPO / "bench" / "results" / "instructions_python.md"))
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    notes = pick_cpus(ap, args)
    loops = [t for t in args.loops.split(",") if t]
    variants = [t for t in args.variants.split(",") if t]
    for item, known in [(lp, LOOPS) for lp in loops] + [(v, VARIANTS) for v in variants]:
        if item not in known:
            ap.error(f"unknown name {item!r}; known: {', '.join(known)}")
    for tool in ("valgrind", "callgrind_control"):
        if shutil.which(tool) is None:
            print(f"error: {tool} not found; apt-get install valgrind", file=sys.stderr)
            return 2
    build = resolve_build_dir(args.build_dir)
    args.loadgen = build / LOADGEN
    python_dir = Path(args.python_dir).resolve() if args.python_dir else build / "python"
    env = server_env(python_dir)

    runs = [] if args.no_floor else [(f, "floor", [str(build / p)]) for f, p in FLOORS.items()]
    runs += [(lp, v, server_argv(python_dir, lp, v)) for v in variants for lp in loops]
    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    per_req: dict[tuple[str, str], float] = {}
    failures = 0
    for i, (name, variant, argv) in enumerate(runs, 1):
        try:
            ir, requests = count(args, f"{name} {variant}", argv, env)
        except RunError as e:
            failures += 1
            notes.append(f"{name} {variant}: {e}")
            print(f"[{i}/{len(runs)}] {name} {variant}: FAILED: {e}", file=sys.stderr, flush=True)
            continue
        per_req[(name, variant)] = ir / requests
        print(f"[{i}/{len(runs)}] {name:16s} {variant:8s} {requests:8,d} requests "
              f"{ir / requests:10,.0f} instructions/request", file=sys.stderr, flush=True)

    floor = per_req.get(("raw-epoll", "floor"))
    out = ["# Instructions per request (callgrind)", "",
           f"- Run: {started}; host: {host_info()[0]}; {build_config(build)}",
           f"- Python {sys.version.split()[0]}; {args.conns} connections, "
           f"{fmt_size(args.size)} messages, {args.duration:g} s counted after a 1 s warm-up",
           "- User-space instructions the server executed ÷ requests it answered; the kernel's "
           "work is not counted (the system calls per request are the same on every loop)"]
    out += [f"- Note: {n}" for n in notes]
    if floor is not None:
        out += ["", "| C floor | instructions/request |", "|---|---:|"]
        out += [f"| {f} | {per_req[(f, 'floor')]:,.0f} |" for f in FLOORS if (f, "floor") in per_req]
    out += ["", "| Variant | Loop | instructions/request | ÷ uvloop | above the floor ÷ uvloop's |",
            "|---|---|---:|---:|---:|"]
    for v in variants:
        base = per_req.get(("uvloop", v))
        for lp in loops:
            x = per_req.get((lp, v))
            if x is None:
                out.append(f"| {VARIANT_TITLE[v]} | {lp} | failed | | |")
                continue
            ratio = f"{x / base:.2f}" if base else ""
            above = (f"{(x - floor) / (base - floor):.2f}"
                     if base and floor is not None and base > floor else "")
            out.append(f"| {VARIANT_TITLE[v]} | {lp} | {x:,.0f} | {ratio} | {above} |")
    emit("\n".join(out) + "\n", args.output, args.no_write)
    return 1 if failures else 0


if __name__ == "__main__":
    entry_point(main)
