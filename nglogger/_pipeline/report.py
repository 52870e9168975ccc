"""The periodic self-report: one warning event when events were dropped.

Every ``report_interval`` seconds the batcher asks :class:`DropReport` whether events
were dropped since the previous report (per reason, the pipeline's and every sink's);
if so it gets one ``warning`` event from logger ``nglogger`` naming the counts, which the
pipeline buffers directly (the recursion guard would drop it if it went through a
logger on the batcher's delivery thread).
"""

from __future__ import annotations

from typing import Any

from .._core.stats import Stats
from .._event.timestamp import timestamp

__all__ = ["DropReport"]


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
        totals: dict[str, int] = dict(stats.dropped)
        for sink in stats.sinks.values():
            for reason, n in sink.dropped.items():
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
