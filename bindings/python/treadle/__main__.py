# bindings/python/treadle/__main__.py — `python3 -m treadle [--backend NAME] script.py [args]`.
# Tests: tests/python/test_api.py
"""Run an asyncio program with treadle's event loop policy installed.

Usage: ``python3 -m treadle [--backend NAME] script.py [args...]`` (or ``-m module``).
"""

import argparse
import runpy
import sys

import treadle


def main(argv=None):
    """Parse the command line, install treadle's policy and run the script as __main__."""
    parser = argparse.ArgumentParser(
        prog="python3 -m treadle",
        description="Run an asyncio program on treadle's event loop.")
    parser.add_argument("--backend", choices=treadle.backends(), default=None,
                        help="loop backend (default: $TREADLE_BACKEND or reactor)")
    parser.add_argument("-m", dest="module", default=None, help="run a module as a script")
    parser.add_argument("script", nargs="?", help="the program to run")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="its arguments")
    ns = parser.parse_args(argv)
    if ns.module is None and ns.script is None:
        parser.error("a script or -m module is required")
    treadle.install(ns.backend)
    if ns.module is not None:
        sys.argv = [ns.module] + ([ns.script] if ns.script else []) + ns.args
        runpy.run_module(ns.module, run_name="__main__", alter_sys=True)
    else:
        sys.argv = [ns.script] + ns.args
        runpy.run_path(ns.script, run_name="__main__")


if __name__ == "__main__":
    main()
