"""What ``nglogger bench`` reports: one figure (``Result``) and a run's figures (``Report``).

A figure measured in several processes becomes one with :func:`combined`: medians, and
the noise band they span. The report's plain-data form (``Report.as_dict``) is the
``--json`` output and the baseline file ``--compare`` reads (see ``gate.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["Report", "Result", "combined"]


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


def combined(first: dict[str, Any], same: list[dict[str, Any]]) -> Result:
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
