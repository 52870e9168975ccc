"""The log-storm guard: one call site flooding every sink is held to a rate, and summarized.

A *call site* is a logger's name and its message template, the message before ``%``
formatting (``log.info("user %s", name)`` is one site whatever ``name`` is; an f-string
makes one site per distinct text). Each site may log ``limit`` events per ``period``
(``storm_limit``, ``NGLOGGER_STORM_LIMIT="100/s"``); the events beyond it are suppressed,
counted ``storm_suppressed``, and folded into one summary event per site and period,
written when the period is over (by the site's next call, or the batcher's tick):

    {"level": "info", "logger": "app.db", "message": "log storm: 9,900 events suppressed",
     "nglogger_suppressed": {"template": "retrying %s", "count": 9900,
                             "first": "2026-12-07T23:10:00.010000Z",
                             "last": "2026-12-07T23:10:00.998000Z"}}

Other sites are unaffected. ``storm_levels`` (``NGLOGGER_STORM_LEVELS="debug,info"``)
names the levels the guard applies to (default: every level); events at the others are
never suppressed. Off unless configured: then the log call reads one attribute.

Cost of a call under the limit: one Python call, a dict lookup and two integer updates
(no lock: two threads racing on a site may let an event or two more through in a
period; suppression and its count take a lock and are exact).

Worst-case footprint: at most ``MAX_SITES`` sites (a list of six numbers each, plus the
template) and as many summaries waiting for the tick; sites quiet for a period are
forgotten at the tick; a new site beyond the bound is not limited.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from .._config.storm import StormLimit
from .._core.levels import level_name, parse_level
from .._core.reasons import DropReason
from .encode import OPTIONS
from .timestamp import timestamp_formatter

__all__ = ["MAX_SITES", "StormGuard"]

#: At most this many call sites are followed at once (a bound on the guard's memory).
MAX_SITES = 10_000
_SECOND_NS = 1_000_000_000


class StormGuard:
    """Holds each call site to ``limit`` events per period (see the module docstring)."""

    __slots__ = ("_count", "_levels", "_limit", "_lock", "_pending", "_period", "_sites")

    def __init__(
        self,
        limit: StormLimit,
        levels: tuple[str, ...] | None,
        count: Callable[[DropReason], Any],
    ) -> None:
        self._limit = limit.limit
        self._period = max(1, round(limit.period * _SECOND_NS))
        self._levels = None if levels is None else frozenset(parse_level(n) for n in levels)
        self._count = count
        self._lock = threading.Lock()
        #: (logger, template) -> [window, seen, suppressed, first_ns, last_ns, level]
        self._sites: dict[tuple[str, object], list[int]] = {}
        #: Summaries of finished windows, written by the next tick.
        self._pending: list[tuple[str, object, int, int, int, int]] = []

    def __call__(
        self,
        name: str,
        template: object,
        level: int,
        now: int,
        check: bool = True,  # noqa: ARG002 - the hold gate's (make_gate)
    ) -> bool:
        """Whether this call (at ``now``, ns) is suppressed (counted when it is).

        ``check``: the hold gate's level check, which the guard has not (the stdlib
        handler passes it to whichever hook is in place).
        """
        levels = self._levels
        if levels is not None and level not in levels:
            return False
        window = now // self._period
        key = (name, template)
        try:
            site = self._sites.get(key)
        except TypeError:  # an unhashable message: not a template, never limited
            return False
        if site is None:
            if len(self._sites) < MAX_SITES:
                self._sites[key] = [window, 1, 0, 0, 0, level]
            return False
        if site[0] != window:
            with self._lock:
                if site[0] != window:  # another thread may have rolled it over meanwhile
                    self._fold_locked(key, site)
                    site[0], site[1], site[2] = window, 1, 0
                    return False
        site[1] += 1
        if site[1] <= self._limit:
            return False
        with self._lock:
            if site[2] == 0:
                site[3] = now
            site[2] += 1
            site[4] = now
            site[5] = max(site[5], level)
        self._count("storm_suppressed")
        return True

    def _fold_locked(self, key: tuple[str, object], site: list[int]) -> None:
        if site[2] and len(self._pending) < MAX_SITES:
            self._pending.append((key[0], key[1], site[2], site[3], site[4], site[5]))
            site[2] = 0

    def summaries(self) -> list[bytes]:
        """The summary events of every finished window, encoded (the batcher's tick).

        Sites whose window is over are folded and, when nothing was suppressed there,
        forgotten (the bound on memory); ``final``-ly at shutdown every window counts
        as over (see :meth:`drain`).
        """
        return self._collect(time.time_ns() // self._period)

    def drain(self) -> list[bytes]:
        """Every summary, the current windows' included (at flush and shutdown)."""
        return self._collect(None)

    def _collect(self, current: int | None) -> list[bytes]:
        with self._lock:
            for key, site in list(self._sites.items()):
                if current is None or site[0] < current:
                    self._fold_locked(key, site)
                    if current is not None:
                        del self._sites[key]
            pending, self._pending = self._pending, []
        return [_summary(entry) for entry in pending]


_stamp = timestamp_formatter()


def _summary(entry: tuple[str, object, int, int, int, int]) -> bytes:
    """One summary event, encoded like any event (NDJSON, newline included)."""
    name, template, count, first, last, level = entry
    return orjson.dumps(
        {
            "timestamp": _stamp(last),
            "level": level_name(level),
            "logger": name,
            "message": f"log storm: {count:,} events suppressed",
            "nglogger_suppressed": {
                "template": template if isinstance(template, str) else repr(template)[:1000],
                "count": count,
                "first": _stamp(first),
                "last": _stamp(last),
            },
        },
        option=OPTIONS,
    )
