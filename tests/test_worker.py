"""Fan-out: one shared batch per sink queue, isolation, bounded queues, exact counts."""

from __future__ import annotations

import threading
from typing import Any

import nglogger
from nglogger import Batch, Outcome
from nglogger._pipeline.worker import SinkWorker
from nglogger.sinks import MemorySink


class Gate:
    """A sink that blocks in write() until released; records the batches it saw."""

    def __init__(self, name: str = "gate") -> None:
        self.name = name
        self.release = threading.Event()
        self.entered = threading.Event()
        self.batches: list[Batch] = []

    def write(self, batch: Batch) -> Outcome | None:
        self.entered.set()
        self.release.wait(30)
        self.batches.append(batch)
        return None

    def close(self) -> None:
        self.release.set()


class Raising:
    name = "raising"

    def write(self, batch: Batch) -> Outcome | None:
        raise RuntimeError("sink exploded")

    def close(self) -> None:
        pass


class Partial:
    name = "partial"

    def write(self, batch: Batch) -> Outcome | None:
        return Outcome(batch.count - 1, {"rejected": 1})

    def close(self) -> None:
        pass


def invariant(snap: dict[str, Any]) -> None:
    assert snap.accepted == snap.exported + sum(snap.dropped.values()) + snap.queued_events


def test_every_sink_receives_the_same_batch_object() -> None:
    """All sinks get the identical Batch object: no per-sink copy."""
    a, b = Gate("a"), Gate("b")
    a.release.set()
    b.release.set()
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[a, b]))
    log_event = {"message": "x", "level": "info"}
    for _ in range(10):
        pipeline.emit(dict(log_event))
    assert pipeline.flush(5)
    assert [id(x) for x in a.batches] == [id(x) for x in b.batches]
    assert sum(x.count for x in a.batches) == 10
    pipeline.shutdown(2)


def test_stuck_sink_does_not_delay_others() -> None:
    """A sink blocked forever leaves the other sink's delivery and the caller unaffected."""
    stuck = Gate("stuck")
    fast = MemorySink()
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[stuck, fast], flush_interval=0.01))
    for i in range(100):
        pipeline.emit({"message": "m", "i": i})
    assert fast.wait_for(100, timeout=10)
    assert stuck.entered.wait(10)
    assert not stuck.release.is_set()
    stats = pipeline.stats()
    assert stats.sinks["memory"].exported == 100
    assert stats.sinks["stuck"].exported == 0
    pipeline.shutdown(0.5)


def test_raising_sink_is_contained_and_counted() -> None:
    """Exceptions from write() count the batch as sink_error and keep the worker alive."""
    good = MemorySink()
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[Raising(), good]))
    for i in range(5):
        pipeline.emit({"message": "m", "i": i})
        assert pipeline.flush(5)
    stats = pipeline.stats()
    bad = stats.sinks["raising"]
    assert bad.dropped == {"sink_error": 5}
    assert bad.errors == 5
    assert bad.last_error == "RuntimeError: sink exploded"
    assert stats.sinks["memory"].exported == 5
    pipeline.shutdown(2)


def test_partial_outcome_is_counted() -> None:
    """An Outcome with some events dropped is counted by its reasons."""
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[Partial()]))
    for i in range(3):
        pipeline.emit({"message": "m", "i": i})
    assert pipeline.flush(5)
    snap = pipeline.stats().sinks["partial"]
    assert snap.exported + snap.dropped["rejected"] == 3
    assert snap.dropped["rejected"] >= 1
    pipeline.shutdown(2)


def test_queue_limit_drops_newest_batches_exactly() -> None:
    """A full sink queue drops whole batches and counts their events as sink_queue_full."""
    gate = Gate()
    worker = SinkWorker(gate, max_events=10, max_bytes=10_000)
    worker.start()
    first = Batch.from_events([b'{"a":1}'] * 4, seq=1)
    worker.offer(first)
    assert gate.entered.wait(5)  # first batch in flight
    for seq in range(2, 6):
        worker.offer(Batch.from_events([b'{"a":1}'] * 4, seq=seq))
    snap = worker.snapshot()
    invariant(snap)
    assert snap.accepted == 20
    assert snap.queued_events == 4 + 8  # in flight + two queued batches
    assert snap.dropped == {"sink_queue_full": 8}
    gate.release.set()
    import time

    assert worker.wait_idle(time.monotonic() + 5)
    snap = worker.snapshot()
    invariant(snap)
    assert snap.exported == 12
    assert [b.seq for b in gate.batches] == [1, 2, 3]
    worker.stop(time.monotonic() + 5)


def test_queue_drop_oldest_keeps_newest() -> None:
    """drop_oldest in a sink queue evicts the oldest queued batches first."""
    gate = Gate()
    worker = SinkWorker(gate, max_events=8, max_bytes=10_000, overflow="drop_oldest")
    worker.start()
    worker.offer(Batch.from_events([b"{}"] * 4, seq=1))
    assert gate.entered.wait(5)
    for seq in range(2, 6):
        worker.offer(Batch.from_events([b"{}"] * 4, seq=seq))
    gate.release.set()
    import time

    assert worker.wait_idle(time.monotonic() + 5)
    assert [b.seq for b in gate.batches] == [1, 4, 5]
    snap = worker.snapshot()
    invariant(snap)
    assert snap.dropped == {"sink_queue_full": 8}
    worker.stop(time.monotonic() + 5)


def test_abandon_counts_shutdown_deadline_once() -> None:
    """Abandoning a stuck worker counts queued and in-flight events once, even if it returns later."""
    gate = Gate()
    worker = SinkWorker(gate, max_events=100, max_bytes=10_000)
    worker.start()
    worker.offer(Batch.from_events([b"{}"] * 3, seq=1))
    assert gate.entered.wait(5)
    worker.offer(Batch.from_events([b"{}"] * 2, seq=2))
    assert worker.abandon() == 5
    gate.release.set()
    import time

    worker.stop(time.monotonic() + 5)
    snap = worker.snapshot()
    invariant(snap)
    assert snap.dropped == {"shutdown_deadline": 5}
    assert snap.exported == 0


def test_pipeline_invariants_after_traffic() -> None:
    """submitted == dispatched + buffered + dropped, and per sink accepted == exported + dropped + queued."""
    gate = Gate()
    mem = MemorySink()
    config = nglogger.Config(
        sinks=[gate, mem],
        buffer_max_events=50,
        batch_max_events=10,
        sink_queue_max_events=20,
        flush_interval=0.01,
    )
    pipeline = nglogger.Pipeline(config)
    for i in range(500):
        pipeline.emit({"message": "m", "i": i})
    stats = pipeline.stats()
    assert stats.submitted == 500
    assert stats.submitted == stats.dispatched + stats.buffered_events + sum(stats.dropped.values())
    for snap in stats.sinks.values():
        assert snap.accepted == snap.exported + sum(snap.dropped.values()) + snap.queued_events
    gate.release.set()
    assert pipeline.flush(10)
    stats = pipeline.stats()
    assert stats.submitted == stats.dispatched + sum(stats.dropped.values())
    for snap in stats.sinks.values():
        assert snap.queued_events == 0
        assert snap.accepted == snap.exported + sum(snap.dropped.values())
    pipeline.shutdown(2)
