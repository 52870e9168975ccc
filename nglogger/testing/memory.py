"""Memory budgets: what one call of a code path costs in traced memory, and where.

See :mod:`nglogger.testing` for the exact definitions of the measures. This module
holds the public names: the reports, the measuring functions and ``MemoryBudget``.
A run is traced by ``_session`` (its setting, baseline and result) and its traced
blocks attributed to the program's parts by ``_attribution``.
"""

from __future__ import annotations

import dataclasses
import gc
import linecache
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from ._attribution import HARNESS as _HARNESS
from ._attribution import STORAGE as _STORAGE
from ._attribution import Diff as _Diff
from ._attribution import Loc as _Loc
from ._attribution import diff as _diff
from ._attribution import short as _short
from ._session import Session as _Session

__all__ = [
    "AllocationSite",
    "MemoryBudget",
    "MemoryBudgetExceeded",
    "MemoryReport",
    "check_budget",
    "locate",
    "measure",
    "memory_budget",
]


@dataclass(frozen=True, slots=True)
class AllocationSite:
    """Memory allocated at one place, per call of the measured code path.

    ``filename``/``lineno``: the innermost frame in your code (anything but the
    standard library, pytest and these helpers) or, for allocations made by
    nglogger's own threads, the innermost nglogger frame. ``inside``: the
    nglogger line that allocated the most under that line, unless more was
    allocated outside nglogger (then None).
    ``size`` and ``count``: bytes and memory blocks per call.
    """

    filename: str
    lineno: int
    size: float
    count: float
    inside: _Loc | None = None

    def describe(self, per: str = "call") -> str:
        """Size (per ``per``) and place on one line, then the source line."""
        text = f"{self.size:,.0f} B/{per} ({self.count:,.1f} blocks) at "
        text += f"{_short(self.filename)}:{self.lineno}"
        if self.inside is not None and self.inside != (self.filename, self.lineno):
            text += f" (inside {_short(self.inside[0])}:{self.inside[1]})"
        source = linecache.getline(self.filename, self.lineno).strip()
        return f"{text}\n       {source}" if source else text


@dataclass(frozen=True, slots=True)
class MemoryReport:
    """What a measured code path cost (see the module docstring for the exact definitions).

    ``pipeline_bytes``: growth of the pipeline's own storage during the run
    (buffer arenas, sink queues, sinks that keep events); bounded by
    ``Config.memory_budget`` and not counted in ``retained``.
    ``retained_sites``/``peak_sites``: where the kept memory, and the memory
    live at the peak of one call, were allocated; filled in when a budget is
    exceeded. ``block``: measured as a ``with`` block (one call, no warm-up).
    """

    calls: int
    warmup: int
    per_call_peak: int
    per_call_peak_max: int
    retained: int
    retained_per_call: float
    pipeline_bytes: int = 0
    retained_sites: tuple[AllocationSite, ...] = ()
    peak_sites: tuple[AllocationSite, ...] = ()
    label: str = "code path"
    block: bool = False

    def format(self, per_call_bytes: int | None = None, retained_bytes: int | None = None) -> str:
        """A human report; given limits, each measure says whether it kept within its own."""
        block = self.block
        runs = "as one block" if block else f"{self.calls:,} calls after {self.warmup:,} warm-up"
        per = "block" if block else "call"
        lines = [f"memory of {self.label} ({runs}):"]
        retained = f"  retained       {self.retained:>12,} B"
        if not block:
            retained += f"  ({self.retained_per_call:,.1f} B/call)"
        lines.append(retained + _verdict(self.retained, retained_bytes))
        if block:
            lines.append(
                f"  peak           {self.per_call_peak:>12,} B"
                + _verdict(self.per_call_peak, per_call_bytes)
            )
        else:
            lines.append(
                f"  per-call peak  {self.per_call_peak:>12,} B  "
                f"(mean; max {self.per_call_peak_max:,} B)"
                + _verdict(self.per_call_peak, per_call_bytes)
            )
        if self.pipeline_bytes:
            lines.append(
                f"  (pipeline storage changed by {self.pipeline_bytes:,} B: "
                "not counted as retained)"
            )
        if self.retained_sites:
            after = "block" if block else "calls"
            lines.append(f"kept after the {after}, allocated at (your code and nglogger):")
            lines += [
                f"  {i}. {site.describe(per)}" for i, site in enumerate(self.retained_sites, 1)
            ]
        if self.peak_sites:
            lines.append(
                "live near the peak of one call (profiled once; approximate), allocated at:"
            )
            lines += [f"  {i}. {site.describe(per)}" for i, site in enumerate(self.peak_sites, 1)]
        peak = "peak: the" if block else "per-call peak: mean over calls of the"
        lines.append(
            f"({peak} traced high-water mark during the {per} minus the traced memory before "
            "it; retained: traced memory after the run minus before it, both after flush() and "
            "gc.collect(), pipeline storage excluded)"
        )
        return "\n".join(lines)


