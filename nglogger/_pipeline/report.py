"""The periodic self-report: one warning event when events were dropped.

Every ``report_interval`` seconds the batcher asks :class:`DropReport` whether events
were dropped since the previous report (per reason, the pipeline's and every sink's);
if so it gets one ``warning`` event from logger ``nglogger`` naming the counts, which the
pipeline buffers directly (the recursion guard would drop it if it went through a
logger on the batcher's delivery thread).
"""

from __future__ import annotations

from typing import Any

from .._core.reasons import AS_ASKED
from .._core.stats import Stats
from .._event.timestamp import timestamp

__all__ = ["DropReport", "LossReport"]


class DropReport:
    """When the next report is due, and what was reported last (counts per reason)."""

    def __init__(self, interval: float, now: float) -> None:
        self.interval = interval
        self._next = now + interval
        self._reported: dict[str, int] = {}

    def due(self, now: float) -> bool:
        """Whether a report is due at ``now`` (and the next one is scheduled if so)."""
        if not self.interval or now < self._next:
            return False
        self._next = now + self.interval
        return True

    def event(self, stats: Stats) -> dict[str, Any] | None:
        """The warning event for the drops since the previous report, or None."""
        totals: dict[str, int] = {r: n for r, n in stats.dropped.items() if r not in AS_ASKED}
        for sink in stats.sinks.values():
            for reason, n in sink.dropped.items():
                if reason not in AS_ASKED:
                    totals[reason] = totals.get(reason, 0) + n
        delta = {r: n - self._reported.get(r, 0) for r, n in totals.items()}
        delta = {r: n for r, n in delta.items() if n > 0}
        self._reported = totals
        if not delta:
            return None
        reasons = ", ".join(f"{n} {r}" for r, n in sorted(delta.items()))
        return {
            "timestamp": timestamp(),
            "level": "warning",
            "logger": "nglogger",
            "message": f"nglogger dropped {sum(delta.values())} events ({reasons}) "
            f"in the last {self.interval:g} s",
            "dropped": delta,
        }


#: Counts by reason, per scope: ``("pipeline", "")`` or ``("sink", name)``.
_Counts = dict[tuple[str, str], dict[str, int]]


def _counts(stats: Stats) -> _Counts:
    """Drops by scope and reason, those done as asked (``AS_ASKED``) left out."""
    counts: _Counts = {
        ("pipeline", ""): {r: n for r, n in stats.dropped.items() if r not in AS_ASKED}
    }
    for name, sink in stats.sinks.items():
        counts[("sink", name)] = {r: n for r, n in sink.dropped.items() if r not in AS_ASKED}
    return counts


class LossReport:
    """``loss_report``: the drops since the previous report, by reason and by sink.

    Every ``interval`` seconds (checked on the batcher's tick) the batcher hands it a
    ``stats()`` snapshot; it keeps the previous one and returns one ``warning`` event::

        {"message": "nglogger loss report",
         "nglogger_dropped": {"pipeline": {"buffer_full": 12},
                              "sinks": {"<sink name>": {"sink_queue_full": 30}}},
         "nglogger_dropped_total": 42}

    listing only the reasons (and sinks) whose count grew, or None when nothing was lost.
    A counter that went back (a forked child starts from zero) counts from zero.
    """

    def __init__(self, interval: float, now: float) -> None:
        self.interval = interval
        self._next = now + interval
        self._previous: _Counts = {}

    def due(self, now: float) -> bool:
        """Whether a report is due at ``now`` (and the next one is scheduled if so)."""
        if now < self._next:
            return False
        self._next = now + self.interval
        return True

    def deltas(self, stats: Stats) -> dict[str, Any] | None:
        """``{"pipeline": {reason: n}, "sinks": {name: {reason: n}}}`` since the last call."""
        current = _counts(stats)
        previous, self._previous = self._previous, current
        pipeline: dict[str, int] = {}
        sinks: dict[str, dict[str, int]] = {}
        for (scope, name), reasons in current.items():
            before = previous.get((scope, name), {})
            grown = {}
            for reason, n in reasons.items():
                old = before.get(reason, 0)
                delta = n - old if n >= old else n
                if delta > 0:
                    grown[reason] = delta
            if not grown:
                continue
            if scope == "pipeline":
                pipeline = grown
            else:
                sinks[name] = grown
        if not pipeline and not sinks:
            return None
        return {"pipeline": pipeline, "sinks": sinks}

    def event(self, stats: Stats) -> dict[str, Any] | None:
        """The ``nglogger loss report`` event for the drops since the last one, or None."""
        lost = self.deltas(stats)
        if lost is None:
            return None
        total = sum(lost["pipeline"].values()) + sum(
            sum(reasons.values()) for reasons in lost["sinks"].values()
        )
        return {
            "timestamp": timestamp(),
            "level": "warning",
            "logger": "nglogger",
            "message": "nglogger loss report",
            "nglogger_dropped": lost,
            "nglogger_dropped_total": total,
        }
