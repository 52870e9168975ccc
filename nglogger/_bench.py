"""The scenarios behind ``nglogger bench``: speed as ratios to a floor, memory in bytes.

Speed is reported relative to a floor measured in the same run (build the event dict,
``orjson.dumps`` it, ``time.time_ns()``, append to a ``bytearray``), so results compare
across machines. Memory is measured with tracemalloc, which sees the real allocation of
every bytes object (``sys.getsizeof`` and pympler do not see orjson's 4 KiB buffers).
Every scenario builds its own pipeline and shuts it down; the default pipeline of the
calling process is saved and restored.
"""

from __future__ import annotations

import gc
import os
import tempfile
import threading
import time
import timeit
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from . import _pipeline
from ._batch import Batch
from ._config import Config
from ._logger import Logger
from .sinks._base import Outcome
from .sinks.memory import NullSink

__all__ = ["Result", "run"]


@dataclass(frozen=True, slots=True)
class Result:
    """One measured figure."""

    scenario: str
    metric: str
    value: float
    unit: str
    ratio: float | None = None
    note: str = ""


@dataclass(slots=True)
class Report:
    """Everything one ``nglogger bench`` run measured."""

    results: list[Result] = field(default_factory=list)
    environment: dict[str, Any] = field(default_factory=dict)
    #: Memory over events for charts: name -> [(events logged, traced bytes), ...]
    series: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def add(self, result: Result) -> None:
        """Record one figure."""
        self.results.append(result)

    def as_dict(self) -> dict[str, Any]:
        """The report as plain data (the --json and baseline format)."""
        return {
            "environment": self.environment,
            "results": [asdict(r) for r in self.results],
            "series": {k: [list(p) for p in v] for k, v in self.series.items()},
        }


def _big_context() -> dict[str, Any]:
    """~10 KB of nested context, as an application might bind per request."""
    return {
        f"key{i}": {"id": i, "name": f"item-{i}", "tags": ["a", "b", "c"], "score": i * 1.5}
        for i in range(120)
    }


def _per_call_ns(fn: Callable[[], object], number: int, repeat: int) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e9


class _Stalled:
    """A sink that blocks in write() until released (simulates a dead backend)."""

    name = "stalled"

    def __init__(self) -> None:
        self.release = threading.Event()

    def write(self, batch: Batch) -> Outcome | None:  # noqa: ARG002 - the protocol's signature
        self.release.wait()
        return None

    def close(self) -> None:
        self.release.set()


