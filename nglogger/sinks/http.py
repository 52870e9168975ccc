"""HTTP sinks: the polite client every telemetry sink is built on.

``HttpSink.write`` turns one batch into as few requests as the backend's limits
allow (events per request, bytes per request; an event over ``max_event_bytes``
is dropped as ``too_large``), gzips them, and delivers each with:

* a connect and a read timeout on every attempt (see ``nglogger._http``);
* exponential backoff with full jitter and ``Retry-After`` (``RetryPolicy``);
* a retry budget: retries stay under a fixed share of first attempts, so a total
  outage costs about 1.1 wire attempts per request (``RetryBudget``);
* a circuit breaker: while open nothing is sent and the worker waits (batches
  queue in the bounded sink queue; when it is full they drop as
  ``breaker_open``); one probe at a time when it half-opens;
* a per-batch deadline; every wait is on an ``Event`` that ``close()`` sets.

A 413 splits the request in two once; a second 413 drops it (``too_large``).
Other 4xx are never retried (``rejected``). Requests go out ``concurrency`` at a
time per sink (default one): after an outage the queued batches are sent back to
back with that many in flight, so the request rate while draining can exceed the
healthy rate, but never the concurrency (with more than one, batches may complete
out of order). Drop reasons: ``too_large``, ``rejected``, ``retries_exhausted``,
``breaker_open``, ``shutdown_deadline``, ``encode_error``.

Worst-case footprint: the batch being sent, its encoded body, its gzip copy and
one bounded response (64 KiB).
"""

from __future__ import annotations

import gzip
import random
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._batch import Batch
from .._errors import ConfigError
from .._http import HttpTransport
from .._retry import AttemptKind, BreakerState, CircuitBreaker, RetryBudget, RetryPolicy
from .._secrets import safe_url, safe_url_text
from .._transport import HttpResponse, MockTransport, Request, Transport
from ._base import Outcome

__all__ = ["HttpResponse", "HttpSink", "JsonHttpSink", "MockTransport", "Request", "Transport"]

MiB = 1024 * 1024

#: Statuses retried by the generic sink (documented in the README).
GENERIC_RETRYABLE = frozenset({408, 429, 500, 502, 503, 504})


