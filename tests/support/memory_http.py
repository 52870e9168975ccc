"""An in-memory stand-in for the loopback server: the same API, no socket.

``InMemoryServer`` records the requests a sink sends through its
:class:`~nglogger.sinks.http.MockTransport` (``server.transport``, one per sink) and answers
with a responder ``request -> (status, headers, body) | None``, exactly like
:class:`support.http.RecordingServer`; ``None`` is a reset connection. Use it
where the request and the sink's handling of the reply are the point, and the
real server where the socket is.
"""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from nglogger.sinks.http import HttpResponse, MockTransport
from nglogger.sinks.http import Request as SentRequest
from support.http import Reply, Request, Responder

__all__ = ["InMemoryServer"]


def _ok(_request: Request) -> Reply:
    return 200, {}, b""


class InMemoryServer:
    """Records requests sent through ``transport``; ``url`` names no real host."""

    url = "http://ingest.invalid"

    def __init__(self, responder: Responder | None = None) -> None:
        self._responder: Responder = responder or _ok
        self._cond = threading.Condition()
        self._requests: list[Request] = []

    @property
    def transport(self) -> MockTransport:
        """A new transport to this server (one per sink: closing a sink closes its own)."""
        return MockTransport(self._handle)

    def _handle(self, sent: SentRequest) -> HttpResponse:
        parts = urlsplit(sent.url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        headers = {k.lower(): v for k, v in sent.headers.items()}
        request = Request("POST", path, headers, sent.content(), len(sent.body))
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
        reply = self._responder(request)
        if reply is None:
            raise ConnectionResetError("connection reset by the test server")
        status, reply_headers, body = reply
        return HttpResponse(status, dict(reply_headers), body)

    def set_responder(self, responder: Responder) -> None:
        """Answer later requests with ``responder(request)``."""
        self._responder = responder

    @property
    def requests(self) -> list[Request]:
        """A copy of the requests recorded so far, in order."""
        with self._cond:
            return list(self._requests)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Request]:
        """Wait until at least ``n`` requests were sent and return them all."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._requests) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"expected {n} requests within {timeout} s, got {len(self._requests)}"
                    )
                self._cond.wait(left)
            return list(self._requests)
