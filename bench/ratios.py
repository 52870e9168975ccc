"""Print the README's performance table: every scenario's ns/call and ratio to its floor.

Run ``python bench/ratios.py`` (``--quick`` for a rough run in a few seconds).
The scenarios are those of the pytest-benchmark files (see ``_scenarios.py``),
measured with ``timeit``: each repeat times ``function(*args, **kwargs)`` in a
loop long enough to take ``--seconds``, with the garbage collector enabled
(as it is in an application), and the minimum over ``--repeat`` repeats is
kept. Within a scenario the subjects take turns repeat by repeat, floor
included, so a noisy neighbour slows them all alike. nglogger gets a freshly
configured pipeline for every repeat and its background threads run while it
is timed; the ``dropped`` column counts events it lost while being measured
(a run that drops did less work than it was asked to).
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import timeit
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import _scenarios as S  # bench/ is sys.path[0] when run as ``python bench/ratios.py``
import orjson

import nglogger
from nglogger._event import keyscan


@dataclass(frozen=True)
class Subject:
    """One measured thing: a label, a ``_scenarios`` context manager, an optional module."""

    label: str
    factory: Callable[[], Any]
    requires: str | None = None


def _compared(fields: dict[str, Any] | None) -> list[Subject]:
    return [
        Subject("structlog", partial(S.structlog_info, fields), "structlog"),
        Subject("picologging + orjson", partial(S.picologging_info, fields), "picologging"),
        Subject(
            "stdlib + python-json-logger", partial(S.stdlib_json_info, fields), "pythonjsonlogger"
        ),
        Subject("loguru (serialize)", partial(S.loguru_info, fields), "loguru"),
    ]


SCENARIOS: dict[str, list[Subject]] = {
    "disabled": [
        Subject("floor (basic, enabled)", S.floor_info),
        Subject("nglogger", S.nglogger_debug),
    ],
    "basic": [
        Subject("floor", S.floor_info),
        Subject("nglogger", S.nglogger_info),
        *_compared(None),
    ],
    "object": [
        Subject("floor", partial(S.floor_info, S.OBJECT)),
        Subject("nglogger", partial(S.nglogger_info, S.OBJECT)),
        *_compared(S.OBJECT),
    ],
    "child": [
        Subject("floor", partial(S.floor_info, S.CALL_FIELDS, S.BOUND)),
        Subject("nglogger", partial(S.nglogger_info, S.CALL_FIELDS, S.BOUND)),
    ],
    "deep-object": [
        Subject("floor", partial(S.floor_info, None, S.DEEP)),
        Subject("nglogger (default limits)", partial(S.nglogger_info, None, S.DEEP)),
        Subject(
            "nglogger (128 MiB buffer + sink queue)",
            partial(S.nglogger_info, None, S.DEEP, **S.LARGE_QUEUES),
        ),
    ],
    "long-string": [
        Subject("floor", partial(S.floor_info, {"text": S.LONG})),
        Subject("nglogger", partial(S.nglogger_info, {"text": S.LONG})),
    ],
    "child-creation": [
        Subject("floor (serialize bindings)", S.floor_child_creation),
        Subject("nglogger", S.nglogger_child_creation),
    ],
    **{
        name: [
            Subject("floor", partial(S.floor_info, fields, S.REQUEST_BOUND)),
            Subject("nglogger", partial(S.nglogger_info, fields, S.REQUEST_BOUND)),
            Subject("structlog", partial(S.structlog_info, fields, S.REQUEST_BOUND), "structlog"),
            Subject(
                "picologging + orjson",
                partial(S.picologging_info, fields, S.REQUEST_BOUND),
                "picologging",
            ),
        ]
        for name, fields in (
            ("request-line", S.REQUEST_FIELDS),
            (
                "request-context (10 KB context=)",
                {**S.REQUEST_FIELDS, "context": S.REQUEST_CONTEXT},
            ),
        )
    },
    "small-nested": [
        Subject("floor", partial(S.floor_info, S.SMALL_NESTED)),
        Subject("nglogger", partial(S.nglogger_info, S.SMALL_NESTED)),
        Subject("structlog", partial(S.structlog_info, S.SMALL_NESTED), "structlog"),
        Subject("picologging + orjson", partial(S.picologging_info, S.SMALL_NESTED), "picologging"),
    ],
    **{
        f"nested-{size}": [
            Subject("floor", partial(S.floor_info, {"payload": value})),
            Subject("orjson.dumps(fields)", partial(S.dumps_only, {"payload": value})),
            Subject("nglogger", partial(S.nglogger_info, {"payload": value})),
            Subject("structlog", partial(S.structlog_info, {"payload": value}), "structlog"),
        ]
        for size, value in S.NESTED.items()
    },
    "list-10k": [
        Subject("floor", partial(S.floor_info, {"items": S.LIST_10K})),
        Subject("orjson.dumps(fields)", partial(S.dumps_only, {"items": S.LIST_10K})),
        Subject("nglogger", partial(S.nglogger_info, {"items": S.LIST_10K})),
        Subject("structlog", partial(S.structlog_info, {"items": S.LIST_10K}), "structlog"),
    ],
    "list-1M (over max_event_bytes)": [
        Subject("floor", partial(S.floor_info, {"items": S.LIST_1M, "request_id": "r"})),
        Subject("orjson.dumps(fields)", partial(S.dumps_only, {"items": S.LIST_1M})),
        Subject("nglogger", partial(S.nglogger_info, {"items": S.LIST_1M, "request_id": "r"})),
    ],
    "fan-out": [
        Subject("floor", S.floor_info),
        Subject("nglogger, 1 NullSink", partial(S.nglogger_info, sinks=1)),
        Subject("nglogger, 4 NullSinks", partial(S.nglogger_info, sinks=4)),
    ],
}


@dataclass
class Measured:
    """The best time per call seen so far, and nglogger's event counts."""

    best: float = float("inf")
    number: int = 0
    submitted: int = 0
    dropped: int = 0


