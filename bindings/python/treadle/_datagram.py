# bindings/python/treadle/_datagram.py — create_datagram_endpoint: asyncio's datagram endpoint
# (UDP over IPv4/IPv6, Unix datagram sockets) and its transport on treadle's readiness watchers.
# Tests: tests/python/test_datagram.py
"""Datagram endpoints of treadle's loop, with asyncio 3.11's semantics.

The transport is written in Python on the loop's public readiness watchers (``add_reader`` /
``add_writer``), so it is the same on every backend: the C++ ``StreamTransport`` is a byte
stream, while a datagram transport keeps message boundaries and a destination per message.

State machine (asyncio's):

- ``open``: ``connection_made`` runs first (scheduled with ``call_soon``), then reading starts;
  every readable event delivers one datagram to ``datagram_received`` and socket errors go to
  ``error_received``. ``sendto`` sends at once when nothing is queued, else queues.
- ``closing`` (``close()``): no more reading; the queue is flushed, then ``connection_lost(None)``
  is scheduled. ``abort()`` or a fatal error drops the queue and goes straight to the end.
- ``closed``: ``connection_lost`` has run and the socket is closed.

A protocol callback that raises is reported to ``loop.call_exception_handler`` (message,
exception, transport, protocol) and the transport is closed with that exception
(``connection_lost(exc)``); a failing ``pause_writing``/``resume_writing`` is only reported, as
in asyncio. Where asyncio 3.11 would itself fail (``sendto`` after ``connection_lost`` on an
adopted connected socket, ``close()`` once the loop is closed) the transport drops the datagram
or closes its socket quietly instead.
"""

import asyncio
import collections
import logging
import socket
import warnings
from asyncio import constants, trsock

from ._common import WriteFlowControl, remove_stale_unix_socket, set_result_unless_cancelled

__all__ = ("create_datagram_endpoint", "DatagramTransport")

logger = logging.getLogger("asyncio")


