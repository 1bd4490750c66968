# bindings/python/treadle/_loop.py — treadle.EventLoop: asyncio's AbstractEventLoop over the C++
# LoopCore. Hot paths (call_soon, timers, create_task/future) live in C++; this file holds the
# cold API, written after asyncio's base_events/unix_events so that behaviour matches.
# Tests: tests/python/
"""The asyncio event loop class of treadle."""

import asyncio
import concurrent.futures
import contextvars
import errno
import logging
import ipaddress
import os
import signal
import socket
import sys
import threading
import warnings
import weakref
from asyncio import coroutines, events, format_helpers, futures, tasks

from . import _connect, _datagram, _pipes, _sock, _transports, _treadle
from ._common import remove_stale_unix_socket

__all__ = ("EventLoop",)

logger = logging.getLogger("asyncio")  # asyncio's logger: users' logging setup applies


def _no_tls(method, keyword=None):
    """The NotImplementedError for TLS, which treadle's loop does not have yet: `keyword` is
    the TLS argument that asked for it (None for start_tls)."""
    what = f"TLS ({keyword}=...)" if keyword else "TLS"
    return NotImplementedError(f"{method}(): {what} is not supported by treadle's loop yet")


def _no_subprocesses(method):
    """The NotImplementedError for subprocesses, which treadle's loop does not have yet."""
    return NotImplementedError(f"{method}(): subprocesses are not supported by treadle's loop yet")


def _fileobj_to_fd(fileobj):
    """An int fd from an int or an object with fileno() (as selectors does)."""
    if isinstance(fileobj, int):
        fd = fileobj
    else:
        try:
            fd = int(fileobj.fileno())
        except (AttributeError, TypeError, ValueError):
            raise ValueError(f"Invalid file object: {fileobj!r}") from None
    if fd < 0:
        raise ValueError(f"Invalid file descriptor: {fd}")
    return fd


def _reject_tls(method, keyword, value):
    """Raise _no_tls() if the TLS argument `keyword` was given (is not None)."""
    if value is not None:
        raise _no_tls(method, keyword)


def _is_numeric_host(host):
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _numeric_address(host, port, family):
    """True if getaddrinfo(host, port) needs no lookup (asyncio's _ipaddr_info test): a
    numeric or absent host (inet_pton, no scope id) and a numeric or absent port."""
    if port is not None and not isinstance(port, int):
        if not isinstance(port, (str, bytes)) or not port.isdigit():
            return False
    if host is None:
        return True
    if isinstance(host, bytes):
        try:
            host = host.decode("idna")
        except UnicodeError:
            return False
    if not isinstance(host, str):
        return False
    families = {0: (socket.AF_INET, socket.AF_INET6)}.get(family, (family,))
    for af in families:
        if af not in (socket.AF_INET, socket.AF_INET6):
            continue
        try:
            socket.inet_pton(af, host)
        except (OSError, ValueError):
            continue
        return True
    return False


# getaddrinfo flags that cannot change the result for a numeric host and port: aiohttp passes
# them with the addresses its resolver returned.
_NUMERIC_FLAGS = socket.AI_NUMERICHOST | socket.AI_NUMERICSERV


def _flags_change_nothing(flags, host, port):
    """True if resolving `host`, `port` with getaddrinfo `flags` gives what it gives without
    them, so create_connection may take its C++ path."""
    if not flags:
        return True
    return not flags & ~_NUMERIC_FLAGS and _numeric_address(host, port, 0) and host is not None


def _port_number(port):
    """An int port from an int, a numeric string or a service name ("http"), with the errors
    getaddrinfo/connect give: TypeError, socket.gaierror for an unknown service,
    OverflowError out of range."""
    if isinstance(port, bytes):
        port = port.decode("ascii", "replace")
    if isinstance(port, str):
        if port.isdigit():
            port = int(port)
        else:
            try:
                return socket.getservbyname(port, "tcp")  # /etc/services: no network
            except OSError:
                raise socket.gaierror(socket.EAI_SERVICE,
                                      f"Servname not supported for ai_socktype: {port!r}") from None
    if not isinstance(port, int) or isinstance(port, bool):
        raise TypeError(f"port must be an int or a str, not {type(port).__name__!r}")
    if not 0 <= port <= 65535:
        raise OverflowError(f"port must be 0-65535, got {port}")
    return port


