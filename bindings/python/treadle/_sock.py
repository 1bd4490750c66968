# bindings/python/treadle/_sock.py — the low-level socket API of EventLoop (sock_* and sendfile).
"""``sock_*`` coroutines, ``sock_sendfile`` and ``sendfile`` for treadle's EventLoop.

Every operation tries the system call first and only waits when it would block: it then
registers a one-shot readiness callback and a done-callback on the future that removes it
again, so a cancelled operation leaves the socket registered nowhere and usable. Sockets must
be non-blocking (ValueError otherwise). The receive and send operations do this in C
(``loop._sock_io``, bindings/python/src/fast_sock.cpp); sock_connect and sendfile here.
"""

import asyncio
import contextvars
import errno
import io
import ipaddress
import os
import socket
from asyncio import constants, exceptions

# How loop._sock_io (bindings/python/src/fast_sock.cpp) treats an operation: attempt it and
# wait until it does not block; the same for recv/recv_into, whose first attempt is skipped
# when the previous read emptied the socket; send all of the data.
_PLAIN, _READ, _SEND_ALL = 0, 1, 2

_FALLBACK_BLOCK = 256 * 1024
_TRANSPORT_BLOCK = 64 * 1024


def _check_sendfile_params(sock, file, offset, count):
    if "b" not in getattr(file, "mode", "b"):
        raise ValueError("file should be opened in binary mode")
    if sock is not None and sock.type != socket.SOCK_STREAM:
        raise ValueError("only SOCK_STREAM type sockets are supported")
    if count is not None:
        if not isinstance(count, int):
            raise TypeError(f"count must be a positive integer (got {count!r})")
        if count <= 0:
            raise ValueError(f"count must be a positive integer (got {count!r})")
    if not isinstance(offset, int):
        raise TypeError(f"offset must be a non-negative integer (got {offset!r})")
    if offset < 0:
        raise ValueError(f"offset must be a non-negative integer (got {offset!r})")


def _seek_start(file, offset):
    """Position `file` at `offset`, as the zero-copy path does (offset is absolute).

    A non-seekable file (a pipe) is read from where it is when offset is 0.
    """
    if offset:
        file.seek(offset)
        return
    seekable = getattr(file, "seekable", None)
    if seekable is not None and seekable():
        file.seek(0)


def _is_ip_literal(host):
    if isinstance(host, bytes):
        try:
            host = host.decode("idna")
        except UnicodeError:
            return False
    if not isinstance(host, str):
        return False
    try:
        ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    return True


class _SendfileFlow(asyncio.Protocol):
    """Stands in for a transport's protocol during loop.sendfile()'s fallback.

    Reading is paused for the duration; pause_writing/resume_writing are tracked (so writes
    wait for the transport's buffer to drain) and forwarded to the original protocol so its own
    flow-control state stays right; connection_lost fails the pending wait and is forwarded.
    """

    def __init__(self, loop, transport):
        self._loop = loop
        self._transport = transport
        self._proto = transport.get_protocol()
        self._resume_reading = transport.is_reading()
        self._paused = False
        self._waiter = None
        self._lost = False
        self._exc = None
        transport.pause_reading()
        transport.set_protocol(self)

    async def drain(self):
        if self._lost or self._transport.is_closing():
            raise self._exc or ConnectionError("Connection closed by peer")
        high = self._transport.get_write_buffer_limits()[1]
        if not self._paused and self._transport.get_write_buffer_size() <= high:
            return
        self._waiter = self._loop.create_future()
        try:
            await self._waiter
        finally:
            self._waiter = None

    def pause_writing(self):
        self._paused = True
        if self._proto is not None:
            self._proto.pause_writing()

    def resume_writing(self):
        self._paused = False
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)
        if self._proto is not None:
            self._proto.resume_writing()

    def data_received(self, data):
        # Reading is paused; should data still arrive, the owner gets it.
        if isinstance(self._proto, asyncio.BufferedProtocol):
            while data:
                buf = memoryview(self._proto.get_buffer(len(data))).cast("B")
                n = min(len(buf), len(data))
                buf[:n] = data[:n]
                self._proto.buffer_updated(n)
                data = data[n:]
        else:
            self._proto.data_received(data)

    def eof_received(self):
        return self._proto.eof_received()

    def connection_lost(self, exc):
        self._lost = True
        self._exc = exc
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc or ConnectionError("Connection closed by peer"))
        self._proto.connection_lost(exc)

    def restore(self):
        if self._lost or self._transport.is_closing():
            return
        self._transport.set_protocol(self._proto)
        if self._resume_reading:
            self._transport.resume_reading()