class DatagramTransport(WriteFlowControl, asyncio.DatagramTransport, asyncio.Transport):
    """asyncio's datagram transport over a non-blocking ``SOCK_DGRAM`` socket it owns.

    Also an ``asyncio.Transport``, as asyncio's own datagram transport is (CPython's tests
    check it), so the stream methods exist but raise NotImplementedError.
    """

    max_size = 256 * 1024  # recvfrom() size: larger than any UDP payload
    _sock = None  # __del__ must work even if __init__ failed early

    def __init__(self, loop, sock, protocol, address=None, waiter=None, extra=None):
        super().__init__(extra)
        self._loop = loop
        self._fd = sock.fileno()
        self._protocol = protocol
        # The destination of sendto(data) without an address; None when there is none.
        self._address = address
        self._extra["socket"] = trsock.TransportSocket(sock)
        try:
            self._extra["sockname"] = sock.getsockname()
        except OSError:
            self._extra["sockname"] = None
        try:
            self._extra["peername"] = sock.getpeername()
        except OSError:
            self._extra["peername"] = None
        self._buffer = collections.deque()  # (bytes, addr) not sent yet
        self._buffer_size = 0
        self._closing = False
        # Non-zero once connection_lost is scheduled; then counts sendto() calls that were
        # dropped, so that a sender which ignores the end gets a warning (asyncio's rule).
        self._conn_lost = 0
        self._reading = False
        self._writing = False
        self._init_flow_control()
        self._sock = sock  # last: repr() and __del__ rely on the state above once it is set
        loop.call_soon(self._connection_made)
        # Reading starts only once the protocol knows its transport.
        loop.call_soon(self._start_reading)
        if waiter is not None:
            loop.call_soon(set_result_unless_cancelled, waiter)

    def __repr__(self):
        # Must work at any time: before connection_made, after the loop was closed.
        if self._sock is None:
            state = "closed"
        elif self._closing:
            state = "closing"
        else:
            state = "open"
        read = "polling" if self._reading else "idle"
        write = "polling" if self._writing else "idle"
        return (f"<{self.__class__.__name__} fd={self._fd} {state} read={read} "
                f"write=<{write}, bufsize={self._buffer_size}>>")

    def __del__(self, _warn=warnings.warn):
        if self._sock is not None:
            _warn(f"unclosed transport {self!r}", ResourceWarning, source=self)
            self._sock.close()

    # -- BaseTransport ------------------------------------------------------------------------

    def is_closing(self):
        """True once close() or abort() was called or the transport failed."""
        return self._closing

    def set_protocol(self, protocol):
        """Give the datagrams and events that follow to `protocol`."""
        self._protocol = protocol

    def get_protocol(self):
        """The current protocol (None once connection_lost has run, as asyncio)."""
        return self._protocol

    def close(self):
        """Stop receiving; send what is queued, then call connection_lost(None) (soon).

        Once the loop is closed, nothing can run any more: the socket is closed at once,
        without connection_lost.
        """
        if self._release_if_loop_closed() or self._closing:
            return
        self._closing = True
        self._stop_reading()
        if not self._buffer:
            self._conn_lost += 1
            self._stop_writing()
            self._loop.call_soon(self._call_connection_lost, None)
        # Otherwise _send_ready ends the transport once the queue is empty.

    def abort(self):
        """Close at once: queued datagrams are dropped; connection_lost(None) follows."""
        self._force_close(None)

    # -- writing and flow control -------------------------------------------------------------

    def sendto(self, data, addr=None):
        """Send the datagram `data` to `addr` (the remote address when connected).

        Sent at once if nothing is queued; otherwise (or if the socket would block) it is
        queued and sent when the socket is writable. Socket errors go to the protocol's
        error_received(). As in asyncio 3.11, an empty `data` sends nothing.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"data argument must be a bytes-like object, "
                            f"not {type(data).__name__!r}")
        if not data:
            return
        if self._address:
            if addr not in (None, self._address):
                raise ValueError(f"Invalid address: must be None or {self._address}")
            addr = self._address
        if self._conn_lost:
            # The socket is gone or going: drop, but tell a sender that keeps trying.
            if self._conn_lost >= constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES:
                logger.warning("socket.send() raised exception.")
            self._conn_lost += 1
            return
        if not self._buffer:
            try:
                self._send(data, addr)
                return
            except (BlockingIOError, InterruptedError):
                self._start_writing()
            except OSError as exc:
                self._call_protocol("error_received", exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:  # e.g. a malformed address
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        # A copy: the caller may reuse its buffer once sendto() returned.
        data = bytes(data)
        self._buffer.append((data, addr))
        self._buffer_size += len(data)
        self._maybe_pause_protocol()

    def get_write_buffer_size(self):
        """Bytes queued and not yet handed to the kernel."""
        return self._buffer_size

    def _send(self, data, addr):
        # A connected socket (connected by its owner before sock= adoption, too) takes send():
        # sendto() with the peer's address is not portable on connected sockets.
        if self._extra["peername"]:
            self._sock.send(data)
        else:
            self._sock.sendto(data, addr)

    def _send_ready(self):
        while self._buffer:
            if self._conn_lost:
                return
            data, addr = self._buffer.popleft()
            self._buffer_size -= len(data)
            try:
                self._send(data, addr)
            except (BlockingIOError, InterruptedError):
                self._buffer.appendleft((data, addr))
                self._buffer_size += len(data)
                break
            except OSError as exc:
                # The datagram is dropped; the rest waits for the next writable event.
                self._call_protocol("error_received", exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                self._fatal_error(exc, "Fatal write error on datagram transport")
                return
        self._maybe_resume_protocol()  # resume_writing() may queue more
        if not self._buffer and not self._conn_lost:
            self._stop_writing()
            if self._closing:
                self._conn_lost += 1
                self._loop.call_soon(self._call_connection_lost, None)

    # -- reading ------------------------------------------------------------------------------

    def _read_ready(self):
        if self._conn_lost:
            return
        try:
            data, addr = self._sock.recvfrom(self.max_size)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            # E.g. ECONNREFUSED on a connected socket after an ICMP port unreachable.
            self._call_protocol("error_received", exc)
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, "Fatal read error on datagram transport")
            return
        self._call_protocol("datagram_received", data, addr)

    # -- the end ------------------------------------------------------------------------------

    def _connection_made(self):
        # Runs even if close() came first: the protocol sees connection_made before
        # connection_lost in every case (asyncio's order).
        self._call_protocol("connection_made", self)

    def _call_protocol(self, name, *args):
        try:
            getattr(self._protocol, name)(*args)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            self._fatal_error(exc, f"Fatal error: protocol.{name}() call failed.")

    def _fatal_error(self, exc, message):
        if self._release_if_loop_closed():
            return
        self._loop.call_exception_handler({
            "message": message,
            "exception": exc,
            "transport": self,
            "protocol": self._protocol,
        })
        self._force_close(exc)

    def _force_close(self, exc):
        if self._release_if_loop_closed() or self._conn_lost:
            return
        self._buffer.clear()
        self._buffer_size = 0
        self._stop_writing()
        self._closing = True
        self._stop_reading()
        self._conn_lost += 1
        self._loop.call_soon(self._call_connection_lost, exc)

    def _call_connection_lost(self, exc):
        protocol = self._protocol
        try:
            protocol.connection_lost(exc)
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as err:
            self._loop.call_exception_handler({
                "message": "Fatal error: protocol.connection_lost() call failed.",
                "exception": err,
                "transport": self,
                "protocol": protocol,
            })
        finally:
            self._sock.close()
            self._sock = None
            # The protocol usually refers back to the transport: break the cycle.
            self._protocol = None

    def _release_if_loop_closed(self):
        """Close the socket now if the loop cannot run connection_lost any more; True then."""
        if not self._loop.is_closed():
            return False
        self._closing = True
        self._conn_lost = max(self._conn_lost, 1)
        self._reading = self._writing = False  # the closed loop dropped its watchers
        self._buffer.clear()
        self._buffer_size = 0
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        return True

    # -- readiness watchers -------------------------------------------------------------------

    def _start_reading(self):
        if self._closing or self._reading:
            return
        self._loop.add_reader(self._fd, self._read_ready)
        self._reading = True

    def _stop_reading(self):
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def _start_writing(self):
        if not self._writing:
            self._loop.add_writer(self._fd, self._send_ready)
            self._writing = True

    def _stop_writing(self):
        if self._writing:
            self._writing = False
            self._loop.remove_writer(self._fd)


def _check_sock_args(sock, **modifiers):
    """asyncio's checks on sock=: a datagram socket and no address or socket options."""
    if sock.type != socket.SOCK_DGRAM:
        raise ValueError(f"A UDP Socket was expected, got {sock!r}")
    if any(modifiers.values()):
        # Name every offending argument, as asyncio does.
        problems = ", ".join(f"{k}={v}" for k, v in modifiers.items() if v)
        raise ValueError(f"socket modifier keyword arguments can not be used when sock is "
                         f"specified. ({problems})")


