#!/usr/bin/python3
"""Python echo benchmark: the same Python echo servers on stock asyncio, uvloop and treadle.

For every loop x server variant x message size, start bench/py_echo_server.py pinned to one CPU,
run bench/loadgen (the closed-loop C load generator) pinned to another with --conns connections,
and record the request rate and the server's CPU time per request (utime+stime of the server
process from /proc/<pid>/stat, sampled by loadgen at the exact edges of the measured window).
Each cell is repeated --repeat times, interleaved (every repeat visits every cell once, and the
loops of one variant and size run back to back), and the median is reported, with ratios of CPU
per request against uvloop and against asyncio. Targets for treadle's CPU per request:
<= 0.9x uvloop on Protocol and BufferedProtocol at 1 KiB, <= 0.75x on sock_*, never above 1x.

The same run measures the floor: the raw C echo servers of bench/ (epoll, and Boost.Asio), which
do little more than the kernel's work and a read/write per message. A loop's CPU per request
over the floor's is roughly what the loop itself costs. It is not a strict bound: a server
faster than the load makes more epoll_wait calls per request, and pays for them. Each repeat
measures the floor at every size first.

Variants a loop does not implement (NotImplementedError, e.g. sock_* on treadle's loop before
the network issue lands) are skipped and named in the output. The machinery (server processes,
loadgen runs, samples) is shared with run_echo_bench.py through bench/echo_common.py.

    /usr/bin/python3 bench/run_py_echo_bench.py [--build-dir build] [--python-dir BUILD/python]
        [--quick] [--duration 5] [--warmup 1] [--repeat 3] [--conns 10] [--sizes 1k,10k,100k]
        [--loops asyncio,uvloop,treadle-reactor,treadle-proactor]
        [--variants protocol,buffered,streams,sock] [--floors raw-epoll,raw-asio]
        [--server-cpu 0] [--client-cpu 1]
        [--output bench/results/echo_python.md] [--png bench/results/echo_python.png]
        [--no-write] [--no-png]

Standard library, plus Debian's python3-matplotlib for the PNG (skipped with a note if missing)
and python3-uvloop for the uvloop column.
"""

from __future__ import annotations

import argparse
import datetime
import os
import re
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from echo_common import (LOADGEN, PRIME_SECONDS, REPO, Cell, RunError,  # noqa: E402
                         build_config, emit, entry_point, fmt_size, host_info, loadavg,
                         paired_ratios, parse_sizes, pick_cpus, record, resolve_build_dir,
                         run_one, timing_defaults)

LOOPS = ["asyncio", "uvloop", "treadle-reactor", "treadle-proactor"]
VARIANTS = ["protocol", "buffered", "streams", "sock"]
# The C floor: name -> binary relative to the build dir (the same servers run_echo_bench.py uses).
FLOORS = {"raw-epoll": "bench/raw_epoll_echo", "raw-asio": "bench/raw_asio_echo"}
FLOOR = "floor"  # the pseudo-variant the floor's cells are filed under
VARIANT_TITLE = {"protocol": "Protocol", "buffered": "BufferedProtocol",
                 "streams": "streams", "sock": "sock_*"}
# treadle CPU/req ÷ uvloop CPU/req targets at 1 KiB; at every other size/variant: never above 1.
TARGET_1K = {"protocol": 0.9, "buffered": 0.9, "sock": 0.75}
SERVER = Path(__file__).resolve().parent / "py_echo_server.py"
UNSUPPORTED = 3  # py_echo_server.py's exit status for "this loop lacks what the variant needs"


def target(variant: str, size: int) -> float:
    return TARGET_1K.get(variant, 1.0) if size == 1024 else 1.0


def server_argv(python_dir: Path, loop: str, variant: str) -> list[str]:
    """py_echo_server.py's command line for one loop and variant (the runner adds --port)."""
    return [sys.executable, str(SERVER), "--loop", loop, "--variant", variant,
            "--python-dir", str(python_dir)]


