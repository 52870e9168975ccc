"""Through 503s, 429s, resets and black holes, an HttpSink keeps the load low and delivers every event once.

Every test runs a real :class:`nglogger.Pipeline` (built by ``nglogger.configure``)
whose only sink is an :class:`HttpSink` posting gzip NDJSON to a real HTTP server
on 127.0.0.1, directly or through :class:`support.faultproxy.FaultProxy`. Events carry an
``id``; the server records the ids of every request it answered with a 2xx, so
"delivered exactly once" is checked event by event, and :class:`RecordingSink`
(HttpSink plus a record of each ``write``: ids, Outcome, start and end) ties the
server's view to the pipeline's counters.

Time. HttpSink waits on ``self._stop.wait(seconds)``: a real ``Event`` with real
seconds, whatever clock it was given. So two techniques are combined:

* the retry budget's accounting needs a *long* outage (minutes of traffic), which
  only a fake clock can simulate quickly: :class:`FakeClock` is injected into the
  sink, its RetryBudget and CircuitBreaker, and the server advances it by a fixed
  step per request it receives ("time flows with traffic"); the breaker is kept
  closed there because an open breaker waits on the Event, and no request would
  ever move a fake clock again;
* the breaker, backoff and Retry-After need real waits, so they get real but small
  durations (backoff base 10 ms, cap 50 ms, breaker open 50-200 ms) on
  ``time.monotonic``; Retry-After tests wait the one or two real seconds the
  header asks for, which is the point of them.

Random sources are seeded; nothing sleeps bare: tests wait on predicates over the
server's, the sink's or the proxy's counters, always with a deadline.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

import orjson
import pytest
from support.faultproxy import FaultProxy
from support.http import Answer, LoopbackServer, Request
from support.waiting import wait_for as wait_until

import nglogger
from nglogger import Batch, Config, Outcome, SinkStats
from nglogger._delivery.retry import BreakerState, CircuitBreaker, RetryPolicy
from nglogger.sinks.http import GENERIC_RETRYABLE, HttpSink

KiB = 1024
SENT_HEADER = "X-Test-Sent"  # added by ObservingTransport: when the sink sent the request
PAD = "x" * 100  # each event is about 190 bytes of NDJSON
LOOPBACK = "127.0.0.1"
QUEUE_REASONS = frozenset({"breaker_open", "sink_queue_full", "expired"})
FAULT_REASONS = frozenset({"breaker_open", "sink_queue_full", "expired", "shutdown_deadline"})


# --------------------------------------------------------------------- helpers
class FakeClock:
    """A monotonic clock moved by hand (thread-safe: the server thread advances it)."""

    def __init__(self, start: float = 1_000.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


@dataclass(frozen=True)
class Reply:
    """How the backend answers one request."""

    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before answering (cut short when the backend closes)
    stall: float = 0.0  # seconds to pause in the middle of the (2-byte) reply body
    body: bytes = b""  # the reply's body (a backend's reason)


@dataclass(frozen=True)
class Seen:
    """One request as the backend saw it."""

    arrived: float
    ids: tuple[int, ...]
    status: int
    wire_bytes: int = 0  # the body as it travelled (gzip)


@dataclass(frozen=True)
class Arrival:
    """What a script sees of a request: its index, event ids and when the sink sent it."""

    index: int
    ids: tuple[int, ...]
    sent: float | None  # time.monotonic() at send (ObservingTransport); None if unknown
    wire_bytes: int = 0  # the body as it travelled (gzip): what a proxy's body limit sees


Script = Callable[[Arrival], Reply]


def always(status: int, *headers: tuple[str, str]) -> Script:
    """A script answering every request with ``status``."""
    reply = Reply(status, headers)
    return lambda _arrival: reply


class Backend:
    """A loopback HTTP ingest server with a switchable script and exact records.

    ``script(index, ids) -> Reply`` decides each answer. The backend records every
    request (arrival, ids, status) and the ids of 2xx answers (``delivered``); the
    shared loopback server (``support.http``) counts accepted connections, truncated
    requests and concurrency: ``max_inflight`` over all requests and
    ``max_inflight_ok`` over those answered 2xx. A request is in flight from its
    arrival until its answer starts (so a client's next request can never overlap
    the previous one in these counts).
    """

    def __init__(self, script: Script | None = None) -> None:
        self.script: Script = script or always(200)
        self._cond = threading.Condition()
        self.requests: list[Seen] = []
        self.delivered: list[int] = []
        # the bodies are read in _respond; keeping them would cost the tests' memory bounds
        self._server = LoopbackServer(self._respond, join_handlers=True, keep_bodies=False)
        self.stop = self._server.closing
        self.port: int = self._server.port

    def url(self, path: str = "/ingest") -> str:
        return f"{self._server.url}{path}"

    def set_script(self, script: Script) -> None:
        with self._cond:
            self.script = script

    def reset_concurrency(self) -> None:
        self._server.reset_concurrency()

    @property
    def connections(self) -> int:
        return self._server.connections

    @property
    def incomplete(self) -> int:
        return self._server.incomplete

    @property
    def handler_errors(self) -> int:
        return self._server.handler_errors

    @property
    def max_inflight(self) -> int:
        return self._server.max_inflight

    @property
    def max_inflight_ok(self) -> int:
        return self._server.max_inflight_ok

    def _respond(self, request: Request) -> Answer:
        """Record a complete request and decide its answer (a 2xx counts as delivered now)."""
        ids = tuple(orjson.loads(line)["id"] for line in request.body.splitlines() if line)
        sent = request.headers.get(SENT_HEADER.lower())
        with self._cond:
            reply = self.script(
                Arrival(
                    len(self.requests),
                    ids,
                    None if sent is None else float(sent),
                    request.wire_bytes,
                )
            )
            if 200 <= reply.status < 300:
                self.delivered.extend(ids)
            self.requests.append(Seen(time.monotonic(), ids, reply.status, request.wire_bytes))
            self._cond.notify_all()
        body = reply.body or (b"{}" if reply.stall else b"")
        return Answer(reply.status, reply.headers, body, delay=reply.delay, stall=reply.stall)

    # for the test thread
    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
        """Wait until ``predicate()`` (evaluated under the backend's lock) holds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def seen(self) -> list[Seen]:
        with self._cond:
            return list(self.requests)

    def delivered_ids(self) -> list[int]:
        with self._cond:
            return list(self.delivered)

    def close(self) -> None:
        self._server.close()


@dataclass(frozen=True)
class Write:
    """One ``HttpSink.write`` call: the batch's ids, its Outcome, when it ran."""

    ids: tuple[int, ...]
    count: int  # Batch.count, which must equal len(ids)
    outcome: Outcome  # its requeue batch replaced by None (``back`` counts those events)
    started: float
    ended: float
    back: int = 0  # events handed back to the queue (Outcome.requeue)


class RecordingSink(HttpSink):
    """HttpSink that records every write (test instrumentation; delivery is untouched)."""

    def __init__(self, url: str, **kwargs: Any) -> None:
        super().__init__(url, **kwargs)
        self.writes: list[Write] = []
        self._writes_lock = threading.Lock()
        self.write_started = threading.Event()

    def write(self, batch: Batch) -> Outcome:
        started = time.monotonic()
        self.write_started.set()
        outcome = super().write(batch)
        ids = tuple(orjson.loads(event)["id"] for event in batch.events())
        back = outcome.requeue.count if outcome.requeue is not None else 0
        kept = Outcome(outcome.exported, outcome.dropped)  # the handed-back bytes are not kept
        with self._writes_lock:
            self.writes.append(Write(ids, batch.count, kept, started, time.monotonic(), back))
        return outcome

    def recorded(self) -> list[Write]:
        with self._writes_lock:
            return list(self.writes)


class ObservingTransport:
    """Wraps the real transport; records the breaker state and concurrency at each send."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sink: HttpSink | None = None
        self.sends: list[tuple[float, BreakerState]] = []
        self._lock = threading.Condition()
        self._inflight = 0
        self.max_inflight = 0

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> Any:
        assert self.sink is not None
        state = self.sink.breaker.state
        with self._lock:
            self._inflight += 1
            self.max_inflight = max(self.max_inflight, self._inflight)
            self.sends.append((time.monotonic(), state))
            self._lock.notify_all()
        try:
            return self.inner.send(url, body, {**headers, SENT_HEADER: repr(time.monotonic())})
        finally:
            with self._lock:
                self._inflight -= 1

    def count(self) -> int:
        with self._lock:
            return len(self.sends)

    def wait_sends(self, n: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``n`` requests were sent."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.sends) < n:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._lock.wait(remaining)
            return True

    def close(self) -> None:
        self.inner.close()

    def after_fork(self) -> None:
        self.inner.after_fork()


def fast_policy(**changes: Any) -> RetryPolicy:
    """The generic sink's retry policy with backoff scaled down to milliseconds."""
    settings: dict[str, Any] = {
        "base": 0.01,
        "cap": 0.05,
        "retryable_statuses": GENERIC_RETRYABLE,
    }
    settings.update(changes)
    return RetryPolicy(**settings)


def fast_breaker(seed: int = 7, **changes: Any) -> CircuitBreaker:
    """A breaker opening after 3 failures, open 50-200 ms (real time), seeded jitter."""
    settings: dict[str, Any] = {
        "failure_threshold": 3,
        "open_duration": 0.05,
        "max_open_duration": 0.2,
        "rng": random.Random(seed).random,
    }
    settings.update(changes)
    return CircuitBreaker(**settings)


def make_sink(url: str, *, observe: bool = False, **kwargs: Any) -> RecordingSink:
    """A RecordingSink with fast real-time retry settings (overridable)."""
    kwargs.setdefault("retry", fast_policy())
    kwargs.setdefault("breaker", fast_breaker())
    kwargs.setdefault("rng", random.Random(11).random)
    kwargs.setdefault("timeout", 1.0)
    kwargs.setdefault("connect_timeout", 1.0)
    kwargs.setdefault("batch_deadline", 5.0)
    if observe:
        from nglogger._delivery.http import HttpTransport

        kwargs["transport"] = ObservingTransport(
            HttpTransport(connect_timeout=kwargs["connect_timeout"], read_timeout=kwargs["timeout"])
        )
    sink = RecordingSink(url, **kwargs)
    if observe:
        sink._transport.sink = sink
    return sink


@contextmanager
def running(sink: HttpSink, **settings: Any) -> Iterator[nglogger.Pipeline]:
    """A real default pipeline with ``sink`` as its only sink; shut down on exit."""
    settings.setdefault("flush_interval", 0.02)
    settings.setdefault("shutdown_timeout", 2.0)
    pipeline = nglogger.configure(Config(sinks=[sink], **settings))
    try:
        yield pipeline
    finally:
        pipeline.shutdown(2.0)


LOG = nglogger.get_logger("faults")


def emit(first: int, count: int) -> list[int]:
    """Log ``count`` events with ids ``first...``; the log call must never raise."""
    ids = list(range(first, first + count))
    for i in ids:
        LOG.info("event", id=i, pad=PAD)
    return ids


def sink_stats(pipeline: nglogger.Pipeline, sink: HttpSink) -> SinkStats:
    return pipeline.stats().sinks[sink.name]


def check_accounting(
    pipeline: nglogger.Pipeline, sink: RecordingSink, backend: Backend
) -> SinkStats:
    """Exact accounting, three ways: stats invariants, the sink's writes, the server's ids.

    Call when the pipeline is idle (after a successful flush).
    """
    stats = pipeline.stats()
    assert stats.submitted == stats.dispatched + stats.buffered_events + sum(stats.dropped.values())
    st = stats.sinks[sink.name]
    assert st.accepted == st.exported + sum(st.dropped.values()) + st.queued_events
    writes = sink.recorded()
    assert [w for w in writes if w.count != len(w.ids)] == []  # batches hold what they claim
    assert st.errors == 0, st.last_error  # HttpSink.write never raised
    assert "sink_error" not in st.dropped, (st.dropped, writes)
    by_write: Counter[str] = Counter()
    written = 0  # events whose write ended them: exported or dropped (not handed back)
    for w in writes:
        back = w.back
        assert w.outcome.exported + sum(w.outcome.dropped.values()) + back == len(w.ids)
        written += len(w.ids) - back
        by_write.update(w.outcome.dropped)
    assert st.exported == sum(w.outcome.exported for w in writes)
    for reason, n in st.dropped.items():
        if reason not in QUEUE_REASONS:
            assert n == by_write[reason], (reason, st.dropped, by_write)
    dropped_at_queue = sum(st.dropped.get(r, 0) for r in QUEUE_REASONS) - by_write["breaker_open"]
    assert dropped_at_queue == st.accepted - written - st.queued_events
    delivered = backend.delivered_ids()
    assert len(delivered) == len(set(delivered)), "an event reached the server twice"
    if all(w.outcome.exported in (0, len(w.ids)) for w in writes):
        exported_ids = sorted(i for w in writes if w.outcome.exported for i in w.ids)
        assert sorted(delivered) == exported_ids
    else:  # a write partly delivered (refused events found by bisection): same count
        assert len(delivered) == st.exported
    return st


def budget_bound(first_attempts: int, seconds: float, ratio: float = 0.1) -> float:
    """RetryBudget's documented ceiling on wire attempts (defaults: 0.1/s floor, 10 s window)."""
    return (1 + ratio) * first_attempts + 0.1 * (seconds + 10.0)


@pytest.fixture
def backend() -> Iterator[Backend]:
    server = Backend()
    try:
        yield server
    finally:
        server.close()
    assert server.handler_errors == 0


@pytest.fixture
def proxy(backend: Backend) -> Iterator[FaultProxy]:
    with FaultProxy(backend.port) as p:
        yield p
    assert p.errors == []


# ------------------------------------------------------------ outage: 503 storm
@pytest.mark.slow
def test_503_storm_memory_stays_within_the_configured_limits(backend: Backend) -> None:
    """During a 503 storm for the whole test, memory is bounded by buffer and sink-queue limits."""
    backend.set_script(always(503))
    # events wait in the queue (nothing is dropped while it has room); they expire
    # after 0.5 s so the pipeline becomes idle once the storm's traffic stops
    sink = make_sink(
        backend.url(),
        batch_deadline=0.3,
        max_age=0.5,
        max_request_bytes=64 * KiB,  # requests merge queued batches: the budget counts them
        max_record_bytes=4 * KiB,
    )
    settings = {
        "buffer_max_events": 2_000,
        "buffer_max_bytes": 256 * KiB,
        "batch_max_events": 100,
        "batch_max_bytes": 32 * KiB,
        "max_event_bytes": 4 * KiB,
        "sink_queue_max_events": 1_000,
        "sink_queue_max_bytes": 64 * KiB,
    }
    total = 50_000
    with running(sink, **settings) as pipeline:
        limits = pipeline.config
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            for start in range(0, total, 2_000):
                emit(start, 2_000)
                assert backend.wait_for(lambda n=len(backend.requests): len(backend.requests) > n)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        stats = pipeline.stats()
        assert pipeline.flush(10.0)
        st = check_accounting(pipeline, sink, backend)
    emitted = total * 190
    budget = limits.memory_budget  # buffer + batch + (sink queue + batch in flight)
    # threads, sockets, urllib3, the in-process http.server and the test's own objects:
    # on a loaded 2-core machine the server's share grew past 768 KiB (3 runs in 8 peaked
    # ~30 KB over), so 1 MiB, with enough events (9.5 MB) that an unbounded queue still shows
    slack = 1024 * KiB
    assert peak <= budget + slack, (peak, budget)
    assert emitted >= 5 * (budget + slack)  # an unbounded queue could not hide
    assert st.high_water_bytes <= limits.sink_queue_max_bytes
    assert st.high_water_events <= limits.sink_queue_max_events
    assert stats.high_water_bytes <= limits.buffer_max_bytes
    assert st.exported == 0
    assert set(st.dropped) <= FAULT_REASONS
    assert backend.delivered_ids() == []
    print(
        f"\n[storm memory] high_water={st.high_water_bytes} B peak={peak} B budget={budget} B emitted~{emitted} B drops={st.dropped}"
    )


@pytest.mark.slow
def test_503_storm_breaker_opens_and_sends_only_probes(backend: Backend) -> None:
    """In a 503 storm the breaker opens, sends nothing while open, and probes one request at a time."""
    backend.set_script(always(503))
    sink = make_sink(backend.url(), observe=True, batch_deadline=5.0, max_age=1.0)
    transport: ObservingTransport = sink._transport
    started = time.monotonic()
    with running(sink, batch_max_events=10, sink_queue_max_events=50) as pipeline:
        next_id = 0
        deadline = time.monotonic() + 15
        while sink.breaker.stats["probes"] < 10 and time.monotonic() < deadline:
            before = transport.count()
            next_id += len(emit(next_id, 10))
            assert backend.wait_for(lambda b=before: len(backend.requests) > b)
        assert pipeline.flush(10.0)
        st = check_accounting(pipeline, sink, backend)
    elapsed = time.monotonic() - started
    breaker = sink.breaker.stats
    sends = list(transport.sends)
    states = [state for _, state in sends]
    probes = [t for t, state in sends if state is BreakerState.HALF_OPEN]
    first_open = states.index(BreakerState.HALF_OPEN)
    assert breaker["opened"] >= 2
    assert breaker["probes"] >= 10
    assert BreakerState.OPEN not in states  # while open, no request is sent
    assert len(probes) == breaker["probes"]  # every request after opening is a probe
    assert set(states[first_open:]) == {BreakerState.HALF_OPEN}
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert min(gaps) >= 0.05  # open_duration between probes
    assert transport.max_inflight == 1
    assert backend.max_inflight == 1
    wire = len(backend.seen())
    first = sink.budget.stats["attempts"]
    assert wire == len(sends)
    assert wire <= budget_bound(first, elapsed)
    assert st.exported == 0
    assert set(st.dropped) <= FAULT_REASONS
    print(
        f"\n[storm breaker] wire={wire} first={first} ratio={wire / first:.3f} "
        f"breaker={breaker} min_probe_gap={min(gaps):.3f}s drops={st.dropped} "
        f"elapsed={elapsed:.2f}s"
    )


# The long outage on a fake clock (wire attempts per batch, probes per open period,
# max_age and queue-limit drops) is tests/test_outage_sim.py: the worker and the sink
# are driven turn by turn there, which a real pipeline's threads cannot be.


# --------------------------------------------------------- faults and recovery
FAULTS = ("503_storm", "slower_than_timeout", "refused", "reset_mid_body", "black_hole")


def always_slow(_arrival: Arrival) -> Reply:
    """Slower than the sink's timeout, and then a 503: a late answer is never a 2xx."""
    return Reply(503, delay=1.0)


def recovered_since(switched: float, fault: Script) -> Script:
    """200 for requests sent from ``switched`` on; the fault's answer for those sent before.

    Deciding by send time (not arrival) keeps the server's view exact when a loaded
    machine delays reading a request the sink already gave up on.
    """

    def script(arrival: Arrival) -> Reply:
        if arrival.sent is not None and arrival.sent >= switched:
            return Reply(200)
        return fault(arrival)

    return script


def _inject(fault: str, backend: Backend, proxy: FaultProxy) -> None:
    if fault == "503_storm":
        backend.set_script(always(503))
    elif fault == "slower_than_timeout":
        backend.set_script(always_slow)
    elif fault == "refused":
        proxy.refuse()
    elif fault == "reset_mid_body":
        proxy.reset(after_bytes=600, direction="request")  # headers ~200 B, body ~1.9 KB
    elif fault == "black_hole":
        proxy.black_hole()
    else:  # pragma: no cover
        raise AssertionError(fault)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.slow
def test_after_a_fault_every_queued_event_is_delivered_exactly_once(
    fault: str, backend: Backend, proxy: FaultProxy
) -> None:
    """After any fault ends, events still queued are delivered exactly once, one request at a time."""
    sink = make_sink(
        proxy.url("/ingest"), observe=True, timeout=0.5, compress=False, batch_deadline=10.0
    )
    transport: ObservingTransport = sink._transport
    with running(sink, batch_max_events=10, sink_queue_max_events=50) as pipeline:
        assert emit(0, 10)  # healthy first: one keep-alive connection is pooled
        assert pipeline.flush(5.0)
        _inject(fault, backend, proxy)
        before_fault = len(backend.seen())
        next_id = 1_000
        deadline = time.monotonic() + 15
        while sink.breaker.stats["probes"] < 3 and time.monotonic() < deadline:
            before = transport.count()
            next_id += len(emit(next_id, 10))
            assert transport.wait_sends(before + 1)
        assert sink.breaker.stats["probes"] >= 3
        # a burst while the breaker is open: the queue fills, the rest drops breaker_open
        accepted = sink_stats(pipeline, sink).accepted
        emit(next_id, 100)
        assert wait_until(lambda: sink_stats(pipeline, sink).accepted >= accepted + 100)
        queued_at_recovery = sink_stats(pipeline, sink).queued_events
        during_fault = len(backend.seen()) - before_fault
        switched = time.monotonic()
        backend.set_script(recovered_since(switched, backend.script))
        proxy.pass_through()
        recovered = time.monotonic()  # writes starting from now see a healthy path
        backend.reset_concurrency()
        assert pipeline.flush(10.0)  # the backlog drains
        after = emit(100_000, 30)  # and new events flow again
        assert pipeline.flush(10.0)
        st = check_accounting(pipeline, sink, backend)
    delivered = backend.delivered_ids()
    assert set(after) <= set(delivered)
    for w in sink.recorded():
        if w.started >= recovered:
            assert w.outcome.exported == len(w.ids), w  # nothing queued at recovery is lost
    assert st.high_water_events == 50  # the burst filled the sink queue
    assert queued_at_recovery >= 10  # and a backlog was waiting when the fault ended
    assert backend.max_inflight_ok == 1
    assert transport.max_inflight == 1
    assert set(st.dropped) <= FAULT_REASONS
    assert st.dropped  # the fault cost something, and it is counted
    assert sink.breaker.state is BreakerState.CLOSED
    assert BreakerState.OPEN not in {state for _, state in transport.sends}
    # evidence that the fault really happened where it was meant to
    if fault in ("refused", "black_hole", "reset_mid_body"):
        assert during_fault == 0  # no request got through to the server
    else:
        assert during_fault >= 3
    if fault == "reset_mid_body":
        assert backend.incomplete >= 1
    if fault == "black_hole":
        assert proxy.stats().discarded > 0
    if fault == "slower_than_timeout":
        assert sink.http_stats().get("timeout", 0) >= 1
    print(
        f"\n[{fault}] queued_at_recovery={queued_at_recovery} exported={st.exported} "
        f"dropped={st.dropped} breaker={sink.breaker.stats} http={sink.http_stats()}"
    )


# ------------------------------------------------------------------ Retry-After
def retry_after(form: str, seconds: int) -> str:
    """A Retry-After value ``seconds`` from now, as delta-seconds or as an HTTP-date."""
    if form == "delta":
        return str(seconds)
    return formatdate(time.time() + seconds, usegmt=True)


def first_then_ok(status: int, *headers: Callable[[], tuple[str, str]]) -> Script:
    """Answer the first request with ``status`` (headers computed then), later ones 200."""

    def script(arrival: Arrival) -> Reply:
        if arrival.index == 0:
            return Reply(status, tuple(h() for h in headers))
        return Reply(200)

    return script


@pytest.mark.parametrize(("form", "seconds"), [("delta", 1), ("http_date", 2)])
@pytest.mark.slow
def test_429_retry_after_is_honoured_in_both_forms(
    form: str, seconds: int, backend: Backend
) -> None:
    """A 429's Retry-After (delta-seconds or HTTP-date) sets the wait before the one retry."""
    backend.set_script(first_then_ok(429, lambda: ("Retry-After", retry_after(form, seconds))))
    sink = make_sink(backend.url())
    with running(sink, batch_max_events=5) as pipeline:
        emit(0, 5)
        assert pipeline.flush(10.0)
        st = check_accounting(pipeline, sink, backend)
    first, second = backend.seen()
    waited = second.arrived - first.arrived
    assert (first.status, second.status) == (429, 200)
    assert 0.9 <= waited <= seconds + 0.5  # backoff alone would retry within 50 ms
    assert st.exported == 5
    assert sorted(backend.delivered_ids()) == [0, 1, 2, 3, 4]
    print(f"\n[429 {form}] Retry-After {seconds}s -> retried after {waited:.3f}s")


@pytest.mark.parametrize("form", ["delta", "http_date"])
@pytest.mark.slow
def test_retry_after_beyond_the_batch_deadline_gives_up_at_once(
    form: str, backend: Backend
) -> None:
    """A Retry-After later than the write's deadline hands the batch back at once: it waits queued.

    Nothing is dropped (the queue has room); the sink is not ready again before the
    server's Retry-After, and no second request is sent meanwhile.
    """
    backend.set_script(always(429, ("Retry-After", retry_after(form, 30))))
    sink = make_sink(backend.url(), batch_deadline=2.0)
    with running(sink, batch_max_events=5) as pipeline:
        emit(0, 5)
        assert not pipeline.flush(0.5)
        assert wait_until(lambda: len(sink.recorded()) == 1)
        st = pipeline.stats().sinks[sink.name]
        assert dict(st.dropped) == {}
        assert st.queued_events == 5
        assert sink.ready_in() > 20.0
    (write,) = sink.recorded()
    assert len(backend.seen()) == 1
    assert write.ended - write.started < 0.5
    assert write.back == 5
    assert write.outcome.exported == 0


# ------------------------------------------------------------- rejected, 413
@pytest.mark.parametrize("status", [401, 403, 404])
def test_client_errors_are_never_retried(status: int, backend: Backend) -> None:
    """401, 403 and 404 (about the request, not its events) cost one request and drop it all."""
    backend.set_script(always(status))
    sink = make_sink(backend.url())
    with running(sink, batch_max_events=5) as pipeline:
        emit(0, 5)
        assert pipeline.flush(5.0)
        st = check_accounting(pipeline, sink, backend)
    assert [r.status for r in backend.seen()] == [status]
    assert dict(st.dropped) == {"rejected": 5}
    assert sink.breaker.state is BreakerState.CLOSED  # the backend is up: not a failure


def test_413_splits_in_halves_until_one_event_is_left_then_drops_it_as_too_large(
    backend: Backend,
) -> None:
    """A 413 splits the request in halves, recursively; only a single event is dropped."""
    backend.set_script(always(413))
    sink = make_sink(backend.url())
    with running(sink, batch_max_events=4) as pipeline:
        emit(0, 4)
        assert pipeline.flush(5.0)
        st = check_accounting(pipeline, sink, backend)
    assert [r.ids for r in backend.seen()] == [
        (0, 1, 2, 3),
        (0, 1),
        (0,),
        (1,),
        (2,),  # (2, 3) is never sent: as large as (0, 1), which was refused
        (3,),
    ]
    assert dict(st.dropped) == {"too_large": 4}


def test_413_split_halves_that_fit_are_delivered_exactly_once(backend: Backend) -> None:
    """When the halves of a 413'd request fit, both are delivered and nothing is sent twice."""
    backend.set_script(lambda a: Reply(413 if len(a.ids) > 5 else 200))
    sink = make_sink(backend.url())
    with running(sink, batch_max_events=10) as pipeline:
        emit(0, 10)
        assert pipeline.flush(5.0)
        st = check_accounting(pipeline, sink, backend)
    assert [r.status for r in backend.seen()] == [413, 200, 200]
    assert sorted(backend.delivered_ids()) == list(range(10))
    assert st.exported == 10
    assert not st.dropped


# ------------------------------------------------------------ backend answers
def test_a_400_for_every_event_is_bisected_down_to_single_events(backend: Backend) -> None:
    """A 400 may be about one event: halves are sent until each refused event stands alone."""
    backend.set_script(always(400))
    sink = make_sink(backend.url())
    with running(sink, batch_max_events=5) as pipeline:
        emit(0, 5)
        assert pipeline.flush(5.0)
        st = check_accounting(pipeline, sink, backend)
    seen = [r.ids for r in backend.seen()]
    assert seen == [(0, 1, 2, 3, 4), (0, 1), (0,), (1,), (2, 3, 4), (2,), (3, 4), (3,), (4,)]
    assert dict(st.dropped) == {"rejected": 5}
    assert sink.breaker.state is BreakerState.CLOSED  # the backend is up: not a failure


def test_a_poison_event_costs_only_itself(backend: Backend) -> None:
    """5 events a backend refuses among 100: the 95 others are delivered exactly once,
    within 2*ceil(log2 100) extra requests per refused event."""
    poison = {7, 23, 50, 51, 90}
    backend.set_script(lambda a: Reply(400 if poison.intersection(a.ids) else 200))
    sink = make_sink(backend.url())
    with running(sink, batch_max_events=100) as pipeline:
        emit(0, 100)
        assert pipeline.flush(10.0)
        st = check_accounting(pipeline, sink, backend)
    assert sorted(backend.delivered_ids()) == sorted(set(range(100)) - poison)
    assert dict(st.dropped) == {"rejected": 5}
    assert st.exported == 95
    requests = len(backend.seen())
    assert requests <= 1 + len(poison) * 2 * 7, requests
    assert sink.http_stats()["bisect"] >= 1


def test_a_proxy_body_limit_splits_what_is_too_large_and_is_learned(backend: Backend) -> None:
    """An nginx-style 413 above 16 KiB on the wire: nothing lost, and once the limit is
    learned the sink stops sending requests the proxy refuses."""
    limit = 16 * KiB
    backend.set_script(lambda a: Reply(413 if a.wire_bytes > limit else 200))
    sink = make_sink(backend.url())
    rng = random.Random(5)
    with running(sink, batch_max_events=100, flush_interval=0.05) as pipeline:
        for i in range(600):  # 1-3 KB events that do not compress away
            LOG.info("event", id=i, pad=rng.randbytes(rng.randint(500, 1500)).hex())
        assert pipeline.flush(20.0)
        st = check_accounting(pipeline, sink, backend)
    assert sorted(backend.delivered_ids()) == list(range(600))
    assert not st.dropped
    seen = backend.seen()
    refused = [r for r in seen if r.status == 413]
    assert refused, "the test must reach the limit"
    # after the cap is learned, the 413s stop: the last one comes early
    last = max(i for i, r in enumerate(seen) if r.status == 413)
    assert last < len(seen) // 2, (last, len(seen))
    assert sink.delivery.learned_cap is not None


def test_stale_keep_alive_connections_cost_no_retry_no_breaker_and_no_warning(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A server that resets every third request on a reused connection (an idle timeout
    racing the request) is healthy: each request is resent at once on a fresh
    connection, no retry is spent, the breaker stays closed and nothing is said."""
    count = itertools.count()
    server = LoopbackServer(lambda _r: None if next(count) % 3 == 1 else (200, {}, b""))
    sink = make_sink(server.url)
    try:
        with running(sink) as pipeline:
            for i in range(30):
                emit(i, 1)
                assert pipeline.flush(5.0)
            st = sink_stats(pipeline, sink)
    finally:
        server.close()
    assert (st.exported, dict(st.dropped)) == (30, {})
    http = sink.http_stats()
    assert http.get("retries", 0) == 0
    assert http["stale_resends"] >= 9
    assert http["budget"]["retries"] == 0
    assert sink.breaker.state is BreakerState.CLOSED
    assert "failing" not in capfd.readouterr().err


@pytest.mark.slow
def test_a_backend_slower_than_the_timeout_costs_at_most_one_duplicate_request(
    backend: Backend,
) -> None:
    """A backend that stores each request and answers after 1.5 s, with a 1 s read
    timeout: the request times out (its events retried, not lost), the retry waits
    longer and gets the answer. Each event arrives at most twice; once the backend is
    fast again the timeout is back to the setting."""
    backend.set_script(lambda _a: Reply(200, delay=1.5))
    sink = make_sink(backend.url(), timeout=1.0)
    with running(sink, batch_max_events=10) as pipeline:
        emit(0, 10)
        assert pipeline.flush(15.0)
        st = sink_stats(pipeline, sink)
        assert (st.exported, dict(st.dropped)) == (10, {})
        counts = Counter(backend.delivered_ids())
        assert set(counts) == set(range(10))
        assert max(counts.values()) <= 2  # one lost response: one duplicate request
        assert len(backend.seen()) == 2
        http = sink.http_stats()
        assert (http["timeouts"], http["timeout_stretched"]) == (1, 1)
        assert sink._transport.read_timeout == 2.0  # type: ignore[attr-defined]
        backend.set_script(always(200))
        emit(10, 1)
        assert pipeline.flush(5.0)
        assert sink._transport.read_timeout == 1.0  # type: ignore[attr-defined]


# -------------------------------------------------------------------- shutdown
class WatchedEvent(threading.Event):
    """The sink's stop Event, recording how long each wait() was asked to last."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []
        self.waiting = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(timeout)
        self.waiting.set()
        return super().wait(timeout)


def test_close_interrupts_a_long_retry_after_wait(backend: Backend) -> None:
    """close() during a 30 s Retry-After wait makes write return at once, counted shutdown_deadline."""
    backend.set_script(always(429, ("Retry-After", "30")))
    sink = make_sink(backend.url(), batch_deadline=60.0)
    watched = WatchedEvent()
    sink._stop = watched
    with running(sink, batch_max_events=5) as pipeline:
        emit(0, 5)
        assert watched.waiting.wait(5.0)  # the sink is now waiting out the Retry-After
        closed_at = time.monotonic()
        sink.close()
        assert wait_until(lambda: len(sink.recorded()) == 1)
        assert pipeline.flush(2.0)
        st = check_accounting(pipeline, sink, backend)
    (write,) = sink.recorded()
    assert watched.waits == [30.0]  # exactly what the server asked for
    assert write.ended - closed_at < 0.5
    assert len(backend.seen()) == 1
    assert dict(st.dropped) == {"shutdown_deadline": 5}
    print(
        f"\n[close during Retry-After] write returned {write.ended - closed_at:.3f}s after close()"
    )


def test_pipeline_shutdown_is_bounded_during_a_long_retry_after(backend: Backend) -> None:
    """Pipeline shutdown returns within its timeout while the sink waits out a long Retry-After."""
    backend.set_script(always(429, ("Retry-After", "30")))
    sink = make_sink(backend.url(), batch_deadline=60.0)
    watched = WatchedEvent()
    sink._stop = watched
    pipeline = nglogger.configure(Config(sinks=[sink], batch_max_events=5, flush_interval=0.02))
    emit(0, 5)
    assert watched.waiting.wait(5.0)
    started = time.monotonic()
    delivered_all = pipeline.shutdown(0.5)
    elapsed = time.monotonic() - started
    assert wait_until(lambda: len(sink.recorded()) == 1)  # the write ended too
    st = sink_stats(pipeline, sink)
    assert not delivered_all
    assert elapsed < 0.5 + 0.5
    assert dict(st.dropped) == {"shutdown_deadline": 5}
    assert st.accepted == st.exported + sum(st.dropped.values()) + st.queued_events
    print(f"\n[shutdown during Retry-After] shutdown(0.5) took {elapsed:.3f}s")


def test_pipeline_shutdown_is_bounded_while_a_request_hangs_in_a_black_hole(
    backend: Backend, proxy: FaultProxy
) -> None:
    """Pipeline shutdown returns within its timeout while a request hangs in a black hole."""
    proxy.black_hole()
    sink = make_sink(proxy.url("/ingest"), observe=True, timeout=2.0)
    transport: ObservingTransport = sink._transport
    pipeline = nglogger.configure(Config(sinks=[sink], batch_max_events=5, flush_interval=0.02))
    emit(0, 5)
    assert transport.wait_sends(1)
    assert proxy.wait_for(lambda s: s.discarded > 0, 5.0)  # the request is in the hole
    started = time.monotonic()
    pipeline.shutdown(0.3)
    elapsed = time.monotonic() - started
    st = sink_stats(pipeline, sink)
    assert elapsed < 0.3 + 0.5
    assert dict(st.dropped) == {"shutdown_deadline": 5}
    assert backend.seen() == []


def test_close_aborts_a_request_stuck_in_a_black_hole(backend: Backend, proxy: FaultProxy) -> None:
    """close() makes a write stuck on a black-holed request return promptly (Sink protocol)."""
    proxy.black_hole()
    sink = make_sink(proxy.url("/ingest"), observe=True, timeout=2.0)
    transport: ObservingTransport = sink._transport
    with running(sink, batch_max_events=5):
        emit(0, 5)
        assert transport.wait_sends(1)
        assert proxy.wait_for(lambda s: s.discarded > 0, 5.0)
        closed_at = time.monotonic()
        sink.close()
        assert wait_until(lambda: len(sink.recorded()) == 1, 5.0)
    (write,) = sink.recorded()
    print(f"\n[close in black hole] write returned {write.ended - closed_at:.3f}s after close()")
    assert write.ended - closed_at < 0.5


def test_a_2xx_whose_reply_body_stalls_is_not_sent_twice(backend: Backend) -> None:
    """A batch the server answered 2xx is not resent when the reply's body stalls past the timeout."""
    backend.set_script(lambda a: Reply(200, stall=0.6 if a.index == 0 else 0.0))
    sink = make_sink(backend.url(), timeout=0.2)
    with running(sink, batch_max_events=5) as pipeline:
        emit(0, 5)
        assert pipeline.flush(5.0)
        delivered = backend.delivered_ids()
        print(f"\n[stalled 2xx body] server received ids {delivered}")
        check_accounting(pipeline, sink, backend)
