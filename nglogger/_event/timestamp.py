"""The event timestamp: RFC 3339 UTC with microseconds, cached per millisecond.

``2026-11-26T13:47:50.800619Z``: always six fraction digits, so the event layout has a
fixed width (see ``_layout``). The hot path reads ``MILLI`` and ``MICROS_Z`` inline
(no call); :func:`timestamp` is the same as a function and :func:`timestamp_formatter`
a copy with its own cache, for callers whose times are not monotonic with the hot
path's (stdlib records carry ``created`` from before they reach us).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["MICROS_Z", "MILLI", "refresh_milli", "timestamp", "timestamp_formatter"]

#: (start of the current millisecond in epoch nanoseconds, "YYYY-MM-DDTHH:MM:SS.mmm").
#: In a busy process many events share a millisecond, so the common case is one
#: subtraction of small numbers, one table lookup and one concatenation.
MILLI: list[tuple[int, str]] = [(-(10**12), "")]
#: "000Z".."999Z": the microsecond digits without any formatting call.
MICROS_Z = [f"{i:03d}Z" for i in range(1000)]


def _milli_entry(micros: int) -> tuple[int, str]:
    """(start in ns, "YYYY-MM-DDTHH:MM:SS.mmm") of the millisecond containing ``micros``."""
    millis = micros // 1000
    seconds, fraction = divmod(millis, 1000)
    prefix = time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(seconds)) + f"{fraction:03d}"
    return (millis * 1_000_000, prefix)


def refresh_milli(micros: int) -> tuple[int, str]:
    """Refresh the hot path's cached prefix for the millisecond containing ``micros``."""
    entry = MILLI[0] = _milli_entry(micros)
    return entry


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 UTC with microseconds, e.g. ``2026-11-26T13:47:50.800619Z``."""
    if ns is None:
        ns = time.time_ns()
    entry = MILLI[0]
    offset = ns - entry[0]
    if offset >= 1_000_000 or offset < 0:
        entry = refresh_milli(ns // 1000)
        offset = ns - entry[0]
    return entry[1] + MICROS_Z[offset // 1000]


def timestamp_formatter() -> Callable[[int], str]:
    """A ``timestamp(ns)`` function with its own millisecond cache.

    For callers whose times are not monotonic with the hot path's (stdlib
    records carry ``created`` from before they reach us), so the two caches do
    not keep invalidating each other.
    """
    cache: list[tuple[int, str]] = [(-(10**12), "")]

    def format_ns(ns: int) -> str:
        milli = cache[0]
        offset = ns - milli[0]
        if offset >= 1_000_000 or offset < 0:
            milli = cache[0] = _milli_entry(ns // 1000)
            offset = ns - milli[0]
        return milli[1] + MICROS_Z[offset // 1000]

    return format_ns
