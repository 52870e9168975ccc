"""Memory stays bounded with a spool: tens of MB through the disk, peak within the budget.

tracemalloc is the authority (it sees every bytes object). The spool reads and writes
whole batches, never the whole spool, and ``Config.memory_budget`` counts the batches
on their way to disk.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.waiting import require as wait_until

import nglogger
from nglogger._core.batch import Batch
from nglogger._core.sink import Outcome

MiB = 1024 * 1024
EVENTS = 40_000
BODY = "x" * 1_000  # 40 MB through the spool, against a budget of ~12 MiB

LIMITS = {
    "buffer_max_bytes": 4 * MiB,
    "batch_max_bytes": 256 * 1024,
    "sink_queue_max_bytes": 2 * MiB,
    "spool_max_bytes": 256 * MiB,
    "spool_fsync": "never",  # the memory bound does not depend on it; fsync stalls do not help
}


@pytest.fixture
def traced() -> Iterator[None]:
    started = not tracemalloc.is_tracing()
    if started:
        tracemalloc.start(1)
    try:
        yield
    finally:
        if started:
            tracemalloc.stop()


class Down:
    """Never ready: every batch stays in the spool."""

    name = "down"

    def write(self, batch: Batch) -> Outcome:
        return Outcome(0, {}, batch)

    def ready_in(self) -> float:
        return 3600.0

    def close(self) -> None:
        pass


class Counting:
    """Healthy, keeps nothing: counts events."""

    name = "down"  # the same spool directory as the Down sink

    def __init__(self) -> None:
        self.events = 0

    def write(self, batch: Batch) -> None:
        self.events += batch.count

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_spooling_40_mb_keeps_memory_within_the_budget(traced: None, tmp_path: Path) -> None:
    pipeline = nglogger.configure(sinks=[Down()], spool_dir=str(tmp_path), **LIMITS)
    budget = pipeline.config.memory_budget
    log = nglogger.get_logger("svc")
    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    for i in range(EVENTS):
        log.info("request body", i=i, body=BODY)
    pipeline.flush(0.5)  # seal the last batch (the sink never becomes ready)
    wait_until(
        lambda: (
            (s := pipeline.stats().sinks["down"]).spooled_events
            + sum(s.dropped.values())
            + pipeline.stats().dropped.get("buffer_full", 0)
            >= EVENTS
        ),
        60.0,
    )
    peak = tracemalloc.get_traced_memory()[1] - baseline
    stats = pipeline.stats()
    sink = stats.sinks["down"]
    assert peak <= 1.2 * budget, f"peak {peak / MiB:.2f} MiB, budget {budget / MiB:.2f} MiB"
    assert sink.spooled_bytes > 30 * MiB  # the disk took what memory could not
    assert sink.spool_high_water_bytes <= LIMITS["spool_max_bytes"]
    assert sink.accepted == sink.exported + sum(sink.dropped.values()) + sink.queued_events


@pytest.mark.slow
def test_replaying_40_mb_keeps_memory_within_the_budget(traced: None, tmp_path: Path) -> None:
    first = nglogger.configure(
        sinks=[Down()], spool_dir=str(tmp_path), shutdown_timeout=0.5, **LIMITS
    )
    log = nglogger.get_logger("svc")
    for i in range(EVENTS):
        log.info("request body", i=i, body=BODY)
    first.flush(0.5)

    def settled() -> bool:
        s = first.stats().sinks["down"]
        return s.spooled_events + sum(s.dropped.values()) == s.accepted

    wait_until(settled, 60.0)
    spooled = first.stats().sinks["down"].spooled_events
    assert spooled >= 0.9 * EVENTS  # (under tracemalloc a starved disk thread may drop some)
    nglogger.shutdown(1.0)
    sink = Counting()
    gc.collect()
    baseline = tracemalloc.get_traced_memory()[0]
    tracemalloc.reset_peak()
    pipeline = nglogger.configure(sinks=[sink], spool_dir=str(tmp_path), **LIMITS)
    budget = pipeline.config.memory_budget
    assert pipeline.flush(60)
    peak = tracemalloc.get_traced_memory()[1] - baseline
    stats = pipeline.stats().sinks["down"]
    assert sink.events == spooled
    assert stats.replayed == spooled
    assert peak <= 1.2 * budget, f"peak {peak / MiB:.2f} MiB, budget {budget / MiB:.2f} MiB"
    assert peak < 0.5 * 40 * MiB  # far less than the spool held
