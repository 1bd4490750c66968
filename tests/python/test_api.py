# tests/python/test_api.py — the package API: EventLoop, new_event_loop, policy, install, run,
# python -m treadle.
"""Tests of treadle's public entry points."""

import asyncio
import os
import ssl
import subprocess
import sys
import textwrap

import pytest

import treadle

from conftest import BACKEND


def test_eventloop_is_abstract_event_loop(loop):
    assert isinstance(loop, asyncio.AbstractEventLoop)
    assert isinstance(loop, treadle.EventLoop)
    assert loop.backend == BACKEND


def test_backends_listed():
    assert treadle.backends()[0] == "reactor"
    assert "proactor" in treadle.backends()


def test_unknown_backend():
    with pytest.raises(ValueError):
        treadle.new_event_loop("nonexistent")


def test_run_returns_result():
    async def main():
        assert isinstance(asyncio.get_running_loop(), treadle.EventLoop)
        assert asyncio.get_running_loop().backend == BACKEND
        await asyncio.sleep(0.001)
        return 42

    assert treadle.run(main(), backend=BACKEND) == 42


def test_run_debug_flag():
    async def main():
        return asyncio.get_running_loop().get_debug()

    assert treadle.run(main(), backend=BACKEND, debug=True) is True


def test_run_propagates_exception():
    async def main():
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        treadle.run(main(), backend=BACKEND)


def test_policy_and_install():
    policy = treadle.EventLoopPolicy(backend=BACKEND)
    lp = policy.new_event_loop()
    try:
        assert isinstance(lp, treadle.EventLoop) and lp.backend == BACKEND
    finally:
        lp.close()
    old = asyncio.get_event_loop_policy()
    try:
        treadle.install(BACKEND)
        assert isinstance(asyncio.get_event_loop_policy(), treadle.EventLoopPolicy)

        async def main():
            return type(asyncio.get_running_loop())

        assert asyncio.run(main()) is treadle.EventLoop
    finally:
        asyncio.set_event_loop_policy(old)


def test_dash_m_treadle(tmp_path):
    script = tmp_path / "prog.py"
    script.write_text(textwrap.dedent("""
        import asyncio, sys
        async def main():
            loop = asyncio.get_running_loop()
            print(type(loop).__module__, loop.backend, sys.argv[1:])
        asyncio.run(main())
    """))
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "treadle", "--backend", BACKEND, str(script),
                          "a", "--b"], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["treadle._loop", BACKEND, "['a',", "'--b']"]


def test_docstrings():
    for obj in (treadle.EventLoop, treadle.EventLoopPolicy, treadle.run, treadle.install,
                treadle.new_event_loop, treadle.Handle, treadle.TimerHandle):
        assert obj.__doc__
    for name in ("call_soon", "call_later", "call_at", "call_soon_threadsafe", "create_task",
                 "create_future", "time", "run_forever", "run_until_complete", "close",
                 "add_reader", "add_signal_handler", "default_exception_handler",
                 "sock_recv", "sock_recv_into", "sock_recvfrom", "sock_recvfrom_into",
                 "sock_sendall", "sock_sendto", "sock_connect", "sock_accept",
                 "sock_sendfile", "sendfile"):
        assert getattr(treadle.EventLoop, name).__doc__, name


def test_methods_not_implemented_yet_say_so(loop):
    """Subprocesses and TLS come with their own capabilities; until then an error that names
    what is missing."""
    context = ssl.create_default_context()

    def message(coro_function, *args, **kwargs):
        with pytest.raises(NotImplementedError) as info:
            loop.run_until_complete(coro_function(*args, **kwargs))
        return str(info.value)

    tls = "is not supported by treadle's loop yet"
    for value in (context, True):
        assert message(loop.create_connection, asyncio.Protocol, "127.0.0.1", 1,
                       ssl=value) == f"create_connection(): TLS (ssl=...) {tls}"
    assert message(loop.create_connection, asyncio.Protocol, "127.0.0.1", 1,
                   server_hostname="h") == f"create_connection(): TLS (server_hostname=...) {tls}"
    assert message(loop.create_server, asyncio.Protocol, "127.0.0.1", 0,
                   ssl=context) == f"create_server(): TLS (ssl=...) {tls}"
    assert message(loop.start_tls, None, None, context) == f"start_tls(): TLS {tls}"
    assert message(loop.subprocess_exec, asyncio.SubprocessProtocol, "true") == (
        "subprocess_exec(): subprocesses are not supported by treadle's loop yet")
    assert message(loop.subprocess_shell, asyncio.SubprocessProtocol, "true") == (
        "subprocess_shell(): subprocesses are not supported by treadle's loop yet")
    assert "Not implemented yet: start_tls(): TLS" in treadle.EventLoop.start_tls.__doc__
