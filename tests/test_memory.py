"""Memory guarantees, measured: tracemalloc is the authority, pympler a relative cross-check.

What is specified here (DESIGN.md, invariants 1 and 2):

* an event held by the pipeline costs its payload bytes plus a small constant;
* a log call allocates orjson's output plus the event dict, never a Python copy of the
  bound context, and what it leaves behind tracks the payload only;
* every sink shares the same batch objects (four stalled sinks cost what one costs);
* a stalled sink cannot push memory past ``Config.memory_budget``, drops are counted
  exactly and the logging thread never waits for the sink;
* after shutdown, pipelines, sinks, loggers and the objects they saw are collectable.

The measurements are memory, not time, so they hold on a noisy machine. Detector tests
plant known-bad designs (a deep clone per event, raw orjson results in the buffer) with
``monkeypatch`` and check that the same measurement catches them.
"""

from __future__ import annotations

import copy
import gc
import statistics
import sys
import threading
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from pympler import asizeof
from support.waiting import wait_for

import nglogger
from nglogger import Batch, Config, Logger, Pipeline, Stats
from nglogger._event import logger as _logger
from nglogger._event.encode import OPTIONS
from nglogger._pipeline import pipeline as _pipeline
from nglogger._pipeline import worker as _worker
from nglogger.sinks import MemorySink, NullSink

KiB = 1024
MiB = 1024 * KiB
WAIT = 10.0  # seconds: generous deadline for predicates that normally hold at once

#: Retained bytes allowed per held event: RATIO x payload + CONSTANT.
RATIO = 1.1
CONSTANT = 64


# -- helpers -------------------------------------------------------------------------


class StalledSink:
    """A sink whose ``write`` blocks until ``release`` is set (by the test or ``close``)."""

    def __init__(self, name: str = "stalled") -> None:
        self.name = name
        self.release = threading.Event()
        self.entered = threading.Event()
        self.first_batch: Batch | None = None
        self.returned = 0
        self.delivered = 0
        self.indices: list[int] = []

    def write(self, batch: Batch) -> None:
        if self.first_batch is None:
            self.first_batch = batch
        self.entered.set()
        self.release.wait()
        self.delivered += batch.count
        self.indices.extend(doc["i"] for doc in map(orjson.loads, batch.events()) if "i" in doc)
        self.returned += 1

    def close(self) -> None:
        self.release.set()


class Traceable:
    """A user object that can be watched with a weak reference."""

    def __repr__(self) -> str:
        return "Traceable()"


@dataclass(frozen=True)
class Retained:
    """Memory left behind by ``events`` log calls, next to the payload bytes they carried."""

    events: int
    payload_bytes: int
    retained_bytes: int

    @property
    def payload_per_event(self) -> float:
        return self.payload_bytes / self.events

    @property
    def per_event(self) -> float:
        return self.retained_bytes / self.events

    @property
    def bound_per_event(self) -> float:
        return RATIO * self.payload_per_event + CONSTANT

    def describe(self) -> str:
        return (
            f"{self.events} events: retained {self.per_event:.1f} B/event for "
            f"{self.payload_per_event:.1f} B of payload (x{self.per_event / self.payload_per_event:.3f}); "
            f"bound {RATIO} x payload + {CONSTANT} B = {self.bound_per_event:.1f} B/event"
        )


@pytest.fixture
def traced() -> Iterator[None]:
    """tracemalloc running for the test (one frame per trace: cheapest)."""
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start(1)
    yield
    if started:
        tracemalloc.stop()


@pytest.fixture
def stalled() -> Iterator[Callable[[str], StalledSink]]:
    """A factory of stalled sinks, all released before the pipeline is torn down."""
    made: list[StalledSink] = []

    def make(name: str = "stalled") -> StalledSink:
        sink = StalledSink(name)
        made.append(sink)
        return sink

    yield make
    for sink in made:
        sink.release.set()
    nglogger.shutdown(timeout=WAIT)


def start_stalled(sinks: list[StalledSink], **settings: Any) -> Pipeline:
    """The default pipeline over ``sinks``, each one blocked in ``write`` on a warm-up batch.

    From then on every batch stays in the sink queues, and the in-flight batch (one
    warm-up event, not in ``queued_bytes``) is the same before and after a measurement.
    """
    settings.setdefault("flush_interval", 60.0)
    settings.setdefault("report_interval", 0)  # no drop-report events in exact counts
    pipeline = nglogger.configure(sinks=sinks, **settings)
    nglogger.get_logger("warm-up").info("warm-up")
    pipeline.flush(timeout=0)
    for sink in sinks:
        assert sink.entered.wait(WAIT), f"sink {sink.name} never received the warm-up batch"
    return pipeline


