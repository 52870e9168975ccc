"""``nglogger bench --compare``: which figures got worse than a saved baseline allows.

Pure: two reports as plain data (``Report.as_dict``) in, the regressions and every
compared row out. ``tests/test_bench_gate.py`` holds the rules as a table of figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["HIGHER_IS_BETTER", "Regression", "compare"]

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
