# bindings/python/treadle/_transports.py — the Python-visible transports and servers of treadle:
# asyncio.Transport / asyncio.AbstractServer subclasses holding C++ handles.
# Tests: tests/python/test_tcp.py
"""asyncio transports and servers over treadle's C++ StreamTransport."""

import asyncio
import os
import socket
import weakref
from asyncio import constants, trsock

from . import _treadle
from ._common import write_buffer_limits

__all__ = ("TCPTransport", "Server")


_getsockopt = _treadle._getsockopt
_setsockopt = _treadle._setsockopt


def _enum(kind, value):
    """`value` as a member of the IntEnum `kind`, or the int itself if it names none (as the
    socket module does)."""
    try:
        return kind(value)
    except ValueError:
        return value


class _TransportSocket:
    """asyncio's TransportSocket, over an fd the C++ transport owns.

    Options, which libraries set on every connection, and the kind of socket (family, type,
    proto) go to the fd directly, from C (bindings/python/src/fast_sockopt.cpp). Every other
    operation borrows the fd in a temporary socket object that is detached afterwards, so
    the transport stays the only owner (closing the transport closes the socket).
    """

    __slots__ = ("_handle", "_kind")

    def __init__(self, handle):
        self._handle = handle
        self._kind = None  # (family, type, proto), read from the fd on first use

    def _probe(self):
        if self._kind is None:
            fd = self._handle.fileno()
            if fd < 0:
                return (socket.AF_UNSPEC, socket.SOCK_STREAM, 0)
            # What socket.socket(fileno=fd) reads from the fd, as its enums.
            self._kind = (
                _enum(socket.AddressFamily, _getsockopt(fd, socket.SOL_SOCKET, socket.SO_DOMAIN)),
                _enum(socket.SocketKind, _getsockopt(fd, socket.SOL_SOCKET, socket.SO_TYPE)),
                _getsockopt(fd, socket.SOL_SOCKET, socket.SO_PROTOCOL))
        return self._kind

    @property
    def family(self):
        return self._probe()[0]

    @property
    def type(self):
        return self._probe()[1]

    @property
    def proto(self):
        return self._probe()[2]

    def fileno(self):
        return self._handle.fileno()

    def _open_fd(self):
        fd = self._handle.fileno()
        if fd < 0:
            raise OSError(9, "Bad file descriptor")
        return fd

    def _call(self, name, *args):
        sock = socket.socket(*self._probe(), fileno=self._open_fd())
        try:
            return getattr(sock, name)(*args)
        finally:
            sock.detach()

    def __repr__(self):
        fd = self.fileno()
        family, type_, proto = self._probe()
        s = f"<treadle.TransportSocket fd={fd}, family={family!s}, type={type_!s}, proto={proto}"
        if fd != -1:
            for key in ("laddr", "raddr"):
                try:
                    addr = self._call("getsockname" if key == "laddr" else "getpeername")
                except OSError:
                    continue
                s = f"{s}, {key}={addr}"
        return s + ">"

    def __getstate__(self):
        raise TypeError("Cannot serialize socket.socket object")

    def dup(self):
        """A new socket object on a duplicate of the fd, non-blocking like asyncio's.

        socket.dup() would copy the borrowed object's timeout (None: blocking) onto the copy,
        and O_NONBLOCK belongs to the open file description both fds share: the transport's
        own fd would turn blocking and the loop would block in its next recv().
        """
        sock = socket.socket(*self._probe(), fileno=os.dup(self._open_fd()))
        sock.setblocking(False)
        return sock

    def get_inheritable(self):
        return self._call("get_inheritable")

    def shutdown(self, how):
        return self._call("shutdown", how)

    def getsockopt(self, *args):
        return _getsockopt(self._open_fd(), *args)

    def setsockopt(self, *args):
        return _setsockopt(self._open_fd(), *args)

    def getpeername(self):
        return self._call("getpeername")

    def getsockname(self):
        return self._call("getsockname")

    def gettimeout(self):
        return 0

    def setblocking(self, flag):
        if flag:
            raise ValueError("setblocking(): transport sockets cannot be switched to blocking mode")

    def settimeout(self, value):
        if value == 0:
            return
        raise ValueError("settimeout(): only 0 timeout is allowed on transport sockets")


