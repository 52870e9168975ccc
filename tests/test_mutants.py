"""Planted mutants: each known-bad design must make a real memory or behaviour check fail.

A mutant is planted only by ``monkeypatch`` inside its test (the library has no flag for
any of them). Every detector is a helper that returns what it measured; the genuine test
asserts the bound on the real library, the mutant test asserts that the same helper's
value breaks it. Mutant -> detector (genuine test / mutant test):

1. a per-sink copy of each batch -> ``fan_out``: 4 stalled sinks vs 1 hold within 5%, and
   the sinks' queues hold the very same batch objects;
2. references to caller objects kept by the pipeline -> ``surviving_user_objects`` (weakref
   + ``gc.collect()``) and ``realistic_retained`` from ``test_memory`` (retained bytes per
   held event; its genuine test is ``test_retained_memory_per_held_event_is_...``);
3. orjson's oversized ``bytes`` kept in the buffer -> already planted and caught in
   ``test_memory.test_detector_raw_orjson_results_in_the_buffer_fail_the_retained_bound``
   against the same ``realistic_retained`` bound; not repeated here;
4. an unbounded list inside a sink -> ``steady_state``: 1M events through a ``NullSink``,
   traced memory sampled every 100k events after a 100k warm-up must stay flat.

Why ``steady_state`` keeps tracemalloc on for the whole run: tracemalloc only accounts for
allocations made while it traces, so tracing just around the sample points would not see a
leak made in between; RSS from ``/proc/self/status`` is ~7x cheaper but moves by ~0.6 MiB
between samples on its own (pymalloc arenas, allocator trimming), too close to a 1 MiB
bound. Traced with one frame, 1M small events take ~9 s on a 2-core machine (untraced
~1.3 s) and the samples of a healthy pipeline stay within ~0.1 MiB of each other.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest

import nglogger
from nglogger import Batch, Pipeline
from nglogger._pipeline import worker as _worker
from nglogger.sinks import MemorySink, NullSink
from tests.test_memory import (
    REALISTIC_CONTEXT,
    WAIT,
    KiB,
    MiB,
    Plant,
    Retained,
    StalledSink,
    Traceable,
    log_request,
    measure_retained_per_event,
    realistic_retained,
    stalled,  # noqa: F401  (fixture)
    start_stalled,
    traced,  # noqa: F401  (fixture)
)

#: Four stalled sinks may hold at most this much more than one.
FAN_OUT_RATIO = 1.05
#: Steady state: traced memory may rise at most this much after the warm-up, whatever n is.
STEADY_GROWTH = 1 * MiB
#: Steady-state limits: a small, fixed memory budget (9 MiB) and a producer that waits.
STEADY_LIMITS: dict[str, Any] = {
    "buffer_max_bytes": 4 * MiB,
    "sink_queue_max_bytes": 4 * MiB,
    "batch_max_bytes": 256 * KiB,
    "overflow": "block",
    "block_timeout": WAIT,
    "report_interval": 0,
}


# -- mutants ---------------------------------------------------------------------------


def plant_per_sink_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutant 1: every sink worker queues its own copy of each batch."""
    real_offer = _worker.SinkWorker.offer

    def offer(self: _worker.SinkWorker, batch: Batch) -> None:
        real_offer(self, Batch(bytes(bytearray(batch.data)), batch.count, batch.seq))

    monkeypatch.setattr(_worker.SinkWorker, "offer", offer)


def plant_keep_event_dicts(monkeypatch: pytest.MonkeyPatch) -> Plant:
    """Mutant 2: the pipeline keeps every event dict and every call's fields it is given.

    Nested values reach ``emit`` already serialized (fragments), so the fields are
    kept where the caller's objects enter the pipeline: ``prepare_fields``. The
    mutant pipeline takes every event dict through ``emit`` (no ``direct``).
    """

    def plant(pipeline: Pipeline, _context: dict[str, Any]) -> None:
        kept: list[dict[str, Any]] = []  # Buffer has __slots__: the list hangs off its owner
        real_emit = pipeline.emit
        real_prepare = pipeline.prepare_fields

        def emit(event: dict[str, Any]) -> None:
            kept.append(event)
            real_emit(event)

        def prepare_fields(fields: dict[str, Any]) -> dict[str, Any]:
            kept.append(fields)
            return real_prepare(fields)

        monkeypatch.setattr(pipeline, "emit", emit)
        monkeypatch.setattr(pipeline, "prepare_fields", prepare_fields)
        # The log call encodes the event itself when ``direct`` is set: the dicts would
        # never reach this pipeline. The mutant is a pipeline that takes them.
        monkeypatch.setattr(pipeline, "direct", None)
        monkeypatch.setattr(pipeline, "planted_events", kept, raising=False)

    return plant


