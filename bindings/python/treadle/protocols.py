# bindings/python/treadle/protocols.py — treadle's C++ protocols, usable from Python.
# Tests: tests/python/test_native_protocols.py
"""Protocols implemented in C++ (treadle's ``protocols/`` layer), served from Python.

Pass one of these classes wherever asyncio takes a protocol factory::

    server = await loop.create_server(treadle.protocols.Echo, "127.0.0.1", 8888)

Each connection then gets its own C++ protocol object, and its bytes go from the socket to the
protocol and back without entering Python: the only Python work per connection is the
factory call and the server's bookkeeping when it ends. Only treadle's loop can run them
(asyncio's own loops would call methods they do not have).

``NativeProtocol`` is the common base (``isinstance`` checks); ``connected`` tells whether a
transport uses the instance. An instance serves one connection: attaching it to a second
transport raises ``RuntimeError``.
"""

from ._treadle import Discard, Echo, NativeProtocol

__all__ = ("Discard", "Echo", "NativeProtocol")