def _verdict(value: int, limit: int | None) -> str:
    if limit is None:
        return ""
    state = "EXCEEDED" if value > limit else "ok"
    return f"  budget {limit:>10,} B  {state}"


class MemoryBudgetExceeded(AssertionError):  # noqa: N818 - a test failure, not an error
    """A measured code path exceeded its memory budget; ``report`` says by how much and where."""

    def __init__(
        self, report: MemoryReport, per_call_bytes: int | None, retained_bytes: int | None
    ) -> None:
        super().__init__("memory budget exceeded: " + report.format(per_call_bytes, retained_bytes))
        self.report = report
        self.per_call_bytes = per_call_bytes
        self.retained_bytes = retained_bytes


#: Frames kept per traced allocation while locating sites: enough to see past
#: recursive copies. The measuring pass keeps one frame (cheapest).
_FRAMES = 48
#: A block (``with memory_budget(...)``) runs once, measured and located together.
_BLOCK_FRAMES = 16
#: Calls repeated to locate the sites of kept memory when a budget is exceeded.
_LOCATE_CALLS = 50
_TOP_SITES = 5
#: Growth under this many bytes per call is not reported as a site (see ``_top_sites``).
_NOISE_PER_CALL = 16


def _check_run(calls: int, warmup: int) -> None:
    if isinstance(calls, bool) or not isinstance(calls, int) or calls < 1:
        raise ValueError(f"calls={calls!r} is invalid; accepted: an integer >= 1")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup={warmup!r} is invalid; accepted: an integer >= 0")


def measure(
    fn: Callable[[], object], *, calls: int = 1000, warmup: int = 100, isolated: bool = False
) -> MemoryReport:
    """Call ``fn()`` ``warmup`` times, then ``calls`` times under tracemalloc; report the cost.

    Starts tracemalloc (and stops it after) unless it is already tracing, in
    which case its peak is reset. Uses the default pipeline as configured;
    ``isolated=True`` swaps in a copy of its configuration whose only sink
    discards everything, for the run. ``fn``'s return values are dropped at once.
    """
    _check_run(calls, warmup)
    session = _Session(isolated, frames=1)
    session.open()
    try:
        for _ in range(warmup):
            fn()
        session.baseline()
        get = tracemalloc.get_traced_memory
        reset = tracemalloc.reset_peak
        total = 0
        worst = 0
        for _ in range(calls):
            before = get()[0]
            reset()
            fn()
            peak = get()[1] - before
            total += peak
            worst = max(worst, peak)
        retained, storage, _ = session.finish()
    finally:
        session.close()
    return MemoryReport(
        calls=calls,
        warmup=warmup,
        per_call_peak=total // calls,
        per_call_peak_max=worst,
        retained=retained,
        retained_per_call=retained / calls,
        pipeline_bytes=storage,
        label=_label(fn),
    )


def locate(
    fn: Callable[[], object], report: MemoryReport, *, isolated: bool = False
) -> MemoryReport:
    """``report`` with the allocation sites filled in, found by calling ``fn`` again.

    Runs ``fn`` up to 50 more times with deep tracebacks to find where the kept
    memory comes from, then once more under a profile hook that snapshots near
    the call's peak, to find what a call holds at its highest (approximately:
    the hook itself changes what the interpreter allocates). When tracemalloc
    was already tracing, its traceback depth is kept; with one frame, sites
    name the innermost line only.
    """
    calls = min(report.calls, _LOCATE_CALLS)
    session = _Session(isolated, frames=_FRAMES)
    session.open()
    try:
        fn()  # tracebacks are deeper now: let anything cached per call site settle
        session.baseline()
        for _ in range(calls):
            fn()
        _, _, diff = session.finish()
        kept = _top_sites(diff, calls, exclude=(_STORAGE, _HARNESS))
        peak = _peak_sites(fn, report.per_call_peak)
    finally:
        session.close()
    return dataclasses.replace(report, retained_sites=kept, peak_sites=peak)


