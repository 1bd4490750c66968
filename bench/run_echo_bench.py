#!/usr/bin/python3
"""C++ echo benchmark: treadle's echo_server on each backend against raw epoll and raw Asio.

For every server x message size, start the server pinned to one CPU, run bench/loadgen (a
closed-loop C load generator) pinned to another with --conns connections, and record the
request rate and the server's CPU time per request (utime+stime of the whole server process,
from /proc/<pid>/stat, sampled by loadgen at the exact edges of the measured window). Each cell
is repeated --repeat times, interleaved across servers so slow drifts in background load hit all
servers alike, and the median is reported. The figure that counts is the ratio of CPU per
request: treadle-reactor / raw-epoll and treadle-proactor / raw-asio (target <= 1.05).

Servers whose binary is not built are skipped and named in the output. Every process started
here is stopped before the runner exits (and is sent SIGTERM by the kernel if the runner dies).

    /usr/bin/python3 bench/run_echo_bench.py [--build-dir build] [--quick]
        [--duration 5] [--warmup 1] [--repeat 3] [--conns 10] [--sizes 1024,10240,102400]
        [--servers raw-epoll,raw-asio,treadle-reactor,treadle-proactor]
        [--server-cpu 0] [--client-cpu 1] [--output bench/results/echo_cpp.md | --no-write]

Standard library only; Debian's /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from echo_common import (LOADGEN, PRIME_SECONDS, REPO, Cell, RunError,  # noqa: E402
                         build_config, emit, entry_point, fmt_size, host_info, loadavg,
                         paired_ratios, parse_sizes, pick_cpus, record, resolve_build_dir,
                         run_one, timing_defaults)

# name -> (binary relative to the build dir, extra arguments before --port)
# Run order: each treadle server right after its baseline, so a pair sees the same background load.
SERVERS: dict[str, tuple[str, list[str]]] = {
    "raw-epoll": ("bench/raw_epoll_echo", []),
    "treadle-reactor": ("examples/echo_server", ["--backend", "reactor"]),
    "raw-asio": ("bench/raw_asio_echo", []),
    "treadle-proactor": ("examples/echo_server", ["--backend", "proactor"]),
}
# treadle server -> the raw server its CPU per request is compared with
BASELINE = {"treadle-reactor": "raw-epoll", "treadle-proactor": "raw-asio"}
TARGET_RATIO = 1.05

def render(args, cells: dict[tuple[str, int], Cell], servers: list[str], skipped: list[str],
           notes: list[str], started: str, load_start: str, build_cfg: str) -> str:
    out = ["# C++ echo benchmark", ""]
    mode = " (quick mode: smoke test, not a measurement)" if args.quick else ""
    out += [
        f"- Run: {started}{mode}",
        f"- Host: {host_info()[0]}; load average {load_start} at start, {loadavg()} at end",
        f"- Build: {args.build_dir} ({build_cfg}); servers marked treadle-* are "
        "examples/echo_server --backend reactor|proactor",
        f"- Load: {args.conns} connections, closed loop (one message in flight per connection), "
        f"bench/loadgen on CPU {args.client_cpu}, server on CPU {args.server_cpu}; "
        f"a {PRIME_SECONDS:g} s first load on connections of its own, then "
        f"{args.warmup:g} s warm-up, {args.duration:g} s measured window, median of "
        f"{args.repeat} run(s) per cell",
        "- CPU µs/req = server user+system CPU time (/proc/<pid>/stat, all threads) over the "
        "measured window ÷ requests completed in it; clock tick "
        f"{1e3 / os.sysconf('SC_CLK_TCK'):g} ms",
    ]
    for s in skipped:
        out.append(f"- Skipped: {s}")
    for n in notes:
        out.append(f"- Note: {n}")
    out += ["", "| Server | Size | req/s | CPU µs/req | CPU µs/req (min–max) | CPU/req ÷ raw "
            "| Server CPU % | Loadgen CPU % |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    sizes = args.sizes
    for size in sizes:
        for name in servers:
            cell = cells[(name, size)]
            if not cell.samples:
                out.append(f"| {name} | {fmt_size(size)} | failed | | | | | |")
                continue
            lo, hi = cell.spread("cpu_us_per_req")
            ratio = ""
            base = BASELINE.get(name)
            if base is None:
                ratio = "baseline"
            elif base in servers and cells[(base, size)].samples:
                r = cell.median("cpu_us_per_req") / cells[(base, size)].median("cpu_us_per_req")
                ratio = f"{r:.3f} (vs {base})"
            out.append(
                f"| {name} | {fmt_size(size)} | {cell.median('rps'):,.0f} "
                f"| {cell.median('cpu_us_per_req'):.2f} | {lo:.2f}–{hi:.2f} | {ratio} "
                f"| {cell.median('server_cpu_pct'):.0f} | {cell.median('client_cpu_pct'):.0f} |")
    pairs = [(t, b) for t, b in BASELINE.items() if t in servers and b in servers]
    if pairs:
        out += ["", f"CPU per request, treadle ÷ raw (target ≤ {TARGET_RATIO}): ratio of the "
                "medians; in parentheses the median and range of the per-repeat ratios of runs "
                "made back to back (less sensitive to drifting background load):", "",
                "| Size | " + " | ".join(f"{t} ÷ {b}" for t, b in pairs) + " |",
                "|---|" + "---:|" * len(pairs)]
        for size in sizes:
            row = [fmt_size(size)]
            for t, b in pairs:
                ct, cb = cells[(t, size)], cells[(b, size)]
                if ct.samples and cb.samples:
                    r = ct.median("cpu_us_per_req") / cb.median("cpu_us_per_req")
                    cell_text = f"{r:.3f} {'ok' if round(r, 3) <= TARGET_RATIO else 'OVER'}"
                    pr = paired_ratios(ct, cb)
                    if len(pr) > 1:
                        cell_text += (f" (paired {statistics.median(pr):.3f}, "
                                      f"{min(pr):.3f}–{max(pr):.3f})")
                    row.append(cell_text)
                else:
                    row.append("n/a")
            out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build",
                    help="CMake build directory (relative paths are tried from the current "
                         "directory, then from the repository root; default: build)")
    ap.add_argument("--duration", type=float, default=None, help="measured seconds (default 5)")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default 1)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per cell, median taken "
                                                             "(default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke-test mode: 1 s window, 0.3 s warm-up, 1 repeat (unless given)")
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--sizes", type=parse_sizes, default=[1024, 10240, 102400],
                    help="comma-separated message sizes in bytes, 'k' suffix allowed")
    ap.add_argument("--servers", default=None,
                    help="comma-separated subset of: " + ", ".join(SERVERS) +
                         " (default: all whose binary exists; listed ones must exist)")
    ap.add_argument("--server-cpu", type=int, default=None,
                    help="CPU the server is pinned to (default: the first this process may use)")
    ap.add_argument("--client-cpu", type=int, default=None,
                    help="CPU loadgen is pinned to (default: the second this process may use)")
    ap.add_argument("--output", default=str(REPO / "bench" / "results" / "echo_cpp.md"))
    ap.add_argument("--no-write", action="store_true", help="print the table only")
    args = ap.parse_args()
    timing_defaults(ap, args)
    notes = pick_cpus(ap, args)

    build = resolve_build_dir(args.build_dir)
    loadgen = build / LOADGEN
    if not os.access(loadgen, os.X_OK):
        print(f"error: {loadgen} not found; build it first: "
              f"cmake --build {build} --target bench_loadgen", file=sys.stderr)
        return 2

    explicit = args.servers is not None
    wanted = [s.strip() for s in args.servers.split(",")] if explicit else list(SERVERS)
    unknown = [s for s in wanted if s not in SERVERS]
    if unknown:
        ap.error(f"unknown server(s): {', '.join(unknown)}; known: {', '.join(SERVERS)}")
    build_cfg = build_config(build)
    if re.search(r"build type (debug|none)|sanitizers", build_cfg, re.I):
        notes.append(f"not an optimised build ({build_cfg}): ratios are not meaningful")
    servers, skipped = [], []
    for name in wanted:
        binary = build / SERVERS[name][0]
        if os.access(binary, os.X_OK):
            servers.append(name)
        else:
            skipped.append(f"{name} (no binary at {binary})")
    for s in skipped:
        print(f"skipped: {s}", file=sys.stderr)
    if explicit and skipped:
        print("error: a server named with --servers is not built", file=sys.stderr)
        return 2
    if not servers:
        print("error: no server binary found", file=sys.stderr)
        return 2

    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = loadavg()
    cells = {(n, s): Cell(n, s) for n in servers for s in args.sizes}
    failures = 0
    total = args.repeat * len(args.sizes) * len(servers)
    done = 0
    # Interleave: every repeat visits every cell once, so drifting background load is shared.
    for rep in range(args.repeat):
        for size in args.sizes:
            for name in servers:
                rel, extra = SERVERS[name]
                argv = [str(build / rel)] + extra
                done += 1
                prefix = f"[{done}/{total}] {name:16s} {fmt_size(size):>7s} run {rep + 1}"
                try:
                    sample, warnings = run_one(args, loadgen, name, argv, size)
                except RunError as e:
                    failures += 1
                    cells[(name, size)].errors.append(str(e))
                    print(f"{prefix}: FAILED: {e}", file=sys.stderr, flush=True)
                    continue
                record(cells[(name, size)], sample, rep, warnings, notes, prefix)

    for cell in cells.values():
        for e in cell.errors:
            notes.append(f"{cell.server} {fmt_size(cell.size)} failed: {e}")
    report = render(args, cells, servers, skipped, notes, started, load_start, build_cfg)
    emit(report, args.output, args.no_write)
    return 1 if failures else 0


if __name__ == "__main__":
    entry_point(main)