class HttpSink:
    """Base class and generic NDJSON sink: POSTs batches to ``url``.

    Subclasses override :meth:`encode` (events -> body), :attr:`content_type`,
    and optionally :meth:`accept` (read per-event results from a 2xx reply).
    """

    content_type = "application/x-ndjson"
    kind = "http"
    #: Batch-sized buffers one request may hold (batch, encoded body, gzip copy):
    #: used by ``Config.memory_budget``.
    memory_copies = 3

    def __init__(
        self,
        url: str,
        *,
        name: str | None = None,
        headers: Mapping[str, str] | None = None,
        compress: bool = True,
        timeout: float = 10.0,
        connect_timeout: float = 5.0,
        max_request_bytes: int = 5 * MiB,
        max_request_events: int = 10_000,
        max_event_bytes: int = 1 * MiB,
        batch_deadline: float = 120.0,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        verify: bool = True,
        concurrency: int = 1,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            shown = safe_url(url)
            raise ConfigError("url", shown, "an http:// or https:// URL")
        for setting, value in (
            ("max_request_bytes", max_request_bytes),
            ("max_request_events", max_request_events),
            ("max_event_bytes", max_event_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(setting, value, "an integer >= 1")
        if max_event_bytes > max_request_bytes:
            raise ConfigError(
                "max_event_bytes",
                max_event_bytes,
                f"at most max_request_bytes ({max_request_bytes})",
            )
        if (
            isinstance(concurrency, bool)
            or not isinstance(concurrency, int)
            or not 1 <= concurrency <= 16
        ):
            raise ConfigError("concurrency", concurrency, "an integer from 1 to 16")
        #: Requests in flight at once (the sink's worker runs this many threads).
        self.concurrency = concurrency
        for setting, seconds in (
            ("timeout", timeout),
            ("connect_timeout", connect_timeout),
            ("batch_deadline", batch_deadline),
        ):
            if (
                isinstance(seconds, bool)
                or not isinstance(seconds, (int, float))
                or not seconds > 0
            ):
                raise ConfigError(setting, seconds, "a number of seconds > 0")
        self.url = url
        self.name = name or f"{self.kind}:{safe_url_text(url)}"
        self._headers = dict(headers or {})
        self._compress = compress
        self._max_request_bytes = max_request_bytes
        self._max_request_events = max_request_events
        self._max_event_bytes = max_event_bytes
        self._deadline = float(batch_deadline)
        self.retry = retry or RetryPolicy(retryable_statuses=self.default_retryable())
        self.budget = budget or RetryBudget(clock=clock)
        self.breaker = breaker or CircuitBreaker(clock=clock, rng=rng)
        self._transport: Transport = transport or HttpTransport(
            connect_timeout=connect_timeout,
            read_timeout=timeout,
            verify=verify,
            max_connections=concurrency,
        )
        self._clock = clock
        self._rng = rng
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        #: The latest failure, as short text (shown in the sink's stats).
        self.last_error: str | None = None

    # ------------------------------------------------------------ subclass API
    def default_retryable(self) -> frozenset[int]:
        """Statuses this kind of sink retries (besides timeouts and connection errors)."""
        return GENERIC_RETRYABLE

    def encode(self, events: Sequence[bytes]) -> bytes:
        """The request body for these events (each a JSON document without newline)."""
        return b"\n".join(events) + b"\n"

    def request_headers(self) -> dict[str, str]:
        """Headers sent with every request (content type and configured ones)."""
        return {"Content-Type": self.content_type, **self._headers}

    def accept(
        self,
        response: HttpResponse,  # noqa: ARG002 - hook for subclasses reading per-event results
        count: int,
        dropped: dict[str, int],  # noqa: ARG002
    ) -> int:
        """Events delivered by a 2xx response (default: all of them)."""
        return count

    # ----------------------------------------------------------------- sending
    def write(self, batch: Batch) -> Outcome:
        """Deliver one batch; every event ends up exported or dropped with a reason."""
        dropped: dict[str, int] = {}
        exported = 0
        deadline = self._clock() + self._deadline
        if (
            type(self).encode is HttpSink.encode
            and batch.count <= self._max_request_events
            and batch.nbytes <= min(self._max_request_bytes - 64, self._max_event_bytes)
        ):
            # NDJSON that fits one request: the batch's bytes are the body (no copy).
            exported = self._deliver(batch, deadline, dropped, may_split=True)
            return Outcome(exported, dropped)
        events = batch.events()
        kept: list[bytes] = []
        for event in events:
            if len(event) > self._max_event_bytes:
                dropped["too_large"] = dropped.get("too_large", 0) + 1
            else:
                kept.append(event)
        for chunk in self._chunks(kept):
            exported += self._deliver(chunk, deadline, dropped, may_split=True)
        return Outcome(exported, dropped)

    def _chunks(self, events: list[bytes]) -> list[list[bytes]]:
        """Split events into requests within the event and (uncompressed) byte limits."""
        chunks: list[list[bytes]] = []
        current: list[bytes] = []
        size = 0
        limit = self._max_request_bytes - 64  # room for framing ("[", "]", wrappers)
        for event in events:
            cost = len(event) + self.per_event_overhead(event)
            if current and (len(current) >= self._max_request_events or size + cost > limit):
                chunks.append(current)
                current, size = [], 0
            current.append(event)
            size += cost
        if current:
            chunks.append(current)
        return chunks

    def per_event_overhead(self, event: bytes) -> int:  # noqa: ARG002 - subclass hook
        """Bytes the encoding adds per event (separators, wrappers, escaping)."""
        return 1

    def _count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def _deliver(
        self,
        events: list[bytes] | Batch,
        deadline: float,
        dropped: dict[str, int],
        *,
        may_split: bool,
    ) -> int:
        n = len(events)

        def drop(reason: str) -> int:
            dropped[reason] = dropped.get(reason, 0) + n
            return 0

        try:
            body = events.data if isinstance(events, Batch) else self.encode(events)
        except Exception:
            return drop("encode_error")
        headers = self.request_headers()
        if self._compress:
            body = gzip.compress(body, compresslevel=5, mtime=0)
            headers["Content-Encoding"] = "gzip"
        attempt = 0
        while True:
            if self._stop.is_set():
                return drop("shutdown_deadline")
            if not self._wait_for_breaker(deadline):
                return drop("shutdown_deadline" if self._stop.is_set() else "breaker_open")
            if attempt == 0:
                self.budget.record_attempt()
            else:
                self._count("retries")
            self._count("requests")
            response = self._transport.send(self.url, body, headers)
            result = response.attempt(self.retry)
            self.breaker.record_result(result)
            if result.kind is AttemptKind.OK:
                return self.accept(response, n, dropped)
            self._count(f"status_{response.status}" if response.status else str(result.kind.value))
            self.last_error = (
                f"HTTP {response.status}"
                if response.status
                else (result.error or result.kind.value)
            )
            if response.status == 413:
                if may_split and n > 1:
                    items = events.events() if isinstance(events, Batch) else events
                    half = n // 2
                    del body
                    return self._deliver(
                        items[:half], deadline, dropped, may_split=False
                    ) + self._deliver(items[half:], deadline, dropped, may_split=False)
                return drop("too_large")
            delay = self.retry.next_delay(
                attempt, result, self._rng, time_left=deadline - self._clock()
            )
            if delay is None:
                retryable = self.retry.is_retryable(result)
                return drop("retries_exhausted" if retryable else "rejected")
            if not self.budget.try_acquire_retry():
                self._count("budget_denied")
                return drop("retries_exhausted")
            if self._stop.wait(delay):
                return drop("shutdown_deadline")
            attempt += 1

    def _wait_for_breaker(self, deadline: float) -> bool:
        """Wait (interruptibly) until the breaker lets a request through, or give up."""
        while not self.breaker.allow_request():
            wait = self.breaker.time_until_probe()
            remaining = deadline - self._clock()
            if remaining <= 0:
                return False
            if self._stop.wait(min(max(wait, 0.01), remaining)):
                return False
        return True

    # ---------------------------------------------------------------- plumbing
    def queue_full_reason(self) -> str:
        """Why a batch is dropped when this sink's queue is full."""
        return (
            "breaker_open" if self.breaker.state is not BreakerState.CLOSED else "sink_queue_full"
        )

    def breaker_state(self) -> str:
        """The circuit breaker's state: ``closed``, ``open`` or ``half_open``."""
        return self.breaker.state.value

    def http_stats(self) -> dict[str, Any]:
        """Requests, retries, statuses, budget and breaker counters."""
        with self._lock:
            counters: dict[str, Any] = dict(self._counters)
        counters["budget"] = self.budget.stats
        counters["breaker"] = self.breaker.stats
        return counters

    def close(self) -> None:
        """Interrupt waits and give up retries; close pooled connections."""
        self._stop.set()
        self._transport.close()

    def after_fork(self) -> None:
        """In a forked child: fresh connections, lock, and stop event."""
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._transport.after_fork()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class JsonHttpSink(HttpSink):
    """Generic sink sending a JSON array of events per request."""

    content_type = "application/json"
    kind = "json+http"

    def encode(self, events: Sequence[bytes]) -> bytes:
        """``[e1,e2,...]``: a byte join, no re-serialization."""
        return b"[" + b",".join(events) + b"]"
