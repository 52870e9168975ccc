"""``nglogger bench``'s speed scenarios: the cost of a log call as a ratio to its floor.

Every scenario is timed against the floor for an event with the same fields (see
``scenarios.py``) in interleaved rounds (see ``timing.py``), background work included:
the pipeline's sinks are ``NullSink``s, flushed, untimed, after each round of log calls.
structlog is timed on two of the events for comparison (shown, never gated), and
fan-out compares four sinks with one.
"""

from __future__ import annotations

import logging
import timeit
from collections.abc import Callable
from typing import Any

import orjson

from .._config.config import Config
from .._config.secrets import DEFAULT_REDACT_KEYS
from .._event import target as _target
from .._event.keyscan import compile_secret_keys
from .._event.logger import Logger, relevel
from .._pipeline import pipeline as _pipeline
from ..sinks.memory import NullSink
from .competitors import missing, picologging_info, quiet_logger, structlog_info
from .report import Report, Result
from .scenarios import (
    REQUEST_BOUND,
    REQUEST_CONTEXT,
    REQUEST_FIELDS,
    SMALL_NESTED,
    Call,
    Swap,
    big_context,
    floor_for,
    nested,
)
from .timing import Pair, interleaved, measure_pairs, peak_alloc, speed_result

__all__ = ["TARGETS", "fan_out", "scan_cost", "speed"]


def scan_cost() -> float:
    """ns per byte of this install's redaction scan, on ~10 KB of nested JSON with no secret.

    What a nested value costs beyond its ``orjson.dumps`` (the scan reads every event
    that holds a dict or list with keys once): ~0.2 with Hyperscan, ~8 with the
    pure-Python fallback on a 2-core VM.
    """
    scan = compile_secret_keys(DEFAULT_REDACT_KEYS)
    if scan is None:
        return 0.0
    data = orjson.dumps(nested(10_000))
    best = min(timeit.repeat(lambda: scan(data), number=20, repeat=5)) / 20
    return round(best * 1e9 / len(data), 2)


#: The speed targets of the default install (issue 22), as ratios to the scenario's floor;
#: ``nglogger bench`` shows each against the figure's ratio (a ratio of a noisy machine is
#: not a test: compare with ``--compare`` against a baseline saved on the same machine).
TARGETS = {
    "message_only": 1.5,
    "request_line": 2.0,
    "request_context": 1.5,
    "small_nested": 2.0,
    "nested_10kb": 1.5,
    "nested_100kb": 1.3,
}


def speed(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Hot-path cost per call, background work included (NullSink, flushed between rounds).

    Every scenario is timed against the floor for an event with the same fields in
    interleaved rounds (see :func:`interleaved`); the ratio is the median per-round
    ratio and its band the quartiles.
    """
    rounds, seconds = (21, 0.003) if quick else (41, 0.01)
    basic = {"status": 200, "path": "/x"}
    bound_fields = {"user": "bob", "request_id": "3f2a", "region": "eu", "plan": "pro"}
    big = big_context()
    long_text = "x" * 2048
    payloads = {"1kb": nested(1_000), "10kb": nested(10_000), "100kb": nested(100_000)}
    list_10k = list(range(10_000))
    floor_basic = floor_for(basic)
    with Swap(Config(sinks=[NullSink()])) as pipeline:
        settle = pipeline.flush
        log = Logger("bench")
        bound = log.bind(**bound_fields)
        request = log.bind(**REQUEST_BOUND)
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
                floor_for({}),
                "",
            ),
            ("basic", lambda: log.info("request handled", **basic), floor_basic, ""),
            (
                "bound",
                lambda: bound.info("request handled", **basic),
                floor_for({**bound_fields, **basic}),
                "",
            ),
            (
                "request_line",
                lambda: request.info("request handled", **REQUEST_FIELDS),
                floor_for({**REQUEST_BOUND, **REQUEST_FIELDS}),
                "6 fields, tags=[...], 2 bound",
            ),
            (
                "request_context",
                lambda: request.info("request handled", **REQUEST_FIELDS, context=REQUEST_CONTEXT),
                floor_for({**REQUEST_BOUND, **REQUEST_FIELDS, "context": REQUEST_CONTEXT}),
                "the request line + context= ~10 KB nested",
            ),
            (
                "small_nested",
                lambda: log.info("request handled", **SMALL_NESTED),
                floor_for(SMALL_NESTED),
                "two small dicts",
            ),
            *(
                (
                    f"nested_{size}",
                    lambda value=value: log.info("request handled", payload=value),
                    floor_for({"payload": value}),
                    f"payload= {len(orjson.dumps(value)) / 1024:.1f} KiB of nested dicts",
                )
                for size, value in payloads.items()
            ),
            (
                "list_10k",
                lambda: log.info("request handled", items=list_10k),
                floor_for({"items": list_10k}),
                "a 10,000-int list",
            ),
            (
                "context_10kb",
                lambda: big_log.info("request handled", **basic),
                floor_for({"ctx": big, **basic}),
                "10 KB bound once, spliced as bytes",
            ),
            (
                "long_string",
                lambda: log.info("request handled", body=long_text),
                floor_for({"body": long_text}),
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
                    floor_for({"request_id": "r", "items": list_1m}),
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
        _compare_structlog(report, progress, rounds, seconds, payloads["10kb"])
        progress("memory: allocation per call")
        report.add(
            Result(
                "basic",
                "peak_alloc_per_call",
                float(peak_alloc(lambda: log.info("request handled", status=200, path="/x"))),
                "B",
                None,
                "transient: orjson's output buffer + the event dict, freed at return",
            )
        )
        report.add(
            Result(
                "context_10kb",
                "peak_alloc_per_call",
                float(peak_alloc(lambda: big_log.info("request handled", status=200, path="/x"))),
                "B",
                None,
                "independent of the context's size as Python objects (spliced bytes)",
            )
        )


def _called(call: Call) -> Callable[[], object]:
    """A subject's call as a function without arguments."""
    function, args, kwargs = call
    return lambda: function(*args, **kwargs)


def _compare_structlog(
    report: Report,
    progress: Callable[[str], None],
    rounds: int,
    seconds: float,
    nested_10kb: dict[str, Any],
) -> None:
    """structlog and picologging on the request line, its 10 KB context and a nested field.

    Each when it is installed (``pip install 'nglogger[bench]'``); shown, never gated.
    """
    context_fields = {**REQUEST_FIELDS, "context": REQUEST_CONTEXT}
    cases = [
        ("request_line", REQUEST_FIELDS, REQUEST_BOUND),
        ("request_context", context_fields, REQUEST_BOUND),
        ("nested_10kb", {"payload": nested_10kb}, None),
    ]
    loggers = [
        ("structlog", structlog_info, "structlog (orjson renderer, BytesLogger)"),
        ("picologging", picologging_info, "picologging with an orjson formatter"),
    ]
    for module, subject, label in loggers:
        if missing(module):
            continue
        for case, fields, context in cases:
            name = f"{module}_{case}"
            progress(f"speed: {name}")
            with subject(fields, context, message="request handled") as call:
                measured = interleaved(
                    _called(call),
                    floor_for({**(context or {}), **fields}),
                    rounds=rounds,
                    round_seconds=seconds,
                )
            report.add(speed_result(name, measured, f"{label}, for comparison", gate="none"))


def _stdlib_logger() -> logging.Logger:
    from ..stdlib import LoggingHandler

    return quiet_logger("nglogger.bench.stdlib", LoggingHandler())


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