def plant_unbounded_list_in_sink(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Mutant 4: ``NullSink.write`` also appends every event it sees to a list (returned)."""
    kept: list[bytes] = []
    real_write = NullSink.write

    def write(self: NullSink, batch: Batch) -> None:
        kept.extend(batch.events())
        real_write(self, batch)

    monkeypatch.setattr(NullSink, "write", write)
    return kept


# -- detector 1: sinks share batches ---------------------------------------------------


@dataclass(frozen=True)
class FanOut:
    """Retained memory with one and with four stalled sinks, and whether batches are shared."""

    one: Retained
    four: Retained
    shared: bool

    @property
    def ratio(self) -> float:
        return self.four.retained_bytes / self.one.retained_bytes

    def describe(self) -> str:
        return (
            f"4 sinks hold x{self.ratio:.3f} of 1 sink (bound x{FAN_OUT_RATIO}); "
            f"batches shared: {self.shared}; 1 sink: {self.one.describe()}; "
            f"4 sinks: {self.four.describe()}"
        )


def shared_batches(pipeline: Pipeline, sinks: list[StalledSink]) -> bool:
    """True if every sink holds the very same batch objects, in flight and queued."""
    held = []
    for worker, sink in zip(pipeline.workers, sinks):
        with worker._lock:
            held.append([sink.first_batch, *(batch for batch, _ in worker._queue)])
    first = held[0]
    return len(first) > 1 and all(
        len(other) == len(first) and all(a is b for a, b in zip(other, first)) for other in held[1:]
    )


def fan_out(make_sink: Callable[[str], StalledSink], n: int = 20_000) -> FanOut:
    """Retained memory of ``n`` realistic events behind 1 and behind 4 stalled sinks."""
    retained: dict[int, Retained] = {}
    shared = True
    for count in (1, 4):
        sinks = [make_sink(f"fan-out-{count}-{k}") for k in range(count)]
        pipeline = start_stalled(sinks)
        log = nglogger.get_logger("svc").bind(**REALISTIC_CONTEXT)
        retained[count] = measure_retained_per_event(pipeline, partial(log_request, log), n)
        if count > 1:
            shared = shared_batches(pipeline, sinks)
        for sink in sinks:
            sink.release.set()
        assert nglogger.shutdown(timeout=WAIT)
    assert retained[4].payload_bytes == retained[1].payload_bytes
    return FanOut(retained[1], retained[4], shared)


@pytest.mark.slow
def test_fan_out_to_four_sinks_holds_what_one_holds_in_shared_batches(
    traced: None,  # noqa: F811
    stalled: Callable[[str], StalledSink],  # noqa: F811
) -> None:
    """Four stalled sinks hold within 5% of one sink's memory, in the very same batch objects."""
    measured = fan_out(stalled)

    assert measured.shared, measured.describe()
    assert measured.ratio <= FAN_OUT_RATIO, measured.describe()


@pytest.mark.slow
def test_mutant_per_sink_copy_of_each_batch_is_caught_by_fan_out(
    traced: None,  # noqa: F811
    stalled: Callable[[str], StalledSink],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planted: a copy of each batch per sink breaks both the 5% bound and batch identity."""
    plant_per_sink_copy(monkeypatch)

    measured = fan_out(stalled)

    assert not measured.shared, measured.describe()
    assert measured.ratio > FAN_OUT_RATIO, measured.describe()
    assert measured.ratio > 3, f"four copies should cost ~4x: {measured.describe()}"


# -- detector 2: no reference to caller objects survives a log call --------------------


def surviving_user_objects(plant: Plant | None = None) -> list[str]:
    """Names of the user objects (bound, field, nested in a field) alive after the call and ``gc.collect()``."""
    sink = MemorySink(name="memory")
    pipeline = nglogger.configure(sinks=[sink], flush_interval=60.0)
    if plant is not None:
        plant(pipeline, {})
    bound, field, nested = Traceable(), Traceable(), Traceable()
    log = nglogger.get_logger("svc").bind(obj=bound)
    log.info("hello", payload=field, items=[nested, {"k": nested}])
    refs = {"bound": weakref.ref(bound), "field": weakref.ref(field), "nested": weakref.ref(nested)}
    del bound, field, nested
    gc.collect()
    alive = sorted(name for name, ref in refs.items() if ref() is not None)
    assert nglogger.flush(timeout=WAIT)
    assert sink.events()[-1]["message"] == "hello", "the event must still be delivered"
    return alive


def test_no_user_object_survives_a_log_call() -> None:
    """Bound, field and nested user objects are all collectable once the log call returns."""
    assert surviving_user_objects() == []


def test_mutant_event_dicts_kept_are_caught_by_weakrefs(monkeypatch: pytest.MonkeyPatch) -> None:
    """Planted: a pipeline that keeps event dicts keeps the call's field objects alive."""
    alive = surviving_user_objects(plant_keep_event_dicts(monkeypatch))

    assert alive == ["field", "nested"], alive  # bound context is serialized at bind time


@pytest.mark.slow
def test_mutant_event_dicts_kept_are_caught_by_the_retained_bound(
    traced: None,  # noqa: F811
    stalled: Callable[[str], StalledSink],  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planted: keeping each event dict breaks test_memory's retained bound of 1.1 x payload + 64 B."""
    measured = realistic_retained(stalled, plant_keep_event_dicts(monkeypatch))

    assert measured.per_event > measured.bound_per_event, measured.describe()


# -- detector 4: no growth in steady state ---------------------------------------------


@dataclass(frozen=True)
class Steady:
    """Traced memory sampled every ``every`` events of a steady-state run (first: the warm-up)."""

    every: int
    samples: tuple[int, ...]
    held: int  # last sample minus traced memory before the pipeline was built
    peak: int  # traced peak during the run minus the same baseline
    budget: int
    payload_per_event: float

    @property
    def growth(self) -> int:
        """Highest sample after the warm-up minus the warm-up sample."""
        return max(self.samples) - self.samples[0]

    @property
    def growth_per_block(self) -> float:
        return (self.samples[-1] - self.samples[0]) / (len(self.samples) - 1)

    def describe(self) -> str:
        deltas = ", ".join(f"{(s - self.samples[0]) / MiB:+.3f}" for s in self.samples)
        return (
            f"samples every {self.every} events (MiB from warm-up): [{deltas}]; "
            f"growth {self.growth / MiB:.3f} MiB (bound {STEADY_GROWTH / MiB:.0f} MiB), "
            f"{self.growth_per_block / MiB:.3f} MiB per {self.every} events, "
            f"{self.growth_per_block / self.every:.1f} B/event for "
            f"{self.payload_per_event:.1f} B of payload; held {self.held / MiB:.2f} MiB, "
            f"peak {self.peak / MiB:.2f} MiB, budget {self.budget / MiB:.2f} MiB"
        )


def steady_state(n: int = 1_000_000, every: int = 100_000) -> Steady:
    """Log ``n`` small events into a ``NullSink``, draining and sampling traced memory every ``every``."""
    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    sink = NullSink(name="null")
    pipeline = nglogger.configure(sinks=[sink], **STEADY_LIMITS)
    info = nglogger.get_logger("svc").bind(service="checkout").info
    samples = []
    for start in range(0, n, every):
        for i in range(start, start + every):
            info("tick", i=i)
        assert pipeline.flush(timeout=WAIT), "the sink must keep up"
        gc.collect()
        samples.append(tracemalloc.get_traced_memory()[0])
    peak = tracemalloc.get_traced_memory()[1] - baseline
    stats = pipeline.stats()
    assert (stats.dropped, stats.sinks[sink.name].dropped) == ({}, {}), stats
    assert sink.events == n, "every event must pass through the sink"
    steady = Steady(
        every=every,
        samples=tuple(samples),
        held=samples[-1] - baseline,
        peak=peak,
        budget=pipeline.config.memory_budget,
        payload_per_event=sink.bytes / sink.events,
    )
    assert nglogger.shutdown(timeout=WAIT)
    return steady


@pytest.mark.slow
def test_steady_state_one_million_events_do_not_grow_memory(traced: None) -> None:  # noqa: F811
    """1M events through a NullSink: after a 100k warm-up traced memory rises < 1 MiB and stays within the budget."""
    measured = steady_state()

    assert measured.growth < STEADY_GROWTH, measured.describe()
    assert measured.peak <= measured.budget, measured.describe()


@pytest.mark.slow
def test_mutant_unbounded_list_in_a_sink_is_caught_by_steady_state(
    traced: None,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Planted: a sink keeping every event grows ~payload x events and leaves the budget behind."""
    kept = plant_unbounded_list_in_sink(monkeypatch)

    measured = steady_state()

    assert len(kept) == 1_000_000
    assert measured.growth >= STEADY_GROWTH, measured.describe()
    assert measured.growth_per_block >= measured.every * measured.payload_per_event, (
        measured.describe()
    )
    assert measured.held > measured.budget, measured.describe()