def server_env(python_dir: Path) -> dict[str, str]:
    """The servers' environment: this one, with the treadle package first on PYTHONPATH."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(python_dir)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


def probe(python_dir: Path, loop: str, variant: str) -> str | None:
    """None if the loop supports the variant, else the reason it does not."""
    try:
        res = subprocess.run(server_argv(python_dir, loop, variant) + ["--probe"],
                             stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "probe timed out"
    if res.returncode == 0:
        return None
    text = (res.stdout + res.stderr).strip()
    if res.returncode == UNSUPPORTED:
        return text.removeprefix("unsupported: ").splitlines()[-1]
    return f"probe failed with status {res.returncode}: {text[-300:]!r}"


def ratio_text(cells, loop, base, variant, size) -> str:
    c, b = cells.get((loop, variant, size)), cells.get((base, variant, size))
    if loop == base:
        return "1.00"
    if c is None or b is None or not c.samples or not b.samples:
        return ""
    return f"{c.median('cpu_us_per_req') / b.median('cpu_us_per_req'):.2f}x"


def floor_table(args, cells, loops, variants, floors) -> list[str]:
    """The C floor per size, and every loop's CPU per request above it, per variant."""
    if not floors:
        return []
    base = floors[0]
    out = ["", f"The floor: the raw C echo servers, and each loop's CPU per request ÷ {base}'s "
           "(above 1.00 is roughly the loop's own cost; not a strict bound, since a server "
           "faster than the load makes more epoll_wait calls per request):", "",
           "| Size | " + " | ".join(f"{f} CPU µs/req" for f in floors) + " | Variant | "
           + " | ".join(f"{lp} ÷ {base}" for lp in loops) + " |",
           "|---:|" + "---:|" * len(floors) + "---|" + "---:|" * len(loops)]
    for size in args.sizes:
        fc = [cells.get((f, FLOOR, size)) for f in floors]
        head = f"| {fmt_size(size)} | " + " | ".join(
            f"{c.median('cpu_us_per_req'):.2f}" if c and c.samples else "failed" for c in fc)
        fb = fc[0]
        for variant in variants:
            row = []
            for lp in loops:
                c = cells.get((lp, variant, size))
                if c is None or not c.samples or fb is None or not fb.samples:
                    row.append("")
                else:
                    row.append(f"{c.median('cpu_us_per_req') / fb.median('cpu_us_per_req'):.2f}")
            out.append(head + f" | {VARIANT_TITLE[variant]} | " + " | ".join(row) + " |")
            head = "| | " + " | ".join("" for _ in floors)
    return out