def _sock_type(sock):
    """sock.type, or TypeError for an object that is not a socket."""
    if not isinstance(sock, socket.socket):
        raise TypeError(f"a socket.socket was expected, got {sock!r}")
    return sock.type


def _run_until_complete_cb(fut):
    if not fut.cancelled():
        exc = fut.exception()
        if isinstance(exc, (SystemExit, KeyboardInterrupt)):
            # Issue #22429: run_forever() already finished, no need to stop it.
            return
    futures._get_loop(fut).stop()


def _sighandler_noop(signum, frame):
    """Dummy signal handler: the wake-up fd does the work."""


def _not_implemented(name, error):
    """A method raising error(name): for what treadle's loop does not have yet."""

    def method(self, *args, **kwargs):
        raise error(name)

    method.__name__ = name
    method.__doc__ = f"Not implemented yet: {error(name)}."
    return method


class EventLoop(_sock.SockMixin, _treadle.LoopCore, asyncio.AbstractEventLoop):
    """An asyncio event loop running on one of treadle's C++ backends.

    ``EventLoop(backend=None)`` creates a loop on the named backend (``"reactor"``, the epoll
    loop and the default, or ``"proactor"``, Boost.Asio). Callbacks run with the GIL held; the
    GIL is released only while the loop waits for I/O.
    """

    def __init__(self, backend=None):
        _treadle.LoopCore.__init__(self, backend or "")
        self._bind()
        self._default_executor = None
        self._executor_shutdown_called = False
        self._asyncgens = set()
        # fd -> weak reference to the stream transport using it: add_reader, sock_* and
        # friends refuse an fd a live transport owns. A plain dict of weakrefs, not a
        # WeakValueDictionary: its get() is C, asked on every sock_* call. Dead entries are
        # harmless and overwritten when the fd number is reused.
        self._transports = {}
        self._asyncgens_shutdown_called = False
        self._exception_handler = None
        self._signal_handlers = {}
        self._old_agen_hooks = None
        self._stopping = False
        # -X dev, PYTHONASYNCIODEBUG: asyncio's own rule (and tests patch it).
        self.set_debug(coroutines._is_debug_mode())

    def __repr__(self):
        return (f"<{self.__class__.__name__} backend={self.backend} running={self.is_running()} "
                f"closed={self.is_closed()} debug={self.get_debug()}>")

    # -- checks ------------------------------------------------------------------------------

    def _check_closed(self):
        if self.is_closed():
            raise RuntimeError("Event loop is closed")

    def _check_running(self):
        if self.is_running():
            raise RuntimeError("This event loop is already running")
        if events._get_running_loop() is not None:
            raise RuntimeError("Cannot run the event loop while another loop is running")

    def _check_thread(self):
        """In debug mode, raise RuntimeError if called from a thread not running the loop."""
        thread_id = self._thread_id
        if thread_id is None:
            return
        if thread_id != threading.get_ident():
            raise RuntimeError("Non-thread-safe operation invoked on an event loop other "
                               "than the current one")

    def _check_callback(self, callback, method):
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError(f"coroutines cannot be used with {method}()")
        if not callable(callback):
            raise TypeError(f"a callable object was expected by {method}(), got {callback!r}")

    # -- running and stopping ----------------------------------------------------------------

    def run_forever(self):
        """Run the event loop until stop() is called."""
        self._check_closed()
        self._check_running()
        old_agen_hooks = sys.get_asyncgen_hooks()
        sys.set_asyncgen_hooks(firstiter=self._asyncgen_firstiter_hook,
                               finalizer=self._asyncgen_finalizer_hook)
        old_wakeup_fd = None
        if threading.current_thread() is threading.main_thread():
            # Ctrl-C must wake a loop blocked in epoll: Python's C signal handler writes the
            # signal number to this fd and the loop's reader runs the Python-level handlers.
            try:
                old_wakeup_fd = signal.set_wakeup_fd(self._signal_fd(), warn_on_full_buffer=False)
            except (ValueError, OSError):
                old_wakeup_fd = None
        events._set_running_loop(self)
        try:
            self._run_forever()
        finally:
            events._set_running_loop(None)
            if old_wakeup_fd is not None and not self._signal_handlers:
                try:
                    signal.set_wakeup_fd(old_wakeup_fd)
                except (ValueError, OSError):
                    pass
            sys.set_asyncgen_hooks(*old_agen_hooks)

    def run_until_complete(self, future):
        """Run until the future (or coroutine, wrapped in a Task) is done; return its result."""
        self._check_closed()
        self._check_running()
        new_task = not futures.isfuture(future)
        future = tasks.ensure_future(future, loop=self)
        if new_task:
            # An exception is raised if the future didn't complete, so there is no need to
            # log the "destroy pending task" message.
            future._log_destroy_pending = False
        future.add_done_callback(_run_until_complete_cb)
        try:
            self.run_forever()
        except BaseException:
            if new_task and future.done() and not future.cancelled():
                # The coroutine raised a BaseException; consume it to avoid a warning.
                future.exception()
            raise
        finally:
            future.remove_done_callback(_run_until_complete_cb)
        if not future.done():
            raise RuntimeError("Event loop stopped before Future completed.")
        return future.result()

    def stop(self):
        """Stop the loop after the callbacks that are ready now have run."""
        self._stop()

    def close(self):
        """Close the loop: drop pending callbacks and shut the default executor down.

        The loop must not be running. Idempotent.
        """
        if self.is_running():
            raise RuntimeError("Cannot close a running event loop")
        if self.is_closed():
            return
        if self._debug_enabled():
            logger.debug("Close %r", self)
        for sig in list(self._signal_handlers):
            self.remove_signal_handler(sig)
        self._close()
        self._executor_shutdown_called = True
        executor = self._default_executor
        if executor is not None:
            self._default_executor = None
            executor.shutdown(wait=False)

    def _debug_enabled(self):
        return self.get_debug()

    def set_debug(self, enabled):
        """Turn debug mode on or off (slow-callback warnings, thread and callback checks)."""
        self._set_debug(bool(enabled))

    def __del__(self, _warn=warnings.warn):
        try:
            closed = self.is_closed()
        except Exception:  # __init__ failed before the C++ core existed
            return
        if not closed:
            _warn(f"unclosed event loop {self!r}", ResourceWarning, source=self)
            if not self.is_running():
                self.close()

    # -- futures and tasks -------------------------------------------------------------------

    def set_task_factory(self, factory):
        """Set the factory create_task() uses: factory(loop, coro[, context=]) or None."""
        if factory is not None and not callable(factory):
            raise TypeError("task factory must be a callable or None")
        self._set_task_factory(factory)

    # -- executors ---------------------------------------------------------------------------

    def _check_default_executor(self):
        if self._executor_shutdown_called:
            raise RuntimeError("Executor shutdown has been called")

    def run_in_executor(self, executor, func, *args):
        """Run func(*args) in `executor` (the default thread pool if None); return a Future."""
        self._check_closed()
        if self.get_debug():
            self._check_callback(func, "run_in_executor")
        if executor is None:
            executor = self._default_executor
            self._check_default_executor()
            if executor is None:
                executor = concurrent.futures.ThreadPoolExecutor(thread_name_prefix="asyncio")
                self._default_executor = executor
        return futures.wrap_future(executor.submit(func, *args), loop=self)

    def set_default_executor(self, executor):
        """Set the executor run_in_executor(None, ...) uses (a ThreadPoolExecutor)."""
        if not isinstance(executor, concurrent.futures.ThreadPoolExecutor):
            raise TypeError("executor must be ThreadPoolExecutor")
        self._default_executor = executor

    async def shutdown_default_executor(self):
        """Shut the default executor down, waiting for it in a helper thread."""
        self._executor_shutdown_called = True
        if self._default_executor is None:
            return
        future = self.create_future()
        thread = threading.Thread(target=self._do_shutdown, args=(future,))
        thread.start()
        try:
            await future
        finally:
            thread.join()

    def _do_shutdown(self, future):
        try:
            self._default_executor.shutdown(wait=True)
            if not self.is_closed():
                self.call_soon_threadsafe(future.set_result, None)
        except Exception as ex:
            if not self.is_closed():
                self.call_soon_threadsafe(future.set_exception, ex)

    # -- asynchronous generators -------------------------------------------------------------

    def _asyncgen_finalizer_hook(self, agen):
        self._asyncgens.discard(agen)
        if not self.is_closed():
            self.call_soon_threadsafe(self.create_task, agen.aclose())

    def _asyncgen_firstiter_hook(self, agen):
        if self._asyncgens_shutdown_called:
            warnings.warn(f"asynchronous generator {agen!r} was scheduled after "
                          f"loop.shutdown_asyncgens() call", ResourceWarning, source=self)
        self._asyncgens.add(agen)

    async def shutdown_asyncgens(self):
        """Close every asynchronous generator still open (aclose() on each)."""
        self._asyncgens_shutdown_called = True
        if not len(self._asyncgens):
            return
        closing_agens = list(self._asyncgens)
        self._asyncgens.clear()
        results = await tasks.gather(*[ag.aclose() for ag in closing_agens],
                                     return_exceptions=True)
        for result, agen in zip(results, closing_agens):
            if isinstance(result, Exception):
                self.call_exception_handler({
                    "message": f"an error occurred during closing of "
                               f"asynchronous generator {agen!r}",
                    "exception": result,
                    "asyncgen": agen,
                })

    # -- readiness watchers ------------------------------------------------------------------

    def _ensure_fd_no_transport(self, fd):
        """RuntimeError if a live transport of this loop uses `fd` (asyncio's check: watching
        or reading a transport's socket behind its back would steal its events)."""
        fileno = _fileobj_to_fd(fd)
        ref = self._transports.get(fileno)
        transport = ref() if ref is not None else None
        if transport is not None and not transport.is_closing():
            raise RuntimeError(f"File descriptor {fd!r} is used by transport {transport!r}")
        return fileno

    def add_reader(self, fd, callback, *args):
        """Call callback(*args) whenever `fd` (an int or an object with fileno()) is readable."""
        self._check_closed()
        if self.get_debug():
            self._check_thread()
            self._check_callback(callback, "add_reader")
        fileno = self._ensure_fd_no_transport(fd)
        self._add_reader(fileno, callback, args, contextvars.copy_context())

    def remove_reader(self, fd):
        """Stop watching `fd` for reading; True if it was watched."""
        if self.is_closed():
            return False
        return self._remove_reader(self._ensure_fd_no_transport(fd))

    def add_writer(self, fd, callback, *args):
        """Call callback(*args) whenever `fd` (an int or an object with fileno()) is writable."""
        self._check_closed()
        if self.get_debug():
            self._check_thread()
            self._check_callback(callback, "add_writer")
        fileno = self._ensure_fd_no_transport(fd)
        self._add_writer(fileno, callback, args, contextvars.copy_context())

    def remove_writer(self, fd):
        """Stop watching `fd` for writing; True if it was watched."""
        if self.is_closed():
            return False
        return self._remove_writer(self._ensure_fd_no_transport(fd))

    # -- signals (as asyncio's unix_events: set_wakeup_fd + a reader) ------------------------

    def _check_signal(self, sig):
        if not isinstance(sig, int):
            raise TypeError(f"sig must be an int, not {sig!r}")
        if sig not in signal.valid_signals():
            raise ValueError(f"invalid signal number {sig}")

    def add_signal_handler(self, sig, callback, *args):
        """Call callback(*args) (in the loop, as a callback) whenever signal `sig` arrives.

        Main thread only. Raises RuntimeError for signals that cannot be caught.
        """
        if coroutines.iscoroutine(callback) or coroutines.iscoroutinefunction(callback):
            raise TypeError("coroutines cannot be used with add_signal_handler()")
        self._check_signal(sig)
        self._check_closed()
        try:
            # set_wakeup_fd() raises ValueError if this is not the main thread.
            signal.set_wakeup_fd(self._signal_fd(), warn_on_full_buffer=False)
        except (ValueError, OSError) as exc:
            raise RuntimeError(str(exc))
        self._signal_handlers[sig] = (callback, args, contextvars.copy_context())
        try:
            signal.signal(sig, _sighandler_noop)
            signal.siginterrupt(sig, False)
        except OSError as exc:
            del self._signal_handlers[sig]
            if not self._signal_handlers:
                try:
                    signal.set_wakeup_fd(-1)
                except (ValueError, OSError) as nexc:
                    logger.info("set_wakeup_fd(-1) failed: %s", nexc)
            if exc.errno == 22:  # EINVAL
                raise RuntimeError(f"sig {sig:d} cannot be caught")
            raise

    def _handle_signal(self, sig):
        """Called by the C++ signal reader for each signal number read from the wake-up fd."""
        entry = self._signal_handlers.get(sig)
        if entry is None:
            return
        callback, args, context = entry
        self.call_soon(callback, *args, context=context)

    def remove_signal_handler(self, sig):
        """Remove the handler for `sig`; True if one was installed."""
        self._check_signal(sig)
        try:
            del self._signal_handlers[sig]
        except KeyError:
            return False
        handler = signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL
        try:
            signal.signal(sig, handler)
        except OSError as exc:
            if exc.errno == 22:  # EINVAL
                raise RuntimeError(f"sig {sig:d} cannot be caught")
            raise
        if not self._signal_handlers:
            try:
                signal.set_wakeup_fd(-1)
            except (ValueError, OSError) as exc:
                logger.info("set_wakeup_fd(-1) failed: %s", exc)
        return True

    # -- errors ------------------------------------------------------------------------------

    def get_exception_handler(self):
        """The handler installed with set_exception_handler(), or None."""
        return self._exception_handler

    def set_exception_handler(self, handler):
        """Install handler(loop, context) for unhandled errors (None restores the default)."""
        if handler is not None and not callable(handler):
            raise TypeError(f"A callable object or None is expected, got {handler!r}")
        self._exception_handler = handler

    def default_exception_handler(self, context):
        """Log the error context with the 'asyncio' logger, as asyncio's loop does."""
        message = context.get("message")
        if not message:
            message = "Unhandled exception in event loop"
        exception = context.get("exception")
        if exception is not None:
            exc_info = (type(exception), exception, exception.__traceback__)
        else:
            exc_info = False
        log_lines = [message]
        for key in sorted(context):
            if key in {"message", "exception"}:
                continue
            value = context[key]
            if key == "source_traceback":
                value = "Object created at (most recent call last):\n" + "".join(
                    __import__("traceback").format_list(value)).rstrip()
            else:
                value = repr(value)
            log_lines.append(f"{key}: {value}")
        logger.error("\n".join(log_lines), exc_info=exc_info)

    def call_exception_handler(self, context):
        """Report an error context dict to the installed handler (or the default one)."""
        if self._exception_handler is None:
            try:
                self.default_exception_handler(context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException:
                logger.error("Exception in default exception handler", exc_info=True)
        else:
            try:
                self._exception_handler(self, context)
            except (SystemExit, KeyboardInterrupt):
                raise
            except BaseException as exc:
                try:
                    self.default_exception_handler({
                        "message": "Unhandled error in exception handler",
                        "exception": exc,
                        "context": context,
                    })
                except (SystemExit, KeyboardInterrupt):
                    raise
                except BaseException:
                    logger.error("Exception in default exception handler while handling an "
                                 "unexpected error in custom exception handler", exc_info=True)

    def _report_error(self, message, exc, handle):
        """Called by C++ when a callback raised: builds asyncio's context dict."""
        if message is None:
            if handle is not None and handle._callback is not None:
                cb = format_helpers._format_callback_source(handle._callback, handle._args)
            else:
                cb = repr(handle)
            message = f"Exception in callback {cb}"
        context = {"message": message, "exception": exc}
        if handle is not None:
            context["handle"] = handle
        self.call_exception_handler(context)

    def _log_slow_callback(self, handle, seconds):
        """Called by C++ in debug mode for callbacks slower than slow_callback_duration."""
        logger.warning("Executing %s took %.3f seconds", handle, seconds)

    # -- TCP: connections and servers over the C++ StreamTransport ----------------------------

    async def create_connection(self, protocol_factory, host=None, port=None, *, ssl=None,
                                family=0, proto=0, flags=0, sock=None, local_addr=None,
                                server_hostname=None, ssl_handshake_timeout=None,
                                ssl_shutdown_timeout=None, happy_eyeballs_delay=None,
                                interleave=None, all_errors=False):
        """Open a TCP connection to host:port; return (transport, protocol).

        The host is resolved off the loop thread (numeric addresses at once) and each address
        is tried in turn; the transport is treadle's C++ StreamTransport. With
        `happy_eyeballs_delay` the attempts overlap (RFC 8305), `interleave` alternates address
        families, `local_addr` may be a name, and `all_errors=True` raises an ExceptionGroup of
        every attempt's error, as in asyncio.
        """
        name = "create_connection"
        _reject_tls(name, "ssl", ssl)
        _reject_tls(name, "server_hostname", server_hostname)
        _reject_tls(name, "ssl_handshake_timeout", ssl_handshake_timeout)
        _reject_tls(name, "ssl_shutdown_timeout", ssl_shutdown_timeout)
        self._check_closed()
        if host is not None or port is not None:
            if sock is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
        else:
            if sock is None:
                raise ValueError("host and port was not specified and no sock specified")
            if _sock_type(sock) != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")
            return await self._adopt_connection(sock, protocol_factory)
        if host is None or port is None:
            raise ValueError("host and port was not specified and no sock specified")
        if happy_eyeballs_delay is not None and interleave is None:
            interleave = 1  # RFC 8305 recommends a first address family count of 1
        if (happy_eyeballs_delay is not None or interleave or all_errors
                or proto not in (0, socket.IPPROTO_TCP)
                or not _flags_change_nothing(flags, host, port)
                or family not in (0, socket.AF_INET, socket.AF_INET6)
                or local_addr is not None):
            return await self._create_connection_raced(
                protocol_factory, host, port, family, proto, flags, local_addr,
                happy_eyeballs_delay, interleave, all_errors)
        port = _port_number(port)
        fut = self.create_future()

        def done(transport, protocol, exc):
            if fut.cancelled():
                if transport is not None:
                    transport.abort()
            elif exc is not None:
                fut.set_exception(exc)
            else:
                fut.set_result((transport, protocol))

        _treadle._tcp_connect(self, str(host), port, protocol_factory, done, int(family),
                              None, 0)
        try:
            return await fut
        finally:
            fut = None  # break the cycle through the exception's traceback

    async def _create_connection_raced(self, protocol_factory, host, port, family, proto,
                                       flags, local_addr, happy_eyeballs_delay, interleave,
                                       all_errors):
        """create_connection's general path: resolve in Python, race the attempts
        (treadle._connect), then hand the connected socket to a C++ transport."""
        infos = await self.getaddrinfo(host, port, family=family, type=socket.SOCK_STREAM,
                                       proto=proto, flags=flags)
        if not infos:
            raise OSError("getaddrinfo() returned empty list")
        local_infos = None
        if local_addr is not None:
            local_infos = await self.getaddrinfo(*local_addr, family=family,
                                                 type=socket.SOCK_STREAM, proto=proto,
                                                 flags=flags)
            if not local_infos:
                raise OSError("getaddrinfo() returned empty list")
        sock = await _connect.connect_first(self, infos, local_infos, happy_eyeballs_delay,
                                            interleave, all_errors)
        try:
            return await self._adopt_connection(sock, protocol_factory, owned=True)
        except BaseException:
            sock.close()
            raise

    async def _resolve_passive(self, host, port, family, flags):
        if host is None or _is_numeric_host(host):
            return socket.getaddrinfo(host, port, family, socket.SOCK_STREAM, 0, flags)
        return await self.run_in_executor(None, socket.getaddrinfo, host, port, family,
                                          socket.SOCK_STREAM, 0, flags)

    async def create_server(self, protocol_factory, host=None, port=None, *,
                            family=socket.AF_UNSPEC, flags=socket.AI_PASSIVE, sock=None,
                            backlog=100, ssl=None, reuse_address=None, reuse_port=None,
                            ssl_handshake_timeout=None, ssl_shutdown_timeout=None,
                            start_serving=True):
        """Listen on host:port (every address it resolves to; all interfaces if None or '').

        Returns an asyncio.AbstractServer. Accepting and the connections run in C++.
        """
        name = "create_server"
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        _reject_tls(name, "ssl", ssl)
        _reject_tls(name, "ssl_handshake_timeout", ssl_handshake_timeout)
        _reject_tls(name, "ssl_shutdown_timeout", ssl_shutdown_timeout)
        self._check_closed()
        if sock is not None:
            if host is not None or port is not None:
                raise ValueError("host/port and sock can not be specified at the same time")
            if _sock_type(sock) != socket.SOCK_STREAM:
                raise ValueError(f"A Stream Socket was expected, got {sock!r}")
            return await self._serve_sockets([sock], protocol_factory, backlog, start_serving)
        if host is None and port is None:
            raise ValueError("Neither host/port nor sock were specified")
        if reuse_address is None:
            reuse_address = True
        if host == "":
            hosts = [None]
        elif isinstance(host, str) or not hasattr(host, "__iter__"):
            hosts = [host]
        else:
            hosts = list(host)
        port = _port_number(port if port is not None else 0)
        infos = []
        for h in hosts:
            infos.extend(await self._resolve_passive(h, port, family, flags))
        sockets = []
        completed = False
        try:
            for res in dict.fromkeys(infos):  # unique, in order (as asyncio's set, but stable)
                af, socktype, proto, _canonname, sa = res
                try:
                    sock = socket.socket(af, socktype, proto)
                except OSError:
                    if self.get_debug():
                        logger.warning("create_server() failed to create socket.socket(%r, %r, %r)",
                                       af, socktype, proto, exc_info=True)
                    continue
                sockets.append(sock)
                if reuse_address:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, True)
                if reuse_port:
                    if not hasattr(socket, "SO_REUSEPORT"):
                        raise ValueError("reuse_port not supported by socket module")
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
                if af == socket.AF_INET6 and hasattr(socket, "IPPROTO_IPV6"):
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, True)
                try:
                    sock.bind(sa)
                except OSError as err:
                    raise OSError(err.errno, f"error while attempting to bind on address "
                                             f"{sa!r}: {err.strerror.lower()}") from None
            if not sockets:
                raise OSError("create_server(): no address to listen on")
            completed = True
        finally:
            if not completed:
                for sock in sockets:
                    sock.close()
        return await self._serve_sockets(sockets, protocol_factory, backlog, start_serving)

    async def _serve_sockets(self, sockets, protocol_factory, backlog, start_serving):
        """asyncio's Server over bound sockets; they listen once it starts serving."""
        for sock in sockets:
            sock.setblocking(False)
        server = _transports.Server(self, sockets, protocol_factory, backlog)
        if start_serving:
            server._start_serving()
            await tasks.sleep(0)
        if self.get_debug():
            logger.info("%r is serving", server)
        return server

    async def _adopt_connection(self, sock, protocol_factory, owned=False):
        """asyncio's _create_connection_transport; returns once connection_made has run.

        The C++ transport gets its own descriptor for the socket. The caller's `sock` stays
        usable while the connection lives (asyncio shares it with the transport: setsockopt
        on it keeps working) and is closed with the transport. An `owned` socket (one this
        loop created) is detached instead.
        """
        sock.setblocking(False)
        protocol = protocol_factory()
        fd = sock.detach() if owned else os.dup(sock.fileno())
        transport = _treadle._adopt_stream(self, fd, protocol)
        if not owned:
            transport._user_sock = sock
            self._transports[sock.fileno()] = weakref.ref(transport)
        try:
            await tasks.sleep(0)  # connection_made was scheduled first: it runs before this
        except BaseException:
            transport.close()  # as asyncio's _create_connection_transport when cancelled
            raise
        return transport, protocol

    # -- Unix sockets ---------------------------------------------------------------------

    async def create_unix_connection(self, protocol_factory, path=None, *, ssl=None, sock=None,
                                     server_hostname=None, ssl_handshake_timeout=None,
                                     ssl_shutdown_timeout=None):
        """Connect to a Unix stream socket at `path` (or adopt `sock`); (transport, protocol)."""
        assert server_hostname is None or isinstance(server_hostname, str)
        if ssl:
            if server_hostname is None:
                raise ValueError("you have to pass server_hostname when using ssl")
            raise _no_tls("create_unix_connection", "ssl")
        if server_hostname is not None:
            raise ValueError("server_hostname is only meaningful with ssl")
        if ssl_handshake_timeout is not None:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        self._check_closed()
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fsencode(os.fspath(path))
            fut = self.create_future()

            def done(transport, protocol, exc):
                if fut.cancelled():
                    if transport is not None:
                        transport.abort()
                elif exc is not None:
                    fut.set_exception(exc)
                else:
                    fut.set_result((transport, protocol))

            _treadle._unix_connect(self, path, protocol_factory, done)
            try:
                return await fut
            finally:
                fut = None  # break the cycle through the exception's traceback
        if sock is None:
            raise ValueError("no path and sock were specified")
        if sock.family != socket.AF_UNIX or _sock_type(sock) != socket.SOCK_STREAM:
            raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        return await self._adopt_connection(sock, protocol_factory)

    async def create_unix_server(self, protocol_factory, path=None, *, sock=None, backlog=100,
                                 ssl=None, ssl_handshake_timeout=None,
                                 ssl_shutdown_timeout=None, start_serving=True):
        """Listen on a Unix stream socket at `path` (a stale socket file there is removed
        first, as asyncio does) or on `sock`; returns an asyncio.AbstractServer."""
        if isinstance(ssl, bool):
            raise TypeError("ssl argument must be an SSLContext or None")
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        _reject_tls("create_unix_server", "ssl", ssl)
        self._check_closed()
        if path is not None:
            if sock is not None:
                raise ValueError("path and sock can not be specified at the same time")
            path = os.fspath(path)
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            remove_stale_unix_socket(path)
            try:
                sock.bind(path)
            except OSError as exc:
                sock.close()
                if exc.errno == errno.EADDRINUSE:
                    raise OSError(errno.EADDRINUSE,
                                  f"Address {path!r} is already in use") from None
                raise
            except BaseException:
                sock.close()
                raise
        else:
            if sock is None:
                raise ValueError("path was not specified, and no sock specified")
            if sock.family != socket.AF_UNIX or _sock_type(sock) != socket.SOCK_STREAM:
                raise ValueError(f"A UNIX Domain Stream Socket was expected, got {sock!r}")
        return await self._serve_sockets([sock], protocol_factory, backlog, start_serving)

    async def connect_accepted_socket(self, protocol_factory, sock, *, ssl=None,
                                      ssl_handshake_timeout=None, ssl_shutdown_timeout=None):
        """Wrap an accepted connection's socket in a transport; (transport, protocol)."""
        if _sock_type(sock) != socket.SOCK_STREAM:
            raise ValueError(f"A Stream Socket was expected, got {sock!r}")
        if ssl_handshake_timeout is not None and not ssl:
            raise ValueError("ssl_handshake_timeout is only meaningful with ssl")
        if ssl_shutdown_timeout is not None and not ssl:
            raise ValueError("ssl_shutdown_timeout is only meaningful with ssl")
        _reject_tls("connect_accepted_socket", "ssl", ssl)
        self._check_closed()
        return await self._adopt_connection(sock, protocol_factory)

    # -- name resolution: off the loop thread, numeric addresses at once --------------------

    async def getaddrinfo(self, host, port, *, family=0, type=0, proto=0, flags=0):
        """socket.getaddrinfo in the default executor; numeric host and port without one."""
        if not flags & socket.AI_CANONNAME and _numeric_address(host, port, family):
            return socket.getaddrinfo(host, port, family, type, proto, flags)
        return await self.run_in_executor(None, socket.getaddrinfo, host, port, family, type,
                                          proto, flags)

    async def getnameinfo(self, sockaddr, flags=0):
        """socket.getnameinfo in the default executor (at once if asked for numeric names)."""
        numeric = socket.NI_NUMERICHOST | socket.NI_NUMERICSERV
        if flags & numeric == numeric:
            return socket.getnameinfo(sockaddr, flags)
        return await self.run_in_executor(None, socket.getnameinfo, sockaddr, flags)

    # -- datagrams and pipes (Python transports over readiness watchers) -------------------

    async def create_datagram_endpoint(self, protocol_factory, local_addr=None,
                                       remote_addr=None, *, family=0, proto=0, flags=0,
                                       reuse_port=None, allow_broadcast=None, sock=None):
        """A datagram (UDP or Unix datagram) endpoint; returns (transport, protocol).

        asyncio's semantics: `local_addr`/`remote_addr` are resolved off the loop thread and
        bound/connected, or `sock` is used as given; see treadle._datagram.
        """
        self._check_closed()
        return await _datagram.create_datagram_endpoint(
            self, protocol_factory, local_addr, remote_addr, family=family, proto=proto,
            flags=flags, reuse_port=reuse_port, allow_broadcast=allow_broadcast, sock=sock)

    async def connect_read_pipe(self, protocol_factory, pipe):
        """Read from the file-like `pipe` (a pipe, FIFO, socket or pty) with a protocol;
        returns (transport, protocol). The transport owns `pipe` and closes it."""
        self._check_closed()
        return await _pipes.connect_read_pipe(self, protocol_factory, pipe)

    async def connect_write_pipe(self, protocol_factory, pipe):
        """Write to the file-like `pipe` (a pipe, FIFO, socket or character device) through a
        transport; returns (transport, protocol). The transport owns `pipe` and closes it."""
        self._check_closed()
        return await _pipes.connect_write_pipe(self, protocol_factory, pipe)

    # -- not yet implemented: TLS and subprocesses -----------------------------------------

    start_tls = _not_implemented("start_tls", _no_tls)
    subprocess_exec = _not_implemented("subprocess_exec", _no_subprocesses)
    subprocess_shell = _not_implemented("subprocess_shell", _no_subprocesses)