class _Swap:
    """Install a pipeline as the default for the duration of a scenario."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pipeline: _pipeline.Pipeline | None = None

    def __enter__(self) -> _pipeline.Pipeline:
        self.previous = _pipeline.current
        self.pipeline = _pipeline.Pipeline(self.config)
        _pipeline.current = self.pipeline
        return self.pipeline

    def __exit__(self, *exc: object) -> None:
        _pipeline.current = self.previous
        if self.pipeline is not None:
            self.pipeline.shutdown(2.0)


def _floor_for(fields: dict[str, Any]) -> Callable[[], None]:
    """The floor for an event with these fields: dict + orjson.dumps + time_ns + append."""
    arena = bytearray()
    dumps = orjson.dumps
    time_ns = time.time_ns

    def floor() -> None:
        nonlocal arena
        arena += dumps(
            {
                "timestamp": time_ns(),
                "level": "info",
                "logger": "bench",
                "message": "request handled",
                **fields,
            }
        )
        if len(arena) > 1 << 22:
            arena = bytearray()

    return floor


def speed(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Hot-path cost per call, with the background work included (NullSink).

    Each scenario is compared with the floor for an event holding the same fields,
    measured in the same run; ``basic`` against the plain floor.
    """
    number = 20_000 if quick else 100_000
    repeat = 5 if quick else 7
    basic_fields = {"status": 200, "path": "/x"}
    bound_fields = {
        "user": "bob",
        "request_id": "3f2a",
        "region": "eu",
        "plan": "pro",
        "attempt": 1,
    }
    big = _big_context()
    long_text = "x" * 2048
    progress("speed: floor")
    base = _per_call_ns(_floor_for(basic_fields), number, repeat)
    report.add(Result("floor", "ns_per_call", round(base, 1), "ns", 1.0, "dict+orjson+append"))
    floors = {
        "bound": _floor_for({**bound_fields, **basic_fields}),
        "context_10kb": _floor_for({"ctx": big, **basic_fields}),
        "long_string": _floor_for({"body": long_text}),
    }
    with _Swap(Config(sinks=[NullSink()])):
        log = Logger("bench")
        bound = log.bind(**bound_fields)
        big_log = log.bind(ctx=big)
        std = _stdlib_logger()
        scenarios: list[tuple[str, Callable[[], object], str]] = [
            ("disabled", lambda: log.debug("request handled", status=200, path="/x"), ""),
            ("basic", lambda: log.info("request handled", status=200, path="/x"), ""),
            ("bound", lambda: bound.info("request handled", status=200, path="/x"), ""),
            ("context_10kb", lambda: big_log.info("request handled", status=200, path="/x"), ""),
            ("long_string", lambda: log.info("request handled", body=long_text), ""),
            ("child_creation", lambda: log.bind(request_id="3f2a", user="bob"), ""),
            (
                "stdlib_handler",
                lambda: std.info("request %s handled", "r1", extra={"status": 200, "path": "/x"}),
                "logging.getLogger().info through nglogger.LoggingHandler",
            ),
        ]
        for name, fn, text in scenarios:
            progress(f"speed: {name}")
            value = _per_call_ns(fn, number, repeat)
            floor_fn = floors.get(name)
            note = text
            if floor_fn is not None:
                floor_ns = _per_call_ns(floor_fn, number, repeat)
                note = text or f"floor with the same fields: {floor_ns:.0f} ns"
            else:
                floor_ns = base
            report.add(
                Result(name, "ns_per_call", round(value, 1), "ns", round(value / floor_ns, 2), note)
            )
        progress("memory: allocation per call")
        report.add(
            Result(
                "basic",
                "peak_alloc_per_call",
                float(_peak_alloc(lambda: log.info("request handled", status=200, path="/x"))),
                "B",
                None,
                "transient: orjson's output buffer + the event dict, freed at return",
            )
        )
        report.add(
            Result(
                "context_10kb",
                "peak_alloc_per_call",
                float(_peak_alloc(lambda: big_log.info("request handled", status=200, path="/x"))),
                "B",
                None,
                "independent of the context's size as Python objects (spliced bytes)",
            )
        )


def _stdlib_logger() -> Any:
    import logging

    from .stdlib import LoggingHandler

    std = logging.getLogger("nglogger.bench.stdlib")
    std.handlers = [LoggingHandler()]
    std.propagate = False
    std.setLevel(logging.INFO)
    return std


