"""HTTP sinks: the polite client every telemetry sink is built on.

``HttpSink.write`` turns one batch into as few requests as the backend's limits
allow (events per request, bytes per request; an event over ``max_record_bytes``
is dropped as ``too_large``), gzips them, and delivers each with:

* a connect and a read timeout on every attempt (see ``nglogger._delivery.http``);
* exponential backoff with full jitter and ``Retry-After`` (``RetryPolicy``);
* a retry budget: retries stay under a fixed share of first attempts, so a total
  outage costs about 1.1 wire attempts per request (``RetryBudget``);
* a circuit breaker: while open nothing is sent; one probe per open period
  (jittered, growing to its cap) when it half-opens;
* a per-write deadline; every wait is on an ``Event`` that ``close()`` sets.

**An outage costs probes, not data.** When the attempts, the retry budget or the
write's deadline are used up, or the breaker is open, ``write`` hands the events
not delivered yet back to its worker (``Outcome.requeue``): they go back to the
head of the sink's queue and wait there (``ready_in()``: the open period or the
backoff). While they wait, new batches queue behind them; only the queue's own
limits (``sink_queue_overflow``), a permanent rejection (4xx other than
408/429), ``max_age`` (``expired``) or the shutdown deadline lose events.

**Recovery drains in full requests.** The worker merges queued batches, oldest
first, into one write of up to ``request_limits()`` (the sink's
``max_request_events`` and ``max_request_bytes``), ``concurrency`` writes at a
time: a backlog of B bytes costs about B / ``max_request_bytes`` requests.

A 413 splits the request in two once; a second 413 drops it (``too_large``).
Other 4xx are never retried (``rejected``). Drop reasons: ``too_large``,
``rejected``, ``expired``, ``breaker_open`` / ``sink_queue_full`` (the queue was
full), ``shutdown_deadline``, ``encode_error``.

The sink says when it is failing: a rate-limited line on stderr (and the stdlib
logger ``nglogger``) when it starts failing, when its breaker opens and when it
recovers (``nglogger._core.notice``).

Worst-case footprint: the merged batch being sent (at most
``max_request_bytes``), its encoded body, its gzip copy and one bounded
response (64 KiB).
"""

from __future__ import annotations

import gzip
import math
import random
import threading
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

from .._config.secrets import safe_url, safe_url_text
from .._core import notice as _notice
from .._core.batch import Batch
from .._core.errors import ConfigError, outside_stacklevel
from .._core.levels import optional_level
from .._core.sink import sink_filter
from .._delivery.http import HttpTransport
from .._delivery.retry import (
    AttemptKind,
    AttemptResult,
    BreakerState,
    CircuitBreaker,
    RetryBudget,
    RetryPolicy,
)
from .._delivery.transport import HttpResponse, MockTransport, Request, Transport
from ._base import Outcome

__all__ = ["HttpResponse", "HttpSink", "JsonHttpSink", "MockTransport", "Request", "Transport"]

