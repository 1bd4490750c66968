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
import ctypes
import datetime
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

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
LOADGEN = "bench/loadgen"
READY_TIMEOUT = 10.0  # seconds a server gets to print "listening on ..."
STOP_TIMEOUT = 5.0  # seconds a server gets to exit after SIGTERM before SIGKILL

PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def child_setup(cpu: int | None):
    """preexec_fn: pin to one CPU, and die with the runner (no orphaned servers)."""

    def setup():
        _libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})

    return setup


class RunError(Exception):
    pass


@dataclass
class Sample:
    rps: float
    cpu_us_per_req: float
    server_cpu_pct: float
    client_cpu_pct: float
    requests: int
    rep: int = 0


@dataclass
class Cell:
    server: str
    size: int
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def median(self, attr: str) -> float | None:
        vals = [getattr(s, attr) for s in self.samples]
        return statistics.median(vals) if vals else None

    def spread(self, attr: str) -> tuple[float, float] | None:
        vals = [getattr(s, attr) for s in self.samples]
        return (min(vals), max(vals)) if vals else None


def paired_ratios(t: Cell, b: Cell) -> list[float]:
    """CPU/req ratios of runs made back to back in the same repeat (same background load)."""
    base = {s.rep: s.cpu_us_per_req for s in b.samples}
    return [s.cpu_us_per_req / base[s.rep] for s in t.samples if s.rep in base]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """One server process: started pinned, ready once it printed 'listening on', always stopped."""

    def __init__(self, name: str, argv: list[str], cpu: int):
        self.name, self.argv, self.cpu = name, argv, cpu
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile(mode="w+b")
        self.port = 0

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace").strip()

    def start(self) -> int:
        self.port = free_port()
        # Output goes to a file, not a pipe: nothing to drain, no thread, and a chatty server can
        # never block on a full pipe in the middle of a measurement.
        self.proc = subprocess.Popen(
            self.argv + ["--port", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=child_setup(self.cpu),
        )
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            for line in self.output().splitlines():
                if line.startswith("listening on "):
                    printed = line.rsplit(":", 1)[-1].strip()
                    if printed.isdigit() and int(printed) != 0:
                        self.port = int(printed)
                    return self.port
            if self.proc.poll() is not None:
                raise RunError(f"{self.name} exited with status {self.proc.returncode} before "
                               f"listening: {self.output()[-500:]!r}")
            if time.monotonic() > deadline:
                raise RunError(f"{self.name} did not print 'listening on' within "
                               f"{READY_TIMEOUT:.0f} s: {self.output()[-500:]!r}")
            time.sleep(0.01)

    def stop(self) -> str | None:
        """Stop the server; returns a warning if it did not exit cleanly on SIGTERM."""
        warning = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                warning = f"{self.name} ignored SIGTERM for {STOP_TIMEOUT:.0f} s; killed"
            else:
                if self.proc.returncode not in (0, -signal.SIGTERM):
                    warning = f"{self.name} exited with status {self.proc.returncode} on SIGTERM"
        self.log.close()
        return warning


def parse_kv(line: str) -> dict[str, str]:
    return dict(tok.split("=", 1) for tok in line.split() if "=" in tok)


def run_one(args, loadgen: Path, name: str, argv: list[str], size: int) -> tuple[Sample, list[str]]:
    server = ServerProcess(name, argv, args.server_cpu)
    warnings: list[str] = []
    try:
        port = server.start()
        cmd = [str(loadgen), "--host", "127.0.0.1", "--port", str(port),
               "--conns", str(args.conns), "--size", str(size),
               "--duration", str(args.duration), "--warmup", str(args.warmup),
               "--cpu", str(args.client_cpu), "--server-pid", str(server.proc.pid)]
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                                 timeout=args.warmup + args.duration + 30,
                                 preexec_fn=child_setup(None))
        except subprocess.TimeoutExpired as e:
            raise RunError(f"loadgen against {name} timed out") from e
        result_lines = [ln for ln in res.stdout.splitlines() if ln.startswith("requests=")]
        if res.returncode != 0 or not result_lines:
            raise RunError(f"loadgen against {name} (size {size}) failed with status "
                           f"{res.returncode}: {res.stderr.strip()[-500:]!r}; server output: "
                           f"{server.output()[-300:]!r}")
        kv = parse_kv(result_lines[-1])
        requests, seconds = int(kv["requests"]), float(kv["seconds"])
        srv_cpu, cli_cpu = float(kv["server_cpu_s"]), float(kv["client_cpu_s"])
        if server.proc.poll() is not None:
            raise RunError(f"{name} died during the run (status {server.proc.returncode})")
        sample = Sample(rps=requests / seconds, cpu_us_per_req=srv_cpu * 1e6 / requests,
                        server_cpu_pct=100.0 * srv_cpu / seconds,
                        client_cpu_pct=100.0 * cli_cpu / seconds, requests=requests)
        return sample, warnings
    finally:
        w = server.stop()
        if w:
            warnings.append(w)


