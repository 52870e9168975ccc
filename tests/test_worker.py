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


def _ids(batch: Batch) -> list[int]:
    import orjson

    return [orjson.loads(e)["i"] for e in batch.events()]


def _batch(first: int, n: int) -> Batch:
    import orjson

    return Batch.from_events([orjson.dumps({"i": i}) for i in range(first, first + n)])


def test_a_batch_splits_at_event_boundaries_by_bytes_and_by_events() -> None:
    batch = _batch(0, 100)
    for max_bytes, max_events in [(10**6, None), (64, None), (1, None), (10**6, 7), (50, 3)]:
        pieces = batch.split(max_bytes, max_events)
        assert [i for p in pieces for i in _ids(p)] == list(range(100))
        assert all(p.count == len(p.events()) for p in pieces)
        assert all(p.nbytes <= max(max_bytes, 10) for p in pieces)
        if max_events is not None:
            assert all(p.count <= max_events for p in pieces)
    assert batch.split(10**6) == [batch]  # fits: the same object


class Drain:
    """A coalescing sink whose write runs ``during(batch)`` (the batcher goes on meanwhile),
    then hands everything back (the backend failed) or delivers it."""

    name = "drain"

    def __init__(self) -> None:
        self.during: Any = None
        self.fail = True
        self.written: list[list[int]] = []

    def request_limits(self) -> tuple[int, int]:
        return 10_000, 10**9

    def write(self, batch: Batch) -> Outcome | None:
        self.written.append(_ids(batch))
        if self.during is not None:
            self.during()
        return Outcome(0, {}, batch) if self.fail else None

    def close(self) -> None:
        pass


def test_drop_oldest_keeps_fresh_events_while_the_whole_backlog_is_in_flight() -> None:
    """The queue (100 events) is merged into one write; 10 fresh events arrive meanwhile and
    the write is handed back: the 10 OLDEST events make room, a few at a time (not the whole
    merged backlog), and the fresh ones are kept."""
    sink = Drain()
    worker = SinkWorker(sink, max_events=100, max_bytes=10**9, overflow="drop_oldest")
    for first in range(0, 100, 10):
        worker.offer(_batch(first, 10))
    sink.during = lambda: worker.offer(_batch(1000, 10))  # fresh, while the drain is out
    assert worker.step(lambda _t: None) == "wrote"
    assert sink.written == [list(range(100))]
    snap = worker.snapshot()
    invariant(snap)
    assert dict(snap.dropped) == {"sink_queue_full": 10}
    sink.fail, sink.during = False, None
    while worker.step(lambda _t: None) == "wrote":
        pass
    delivered = [i for ids in sink.written[1:] for i in ids]
    assert delivered == [*range(10, 100), *range(1000, 1010)]  # the oldest 10 made room
    assert worker.snapshot().high_water_events <= 100


def test_drop_newest_still_refuses_fresh_events_while_the_queue_is_in_flight() -> None:
    sink = Drain()
    worker = SinkWorker(sink, max_events=100, max_bytes=10**9, overflow="drop_newest")
    for first in range(0, 100, 10):
        worker.offer(_batch(first, 10))
    sink.during = lambda: worker.offer(_batch(1000, 10))
    worker.step(lambda _t: None)
    sink.fail, sink.during = False, None
    while worker.step(lambda _t: None) == "wrote":
        pass
    delivered = [i for ids in sink.written[1:] for i in ids]
    assert delivered == list(range(100))
    assert dict(worker.snapshot().dropped) == {"sink_queue_full": 10}
