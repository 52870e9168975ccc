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

    def add(self, result: Result) -> None:
        self.results.append(result)

    def as_dict(self) -> dict[str, Any]:
        return {"environment": self.environment, "results": [asdict(r) for r in self.results]}


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


def speed(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Hot-path cost per call, with the background work included (NullSink)."""
    number = 20_000 if quick else 100_000
    repeat = 5 if quick else 7
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
                "status": 200,
                "path": "/x",
            }
        )
        if len(arena) > 1 << 22:
            arena = bytearray()

    progress("speed: floor")
    base = _per_call_ns(floor, number, repeat)
    report.add(Result("floor", "ns_per_call", round(base, 1), "ns", 1.0, "dict+orjson+append"))
    with _Swap(Config(sinks=[NullSink()])):
        log = Logger("bench")
        bound = log.bind(user="bob", request_id="3f2a", region="eu", plan="pro", attempt=1)
        big = log.bind(ctx=_big_context())
        long_text = "x" * 2048
        scenarios: list[tuple[str, Callable[[], object]]] = [
            ("disabled", lambda: log.debug("request handled", status=200, path="/x")),
            ("basic", lambda: log.info("request handled", status=200, path="/x")),
            ("bound", lambda: bound.info("request handled", status=200, path="/x")),
            ("context_10kb", lambda: big.info("request handled", status=200, path="/x")),
            ("long_string", lambda: log.info("request handled", body=long_text)),
            ("child_creation", lambda: log.bind(request_id="3f2a", user="bob")),
        ]
        for name, fn in scenarios:
            progress(f"speed: {name}")
            value = _per_call_ns(fn, number, repeat)
            report.add(Result(name, "ns_per_call", round(value, 1), "ns", round(value / base, 2)))


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


def stalled_sink(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Peak memory with a sink that never returns, against the configured budget."""
    events = 20_000 if quick else 100_000
    progress(f"memory: stalled sink, {events} events of ~10 KB")
    stalled = _Stalled()
    config = Config(
        sinks=[stalled],
        buffer_max_bytes=8 << 20,
        sink_queue_max_bytes=8 << 20,
        batch_max_bytes=1 << 20,
        flush_interval=0.05,
    )
    payload = "p" * 10_000
    with _Swap(config) as pipeline:
        log = Logger("bench")
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        for i in range(events):
            log.info("big event", i=i, payload=payload)
        peak = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
        stats = pipeline.stats()
        stalled.release.set()
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
    for scenario in (speed, memory, stalled_sink, fan_out, file_throughput):
        scenario(report, quick=quick, progress=progress)
    return report
