# tests/conformance/mixins.py — CPython's transport test mixins, bound to treadle's loop.
# Tests: used by tests/conformance/run.py (the transport modules of the conformance run)
"""Concrete test classes for CPython's loop-agnostic test mixins.

test_asyncio's transport tests are written as mixins with a loop hook (``create_event_loop``
or ``new_loop``) and instantiated there for asyncio's own loops only. For each such module this
file names the mixin (or the concrete selector class, when that class adds tests of its own) and
the hook, and ``suite(module, backend)`` builds the same class with the hook returning a treadle
loop. Only these classes run: the rest of those modules tests asyncio's internals.

Left out on purpose: ``test_events.SubprocessTestsMixin`` (subprocesses are not part of the
network API; they come with their own issue).
"""

import importlib
import unittest

# module -> [(name of the class to bind, extra base or None, hook name)]
MIXINS = {
    "test_events": [("UnixEventLoopTestsMixin", "utils.TestCase", "create_event_loop")],
    "test_sock_lowlevel": [("EPollEventLoopTests", None, "create_event_loop")],
    "test_sendfile": [("EPollEventLoopTests", None, "create_event_loop")],
    "test_server": [("SelectorStartServerTests", None, "new_loop")],
    "test_buffered_proto": [("BufferedProtocolSelectorTests", None, "new_loop")],
}


def _resolve(module, dotted):
    """A class named relative to `module` ("Foo") or to test.test_asyncio ("utils.Foo")."""
    if "." not in dotted:
        return getattr(module, dotted)
    mod, _, name = dotted.rpartition(".")
    return getattr(importlib.import_module(f"test.test_asyncio.{mod}"), name)


def suite(module_name, make_loop, count):
    """A unittest suite of `module_name`'s mixins whose loop hook calls make_loop();
    `count()` is called for every loop made (proof that the tests ran on treadle)."""
    module = importlib.import_module(f"test.test_asyncio.{module_name}")
    tests = unittest.TestSuite()
    loader = unittest.TestLoader()
    for class_name, extra_base, hook in MIXINS[module_name]:
        bases = (_resolve(module, class_name),)
        if extra_base:
            bases += (_resolve(module, extra_base),)

        def hook_method(self):
            count()
            return make_loop()

        cls = type(f"Treadle{class_name}", bases, {hook: hook_method, "__module__": module.__name__})
        tests.addTests(loader.loadTestsFromTestCase(cls))
    return tests
