"""The one loopback HTTP server of the tests: records every request, answers what the test says.

``LoopbackServer`` binds ``127.0.0.1`` on a free port (port 0) and never anything
else. Each connection is served on its own thread (HTTP/1.1 keep-alive, like the
real services) and each complete request is recorded as a :class:`Request`
(method, path with query, lower-cased headers, body with ``Content-Encoding:
gzip`` undone, its size on the wire, its arrival time). The answer comes from a
responder, a plain function ``request -> Reply | Answer | Raw | None``; the default
answers ``200`` with an empty body. ``None`` drops the connection with a TCP
reset instead of answering; an :class:`Answer` can also wait before answering
(``delay``), stall in the middle of its body (``stall``) or end its body by
closing the connection (``close_delimited``); :class:`Raw` writes bytes as they
are (garbage, a hand-made head, an endless stream). A responder may block (a black
hole): it should wait on :attr:`LoopbackServer.closing`. ``server.transport`` is
a new ``HttpTransport`` (urllib3), as ``InMemoryServer.transport`` is a new
``MockTransport``: a test written against either runs on both.

    with LoopbackServer() as server:
        server.set_responder(lambda request: (202, {}, b"{}"))
        ...                                   # point a sink at server.url
        [request] = server.wait_for(1, timeout=5)
        assert request.json() == [...]

The server also counts what fault tests read: connections accepted, requests cut
short (``incomplete``, never answered nor recorded), handler errors (an exception
in a responder is counted, not printed), and the most requests in flight at once
(``max_inflight``; ``max_inflight_ok`` over those answered 2xx), a request being in
flight from its arrival until its answer starts. Closing it (leaving the ``with``
block) sets :attr:`closing`, stops accepting, wakes handlers parked on idle
keep-alive connections and, with ``join_handlers=True``, waits for them.
"""

from __future__ import annotations

import dataclasses
import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from nglogger._delivery.http import HttpTransport

__all__ = [
    "LOOPBACK",
    "Answer",
    "LoopbackServer",
    "Raw",
    "RecordingServer",
    "Reply",
    "Request",
    "Responder",
]

LOOPBACK = "127.0.0.1"

Reply = tuple[int, Mapping[str, str], bytes]
Responder = Callable[["Request"], "Reply | Answer | Raw | None"]


@dataclass(frozen=True)
class Answer:
    """How the server answers one request, when a plain ``(status, headers, body)`` is not enough."""

    status: int = 200
    headers: Mapping[str, str] | Sequence[tuple[str, str]] = ()
    body: bytes = b""
    delay: float = 0.0  # seconds before answering (cut short when the server closes)
    stall: float = 0.0  # seconds to pause after the first byte of the body
    close_delimited: bool = False  # no Content-Length: the body ends when the connection closes

    def header_items(self) -> Sequence[tuple[str, str]]:
        return list(self.headers.items()) if isinstance(self.headers, Mapping) else self.headers


@dataclass(frozen=True)
class Raw:
    """Bytes written back exactly as given: no status line or header is added.

    ``chunks`` may be a generator (megabytes streamed without holding them);
    ``close`` ends the connection after the last chunk (else it stays keep-alive).
    """

    chunks: Iterable[bytes] = ()
    close: bool = False


@dataclass(frozen=True)
class Request:
    """One recorded request. ``headers`` keys are lower-case; ``body`` is decompressed."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    wire_bytes: int
    """Length of the body as it travelled (compressed size when gzipped)."""
    arrived: float = 0.0
    """``time.monotonic()`` when the whole request had arrived."""

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    def ndjson(self) -> list[Any]:
        """The body parsed as newline-delimited JSON (one document per line)."""
        return [json.loads(line) for line in self.body.splitlines() if line]


def _ok(_request: Request) -> Reply:
    return 200, {}, b""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like the real services
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.owner._connected(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._disconnected(self.connection)

    def handle_one_request(self) -> None:
        """A client resetting its connection while the next request is awaited is not an error.

        (It drops a connection it stopped reading from, an oversize body for one.)
        """
        try:
            super().handle_one_request()
        except ConnectionResetError:
            self.close_connection = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default stderr access log."""

    def _read_body(self) -> bytes | None:
        """The body, or None when the client (or a proxy) cut it short."""
        try:
            if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                chunks: list[bytes] = []
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        self.rfile.readline()
                        return b"".join(chunks)
                    chunks.append(self.rfile.read(size))
                    self.rfile.readline()
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
        except OSError:
            return None
        return raw if len(raw) == length else None

    def _handle(self) -> None:
        owner = self.server.owner
        raw = self._read_body()
        if raw is None:
            owner._incomplete()
            self.close_connection = True
            return
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        request = Request(self.command, self.path, headers, body, len(raw), time.monotonic())
        owner._record(request)
        reply = owner._responder(request)
        if reply is None:
            self._reset()
            return
        if isinstance(reply, Raw):
            self._write_raw(reply)
            return
        answer = reply if isinstance(reply, Answer) else Answer(reply[0], reply[1], reply[2])
        healthy = 200 <= answer.status < 300
        owner._arrived(healthy)
        try:
            if answer.delay:
                owner.closing.wait(answer.delay)
            owner._answering(healthy)  # before the client can see the answer
            self.send_response(answer.status)
            for name, value in answer.header_items():
                self.send_header(name, value)
            if answer.close_delimited:
                self.send_header("Connection", "close")
                self.close_connection = True
            elif answer.status != 204:
                self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            if answer.stall and answer.body:
                self.wfile.write(answer.body[:1])
                self.wfile.flush()
                owner.closing.wait(answer.stall)
                self.wfile.write(answer.body[1:])
            elif answer.status != 204:
                self.wfile.write(answer.body)
            self.wfile.flush()
        except OSError:  # the client gave up (timeout) before the answer
            self.close_connection = True

    def _write_raw(self, raw: Raw) -> None:
        owner = self.server.owner
        owner._arrived(False)
        owner._answering(False)
        try:
            for chunk in raw.chunks:
                self.wfile.write(chunk)
            self.wfile.flush()
        except OSError:  # the client went away (timeout, reset, an oversize body dropped)
            self.close_connection = True
            return
        if raw.close:
            self.close_connection = True

    def _reset(self) -> None:
        """Close with RST (SO_LINGER 0): the client sees a connection reset, not an answer."""
        self.close_connection = True
        try:
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass

    do_POST = _handle
    do_PUT = _handle
    do_GET = _handle