def fmt_size(n: int) -> str:
    if n % 1024 == 0:
        return f"{n // 1024} KiB"
    return f"{n} B"


def parse_sizes(text: str) -> list[int]:
    sizes = []
    for tok in text.split(","):
        tok = tok.strip().lower()
        mult = 1
        if tok.endswith("k"):
            tok, mult = tok[:-1], 1024
        sizes.append(int(tok) * mult)
    return sizes


def host_info() -> list[str]:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return [f"{platform.node()}, Linux {platform.release()}, {os.cpu_count()} CPUs ({cpu})"]


def build_config(build: Path) -> str:
    """CMAKE_BUILD_TYPE and TREADLE_SANITIZE from the build dir's cache, for the report."""
    cache: dict[str, str] = {}
    try:
        for line in (build / "CMakeCache.txt").read_text(errors="replace").splitlines():
            m = re.match(r"(CMAKE_BUILD_TYPE|TREADLE_SANITIZE):\w+=(.*)", line)
            if m:
                cache[m.group(1)] = m.group(2)
    except OSError:
        return "build type unknown"
    text = f"build type {cache.get('CMAKE_BUILD_TYPE') or 'none'}"
    if cache.get("TREADLE_SANITIZE"):
        text += f", sanitizers {cache['TREADLE_SANITIZE']}"
    return text


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


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
    if args.duration is None:
        args.duration = 1.0 if args.quick else 5.0
    if args.warmup is None:
        args.warmup = 0.3 if args.quick else 1.0
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1 or args.duration <= 0 or args.warmup < 0 or args.conns < 1:
        ap.error("--repeat, --duration and --conns must be positive, --warmup non-negative")

    allowed = os.sched_getaffinity(0)
    cpus = sorted(allowed)
    if args.server_cpu is None:
        args.server_cpu = cpus[0]
    if args.client_cpu is None:
        others = [c for c in cpus if c != args.server_cpu]
        args.client_cpu = others[0] if others else args.server_cpu
    for opt in ("server_cpu", "client_cpu"):
        if getattr(args, opt) not in allowed:
            ap.error(f"--{opt.replace('_', '-')} {getattr(args, opt)} is not among the CPUs this "
                     f"process may use: {sorted(allowed)}")
    notes = []
    if args.server_cpu == args.client_cpu:
        notes.append("server and loadgen share one CPU")

    build = Path(args.build_dir)
    if not build.is_absolute() and not build.exists():
        build = REPO / build
    build = build.resolve()
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
                sample.rep = rep
                cells[(name, size)].samples.append(sample)
                for w in warnings:
                    if w not in notes:
                        notes.append(w)
                    print(f"warning: {w}", file=sys.stderr)
                print(f"{prefix}: {sample.rps:10,.0f} req/s  {sample.cpu_us_per_req:7.2f} "
                      f"CPU µs/req  server {sample.server_cpu_pct:3.0f}% CPU  "
                      f"loadgen {sample.client_cpu_pct:3.0f}% CPU", file=sys.stderr, flush=True)

    for cell in cells.values():
        for e in cell.errors:
            notes.append(f"{cell.server} {fmt_size(cell.size)} failed: {e}")
    report = render(args, cells, servers, skipped, notes, started, load_start, build_cfg)
    print(report, end="")
    if not args.no_write:
        out = Path(args.output)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(report)
        print(f"\nwritten to {out}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