async def _address_pairs(loop, local_addr, remote_addr, family, proto, flags):
    """[((family, proto), (local, remote))] to try in order, as asyncio computes them."""
    if not (local_addr or remote_addr):
        if family == 0:
            raise ValueError("unexpected address family")
        return [((family, proto), (None, None))]
    if hasattr(socket, "AF_UNIX") and family == socket.AF_UNIX:
        # asyncio 3.11 takes str only; bytes paths (as bind() takes them) are accepted too.
        for addr in (local_addr, remote_addr):
            if addr is not None and not isinstance(addr, (str, bytes)):
                raise TypeError("string is expected")
        if local_addr:
            remove_stale_unix_socket(local_addr)
        return [((family, proto), (local_addr, remote_addr))]
    # Group the resolved addresses by (family, proto), in the order the resolver gave them.
    by_kind = {}
    for idx, addr in ((0, local_addr), (1, remote_addr)):
        if addr is None:
            continue
        if not (isinstance(addr, tuple) and len(addr) == 2):
            raise TypeError("2-tuple is expected")
        infos = await loop.getaddrinfo(addr[0], addr[1], family=family,
                                       type=socket.SOCK_DGRAM, proto=proto, flags=flags)
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        for fam, _, pro, _, address in infos:
            by_kind.setdefault((fam, pro), [None, None])[idx] = address
    # A kind is usable only if it has every address that was asked for.
    pairs = [(kind, pair) for kind, pair in by_kind.items()
             if not ((local_addr and pair[0] is None) or (remote_addr and pair[1] is None))]
    if not pairs:
        raise ValueError("can not get address information")
    return pairs


