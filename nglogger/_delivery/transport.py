"""The transport seam: how an HTTP sink sends one request, and an in-memory transport.

A :class:`Transport` POSTs one body and returns an :class:`HttpResponse` value:
it never raises for network trouble (a failure is a response with no status
and an ``error_kind``). ``close`` interrupts a request in flight;
``after_fork`` drops what a forked child must not share (sockets).

Two implementations ship: ``nglogger._delivery.http.HttpTransport`` (urllib3: pooling,
timeouts, TLS) and :class:`MockTransport`, which hands each request to a plain
function, as httpx's ``MockTransport`` does, so a sink's encoding, retries and
accounting can be tested without a socket::

    def handler(request: Request) -> HttpResponse:
        return HttpResponse(503 if len(request.content()) > 1000 else 200)

    sink = HttpSink("http://logs.invalid/ingest", transport=MockTransport(handler))
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .retry import AttemptKind, AttemptResult, RetryPolicy, parse_retry_after

__all__ = ["HttpResponse", "MockTransport", "Request", "Transport"]

_MAX_ERROR = 200


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One attempt's result. ``status`` is None when no response arrived.

    ``headers`` has lower-case names (only those the sinks read are kept);
    ``body`` is bounded by the transport (64 KiB by default).
    """

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error_kind: AttemptKind | None = None
    error: str = ""
    elapsed: float = 0.0

    def attempt(self, policy: RetryPolicy, now_epoch: float | None = None) -> AttemptResult:
        """This response as the retry policy's value (Retry-After parsed)."""
        kind = policy.classify(self.status, self.error_kind)
        retry_after = None
        header = self.headers.get("retry-after")
        if header is not None:
            retry_after = parse_retry_after(header, time.time() if now_epoch is None else now_epoch)
        return AttemptResult(self.status, kind, retry_after, self.error)


@runtime_checkable
class Transport(Protocol):
    """What an HTTP sink needs to deliver a request (thread-safe)."""

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """POST ``body`` to ``url``; failures come back as values."""
        ...

    def close(self) -> None:
        """Abort a request in flight and release connections (idempotent)."""
        ...

    def after_fork(self) -> None:
        """In a forked child: forget the parent's connections."""
        ...


@dataclass(frozen=True, slots=True)
class Request:
    """One request as a sink sent it: ``body`` as on the wire (gzip when compressed)."""

    url: str
    body: bytes
    headers: Mapping[str, str]

    def header(self, name: str) -> str | None:
        """A header by name, ignoring case."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None

    def content(self) -> bytes:
        """The body, decompressed when ``Content-Encoding: gzip``."""
        if (self.header("content-encoding") or "").lower() == "gzip":
            import gzip  # tests only: not loaded by ``import nglogger``

            return gzip.decompress(self.body)
        return self.body


Handler = Callable[[Request], HttpResponse]


def _accept(_request: Request) -> HttpResponse:
    return HttpResponse(200)


class MockTransport:
    """An in-memory transport: every request goes to ``handler``, nothing to the network.

    The handler's response is returned with its header names lower-cased (as
    the real transport does); an exception raised by the handler becomes a
    connection error, like a reset connection. After ``close`` every request
    fails as a connection error. ``requests`` keeps the requests sent, in order.

    Worst-case footprint: every request body sent (tests only).
    """

    def __init__(self, handler: Handler = _accept) -> None:
        self.handler = handler
        self.requests: list[Request] = []
        self.closed = False
        self._lock = threading.Lock()

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """Hand the request to the handler; failures come back as values."""
        request = Request(url, bytes(body), dict(headers))
        started = time.monotonic()
        with self._lock:
            self.requests.append(request)
            closed = self.closed
        if closed:
            return HttpResponse(None, {}, b"", AttemptKind.CONNECTION_ERROR, "transport closed")
        try:
            response = self.handler(request)
        except Exception as exc:
            text = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
            return HttpResponse(None, {}, b"", AttemptKind.CONNECTION_ERROR, text)
        headers_kept = {k.lower(): v for k, v in response.headers.items()}
        return HttpResponse(
            response.status,
            headers_kept,
            response.body,
            response.error_kind,
            response.error,
            response.elapsed or time.monotonic() - started,
        )

    def close(self) -> None:
        """Later requests fail as connection errors."""
        with self._lock:
            self.closed = True

    def after_fork(self) -> None:
        """A forked child starts with no recorded requests."""
        self._lock = threading.Lock()
        self.requests = []
