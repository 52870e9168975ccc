"""The transports: every answer and every failure comes back as a value, never raised.

What every :class:`~nglogger._delivery.transport.Transport` must do (a 2xx with its
body, each status as a value, Retry-After, a reset connection as a CONNECTION_ERROR) is
tested once, parametrized over :data:`support.transports.TRANSPORTS`: ``urllib3``
(``HttpTransport`` posting to :class:`support.http.LoopbackServer` on 127.0.0.1) and
``mock`` (``MockTransport`` in memory, which the sink tests rely on behaving the same).
The rest is ``HttpTransport`` on the wire: the loopback server answers with whatever
bytes the test chooses (:class:`support.http.Raw`: garbage, megabytes, a gzip
bomb), sometimes through :class:`support.faultproxy.FaultProxy` for network
faults. No TLS: there are no certificates here. Nothing sleeps bare.
"""

from __future__ import annotations

import calendar
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from email.utils import formatdate
from typing import Any, NamedTuple

import pytest
from support.faultproxy import FaultProxy
from support.http import Answer, LoopbackServer, Raw, Reply, Request, Responder
from support.transports import TRANSPORTS, Server, serving

from nglogger._delivery.http import HttpResponse, HttpTransport
from nglogger._delivery.retry import AttemptKind, RetryPolicy
from nglogger._delivery.transport import Transport

KiB = 1024
MiB = 1024 * KiB
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 0.5  # short enough to test, long enough for a loaded 2-core machine


@pytest.fixture
def serve() -> Iterator[Callable[[Responder], LoopbackServer]]:
    """Start loopback servers for a test; every one is closed (and joined) afterwards."""
    servers: list[LoopbackServer] = []

    def start(responder: Responder) -> LoopbackServer:
        server = LoopbackServer(responder, join_handlers=True)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.close()
    assert [s.handler_errors for s in servers] == [0] * len(servers)


