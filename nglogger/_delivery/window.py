"""Small shared pieces of the delivery state: a sliding window of counters, checks, jitter.

Sliding windows are a fixed ring of :data:`BUCKETS` time buckets, never a growing list:
the retry budget and the circuit breaker each hold O(buckets) state whatever the traffic.
"""

from __future__ import annotations

import math
from collections.abc import Callable

__all__ = [
    "BUCKETS",
    "EPSILON",
    "MAX_EXPONENT",
    "Window",
    "check",
    "draw",
    "is_finite_number",
    "is_int",
]

BUCKETS = 10  # time buckets per sliding window (budget and breaker)
MAX_EXPONENT = 1000  # 2.0 ** 1024 overflows; any base reaches every cap long before this
EPSILON = 1e-9  # float slack for ratio comparisons (0.29 * 100 == 28.999999999999996)

Clock = Callable[[], float]
Rng = Callable[[], float]


def draw(rng: Rng) -> float:
    """One value from ``rng``, checked to lie in [0, 1) (anything else is a programming error)."""
    r = rng()
    if not 0.0 <= r < 1.0:
        raise ValueError(f"rng must return a float in [0, 1), got {r!r}")
    return r


def is_finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check(ok: bool, owner: str, field: str, value: object, accepted: str) -> None:
    if not ok:
        raise ValueError(f"{owner}.{field} must be {accepted}, got {value!r}")


class Window:
    """Two counters (``a``, ``b``) summed over a sliding window of fixed time buckets.

    The window covers the current bucket and the ``buckets - 1`` before it, i.e. between
    ``window * (buckets - 1) / buckets`` and ``window`` seconds. Footprint: two lists of
    ``buckets`` ints plus a constant (~0.5 KiB for 10 buckets), whatever the traffic.
    Not thread-safe: its owner holds the lock.
    """

    __slots__ = ("_a", "_b", "_n", "_tick", "_width", "sum_a", "sum_b")

    def __init__(self, window: float, now: float, buckets: int = BUCKETS) -> None:
        self._n = buckets
        self._width = window / buckets
        self._a = [0] * buckets
        self._b = [0] * buckets
        self._tick = math.floor(now / self._width)
        self.sum_a = 0
        self.sum_b = 0

    def advance(self, now: float) -> None:
        """Slide the window to ``now``, emptying buckets that fell out (a clock going back: no-op).

        Costs at most ``buckets`` steps, however long the clock jumped.
        """
        tick = math.floor(now / self._width)
        elapsed = tick - self._tick
        if elapsed <= 0:
            return
        n = self._n
        for step in range(1, min(elapsed, n) + 1):
            i = (self._tick + step) % n
            self.sum_a -= self._a[i]
            self.sum_b -= self._b[i]
            self._a[i] = 0
            self._b[i] = 0
        self._tick = tick

    def add_a(self) -> None:
        self._a[self._tick % self._n] += 1
        self.sum_a += 1

    def add_b(self) -> None:
        self._b[self._tick % self._n] += 1
        self.sum_b += 1

    def clear(self, now: float) -> None:
        for i in range(self._n):
            self._a[i] = 0
            self._b[i] = 0
        self.sum_a = 0
        self.sum_b = 0
        self._tick = math.floor(now / self._width)
