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

**Every answer understood** (``nglogger._delivery.decision`` decides, this sink acts):
a 413 splits the request in halves until it fits (only a single event too large for
the backend is dropped, ``too_large``) and the size is learned; a 400/422 is bisected
to find the events the backend refuses (``rejected``), the others delivered; per-item
replies (:meth:`HttpSink.items`) send busy items again; a stale keep-alive is resent
by the transport. Other 4xx refuse the whole request (``rejected``). Drop reasons:
``too_large``, ``rejected``, ``expired``, ``breaker_open`` / ``sink_queue_full``
(the queue was full), ``shutdown_deadline``, ``encode_error``.

The sink says when it is failing: a rate-limited line on stderr (and the stdlib
logger ``nglogger``) when it starts failing, when its breaker opens and when it
recovers, and when the backend refuses events (per refusal class, once a minute,
with the backend's reason) (``nglogger._core.notice``).

Worst-case footprint: the merged batch being sent (at most
``max_request_bytes``), its encoded body, its gzip copy and one bounded
response (64 KiB).
"""

from __future__ import annotations

import gzip
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from .._config.secrets import safe_url_text
from .._core import notice as _notice
from .._core.batch import Batch
from .._core.errors import ConfigError
from .._core.levels import optional_level
from .._core.sink import sink_filter
from .._delivery.decision import Delivery, ItemResults, Step, Verdict, bisect_allowance
from .._delivery.http import HttpTransport
from .._delivery.retry import (
    AttemptKind,
    BreakerState,
    CircuitBreaker,
    RetryBudget,
    RetryPolicy,
)
from .._delivery.transport import HttpResponse, MockTransport, Request, Transport
from ._base import Outcome
from ._http_options import check_headers, check_http_options
from ._pieces import (
    Half,
    Piece,
    as_events,
    error_text,
    halves,
    longest_event_fits,
    renamed_option,
    size_of,
)

__all__ = ["HttpResponse", "HttpSink", "JsonHttpSink", "MockTransport", "Request", "Transport"]

MiB = 1024 * 1024
_SAY_EVERY = 60.0  # seconds between two warnings of one refusal class
_TOO_LARGE = b"request body too large"
_TIMEOUT_STRETCH = 4.0  # attempts after a timeout wait up to this many times the setting
_SHUTDOWN = Verdict(Step.DROP, reason="shutdown_deadline")

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
    #: Bytes of a reply read at most (a backend's per-item results, its reason).
    max_reply_bytes = 64 * 1024

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
        check_http_options(
            url,
            max_request_bytes=max_request_bytes,
            max_request_events=max_request_events,
            max_record_bytes=max_record_bytes,
            concurrency=concurrency,
            timeout=timeout,
            connect_timeout=connect_timeout,
            batch_deadline=batch_deadline,
            max_age=max_age,
        )
        #: Requests in flight at once (the sink's worker runs this many threads).
        self.concurrency = concurrency
        #: How long a queued batch may wait before it is dropped as ``expired``.
        self.max_age: float | None = None if max_age is None else float(max_age)
        self._sleep = sleep
        self.url = url
        self.name = name or f"{self.kind}:{safe_url_text(url)}"
        self._headers = check_headers(headers)
        self._compress = compress
        self._max_request_bytes = max_request_bytes
        self._max_request_events = max_request_events
        self._max_record_bytes = max_record_bytes
        self._deadline = float(batch_deadline)
        self._read_timeout = float(timeout)  # the setting; attempts after a timeout wait longer
        self.retry = retry or RetryPolicy(retryable_statuses=self.default_retryable())
        self.budget = budget or RetryBudget(clock=clock)
        self.breaker = breaker or CircuitBreaker(clock=clock, rng=rng)
        self._transport: Transport = transport or HttpTransport(
            connect_timeout=connect_timeout,
            read_timeout=timeout,
            verify=verify,
            max_connections=concurrency,
            max_response_bytes=self.max_reply_bytes,
        )
        self._clock = clock
        self._rng = rng
        #: Every delivery decision of this sink (see ``nglogger._delivery.decision``).
        self.delivery = Delivery(
            self.retry,
            self.budget,
            self.breaker,
            max_request_bytes=max_request_bytes - 64,  # room for framing ("[", "]", wrappers)
            clock=clock,
            rng=rng,
        )
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._counters: dict[str, int] = {}
        self._said: dict[str, float] = {}  # refusal class -> when it was last said
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

    def refused_in(
        self,
        response: HttpResponse,  # noqa: ARG002 - hook for subclasses reading partial refusals
        events: Sequence[bytes],  # noqa: ARG002
    ) -> int | None:
        """How many of a refused request's ``events`` the backend refused, when it says.

        None (the default): the refusal is read as being about the whole request (a
        400/422 is then bisected). Loki stores the valid lines of a push it answers 400
        and names the ones it ignored: its sink returns that count.
        """
        return None

    def items(self, response: HttpResponse, count: int) -> ItemResults | None:  # noqa: ARG002
        """Per-event results of a 2xx reply, for backends that answer item by item.

        None (the default) means the reply is read by :meth:`accept`. A sink whose
        backend answers per event (Elasticsearch bulk, Honeycomb batch) returns the
        positions to send again (429, 5xx) and those refused, with the backend's reason.
        """
        return None

    # --------------------------------------------------- what the worker asks
    def request_limits(self) -> tuple[int, int]:
        """``(events, bytes)`` of queued batches the worker merges into one write.

        The bytes are the configured ``max_request_bytes`` until the backend says "too
        large": then the largest request it accepted (see ``Delivery.request_bytes``).
        """
        return self._max_request_events, self.delivery.request_bytes()

    def ready_in(self) -> float:
        """Seconds before the next write may send: the breaker's open period, a backoff."""
        return self.delivery.ready_in()

    # ------------------------------------------------------------ read timeout
    @property
    def read_timeout(self) -> float:
        """Seconds a request waits for its response (``timeout``; ``NGLOGGER_SINK_TIMEOUT``).

        A backend slower than this is presumed down: the request's events are retried,
        not lost. Since a slow backend may have stored what it did not answer in time,
        the attempts after a timeout wait twice as long (up to 4x the setting), so one
        lost response costs at most one duplicate request; the first fast answer brings
        the timeout back to the setting.
        """
        return self._read_timeout

    @read_timeout.setter
    def read_timeout(self, seconds: float) -> None:
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ConfigError("timeout", seconds, "a number of seconds > 0")
        self._read_timeout = float(seconds)
        self._set_transport_timeout(self._read_timeout)

    def _set_transport_timeout(self, seconds: float) -> None:
        setter = getattr(self._transport, "set_read_timeout", None)
        if callable(setter):
            setter(seconds)

    def _timed_out(self) -> None:
        """A request timed out: the next attempts wait longer (see ``read_timeout``)."""
        current = getattr(self._transport, "read_timeout", None)
        if isinstance(current, (int, float)):
            longer = min(current * 2, self._read_timeout * _TIMEOUT_STRETCH)
            if longer > current:
                self._count("timeout_stretched")
                self._set_transport_timeout(longer)

    def _answered_in_time(self, elapsed: float) -> None:
        current = getattr(self._transport, "read_timeout", None)
        stretched = isinstance(current, (int, float)) and current > self._read_timeout
        if stretched and elapsed < self._read_timeout:
            self._set_transport_timeout(self._read_timeout)

    # ----------------------------------------------------------------- sending
    def write(self, batch: Batch) -> Outcome:
        """Deliver one batch; every event ends up exported, dropped with a reason, or handed back.

        Events handed back (``Outcome.requeue``) were not delivered because the
        backend is failing for now (or answered "later" for those items); the worker
        queues them again. A request the backend finds too large is sent in halves; one
        it refuses (400, 422) is bisected to find the events it refuses (see
        ``nglogger._delivery.decision``).
        """
        dropped: dict[str, int] = {}
        deadline = self._clock() + self._deadline
        limit = self.delivery.request_bytes()
        work: deque[Piece] = deque()
        if (
            type(self).encode is HttpSink.encode
            and batch.count <= self._max_request_events
            and batch.nbytes <= limit
            and longest_event_fits(batch.data, self._max_record_bytes)
        ):
            work.append(batch)  # NDJSON that fits one request: the batch's bytes are the body
        else:
            kept: list[bytes] = []
            for event in batch.events():
                if len(event) > self._max_record_bytes:
                    dropped["too_large"] = dropped.get("too_large", 0) + 1
                else:
                    kept.append(event)
            if dropped:
                self._refused("too_large", dropped["too_large"], "over max_record_bytes")
            work.extend(self._chunks(kept, limit))
            del kept
        self.delivery.bisect_budget.record_attempt()
        exported, again, handed = self._send_all(work, batch.count, deadline, dropped)
        pending: Piece | None = handed
        if again:  # items a reply asked for again: behind what was handed back
            pending = again if handed is None else as_events(handed) + again
        return Outcome(exported, dropped, self._requeue(batch, pending))

    def _send_all(
        self, work: deque[Piece], count: int, deadline: float, dropped: dict[str, int]
    ) -> tuple[int, list[bytes], Piece | None]:
        """Send the pieces in order: ``(exported, items to send again, what is handed back)``.

        A split or a bisection puts the halves at the front, so order is kept.
        """
        exported = 0
        again: list[bytes] = []
        allowance = bisect_allowance(count)  # extra requests this batch may spend bisecting
        while work:
            piece = work.popleft()
            cap = self.delivery.request_bytes()
            if len(piece) > 1 and size_of(piece) > cap:  # a limit learned since it was cut
                chunks = self._chunks(as_events(piece), cap)
                if len(chunks) > 1:
                    work.extendleft(reversed(chunks))
                    continue
            bisecting = isinstance(piece, Half)
            verdict, delivered, retry = self._deliver(piece, deadline, dropped)
            step = verdict.step
            if step is Step.DONE:
                exported += delivered
                again.extend(retry)
                if bisecting:
                    self.delivery.bisect_budget.record_attempt()  # productive: earns more
            elif step is Step.SPLIT:
                self._count("split")
                work.extendleft(reversed(halves(piece)))
            elif step is Step.BISECT:
                if allowance >= 2 and self.delivery.may_bisect():
                    allowance -= 2
                    self._count("bisect")
                    work.extendleft(reversed(halves(piece)))
                else:  # out of allowance: the backend's refusal stands for all of them
                    dropped["rejected"] = dropped.get("rejected", 0) + len(piece)
            elif step is Step.DROP:
                reason = verdict.reason or "rejected"
                dropped[reason] = dropped.get(reason, 0) + len(piece)
                if reason == "rejected" and len(piece) == 1:
                    allowance += bisect_allowance(count)  # found one: look for the next
            else:  # HAND_BACK: this piece and everything after it wait in the queue
                if not work:
                    return exported, again, piece
                rest = [event for later in (piece, *work) for event in as_events(later)]
                work.clear()
                return exported, again, rest
        return exported, again, None

    def _requeue(self, batch: Batch, pending: Sequence[bytes] | Batch | None) -> Batch | None:
        """The batch to hand back for ``pending`` events (the same object when it is all)."""
        if pending is None:
            return None
        if isinstance(pending, Batch):
            return pending
        if len(pending) == batch.count:
            return batch
        return Batch(b"\n".join(pending) + b"\n", len(pending), batch.seq)

    def _chunks(self, events: list[bytes], limit: int) -> list[Piece]:
        """Split events into requests within the event and (uncompressed) byte limits."""
        chunks: list[Piece] = []
        current: list[bytes] = []
        size = 0
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
        self, events: Piece, deadline: float, dropped: dict[str, int]
    ) -> tuple[Verdict, int, list[bytes]]:
        """Send one request, retrying it while the decision says so.

        Returns the final verdict, the events delivered (``DONE``) and the events a
        per-item reply asks to send again.
        """
        n = len(events)
        if self._stop.is_set():
            return _SHUTDOWN, 0, []
        nbytes = size_of(events)
        try:
            body = events.data if isinstance(events, Batch) else self.encode(events)
        except Exception:
            return Verdict(Step.DROP, reason="encode_error"), 0, []
        headers = self.request_headers()
        if self._compress:
            body = gzip.compress(body, compresslevel=5, mtime=0)
            headers["Content-Encoding"] = "gzip"
        delivery = self.delivery
        attempt = 0
        while True:
            if self._stop.is_set():
                return _SHUTDOWN, 0, []
            if not delivery.may_send(attempt):
                # the worker waits for the breaker's next probe
                self._count("requeued")
                return Verdict(Step.HAND_BACK), 0, []
            if attempt:
                self._count("retries")
            self._count("requests")
            response = self._transport.send(self.url, body, headers)
            result = response.attempt(self.retry)
            verdict = delivery.decide(
                result,
                attempt=attempt,
                events=n,
                nbytes=nbytes,
                time_left=deadline - self._clock(),
                too_large=self.too_large(response),
            )
            step = verdict.step
            if result.kind is AttemptKind.TIMEOUT:
                self._count("timeouts")
                self._timed_out()
            elif response.status is not None:
                self._answered_in_time(response.elapsed)
            if step is Step.DONE:
                self._recovered()
                delivered, again = self._read_reply(response, events, dropped)
                return verdict, delivered, again
            self._count(f"status_{response.status}" if response.status else str(result.kind.value))
            self.last_error = error_text(response, result)
            if step is Step.RETRY:
                self._failed()
                if self._wait(verdict.delay):
                    return _SHUTDOWN, 0, []
                attempt += 1
                continue
            if step is Step.HAND_BACK:
                self._failed()
                self._count("requeued")
                return verdict, 0, []
            # the backend answered: it is up
            if delivery.breaker.state is BreakerState.CLOSED:
                self._recovered()
            refused = (
                None
                if verdict.reason == "too_large"
                else self.refused_in(response, as_events(events))
            )
            if refused is not None and step in (Step.BISECT, Step.DROP):
                refused = max(0, min(refused, n))  # the rest were stored
                if refused:
                    dropped["rejected"] = dropped.get("rejected", 0) + refused
                    self._refused("rejected", refused, self.last_error)
                return Verdict(Step.DONE), n - refused, []
            if step is Step.DROP:
                self._refused(verdict.reason or "rejected", n, self.last_error)
            return verdict, 0, []

    def too_large(self, response: HttpResponse) -> bool:
        """Whether ``response`` refuses the request for its size.

        A 413; or a 400 whose reply says "too large": Go servers built on
        ``http.MaxBytesReader`` (the OpenTelemetry Collector's ``max_request_body_size``)
        answer ``400 http: request body too large``.
        """
        if response.status == 413:
            return True
        return response.status == 400 and _TOO_LARGE in response.body[:1024].lower()

    def _read_reply(
        self, response: HttpResponse, events: Piece, dropped: dict[str, int]
    ) -> tuple[int, list[bytes]]:
        """A 2xx reply: what it delivered, and what it asks to send again."""
        n = len(events)
        results = self.items(response, n)
        if results is None:
            return self.accept(response, n, dropped), []
        rejected = min(results.rejected, n)
        retry = [i for i in results.retry if 0 <= i < n][: n - rejected]
        if rejected:
            dropped["rejected"] = dropped.get("rejected", 0) + rejected
            self._count("item_rejected", rejected)
            reason = results.reason or "refused per item"
            self.last_error = f"{rejected} items rejected ({reason})"
            self._refused("rejected", rejected, reason)
        if not retry:
            return n - rejected, []
        self._count("item_retries", len(retry))
        items = as_events(events)
        again = [items[i] for i in retry]
        delay = self.delivery.retry_items(response.attempt(self.retry))
        again_text = f"{len(retry)} items to send again ({results.retry_reason or 'busy'})"
        self.last_error = f"{self.last_error}; {again_text}" if rejected else again_text
        self._refused(
            "item_retry",
            len(retry),
            f"{results.retry_reason or 'busy'}; sent again in {delay:.1f} s",
        )
        return n - rejected - len(retry), again

    def _wait(self, seconds: float) -> bool:
        """Wait ``seconds`` (interrupted by ``close()``); True if the sink was closed."""
        if self._sleep is not None:
            return self._sleep(seconds) or self._stop.is_set()
        return self._stop.wait(seconds)

    # ------------------------------------------------------------ warnings
    def _refused(self, kind: str, n: int, reason: str | None) -> None:
        """Events the backend refused (or asked for again): said on stderr when it starts.

        One line per refusal class per minute (and the global rate limit of
        ``nglogger._core.notice``), with the backend's reason, while it happens.
        """
        now = self._clock()
        with self._lock:
            last = self._said.get(kind)
            if last is not None and now - last < _SAY_EVERY:
                return
            self._said[kind] = now
        what = {
            "too_large": "dropped as too large",
            "rejected": "rejected by the backend",
            "item_retry": "to send again (the backend asked)",
        }.get(kind, kind)
        _notice.warn(f"sink {self.name}: {n} events {what} ({reason or 'no reason given'})")

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
        self.delivery.answered()
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
        stale = getattr(self._transport, "stale_resends", 0)
        if stale:
            counters["stale_resends"] = stale
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