@pytest.fixture
def transport() -> Iterator[HttpTransport]:
    t = HttpTransport(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
    yield t
    t.close()


@pytest.fixture
def proxied() -> Iterator[Callable[[LoopbackServer], FaultProxy]]:
    """Put a FaultProxy in front of a server; closed (and checked) afterwards."""
    proxies: list[FaultProxy] = []

    def start(server: LoopbackServer) -> FaultProxy:
        proxy = FaultProxy(server.port).start()
        proxies.append(proxy)
        return proxy

    yield start
    for proxy in proxies:
        proxy.close()
    assert [p.errors for p in proxies] == [[]] * len(proxies)


class Peer(NamedTuple):
    """A server and a transport that reaches it."""

    server: Server
    transport: Transport


@pytest.fixture(params=TRANSPORTS)
def peer(request: pytest.FixtureRequest) -> Iterator[Peer]:
    """Each transport with its server: HttpTransport over 127.0.0.1, MockTransport in memory."""
    with serving(request.param) as server:
        transport = server.transport
        try:
            yield Peer(server, transport)
        finally:
            transport.close()


def ok(_request: Request) -> Reply:
    return 200, {"Content-Type": "application/json"}, b'{"ok":true}'


def post(transport: Transport, url: str, body: bytes = b'{"e":1}\n') -> HttpResponse:
    return transport.send(url, body, {"Content-Type": "application/x-ndjson"})


# ------------------------------------------------- every transport, one body
def test_a_2xx_comes_back_with_status_body_and_no_error(peer: Peer) -> None:
    """A 2xx returns its status, the headers sinks need (lower-case) and the body, with no error."""
    server, transport = peer
    server.set_responder(ok)
    result = post(transport, f"{server.url}/ingest", b'{"a":1}\n{"b":2}\n')
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


def test_every_status_comes_back_as_a_value_and_redirects_are_not_followed(peer: Peer) -> None:
    """Error statuses are values with no error kind; a 301 is returned, not followed."""
    server, transport = peer
    statuses = [200, 204, 301, 400, 413, 429, 500, 503]
    answers = iter(statuses)
    server.set_responder(lambda _r: (next(answers), {"Location": "/elsewhere"}, b""))
    results = [post(transport, f"{server.url}/ingest") for _ in statuses]
    assert [(r.status, r.error_kind, r.error) for r in results] == [(s, None, "") for s in statuses]
    assert [r.path for r in server.requests] == ["/ingest"] * len(statuses)


def test_retry_after_is_surfaced_in_both_forms(peer: Peer) -> None:
    """Retry-After reaches the retry policy, as delta-seconds and as an HTTP-date."""
    server, transport = peer
    now = calendar.timegm((2026, 11, 26, 12, 0, 0, 0, 0, 0))
    answers = iter(
        [
            (429, {"Retry-After": "7"}, b""),
            (503, {"Retry-After": formatdate(now + 42, usegmt=True)}, b""),
        ]
    )
    server.set_responder(lambda _r: next(answers))
    policy = RetryPolicy()
    delta = post(transport, server.url)
    date = post(transport, server.url)
    assert delta.headers["retry-after"] == "7"
    assert delta.attempt(policy).retry_after == 7.0
    assert delta.attempt(policy).kind is AttemptKind.RETRYABLE_STATUS
    assert date.status == 503
    assert date.attempt(policy, now_epoch=now).retry_after == 42.0


def test_a_connection_reset_instead_of_an_answer_is_a_connection_error_value(peer: Peer) -> None:
    """A peer that resets the connection gives CONNECTION_ERROR with a text; the next request works."""
    server, transport = peer
    server.set_responder(lambda _r: None)  # None: reset the connection, never answer
    result = post(transport, server.url)
    assert (result.status, result.error_kind) == (None, AttemptKind.CONNECTION_ERROR)
    assert result.error
    server.set_responder(ok)
    assert post(transport, server.url).status == 200
    assert len(server.requests) == 2


# ----------------------------------------------------- HttpTransport on the wire
def test_keep_alive_sends_many_requests_on_one_connection(
    serve: Callable[[Responder], LoopbackServer], transport: HttpTransport
) -> None:
    """Successive requests, error statuses included, reuse one pooled TCP connection."""
    statuses = iter([200, 503, 429, 200, 400, 200] * 5)
    server = serve(lambda _r: (next(statuses), {}, b""))
    seen = [post(transport, server.url).status for _ in range(30)]
    assert seen == [200, 503, 429, 200, 400, 200] * 5
    assert server.connections == 1  # so every request came on the first connection
    assert {r.headers["user-agent"] for r in server.requests} == {"nglogger"}


@pytest.mark.parametrize(
    "stale",
    [None, Raw(close=True)],
    ids=["reset-as-the-request-arrives", "closed-without-an-answer"],
)
def test_a_stale_keep_alive_connection_is_resent_at_once_on_a_fresh_one(
    serve: Callable[[Responder], LoopbackServer], transport: HttpTransport, stale: Raw | None
) -> None:
    """A reused connection the server resets or closes before any response byte is not a
    failing backend: the request goes again, at once, on a new connection."""
    replies: Iterator[Reply | Raw | None] = iter([(200, {}, b""), stale, (200, {}, b"")])
    server = serve(lambda _request: next(replies))
    assert post(transport, server.url).status == 200
    second = post(transport, server.url)
    assert (second.status, second.error_kind) == (200, None)
    assert len(server.requests) == 3  # the stale attempt reached the server, then the resend
    assert server.connections == 2
    assert transport.stale_resends == 1


def test_a_reset_on_a_fresh_connection_is_still_a_failure(
    serve: Callable[[Responder], LoopbackServer], transport: HttpTransport
) -> None:
    """Only a *reused* connection is presumed stale: a reset on a new one is the backend's."""
    server = serve(lambda _r: None)
    result = post(transport, server.url)
    assert (result.status, result.error_kind) == (None, AttemptKind.CONNECTION_ERROR)
    assert (len(server.requests), transport.stale_resends) == (1, 0)


# ----------------------------------------------------------------- timeouts
def test_a_server_slower_than_the_read_timeout_gives_a_timeout_value(
    serve: Callable[[Responder], LoopbackServer], transport: HttpTransport
) -> None:
    """A response slower than the read timeout comes back as TIMEOUT after about that timeout."""
    server = serve(lambda _r: Answer(200, delay=10.0))
    result = post(transport, server.url)
    assert (result.status, result.error_kind) == (None, AttemptKind.TIMEOUT)
    assert READ_TIMEOUT <= result.elapsed < READ_TIMEOUT + 0.5
    assert len(server.requests) == 1  # it did arrive: only the answer was late


def test_a_black_hole_gives_a_timeout_value(
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
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
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
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


@pytest.mark.slow
def test_a_trickling_response_is_cut_at_a_total_deadline(
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """An attempt lasts at most about connect + read timeout, even when bytes trickle in."""
    server = serve(lambda _r: (200, {}, b"z" * 2_500))
    proxy = proxied(server)
    proxy.bandwidth(1_000)  # every recv() gets a few bytes well within the read timeout
    result = post(transport, proxy.url())
    # the last read may wait for one more trickled chunk: a small scheduling slack
    assert result.elapsed < CONNECT_TIMEOUT + READ_TIMEOUT + 0.25, result.elapsed
    assert result.status == 200  # judged by its status line, not resent as a timeout


# ------------------------------------------------------- connection failures
def test_connection_refused_is_returned_quickly_as_a_value(
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
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
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """A refused connection is a CONNECTION_ERROR (so retry_on_connection_error governs it)."""
    proxy = proxied(serve(ok))
    proxy.refuse()
    assert post(transport, proxy.url()).error_kind is AttemptKind.CONNECTION_ERROR


def test_a_reset_in_the_middle_of_the_request_body_is_a_connection_error(
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
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
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
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
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """An RST after the status line keeps the status and headers the server did send."""
    server = serve(lambda _r: (503, {"Retry-After": "3"}, b"b" * 10_000))
    proxy = proxied(server)
    proxy.reset(after_bytes=200, direction="response")
    result = post(transport, proxy.url())
    assert result.status == 503
    assert result.headers["retry-after"] == "3"
    assert len(result.body) < 10_000


def test_protocol_garbage_is_returned_as_a_value(
    serve: Callable[[Responder], LoopbackServer], transport: HttpTransport
) -> None:
    """A server answering non-HTTP bytes yields an error value with no status, never an exception."""
    server = serve(lambda _r: Raw((b"SSH-2.0-OpenSSH_9.6\r\n\r\n",), close=True))
    result = post(transport, server.url)
    assert result.status is None
    assert result.error_kind is not None
    assert "BadStatusLine" in result.error


def test_protocol_garbage_is_classified_as_a_protocol_error(
    serve: Callable[[Responder], LoopbackServer], transport: HttpTransport
) -> None:
    """A response that is not HTTP is a PROTOCOL_ERROR, which no policy retries."""
    server = serve(lambda _r: Raw((b"SSH-2.0-OpenSSH_9.6\r\n\r\n",), close=True))
    assert post(transport, server.url).error_kind is AttemptKind.PROTOCOL_ERROR


def test_a_2xx_whose_body_stalls_keeps_its_status(
    serve: Callable[[Responder], LoopbackServer],
    proxied: Callable[[LoopbackServer], FaultProxy],
    transport: HttpTransport,
) -> None:
    """A 2xx stays a success when its body (delimited by close) stalls: the server accepted it."""
    reply = Answer(200, {"Content-Type": "application/json"}, b"{}", close_delimited=True)
    server = serve(lambda _r: reply)
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


def peak_memory(call: Callable[[], Any]) -> tuple[Any, int]:
    """``call()``'s result and the peak of memory traced while it ran (every thread's)."""
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_oversize_body_is_cut_at_max_response_bytes_and_the_connection_dropped(
    serve: Callable[[Responder], LoopbackServer],
) -> None:
    """A 64 MiB response costs max_response_bytes of memory; its connection is closed, not drained."""
    block = b"z" * (64 * KiB)
    total = 64 * MiB
    head = f"HTTP/1.1 200 OK\r\nContent-Length: {total}\r\n\r\n".encode()
    answers = iter([Raw(_stream(head, block, total)), (200, {}, b"small")])
    server = serve(lambda _r: next(answers))
    transport = HttpTransport(connect_timeout=0.5, read_timeout=1.0, max_response_bytes=4 * KiB)
    try:
        big, peak = peak_memory(lambda: post(transport, server.url))
        small = post(transport, server.url)
    finally:
        transport.close()
    assert (big.status, big.error_kind, len(big.body)) == (200, None, 4 * KiB)
    assert peak < 1 * MiB, peak
    assert big.elapsed < 1.0
    assert small.body == b"small"
    assert server.connections == 2  # the oversize response's connection was dropped


def _endless_chunked() -> Raw:
    """A chunked body of 1024 chunks of 64 KiB: far more than the client will ever read."""
    block = b"%x\r\n" % (64 * KiB) + b"c" * (64 * KiB) + b"\r\n"
    head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
    return Raw(_stream(head, block, 1024 * len(block)))


def _gzip_bomb() -> Raw:
    """A gzip body of about 128 KiB that inflates to 128 MiB of zeros."""
    packer = zlib.compressobj(6, zlib.DEFLATED, 31)  # wbits 31: a gzip stream
    zeros = bytes(MiB)
    bomb = b"".join([packer.compress(zeros) for _ in range(128)] + [packer.flush()])
    head = (
        f"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: {len(bomb)}\r\n\r\n"
    ).encode()
    return Raw((head, bomb))


@pytest.mark.parametrize(
    ("answer", "body", "peak_limit"),
    [
        pytest.param(_endless_chunked, b"c" * (64 * KiB), 2 * MiB, id="endless-chunked"),
        pytest.param(_gzip_bomb, bytes(64 * KiB), 4 * MiB, id="gzip-bomb"),
    ],
)
def test_a_body_without_end_is_read_only_up_to_max_response_bytes(
    serve: Callable[[Responder], LoopbackServer],
    transport: HttpTransport,
    answer: Callable[[], Raw],
    body: bytes,
    peak_limit: int,
) -> None:
    """A 64 MiB chunked body or a gzip bomb is decoded only up to max_response_bytes (64 KiB)."""
    raw = answer()
    server = serve(lambda _r: raw)
    result, peak = peak_memory(lambda: post(transport, server.url))
    assert (result.status, result.body) == (200, body)
    assert peak < peak_limit, peak
