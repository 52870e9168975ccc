"""HttpTransport (``nglogger._delivery.http``) against real loopback servers: failures come back as values.

Every test sends real POSTs over 127.0.0.1 to :class:`ScriptedServer`, a tiny
HTTP/1.1 server whose answers are raw bytes chosen per request (so it can answer
garbage, stall, stream megabytes or close early), sometimes through
:class:`support.faultproxy.FaultProxy` for network faults. No TLS: there are no
certificates here. Nothing sleeps bare; servers wait on their stop Event.
"""

from __future__ import annotations

import calendar
import socket
import socketserver
import threading
import tracemalloc
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from http import HTTPStatus
from typing import Any

import pytest
from support.faultproxy import FaultProxy

from nglogger._delivery.http import HttpResponse, HttpTransport
from nglogger._delivery.retry import AttemptKind, RetryPolicy

LOOPBACK = "127.0.0.1"
KiB = 1024
MiB = 1024 * KiB
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 0.5  # short enough to test, long enough for a loaded 2-core machine


# ---------------------------------------------------------------------- server
@dataclass(frozen=True)
class Request:
    """One complete request as the server read it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    connection: int  # 1-based index of the TCP connection it came on


@dataclass(frozen=True)
class Answer:
    """Raw bytes to write back, after ``delay`` seconds; ``close`` ends the connection."""

    chunks: Iterable[bytes] = ()
    delay: float = 0.0
    close: bool = False


def response(
    status: int = 200, body: bytes = b"", headers: Iterable[tuple[str, str]] = ()
) -> Answer:
    """A well-formed keep-alive HTTP/1.1 response with a Content-Length."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers]
    head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    return Answer((head, body))


Script = Callable[[Request], Answer]


class _Handler(socketserver.StreamRequestHandler):
    server: _TCPServer

    def setup(self) -> None:
        super().setup()
        self.index = self.server.owner._connected(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass
        finally:
            self.server.owner._disconnected(self.connection)

    def handle(self) -> None:
        owner = self.server.owner
        try:
            while not owner.stop.is_set():
                request = self._read_request()
                if request is None:
                    return
                answer = owner._answer(request)
                if answer.delay and owner.stop.wait(answer.delay):
                    return
                for chunk in answer.chunks:
                    self.wfile.write(chunk)
                self.wfile.flush()
                if answer.close:
                    return
        except OSError:  # the client went away (timeout, reset, oversize body dropped)
            return

    def _read_request(self) -> Request | None:
        line = self.rfile.readline(65537)
        if not line:
            return None
        method, path, _ = line.decode("latin-1").split(" ", 2)
        headers: dict[str, str] = {}
        while True:
            raw = self.rfile.readline(65537)
            if raw in (b"\r\n", b"\n", b""):
                break
            name, _, value = raw.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        body = self.rfile.read(length)
        if len(body) < length:
            self.server.owner._truncated()
            return None
        return Request(method, path, headers, body, self.index)


class _TCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = False
    block_on_close = True
    allow_reuse_address = True
    owner: ScriptedServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        self.owner.errors += 1


@dataclass
class ScriptedServer:
    """A loopback HTTP server: ``script(request) -> Answer``; counts connections exactly."""

    script: Script
    stop: threading.Event = field(default_factory=threading.Event)
    requests: list[Request] = field(default_factory=list)
    connections: int = 0
    truncated: int = 0
    errors: int = 0

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._server = _TCPServer((LOOPBACK, 0), _Handler)
        self._server.owner = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="scripted-server", daemon=True
        )
        self._thread.start()

    def url(self, path: str = "/") -> str:
        return f"http://{LOOPBACK}:{self.port}{path}"

    def _connected(self, sock: socket.socket) -> int:
        with self._lock:
            self.connections += 1
            self._live.add(sock)
            return self.connections

    def _disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.discard(sock)

    def _truncated(self) -> None:
        with self._lock:
            self.truncated += 1

    def _answer(self, request: Request) -> Answer:
        with self._lock:
            self.requests.append(request)
        return self.script(request)

    def close(self) -> None:
        self.stop.set()
        self._server.shutdown()
        with self._lock:
            live = list(self._live)
        for sock in live:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self._server.server_close()
        self._thread.join(5)


