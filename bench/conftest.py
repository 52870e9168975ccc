"""Benchmark session glue: a fresh nglogger per test and a ratio-to-floor summary.

Each benchmark file is one scenario (one pytest-benchmark group) whose
``test_floor`` measures the floor for that scenario's event (see
``_scenarios.py``). After the session, a compact table gives every benchmark's
mean and median ns/call and their ratios to the floor of its group (the mean
includes nglogger's background threads and any noise; the median shows the
typical call), plus the events nglogger dropped while being measured (a
benchmark that drops did less work than it was asked to).
With ``--benchmark-disable`` (the CI smoke mode) there are no timings, so no
table is printed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

import nglogger
from nglogger._core import guard as _guard

FLOOR = "test_floor"


@dataclass
class _Result:
    group: str
    name: str
    mean_s: float
    median_s: float
    submitted: int
    dropped: int


#: nodeid -> result, filled by the autouse fixture as each benchmark finishes.
_RESULTS: dict[str, _Result] = {}


def _fresh() -> None:
    nglogger.shutdown(timeout=2.0)
    _guard.CONTEXT.set(None)


@pytest.fixture(autouse=True)
def _fresh_nglogger(request: pytest.FixtureRequest) -> Iterator[None]:
    """Shut the default pipeline down around each test and record its timings."""
    _fresh()
    bench = request.getfixturevalue("benchmark") if "benchmark" in request.fixturenames else None
    yield
    try:
        if bench is not None:
            _record(request.node.nodeid, bench)
    finally:
        _fresh()


def _record(nodeid: str, bench: Any) -> None:
    meta = getattr(bench, "stats", None)
    if meta is None or getattr(bench, "disabled", True):  # --benchmark-disable: no timings
        return
    info = bench.extra_info
    _RESULTS[nodeid] = _Result(
        group=bench.group or "",
        name=bench.name.split("[", 1)[0],  # parametrized groups: test_floor[nested-1KB]
        mean_s=meta.stats.mean,
        median_s=meta.stats.median,
        submitted=int(info.get("nglogger_submitted", 0)),
        dropped=int(info.get("nglogger_dropped", 0)),
    )


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print ns/call and the ratio to the group's floor (only when there are timings)."""
    if not _RESULTS:
        return
    floors = {r.group: r for r in _RESULTS.values() if r.name == FLOOR}
    rows = [
        ("group", "benchmark", "mean ns", "x floor", "median ns", "x floor", "nglogger dropped")
    ]
    for result in sorted(_RESULTS.values(), key=lambda r: (r.group, r.name != FLOOR, r.mean_s)):
        floor = floors.get(result.group)
        dropped = ""
        if result.submitted:
            share = result.dropped / result.submitted
            dropped = f"{result.dropped} ({share:.1%})" if result.dropped else "0"
        rows.append(
            (
                result.group,
                result.name,
                f"{result.mean_s * 1e9:,.0f}",
                f"{result.mean_s / floor.mean_s:.2f}" if floor else "-",
                f"{result.median_s * 1e9:,.0f}",
                f"{result.median_s / floor.median_s:.2f}" if floor else "-",
                dropped,
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    terminalreporter.write_sep("-", "ns/call and ratio to the floor of each group")
    for row in rows:
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        terminalreporter.write_line("  ".join(cells).rstrip())
