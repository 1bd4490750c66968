# bindings/python/treadle/_common.py — what treadle's Python transports share: asyncio's write
# buffer limits and pause/resume_writing rules, the waiter helper, stale Unix socket removal.
# Tests: tests/python/test_tcp.py, tests/python/test_pipes.py, tests/python/test_datagram.py
"""Helpers shared by the stream, pipe and datagram transports and the loop."""

import logging
import os
import stat

logger = logging.getLogger("asyncio")


def write_buffer_limits(high=None, low=None):
    """asyncio's (high, low) water marks: 64 KiB by default, low a quarter of high (or high
    four times low); ValueError unless high >= low >= 0."""
    if high is None:
        high = 64 * 1024 if low is None else 4 * low
    if low is None:
        low = high // 4
    if not high >= low >= 0:
        raise ValueError(f"high ({high!r}) must be >= low ({low!r}) must be >= 0")
    return high, low


class WriteFlowControl:
    """asyncio's write flow control for a transport written in Python: pause_writing() once
    get_write_buffer_size() is strictly above the high-water mark, resume_writing() once it is
    back at or below the low one, paired. A failing pause/resume_writing is reported to the
    loop's exception handler and does not end the transport (asyncio's rule).

    Needs `_loop`, `_protocol` and `get_write_buffer_size()`; call `_init_flow_control()`."""

    def _init_flow_control(self):
        self._protocol_paused = False
        self._high_water, self._low_water = write_buffer_limits()

    def get_write_buffer_limits(self):
        """(low, high) water marks of the write buffer."""
        return (self._low_water, self._high_water)

    def set_write_buffer_limits(self, high=None, low=None):
        """Set the water marks: pause_writing() above `high`, resume_writing() at `low`."""
        self._high_water, self._low_water = write_buffer_limits(high, low)
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self):
        if self._protocol_paused or self.get_write_buffer_size() <= self._high_water:
            return
        self._protocol_paused = True
        self._call_flow_control("pause_writing")

    def _maybe_resume_protocol(self):
        if self._protocol_paused and self.get_write_buffer_size() <= self._low_water:
            self._protocol_paused = False
            self._call_flow_control("resume_writing")

    def _call_flow_control(self, name):
        try:
            getattr(self._protocol, name)()
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._loop.call_exception_handler({
                "message": f"protocol.{name}() failed",
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            })


def set_result_unless_cancelled(fut, result=None):
    """Completes a connect call's waiter, unless its caller was cancelled meanwhile."""
    if not fut.cancelled():
        fut.set_result(result)


def remove_stale_unix_socket(path):
    """Remove a socket file left at `path` by an earlier endpoint, as asyncio does before
    binding. An abstract address (leading NUL) has no file; str and bytes paths both count."""
    if path[0] in (0, "\x00"):
        return
    try:
        if stat.S_ISSOCK(os.stat(path).st_mode):
            os.remove(path)
    except FileNotFoundError:
        pass
    except OSError as err:
        # The directory may allow creating the socket but not inspecting it.
        logger.error("Unable to check or remove stale UNIX socket %r: %r", path, err)
