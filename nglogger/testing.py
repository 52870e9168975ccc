"""Test helpers for code that logs through nglogger: log capture and memory budgets.

Importable without pytest; :mod:`nglogger.pytest_plugin` turns both into fixtures.

Capture what a code path logs, parsed::

    from nglogger.testing import capture_logs

    with capture_logs() as logs:
        handle_request()
    logs.assert_logged("request handled", level="info", status=200)
    assert logs.count(level="error") == 0

Fail when a code path's logging costs more memory than budgeted::

    from nglogger.testing import check_budget

    check_budget(handle_request, per_call_bytes=16_384, retained_bytes=65_536)

The memory measures, exactly (tracemalloc traces every thread, so the
pipeline's background work done meanwhile counts too):

* ``per_call_peak``: the mean, over the measured calls, of
  ``peak_i - before_i``, where ``before_i`` is the traced memory just before
  call ``i`` and ``peak_i`` its high-water mark during the call
  (``tracemalloc.reset_peak()`` before each call): the memory one call needs
  on top of what was live, transient allocations and whatever it keeps.
  ``per_call_peak_max`` is the largest ``peak_i - before_i``.
* ``retained``: the traced memory after the run minus the traced memory
  before it (after the warm-up), each read after ``flush()`` of the default
  pipeline and ``gc.collect()``, less the growth of the pipeline's own
  storage (buffer arenas, sink queues, sinks that keep events: bounded by
  ``Config.memory_budget``, reported as ``pipeline_bytes``) and of these
  helpers' bookkeeping. Storage is told apart by the innermost frame of each
  allocation outside the standard library. ``retained_per_call`` is
  ``retained / calls``.

Both are measured on the default pipeline as configured; ``isolated=True``
swaps in, for the run, a copy of its configuration whose only sink discards
everything. pytest's capture of stdlib ``logging`` records (which keeps every
record of a test) is paused while measuring.

When a budget is exceeded, the code path is run again (up to 50 calls, with
deep tracebacks) to name the lines that allocated what was kept and what was
live at the peak of a call.
"""

from __future__ import annotations

import dataclasses
import gc
import linecache
import os
import re
import sys
import sysconfig
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson

from . import _pipeline
from ._config import Config
from ._levels import level_name, parse_level
from ._pipeline import Pipeline
from .sinks.memory import MemorySink, NullSink

__all__ = [
    "AllocationSite",
    "LogCapture",
    "MemoryBudget",
    "MemoryBudgetExceeded",
    "MemoryReport",
    "MemorySink",
    "NullSink",
    "capture_logs",
    "check_budget",
    "locate",
    "measure",
    "memory_budget",
]

#: How long a flush done by these helpers may take, in seconds.
_FLUSH_TIMEOUT = 5.0
#: How many non-matching events an assertion report lists.
_CLOSEST = 5
_MISSING: Any = object()


# --------------------------------------------------------------------------
# The default pipeline, swapped for the duration of a block.


@contextmanager
def _installed(pipeline: Pipeline) -> Iterator[None]:
    """Make ``pipeline`` the default for the block, then put the previous one back as it was.

    The previous default (a pipeline or the lazy stand-in) is not shut down. If
    code inside the block configured another default, that one is shut down at
    the end, as ``configure()`` would have done when replacing it.
    """
    with _pipeline._configure_lock:
        previous = _pipeline.current
        _pipeline.current = pipeline
    try:
        yield
    finally:
        with _pipeline._configure_lock:
            replaced = _pipeline.current
            _pipeline.current = previous
        pipeline.shutdown(_FLUSH_TIMEOUT)
        if replaced is not pipeline and isinstance(replaced, Pipeline):
            replaced.shutdown()


# --------------------------------------------------------------------------
# Capture


