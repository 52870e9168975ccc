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

from .._config.config import Config
from .._core.batch import Batch
from .._core.sink import Outcome
from .._event import target as _target
from .._event.keyscan import engine
from .._event.logger import Logger, relevel
from .._pipeline import pipeline as _pipeline
from ..sinks.memory import NullSink
from .spool import spool_figures

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
    #: The noise band of ``ratio`` (its interquartile range over the rounds), if measured.
    low: float | None = None
    high: float | None = None
    #: How ``--compare`` treats it: "baseline" (no worse than the saved run beyond the
    #: tolerance and the noise), "bound" (``ratio`` <= 1.0 whatever the baseline: a figure
    #: that depends on thread timing but must stay under its bound), "none" (shown only).
    gate: str = "baseline"


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


@dataclass(frozen=True, slots=True)
class Rounds:
    """A candidate timed against a baseline in interleaved rounds.

    ``ratio`` is the median of the per-round ratios (candidate / baseline, both timed
    in the same round, a few milliseconds apart, in alternating order), so a noisy
    neighbour or a CPU frequency change slows both sides of a ratio alike; ``low`` and
    ``high`` are the quartiles of those ratios: the noise band.
    """

    ns: float
    baseline_ns: float
    ratio: float
    low: float
    high: float


def speed_result(scenario: str, measured: Rounds, note: str, gate: str = "baseline") -> Result:
    """The report row of one timed pair: ns per call, ratio, noise band."""
    return Result(
        scenario,
        "ns_per_call",
        round(measured.ns, 1),
        "ns",
        round(measured.ratio, 3),
        note,
        round(measured.low, 3),
        round(measured.high, 3),
        gate,
    )


