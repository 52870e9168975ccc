"""When a sink may send again: the retry policy and the retry budget.

This package owns *when* a sink may send again, never the sending: nothing here sleeps,
performs I/O, or reads ``time``/``random`` except as injectable defaults. Every clock is
a ``Callable[[], float]`` of monotonic seconds and every random source a
``Callable[[], float]`` returning a value in ``[0, 1)`` (e.g. ``random.Random(seed).random``),
so tests drive them by hand.

- :class:`RetryPolicy` is a frozen value whose :meth:`RetryPolicy.next_delay` is a pure
  function: exponential backoff with full jitter, Retry-After (capped) taking precedence,
  give up when the wait would not fit in the batch's remaining time.
- :class:`RetryBudget` keeps retries under a fixed share of first attempts over a sliding
  window (like Finagle's ``RetryBudget`` and gRPC retry throttling), so a total outage
  costs about ``1 + ratio`` wire attempts per batch instead of ``max_attempts``.

The attempt as a value (:class:`AttemptResult`, ``Retry-After``) lives in
``nglogger._delivery.attempt``, the circuit breaker in ``nglogger._delivery.breaker``, the
sliding window in ``nglogger._delivery.window``; they are re-exported here, the names
sinks and users import.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass

from .attempt import ERROR_KINDS, AttemptKind, AttemptResult, parse_retry_after
from .breaker import BreakerState, CircuitBreaker
from .window import EPSILON, MAX_EXPONENT, Clock, Rng, Window, check, draw, is_finite_number, is_int

__all__ = [
    "NEVER_RETRY_STATUSES",
    "AttemptKind",
    "AttemptResult",
    "BreakerState",
    "CircuitBreaker",
    "RetryBudget",
    "RetryPolicy",
    "parse_retry_after",
]

NEVER_RETRY_STATUSES: frozenset[int] = frozenset({400, 401, 403, 413})
"""Statuses no policy may retry: a resend gets the same answer (413 is split by the sink)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """When to retry one batch: a frozen value whose methods are pure functions.

    ``max_attempts`` counts every wire attempt including the first. Attempt indexes are
    0-based: attempt 0 is the first send, and ``backoff(0)`` / ``next_delay(0, ...)`` give
    the wait before the first retry. ``retryable_statuses`` may not contain 2xx or any of
    :data:`NEVER_RETRY_STATUSES` (400, 401, 403, 413).
    """

    base: float = 0.5
    cap: float = 4.0
    max_attempts: int = 6
    retry_after_cap: float = 60.0
    retryable_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    retry_on_timeout: bool = True
    retry_on_connection_error: bool = True

    def __post_init__(self) -> None:
        owner = "RetryPolicy"
        check(
            is_finite_number(self.base) and self.base > 0,
            owner,
            "base",
            self.base,
            "a finite number of seconds > 0",
        )
        check(
            is_finite_number(self.cap) and self.cap > 0,
            owner,
            "cap",
            self.cap,
            "a finite number of seconds > 0",
        )
        check(
            is_int(self.max_attempts) and self.max_attempts >= 1,
            owner,
            "max_attempts",
            self.max_attempts,
            "an int >= 1 (1 means never retry)",
        )
        check(
            is_finite_number(self.retry_after_cap) and self.retry_after_cap >= 0,
            owner,
            "retry_after_cap",
            self.retry_after_cap,
            "a finite number of seconds >= 0",
        )
        statuses = self.retryable_statuses
        check(
            isinstance(statuses, frozenset)
            and all(is_int(s) and 100 <= s <= 599 and not 200 <= s <= 299 for s in statuses)
            and not statuses & NEVER_RETRY_STATUSES,
            owner,
            "retryable_statuses",
            statuses,
            "a frozenset of HTTP statuses in 100-599, excluding 2xx and 400, 401, 403, 413",
        )
        for name in ("retry_on_timeout", "retry_on_connection_error"):
            flag = getattr(self, name)
            check(isinstance(flag, bool), owner, name, flag, "True or False")

    def classify(self, status: int | None, error_kind: AttemptKind | None = None) -> AttemptKind:
        """The kind of an attempt: a transport error kind as given, else by status.

        2xx is OK, a status in ``retryable_statuses`` is RETRYABLE_STATUS, any other status
        FATAL_STATUS. With neither a status nor an error kind the response was not
        understood: PROTOCOL_ERROR.
        """
        if error_kind is not None:
            if error_kind not in ERROR_KINDS:
                raise ValueError(
                    "error_kind must be TIMEOUT, CONNECTION_ERROR or PROTOCOL_ERROR, "
                    f"got {error_kind!r}"
                )
            return error_kind
        if status is None:
            return AttemptKind.PROTOCOL_ERROR
        if 200 <= status <= 299:
            return AttemptKind.OK
        if status in self.retryable_statuses:
            return AttemptKind.RETRYABLE_STATUS
        return AttemptKind.FATAL_STATUS

    def is_retryable(self, result: AttemptResult) -> bool:
        """Whether this policy would retry ``result``, attempts and time aside.

        A status is retried only if both the result says RETRYABLE_STATUS and the status is
        in ``retryable_statuses``: a mislabelled result can lose a retry, never gain one,
        so 400/401/403/413 are never retried whatever the caller claims.
        """
        kind = result.kind
        if kind is AttemptKind.RETRYABLE_STATUS:
            return result.status in self.retryable_statuses
        if kind is AttemptKind.TIMEOUT:
            return self.retry_on_timeout
        if kind is AttemptKind.CONNECTION_ERROR:
            return self.retry_on_connection_error
        return False

    def backoff(self, attempt: int, rng: Rng) -> float:
        """Full-jitter wait before retry number ``attempt`` (0 = the first retry).

        Uniform in ``[0, min(cap, base * 2**attempt))``, drawn from ``rng``.
        """
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt!r}")
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, MAX_EXPONENT))
        delay = ceiling * draw(rng)
        if delay >= ceiling:  # rounding of r * ceiling with r just below 1
            delay = math.nextafter(ceiling, 0.0)
        return delay

    def next_delay(
        self, attempt: int, result: AttemptResult, rng: Rng, *, time_left: float
    ) -> float | None:
        """Seconds to wait before retrying after failed attempt ``attempt``, or None to give up.

        None when the result is not retryable (see :meth:`is_retryable`), when attempt
        ``attempt + 1`` would exceed ``max_attempts``, or when the wait would use up
        ``time_left`` (the seconds before the batch's deadline; ``math.inf`` for none).
        A Retry-After takes precedence over backoff: the wait is then exactly
        ``min(max(retry_after, 0), retry_after_cap)``, never shorter than the server asked
        unless that exceeds the cap. ``rng`` is only called when backoff is used.
        """
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt!r}")
        if not self.is_retryable(result) or attempt + 1 >= self.max_attempts:
            return None
        retry_after = result.retry_after
        if retry_after is not None and not math.isnan(retry_after):
            delay = min(max(retry_after, 0.0), self.retry_after_cap)
        else:
            delay = self.backoff(attempt, rng)
        if not delay < time_left:  # also gives up on a NaN time_left
            return None
        return delay


