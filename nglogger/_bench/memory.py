"""``nglogger bench``'s memory scenarios: bytes held per event, and under a stalled sink.

Memory is measured with tracemalloc, which sees the real allocation of every bytes
object (``sys.getsizeof`` and pympler do not see orjson's 4 KiB buffers): the bytes
retained per buffered event against the payload, the peak with a sink that never
returns against the configured budget, and what ng-logger's founding bug (a deep
clone of each event, held until export) costs against nglogger on the same events.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable
from typing import Any

from .._config.config import Config
from .._event.logger import Logger
from .report import Report, Result
from .scenarios import Stalled, Swap, big_context

__all__ = ["deep_clone", "memory", "stalled_sink"]


def memory(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Bytes retained per buffered event, and allocation independence from context size."""
    events = 5_000 if quick else 20_000
    progress("memory: retained per buffered event")
    stalled = Stalled()
    config = Config(
        sinks=[stalled],
        flush_interval=3600.0,
        batch_max_events=10 * events,
        batch_max_bytes=64 << 20,
        buffer_max_events=10 * events,
        buffer_max_bytes=128 << 20,
        sink_queue_max_bytes=64 << 20,
        sink_queue_max_events=10 * events,
    )
    with Swap(config) as pipeline:
        log = Logger("bench").bind(user="bob", request_id="3f2a")
        gc.collect()
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        for i in range(events):
            log.info("request handled", status=200, path="/orders", i=i)
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        payload = pipeline.stats().buffered_bytes
        stalled.release.set()
    per_event = (after - before) / events
    per_payload = payload / events
    report.add(
        Result(
            "buffered",
            "retained_bytes_per_event",
            round(per_event, 1),
            "B",
            round(per_event / per_payload, 3),
            f"payload {per_payload:.0f} B/event; bound: 1.1 x payload + 64 B",
        )
    )


def _stalled_config(stalled: Stalled) -> Config:
    """Small limits (8 MiB buffer and queue, 1 MiB batches) in front of a stalled sink."""
    return Config(
        sinks=[stalled],
        buffer_max_bytes=8 << 20,
        sink_queue_max_bytes=8 << 20,
        batch_max_bytes=1 << 20,
        flush_interval=0.05,
    )


def stalled_sink(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Peak memory with a sink that never returns, against the configured budget."""
    events = 20_000 if quick else 100_000
    progress(f"memory: stalled sink, {events} events of ~10 KB")
    stalled = Stalled()
    config = _stalled_config(stalled)
    payload = "p" * 10_000
    with Swap(config) as pipeline:
        log = Logger("bench")
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        series: list[tuple[int, int]] = []
        step = max(1, events // 50)
        for i in range(events):
            log.info("big event", i=i, payload=payload)
            if i % step == 0:
                series.append((i, tracemalloc.get_traced_memory()[0] - base))
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        stats = pipeline.stats()
        stalled.release.set()
    report.series["nglogger, stalled sink"] = series
    budget = config.memory_budget
    dropped = sum(stats.dropped.values()) + sum(
        sum(s.dropped.values()) for s in stats.sinks.values()
    )
    report.add(
        Result(
            "stalled_sink",
            "peak_bytes",
            float(peak),
            "B",
            round(peak / budget, 3),
            f"budget {budget} B; {dropped} of {events} events dropped (counted)",
            gate="bound",  # depends on thread timing: held to the budget, not a baseline
        )
    )


def deep_clone(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """What the founding bug cost: a deep clone of each event held until export.

    Both loops log events with a ~10 KB bound context to a sink that never
    returns. The redesign that took Glitch down for seven hours in 2019 (its ng-logger
    deep-copied each event into an unbounded queue) grows without limit; nglogger holds
    serialized bytes within its budget.
    """
    import copy

    events = 2_000 if quick else 10_000
    progress(f"memory: deep clone vs nglogger, {events} events with a 10 KB context")
    context = big_context()
    step = max(1, events // 50)
    held: list[Any] = []
    gc.collect()
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    clone_series: list[tuple[int, int]] = []
    for i in range(events):
        # Deliberate: this loop reproduces ng-logger's bug (a deep clone of each event, held
        # until export) so the report can show what it cost. nglogger itself never copies.
        held.append(copy.deepcopy({"message": "request handled", "i": i, "ctx": context}))
        if i % step == 0:
            clone_series.append((i, tracemalloc.get_traced_memory()[0] - base))
    clone_bytes = tracemalloc.get_traced_memory()[0] - base
    tracemalloc.stop()
    del held
    stalled = Stalled()
    config = _stalled_config(stalled)
    with Swap(config):
        log = Logger("bench").bind(ctx=context)
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        ours: list[tuple[int, int]] = []
        for i in range(events):
            log.info("request handled", i=i)
            if i % step == 0:
                ours.append((i, tracemalloc.get_traced_memory()[0] - base))
        ours_bytes = tracemalloc.get_traced_memory()[0] - base
        tracemalloc.stop()
        stalled.release.set()
    report.series["deep clone per event (ng-logger)"] = clone_series
    report.series["nglogger, same events"] = ours
    report.add(
        Result(
            "deep_clone",
            "bytes_per_event",
            round(clone_bytes / events, 1),
            "B",
            None,
            "the 2019 outage's bug (Glitch's ng-logger): a deep copy of each event, held",
            gate="none",
        )
    )
    report.add(
        Result(
            "deep_clone",
            "nglogger_bytes_per_event",
            round(max(ours_bytes, 0) / events, 1),
            "B",
            round(max(ours_bytes, 1) / max(clone_bytes, 1), 4),
            "same events through nglogger (ratio: nglogger / deep clone)",
            gate="bound",
        )
    )