def held_payload_bytes(stats: Stats) -> int:
    """Payload bytes held: in the buffer plus queued for the (first) sink."""
    queued = next(iter(stats.sinks.values())).queued_bytes if stats.sinks else 0
    return stats.buffered_bytes + queued


def sink_drops(stats: Stats) -> dict[str, dict[str, int]]:
    return {name: dict(s.dropped) for name, s in stats.sinks.items()}


def measure_retained_per_event(
    pipeline: Pipeline,
    log_event: Callable[[int], None],
    n: int,
    *,
    settle: bool = True,
    warmup: int | None = None,
) -> Retained:
    """Traced memory left behind by ``n`` calls of ``log_event(i)``, and their payload bytes.

    The pipeline must hold every event (a stalled sink, roomy limits): the payload is
    read from its own byte accounting (``buffered_bytes`` + queued bytes), the retained
    memory from tracemalloc after ``gc.collect()``. ``warmup`` calls of the same kind
    come first (default: two batches' worth) so that fixed costs, such as the buffer's
    arenas sized to this kind of batch, are in the baseline: what is measured is the
    cost of one more event. With ``settle`` (the default) the buffer is handed to the
    sinks with ``flush(timeout=0)`` before each reading, which returns once no dispatch
    is in progress; ``settle=False`` is for a pipeline that never seals.
    """
    if warmup is None:
        warmup = 0
        if settle:
            held = held_payload_bytes(pipeline.stats())
            log_event(n)
            size = max(1, held_payload_bytes(pipeline.stats()) - held)
            config = pipeline.config
            warmup = 2 * min(config.batch_max_events, config.batch_max_bytes // size + 1)
    for i in range(warmup):
        log_event(n + 1 + i)
    if settle:
        pipeline.flush(timeout=0)
    gc.collect()
    before = pipeline.stats()
    memory_before = tracemalloc.get_traced_memory()[0]
    for i in range(n):
        log_event(i)
    if settle:
        pipeline.flush(timeout=0)
    gc.collect()
    memory_after = tracemalloc.get_traced_memory()[0]
    after = pipeline.stats()
    assert after.submitted - before.submitted == n, "every call must reach the pipeline"
    assert (dict(after.dropped), sink_drops(after)) == (
        dict(before.dropped),
        sink_drops(before),
    ), "the measurement needs every event held, none dropped; raise the limits"
    return Retained(
        events=n,
        payload_bytes=held_payload_bytes(after) - held_payload_bytes(before),
        retained_bytes=memory_after - memory_before,
    )


def log_request(log: Logger, i: int) -> None:
    """A realistic access-log event (~270 B of NDJSON)."""
    log.info(
        "request handled",
        path=f"/api/v1/orders/{i:06d}",
        status=200,
        duration_ms=12.5 + i % 100,
        user_id=f"u-{i:08d}",
        trace_id="0af7651916cd43dd8448eb211c80319c",
        i=i,
    )


REALISTIC_CONTEXT = {"service": "checkout", "region": "eu-west-1"}


def big_context() -> dict[str, Any]:
    """~10 KB of JSON as 200 keys of nested dicts and lists (>10x that as Python objects)."""
    return {
        f"key_{k:03d}": {"id": k, "tags": ["a", f"t{k}"], "meta": {"n": [k]}} for k in range(200)
    }


#: Something done to the pipeline once the logger is bound, before measuring.
Plant = Callable[[Pipeline, dict[str, Any]], None]


def realistic_retained(
    make_sink: Callable[[str], StalledSink], plant: Plant | None = None
) -> Retained:
    """Scenario 1: 20k realistic events held behind a stalled sink, default batch limits."""
    pipeline = start_stalled([make_sink("stalled")])
    log = nglogger.get_logger("svc").bind(**REALISTIC_CONTEXT)
    if plant is not None:
        plant(pipeline, REALISTIC_CONTEXT)
    return measure_retained_per_event(pipeline, lambda i: log_request(log, i), 20_000)


def big_context_retained(
    make_sink: Callable[[str], StalledSink],
    plant: Plant | None = None,
    n: int = 2_000,
    *,
    also_tiny: bool = True,
) -> list[Retained]:
    """Scenario 2: ``n`` events from a logger bound to ``big_context()``, then (if
    ``also_tiny``) ``n`` from a logger bound to one field, in the same pipeline."""
    pipeline = start_stalled(
        [make_sink("stalled")], buffer_max_bytes=64 * MiB, sink_queue_max_bytes=64 * MiB
    )
    context = big_context()
    big = nglogger.get_logger("svc").bind(**context)
    tiny = nglogger.get_logger("svc").bind(request_id="r-1")
    if plant is not None:
        plant(pipeline, context)
    measured = [measure_retained_per_event(pipeline, lambda i: big.info("order placed", i=i), n)]
    if also_tiny:
        measured.append(
            measure_retained_per_event(pipeline, lambda i: tiny.info("order placed", i=i), n)
        )
    return measured


def transient_peak_per_call(log_event: Callable[[int], None], n: int = 200) -> int:
    """Median over ``n`` calls of the traced peak above the memory level before the call.

    The median hides the rare call that grows the buffer's arena.
    """
    for i in range(10):  # warm caches (timestamp prefix, freelists)
        log_event(i)
    gc.collect()
    peaks = []
    for i in range(n):
        current = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        log_event(i)
        peaks.append(tracemalloc.get_traced_memory()[1] - current)
    return int(statistics.median(peaks))


def orjson_floor(document: dict[str, Any]) -> tuple[int, int]:
    """(traced peak, length) of one ``orjson.dumps`` of ``document``: the unavoidable cost."""
    orjson.dumps(document, option=OPTIONS)
    gc.collect()
    current = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    data = orjson.dumps(document, option=OPTIONS)
    return tracemalloc.get_traced_memory()[1] - current, len(data)


@dataclass(frozen=True)
class Transient:
    """A log call's median peak next to what orjson alone needs for the same document."""

    payload: int
    peak: int
    floor: int
    event_dict: int

    @property
    def overhead(self) -> int:
        """Peak beyond orjson's own buffers."""
        return self.peak - self.floor

    @property
    def bound(self) -> int:
        """The event dict the call builds plus a constant: nothing scales with the context."""
        return self.event_dict + 4 * KiB

    def describe(self) -> str:
        return (
            f"payload {self.payload} B: call peak {self.peak} B, orjson alone {self.floor} B, "
            f"overhead {self.overhead} B; bound (event dict {self.event_dict} B + 4 KiB) "
            f"{self.bound} B"
        )


def measure_transient(log: Logger, context: dict[str, Any]) -> Transient:
    """The peak of ``log.info("order placed", i=i)`` against an equivalent plain document."""
    head = {
        "timestamp": "2026-11-26T13:47:50.800619Z",
        "level": "info",
        "logger": log.name,
        "message": "order placed",
    }
    document = {**head, **context, "i": 100}
    floor, length = orjson_floor(document)
    peak = transient_peak_per_call(lambda i: log.info("order placed", i=100 + i % 10))
    return Transient(length, peak, floor, sys.getsizeof(document))


def plant_in_hand_off(
    monkeypatch: pytest.MonkeyPatch, pipeline: Pipeline, work: Callable[[], object]
) -> None:
    """Run ``work`` in every log call that encodes its event itself (``Pipeline.direct``)."""
    direct = pipeline.direct
    assert direct is not None  # the hot path the bounds are about
    default, max_bytes, offer, after, *rest = direct
    if rest[-1] is not None:
        # The C log call appends a small event to the inbox itself (``Constants``: the
        # inbox at 8, its open flag at 9); with a closed flag of its own it calls the
        # hand-off below for every event (the buffer's appender reads its real flag).
        constants = list(rest[-1])
        constants[9] = [False]
        rest[-1] = tuple(constants)

    def planted(data: bytes) -> int:
        work()
        return offer(data)

    monkeypatch.setattr(pipeline, "direct", (default, max_bytes, planted, after, *rest))


def plant_deep_clone(monkeypatch: pytest.MonkeyPatch) -> Plant:
    """ng-logger's snapshot: deep-copy the bound context per event, keep it with the record."""

    def plant(pipeline: Pipeline, context: dict[str, Any]) -> None:
        clones: list[dict[str, Any]] = []
        real_emit = pipeline.emit

        def emit(event: dict[str, Any]) -> None:
            clones.append(copy.deepcopy(context))
            real_emit(event)

        monkeypatch.setattr(pipeline, "emit", emit)
        plant_in_hand_off(monkeypatch, pipeline, lambda: clones.append(copy.deepcopy(context)))
        monkeypatch.setattr(pipeline, "planted_clones", clones, raising=False)

    return plant


# -- 1. retained memory per held event ------------------------------------------------


@pytest.mark.slow
def test_retained_memory_per_held_event_is_its_payload_plus_a_small_constant(
    traced: None, stalled: Callable[[str], StalledSink]
) -> None:
    """Each event held behind a stalled sink costs at most 1.1 x its payload bytes + 64 B."""
    measured = realistic_retained(stalled)

    assert 150 <= measured.payload_per_event <= 300, measured.describe()
    assert measured.retained_bytes >= 0.99 * measured.payload_bytes, (
        f"tracemalloc sees less than the byte accounting claims: {measured.describe()}"
    )
    assert measured.per_event <= measured.bound_per_event, measured.describe()


def test_events_kept_in_the_buffer_cost_their_payload_within_the_arena_slack(
    traced: None,
) -> None:
    """Events held in the buffer itself cost their payload plus at most the arena's 1/8 growth slack."""
    pipeline = nglogger.configure(
        sinks=[NullSink()],
        flush_interval=60.0,
        batch_max_events=50_000,
        batch_max_bytes=16 * MiB,
    )
    log = nglogger.get_logger("svc").bind(**REALISTIC_CONTEXT)
    log.info("warm-up")

    measured = measure_retained_per_event(
        pipeline, lambda i: log_request(log, i), 20_000, settle=False
    )

    assert pipeline.stats().buffered_events == 20_001, "the events must still be in the buffer"
    assert measured.payload_bytes <= measured.retained_bytes, measured.describe()
    assert measured.retained_bytes <= measured.payload_bytes * 1.125 + 4 * KiB, measured.describe()
    assert measured.per_event <= measured.bound_per_event, measured.describe()


# -- 2. per-event cost is independent of the context's Python size ----------------------


@pytest.mark.slow
def test_retained_per_event_tracks_payload_not_the_context_object_size(
    traced: None, stalled: Callable[[str], StalledSink]
) -> None:
    """A held event costs its payload bytes, whether its logger's context is 200 nested keys or one."""
    big, tiny = big_context_retained(stalled, n=4_000)

    assert big.payload_per_event >= 10_000, big.describe()
    assert big.per_event <= big.bound_per_event, big.describe()
    assert tiny.per_event <= tiny.bound_per_event, tiny.describe()
    extra_per_event = big.per_event - tiny.per_event
    extra_payload = big.payload_per_event - tiny.payload_per_event
    assert extra_per_event <= RATIO * extra_payload, (
        f"the big context adds {extra_per_event:.0f} B/event held for "
        f"{extra_payload:.0f} B/event of payload"
    )


def test_log_call_allocates_orjson_output_and_event_dict_never_a_context_copy(
    traced: None,
) -> None:
    """A log call's peak is orjson's buffer plus the event dict, however large the bound context is as objects."""
    nglogger.configure(
        sinks=[NullSink()],
        flush_interval=60.0,
        batch_max_events=50_000,
        batch_max_bytes=64 * MiB,
        buffer_max_bytes=128 * MiB,
        sink_queue_max_bytes=64 * MiB,
    )
    context = big_context()
    context_objects = asizeof.asizeof(context)
    big = measure_transient(nglogger.get_logger("svc").bind(**context), context)
    assert nglogger.flush(timeout=WAIT)
    tiny = measure_transient(
        nglogger.get_logger("svc").bind(request_id="r-1"), {"request_id": "r-1"}
    )

    assert context_objects >= 8 * big.payload, "the test needs a context far bigger as objects"
    assert big.bound <= context_objects // 4, "the bound must be able to tell a copy apart"
    assert big.overhead <= big.bound, big.describe()
    assert tiny.overhead <= tiny.bound, tiny.describe()


# -- 3. sinks share batches -----------------------------------------------------------


@pytest.mark.slow
def test_four_stalled_sinks_hold_the_same_memory_as_one(
    traced: None, stalled: Callable[[str], StalledSink]
) -> None:
    """The same immutable batches sit in every sink's queue: four stalled sinks hold within 5% of one."""
    n = 20_000
    retained: dict[int, Retained] = {}
    for count in (1, 4):
        sinks = [stalled(f"stalled-{count}-{k}") for k in range(count)]
        pipeline = start_stalled(sinks)
        log = nglogger.get_logger("svc").bind(**REALISTIC_CONTEXT)

        retained[count] = measure_retained_per_event(
            pipeline, lambda i, log=log: log_request(log, i), n
        )

        stats = pipeline.stats()
        assert stats.buffered_events == 0
        assert [s.queued_events for s in stats.sinks.values()] == [stats.dispatched] * count
        assert all(sink.first_batch is sinks[0].first_batch for sink in sinks), (
            "every sink must receive the very same Batch object"
        )
        for sink in sinks:
            sink.release.set()
        assert nglogger.shutdown(timeout=WAIT)

    one, four = retained[1], retained[4]
    assert four.payload_bytes == one.payload_bytes
    assert one.per_event <= one.bound_per_event, one.describe()
    assert four.retained_bytes <= 1.05 * one.retained_bytes, (
        f"1 sink: {one.describe()}; 4 sinks: {four.describe()}"
    )


# -- 4. a stalled sink and 2 GB of logging --------------------------------------------


#: Limits for the stalled-sink run: 2 GB of logging against 8 MiB queues.
STALL_LIMITS: dict[str, Any] = {
    "buffer_max_bytes": 8 * MiB,
    "sink_queue_max_bytes": 8 * MiB,
    "batch_max_bytes": 1 * MiB,
}


@pytest.mark.slow
@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest"])
def test_stalled_sink_keeps_memory_within_budget_and_counts_every_drop(
    traced: None, stalled: Callable[[str], StalledSink], policy: str
) -> None:
    """200k events of 10 KB into a stalled sink: peak memory <= 1.2 x memory_budget, exact drop counts, caller never waits."""
    n = 200_000
    sink = stalled("stalled")
    pipeline = start_stalled(
        [sink],
        **STALL_LIMITS,
        overflow=policy,
        sink_queue_overflow=policy,
        flush_interval=Config().flush_interval,
    )
    budget = pipeline.config.memory_budget
    log = nglogger.get_logger("svc").bind(**REALISTIC_CONTEXT)
    body = "x" * 10_000
    finished = threading.Event()
    sink_blocked_when_done: list[bool] = []

    def produce() -> None:
        try:
            for i in range(n):
                log.info("request body", i=i, body=body)
            sink_blocked_when_done.append(not sink.release.is_set() and sink.returned == 0)
        finally:
            finished.set()

    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    producer = threading.Thread(target=produce, name="producer", daemon=True)
    producer.start()
    assert finished.wait(120), "the logging thread is stuck behind the stalled sink"
    peak = tracemalloc.get_traced_memory()[1] - baseline
    stats = pipeline.stats()
    held = stats.sinks[sink.name]

    assert sink_blocked_when_done == [True], "the loop must finish while the sink is blocked"
    assert peak <= 1.2 * budget, f"peak {peak / MiB:.2f} MiB, budget {budget / MiB:.2f} MiB"
    assert stats.submitted == n + 1
    assert stats.submitted == stats.dispatched + stats.buffered_events + sum(stats.dropped.values())
    assert set(stats.dropped) <= {"buffer_full"}, stats.dropped
    assert held.accepted == stats.dispatched
    assert held.accepted == held.exported + sum(held.dropped.values()) + held.queued_events
    assert held.exported == 0
    assert set(held.dropped) == {"sink_queue_full"}, held.dropped
    assert held.high_water_bytes <= STALL_LIMITS["sink_queue_max_bytes"]
    assert stats.high_water_bytes <= STALL_LIMITS["buffer_max_bytes"]

    sink.release.set()
    assert pipeline.flush(timeout=WAIT)
    final = pipeline.stats()
    done = final.sinks[sink.name]

    assert final.buffered_events == 0
    assert final.dispatched + final.dropped.get("buffer_full", 0) == n + 1
    assert done.queued_events == 0
    assert done.exported == sink.delivered, "exported must be what the sink received"
    assert done.exported + done.dropped["sink_queue_full"] == final.dispatched
    assert set(done.dropped) == {"sink_queue_full"}, done.dropped
    assert len(sink.indices) == sink.delivered - 1, "all but the warm-up event carry an index"
    assert sink.indices == sorted(set(sink.indices)), "delivered events keep their order"
    if policy == "drop_newest":
        assert sink.indices[0] == 0, "drop_newest keeps the first events"
    else:
        assert sink.indices[-1] == n - 1, "drop_oldest keeps the last event"


def test_memory_budget_holds_while_the_batcher_is_preempted_mid_dispatch(
    traced: None, stalled: Callable[[str], StalledSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Held memory stays <= 1.2 x memory_budget even when the batcher stops halfway through a dispatch."""
    sink = stalled("stalled")
    pipeline = start_stalled(
        [sink], buffer_max_bytes=8 * MiB, sink_queue_max_bytes=8 * MiB, batch_max_bytes=1 * MiB
    )
    budget = pipeline.config.memory_budget
    log = nglogger.get_logger("svc")
    body = "x" * 10_000
    armed, paused, resume = threading.Event(), threading.Event(), threading.Event()
    real_offer = _worker.SinkWorker.offer

    def offer(self: _worker.SinkWorker, batch: Batch) -> None:
        # Stands in for the batcher losing the GIL after converting its first arena.
        if armed.is_set() and not paused.is_set():
            paused.set()
            resume.wait(WAIT)
        real_offer(self, batch)

    monkeypatch.setattr(_worker.SinkWorker, "offer", offer)
    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    try:
        for i in range(900):  # ~9 MiB: the sink queue fills up (8 MiB)
            log.info("body", i=i, body=body)
        assert wait_for(lambda: pipeline.stats().sinks[sink.name].queued_bytes >= 7 * MiB, WAIT)
        with pipeline._dispatch_lock:  # the batcher is busy: the buffer fills (8 MiB)
            for i in range(900):
                log.info("body", i=i, body=body)
            armed.set()
        assert paused.wait(WAIT), "the batcher never dispatched"
        for i in range(900):  # the batcher stopped mid-dispatch; the caller keeps logging
            log.info("body", i=i, body=body)
        held = tracemalloc.get_traced_memory()[0] - baseline
    finally:
        resume.set()

    assert held <= 1.2 * budget, f"held {held / MiB:.1f} MiB, budget {budget / MiB:.1f} MiB"


# -- 5. planted bugs are caught by the same measurements ------------------------------


@pytest.mark.slow
def test_detector_deep_clone_per_event_fails_the_retained_bound(
    traced: None, stalled: Callable[[str], StalledSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: a snapshot that deep-copies the bound context per event exceeds the retained bound."""
    measured = realistic_retained(stalled, plant_deep_clone(monkeypatch))

    assert measured.per_event > measured.bound_per_event, measured.describe()


@pytest.mark.slow
def test_detector_deep_clone_of_big_context_fails_the_retained_bound(
    traced: None, stalled: Callable[[str], StalledSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: deep-copying a 200-key context per event exceeds the retained bound by far."""
    [big] = big_context_retained(stalled, plant_deep_clone(monkeypatch), n=200, also_tiny=False)

    assert big.per_event > 2 * big.bound_per_event, big.describe()


@pytest.mark.slow
def test_detector_raw_orjson_results_in_the_buffer_fail_the_retained_bound(
    traced: None, stalled: Callable[[str], StalledSink], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: a buffer that keeps orjson's raw result objects (~4 KiB each) exceeds the retained bound."""
    kept: list[bytes] = []
    real_dumps = _pipeline._dumps

    def dumps(*args: Any, **kwargs: Any) -> bytes:
        data = real_dumps(*args, **kwargs)
        kept.append(data)  # held as orjson returned it: ~4 KiB whatever its length
        return data

    monkeypatch.setattr(_pipeline, "_dumps", dumps)
    monkeypatch.setattr(_logger, "_dumps", dumps)  # the log call encodes most events itself
    # The C log call holds orjson.dumps itself: the planted one runs in the Python method.
    for name in ("debug", "info", "warning", "error", "critical"):
        method = getattr(_logger.Logger, name)
        monkeypatch.setattr(_logger.Logger, name, getattr(method, "__wrapped__", method))

    measured = realistic_retained(stalled)

    assert len(kept) >= measured.events
    assert measured.per_event > measured.bound_per_event, measured.describe()


@pytest.mark.slow
def test_detector_deep_clone_per_event_fails_the_transient_bound(
    traced: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: deep-copying the context inside the log call exceeds the transient bound."""
    pipeline = nglogger.configure(
        sinks=[NullSink()],
        flush_interval=60.0,
        batch_max_events=50_000,
        batch_max_bytes=64 * MiB,
        buffer_max_bytes=128 * MiB,
        sink_queue_max_bytes=64 * MiB,
    )
    context = big_context()
    log = nglogger.get_logger("svc").bind(**context)
    real_emit = pipeline.emit
    monkeypatch.setattr(pipeline, "emit", lambda event: (copy.deepcopy(context), real_emit(event)))
    plant_in_hand_off(monkeypatch, pipeline, lambda: copy.deepcopy(context))

    measured = measure_transient(log, context)

    assert measured.overhead > measured.bound, measured.describe()


# -- pympler cross-check --------------------------------------------------------------


def test_pympler_agrees_with_the_buffer_byte_accounting(traced: None) -> None:
    """pympler's size of the buffer and tracemalloc's growth both match buffered_bytes within the arena slack."""
    pipeline = nglogger.configure(
        sinks=[NullSink()],
        flush_interval=60.0,
        batch_max_events=50_000,
        batch_max_bytes=16 * MiB,
    )
    log = nglogger.get_logger("svc").bind(**REALISTIC_CONTEXT)
    log.info("warm-up")
    size_before = asizeof.asizeof(pipeline.buffer)

    measured = measure_retained_per_event(
        pipeline, lambda i: log_request(log, i), 20_000, settle=False
    )

    buffered = pipeline.stats().buffered_bytes
    size = asizeof.asizeof(pipeline.buffer)
    assert buffered <= size <= buffered * 1.125 + 16 * KiB, (buffered, size)
    growth = size - size_before
    assert 0.95 <= growth / measured.retained_bytes <= 1.05, (
        f"pympler growth {growth} B, tracemalloc growth {measured.retained_bytes} B"
    )


# -- 6. nothing leaks after shutdown --------------------------------------------------


def test_log_calls_and_bind_keep_no_reference_to_user_objects() -> None:
    """Objects passed as fields or bound as context are collectable as soon as the call returns."""
    sink = MemorySink(name="memory")
    nglogger.configure(sinks=[sink], flush_interval=60.0)
    bound, field, nested = Traceable(), Traceable(), Traceable()
    log = nglogger.get_logger("svc").bind(obj=bound, items=[nested, {"k": nested}])
    log.info("hello", payload=field)
    refs = [weakref.ref(bound), weakref.ref(field), weakref.ref(nested)]
    del bound, field, nested

    gc.collect()

    assert [ref() for ref in refs] == [None, None, None]
    assert nglogger.flush(timeout=WAIT)
    payload = sink.events()[-1]["payload"]
    assert payload.startswith("<unserializable "), payload
    assert payload.endswith("Traceable: Traceable()>"), payload


@pytest.mark.parametrize("how", ["configure", "Pipeline"])
def test_pipeline_sinks_and_loggers_are_collectable_after_shutdown(how: str) -> None:
    """After shutdown no thread, fork/exit hook or global keeps the pipeline, its sinks or its loggers alive."""
    sink_name = f"collectable-{how}"
    sink = MemorySink(name=sink_name)
    if how == "configure":
        pipeline = nglogger.configure(sinks=[sink], flush_interval=0.05)
        log = nglogger.get_logger("svc").bind(**big_context())
        log.info("hello", i=1)
        log.bind(extra=1).warning("again")
    else:
        pipeline = Pipeline(Config(sinks=[sink], flush_interval=0.05))
        pipeline.emit({"message": "hello"})
        log = Logger("svc")
    assert pipeline.flush(timeout=WAIT)
    assert sink.received >= 1
    refs = {
        "pipeline": weakref.ref(pipeline),
        "sink": weakref.ref(sink),
        "logger": weakref.ref(log),
    }

    if how == "configure":
        assert nglogger.shutdown(timeout=WAIT)
    else:
        assert pipeline.shutdown(timeout=WAIT)
    del pipeline, sink, log

    def alive() -> list[str]:
        gc.collect()
        return [name for name, ref in refs.items() if ref() is not None]

    wait_for(lambda: not alive(), WAIT)
    assert alive() == []
    threads = [t.name for t in threading.enumerate() if t.name == f"nglogger-sink-{sink_name}"]
    assert threads == []
