"""How ``nglogger bench`` times a call: against a baseline, in interleaved rounds.

A candidate and its baseline (the floor, see ``scenarios.py``) are timed a few
milliseconds apart, round after round, in alternating order, so that a noisy neighbour
or a CPU frequency change slows both sides of a ratio alike; the ratio is the median of
the per-round ratios and its noise band their quartiles. Memory per call is the traced
peak of one call (:func:`peak_alloc`).
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from .report import Result

__all__ = ["Pair", "Rounds", "interleaved", "measure_pairs", "peak_alloc", "speed_result"]


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


def peak_alloc(fn: Callable[[], object], calls: int = 200) -> int:
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
