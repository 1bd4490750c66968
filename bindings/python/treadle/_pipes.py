# bindings/python/treadle/_pipes.py — connect_read_pipe / connect_write_pipe: asyncio's pipe
# transports on treadle's readiness watchers.
# Tests: tests/python/test_pipes.py
"""Read and write pipe transports (pipes, FIFOs, sockets, ptys and other character devices).

The transports own the file object they are given and close it with themselves. They run on
the loop's readiness watchers (``add_reader``/``add_writer``), the same on every backend: the
C++ ``StreamTransport`` is a full-duplex socket transport, while a pipe is one direction of a
possibly non-socket fd, with its own end-of-stream rules.

State machines (asyncio's):

- read: ``open -> (data_received)* -> eof_received -> connection_lost(None)`` when the writer
  closes; ``close()``/a read error -> ``connection_lost(exc or None)`` without ``eof_received``.
  ``eof_received``'s result is ignored: a read pipe cannot stay half-open.
- write: ``open -> closing (close()/write_eof(): flush the buffer) -> connection_lost(None)``;
  ``abort()`` drops the buffer; the reader going away is noticed by watching the write end for
  readability (pipes, FIFOs and sockets report it so) and ends the transport, with
  ``BrokenPipeError`` if bytes were still queued.
"""

import asyncio
import errno
import logging
import os
import stat
import warnings

from ._common import WriteFlowControl, set_result_unless_cancelled

logger = logging.getLogger("asyncio")

_MAX_READ = 256 * 1024
_LOG_AFTER_LOST = 5  # writes after the connection was lost that pass silently (asyncio's)


def _fd_kind(fileno):
    mode = os.fstat(fileno).st_mode
    return stat.S_ISFIFO(mode), stat.S_ISSOCK(mode), stat.S_ISCHR(mode)


class _PipeTransport:
    """What both directions share: ownership of the pipe, closing, errors, repr."""

    def _setup(self, loop, pipe, protocol):
        self._loop = loop
        self._pipe = pipe
        self._fileno = pipe.fileno()
        self._protocol = protocol
        self._closing = False

    def __repr__(self):
        # Must work after the loop was closed and after the pipe was dropped.
        if self._pipe is None:
            state = "closed"
        elif self._closing:
            state = "closing"
        else:
            state = "open"
        return f"<{self.__class__.__name__} fd={self._fileno} {state}>"

    def is_closing(self):
        return self._closing

    def set_protocol(self, protocol):
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    def __del__(self, _warn=warnings.warn):
        if getattr(self, "_pipe", None) is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._pipe.close()
            self._pipe = None

    def _quiet(self, exc):
        """Errors that end the transport without going to the exception handler."""
        # EIO is how a pty reports that its other side closed: an ordinary end.
        return isinstance(exc, OSError) and exc.errno == errno.EIO

    def _fatal_error(self, exc, message):
        if self._quiet(exc):
            if self._loop.get_debug():
                logger.debug("%r: %s", self, message, exc_info=True)
        else:
            self._loop.call_exception_handler({
                "message": message,
                "exception": exc,
                "transport": self,
                "protocol": self._protocol,
            })
        self._close(exc)

    def _call_connection_lost(self, exc):
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._pipe.close()
            self._pipe = None
            self._protocol = None
            self._loop = None


class ReadPipeTransport(_PipeTransport, asyncio.ReadTransport):
    """The read end of a pipe (or a socket, pty, character device) as a ReadTransport."""

    def __init__(self, loop, pipe, protocol, waiter):
        super().__init__({"pipe": pipe})
        self._setup(loop, pipe, protocol)
        is_fifo, is_socket, is_char = _fd_kind(self._fileno)
        if not (is_fifo or is_socket or is_char):
            self._pipe = None
            raise ValueError("Pipe transport is for pipes/sockets only.")
        os.set_blocking(self._fileno, False)
        self._paused = False
        # connection_made first, then reading, then the caller's await returns (asyncio order).
        loop.call_soon(protocol.connection_made, self)
        loop.call_soon(self._add_reader)
        loop.call_soon(set_result_unless_cancelled, waiter)

    def _add_reader(self):
        if not self._closing and not self._paused:
            self._loop.add_reader(self._fileno, self._read_ready)

    def _read_ready(self):
        try:
            data = os.read(self._fileno, _MAX_READ)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._fatal_error(exc, "Fatal read error on pipe transport")
            return
        if data:
            self._protocol.data_received(data)
            return
        # End of stream: the writer closed its end.
        self._closing = True
        self._loop.remove_reader(self._fileno)
        self._loop.call_soon(self._protocol.eof_received)
        self._loop.call_soon(self._call_connection_lost, None)

    def is_reading(self):
        return not self._paused and not self._closing

    def pause_reading(self):
        if not self.is_reading():
            return
        self._paused = True
        self._loop.remove_reader(self._fileno)

    def resume_reading(self):
        if self._closing or not self._paused:
            return
        self._paused = False
        self._loop.add_reader(self._fileno, self._read_ready)

    def close(self):
        if not self._closing:
            self._close(None)

    def _close(self, exc=None):
        self._closing = True
        self._loop.remove_reader(self._fileno)
        self._loop.call_soon(self._call_connection_lost, exc)