class _Server(ThreadingHTTPServer):
    def __init__(self, owner: LoopbackServer, *, join_handlers: bool) -> None:
        self.owner = owner
        self.daemon_threads = not join_handlers
        self.block_on_close = join_handlers
        super().__init__((LOOPBACK, 0), _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Count instead of printing a traceback (a reset client is part of the tests)."""
        self.owner._handler_error()


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 that records requests; use as a context manager."""

    def __init__(
        self,
        responder: Responder | None = None,
        *,
        join_handlers: bool = False,
        keep_bodies: bool = True,
    ) -> None:
        self._responder: Responder = responder or _ok
        self._cond = threading.Condition()
        self._requests: list[Request] = []
        self._keep_bodies = keep_bodies  # False: recorded requests drop their bodies
        self._live: set[socket.socket] = set()
        self._inflight = 0
        self._inflight_ok = 0
        self.connections = 0
        self.incomplete = 0
        self.handler_errors = 0
        self.max_inflight = 0
        self.max_inflight_ok = 0
        self.closing = threading.Event()
        """Set when the server closes: blocking responders should wait on it."""
        self._server = _Server(self, join_handlers=join_handlers)
        self.port: int = self._server.server_address[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        """Base URL, e.g. ``http://127.0.0.1:40123`` (no trailing slash)."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="loopback-server",
            daemon=True,
        )
        self._thread.start()

    @property
    def transport(self) -> HttpTransport:
        """A new urllib3 ``HttpTransport`` (default timeouts): ``InMemoryServer.transport``'s twin."""
        from nglogger._delivery.http import HttpTransport

        return HttpTransport()

    def set_responder(self, responder: Responder) -> None:
        """Answer later requests with ``responder(request)``."""
        self._responder = responder

    @property
    def requests(self) -> list[Request]:
        """A copy of the requests recorded so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Request]:
        """Wait until at least ``n`` requests arrived and return them all; fail after ``timeout``."""
        if not self.wait_until(lambda: len(self._requests) >= n, timeout):
            raise AssertionError(
                f"expected {n} requests within {timeout} s, got {len(self.requests)}"
            )
        return self.requests

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` holds (checked under the lock at every event)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def reset_concurrency(self) -> None:
        """Start counting ``max_inflight`` and ``max_inflight_ok`` afresh."""
        with self._cond:
            self.max_inflight = self._inflight
            self.max_inflight_ok = self._inflight_ok

    # ------------------------------------------------ called by handler threads
    def _notify(self) -> None:
        self._cond.notify_all()

    def _connected(self, sock: socket.socket) -> None:
        with self._cond:
            self.connections += 1
            self._live.add(sock)
            self._notify()

    def _disconnected(self, sock: socket.socket) -> None:
        with self._cond:
            self._live.discard(sock)
            self._notify()

    def _incomplete(self) -> None:
        with self._cond:
            self.incomplete += 1
            self._notify()

    def _handler_error(self) -> None:
        with self._cond:
            self.handler_errors += 1
            self._notify()

    def _record(self, request: Request) -> None:
        if not self._keep_bodies:
            request = dataclasses.replace(request, body=b"")
        with self._cond:
            self._requests.append(request)
            self._notify()

    def _arrived(self, healthy: bool) -> None:
        with self._cond:
            self._inflight += 1
            self.max_inflight = max(self.max_inflight, self._inflight)
            if healthy:
                self._inflight_ok += 1
                self.max_inflight_ok = max(self.max_inflight_ok, self._inflight_ok)
            self._notify()

    def _answering(self, healthy: bool) -> None:
        with self._cond:
            self._inflight -= 1
            if healthy:
                self._inflight_ok -= 1
            self._notify()

    # ------------------------------------------------------------------ close
    def close(self) -> None:
        """Stop serving, wake idle keep-alive handlers, close the socket (idempotent)."""
        if self.closing.is_set():
            return
        self.closing.set()
        self._server.shutdown()
        with self._cond:
            live = list(self._live)
        for sock in live:  # wake handlers parked on idle keep-alive connections
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> LoopbackServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


#: The name the tests have used for it (recording is what most of them need).
RecordingServer = LoopbackServer
