"""Shared machinery of the echo benchmark runners (run_echo_bench.py, run_py_echo_bench.py).

Server processes pinned to one CPU that announce `listening on 127.0.0.1:<port>` and are always
stopped; one loadgen run against a server, with the server's CPU time per request sampled by
loadgen itself from /proc/<pid>/stat at the edges of the measured window; the per-cell samples
and medians; size parsing and formatting; host/build details for the reports.

Standard library only; Debian's /usr/bin/python3.
"""

from __future__ import annotations

import ctypes
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
LOADGEN = "bench/loadgen"
READY_TIMEOUT = 10.0  # seconds a server gets to print "listening on ..."
STOP_TIMEOUT = 5.0  # seconds a server gets to exit after SIGTERM before SIGKILL
PRIME_SECONDS = 0.5  # the unmeasured first load each server gets (see run_one)

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

    def __init__(self, name: str, argv: list[str], cpu: int, env: dict[str, str] | None = None,
                 ready_timeout: float = READY_TIMEOUT):
        self.name, self.argv, self.cpu, self.env = name, argv, cpu, env
        self.ready_timeout = ready_timeout
        self.proc: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile(mode="w+b")
        self.port = 0

    def output(self) -> str:
        # pread, not seek + read: the child writes through the same open file description, so
        # moving its offset here could make the child overwrite what it printed before.
        fd = self.log.fileno()
        return os.pread(fd, os.fstat(fd).st_size, 0).decode(errors="replace").strip()

    def start(self) -> int:
        self.port = free_port()
        # Output goes to a file, not a pipe: nothing to drain, no thread, and a chatty server can
        # never block on a full pipe in the middle of a measurement.
        self.proc = subprocess.Popen(
            self.argv + ["--port", str(self.port)],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=self.env,
            preexec_fn=child_setup(self.cpu),
        )
        deadline = time.monotonic() + self.ready_timeout
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
                               f"{self.ready_timeout:.0f} s: {self.output()[-500:]!r}")
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


def run_loadgen(loadgen: Path, port: int, conns: int, size: int, duration: float, warmup: float,
                cpu: int, server_pid: int | None = None) -> dict[str, str]:
    """Runs loadgen against 127.0.0.1:port, pinned to `cpu`; returns its result line's
    key=value pairs (requests, seconds, and with server_pid the CPU times)."""
    cmd = [str(loadgen), "--host", "127.0.0.1", "--port", str(port), "--conns", str(conns),
           "--size", str(size), "--duration", str(duration), "--warmup", str(warmup),
           "--cpu", str(cpu)]
    if server_pid is not None:
        cmd += ["--server-pid", str(server_pid)]
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                             timeout=warmup + duration + 30, preexec_fn=child_setup(None))
    except subprocess.TimeoutExpired as e:
        raise RunError("loadgen timed out") from e
    lines = [ln for ln in res.stdout.splitlines() if ln.startswith("requests=")]
    if res.returncode != 0 or not lines:
        raise RunError(f"loadgen failed with status {res.returncode}: "
                       f"{res.stderr.strip()[-500:]!r}")
    return parse_kv(lines[-1])


def run_one(args, loadgen: Path, name: str, argv: list[str], size: int,
            env: dict[str, str] | None = None) -> tuple[Sample, list[str]]:
    """Start the server (argv + --port P, pinned to args.server_cpu, environment env), run loadgen
    against it (args.conns, args.duration, args.warmup, pinned to args.client_cpu), stop it."""
    server = ServerProcess(name, argv, args.server_cpu, env)
    warnings: list[str] = []
    try:
        port = server.start()
        try:
            # A first load on connections of its own, closed before the measured run: a server
            # is measured as a long-running one that has served and dropped clients before.
            # A fresh stock-asyncio process otherwise pays an mmap, mremap and munmap for every
            # 256 KiB recv() until glibc's mmap threshold rises, which only a free() of a big
            # block does: 2 page faults per 1 KiB request, 10x its steady cost.
            run_loadgen(loadgen, port, args.conns, size, PRIME_SECONDS, 0, args.client_cpu)
            kv = run_loadgen(loadgen, port, args.conns, size, args.duration, args.warmup,
                             args.client_cpu, server.proc.pid)
        except RunError as e:
            raise RunError(f"{e} (against {name}, size {size}); server output: "
                           f"{server.output()[-300:]!r}") from e
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



def resolve_build_dir(text: str) -> Path:
    """A relative build dir is tried from the current directory, then from the repository root."""
    build = Path(text)
    if not build.is_absolute() and not build.exists():
        build = REPO / build
    return build.resolve()


def pick_cpus(ap, args) -> list[str]:
    """Fill args.server_cpu / args.client_cpu (default: the first two CPUs this process may use);
    returns notes for the report. Calls ap.error on a CPU outside the affinity mask."""
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
    return ["server and loadgen share one CPU"] if args.server_cpu == args.client_cpu else []


def timing_defaults(ap, args) -> None:
    """--duration/--warmup/--repeat defaults: 5 s / 1 s / 3, or 1 s / 0.3 s / 1 with --quick."""
    if args.duration is None:
        args.duration = 1.0 if args.quick else 5.0
    if args.warmup is None:
        args.warmup = 0.3 if args.quick else 1.0
    if args.repeat is None:
        args.repeat = 1 if args.quick else 3
    if args.repeat < 1 or args.duration <= 0 or args.warmup < 0 or args.conns < 1:
        ap.error("--repeat, --duration and --conns must be positive, --warmup non-negative")


def record(cell: Cell, sample: Sample, rep: int, warnings: list[str], notes: list[str],
           prefix: str) -> None:
    """Files one run's sample under its cell and reports it (and its warnings) on stderr."""
    sample.rep = rep
    cell.samples.append(sample)
    for w in warnings:
        if w not in notes:
            notes.append(w)
        print(f"warning: {w}", file=sys.stderr)
    print(f"{prefix}: {sample.rps:10,.0f} req/s  {sample.cpu_us_per_req:7.2f} CPU µs/req  "
          f"server {sample.server_cpu_pct:3.0f}% CPU  loadgen {sample.client_cpu_pct:3.0f}% CPU",
          file=sys.stderr, flush=True)


def emit(report: str, output: str, no_write: bool) -> Path | None:
    """Prints the report and, unless no_write, writes it to output; returns the path written."""
    print(report, end="")
    if no_write:
        return None
    out = Path(output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(report)
    print(f"\nwritten to {out}", file=sys.stderr)
    return out


def entry_point(main) -> None:
    """Runs a runner's main(): its return value is the exit status; Ctrl-C exits with 130."""
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