def _peak_sites(fn: Callable[[], object], expected_peak: int) -> tuple[AllocationSite, ...]:
    """Sites of what one call holds near its peak, from a snapshot taken there.

    A profile hook watches the traced memory at every function call and return
    of ``fn``; past half the expected peak, it snapshots each time the memory
    rose by another tenth of it, keeping the highest.
    """
    if expected_peak <= 0:
        return ()
    gc.collect()
    get = tracemalloc.get_traced_memory
    before = tracemalloc.take_snapshot()
    start = get()[0]
    step = max(1, expected_peak // 10)
    state: dict[str, Any] = {"next": start + expected_peak // 2, "best": None}

    def hook(_frame: object, _event: str, _arg: object) -> None:
        current = get()[0]
        if current >= state["next"]:
            state["best"] = None  # free the previous snapshot first
            state["best"] = tracemalloc.take_snapshot()
            state["next"] = current + step

    previous = sys.getprofile()
    sys.setprofile(hook)
    try:
        fn()
    finally:
        sys.setprofile(previous)
    best: tracemalloc.Snapshot | None = state["best"]
    if best is None:
        return ()
    return _top_sites(_diff(before, best, hooked=True), 1, exclude=(_HARNESS,))


def check_budget(
    fn: Callable[[], object],
    *,
    per_call_bytes: int | None = None,
    retained_bytes: int | None = None,
    calls: int = 1000,
    warmup: int = 100,
    isolated: bool = False,
) -> MemoryReport:
    """:func:`measure` ``fn``; over a limit, :func:`locate` and raise :class:`MemoryBudgetExceeded`.

    ``per_call_bytes`` bounds ``per_call_peak``; ``retained_bytes`` bounds
    ``retained`` (of the whole run). At least one limit is required.
    """
    __tracebackhide__ = True
    _check_limits(per_call_bytes, retained_bytes)
    report = measure(fn, calls=calls, warmup=warmup, isolated=isolated)
    if _over(report, per_call_bytes, retained_bytes):
        report = locate(fn, report, isolated=isolated)
        raise MemoryBudgetExceeded(report, per_call_bytes, retained_bytes)
    return report


def _check_limits(per_call_bytes: int | None, retained_bytes: int | None) -> None:
    if per_call_bytes is None and retained_bytes is None:
        raise ValueError("a memory budget needs per_call_bytes and/or retained_bytes")
    for name, value in (("per_call_bytes", per_call_bytes), ("retained_bytes", retained_bytes)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{name}={value!r} is invalid; accepted: an integer number of bytes")


def _over(report: MemoryReport, per_call_bytes: int | None, retained_bytes: int | None) -> bool:
    over_peak = per_call_bytes is not None and report.per_call_peak > per_call_bytes
    over_kept = retained_bytes is not None and report.retained > retained_bytes
    return over_peak or over_kept


class MemoryBudget:
    """Limits for a code path, usable three ways.

    ``budget.check(fn)`` (or ``budget(fn)``) runs :func:`check_budget` with
    these settings; ``budget.measure(fn)`` only measures; ``with budget:``
    measures the block as one call (no warm-up: warm the path up before the
    block; ``calls`` and ``warmup`` do not apply) and raises
    :class:`MemoryBudgetExceeded` at its end if over a limit, unless the block
    raised. ``report`` holds the latest measurement.
    """

    __slots__ = (
        "_blocks",
        "calls",
        "isolated",
        "per_call_bytes",
        "report",
        "retained_bytes",
        "warmup",
    )

    def __init__(
        self,
        *,
        per_call_bytes: int | None = None,
        retained_bytes: int | None = None,
        calls: int = 1000,
        warmup: int = 100,
        isolated: bool = False,
    ) -> None:
        _check_limits(per_call_bytes, retained_bytes)
        _check_run(calls, warmup)
        self.per_call_bytes = per_call_bytes
        self.retained_bytes = retained_bytes
        self.calls = calls
        self.warmup = warmup
        self.isolated = isolated
        self.report: MemoryReport | None = None
        self._blocks: list[_Session] = []

    def __repr__(self) -> str:
        return (
            f"MemoryBudget(per_call_bytes={self.per_call_bytes!r}, "
            f"retained_bytes={self.retained_bytes!r}, calls={self.calls!r}, "
            f"warmup={self.warmup!r}, isolated={self.isolated!r})"
        )

    def measure(self, fn: Callable[[], object]) -> MemoryReport:
        """Measure ``fn`` with these settings (no limit applied)."""
        self.report = measure(fn, calls=self.calls, warmup=self.warmup, isolated=self.isolated)
        return self.report

    def check(self, fn: Callable[[], object]) -> MemoryReport:
        """Measure ``fn``; raise :class:`MemoryBudgetExceeded` if over a limit."""
        __tracebackhide__ = True
        try:
            self.report = check_budget(
                fn,
                per_call_bytes=self.per_call_bytes,
                retained_bytes=self.retained_bytes,
                calls=self.calls,
                warmup=self.warmup,
                isolated=self.isolated,
            )
        except MemoryBudgetExceeded as exc:
            self.report = exc.report
            raise
        return self.report

    __call__ = check

    def __enter__(self) -> MemoryBudget:
        session = _Session(self.isolated, frames=_BLOCK_FRAMES)
        session.open()
        try:
            session.baseline()
        except BaseException:
            session.close()
            raise
        self._blocks.append(session)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        __tracebackhide__ = True
        session = self._blocks.pop()
        try:
            peak = tracemalloc.get_traced_memory()[1] - session.before
            retained, storage, diff = session.finish()
        finally:
            session.close()
        caller = sys._getframe(1)
        report = MemoryReport(
            calls=1,
            warmup=0,
            per_call_peak=peak,
            per_call_peak_max=peak,
            retained=retained,
            retained_per_call=float(retained),
            pipeline_bytes=storage,
            label=f"block at {_short(caller.f_code.co_filename)}:{caller.f_lineno}",
            block=True,
        )
        self.report = report
        if exc_type is None and _over(report, self.per_call_bytes, self.retained_bytes):
            sites = _top_sites(diff, 1, exclude=(_STORAGE, _HARNESS))
            self.report = dataclasses.replace(report, retained_sites=sites)
            raise MemoryBudgetExceeded(self.report, self.per_call_bytes, self.retained_bytes)


def memory_budget(
    *,
    per_call_bytes: int | None = None,
    retained_bytes: int | None = None,
    calls: int = 1000,
    warmup: int = 100,
    isolated: bool = False,
) -> MemoryBudget:
    """A :class:`MemoryBudget`: ``memory_budget(retained_bytes=65_536)(fn)``, or ``with`` it."""
    return MemoryBudget(
        per_call_bytes=per_call_bytes,
        retained_bytes=retained_bytes,
        calls=calls,
        warmup=warmup,
        isolated=isolated,
    )


def _label(fn: Callable[[], object]) -> str:
    name = getattr(fn, "__qualname__", None) or type(fn).__qualname__
    code = getattr(fn, "__code__", None)
    if code is None:
        return str(name)
    return f"{name} ({_short(code.co_filename)}:{code.co_firstlineno})"


def _top_sites(diff: _Diff, calls: int, *, exclude: tuple[str, ...]) -> tuple[AllocationSite, ...]:
    """The places that grew most, per call: lines of the user's code, or of nglogger.

    Growth under one line is summed; ``inside`` names the nglogger line that
    contributed most of it, unless more came from outside nglogger. Places
    under 5% of the largest, or under 16 bytes per call, are left out.
    """
    places: dict[_Loc, list[Any]] = {}  # place -> [size, count, {inside: size}]
    for (category, user, inside), (size, count) in diff.items():
        place = user or inside
        if place is None or category in exclude:
            continue
        entry = places.setdefault(place, [0, 0, {}])
        entry[0] += size
        entry[1] += count
        entry[2][inside] = entry[2].get(inside, 0) + size
    grown = sorted(
        ((entry[0], entry[1], place, entry[2]) for place, entry in places.items() if entry[0] > 0),
        key=lambda item: item[0],
        reverse=True,
    )
    # noise: under 5% of the largest, or under 16 bytes per call: not something every call
    # does, but a one-off such as the timestamp cache a call refreshes each millisecond
    # (a tuple and a string, ~150 B, alive at the end of any run)
    floor = max(grown[0][0] // 20, _NOISE_PER_CALL * calls) if grown else 0
    out = []
    for size, count, place, insides in grown[:_TOP_SITES]:
        if size < floor:
            break
        inside = max(insides, key=insides.__getitem__)  # None: mostly outside nglogger
        out.append(AllocationSite(place[0], place[1], size / calls, count / calls, inside))
    return tuple(out)