MiB = 1024 * 1024
_T = TypeVar("_T")

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
        max_record_bytes: int = 1 * MiB,
        batch_deadline: float = 120.0,
        retry: RetryPolicy | None = None,
        budget: RetryBudget | None = None,
        breaker: CircuitBreaker | None = None,
        transport: Transport | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        verify: bool = True,
        concurrency: int = 1,
        max_age: float | None = 900.0,
        sleep: Callable[[float], bool] | None = None,
        level: int | str | None = None,
        filter: Callable[[bytes], object] | None = None,  # noqa: A002 - the option's name
        max_event_bytes: int | None = None,
    ) -> None:
        if max_event_bytes is not None:  # max_record_bytes's former name
            max_record_bytes = renamed_option(
                "max_event_bytes", "max_record_bytes", max_event_bytes
            )
        #: Only events at or above this level reach this sink (see ``nglogger._pipeline.select``).
        self.level = optional_level(level)
        self.filter = sink_filter(filter)
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            shown = safe_url(url)
            raise ConfigError("url", shown, "an http:// or https:// URL")
        for setting, value in (
            ("max_request_bytes", max_request_bytes),
            ("max_request_events", max_request_events),
            ("max_record_bytes", max_record_bytes),
        ):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(setting, value, "an integer >= 1")
        if max_record_bytes > max_request_bytes:
            raise ConfigError(
                "max_record_bytes",
                max_record_bytes,
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
        if max_age is not None and (
            isinstance(max_age, bool)
            or not isinstance(max_age, (int, float))
            or not 0 < max_age < float("inf")
        ):
            raise ConfigError("max_age", max_age, "a number of seconds > 0, or None (never)")
        #: How long a queued batch may wait before it is dropped as ``expired``.
        self.max_age: float | None = None if max_age is None else float(max_age)
        self._sleep = sleep
        self.url = url
        self.name = name or f"{self.kind}:{safe_url_text(url)}"
        self._headers = dict(headers or {})
        self._compress = compress
        self._max_request_bytes = max_request_bytes
        self._max_request_events = max_request_events
        self._max_record_bytes = max_record_bytes
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
        self._not_before = 0.0  # a backoff after a write handed events back
        self._requeues = 0  # consecutive writes that handed events back
        self._failing = False  # since the first failure after a success (for the warnings)
        self._warned_open = False
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

    # --------------------------------------------------- what the worker asks
    def request_limits(self) -> tuple[int, int]:
        """``(events, bytes)`` of queued batches the worker merges into one write."""
        return self._max_request_events, self._max_request_bytes - 64

    def ready_in(self) -> float:
        """Seconds before the next write may send: the breaker's open period, a backoff."""
        wait = self._not_before - self._clock()
        if self.breaker.state is not BreakerState.CLOSED:
            wait = max(wait, self.breaker.time_until_probe())
        return max(0.0, wait)

    # ----------------------------------------------------------------- sending
    def write(self, batch: Batch) -> Outcome:
        """Deliver one batch; every event ends up exported, dropped with a reason, or handed back.

        Events handed back (``Outcome.requeue``) were not delivered because the
        backend is failing for now; the worker queues them again.
        """
        dropped: dict[str, int] = {}
        exported = 0
        deadline = self._clock() + self._deadline
        if (
            type(self).encode is HttpSink.encode
            and batch.count <= self._max_request_events
            and batch.nbytes <= self._max_request_bytes - 64
            and _longest_event_fits(batch.data, self._max_record_bytes)
        ):
            # NDJSON that fits one request: the batch's bytes are the body (no copy).
            exported, pending = self._deliver(batch, deadline, dropped, may_split=True)
            return Outcome(exported, dropped, self._requeue(batch, pending))
        events = batch.events()
        kept: list[bytes] = []
        for event in events:
            if len(event) > self._max_record_bytes:
                dropped["too_large"] = dropped.get("too_large", 0) + 1
            else:
                kept.append(event)
        del events
        chunks = self._chunks(kept)
        del kept
        rest: list[bytes] = []
        for i, chunk in enumerate(chunks):
            n, pending = self._deliver(chunk, deadline, dropped, may_split=True)
            exported += n
            if pending is not None:
                rest = _as_events(pending)
                for later in chunks[i + 1 :]:
                    rest.extend(later)
                break
        del chunks
        return Outcome(exported, dropped, self._requeue(batch, rest or None))

    def _requeue(self, batch: Batch, pending: Sequence[bytes] | Batch | None) -> Batch | None:
        """The batch to hand back for ``pending`` events (the same object when it is all)."""
        if pending is None:
            return None
        if isinstance(pending, Batch):
            return pending
        if len(pending) == batch.count:
            return batch
        return Batch(b"\n".join(pending) + b"\n", len(pending), batch.seq)

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
    ) -> tuple[int, list[bytes] | Batch | None]:
        """Send one request's events: ``(exported, events handed back or None)``."""
        n = len(events)

        def drop(reason: str) -> tuple[int, None]:
            dropped[reason] = dropped.get(reason, 0) + n
            return 0, None

        def later(delay: float) -> tuple[int, list[bytes] | Batch]:
            """Hand the events back; the next write waits ``delay`` (or the breaker)."""
            self._requeues += 1
            self._not_before = self._clock() + delay
            self._count("requeued")
            return 0, events

        if self._stop.is_set():
            return drop("shutdown_deadline")
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
            if not self.breaker.allow_request():
                return later(0.0)  # the worker waits for the breaker's next probe
            if attempt == 0:
                self.budget.record_attempt()
            else:
                self._count("retries")
            self._count("requests")
            response = self._transport.send(self.url, body, headers)
            result = response.attempt(self.retry)
            self.breaker.record_result(result)
            if result.kind is AttemptKind.OK:
                self._recovered()
                return self.accept(response, n, dropped), None
            self._count(f"status_{response.status}" if response.status else str(result.kind.value))
            self.last_error = (
                f"HTTP {response.status}"
                if response.status
                else (result.error or result.kind.value)
            )
            if response.status == 413:
                self._recovered()  # the backend answered: it is up
                if may_split and n > 1:
                    items = events.events() if isinstance(events, Batch) else events
                    half = n // 2
                    del body
                    first, pending = self._deliver(items[:half], deadline, dropped, may_split=False)
                    if pending is not None:
                        return first, _as_events(pending) + list(items[half:])
                    second, pending = self._deliver(
                        items[half:], deadline, dropped, may_split=False
                    )
                    return first + second, pending
                return drop("too_large")
            if not self.retry.is_retryable(result):
                if self.breaker.state is BreakerState.CLOSED:
                    self._recovered()
                return drop("rejected")
            self._failed()
            delay = self.retry.next_delay(
                attempt, result, self._rng, time_left=deadline - self._clock()
            )
            if delay is None:  # attempts or the write's time used up: wait in the queue
                return later(self._backoff(result))
            if not self.budget.try_acquire_retry():
                self._count("budget_denied")
                return later(max(delay, self._backoff(result)))
            if self._wait(delay):
                return drop("shutdown_deadline")
            attempt += 1

    def _backoff(self, result: AttemptResult) -> float:
        """The wait before a handed-back batch is sent again: Retry-After, else backoff."""
        retry_after = result.retry_after
        if retry_after is not None and not math.isnan(retry_after):
            return min(max(retry_after, 0.0), self.retry.retry_after_cap)
        return self.retry.backoff(min(self._requeues, 64), self._rng)

    def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` (interrupted by ``close()``); True if the sink was closed."""
        if self._sleep is not None:
            return self._sleep(seconds) or self._stop.is_set()
        return self._stop.wait(seconds)

    # ------------------------------------------------------------ warnings
    def _failed(self) -> None:
        """A retryable failure: warn once when the sink starts failing and when it opens."""
        text: str | None = None
        with self._lock:
            state = self.breaker.state
            if not self._failing:
                self._failing = True
                text = f"sink {self.name} is failing ({self.last_error}); events are kept queued"
            if state is BreakerState.OPEN and not self._warned_open:
                self._warned_open = True
                text = (
                    f"sink {self.name}: circuit breaker open after repeated failures "
                    f"({self.last_error}); sending one probe per open period, events kept queued"
                )
        if text is not None:
            _notice.warn(text)

    def _recovered(self) -> None:
        """A request the backend handled: warn once if the sink was failing."""
        self._requeues = 0
        self._not_before = 0.0
        if not self._failing:
            return
        with self._lock:
            was, self._failing, self._warned_open = self._failing, False, False
        if was:
            _notice.warn(f"sink {self.name} recovered; delivering the queued events")

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

    #: measured ~4.2 batch copies while writing (events list, join, "[...]", gzip;
    #: tests/test_memory_copies.py)
    memory_copies = 5

    content_type = "application/json"
    kind = "json+http"

    def encode(self, events: Sequence[bytes]) -> bytes:
        """``[e1,e2,...]``: a byte join, no re-serialization."""
        return b"[" + b",".join(events) + b"]"


def _longest_event_fits(data: bytes, limit: int) -> bool:
    """Whether every newline-terminated event in ``data`` is at most ``limit`` bytes."""
    if len(data) <= limit + 1:
        return True
    start = 0
    find = data.find
    end = len(data)
    while start < end:
        nl = find(b"\n", start)
        if nl < 0:
            nl = end
        if nl - start > limit:
            return False
        start = nl + 1
    return True


def _as_events(events: list[bytes] | Batch) -> list[bytes]:
    return events.events() if isinstance(events, Batch) else list(events)


def renamed_option(old: str, new: str, value: _T) -> _T:
    """A keyword argument given under its former name: accepted, with a DeprecationWarning."""
    warnings.warn(
        f"{old}= is now {new}= (the largest event the backend accepts, not nglogger's "
        f"max_event_bytes setting); the old name will be removed",
        DeprecationWarning,
        stacklevel=outside_stacklevel(),
    )
    return value