class TCPTransport(asyncio.Transport):
    """A stream transport (TCP, later Unix) over treadle's C++ StreamTransport.

    Created by the C++ side as ``TCPTransport(handle, loop, protocol)``; `handle` keeps the
    C++ transport alive for as long as this object lives.
    """

    # loop.sendfile may use sendfile(2) on this transport's socket (asyncio's flag).
    _sendfile_compatible = constants._SendfileMode.TRY_NATIVE

    def __init__(self, handle, loop, protocol):
        super().__init__()
        # write/writelines are the Writer's C methods, found in the instance dict: one
        # lookup and one C call per message (the class methods below document them).
        self._writer = handle.writer()
        self.write = self._writer.write
        self.writelines = self._writer.writelines
        self.is_closing = self._writer.is_closing  # asked on every StreamWriter.drain()
        self._h = handle
        self._loop = loop
        self._protocol = protocol
        fd = handle.fileno()
        sockname = handle.sockname()
        self._extra = {
            "socket": _TransportSocket(handle),
            "sockname": sockname,
            "peername": handle.peername(),
        }
        self._fd = fd
        loop._transports[fd] = weakref.ref(self)  # loop.add_reader(fd) & co. refuse this fd
        self._user_sock = None  # the caller's socket object of a sock= transport (closed with it)

    def __repr__(self):
        state = "closing" if self._h.is_closing() else "open"
        return f"<{self.__class__.__name__} fd={self._fd} {state}>"

    # BaseTransport
    def is_closing(self):
        return self._h.is_closing()

    def close(self):
        self._h.close()

    def set_protocol(self, protocol):
        self._h.set_protocol(self._loop, self, protocol)
        self._protocol = protocol

    def get_protocol(self):
        return self._protocol

    # ReadTransport
    def is_reading(self):
        return self._h.is_reading()

    def pause_reading(self):
        self._h.pause_reading()

    def resume_reading(self):
        self._h.resume_reading()

    # WriteTransport
    def write(self, data):
        """Queue `data` (bytes-like) for sending, copied if it is not sent now.

        Writes wait for the end of the current loop phase and leave together with the others
        made in it, in one send (as uvloop does), while the waiting bytes stay within 64 KiB
        and the high-water mark; a write past that is sent at once if nothing is queued.
        `get_write_buffer_size()` counts the waiting bytes until then.
        """
        self._writer.write(data)

    def writelines(self, list_of_data):
        """Queue several bytes-like objects, sent together as one gather write."""
        self._writer.writelines(list_of_data)

    def write_eof(self):
        self._h.write_eof()

    def can_write_eof(self):
        return True

    def abort(self):
        self._h.abort()

    def get_write_buffer_size(self):
        return self._h.get_write_buffer_size()

    def get_write_buffer_limits(self):
        return self._h.get_write_buffer_limits()

    def set_write_buffer_limits(self, high=None, low=None):
        self._h.set_write_buffer_limits(*write_buffer_limits(high, low))

    def _connection_lost(self):
        """Called by C++ once protocol.connection_lost() has returned."""
        self._protocol = None
        if self._user_sock is not None:
            self._user_sock.close()
            self._user_sock = None


class Server(asyncio.AbstractServer):
    """asyncio.Server's behaviour (3.11) over listening sockets served by C++.

    The Python socket objects stay here (for `sockets`); each one's duplicate is adopted by a
    C++ Server that accepts and creates the transports, with no Python in between.
    """

    def __init__(self, loop, sockets, protocol_factory, backlog):
        self._loop = loop
        self._sockets = sockets
        self._protocol_factory = protocol_factory
        self._backlog = backlog
        self._active_count = 0
        self._waiters = []
        self._serving = False
        self._serving_forever_fut = None
        self._handles = []
        for sock in sockets:
            fd = os.dup(sock.fileno())
            try:
                self._handles.append(_treadle._adopt_listener(
                    loop, fd, self._make_protocol, self._detach, backlog))
            except BaseException:
                os.close(fd)
                raise

    def __repr__(self):
        return f"<{self.__class__.__name__} sockets={self.sockets!r}>"

    def _make_protocol(self):
        protocol = self._protocol_factory()
        self._active_count += 1
        return protocol

    def _detach(self):
        assert self._active_count > 0
        self._active_count -= 1
        if self._active_count == 0 and self._sockets is None:
            self._wakeup()

    def _wakeup(self):
        waiters = self._waiters
        self._waiters = None
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(waiter)

    def _start_serving(self):
        if self._serving:
            return
        self._serving = True
        for sock in self._sockets:
            sock.listen(self._backlog)  # as asyncio: a socket listens once the server serves
        for h in self._handles:
            h.start_serving()

    def get_loop(self):
        return self._loop

    def is_serving(self):
        return self._serving

    @property
    def sockets(self):
        if self._sockets is None:
            return ()
        return tuple(trsock.TransportSocket(s) for s in self._sockets)

    def close(self):
        sockets = self._sockets
        if sockets is None:
            return
        self._sockets = None
        for h in self._handles:
            h.close()
        self._handles = []
        for sock in sockets:
            sock.close()
        self._serving = False
        if (self._serving_forever_fut is not None
                and not self._serving_forever_fut.done()):
            self._serving_forever_fut.cancel()
            self._serving_forever_fut = None
        if self._active_count == 0:
            self._wakeup()

    async def start_serving(self):
        self._start_serving()
        # Let the accept watchers start before returning, as asyncio does.
        await asyncio.sleep(0)

    async def serve_forever(self):
        if self._serving_forever_fut is not None:
            raise RuntimeError(f"server {self!r} is already being awaited on serve_forever()")
        if self._sockets is None:
            raise RuntimeError(f"server {self!r} is closed")
        self._start_serving()
        self._serving_forever_fut = self._loop.create_future()
        try:
            await self._serving_forever_fut
        except asyncio.CancelledError:
            try:
                self.close()
                await self.wait_closed()
            finally:
                raise
        finally:
            self._serving_forever_fut = None

    async def wait_closed(self):
        # asyncio 3.11: returns at once once close() ran (the waiters list is gone then).
        if self._sockets is None or self._waiters is None:
            return
        waiter = self._loop.create_future()
        self._waiters.append(waiter)
        await waiter


_treadle._set_transport_class(TCPTransport)