class WritePipeTransport(_PipeTransport, WriteFlowControl, asyncio.WriteTransport):
    """The write end of a pipe (or a socket, pty, character device) as a WriteTransport,
    with asyncio's write buffer, water marks and pause_writing/resume_writing."""

    def __init__(self, loop, pipe, protocol, waiter):
        super().__init__({"pipe": pipe})
        self._setup(loop, pipe, protocol)
        is_fifo, is_socket, is_char = _fd_kind(self._fileno)
        if not (is_fifo or is_socket or is_char):
            self._pipe = None
            raise ValueError("Pipe transport is only for pipes, sockets and character devices")
        os.set_blocking(self._fileno, False)
        self._buffer = bytearray()
        self._conn_lost = 0
        self._init_flow_control()
        loop.call_soon(protocol.connection_made, self)
        # The write end becomes readable when the reader goes away (pipes and sockets; a
        # character device would report readability for its own input instead).
        if is_socket or is_fifo:
            loop.call_soon(self._watch_peer)
        loop.call_soon(set_result_unless_cancelled, waiter)

    def _quiet(self, exc):
        # A reader that went away (EPIPE, ECONNRESET, ...) is the peer's doing, not a bug:
        # the protocol hears of it through connection_lost (asyncio logs it in debug mode).
        return isinstance(exc, OSError)

    def _watch_peer(self):
        if not self._closing:
            self._loop.add_reader(self._fileno, self._peer_gone)

    def _peer_gone(self):
        if self._buffer:
            self._close(BrokenPipeError())
        else:
            self._close()

    # -- writing --------------------------------------------------------------------------

    def write(self, data):
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if isinstance(data, bytearray):
            data = memoryview(data)
        if not data:
            return
        if self._conn_lost or self._closing:
            if self._conn_lost >= _LOG_AFTER_LOST:
                logger.warning("pipe closed by peer or os.write(pipe, data) raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                n = os.write(self._fileno, data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._conn_lost += 1
                self._fatal_error(exc, "Fatal write error on pipe transport")
                return
            if n == len(data):
                return
            data = memoryview(data)[n:]
            self._loop.add_writer(self._fileno, self._write_ready)
        self._buffer += data
        self._maybe_pause_protocol()

    def _write_ready(self):
        try:
            n = os.write(self._fileno, self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._buffer.clear()
            self._conn_lost += 1
            self._loop.remove_writer(self._fileno)
            self._fatal_error(exc, "Fatal write error on pipe transport")
            return
        if n < len(self._buffer):
            del self._buffer[:n]
            return
        self._buffer.clear()
        self._loop.remove_writer(self._fileno)
        self._maybe_resume_protocol()
        if self._closing:  # close()/write_eof() waited for the flush
            self._loop.remove_reader(self._fileno)
            self._call_connection_lost(None)

    def can_write_eof(self):
        return True

    def write_eof(self):
        if self._closing:
            return
        self._closing = True
        if not self._buffer:
            self._loop.remove_reader(self._fileno)
            self._loop.call_soon(self._call_connection_lost, None)

    def close(self):
        if self._pipe is not None and not self._closing:
            self.write_eof()

    def abort(self):
        self._close(None)

    def _close(self, exc=None):
        self._closing = True
        if self._buffer:
            self._loop.remove_writer(self._fileno)
        self._buffer.clear()
        self._loop.remove_reader(self._fileno)
        self._loop.call_soon(self._call_connection_lost, exc)

    # -- flow control ---------------------------------------------------------------------

    def get_write_buffer_size(self):
        return len(self._buffer)


async def _connect(loop, transport_class, protocol_factory, pipe):
    protocol = protocol_factory()
    waiter = loop.create_future()
    transport = transport_class(loop, pipe, protocol, waiter)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol


async def connect_read_pipe(loop, protocol_factory, pipe):
    """loop.connect_read_pipe: a ReadPipeTransport over `pipe`, once connection_made ran."""
    return await _connect(loop, ReadPipeTransport, protocol_factory, pipe)


async def connect_write_pipe(loop, protocol_factory, pipe):
    """loop.connect_write_pipe: a WritePipeTransport over `pipe`, once connection_made ran."""
    return await _connect(loop, WritePipeTransport, protocol_factory, pipe)
