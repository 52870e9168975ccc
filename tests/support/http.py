"""A loopback HTTP server for tests: records every request, answers what the test says.

``RecordingServer`` binds ``127.0.0.1`` on a free port (port 0) and never
anything else. Each request is served on its own daemon thread and recorded as
a :class:`Request` (method, path with query, lower-cased headers, body with
``Content-Encoding: gzip`` undone). The answer comes from a responder, a plain
function ``request -> (status, headers, body)``; the default answers ``200``
with an empty body. A responder may block (a slow or black-hole server) or
return ``None`` to drop the connection with a TCP reset instead of answering.

    with RecordingServer() as server:
        server.set_responder(lambda request: (202, {}, b"{}"))
        ...                                   # point a sink at server.url
        [request] = server.wait_for(1, timeout=5)
        assert request.json() == [...]

Closing the server (leaving the ``with`` block) stops accepting connections,
closes the listening socket and sets :attr:`RecordingServer.closing`, which a
blocking responder should wait on so that its thread ends promptly.
"""

from __future__ import annotations

import gzip
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

__all__ = ["RecordingServer", "Reply", "Request", "Responder"]

Reply = tuple[int, Mapping[str, str], bytes]
Responder = Callable[["Request"], "Reply | None"]


@dataclass(frozen=True)
class Request:
    """One recorded request. ``headers`` keys are lower-case; ``body`` is decompressed."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes
    wire_bytes: int
    """Length of the body as it travelled (compressed size when gzipped)."""

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

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        """Silence the default stderr access log."""

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _handle(self) -> None:
        raw = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        body = gzip.decompress(raw) if headers.get("content-encoding") == "gzip" else raw
        request = Request(self.command, self.path, headers, body, len(raw))
        self.server.record(request)
        reply = self.server.responder(request)
        if reply is None:
            self._reset()
            return
        status, reply_headers, reply_body = reply
        self.send_response(status)
        for name, value in reply_headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(reply_body)))
        self.end_headers()
        self.wfile.write(reply_body)

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
    daemon_threads = True
    block_on_close = False

    def __init__(self, owner: RecordingServer) -> None:
        self.owner = owner
        super().__init__(("127.0.0.1", 0), _Handler)

    def record(self, request: Request) -> None:
        self.owner._record(request)

    @property
    def responder(self) -> Responder:
        return self.owner._responder


class RecordingServer:
    """A threaded HTTP server on 127.0.0.1 that records requests; use as a context manager."""

    def __init__(self, responder: Responder | None = None) -> None:
        self._responder: Responder = responder or _ok
        self._cond = threading.Condition()
        self._requests: list[Request] = []
        self.closing = threading.Event()
        """Set when the server closes: blocking responders should wait on it."""
        self._server = _Server(self)
        port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{port}"
        """Base URL, e.g. ``http://127.0.0.1:40123`` (no trailing slash)."""
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="recording-server",
            daemon=True,
        )
        self._thread.start()

    def set_responder(self, responder: Responder) -> None:
        """Answer later requests with ``responder(request) -> (status, headers, body) | None``."""
        self._responder = responder

    @property
    def requests(self) -> list[Request]:
        """A copy of the requests recorded so far, in arrival order."""
        with self._cond:
            return list(self._requests)

    def wait_for(self, n: int, timeout: float = 5.0) -> list[Request]:
        """Wait until at least ``n`` requests arrived and return them all; fail after ``timeout``."""
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

    def _record(self, request: Request) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def close(self) -> None:
        """Stop serving and close the listening socket (idempotent)."""
        if self.closing.is_set():
            return
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> RecordingServer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
