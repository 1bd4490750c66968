# bindings/python/treadle/__init__.py — the public Python API of treadle.
# Tests: tests/python/test_api.py
"""treadle: an asyncio event loop on C++ backends.

``treadle.run(main())`` runs a coroutine like ``asyncio.run`` does, on treadle's loop;
``treadle.install()`` makes every ``asyncio.run``/``new_event_loop`` use it;
``python3 -m treadle script.py`` runs any asyncio program on it.
"""

import asyncio as _asyncio
import os as _os

from . import _treadle, protocols
from ._loop import EventLoop
from ._treadle import Handle, TimerHandle

__all__ = ("EventLoop", "EventLoopPolicy", "Handle", "TimerHandle", "backends",
           "install", "new_event_loop", "run")
__version__ = "0.1.0"


def backends():
    """The names of the loop backends compiled in, default first."""
    return list(_treadle.backends())


def _default_backend(backend):
    return backend or _os.environ.get("TREADLE_BACKEND") or _treadle.default_backend()


def new_event_loop(backend=None):
    """Return a new treadle EventLoop on `backend` ("reactor", "proactor"; default: the
    TREADLE_BACKEND environment variable, else "reactor")."""
    return EventLoop(_default_backend(backend))


class EventLoopPolicy(_asyncio.DefaultEventLoopPolicy):
    """An asyncio event loop policy whose loops are treadle EventLoops on `backend`."""

    def __init__(self, backend=None):
        super().__init__()
        self._backend = backend

    def new_event_loop(self):
        """A new treadle EventLoop on the policy's backend."""
        return new_event_loop(self._backend)


def install(backend=None):
    """Make treadle's EventLoopPolicy (on `backend`) asyncio's event loop policy."""
    _asyncio.set_event_loop_policy(EventLoopPolicy(backend))


def run(main, *, backend=None, debug=None):
    """Run coroutine `main` to completion on a new treadle loop, like asyncio.run().

    The loop is closed afterwards, after async generators and the default executor were shut
    down. Cannot be called while another loop runs in this thread.
    """
    with _asyncio.Runner(debug=debug, loop_factory=lambda: new_event_loop(backend)) as runner:
        return runner.run(main)
