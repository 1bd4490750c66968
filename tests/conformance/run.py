#!/usr/bin/python3
# tests/conformance/run.py — runs CPython's own test_asyncio modules on treadle's loop, per
# backend, and compares the failures with known_failures.txt.
# Tests: itself (registered in CTest by tests/conformance/CMakeLists.txt)
"""Run CPython 3.11's test_asyncio (libpython3.11-testsuite) against treadle's event loop.

Each module runs in its own process (a hang or crash costs one module, not the run) with
asyncio's default policy patched to create treadle loops: the tests' tearDownModule() resets the
policy, so the patch goes on the class the policy is rebuilt from
(``_UnixDefaultEventLoopPolicy._loop_factory``). Prints passed/failed/skipped per module and
exits non-zero if a test fails that known_failures.txt does not list (or a listed test passes
with --strict).

Usage: run.py [--backend reactor|proactor|all] [--module test_locks ...] [--strict] [-v]
"""

import argparse
import json
import os
import subprocess
import sys
import time
import unittest

import mixins

HERE = os.path.dirname(os.path.abspath(__file__))
MODULES = ["test_taskgroups", "test_timeouts", "test_waitfor", "test_locks", "test_queues",
           "test_context", "test_futures2", "test_threads", "test_runners",
           # the network API: streams through the policy, the rest through mixins.py
           "test_streams", "test_events", "test_sock_lowlevel", "test_sendfile", "test_server",
           "test_buffered_proto"]
MODULE_TIMEOUT = 300
CREATED = [0]  # treadle loops the policy made in this (child) process


def patch_policy(backend):
    """Make every policy-created loop (asyncio.run, Runner, IsolatedAsyncioTestCase) treadle's."""
    import asyncio.unix_events
    import treadle

    def factory():
        CREATED[0] += 1
        return treadle.new_event_loop(backend)

    asyncio.unix_events._UnixDefaultEventLoopPolicy._loop_factory = staticmethod(factory)


def patch_runners(backend):
    """test_runners builds its loops with BaseTest.new_loop (a mocked BaseEventLoop) through
    its own policy; give it treadle loops with the same shutdown_asyncgens bookkeeping."""
    import treadle
    from test.test_asyncio import test_runners

    def new_loop(self):
        CREATED[0] += 1
        loop = treadle.new_event_loop(backend)
        loop.shutdown_ag_run = False
        original = loop.shutdown_asyncgens

        async def shutdown_asyncgens():
            loop.shutdown_ag_run = True
            await original()

        loop.shutdown_asyncgens = shutdown_asyncgens
        return loop

    test_runners.BaseTest.new_loop = new_loop