async def _open_socket(loop, pairs, local_addr, remote_addr, reuse_port, allow_broadcast):
    """The first socket that could be set up for one of `pairs`, and its default destination.

    Raises the first attempt's OSError if none could (asyncio 3.11 raises exceptions[0]);
    every socket that failed is closed.
    """
    errors = []
    for (family, proto), (local, remote) in pairs:
        sock = None
        try:
            sock = socket.socket(family=family, type=socket.SOCK_DGRAM, proto=proto)
            if reuse_port:
                if not hasattr(socket, "SO_REUSEPORT"):
                    raise ValueError("reuse_port not supported by socket module")
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                except OSError:
                    raise ValueError("reuse_port not supported by socket module, "
                                     "SO_REUSEPORT defined but not implemented.") from None
            if allow_broadcast:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
            sock.setblocking(False)
            if local_addr:
                sock.bind(local)
            if remote_addr:
                # A broadcast endpoint stays unconnected (replies come from other addresses)
                # and sends to `remote` with sendto().
                if not allow_broadcast:
                    await loop.sock_connect(sock, remote)
                return sock, remote
            return sock, None
        except OSError as exc:
            if sock is not None:
                sock.close()
            errors.append(exc)
        except BaseException:
            if sock is not None:
                sock.close()
            raise
    try:
        raise errors[0]
    finally:
        errors = None  # no cycle through the traceback


async def create_datagram_endpoint(loop, protocol_factory, local_addr=None, remote_addr=None, *,
                                   family=0, proto=0, flags=0, reuse_port=None,
                                   allow_broadcast=None, sock=None):
    """asyncio's loop.create_datagram_endpoint() for treadle's `loop`; (transport, protocol).

    Either `sock` (a SOCK_DGRAM socket, which the transport takes over) or addresses: for
    AF_UNIX, `local_addr`/`remote_addr` are paths (a stale socket file at `local_addr` is
    removed first); otherwise (host, port) tuples, resolved with loop.getaddrinfo() and tried
    by (family, proto) until a socket can be bound to `local_addr` and connected to
    `remote_addr`. Returns once the protocol's connection_made() has run.
    """
    if sock is not None:
        _check_sock_args(sock, local_addr=local_addr, remote_addr=remote_addr, family=family,
                         proto=proto, flags=flags, reuse_port=reuse_port,
                         allow_broadcast=allow_broadcast)
        sock.setblocking(False)
        address = None
        owned = False
    else:
        pairs = await _address_pairs(loop, local_addr, remote_addr, family, proto, flags)
        sock, address = await _open_socket(loop, pairs, local_addr, remote_addr, reuse_port,
                                           allow_broadcast)
        owned = True
    waiter = loop.create_future()
    try:
        protocol = protocol_factory()
        transport = DatagramTransport(loop, sock, protocol, address, waiter)
    except BaseException:
        if owned:  # a caller's socket stays the caller's until a transport took it
            sock.close()
        raise
    if loop.get_debug():
        if local_addr:
            logger.info("Datagram endpoint local_addr=%r remote_addr=%r created: (%r, %r)",
                        local_addr, remote_addr, transport, protocol)
        else:
            logger.debug("Datagram endpoint remote_addr=%r created: (%r, %r)",
                         remote_addr, transport, protocol)
    try:
        await waiter
    except BaseException:
        transport.close()
        raise
    return transport, protocol