def _peak_alloc(fn: Callable[[], object], calls: int = 200) -> int:
    """Median transient allocation (traced peak above the start) of one call."""
    for _ in range(50):
        fn()
    gc.collect()
    tracemalloc.start()
    peaks = []
    try:
        for _ in range(calls):
            start = tracemalloc.get_traced_memory()[0]
            tracemalloc.reset_peak()
            fn()
            peaks.append(tracemalloc.get_traced_memory()[1] - start)
    finally:
        tracemalloc.stop()
    peaks.sort()
    return peaks[len(peaks) // 2]


def memory(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Bytes retained per buffered event, and allocation independence from context size."""
    events = 5_000 if quick else 20_000
    progress("memory: retained per buffered event")
    stalled = _Stalled()
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
    with _Swap(config) as pipeline:
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


def _stalled_config(stalled: _Stalled) -> Config:
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
    stalled = _Stalled()
    config = _stalled_config(stalled)
    payload = "p" * 10_000
    with _Swap(config) as pipeline:
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
        )
    )


def deep_clone(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """What the founding bug cost: a deep clone of each event held until export.

    Both loops log events with a ~10 KB bound context to a sink that never
    returns. ng-logger's design (deepcopy per event, kept in an unbounded queue)
    grows without limit; nglogger holds serialized bytes within its budget.
    """
    import copy

    events = 2_000 if quick else 10_000
    progress(f"memory: deep clone vs nglogger, {events} events with a 10 KB context")
    context = _big_context()
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
    stalled = _Stalled()
    config = _stalled_config(stalled)
    with _Swap(config):
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
            "ng-logger's design: deepcopy of each event, held",
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
        )
    )


def fan_out(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Cost per call with 4 sinks relative to 1 sink (batches are shared, not copied)."""
    number = 20_000 if quick else 100_000
    results = {}
    for sinks in (1, 4):
        progress(f"fan-out: {sinks} sink(s)")
        config = Config(sinks=[NullSink(name=f"null{i}") for i in range(sinks)])
        with _Swap(config):
            log = Logger("bench")

            def call(log: Logger = log) -> None:
                log.info("request handled", status=200)

            results[sinks] = _per_call_ns(call, number, 5)
    report.add(
        Result(
            "fan_out_4",
            "ns_per_call",
            round(results[4], 1),
            "ns",
            round(results[4] / results[1], 2),
        )
    )


def file_throughput(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Sustained events per second to a file sink, until everything is on disk."""
    events = 50_000 if quick else 200_000
    progress(f"throughput: {events} events to a file")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.jsonl")
        with _Swap(Config(sinks=[f"file://{path}"])) as pipeline:
            log = Logger("bench")
            start = time.perf_counter()
            for i in range(events):
                log.info("request handled", status=200, i=i)
            pipeline.flush(60.0)
            elapsed = time.perf_counter() - start
            exported = pipeline.stats().sinks[f"file:{path}"].exported
    report.add(
        Result(
            "file",
            "events_per_second",
            round(exported / elapsed),
            "ev/s",
            None,
            f"{exported} of {events} events written",
        )
    )


def run(*, quick: bool = False, progress: Callable[[str], None] = lambda _: None) -> Report:
    """Run every scenario and return the report."""
    import platform
    import sys

    report = Report(
        environment={
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "orjson": orjson.__version__,
            "quick": quick,
        }
    )
    for scenario in (speed, memory, stalled_sink, deep_clone, fan_out, file_throughput):
        scenario(report, quick=quick, progress=progress)
    return report


# ---------------------------------------------------------------------------- baselines

#: Metrics where a larger value is better (everything else: smaller is better).
HIGHER_IS_BETTER = frozenset({"events_per_second"})


@dataclass(frozen=True, slots=True)
class Regression:
    """One figure that got worse than the baseline allows."""

    scenario: str
    metric: str
    baseline: float
    current: float
    change: float
    tolerance: float


def _key_value(result: dict[str, Any]) -> float | None:
    """The number compared across runs: the ratio when there is one (machine-independent)."""
    value = result.get("ratio")
    if value is None:
        value = result.get("value")
    return float(value) if isinstance(value, (int, float)) else None


def compare(
    baseline: dict[str, Any],
    current: dict[str, Any],
    *,
    tolerance: float = 0.10,
    per_metric: dict[str, float] | None = None,
) -> tuple[list[Regression], list[tuple[str, str, float, float, float]]]:
    """Regressions beyond tolerance, and every compared row (scenario, metric, old, new, change).

    ``per_metric`` maps ``scenario``, ``metric`` or ``scenario.metric`` to a tolerance.
    """
    per_metric = per_metric or {}
    old = {(r["scenario"], r["metric"]): r for r in baseline.get("results", [])}
    rows = []
    regressions = []
    for result in current.get("results", []):
        key = (result["scenario"], result["metric"])
        if key not in old or result["scenario"] == "floor":
            continue
        before, after = _key_value(old[key]), _key_value(result)
        if before is None or after is None or before == 0:
            continue
        change = (after - before) / abs(before)
        worse = -change if result["metric"] in HIGHER_IS_BETTER else change
        allowed = per_metric.get(
            f"{key[0]}.{key[1]}", per_metric.get(key[0], per_metric.get(key[1], tolerance))
        )
        rows.append((key[0], key[1], before, after, change))
        if worse > allowed:
            regressions.append(Regression(key[0], key[1], before, after, change, allowed))
    return regressions, rows
