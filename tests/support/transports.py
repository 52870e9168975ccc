"""Every transport an HTTP sink can send through, each with a server it reaches.

Behaviour that must hold whatever the transport is tested once, parametrized over
:data:`TRANSPORTS` (the ids pytest shows):

* ``urllib3``: :class:`support.http.LoopbackServer` on 127.0.0.1, whose ``transport``
  is a real :class:`~nglogger._delivery.http.HttpTransport` (pooled sockets);
* ``mock``: :class:`support.memory_http.InMemoryServer`, whose ``transport`` is a
  :class:`~nglogger._delivery.transport.MockTransport` (no socket).

Both servers have the same API (``url``, ``set_responder``, ``requests``,
``wait_for``, ``transport``), so one test body proves both transports::

    @pytest.fixture(params=TRANSPORTS)
    def server(request: pytest.FixtureRequest) -> Iterator[Server]:
        with serving(request.param) as server:
            yield server
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from support.http import LoopbackServer
from support.memory_http import InMemoryServer

__all__ = ["TRANSPORTS", "Server", "serving"]

#: The transports, by the id their parametrized tests carry.
TRANSPORTS = ("urllib3", "mock")

#: Either server: the same API, whichever transport reaches it.
Server = LoopbackServer | InMemoryServer


@contextlib.contextmanager
def serving(kind: str) -> Iterator[Server]:
    """A server reached through transport ``kind``; a loopback one is closed (and joined) after."""
    if kind == "mock":
        yield InMemoryServer()
        return
    if kind != "urllib3":
        raise ValueError(f"unknown transport {kind!r}, expected one of {TRANSPORTS}")
    with LoopbackServer(join_handlers=True) as server:
        yield server
    assert server.handler_errors == 0, f"{server.handler_errors} handler errors"
