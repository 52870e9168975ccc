"""Long outages on a fake clock: the real SinkWorker and HttpSink, driven turn by turn.

``SinkWorker.step(wait)`` is the worker thread's loop body; here ``wait`` moves a
fake clock instead of sleeping, and the sink's own backoff waits (``sleep=``) do
too, so ten minutes of outage run in well under a second of real time. The
transport is a ``MockTransport`` answering 503 (or nothing: a black hole) until
the outage ends. Nothing is random but the seeded jitter.
"""

from __future__ import annotations

import gzip
import itertools
import random
from dataclasses import dataclass, field

import orjson
import pytest

from nglogger import Batch, SinkStats
from nglogger._delivery.retry import CircuitBreaker, RetryBudget, RetryPolicy
from nglogger._delivery.transport import HttpResponse, MockTransport, Request
from nglogger._pipeline.worker import SinkWorker
from nglogger.sinks.http import HttpSink

OPEN = 3.0  # the breaker's first open period (the default)
MAX_OPEN = 4.5  # its cap (the default)


@dataclass
class Sim:
    """Fake time, a scripted backend, the sink and its worker."""

    down_until: float
    black_hole: bool = False
    now: float = 0.0
    sends: list[tuple[float, int]] = field(default_factory=list)  # (time, events) per request
    delivered: list[int] = field(default_factory=list)
    next_id: int = 0

    def clock(self) -> float:
        return self.now

    def handler(self, request: Request) -> HttpResponse:
        events = [orjson.loads(line) for line in gzip.decompress(request.body).splitlines()]
        self.sends.append((self.now, len(events)))
        if self.now < self.down_until:
            if self.black_hole:
                self.now += 10.0  # the read timeout elapses
                return HttpResponse(None, error="timed out", error_kind=_timeout())
            return HttpResponse(503)
        self.delivered.extend(e["id"] for e in events)
        return HttpResponse(200)

    def sleep(self, seconds: float) -> bool:
        self.now += seconds
        return False

    def batch(self, n: int) -> Batch:
        ids = range(self.next_id, self.next_id + n)
        self.next_id += n
        return Batch.from_events([orjson.dumps({"id": i, "pad": "x" * 80}) for i in ids])


def _timeout() -> object:
    from nglogger._delivery.retry import AttemptKind

    return AttemptKind.TIMEOUT


def build(sim: Sim, *, max_age: float = 900.0, queue_events: int = 10**7) -> SinkWorker:
    sink = HttpSink(
        "http://127.0.0.1:9/ingest",
        transport=MockTransport(sim.handler),
        clock=sim.clock,
        rng=random.Random(7).random,
        sleep=sim.sleep,
        budget=RetryBudget(clock=sim.clock),
        breaker=CircuitBreaker(clock=sim.clock, rng=random.Random(8).random),
        retry=RetryPolicy(retryable_statuses=frozenset({503})),
        max_age=max_age,
        max_request_events=1_000,
    )
    return SinkWorker(
        sink,
        max_events=queue_events,
        max_bytes=1 << 40,
        overflow="drop_oldest",
        clock=sim.clock,
    )


def run(sim: Sim, worker: SinkWorker, *, until: float, rate: int = 100) -> None:
    """Offer one batch of ``rate`` events per fake second until ``until``, stepping the worker."""
    next_offer = 0.0

    def wait(timeout: float | None) -> None:
        target = next_offer if timeout is None else min(sim.now + timeout, next_offer)
        sim.now = max(sim.now, target)

    while True:
        while sim.now >= next_offer and next_offer < until:
            worker.offer(sim.batch(rate))
            next_offer += 1.0
        if next_offer >= until:
            next_offer = float("inf")
        state = worker.step(wait)
        if state == "idle" and next_offer == float("inf"):
            return
        assert sim.now < until + 3_600, "the backlog never drained"


def invariant(worker: SinkWorker) -> SinkStats:
    snap = worker.snapshot()
    assert snap.accepted == snap.exported + sum(snap.dropped.values()) + snap.queued_events
    return snap


