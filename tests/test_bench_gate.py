"""`nglogger bench --compare`: what counts as a regression, as a pure table of figures."""

from __future__ import annotations

from typing import Any

import pytest

from nglogger._bench.gate import compare
from nglogger._bench.report import Result, combined


def figure(
    scenario: str,
    ratio: float | None,
    low: float | None = None,
    high: float | None = None,
    *,
    gate: str = "baseline",
    metric: str = "ns_per_call",
    value: float = 100.0,
) -> dict[str, Any]:
    """One result row as the JSON report holds it."""
    return {
        "scenario": scenario,
        "metric": metric,
        "value": value,
        "unit": "ns",
        "ratio": ratio,
        "note": "",
        "low": low,
        "high": high,
        "gate": gate,
    }


def report(*rows: dict[str, Any]) -> dict[str, Any]:
    return {"results": list(rows)}


def regressed(before: dict[str, Any], after: dict[str, Any], tolerance: float = 0.10) -> list[str]:
    return [r.scenario for r in compare(report(before), report(after), tolerance=tolerance)[0]]


@pytest.mark.parametrize(
    ("before", "after", "flagged"),
    [
        # worse beyond the tolerance, bands apart: a regression
        (figure("basic", 2.0, 1.9, 2.1), figure("basic", 2.6, 2.5, 2.7), True),
        # worse beyond the tolerance but within the noise: bands overlap
        (figure("basic", 2.0, 1.8, 2.4), figure("basic", 2.3, 2.2, 2.5), False),
        # within the tolerance, bands apart: not a regression
        (figure("basic", 2.0, 1.99, 2.01), figure("basic", 2.1, 2.09, 2.11), False),
        # better: never a regression
        (figure("basic", 2.0, 1.9, 2.1), figure("basic", 1.0, 0.9, 1.1), False),
        # no band (deterministic figure): the tolerance alone decides
        (figure("mem", 1.0), figure("mem", 1.2), True),
        (figure("mem", 1.0), figure("mem", 1.05), False),
    ],
)
def test_a_baseline_figure_regresses_beyond_tolerance_and_noise(
    before: dict[str, Any], after: dict[str, Any], flagged: bool
) -> None:
    """Worse than the tolerance allows and outside the saved noise band: flagged."""
    assert bool(regressed(before, after)) is flagged


def test_a_bound_figure_is_held_to_its_bound_not_to_the_baseline() -> None:
    """A timing-dependent figure (stalled-sink peak / budget) fails only above 1.0."""
    assert (
        regressed(figure("stalled", 0.5, gate="bound"), figure("stalled", 0.95, gate="bound")) == []
    )
    assert regressed(
        figure("stalled", 0.5, gate="bound"), figure("stalled", 1.05, gate="bound")
    ) == ["stalled"]


def test_figures_shown_only_are_never_compared() -> None:
    """Disk throughput and competitor figures ("none") never fail a comparison."""
    before = figure("file", None, gate="none", metric="events_per_second", value=1e6)
    after = figure("file", None, gate="none", metric="events_per_second", value=1e3)
    assert regressed(before, after) == []
    assert compare(report(before), report(after))[1] == []


def test_higher_is_better_for_throughput() -> None:
    """For events_per_second a drop is the regression."""
    before = figure("file", None, metric="events_per_second", value=1000.0)
    assert regressed(before, figure("file", None, metric="events_per_second", value=500.0))
    assert not regressed(before, figure("file", None, metric="events_per_second", value=2000.0))


def test_per_metric_tolerances() -> None:
    """A scenario's own tolerance wins over the default."""
    before, after = figure("basic", 2.0), figure("basic", 2.5)
    assert compare(report(before), report(after), per_metric={"basic": 0.30})[0] == []
    assert compare(report(before), report(after), per_metric={"basic": 0.20})[0]


def test_process_results_combine_into_median_and_span() -> None:
    """Across speed processes: the median figure, banded by every process's quartiles."""
    rows = [
        figure("basic", r, r - 0.1, r + 0.1, value=v) for r, v in ((2.0, 10), (2.6, 30), (2.2, 20))
    ]
    figure_of_all = combined(rows[0], rows)
    assert figure_of_all == Result(
        "basic", "ns_per_call", 20.0, "ns", 2.2, "", 1.9, 2.7, "baseline"
    )