def render(args, cells, loops, variants, floors, skipped, notes, started, load_start,
           build_cfg) -> str:
    out = ["# Python echo benchmark", ""]
    mode = " (quick mode: smoke test, not a measurement)" if args.quick else ""
    out += [
        f"- Run: {started}{mode}",
        f"- Host: {host_info()[0]}; load average {load_start} at start, {loadavg()} at end",
        f"- Python {sys.version.split()[0]} ({sys.executable}); treadle from {args.python_dir} "
        f"({build_cfg}); uvloop {uvloop_version()}",
        "- Server: bench/py_echo_server.py --loop L --variant V (the same Python code on every "
        "loop); Protocol = data_received → transport.write, BufferedProtocol = get_buffer / "
        "buffer_updated → transport.write, streams = start_server + read(65536) / write / "
        "drain, sock_* = sock_accept + sock_recv(65536) / sock_sendall",
        f"- Load: {args.conns} connections, closed loop (one message in flight per connection), "
        f"bench/loadgen on CPU {args.client_cpu}, server on CPU {args.server_cpu}; "
        f"a {PRIME_SECONDS:g} s first load on connections of its own, then "
        f"{args.warmup:g} s warm-up, {args.duration:g} s measured window, median of "
        f"{args.repeat} run(s) per cell",
        "- CPU µs/req = server user+system CPU time (/proc/<pid>/stat) over the measured window "
        f"÷ requests completed in it; clock tick {1e3 / os.sysconf('SC_CLK_TCK'):g} ms",
    ]
    for s in skipped:
        out.append(f"- Skipped: {s}")
    for n in notes:
        out.append(f"- Note: {n}")
    out += ["", "| Variant | Size | Loop | req/s | CPU µs/req | CPU µs/req (min–max) "
            "| CPU/req ÷ uvloop | CPU/req ÷ asyncio | Server CPU % | Loadgen CPU % |",
            "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    for variant in variants:
        for size in args.sizes:
            for loop in loops:
                cell = cells.get((loop, variant, size))
                if cell is None:
                    continue
                head = f"| {VARIANT_TITLE[variant]} | {fmt_size(size)} | {loop} "
                if not cell.samples:
                    out.append(head + "| failed | | | | | | |")
                    continue
                lo, hi = cell.spread("cpu_us_per_req")
                out.append(
                    head + f"| {cell.median('rps'):,.0f} | {cell.median('cpu_us_per_req'):.2f} "
                    f"| {lo:.2f}–{hi:.2f} "
                    f"| {ratio_text(cells, loop, 'uvloop', variant, size)} "
                    f"| {ratio_text(cells, loop, 'asyncio', variant, size)} "
                    f"| {cell.median('server_cpu_pct'):.0f} "
                    f"| {cell.median('client_cpu_pct'):.0f} |")
    out += floor_table(args, cells, loops, variants, floors)
    treadles = [lp for lp in loops if lp.startswith("treadle")]
    if treadles and "uvloop" in loops:
        out += ["", "CPU per request, treadle ÷ uvloop (targets at 1 KiB: ≤ 0.9 on Protocol and "
                "BufferedProtocol, ≤ 0.75 on sock_*; ≤ 1 everywhere else): ratio of the medians; "
                "in parentheses the median and range of the per-repeat ratios of runs made back to "
                "back (less sensitive to drifting background load):", "",
                "| Variant | Size | " + " | ".join(f"{t} ÷ uvloop" for t in treadles) + " |",
                "|---|---:|" + "---:|" * len(treadles)]
        for variant in variants:
            for size in args.sizes:
                row = [VARIANT_TITLE[variant], fmt_size(size)]
                for t in treadles:
                    ct, cb = cells.get((t, variant, size)), cells.get(("uvloop", variant, size))
                    if ct is None:
                        row.append("skipped")
                    elif ct.samples and cb is not None and cb.samples:
                        r = ct.median("cpu_us_per_req") / cb.median("cpu_us_per_req")
                        goal = target(variant, size)
                        text = f"{r:.2f} {'ok' if round(r, 2) <= goal else 'OVER'} (≤ {goal:g})"
                        pr = paired_ratios(ct, cb)
                        if len(pr) > 1:
                            text += (f" (paired {statistics.median(pr):.2f}, "
                                     f"{min(pr):.2f}–{max(pr):.2f})")
                        row.append(text)
                    else:
                        row.append("n/a")
                out.append("| " + " | ".join(row) + " |")
    return "\n".join(out) + "\n"


def uvloop_version() -> str:
    try:
        import uvloop
        return uvloop.__version__
    except Exception:  # noqa: BLE001 - only for the report
        return "not installed"


def plot(path: Path, args, cells, loops, variants) -> str | None:
    """Bar chart of CPU µs/req (top) and req/s (bottom) per variant and size; None or a note."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"no PNG: matplotlib not importable ({e}); apt-get install python3-matplotlib"
    groups = [(v, s) for v in variants for s in args.sizes
              if any(cells.get((lp, v, s)) is not None for lp in loops)]
    if not groups:
        return "no PNG: nothing measured"
    width = 0.8 / len(loops)
    fig, axes = plt.subplots(2, 1, figsize=(max(6.0, 1.6 * len(groups) + 2), 7), sharex=True)
    for i, loop in enumerate(loops):
        xs, cpu, rps = [], [], []
        for g, (v, s) in enumerate(groups):
            c = cells.get((loop, v, s))
            if c is not None and c.samples:
                xs.append(g + (i - (len(loops) - 1) / 2) * width)
                cpu.append(c.median("cpu_us_per_req"))
                rps.append(c.median("rps") / 1000)
        bars = axes[0].bar(xs, cpu, width, label=loop)
        axes[0].bar_label(bars, fmt="%.1f", fontsize=7)
        axes[1].bar(xs, rps, width, label=loop)
    axes[0].set_ylabel("server CPU µs / request (lower is better)")
    axes[1].set_ylabel("k requests / s (higher is better)")
    axes[1].set_xticks(range(len(groups)))
    axes[1].set_xticklabels([f"{VARIANT_TITLE[v]}\n{fmt_size(s)}" for v, s in groups])
    axes[0].legend(fontsize=8)
    quick = " (quick mode)" if args.quick else ""
    axes[0].set_title(f"Python echo server, {args.conns} connections, closed loop{quick}")
    for ax in axes:
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return None


def split_list(text: str, known: list[str], what: str, ap) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    bad = [t for t in items if t not in known]
    if bad or not items:
        ap.error(f"unknown {what}: {', '.join(bad) or '(none given)'}; known: {', '.join(known)}")
    return items


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build-dir", default="build",
                    help="CMake build directory, for loadgen and (by default) the treadle "
                         "package in BUILD/python (default: build)")
    ap.add_argument("--python-dir", default=None,
                    help="directory holding the treadle package (default: BUILD/python)")
    ap.add_argument("--duration", type=float, default=None, help="measured seconds (default 5)")
    ap.add_argument("--warmup", type=float, default=None, help="warm-up seconds (default 1)")
    ap.add_argument("--repeat", type=int, default=None,
                    help="runs per cell, median taken (default 3)")
    ap.add_argument("--quick", action="store_true",
                    help="smoke-test mode: 1 s window, 0.3 s warm-up, 1 repeat (unless given)")
    ap.add_argument("--conns", type=int, default=10)
    ap.add_argument("--sizes", type=parse_sizes, default=[1024, 10240, 102400],
                    help="comma-separated message sizes in bytes, 'k' suffix allowed "
                         "(default 1k,10k,100k)")
    ap.add_argument("--loops", default=",".join(LOOPS),
                    help="comma-separated subset of: " + ", ".join(LOOPS))
    ap.add_argument("--variants", default=",".join(VARIANTS),
                    help="comma-separated subset of: " + ", ".join(VARIANTS))
    ap.add_argument("--floors", default=",".join(FLOORS),
                    help="C echo servers measured as the floor, a comma-separated subset of: "
                         + ", ".join(FLOORS) + " ('' for none)")
    ap.add_argument("--server-cpu", type=int, default=None,
                    help="CPU the server is pinned to (default: the first this process may use)")
    ap.add_argument("--client-cpu", type=int, default=None,
                    help="CPU loadgen is pinned to (default: the second this process may use)")
    ap.add_argument("--output", default=str(REPO / "bench" / "results" / "echo_python.md"))
    ap.add_argument("--png", default=None,
                    help="bar chart path (default: --output with .png)")
    ap.add_argument("--no-write", action="store_true", help="print the table only (no files)")
    ap.add_argument("--no-png", action="store_true", help="write the markdown but no chart")
    args = ap.parse_args()
    timing_defaults(ap, args)
    notes = pick_cpus(ap, args)
    wanted_loops = split_list(args.loops, LOOPS, "loop(s)", ap)
    variants = split_list(args.variants, VARIANTS, "variant(s)", ap)
    floors = split_list(args.floors, list(FLOORS), "floor(s)", ap) if args.floors.strip() else []

    build = resolve_build_dir(args.build_dir)
    loadgen = build / LOADGEN
    if not os.access(loadgen, os.X_OK):
        print(f"error: {loadgen} not found; build it first: "
              f"cmake --build {build} --target bench_loadgen", file=sys.stderr)
        return 2
    args.python_dir = (Path(args.python_dir).resolve() if args.python_dir
                       else build / "python")
    build_cfg = build_config(build)
    if re.search(r"build type (debug|none)|sanitizers", build_cfg, re.I):
        notes.append(f"not an optimised build ({build_cfg}): ratios are not meaningful")

    # Which (loop, variant) pairs can run at all: a loop that cannot even be created is dropped,
    # a variant a loop does not implement is skipped for that loop only.
    loops, skipped, pairs = [], [], []
    for loop in wanted_loops:
        usable = False
        for variant in variants:
            why = probe(args.python_dir, loop, variant)
            if why is None:
                pairs.append((loop, variant))
                usable = True
            else:
                skipped.append(f"{loop} {VARIANT_TITLE[variant]}: {why}")
                print(f"skipped: {loop} {variant}: {why}", file=sys.stderr)
        if usable:
            loops.append(loop)
    if not pairs:
        print("error: no loop can run any of the variants", file=sys.stderr)
        return 2

    started = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
    load_start = loadavg()
    for f in [f for f in floors if not os.access(build / FLOORS[f], os.X_OK)]:
        notes.append(f"floor {f} skipped: {build / FLOORS[f]} not built")
        floors.remove(f)
    cells = {(lp, v, s): Cell(lp, s) for lp, v in pairs for s in args.sizes}
    cells.update({(f, FLOOR, s): Cell(f, s) for f in floors for s in args.sizes})
    runs = [(f, FLOOR, s, [str(build / FLOORS[f])]) for f in floors for s in args.sizes]
    runs += [(lp, v, s, server_argv(args.python_dir, lp, v))
             for v in variants for s in args.sizes for lp in loops if (lp, v, s) in cells]
    env = server_env(args.python_dir)
    failures, done = 0, 0
    total = args.repeat * len(cells)
    for rep in range(args.repeat):
        for loop, variant, size, argv in runs:
            cell = cells[(loop, variant, size)]
            done += 1
            prefix = (f"[{done}/{total}] {loop:16s} {variant:8s} {fmt_size(size):>7s} "
                      f"run {rep + 1}")
            try:
                sample, warnings = run_one(args, loadgen, f"{loop} {variant}", argv, size, env)
            except RunError as e:
                failures += 1
                cell.errors.append(str(e))
                print(f"{prefix}: FAILED: {e}", file=sys.stderr, flush=True)
                continue
            record(cell, sample, rep, warnings, notes, prefix)

    for (loop, variant, size), cell in cells.items():
        for e in cell.errors:
            notes.append(f"{loop} {variant} {fmt_size(size)} failed: {e}")
    report = render(args, cells, loops, variants, floors, skipped, notes, started, load_start,
                    build_cfg)
    out = emit(report, args.output, args.no_write)
    if out is not None and not args.no_png:
        png = Path(args.png) if args.png else out.with_suffix(".png")
        note = plot(png, args, cells, loops, variants)
        print(note or f"chart written to {png}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    entry_point(main)