def _loop(fn: Callable[[], object], calls: int) -> float:
    """Seconds for ``calls`` calls of ``fn``."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return time.perf_counter() - start


def _quartiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 4], ordered[n // 2], ordered[(3 * n) // 4]


class Pair:
    """A candidate timed against a baseline, one interleaved round at a time.

    Each round calls each side enough times to take about ``round_seconds``, the two
    in alternating order; ``settle`` (e.g. a pipeline flush) runs, untimed, after the
    candidate's share, so that its background work does not spill into the baseline's
    (the background threads run, and are timed, while the candidate's calls are made);
    ``switch("candidate")`` / ``switch("baseline")`` (untimed) run before each share.
    Rounds of several pairs can be taken in turn (see :func:`measure_pairs`), so that a
    burst of load on the machine touches a few rounds of each, not all rounds of one.
    """

    def __init__(
        self,
        candidate: Callable[[], object],
        baseline: Callable[[], object],
        *,
        round_seconds: float,
        settle: Callable[[], object] | None = None,
        switch: Callable[[str], object] | None = None,
    ) -> None:
        self.candidate = candidate
        self.baseline = baseline
        self.settle = settle
        self.flip = switch if switch is not None else (lambda _side: None)
        self.ratios: list[float] = []
        self.ours: list[float] = []
        self.theirs: list[float] = []
        flip = self.flip
        for _ in range(3):  # warm caches, lazy setup, the name memo, background threads
            flip("candidate")
            _loop(candidate, 20)
            flip("baseline")
            _loop(baseline, 20)
        flip("candidate")
        per_call = _loop(candidate, 50) / 50
        if settle is not None:
            settle()
        flip("baseline")
        per_call = max(per_call, _loop(baseline, 50) / 50, 1e-8)
        self.calls = max(5, int(round_seconds / per_call))

    def _candidate(self) -> float:
        self.flip("candidate")
        spent = _loop(self.candidate, self.calls)
        if self.settle is not None:
            self.settle()
        return spent

    def _baseline(self) -> float:
        self.flip("baseline")
        return _loop(self.baseline, self.calls)

    def round(self) -> None:
        """One more round: both sides, in the order opposite to the previous round's."""
        if len(self.ratios) % 2:
            b = self._baseline()
            c = self._candidate()
        else:
            c = self._candidate()
            b = self._baseline()
        self.ours.append(c / self.calls)
        self.theirs.append(b / self.calls)
        self.ratios.append(c / b)

    def result(self) -> Rounds:
        """The medians so far, and the quartiles of the per-round ratios."""
        low, ratio, high = _quartiles(self.ratios)
        return Rounds(
            ns=_quartiles(self.ours)[1] * 1e9,
            baseline_ns=_quartiles(self.theirs)[1] * 1e9,
            ratio=ratio,
            low=low,
            high=high,
        )


def interleaved(
    candidate: Callable[[], object],
    baseline: Callable[[], object],
    *,
    rounds: int,
    round_seconds: float,
    settle: Callable[[], object] | None = None,
    switch: Callable[[str], object] | None = None,
) -> Rounds:
    """Time ``candidate`` against ``baseline`` in ``rounds`` interleaved rounds (see Pair)."""
    pair = Pair(candidate, baseline, round_seconds=round_seconds, settle=settle, switch=switch)
    for _ in range(rounds):
        pair.round()
    return pair.result()


def measure_pairs(
    pairs: dict[str, Pair], rounds: int, progress: Callable[[str], None]
) -> dict[str, Rounds]:
    """``rounds`` rounds of every pair, taken in turn: round 1 of each, then round 2..."""
    for i in range(rounds):
        progress(f"speed: round {i + 1} of {rounds}")
        for pair in pairs.values():
            pair.round()
    return {name: pair.result() for name, pair in pairs.items()}


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
        self.previous = _target.current
        self.pipeline = _pipeline.Pipeline(self.config)
        _target.current = self.pipeline
        relevel()
        return self.pipeline

    def __exit__(self, *exc: object) -> None:
        _target.current = self.previous
        relevel()
        if self.pipeline is not None:
            self.pipeline.shutdown(2.0)


def _floor_for(fields: dict[str, Any], message: str = "request handled") -> Callable[[], None]:
    """The floor for an event with these fields: dict + orjson.dumps + time_ns + append."""
    arena = bytearray()
    dumps = orjson.dumps
    time_ns = time.time_ns

    def floor() -> None:
        arena.extend(
            dumps(
                {
                    "timestamp": time_ns(),
                    "level": "info",
                    "logger": "bench",
                    "message": message,
                    **fields,
                }
            )
        )
        if len(arena) > 1 << 22:
            # ``del``, not a new bytearray or ``clear()``: the capacity stays, so refills
            # do not pay for realloc and page faults (which would flatter large events).
            del arena[:]

    return floor


def _nested(target: int) -> dict[str, Any]:
    """Request-like nested data whose JSON is about ``target`` bytes."""
    return {
        f"item-{i:05d}": {"sku": f"SKU-{i:05d}", "price": 9.99 + i, "qty": 1 + i % 3, "tags": ["a"]}
        for i in range(max(1, target // 70))
    }


_REQUEST_FIELDS: dict[str, Any] = {
    "method": "GET",
    "path": "/api/v1/items",
    "status": 200,
    "duration_ms": 12.5,
    "user": "bob",
    "tags": ["a", "b"],
}
_SMALL_NESTED: dict[str, Any] = {
    "user": {"id": 42, "name": "bob"},
    "http": {"method": "GET", "status": 200},
}


def _structlog(out: Any) -> Any:
    """structlog's fastest JSON setup (orjson renderer, BytesLogger), or None if absent."""
    try:
        import structlog
    except ImportError:
        return None
    import logging

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.BytesLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    return structlog


def speed(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Hot-path cost per call, background work included (NullSink, flushed between rounds).

    Every scenario is timed against the floor for an event with the same fields in
    interleaved rounds (see :func:`interleaved`); the ratio is the median per-round
    ratio and its band the quartiles.
    """
    rounds, seconds = (21, 0.003) if quick else (41, 0.01)
    basic = {"status": 200, "path": "/x"}
    bound_fields = {"user": "bob", "request_id": "3f2a", "region": "eu", "plan": "pro"}
    big = _big_context()
    long_text = "x" * 2048
    nested = {"1kb": _nested(1_000), "10kb": _nested(10_000), "100kb": _nested(100_000)}
    list_10k = list(range(10_000))
    floor_basic = _floor_for(basic)
    with _Swap(Config(sinks=[NullSink()])) as pipeline:
        settle = pipeline.flush
        log = Logger("bench")
        bound = log.bind(**bound_fields)
        request = log.bind(service="checkout", request_id="9f0c1e2a")
        big_log = log.bind(ctx=big)
        std = _stdlib_logger()
        scenarios: list[tuple[str, Callable[[], object], Callable[[], object], str]] = [
            (
                "disabled",
                lambda: log.debug("request handled", **basic),
                floor_basic,
                "a DEBUG call at INFO, against the enabled floor",
            ),
            (
                "message_only",
                lambda: log.info("request handled"),
                _floor_for({}),
                "",
            ),
            ("basic", lambda: log.info("request handled", **basic), floor_basic, ""),
            (
                "bound",
                lambda: bound.info("request handled", **basic),
                _floor_for({**bound_fields, **basic}),
                "",
            ),
            (
                "request_line",
                lambda: request.info("request handled", **_REQUEST_FIELDS),
                _floor_for({"service": "checkout", "request_id": "9f0c1e2a", **_REQUEST_FIELDS}),
                "6 fields, tags=[...], 2 bound",
            ),
            (
                "small_nested",
                lambda: log.info("request handled", **_SMALL_NESTED),
                _floor_for(_SMALL_NESTED),
                "two small dicts",
            ),
            *(
                (
                    f"nested_{size}",
                    lambda value=value: log.info("request handled", payload=value),
                    _floor_for({"payload": value}),
                    f"payload= {len(orjson.dumps(value)) / 1024:.1f} KiB of nested dicts",
                )
                for size, value in nested.items()
            ),
            (
                "list_10k",
                lambda: log.info("request handled", items=list_10k),
                _floor_for({"items": list_10k}),
                "a 10,000-int list",
            ),
            (
                "context_10kb",
                lambda: big_log.info("request handled", **basic),
                _floor_for({"ctx": big, **basic}),
                "10 KB bound once, spliced as bytes",
            ),
            (
                "long_string",
                lambda: log.info("request handled", body=long_text),
                _floor_for({"body": long_text}),
                "",
            ),
            (
                "stdlib_handler",
                lambda: std.info("request %s handled", "r1", extra=basic),
                floor_basic,
                "logging.getLogger().info through nglogger.LoggingHandler",
            ),
        ]
        if not quick:
            list_1m = list(range(1_000_000))
            scenarios.append(
                (
                    "list_1m",
                    lambda: log.info("request handled", request_id="r", items=list_1m),
                    _floor_for({"request_id": "r", "items": list_1m}),
                    "over max_event_bytes: cut to a marker, small fields kept",
                )
            )
        pairs = {}
        notes = {}
        for name, candidate, floor, note in scenarios:
            progress(f"speed: {name} (warm-up)")
            pairs[name] = Pair(candidate, floor, round_seconds=seconds, settle=settle)
            notes[name] = note
        for name, measured in measure_pairs(pairs, rounds, progress).items():
            if name == "basic":
                report.add(
                    Result(
                        "floor",
                        "ns_per_call",
                        round(measured.baseline_ns, 1),
                        "ns",
                        1.0,
                        "dict + orjson.dumps + time_ns + bytearray append (basic's fields)",
                        gate="none",
                    )
                )
            report.add(
                speed_result(
                    name, measured, notes[name] or "against the floor with the same fields"
                )
            )
        progress("speed: child_creation")
        fields = {"request_id": "3f2a", "user": "bob"}
        measured = interleaved(
            lambda: log.bind(**fields),
            lambda: orjson.dumps(fields),
            rounds=rounds,
            round_seconds=seconds,
        )
        report.add(
            speed_result("child_creation", measured, "bind(2 fields) against orjson.dumps of them")
        )
        _compare_structlog(report, progress, rounds, seconds, nested["10kb"])
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


def _compare_structlog(
    report: Report,
    progress: Callable[[str], None],
    rounds: int,
    seconds: float,
    nested_10kb: dict[str, Any],
) -> None:
    """structlog on the request line and the 10 KB nested field, when it is installed."""
    with Path(os.devnull).open("wb") as out:
        structlog = _structlog(out)
        if structlog is None:
            return
        try:
            slog = structlog.get_logger().bind(logger="bench")
            request = slog.bind(service="checkout", request_id="9f0c1e2a")
            for name, candidate, floor in (
                (
                    "structlog_request_line",
                    lambda: request.info("request handled", **_REQUEST_FIELDS),
                    _floor_for(
                        {"service": "checkout", "request_id": "9f0c1e2a", **_REQUEST_FIELDS}
                    ),
                ),
                (
                    "structlog_nested_10kb",
                    lambda: slog.info("request handled", payload=nested_10kb),
                    _floor_for({"payload": nested_10kb}),
                ),
            ):
                progress(f"speed: {name}")
                measured = interleaved(candidate, floor, rounds=rounds, round_seconds=seconds)
                report.add(
                    speed_result(
                        name,
                        measured,
                        "structlog (orjson renderer, BytesLogger), for comparison",
                        gate="none",
                    )
                )
        finally:
            structlog.reset_defaults()


def _stdlib_logger() -> Any:
    import logging

    from ..stdlib import LoggingHandler

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
            gate="bound",  # depends on thread timing: held to the budget, not a baseline
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


def fan_out(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Cost per call with 4 sinks relative to 1 sink (batches are shared, not copied)."""
    rounds, seconds = (15, 0.004) if quick else (41, 0.01)
    progress("fan-out: 4 sinks against 1")
    one = _pipeline.Pipeline(Config(sinks=[NullSink(name="null0")]))
    four = _pipeline.Pipeline(Config(sinks=[NullSink(name=f"null{i}") for i in range(4)]))
    previous = _target.current
    log = Logger("bench")

    def switch(side: str) -> None:
        _target.current = four if side == "candidate" else one
        relevel()

    try:
        measured = interleaved(
            lambda: log.info("request handled", status=200),
            lambda: log.info("request handled", status=200),
            rounds=rounds,
            round_seconds=seconds,
            settle=lambda: four.flush(5.0) and one.flush(5.0),
            switch=switch,
        )
    finally:
        _target.current = previous
        relevel()
        one.shutdown(2.0)
        four.shutdown(2.0)
    report.add(speed_result("fan_out_4", measured, "4 NullSinks against 1, same event"))


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
            gate="none",  # disk and scheduler speed: shown, not gated
        )
    )


def spool_throughput(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """MB/s into the spool against a plain file sink, and the caller's rate meanwhile."""
    for metric, value, unit, ratio, note in spool_figures(
        quick=quick, progress=progress, swap=_Swap
    ):
        report.add(Result("spool", metric, value, unit, ratio, note, gate="none"))


#: Speed is measured in this many fresh interpreters: a process's memory layout and hash
#: seed move some ratios by 10-20% from one run to the next, more than the noise within a run.
SPEED_PROCESSES = 3


def run(
    *,
    quick: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    processes: int = SPEED_PROCESSES,
) -> Report:
    """Run every scenario and return the report.

    The speed scenarios run in ``processes`` fresh interpreters one after the other (0:
    in this process); each figure is then the median over the processes, and its band
    spans every process's quartiles of its rounds (from the lowest lower quartile to the
    highest upper one): the noise within and between processes.
    """
    import platform
    import sys

    report = Report(
        environment={
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "orjson": orjson.__version__,
            "redaction_scan": engine(),
            "quick": quick,
            "speed_processes": processes,
        }
    )
    if processes:
        _speed_in_processes(report, quick=quick, progress=progress, processes=processes)
    else:
        speed(report, quick=quick, progress=progress)
        fan_out(report, quick=quick, progress=progress)
    for scenario in (memory, stalled_sink, deep_clone, file_throughput, spool_throughput):
        scenario(report, quick=quick, progress=progress)
    return report


def speed_worker(quick: bool) -> None:
    """Entry point of one speed process: the results as JSON on stdout."""
    import sys

    report = Report()
    speed(report, quick=quick, progress=lambda _text: None)
    fan_out(report, quick=quick, progress=lambda _text: None)
    sys.stdout.write(orjson.dumps([asdict(r) for r in report.results]).decode())


def _speed_in_processes(
    report: Report, *, quick: bool, progress: Callable[[str], None], processes: int
) -> None:
    import subprocess
    import sys

    package_root = str(Path(__file__).resolve().parents[2])  # the directory holding nglogger/
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    code = f"from nglogger._bench.harness import speed_worker; speed_worker({quick!r})"
    runs: list[list[dict[str, Any]]] = []
    for i in range(processes):
        progress(f"speed: process {i + 1} of {processes}")
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", code],
            capture_output=True,
            env=env,
            check=False,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(f"speed process failed: {done.stderr.decode()[-2000:]}")
        runs.append(orjson.loads(done.stdout))
    for first in runs[0]:
        key = (first["scenario"], first["metric"])
        same = [r for run in runs for r in run if (r["scenario"], r["metric"]) == key]
        report.add(_combined(first, same))


def _combined(first: dict[str, Any], same: list[dict[str, Any]]) -> Result:
    """One figure from several processes: medians, and the band they span."""

    def median(values: list[float]) -> float:
        ordered = sorted(values)
        return ordered[len(ordered) // 2]

    ratios = [r["ratio"] for r in same if r["ratio"] is not None]
    lows = [r["low"] for r in same if r["low"] is not None]
    highs = [r["high"] for r in same if r["high"] is not None]
    banded = bool(ratios) and len(lows) == len(highs) == len(same)
    return Result(
        first["scenario"],
        first["metric"],
        round(median([r["value"] for r in same]), 1),
        first["unit"],
        round(median(ratios), 3) if ratios else None,
        first["note"],
        round(min(lows), 3) if banded else None,
        round(max(highs), 3) if banded else None,
        first["gate"],
    )


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

    A "baseline" figure regresses when it is worse than the saved one by more than the
    tolerance *and* its noise band lies wholly beyond the saved band (the current lower
    quartile above the saved upper one, for figures measured in rounds): on unchanged
    code the bands overlap, so a run compared with one saved a minute earlier passes.
    A "bound" figure regresses when its ratio exceeds 1.0, whatever the baseline said;
    "none" figures are shown, never compared. ``per_metric`` maps ``scenario``,
    ``metric`` or ``scenario.metric`` to a tolerance.
    """
    per_metric = per_metric or {}
    old = {(r["scenario"], r["metric"]): r for r in baseline.get("results", [])}
    rows = []
    regressions = []
    for result in current.get("results", []):
        key = (result["scenario"], result["metric"])
        gate = result.get("gate", "baseline")
        if gate == "none" or result["scenario"] == "floor":
            continue
        if gate == "bound":
            ratio = result.get("ratio")
            if isinstance(ratio, (int, float)):
                rows.append((key[0], key[1], 1.0, float(ratio), float(ratio) - 1.0))
                if ratio > 1.0:
                    regressions.append(Regression(key[0], key[1], 1.0, ratio, ratio - 1.0, 0.0))
            continue
        if key not in old:
            continue
        before, after = _key_value(old[key]), _key_value(result)
        if before is None or after is None or before == 0:
            continue
        change = (after - before) / abs(before)
        higher_better = result["metric"] in HIGHER_IS_BETTER
        worse = -change if higher_better else change
        allowed = per_metric.get(
            f"{key[0]}.{key[1]}", per_metric.get(key[0], per_metric.get(key[1], tolerance))
        )
        rows.append((key[0], key[1], before, after, change))
        if worse > allowed and not _bands_overlap(old[key], result, higher_better):
            regressions.append(Regression(key[0], key[1], before, after, change, allowed))
    return regressions, rows


def _bands_overlap(before: dict[str, Any], after: dict[str, Any], higher_better: bool) -> bool:
    """Whether two figures' noise bands overlap (False when either has none)."""
    lows = before.get("low"), after.get("low")
    highs = before.get("high"), after.get("high")
    if not all(isinstance(v, (int, float)) for v in (*lows, *highs)):
        return False
    if higher_better:
        return float(after["high"]) >= float(before["low"])
    return float(after["low"]) <= float(before["high"])