def _timer(call: S.Call) -> timeit.Timer:
    function, args, kwargs = call
    names = {"function": function, "args": args, "kwargs": kwargs, "gc": gc}
    return timeit.Timer("function(*args, **kwargs)", setup="gc.enable()", globals=names)


def _measure_once(subject: Subject, seconds: float, slot: Measured) -> None:
    with subject.factory() as call:
        timer = _timer(call)
        if not slot.number:  # calibrate: enough calls to fill ``seconds``
            number, spent = timer.autorange()
            slot.number = max(1, int(number * seconds / max(spent, 1e-9)))
        else:
            timer.timeit(max(1, slot.number // 20))  # warm up caches and threads
        per_call = timer.timeit(slot.number) / slot.number
        submitted, dropped = S.nglogger_counts()
    slot.best = min(slot.best, per_call)
    slot.submitted += submitted
    slot.dropped += dropped


def measure(
    repeat: int, seconds: float, only: list[str] | None = None
) -> list[tuple[str, str, Measured, float]]:
    """(scenario, subject, measurement, floor seconds) for every available subject."""
    rows = []
    for scenario, subjects in SCENARIOS.items():
        if only and scenario not in only:
            continue
        present = [s for s in subjects if s.requires is None or not S.missing(s.requires)]
        slots = {s.label: Measured() for s in present}
        for _ in range(repeat):
            for subject in present:
                _measure_once(subject, seconds, slots[subject.label])
        floor = slots[present[0].label].best
        rows += [(scenario, s.label, slots[s.label], floor) for s in present]
        print(f"  measured {scenario}", file=sys.stderr, flush=True)
    return rows


def _dropped(slot: Measured) -> str:
    if not slot.submitted:
        return ""
    if not slot.dropped:
        return "0"
    return f"{slot.dropped:,} ({slot.dropped / slot.submitted:.1%})"


def table(rows: list[tuple[str, str, Measured, float]]) -> str:
    """The markdown table."""
    lines = [
        "| scenario | logger | ns/call | x floor | nglogger dropped |",
        "|---|---|---:|---:|---:|",
    ]
    for scenario, label, slot, floor in rows:
        ns = f"{slot.best * 1e9:,.0f}"
        lines.append(
            f"| {scenario} | {label} | {ns} | {slot.best / floor:.2f} | {_dropped(slot)} |"
        )
    return "\n".join(lines)


def _environment() -> str:
    versions = [f"Python {platform.python_version()}", f"orjson {orjson.__version__}"]
    versions.append(f"nglogger {nglogger.__version__}")
    versions.append(f"redaction scan: {keyscan.engine()}")
    for name in ("structlog", "loguru", "picologging"):
        if not S.missing(name):
            module = __import__(name)
            versions.append(f"{name} {getattr(module, '__version__', '?')}")
    cpus = os.cpu_count()
    return f"{', '.join(versions)}; {platform.machine()}, {cpus} CPUs, {platform.system()}"


def _load() -> float:
    """The 1-minute load average (0.0 where the platform has none)."""
    try:
        return os.getloadavg()[0]
    except (AttributeError, OSError):
        return 0.0


def main(argv: list[str] | None = None) -> int:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="repeats per subject (min kept)")
    parser.add_argument("--seconds", type=float, default=0.25, help="length of one repeat")
    parser.add_argument("--quick", action="store_true", help="3 repeats of 0.02 s (rough)")
    parser.add_argument("--only", nargs="*", default=None, help="scenario names to run")
    args = parser.parse_args(argv)
    repeat, seconds = (3, 0.02) if args.quick else (args.repeat, args.seconds)
    load_before = _load()
    rows = measure(repeat, seconds, args.only)
    load = f"1-min load average {load_before:.2f} before, {_load():.2f} after"
    print(f"min of {repeat} repeats of ~{seconds:g} s each; {_environment()}; {load}\n")
    if max(load_before, _load()) >= (os.cpu_count() or 1) / 2:
        print("warning: the machine was busy; rerun when idle", file=sys.stderr)
    print(table(rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