class SockMixin:
    """The sock_* coroutines and sendfile; mixed into EventLoop."""

    # -- plumbing ------------------------------------------------------------------------------

    def _sock_wait(self, fut, fd, writer, callback, *args):
        """Register the readiness callback; unregister when `fut` is done (also cancelled).

        Done callbacks run later (call_soon): by then a newer operation may have registered
        its own callback on the fd, so only the registration still owned by `fut` is removed.
        """
        try:
            owners = self._sock_owners
        except AttributeError:
            owners = self._sock_owners = {}
        key = (fd, writer)
        owners[key] = fut
        # The private watchers: the caller checked the socket (and that no transport owns
        # it); the public methods would check it again, twice per operation.
        self._check_closed()
        if self._debug_enabled():
            self._check_thread()
        if writer:
            self._add_writer(fd, callback, (fut, *args), contextvars.copy_context())
        else:
            self._add_reader(fd, callback, (fut, *args), contextvars.copy_context())

        def unregister(_fut):
            if owners.get(key) is fut:
                del owners[key]
                if self.is_closed():
                    return
                if writer:
                    self._remove_writer(fd)
                else:
                    self._remove_reader(fd)

        fut.add_done_callback(unregister)

    # -- receiving -----------------------------------------------------------------------------

    async def sock_recv(self, sock, n):
        """Receive up to `n` bytes from the non-blocking socket `sock`; like socket.recv()."""
        return await self._sock_io(sock, _READ, "recv", (n,))

    async def sock_recv_into(self, sock, buf):
        """Receive into the writable buffer `buf`; return the number of bytes received."""
        return await self._sock_io(sock, _READ, "recv_into", (buf,))

    async def sock_recvfrom(self, sock, bufsize):
        """Receive a datagram of up to `bufsize` bytes; return (data, address)."""
        return await self._sock_io(sock, _PLAIN, "recvfrom", (bufsize,))

    async def sock_recvfrom_into(self, sock, buf, nbytes=0):
        """Receive a datagram into `buf` (at most `nbytes`, 0 = len(buf)); (nbytes, address)."""
        if not nbytes:
            nbytes = len(buf)
        return await self._sock_io(sock, _PLAIN, "recvfrom_into", (buf, nbytes))

    # -- sending -------------------------------------------------------------------------------

    async def sock_sendto(self, sock, data, address):
        """Send the datagram `data` to `address`; return the number of bytes sent."""
        return await self._sock_io(sock, _PLAIN, "sendto", (data, address))

    async def sock_sendall(self, sock, data):
        """Send all of `data`, waiting for the socket to become writable as often as needed.

        Returns None on success; on error an exception is raised and there is no way to tell
        how much was sent (as asyncio).
        """
        return await self._sock_io(sock, _SEND_ALL, "send", (data,))

    # -- connecting and accepting --------------------------------------------------------------

    async def sock_connect(self, sock, address):
        """Connect the non-blocking socket `sock` to `address` (host names are resolved)."""
        fd = self._check_sock(sock)
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_ip_literal(address[0]):
            infos = await self.getaddrinfo(address[0], address[1], family=sock.family,
                                           type=sock.type, proto=sock.proto)
            if not infos:
                raise OSError(f"getaddrinfo({address[0]!r}) returned empty list")
            address = infos[0][4]
        try:
            sock.connect(address)
            return
        except (BlockingIOError, InterruptedError):
            pass
        fut = self.create_future()
        self._sock_wait(fut, fd, True, self._sock_connect_ready, sock, address)
        try:
            return await fut
        finally:
            fut = None  # no cycle through the exception's traceback

    @staticmethod
    def _sock_connect_ready(fut, sock, address):
        if fut.done():
            return
        try:
            err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err != 0:
                raise OSError(err, f"Connect call failed {address}")
        except (BlockingIOError, InterruptedError):
            return
        except (SystemExit, KeyboardInterrupt):
            raise
        except BaseException as exc:
            fut.set_exception(exc)
        else:
            fut.set_result(None)

    async def sock_accept(self, sock):
        """Accept a connection on the listening socket `sock`; return (conn, address).

        `conn` is a new non-blocking socket.
        """
        conn, address = await self._sock_io(sock, _PLAIN, "accept", ())
        conn.setblocking(False)
        return conn, address

    # -- sendfile ------------------------------------------------------------------------------

    async def sock_sendfile(self, sock, file, offset=0, count=None, *, fallback=True):
        """Send `file` (binary mode) over the stream socket `sock`; return the bytes sent.

        Uses zero-copy os.sendfile() when `file` has a usable fileno(); otherwise, if
        `fallback` is true, reads the file and sends with sock_sendall(), else raises
        asyncio.SendfileNotAvailableError. Starts at `offset`, sends at most `count` bytes
        (None: to end of file); the file position is left after the last byte sent.
        """
        self._check_sock(sock)
        _check_sendfile_params(sock, file, offset, count)
        try:
            return await self._sock_sendfile_native(sock, file, offset, count)
        except exceptions.SendfileNotAvailableError:
            if not fallback:
                raise
        return await self._sock_sendfile_fallback(sock, file, offset, count)

    async def _sock_sendfile_native(self, sock, file, offset, count):
        if not hasattr(os, "sendfile"):
            raise exceptions.SendfileNotAvailableError("os.sendfile() is not available")
        try:
            fileno = file.fileno()
        except (AttributeError, io.UnsupportedOperation):
            raise exceptions.SendfileNotAvailableError("not a regular file")
        try:
            fsize = os.fstat(fileno).st_size
        except OSError:
            raise exceptions.SendfileNotAvailableError("not a regular file")
        blocksize = count if count else fsize
        if not blocksize:
            return 0
        fut = self.create_future()
        state = [offset, 0, False]  # file offset, total sent, writer registered
        self._sendfile_step(fut, sock, fileno, count, blocksize, state)
        try:
            return await fut
        finally:
            if state[1] > 0:
                os.lseek(fileno, state[0], os.SEEK_SET)

    def _sendfile_step(self, fut, sock, fileno, count, blocksize, state):
        if fut.done():
            return
        while True:
            offset, total, registered = state
            size = blocksize
            if count:
                size = count - total
                if size <= 0:
                    fut.set_result(total)
                    return
            try:
                sent = os.sendfile(sock.fileno(), fileno, offset, size)
            except (BlockingIOError, InterruptedError):
                if not registered:
                    state[2] = True
                    self._sock_wait(fut, sock.fileno(), True, self._sendfile_step, sock, fileno,
                                    count, blocksize, state)
                return
            except OSError as exc:
                if (registered and exc.errno == errno.ENOTCONN
                        and type(exc) is not ConnectionError):
                    exc = ConnectionError("socket is not connected", errno.ENOTCONN)
                elif total == 0:
                    exc = exceptions.SendfileNotAvailableError("os.sendfile call failed")
                fut.set_exception(exc)
                return
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                fut.set_exception(exc)
                return
            if sent == 0:  # end of file
                fut.set_result(total)
                return
            state[0] = offset + sent
            state[1] = total + sent

    async def _sock_sendfile_fallback(self, sock, file, offset, count):
        _seek_start(file, offset)
        blocksize = min(count, _FALLBACK_BLOCK) if count else _FALLBACK_BLOCK
        buf = bytearray(blocksize)
        total = 0
        try:
            while True:
                if count:
                    blocksize = min(count - total, blocksize)
                    if blocksize <= 0:
                        break
                view = memoryview(buf)[:blocksize]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    break
                await self.sock_sendall(sock, view[:read])
                total += read
            return total
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset + total)

    async def sendfile(self, transport, file, offset=0, count=None, *, fallback=True):
        """Send `file` (binary mode) over `transport`; return the number of bytes sent.

        On treadle's stream transports this is zero-copy: once the write buffer has drained,
        sendfile(2) moves the file to the socket (reading paused, transport.write() raising
        RuntimeError meanwhile). If that is not possible (no fileno(), not a regular file)
        and `fallback` is true, the file is read in blocks and written with
        transport.write(), under the transport's flow control. Without fallback the error is
        asyncio's: SendfileNotAvailableError, or RuntimeError for a transport that cannot do
        native sendfile at all.
        """
        if transport.is_closing():
            raise RuntimeError("Transport is closing")
        mode = getattr(transport, "_sendfile_compatible", constants._SendfileMode.UNSUPPORTED)
        if mode is constants._SendfileMode.UNSUPPORTED:
            raise RuntimeError(f"sendfile is not supported for transport {transport!r}")
        _check_sendfile_params(None, file, offset, count)
        if mode is constants._SendfileMode.TRY_NATIVE:
            try:
                return await self._sendfile_native(transport, file, offset, count)
            except exceptions.SendfileNotAvailableError:
                if not fallback:
                    raise
        if not fallback:
            raise RuntimeError(f"fallback is disabled and native sendfile is not supported "
                               f"for transport {transport!r}")
        return await self._sendfile_fallback(transport, file, offset, count)

    async def _sendfile_native(self, transport, file, offset, count):
        """sendfile(2) on a treadle transport's socket, after its queued bytes."""
        resume = transport.is_reading()
        if resume:
            transport.pause_reading()
        transport._writer.set_sendfile_busy(True)
        try:
            drained = self.create_future()

            def on_drained(exc):
                if not drained.done():
                    if exc is None:
                        drained.set_result(None)
                    else:
                        drained.set_exception(exc)

            transport._h.when_drained(self, on_drained)
            await drained
            # A duplicate descriptor: the readiness watcher of sock_sendfile's loop must not
            # meet the transport's own registration of the same fd.
            with socket.socket(fileno=os.dup(transport._fd)) as sock:
                return await self._sock_sendfile_native(sock, file, offset, count)
        finally:
            transport._writer.set_sendfile_busy(False)
            if resume and not transport.is_closing():
                transport.resume_reading()

    async def _sendfile_fallback(self, transport, file, offset, count):
        _seek_start(file, offset)
        blocksize = min(count, _TRANSPORT_BLOCK) if count else _TRANSPORT_BLOCK
        buf = bytearray(blocksize)
        total = 0
        flow = _SendfileFlow(self, transport)
        try:
            while True:
                if count:
                    blocksize = min(count - total, blocksize)
                    if blocksize <= 0:
                        return total
                view = memoryview(buf)[:blocksize]
                read = await self.run_in_executor(None, file.readinto, view)
                if not read:
                    return total
                await flow.drain()
                transport.write(bytes(view[:read]))
                total += read
        finally:
            if total > 0 and hasattr(file, "seek"):
                file.seek(offset + total)
            flow.restore()