class RetryBudget:
    """Retries may not exceed ``ratio`` of first attempts plus a small floor, per sliding window.

    Each first attempt deposits ``ratio`` of a retry; :meth:`try_acquire_retry` withdraws a
    whole one. Within any window, granted retries <= ``ratio * first_attempts +
    min_per_second * window``. Over T seconds of total outage that bounds wire attempts
    to ``(1 + ratio) * first_attempts + min_per_second * (T + window)``. Retries do not
    deposit. Thread-safe (one lock). Footprint: O(10 buckets), about 1 KiB, constant.
    """

    __slots__ = (
        "_attempts",
        "_clock",
        "_denied",
        "_lock",
        "_ratio",
        "_reserve",
        "_retries",
        "_window",
    )

    def __init__(
        self,
        ratio: float = 0.1,
        min_per_second: float = 0.1,
        window: float = 10.0,
        clock: Clock = time.monotonic,
    ) -> None:
        owner = "RetryBudget"
        check(
            is_finite_number(ratio) and ratio >= 0,
            owner,
            "ratio",
            ratio,
            "a finite number >= 0 (0.1 = retries up to 10% of first attempts)",
        )
        check(
            is_finite_number(min_per_second) and min_per_second >= 0,
            owner,
            "min_per_second",
            min_per_second,
            "a finite number of retries per second >= 0",
        )
        check(
            is_finite_number(window) and window > 0,
            owner,
            "window",
            window,
            "a finite number of seconds > 0",
        )
        self._ratio = float(ratio)
        self._reserve = float(min_per_second) * float(window)
        self._clock = clock
        self._lock = threading.Lock()
        self._window = Window(float(window), clock())  # a = first attempts, b = retries
        self._attempts = 0
        self._retries = 0
        self._denied = 0

    def record_attempt(self) -> None:
        """Count one first attempt (a deposit); retries must not be recorded here."""
        with self._lock:
            self._window.advance(self._clock())
            self._window.add_a()
            self._attempts += 1

    def try_acquire_retry(self) -> bool:
        """Withdraw one retry if the window allows it; False means the budget is exhausted."""
        with self._lock:
            win = self._window
            win.advance(self._clock())
            if win.sum_b + 1 <= self._ratio * win.sum_a + self._reserve + EPSILON:
                win.add_b()
                self._retries += 1
                return True
            self._denied += 1
            return False

    @property
    def stats(self) -> dict[str, int]:
        """Totals since creation: ``attempts`` (first), ``retries`` (granted), ``denied``."""
        with self._lock:
            return {"attempts": self._attempts, "retries": self._retries, "denied": self._denied}
