"""The telemetry endpoint: a threaded HTTP server on 127.0.0.1 going through the phases."""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import orjson

from .settings import LOOPBACK, MODES, WORKER_HEADER

#: nginx's answer to a body over ``client_max_body_size`` (its built-in error page).
TOO_LARGE_PAGE = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n"
    b"<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real ingest service
    server: _Server

    def version_string(self) -> str:
        """``Server: nginx`` behind the proxy, like the answers a client would see there."""
        return "nginx" if self.server.endpoint.body_limit else super().version_string()

    def setup(self) -> None:
        super().setup()
        self.server.endpoint.connected(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.endpoint.disconnected(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the replay reads counters, not access logs."""

    def do_POST(self) -> None:
        endpoint = self.server.endpoint
        length = int(self.headers.get("Content-Length") or 0)
        try:
            worker = int(self.headers.get(WORKER_HEADER, "-1"))
        except ValueError:
            worker = -1
        if endpoint.body_limit and length > endpoint.body_limit:
            self._too_large(worker, length)
            return
        try:
            raw = self.rfile.read(length)
        except OSError:
            raw = b""
        if len(raw) < length:  # the client gave up while sending
            endpoint.count("incomplete")
            self.close_connection = True
            return
        mode, hole = endpoint.arrive(worker, len(raw))
        if mode == "black_hole":
            hole.wait()  # set when the phase ends or the endpoint closes
            endpoint.leave_hole()
            self.close_connection = True  # closed without an answer
            return
        status = 503
        try:
            if mode == "healthy":
                body = raw
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(raw)
                status = endpoint.deliver(body)
        finally:
            endpoint.answering(worker)
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()
        except OSError:  # the client timed out first
            endpoint.count("answer_lost")
            self.close_connection = True

    def _too_large(self, worker: int, length: int) -> None:
        """nginx with ``client_max_body_size``: a body over the limit is refused unread.

        nginx decides on the request's ``Content-Length``, before it forwards anything
        (so in every phase: the proxy is up while the backend behind it fails), answers
        413 with its error page and ``Connection: close``, then reads and discards the
        body (its "lingering close") so that the client, still sending, gets the answer
        instead of a reset. Nothing the request carried is recorded.
        """
        endpoint = self.server.endpoint
        endpoint.arrive(worker, length, too_large=True)
        try:
            self.send_response(413, "Request Entity Too Large")
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(TOO_LARGE_PAGE)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(TOO_LARGE_PAGE)
            self.wfile.flush()
        except OSError:
            endpoint.count("answer_lost")
        finally:
            endpoint.answering(worker)
        self.close_connection = True
        left = length
        try:
            while left > 0:
                chunk = self.rfile.read(min(left, 256 * 1024))
                if not chunk:
                    break
                left -= len(chunk)
        except OSError:
            pass
        if left:
            endpoint.count("incomplete")


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined by server_close()
    block_on_close = True
    endpoint: Endpoint

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002
        """Count instead of printing a traceback."""
        self.endpoint.count("handler_errors")


@dataclass
class _WorkerView:
    """What the endpoint saw of one worker's events."""

    seen: bytearray = field(default_factory=bytearray)  # receipts per rid (saturating)
    received: int = 0
    duplicates: int = 0
    max_rid: int = -1
    inflight: int = 0
    max_inflight: int = 0
    too_large: int = 0  # requests the proxy refused (413)
    first_after_recovery: float | None = None  # seconds after recovery started
    backlog_drained: float | None = None  # last arrival of an event logged before recovery
    max_lag: float = 0.0  # max over arrivals after recovery of arrival - max(t, recovery)
    last_before: int = -1  # the highest rid received that was logged before recovery

    def received_after(self) -> int:
        """Events received whose rid is above ``last_before`` (logged after recovery, or in
        the gap just before it: counting the gap as "after" makes the loss an upper bound)."""
        seen = self.seen
        return len(seen) - (self.last_before + 1) - seen.count(0, self.last_before + 1)

    def missing(self, logged: int, most: int = 1000) -> list[tuple[int, int]]:
        """The request ids below ``logged`` never received, as (first, last) ranges (at
        most ``most`` of them): where the events counted dropped or lost were."""
        seen = self.seen
        ranges: list[tuple[int, int]] = []
        rid = 0
        while rid < logged and len(ranges) < most:
            first = seen.find(0, rid, logged) if rid < len(seen) else rid
            if first < 0:
                first = len(seen) if len(seen) < logged else -1
            if first < 0 or first >= logged:
                break
            end = first
            while end + 1 < logged and (end + 1 >= len(seen) or not seen[end + 1]):
                end += 1
            ranges.append((first, end))
            rid = end + 1
        return ranges


class Endpoint:
    """The loopback telemetry endpoint: healthy, 503 or black hole; records every event id."""

    def __init__(self, workers: int, body_limit: int = 0) -> None:
        self.body_limit = body_limit  # the proxy's client_max_body_size (0: no proxy)
        self._lock = threading.Lock()
        self._mode = "healthy"
        self._phase = "healthy"
        self._hole = threading.Event()
        self._t0: float | None = None
        self._recovered: float | None = None
        self.workers = [_WorkerView() for _ in range(workers)]
        self.series: dict[int, dict[str, int]] = {}  # second -> counters
        self.phases: dict[str, dict[str, float]] = {}
        self.counters: dict[str, int] = {}
        self._live: set[socket.socket] = set()
        self.held = 0
        self.max_held = 0
        self.connections = 0
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.endpoint = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="endpoint", daemon=True
        )
        self._thread.start()
        self.threads_left = -1
        self.sockets_left = -1

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/ingest"

    def start(self, t0: float) -> None:
        with self._lock:
            self._t0 = t0

    def enter(self, phase: str, mode: str, now: float) -> None:
        """Switch phase; leaving a black hole closes the requests it held, unanswered."""
        with self._lock:
            previous = self._mode
            self._mode, self._phase = mode, phase
            hole = self._hole
            if mode == "black_hole":
                self._hole = threading.Event()
            if phase == "recovery":
                self._recovered = now
            self.phases.setdefault(phase, {})
        if previous == "black_hole":
            hole.set()

    # -- called by handler threads
    def connected(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._live.add(sock)

    def disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.discard(sock)

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + 1

    def _bump(self, now: float, key: str, n: float = 1) -> None:
        """Add to this second's and this phase's counters (lock held)."""
        second = int(now - self._t0) if self._t0 is not None else -1
        row = self.series.setdefault(second, {})
        row[key] = row.get(key, 0) + int(n)
        phase = self.phases.setdefault(self._phase, {})
        phase[key] = phase.get(key, 0) + n

    def arrive(
        self, worker: int, wire_bytes: int, *, too_large: bool = False
    ) -> tuple[str, threading.Event]:
        """Count a request; return the mode it meets (and the hole to wait on).

        A request the proxy refuses (``too_large``) is counted on its headers; any other
        once its body is read.
        """
        now = time.monotonic()
        with self._lock:
            mode = self._mode if self._mode in MODES else "503"  # closing: turn it away
            if too_large:
                mode = "too_large"
            outcome = {"healthy": "ok", "503": "503", "black_hole": "held", "too_large": "413"}[
                mode
            ]
            self._bump(now, outcome)
            self._bump(now, "wire_bytes", wire_bytes)
            if too_large and 0 <= worker < len(self.workers):
                self.workers[worker].too_large += 1
            if mode == "black_hole":
                self.held += 1
                self.max_held = max(self.max_held, self.held)
            elif 0 <= worker < len(self.workers):
                view = self.workers[worker]
                view.inflight += 1
                view.max_inflight = max(view.max_inflight, view.inflight)
            return mode, self._hole

    def leave_hole(self) -> None:
        with self._lock:
            self.held -= 1

    def answering(self, worker: int) -> None:
        """The answer is about to be written: the request is no longer in flight."""
        with self._lock:
            if 0 <= worker < len(self.workers):
                self.workers[worker].inflight -= 1

    def deliver(self, body: bytes) -> int:
        """Record the events of a request answered 200; the status to answer."""
        try:
            events = [orjson.loads(line) for line in body.split(b"\n") if line]
            ids = [(int(e["w"]), int(e["rid"]), float(e["t"])) for e in events]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.count("bad_requests")
            return 400
        now = time.monotonic()
        with self._lock:
            recovered = self._recovered
            phase = self.phases.setdefault(self._phase, {})
            for w, rid, t in ids:
                if not 0 <= w < len(self.workers) or rid < 0:
                    self.counters["foreign_events"] = self.counters.get("foreign_events", 0) + 1
                    continue
                view = self.workers[w]
                seen = view.seen
                if rid >= len(seen):
                    seen.extend(bytes(rid + 1 - len(seen) + 4096))
                if seen[rid]:
                    view.duplicates += 1
                    seen[rid] = min(255, seen[rid] + 1)
                else:
                    seen[rid] = 1
                    view.received += 1
                view.max_rid = max(view.max_rid, rid)
                if recovered is None or t < recovered:
                    view.last_before = max(view.last_before, rid)
                latency = now - t
                phase["max_latency"] = max(phase.get("max_latency", 0.0), latency)
                if recovered is not None and now >= recovered:
                    since = now - recovered
                    if view.first_after_recovery is None:
                        view.first_after_recovery = since
                    view.max_lag = max(view.max_lag, now - max(t, recovered))
                    if t < recovered:
                        view.backlog_drained = max(view.backlog_drained or 0.0, since)
            self._bump(now, "events", len(ids))
        return 200

    # -- end
    def close(self) -> None:
        """Release held requests, stop serving, close every socket and join every thread."""
        with self._lock:
            self._mode = "closing"
            hole = self._hole
            live = list(self._live)
        hole.set()
        self._server.shutdown()
        for sock in live:  # wake handlers parked on idle keep-alive connections
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the handler threads
        self._thread.join(5)
        with self._lock:
            self.sockets_left = len(self._live)
        self.threads_left = sum(
            1
            for t in threading.enumerate()
            if "process_request" in t.name or (t is self._thread and t.is_alive())
        )