@pytest.mark.parametrize("black_hole", [False, True])
def test_ten_minute_outage_costs_probes_not_data(black_hole: bool) -> None:
    """10 min of 503 (or timeouts): one request per open period, nothing lost, full-request drain."""
    outage = 600.0
    sim = Sim(down_until=outage, black_hole=black_hole)
    worker = build(sim)
    run(sim, worker, until=outage + 60.0)
    snap = invariant(worker)
    assert snap.dropped == {}
    assert snap.queued_events == 0
    assert sorted(sim.delivered) == list(range(sim.next_id))  # every event exactly once
    during = [t for t, _ in sim.sends if t < outage]
    opened = worker.sink.breaker.stats["opened"]  # type: ignore[attr-defined]
    # after the breaker opens, one request per open period: the gaps are at least OPEN
    first_open = next(i for i in range(1, len(during)) if during[i] - during[i - 1] >= OPEN)
    probes = during[first_open:]
    gaps = [b - a for a, b in itertools.pairwise(probes)]
    assert all(gap >= OPEN - 1e-6 for gap in gaps), gaps
    timeout = 10.0 if black_hole else 0.0  # a black-holed probe waits out its read timeout
    assert all(gap <= MAX_OPEN + timeout + 1.0 for gap in gaps), gaps
    assert len(during) <= first_open + outage / OPEN
    assert opened >= 1
    if not black_hole:  # (a timed-out request is 10 s long: gaps alone do not show opens)
        assert opened >= len(probes) - 1
    batches = sim.next_id // 100
    assert len(sim.sends) <= 1.1 * batches  # wire attempts per batch delivered
    # the drain: the backlog (~600 batches of ~100 events) goes out in full requests
    drain = [n for t, n in sim.sends if t >= outage]
    backlog = sum(drain)
    assert max(drain) == 1_000
    assert len(drain) <= backlog / 1_000 + 62  # full requests, then one per new batch
    print(
        f"\n[sim {'black hole' if black_hole else '503'}] requests during outage={len(during)} "
        f"probes={len(probes)} max_gap={max(gaps):.1f}s drain requests={len(drain)} "
        f"for {backlog} events; wire/batch={len(sim.sends) / batches:.3f}"
    )


def test_max_age_expires_the_oldest_and_nothing_else() -> None:
    """With max_age 5 min, a 10 min outage drops exactly the batches older than that: expired."""
    outage = 600.0
    sim = Sim(down_until=outage)
    worker = build(sim, max_age=300.0)
    run(sim, worker, until=outage + 30.0)
    snap = invariant(worker)
    assert set(snap.dropped) == {"expired"}
    expired = snap.dropped["expired"]  # type: ignore[index]
    # a batch offered at t is dropped once t + 300 passes before it could be delivered:
    # everything offered before (first successful request - 300 s), nothing after
    recovered = min(t for t, _ in sim.sends if t >= outage)
    # give or take one request: a merged write handed back keeps its oldest batch's age,
    # so up to 1,000 events (one full request) expire together
    assert (recovered - 300.0) * 100 - 1_200 <= expired <= (recovered - 300.0) * 100 + 1_200
    assert expired >= 29_900
    assert snap.exported == sim.next_id - expired
    assert sorted(sim.delivered) == list(range(expired, sim.next_id))  # the oldest went


def test_queue_limit_drops_the_oldest_when_it_bites() -> None:
    """A queue of 20,000 events in a 10 min outage: the overflow drops the oldest, nothing else."""
    outage = 600.0
    sim = Sim(down_until=outage)
    worker = build(sim, queue_events=20_000)
    run(sim, worker, until=outage + 30.0)
    snap = invariant(worker)
    assert set(snap.dropped) == {"breaker_open"}
    lost = snap.dropped["breaker_open"]  # type: ignore[index]
    assert snap.exported == sim.next_id - lost
    # what was delivered: the newest events of the outage and everything after it
    delivered = sorted(sim.delivered)
    assert delivered == list(range(lost, sim.next_id))
    # kept: the queue (20,000) and the request in flight, plus what was logged after the
    # recovery (delivered as it came)
    recovered = min(t for t, _ in sim.sends if t >= outage)
    after = (outage + 30.0 - recovered) * 100
    assert sim.next_id - 20_000 - 1_000 - after - 200 <= lost
    assert lost <= sim.next_id - 20_000 + 1_000 + 3_000