class Collector(unittest.TextTestResult):
    """A result that remembers the id of every outcome, and why a test was skipped."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}
        self.skip_reasons = {}

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes[test.id()] = "pass"

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[test.id()] = "fail"

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[test.id()] = "fail"

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[test.id()] = "skip"
        self.skip_reasons[test.id()] = reason

    def addExpectedFailure(self, test, err):
        super().addExpectedFailure(test, err)
        self.outcomes[test.id()] = "pass"

    def addUnexpectedSuccess(self, test):
        super().addUnexpectedSuccess(test)
        self.outcomes[test.id()] = "fail"

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            self.outcomes[test.id()] = "fail"


def child(backend, module, verbose):
    """Run one module in this process; print its outcomes as JSON on the last line."""
    patch_policy(backend)
    name = f"test.test_asyncio.{module}"
    if module == "test_runners":
        patch_runners(backend)
    if module in mixins.MIXINS:
        import treadle

        def count():
            CREATED[0] += 1

        suite = mixins.suite(module, lambda: treadle.new_event_loop(backend), count)
    else:
        suite = unittest.TestLoader().loadTestsFromName(name)
    stream = sys.stderr if verbose else open(os.devnull, "w")
    runner = unittest.TextTestRunner(stream=stream, verbosity=2 if verbose else 0,
                                     resultclass=Collector)
    result = runner.run(suite)
    outcomes = dict(result.outcomes)
    # A failing setUpModule/setUpClass shows up as an error without a per-test outcome.
    for test, _ in result.errors + result.failures:
        outcomes.setdefault(test.id(), "fail")
    # Proof that the tests really ran on treadle (a policy reset would silently undo it).
    outcomes["<treadle loops created>"] = CREATED[0]
    outcomes["<skip reasons>"] = result.skip_reasons
    sys.stdout.write("\n" + json.dumps(outcomes) + "\n")


def load_known_failures(path):
    """{(backend or '*', test id): reason} from known_failures.txt."""
    known = {}
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            test_id, _, reason = line.partition(" ")
            backend = "*"
            if ":" in test_id.split(".")[0]:
                backend, _, test_id = test_id.partition(":")
            known[(backend, test_id)] = reason.strip()
    return known


def run_module(backend, module, verbose):
    """Run one module in a child process; return {test id: outcome} or None on crash/hang."""
    cmd = [sys.executable, os.path.abspath(__file__), "--child", "--backend", backend,
           "--module", module] + (["-v"] if verbose else [])
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=MODULE_TIMEOUT)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {MODULE_TIMEOUT}s"
    if verbose:
        sys.stderr.write(proc.stderr)
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1]), None
    except (IndexError, ValueError):
        return None, f"exit {proc.returncode}: {proc.stderr[-2000:]}"


def main():
    """Parse arguments, run every (backend, module), report, and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", default="all")
    parser.add_argument("--module", action="append")
    parser.add_argument("--known", default=os.path.join(HERE, "known_failures.txt"))
    parser.add_argument("--strict", action="store_true",
                        help="also fail when a known failure passes")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    modules = args.module or MODULES
    if args.child:
        child(args.backend, modules[0], args.verbose)
        return 0
    import treadle
    backends = treadle.backends() if args.backend == "all" else [args.backend]
    known = load_known_failures(args.known)
    unexpected, fixed = [], []
    for backend in backends:
        totals = [0, 0, 0, 0]
        for module in modules:
            t0 = time.monotonic()
            outcomes, problem = run_module(backend, module, args.verbose)
            if outcomes is None:
                print(f"[{backend}] {module}: CRASHED ({problem})")
                unexpected.append(f"[{backend}] {module} (crashed)")
                continue
            created = outcomes.pop("<treadle loops created>", 0)
            skip_reasons = outcomes.pop("<skip reasons>", {})
            if created == 0:
                print(f"[{backend}] {module}: no treadle loop was created: patch ineffective")
                unexpected.append(f"[{backend}] {module} (not run on treadle)")
                continue
            counts = {"pass": 0, "fail": 0, "skip": 0}
            known_here = 0
            for test_id, outcome in sorted(outcomes.items()):
                counts[outcome] += 1
                is_known = (backend, test_id) in known or ("*", test_id) in known
                if outcome == "fail":
                    if is_known:
                        known_here += 1
                    else:
                        unexpected.append(f"[{backend}] {test_id}")
                elif outcome == "pass" and is_known:
                    fixed.append(f"[{backend}] {test_id}")
            for i, key in enumerate(("pass", "fail", "skip")):
                totals[i] += counts[key]
            totals[3] += known_here
            print(f"[{backend}] {module}: {counts['pass']} passed, {counts['fail']} failed "
                  f"({known_here} known), {counts['skip']} skipped, {created} treadle loops "
                  f"[{time.monotonic() - t0:.1f}s]", flush=True)
            for test_id, reason in sorted(skip_reasons.items()):  # CPython's own reasons
                print(f"[{backend}]   skipped {test_id}: {reason}", flush=True)
        print(f"[{backend}] total: {totals[0]} passed, {totals[1]} failed ({totals[3]} known), "
              f"{totals[2]} skipped", flush=True)
    if fixed:
        print("\nknown failures that now pass (remove them from known_failures.txt):")
        print("\n".join("  " + f for f in fixed))
    if unexpected:
        print("\nUNEXPECTED FAILURES:")
        print("\n".join("  " + u for u in unexpected))
        return 1
    return 1 if (args.strict and fixed) else 0


if __name__ == "__main__":
    sys.exit(main())