@pytest.fixture
def serve() -> Iterator[Callable[[Script], ScriptedServer]]:
    """Start scripted servers for a test; every one is closed (and joined) afterwards."""
    servers: list[ScriptedServer] = []

    def start(script: Script) -> ScriptedServer:
        server = ScriptedServer(script)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    assert [s.errors for s in servers] == [0] * len(servers)


@pytest.fixture
def transport() -> Iterator[HttpTransport]:
    t = HttpTransport(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
    yield t
    t.close()


@pytest.fixture
def proxied() -> Iterator[Callable[[ScriptedServer], FaultProxy]]:
    """Put a FaultProxy in front of a server; closed (and checked) afterwards."""
    proxies: list[FaultProxy] = []

    def start(server: ScriptedServer) -> FaultProxy:
        proxy = FaultProxy(server.port).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()
    assert [p.errors for p in proxies] == [[]] * len(proxies)


def ok(_request: Request) -> Answer:
    return response(200, b'{"ok":true}', [("Content-Type", "application/json")])


def post(transport: HttpTransport, url: str, body: bytes = b'{"e":1}\n') -> HttpResponse:
    return transport.send(url, body, {"Content-Type": "application/x-ndjson"})


# ----------------------------------------------------------------- the basics
def test_a_2xx_comes_back_with_status_body_and_no_error(
    serve: Callable[[Script], ScriptedServer], transport: HttpTransport
) -> None:
    """A 2xx returns its status, the headers sinks need and the body, with no error kind."""
    server = serve(ok)
    result = post(transport, server.url("/ingest"), b'{"a":1}\n{"b":2}\n')
    assert (result.status, result.error_kind, result.error) == (200, None, "")
    assert result.body == b'{"ok":true}'
    assert result.headers == {"content-type": "application/json"}
    (request,) = server.requests
    assert (request.method, request.path, request.body) == (
        "POST",
        "/ingest",
        b'{"a":1}\n{"b":2}\n',
    )
    assert request.headers["content-type"] == "application/x-ndjson"
    assert request.headers["user-agent"] == "nglogger"


def test_keep_alive_sends_many_requests_on_one_connection(
    serve: Callable[[Script], ScriptedServer], transport: HttpTransport
) -> None:
    """Successive requests, error statuses included, reuse one pooled TCP connection."""
    statuses = iter([200, 503, 429, 200, 400, 200] * 5)
    server = serve(lambda _r: response(next(statuses)))
    seen = [post(transport, server.url()).status for _ in range(30)]
    assert seen == [200, 503, 429, 200, 400, 200] * 5
    assert server.connections == 1
    assert {r.connection for r in server.requests} == {1}


def test_retry_after_is_surfaced_in_both_forms(
    serve: Callable[[Script], ScriptedServer], transport: HttpTransport
) -> None:
    """Retry-After reaches the retry policy, as delta-seconds and as an HTTP-date."""
    now = calendar.timegm((2026, 11, 26, 12, 0, 0, 0, 0, 0))
    answers = iter(
        [
            response(429, headers=[("Retry-After", "7")]),
            response(503, headers=[("Retry-After", formatdate(now + 42, usegmt=True))]),
        ]
    )
    server = serve(lambda _r: next(answers))
    policy = RetryPolicy()
    delta = post(transport, server.url())
    date = post(transport, server.url())
    assert delta.headers["retry-after"] == "7"
    assert delta.attempt(policy).retry_after == 7.0
    assert delta.attempt(policy).kind is AttemptKind.RETRYABLE_STATUS
    assert date.status == 503
    assert date.attempt(policy, now_epoch=now).retry_after == 42.0


# ----------------------------------------------------------------- timeouts
def test_a_server_slower_than_the_read_timeout_gives_a_timeout_value(
    serve: Callable[[Script], ScriptedServer], transport: HttpTransport
) -> None:
    """A response slower than the read timeout comes back as TIMEOUT after about that timeout."""
    server = serve(lambda _r: Answer(response(200).chunks, delay=10.0))
    result = post(transport, server.url())
    assert (result.status, result.error_kind) == (None, AttemptKind.TIMEOUT)
    assert READ_TIMEOUT <= result.elapsed < READ_TIMEOUT + 0.5
    assert len(server.requests) == 1  # it did arrive: only the answer was late


def test_a_black_hole_gives_a_timeout_value(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """A peer that accepts and never answers costs one read timeout, returned as TIMEOUT."""
    server = serve(ok)
    proxy = proxied(server)
    proxy.black_hole()
    result = post(transport, proxy.url())
    assert (result.status, result.error_kind) == (None, AttemptKind.TIMEOUT)
    assert READ_TIMEOUT <= result.elapsed < READ_TIMEOUT + 0.5
    assert server.requests == []
    assert proxy.stats().discarded > 0


def test_latency_beyond_the_read_timeout_gives_a_timeout_value(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """Network latency longer than the read timeout comes back as TIMEOUT, not an exception."""
    server = serve(ok)
    proxy = proxied(server)
    proxy.latency(2.0)
    result = post(transport, proxy.url())
    assert (result.status, result.error_kind) == (None, AttemptKind.TIMEOUT)
    assert result.elapsed < READ_TIMEOUT + 0.5
    proxy.latency(0.01)  # well below the timeout: delivered
    assert post(transport, proxy.url()).status == 200


def test_a_trickling_response_is_cut_at_a_total_deadline(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """An attempt lasts at most about connect + read timeout, even when bytes trickle in."""
    server = serve(lambda _r: response(200, b"z" * 2_500))
    proxy = proxied(server)
    proxy.bandwidth(1_000)  # every recv() gets a few bytes well within the read timeout
    result = post(transport, proxy.url())
    # the last read may wait for one more trickled chunk: a small scheduling slack
    assert result.elapsed < CONNECT_TIMEOUT + READ_TIMEOUT + 0.25, result.elapsed
    assert result.status == 200  # judged by its status line, not resent as a timeout


# ------------------------------------------------------- connection failures
def test_connection_refused_is_returned_quickly_as_a_value(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """A refused connection returns at once, with no status and an error text, never raising."""
    proxy = proxied(serve(ok))
    assert post(transport, proxy.url()).status == 200
    proxy.refuse()
    result = post(transport, proxy.url())
    assert result.status is None
    assert result.error_kind is not None
    assert "refused" in result.error.lower()
    assert result.elapsed < CONNECT_TIMEOUT / 2  # it was refused, not slow
    proxy.pass_through()
    assert post(transport, proxy.url()).status == 200


def test_connection_refused_is_classified_as_a_connection_error(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """A refused connection is a CONNECTION_ERROR (so retry_on_connection_error governs it)."""
    proxy = proxied(serve(ok))
    proxy.refuse()
    assert post(transport, proxy.url()).error_kind is AttemptKind.CONNECTION_ERROR


def test_a_reset_in_the_middle_of_the_request_body_is_a_connection_error(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """An RST while the request body is on the wire returns CONNECTION_ERROR; the server got nothing whole."""
    server = serve(ok)
    proxy = proxied(server)
    proxy.reset(after_bytes=1_000, direction="request")
    result = post(transport, proxy.url(), b"e" * (256 * KiB))
    assert (result.status, result.error_kind) == (None, AttemptKind.CONNECTION_ERROR)
    assert proxy.wait_for(lambda s: s.resets >= 1 and s.active == 0, 2.0)
    assert server.requests == []
    proxy.pass_through()
    assert post(transport, proxy.url()).status == 200  # the pool recovers by itself


def test_a_reset_before_the_status_line_is_a_connection_error(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """An RST in the middle of the response head returns CONNECTION_ERROR, never an exception."""
    server = serve(ok)
    proxy = proxied(server)
    proxy.reset(after_bytes=10, direction="response")
    result = post(transport, proxy.url())
    assert (result.status, result.error_kind) == (None, AttemptKind.CONNECTION_ERROR)
    assert len(server.requests) == 1


def test_a_reset_in_the_middle_of_the_response_body_keeps_the_status(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """An RST after the status line keeps the status and headers the server did send."""
    server = serve(lambda _r: response(503, b"b" * 10_000, [("Retry-After", "3")]))
    proxy = proxied(server)
    proxy.reset(after_bytes=200, direction="response")
    result = post(transport, proxy.url())
    assert result.status == 503
    assert result.headers["retry-after"] == "3"
    assert len(result.body) < 10_000


def test_protocol_garbage_is_returned_as_a_value(
    serve: Callable[[Script], ScriptedServer], transport: HttpTransport
) -> None:
    """A server answering non-HTTP bytes yields an error value with no status, never an exception."""
    server = serve(lambda _r: Answer((b"SSH-2.0-OpenSSH_9.6\r\n\r\n",), close=True))
    result = post(transport, server.url())
    assert result.status is None
    assert result.error_kind is not None
    assert "BadStatusLine" in result.error


def test_protocol_garbage_is_classified_as_a_protocol_error(
    serve: Callable[[Script], ScriptedServer], transport: HttpTransport
) -> None:
    """A response that is not HTTP is a PROTOCOL_ERROR, which no policy retries."""
    server = serve(lambda _r: Answer((b"SSH-2.0-OpenSSH_9.6\r\n\r\n",), close=True))
    assert post(transport, server.url()).error_kind is AttemptKind.PROTOCOL_ERROR


def test_a_2xx_whose_body_stalls_keeps_its_status(
    serve: Callable[[Script], ScriptedServer],
    proxied: Callable[[ScriptedServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """A 2xx stays a success when its body (delimited by close) stalls: the server accepted it."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{}"
    server = serve(lambda _r: Answer((head,), close=True))
    proxy = proxied(server)
    proxy.slow_close(2.0)  # the body ends at close, which comes after the read timeout
    result = post(transport, proxy.url())
    assert (result.status, result.error_kind) == (200, None)


# ------------------------------------------------------------ bounded bodies
def _stream(head: bytes, block: bytes, total: int) -> Iterator[bytes]:
    """Yield ``head`` then ``block`` repeatedly up to ``total`` bytes (a few KiB in memory)."""
    yield head
    for _ in range(total // len(block)):
        yield block


def test_an_oversize_body_is_cut_at_max_response_bytes_and_the_connection_dropped(
    serve: Callable[[Script], ScriptedServer],
) -> None:
    """A 64 MiB response costs max_response_bytes of memory; its connection is closed, not drained."""
    block = b"z" * (64 * KiB)
    total = 64 * MiB
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode()
    bodies = iter([_stream(head, block, total), response(200, b"small").chunks])
    server = serve(lambda _r: Answer(next(bodies)))
    transport = HttpTransport(connect_timeout=0.5, read_timeout=1.0, max_response_bytes=4 * KiB)
    try:
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            big = post(transport, server.url())
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        small = post(transport, server.url())
    finally:
        transport.close()
    assert (big.status, big.error_kind, len(big.body)) == (200, None, 4 * KiB)
    assert peak < 1 * MiB, peak
    assert big.elapsed < 1.0
    assert small.body == b"small"
    assert server.connections == 2  # the oversize response's connection was dropped


def test_an_endless_chunked_body_is_cut_at_max_response_bytes(
    serve: Callable[[Script], ScriptedServer], transport: HttpTransport
) -> None:
    """A chunked body that never ends is read only up to max_response_bytes (64 KiB default)."""
    block = b"%x\r\n" % (64 * KiB) + b"c" * (64 * KiB) + b"\r\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    server = serve(lambda _r: Answer(_stream(head, block, 1024 * len(block))))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = post(transport, server.url())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.status, len(result.body)) == (200, 64 * KiB)
    assert peak < 2 * MiB, peak


def test_a_gzip_bomb_response_is_bounded_after_decompression(
    serve: Callable[[Script], ScriptedServer], transport: HttpTransport
) -> None:
    """A gzip body inflating to 128 MiB is decoded only up to max_response_bytes."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    zeros = bytes(MiB)
    bomb = b"".join([packer.compress(zeros) for _ in range(128)] + [packer.flush()])
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n\r\n"
    ).encode()
    server = serve(lambda _r: Answer((head, bomb)))
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = post(transport, server.url())
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert (result.status, result.body) == (200, bytes(64 * KiB))
    assert peak < 4 * MiB, peak
