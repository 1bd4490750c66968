# bindings/python/treadle/_connect.py — the connection race of create_connection when the
# caller asks for asyncio's full address policy: Happy Eyeballs (RFC 8305), address family
# interleaving, named local addresses, all_errors.
# Tests: tests/python/test_connect.py
"""Connecting a socket to the first address of a resolved list that answers.

The common case (numeric or resolved host, no racing) runs in C++ (``_tcp_connect``). This
module is the general path, with asyncio's semantics: addresses are tried in order
(interleaved by family when ``interleave`` is set), either one after the other or, with
``happy_eyeballs_delay``, each started that many seconds after the previous one unless it
already failed, the first success winning and the others cancelled. Failures are reported as
asyncio reports them: the only error, an ``OSError('Multiple exceptions: ...')``, or with
``all_errors=True`` an ``ExceptionGroup`` of every attempt's errors.
"""

import itertools
import socket
from asyncio import staggered


def interleave_by_family(infos, first_family_count=1):
    """Reorder getaddrinfo results so that address families alternate (RFC 8305 §4): the
    first `first_family_count` addresses of the first family, then one of each family in
    turn (the first family's next address leading each round)."""
    by_family = {}
    for info in infos:
        by_family.setdefault(info[0], []).append(info)
    groups = list(by_family.values())
    if not groups:
        return []
    # The round-robin below starts with the first family, which gives it one address more.
    head = groups[0][:first_family_count - 1]
    groups[0] = groups[0][first_family_count - 1:]
    rest = (info for round_ in itertools.zip_longest(*groups) for info in round_ if info)
    return head + list(rest)


async def _attempt(loop, errors, info, local_infos):
    """Connect one socket to `info`'s address (bound first to a local address of the same
    family, if any are given); return it, or raise after recording the errors in `errors`."""
    mine = []
    errors.append(mine)
    family, type_, proto, _, address = info
    sock = None
    try:
        sock = socket.socket(family=family, type=type_, proto=proto)
        sock.setblocking(False)
        if local_infos is not None:
            for local_family, _, _, _, local_address in local_infos:
                if local_family != family:
                    continue
                try:
                    sock.bind(local_address)
                    break
                except OSError as exc:
                    mine.append(OSError(exc.errno, f"error while attempting to bind on address "
                                                   f"{local_address!r}: {exc.strerror.lower()}"))
            else:
                if mine:
                    raise mine.pop()
                raise OSError(f"no matching local address with family={family!r} found")
        await loop.sock_connect(sock, address)
        return sock
    except OSError as exc:
        mine.append(exc)
        if sock is not None:
            sock.close()
        raise
    except BaseException:
        if sock is not None:
            sock.close()
        raise


def _raise_failure(errors, all_errors):
    flat = [exc for attempt in errors for exc in attempt]
    if all_errors:
        raise ExceptionGroup("create_connection failed", flat)
    if len(flat) == 1 or all(str(exc) == str(flat[0]) for exc in flat):
        raise flat[0]
    raise OSError("Multiple exceptions: {}".format(", ".join(str(exc) for exc in flat)))


async def connect_first(loop, infos, local_infos, happy_eyeballs_delay, interleave, all_errors):
    """The connected (non-blocking) socket of the first address in `infos` that accepts."""
    if interleave:
        infos = interleave_by_family(infos, interleave)
    errors = []
    sock = None
    try:
        if happy_eyeballs_delay is None:
            for info in infos:
                try:
                    sock = await _attempt(loop, errors, info, local_infos)
                    break
                except OSError:
                    continue
        else:
            starters = (lambda info=info: _attempt(loop, errors, info, local_infos)
                        for info in infos)
            sock, _, _ = await staggered.staggered_race(starters, happy_eyeballs_delay,
                                                        loop=loop)
        if sock is None:
            _raise_failure(errors, all_errors)
        return sock
    finally:
        errors = None  # break the cycle through the exceptions' tracebacks