class LogCapture:
    """The events logged while a :func:`capture_logs` block runs.

    Reading ``events`` or ``lines`` first flushes the pipeline, so everything
    logged before the read is there; both stay readable after the block ends.
    Worst-case footprint: ``max_events`` event documents.
    """

    __slots__ = ("_active", "_pipeline", "_sink")

    def __init__(self, pipeline: Pipeline, sink: MemorySink) -> None:
        self._pipeline = pipeline
        self._sink = sink
        self._active = True

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline recording the events (for ``stats()``)."""
        return self._pipeline

    @property
    def lines(self) -> list[bytes]:
        """The events as raw JSON documents (bytes, no newline), oldest first."""
        self._sync()
        return self._sink.lines()

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events parsed, oldest first."""
        self._sync()
        return self._sink.events()

    def clear(self) -> None:
        """Forget every event logged so far (buffered ones included)."""
        self._sync()
        self._sink.clear()

    def count(
        self,
        message: str | re.Pattern[str] | None = None,
        *,
        level: int | str | None = None,
        logger: str | re.Pattern[str] | None = None,
        **fields: Any,
    ) -> int:
        """How many events match (same criteria as :meth:`assert_logged`)."""
        criteria = _criteria(message, level, logger, fields)
        return sum(1 for event in self.events if not _mismatches(event, criteria))

    def assert_logged(
        self,
        message: str | re.Pattern[str] | None = None,
        *,
        level: int | str | None = None,
        logger: str | re.Pattern[str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Return the first event matching every criterion given, or raise ``AssertionError``.

        ``message`` and ``logger`` match by equality, or by ``search`` when given
        a compiled ``re.Pattern``; ``level`` takes a name or number; every other
        keyword names a field, compared with the logged JSON value (expected
        values are passed through JSON first, so tuples equal lists and datetimes
        their RFC 3339 text; ``unittest.mock.ANY`` matches anything present). A
        field named like a parameter is logged with a trailing underscore:
        ``message_=...``. The error lists the closest events and what differs.
        """
        __tracebackhide__ = True
        criteria = _criteria(message, level, logger, fields)
        events = self.events
        for event in events:
            if not _mismatches(event, criteria):
                return event
        raise AssertionError(self._missing_report(events, criteria))

    def assert_not_logged(
        self,
        message: str | re.Pattern[str] | None = None,
        *,
        level: int | str | None = None,
        logger: str | re.Pattern[str] | None = None,
        **fields: Any,
    ) -> None:
        """Raise ``AssertionError`` listing the events that match, if any do."""
        __tracebackhide__ = True
        criteria = _criteria(message, level, logger, fields)
        found = [
            (i, event) for i, event in enumerate(self.events, 1) if not _mismatches(event, criteria)
        ]
        if found:
            lines = [
                (
                    f"assert_not_logged({_describe(criteria)}): "
                    f"{len(found)} captured event{'s' if len(found) != 1 else ''} match:"
                )
            ]
            lines += [f"  #{i} {_show(event)}" for i, event in found[:_CLOSEST]]
            if len(found) > _CLOSEST:
                lines.append(f"  ... and {len(found) - _CLOSEST} more")
            raise AssertionError("\n".join(lines))

    def _sync(self) -> None:
        if self._active:
            self._pipeline.flush(_FLUSH_TIMEOUT)

    def _close(self) -> None:
        self._active = False

    def _missing_report(self, events: list[dict[str, Any]], criteria: _Criteria) -> str:
        head = f"assert_logged({_describe(criteria)}): no captured event matches."
        notes = self._loss_notes()
        if not events:
            level = level_name(self._pipeline.min_level)
            return "\n".join(
                [
                    head,
                    (
                        f"No events were captured (capture level: {level}; events below it, "
                        "or logged before the capture started, are not seen)."
                    ),
                    *notes,
                ]
            )
        ranked = sorted(
            ((_mismatches(event, criteria), i, event) for i, event in enumerate(events, 1)),
            key=lambda item: (len(item[0]), item[1]),
        )
        plural = "s" if len(events) != 1 else ""
        lines = [head, f"{len(events)} event{plural} captured; closest first:"]
        for differences, i, event in ranked[:_CLOSEST]:
            lines.append(f"  #{i} {_show(event)}")
            lines += [f"      {difference}" for difference in differences]
        if len(events) > _CLOSEST:
            lines.append(f"  ... and {len(events) - _CLOSEST} more")
        lines += notes
        return "\n".join(lines)

    def _loss_notes(self) -> list[str]:
        notes = []
        if self._sink.overwritten:
            notes.append(
                f"Note: the {self._sink.overwritten} oldest events were evicted "
                "(capture_logs(max_events=...) keeps more)."
            )
        dropped = self._pipeline.stats().total_dropped
        if dropped:
            notes.append(f"Note: the pipeline dropped {dropped} events (see .pipeline.stats()).")
        return notes


@contextmanager
def capture_logs(
    level: int | str = "debug", *, max_events: int = 100_000, **config: Any
) -> Iterator[LogCapture]:
    """Record every event logged in the block (any thread) into a :class:`LogCapture`.

    A pipeline writing to a bounded :class:`~nglogger.sinks.MemorySink` becomes
    the default for the block; the previous default (configured pipeline or
    none) is put back exactly as it was afterwards, without being shut down.
    The capture pipeline is built from the defaults and ``config`` (any
    :class:`~nglogger.Config` setting except ``sinks``); the environment is not
    read, so tests behave the same everywhere. Loggers bound before the block
    keep the context they serialized then.
    """
    if "sinks" in config:
        raise TypeError("capture_logs() records into its own MemorySink; 'sinks' is not accepted")
    sink = MemorySink(max_events, name="nglogger-capture")
    settings: dict[str, Any] = {"flush_interval": 0.05, **config}
    pipeline = Pipeline(Config(level=level, sinks=(sink,), **settings))
    capture = LogCapture(pipeline, sink)
    try:
        with _installed(pipeline):
            yield capture
    finally:
        capture._close()


# --------------------------------------------------------------------------
# Matching and reports for the capture assertions.

_Criteria = list[tuple[str, Any]]


def _criteria(
    message: object, level: int | str | None, logger: object, fields: dict[str, Any]
) -> _Criteria:
    out: _Criteria = []
    if message is not None:
        out.append(("message", _expected(message)))
    if level is not None:
        out.append(("level", level_name(parse_level(level))))
    if logger is not None:
        out.append(("logger", _expected(logger)))
    out += [(key, _expected(value)) for key, value in fields.items()]
    return out


def _expected(value: object) -> object:
    """The value as it reads back from JSON, when it is JSON data; otherwise itself."""
    if isinstance(value, (str, int, float, bool, re.Pattern)) or value is None:
        return value
    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_UTC_Z))
    except TypeError:  # a matcher such as mock.ANY, or a type JSON has no form for
        return value


def _mismatches(event: dict[str, Any], criteria: _Criteria) -> list[str]:
    out = []
    for key, expected in criteria:
        actual = event.get(key, _MISSING)
        if actual is _MISSING:
            out.append(f"{key}: missing")
        elif isinstance(expected, re.Pattern):
            if not (isinstance(actual, str) and expected.search(actual)):
                out.append(f"{key}: expected a match for {expected.pattern!r}, got {actual!r}")
        elif not expected == actual:  # noqa: SIM201 - the expected value's __eq__ decides (ANY)
            out.append(f"{key}: expected {expected!r}, got {actual!r}")
    return out


def _describe(criteria: _Criteria) -> str:
    return ", ".join(
        f"{key}=re.compile({expected.pattern!r})"
        if isinstance(expected, re.Pattern)
        else f"{key}={expected!r}"
        for key, expected in criteria
    )


def _show(event: dict[str, Any], limit: int = 300) -> str:
    text = orjson.dumps(event).decode()
    return text if len(text) <= limit else f"{text[:limit]}...({len(text) - limit} more chars)"


# --------------------------------------------------------------------------
# Memory budgets

_Loc = tuple[str, int]


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


class _Session:
    """One traced run: optional isolated pipeline, tracing started if needed, baseline, result."""

    def __init__(self, isolated: bool, frames: int) -> None:
        self._stack = ExitStack()
        self._isolated = isolated
        self._frames = frames
        self._started = False
        self.before = 0
        self._snapshot: tracemalloc.Snapshot | None = None

    def open(self) -> None:
        try:
            if self._isolated:
                current = _pipeline.current
                base = current.config if isinstance(current, Pipeline) else Config()
                sink = NullSink(name="nglogger-budget")
                self._stack.enter_context(_installed(Pipeline(base.replace(sinks=(sink,)))))
            self._stack.enter_context(_pytest_log_capture_paused())
            if not tracemalloc.is_tracing():
                tracemalloc.start(self._frames)
                self._started = True
        except BaseException:
            self.close()
            raise

    def baseline(self) -> None:
        _settle()
        self._snapshot = tracemalloc.take_snapshot()
        self.before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def finish(self) -> tuple[int, int, _Diff]:
        """``(retained, pipeline storage growth, snapshot diff)`` since the baseline."""
        _settle()
        after = tracemalloc.get_traced_memory()[0]
        snapshot = tracemalloc.take_snapshot()
        assert self._snapshot is not None
        diff = _diff(self._snapshot, snapshot)
        self._snapshot = None
        storage = sum(size for (category, _, _), (size, _) in diff.items() if category == _STORAGE)
        harness = sum(size for (category, _, _), (size, _) in diff.items() if category == _HARNESS)
        return after - self.before - storage - harness, storage, diff

    def close(self) -> None:
        self._snapshot = None
        if self._started:
            tracemalloc.stop()
            self._started = False
        self._stack.close()


@contextmanager
def _pytest_log_capture_paused() -> Iterator[None]:
    """Detach pytest's log-capturing handlers from the root logger for the block.

    pytest keeps every stdlib ``logging`` record of a test for its report; a
    code path that logs through ``logging`` would otherwise show that as
    retained memory, which it is not outside pytest.
    """
    logging = sys.modules.get("logging")
    if logging is None:
        yield
        return
    root = logging.getLogger()
    paused = [h for h in root.handlers if type(h).__module__.startswith("_pytest.")]
    for handler in paused:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in paused:
            root.addHandler(handler)


def _settle() -> None:
    """Deliver what the default pipeline buffered, then collect garbage."""
    current = _pipeline.current
    if isinstance(current, Pipeline):
        current.flush(_FLUSH_TIMEOUT)
    del current
    gc.collect()


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


# --------------------------------------------------------------------------
# Attribution: which part of the program allocated a traced block.

#: Categories of traced memory, from the innermost frame that is not the
#: standard library or pytest: the user's code, nglogger's call side (bound
#: context, encoding), nglogger's pipeline storage, these helpers, or unknown.
_USER, _NGLOGGER, _STORAGE, _HARNESS, _OTHER = "user", "nglogger", "storage", "harness", "other"
#: nglogger modules holding the pipeline's bounded storage (plus everything in sinks/).
_STORAGE_MODULES = frozenset(
    {
        "_batch.py",
        "_buffer.py",
        "_guard.py",
        "_http.py",
        "_pipeline.py",
        "_retry.py",
        "_stats.py",
        "_worker.py",
    }
)

_Key = tuple[str, _Loc | None, _Loc | None]
_Diff = dict[_Key, tuple[int, int]]


class _Places:
    """Classifies source files (computed once)."""

    _lock = threading.Lock()
    _instance: _Places | None = None

    def __init__(self) -> None:
        here = Path(__file__).absolute().parent
        self.nglogger = f"{here}{os.sep}"
        self.harness = frozenset({str(here / "testing.py"), str(here / "pytest_plugin.py")})
        self.storage = frozenset(str(here / name) for name in _STORAGE_MODULES)
        self.sinks = f"{here / 'sinks'}{os.sep}"
        paths = sysconfig.get_paths()
        self.stdlib = tuple({paths[k] + os.sep for k in ("stdlib", "platstdlib") if k in paths})
        self.site = tuple({paths[k] + os.sep for k in ("purelib", "platlib") if k in paths})
        tools = []
        for name in ("_pytest", "pytest", "pluggy"):
            location = getattr(sys.modules.get(name), "__file__", None)
            if location:
                tools.append(f"{Path(location).absolute().parent}{os.sep}")
        self.tools = tuple(tools)
        self.cache: dict[str, str] = {}

    @classmethod
    def get(cls) -> _Places:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def kind(self, filename: str) -> str:
        """user, nglogger, storage, harness (these helpers, pytest), or other (stdlib, frozen)."""
        kind = self.cache.get(filename)
        if kind is None:
            kind = self.cache[filename] = self._kind(filename)
        return kind

    def _kind(self, filename: str) -> str:
        if filename in self.harness:
            return _HARNESS
        if filename.startswith(self.nglogger):
            if filename in self.storage or filename.startswith(self.sinks):
                return _STORAGE
            return _NGLOGGER
        if self.tools and filename.startswith(self.tools):
            return _HARNESS
        if filename.startswith("<frozen "):
            return _OTHER
        if filename.startswith(self.stdlib) and not filename.startswith(self.site):
            return _OTHER
        return _USER


def _attribute(traceback: tracemalloc.Traceback, places: _Places) -> _Key:
    """``(category, innermost user frame, innermost nglogger frame)`` of one allocation.

    The category is decided by the innermost frame outside the standard library
    and pytest; the walk outwards stops at these helpers, so nothing is blamed
    on the line that called :func:`measure`.
    """
    category: str | None = None
    inside: _Loc | None = None
    for frame in reversed(traceback):  # innermost first
        kind = places.kind(frame.filename)
        if kind == _OTHER:
            continue
        if kind == _HARNESS:
            category = category or _HARNESS
            break
        here = (frame.filename, frame.lineno)
        if kind == _USER:
            return category or _USER, here, inside
        category = category or kind
        inside = inside or here
    return category or _OTHER, None, inside


def _grouped(
    snapshot: tracemalloc.Snapshot, places: _Places, *, hooked: bool = False
) -> dict[_Key, list[int]]:
    out: dict[_Key, list[int]] = {}
    for stat in snapshot.statistics("traceback"):
        if hooked and _is_frame_object(stat.traceback[-1]):
            continue
        entry = out.setdefault(_attribute(stat.traceback, places), [0, 0])
        entry[0] += stat.size
        entry[1] += stat.count
    return out


def _is_frame_object(frame: tracemalloc.Frame) -> bool:
    """True for an allocation made as a function was entered: a frame object.

    A profile hook makes the interpreter create a frame object for every call;
    at that moment the frame's line is the ``def`` line (or its first decorator).
    """
    line = linecache.getline(frame.filename, frame.lineno).lstrip()
    return line.startswith(("def ", "async def ", "@"))


def _diff(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, *, hooked: bool = False
) -> _Diff:
    """Bytes and blocks held after minus before, per attribution.

    ``hooked``: the snapshots were taken under a profile hook; frame objects it
    made the interpreter create are left out.
    """
    places = _Places.get()
    old = _grouped(before, places, hooked=hooked)
    new = _grouped(after, places, hooked=hooked)
    out: _Diff = {}
    for key in old.keys() | new.keys():
        size, count = new.get(key, (0, 0))
        was_size, was_count = old.get(key, (0, 0))
        if size != was_size or count != was_count:
            out[key] = (size - was_size, count - was_count)
    return out


def _top_sites(diff: _Diff, calls: int, *, exclude: tuple[str, ...]) -> tuple[AllocationSite, ...]:
    """The places that grew most, per call: lines of the user's code, or of nglogger.

    Growth under one line is summed; ``inside`` names the nglogger line that
    contributed most of it, unless more came from outside nglogger. Places
    under 5% of the largest, or under a byte per call, are left out.
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
    # noise: under 5% of the largest, or under a byte per call (not something every call does)
    floor = max(grown[0][0] // 20, calls) if grown else 0
    out = []
    for size, count, place, insides in grown[:_TOP_SITES]:
        if size < floor:
            break
        inside = max(insides, key=insides.__getitem__)  # None: mostly outside nglogger
        out.append(AllocationSite(place[0], place[1], size / calls, count / calls, inside))
    return tuple(out)


def _short(filename: str) -> str:
    """A readable path: ``nglogger/...`` inside nglogger, relative under the working directory."""
    places = _Places.get()
    if filename.startswith(places.nglogger):
        return "nglogger/" + filename[len(places.nglogger) :]
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith("..") else relative
