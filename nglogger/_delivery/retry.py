"""Retry building blocks for HTTP sinks: policy, Retry-After, retry budget, circuit breaker.

This module owns *when* a sink may send again, never the sending: nothing here sleeps,
performs I/O, or reads ``time``/``random`` except as injectable defaults. Every clock is
a ``Callable[[], float]`` of monotonic seconds and every random source a
``Callable[[], float]`` returning a value in ``[0, 1)`` (e.g. ``random.Random(seed).random``),
so tests drive them by hand.

- :class:`AttemptResult` is one HTTP attempt as a value (no exception objects: they pin
  frames and everything those frames reference).
- :class:`RetryPolicy` is a frozen value whose :meth:`RetryPolicy.next_delay` is a pure
  function: exponential backoff with full jitter, Retry-After (capped) taking precedence,
  give up when the wait would not fit in the batch's remaining time.
- :class:`RetryBudget` keeps retries under a fixed share of first attempts over a sliding
  window (like Finagle's ``RetryBudget`` and gRPC retry throttling), so a total outage
  costs about ``1 + ratio`` wire attempts per batch instead of ``max_attempts``.
- :class:`CircuitBreaker` stops sending while a backend is failing and lets exactly one
  probe through at a time once its (jittered, growing, capped) open period has elapsed.

Sliding windows are a fixed ring of :data:`_BUCKETS` time buckets, never a growing list:
the budget and the breaker each hold O(buckets) state whatever the traffic.
"""

from __future__ import annotations

import enum
import math
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone

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

_BUCKETS = 10  # time buckets per sliding window (budget and breaker)
_MAX_ERROR_CHARS = 200  # AttemptResult.error is truncated to this many characters
_RETRY_AFTER_MAX = 2.0**31  # RFC 9111 section 1.2.2: the value used for overlong delta-seconds
_MAX_EXPONENT = 1000  # 2.0 ** 1024 overflows; any base reaches every cap long before this
_EPSILON = 1e-9  # float slack for ratio comparisons (0.29 * 100 == 28.999999999999996)
_DELTA_SECONDS = re.compile(r"[0-9]+")

_Clock = Callable[[], float]
_Rng = Callable[[], float]


class AttemptKind(enum.Enum):
    """Outcome category of one HTTP attempt."""

    OK = "ok"
    """A 2xx response: the batch was delivered."""
    RETRYABLE_STATUS = "retryable_status"
    """A response whose status the sink's policy lists as retryable (e.g. 429, 503)."""
    FATAL_STATUS = "fatal_status"
    """Any other non-2xx response (e.g. 400, 401, 403, 413): resending cannot help."""
    TIMEOUT = "timeout"
    """No complete response within the per-request timeout."""
    CONNECTION_ERROR = "connection_error"
    """The connection could not be made or was lost before a response (DNS, refused, reset)."""
    PROTOCOL_ERROR = "protocol_error"
    """A response that could not be understood (malformed HTTP, bad TLS); never retried."""


_ERROR_KINDS = frozenset(
    {AttemptKind.TIMEOUT, AttemptKind.CONNECTION_ERROR, AttemptKind.PROTOCOL_ERROR}
)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One transport attempt as a value: a status and/or an error category, no exception.

    ``retry_after`` is already parsed into seconds (see :func:`parse_retry_after`);
    ``error`` is a short description, truncated to 200 characters so a huge response
    body or exception text cannot ride along. Footprint: a few hundred bytes at most.
    """

    status: int | None
    kind: AttemptKind
    retry_after: float | None = None
    error: str = ""

    def __post_init__(self) -> None:
        if len(self.error) > _MAX_ERROR_CHARS:
            object.__setattr__(self, "error", self.error[: _MAX_ERROR_CHARS - 3] + "...")


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or None if absent or invalid.

    Both RFC 9110 forms are understood: delta-seconds (``1*DIGIT``; a sign or a fraction
    makes the value invalid) and an HTTP-date (IMF-fixdate, plus the obsolete RFC 850
    and asctime forms; a date without a zone is taken as GMT), which is made relative to
    ``now_epoch`` (wall-clock epoch seconds, passed in). A date in the past gives 0.0.
    Values beyond 2**31 seconds are clamped to 2**31 as RFC 9111 prescribes; callers
    apply their own, much smaller, cap.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        digits = text.lstrip("0")
        if len(digits) > 10:  # more digits than 2**31 has; also avoids int()'s digit limit
            return _RETRY_AFTER_MAX
        return min(float(int(digits or "0")), _RETRY_AFTER_MAX)
    when = _parse_http_date(text)
    if when is None:
        return None
    delta = when - now_epoch
    if math.isnan(delta):
        return None
    return min(max(delta, 0.0), _RETRY_AFTER_MAX)


def _parse_http_date(text: str) -> float | None:
    """Epoch seconds of an HTTP-date, or None when ``text`` is not a valid date."""
    from email.utils import parsedate_tz  # heavy (socket, calendar...): only for date headers

    try:
        parts = parsedate_tz(text)
        if parts is None:
            return None
        year, month, day, hour, minute, second = parts[:6]
        leap = 1 if second == 60 else 0  # a leap second is valid in a date; datetime rejects it
        stamp = datetime(year, month, day, hour, minute, second - leap, tzinfo=timezone.utc)
        return stamp.timestamp() + leap - (parts[9] or 0)
    except (ValueError, OverflowError, IndexError, TypeError):
        return None


def _draw(rng: _Rng) -> float:
    """One value from ``rng``, checked to lie in [0, 1) (anything else is a programming error)."""
    r = rng()
    if not 0.0 <= r < 1.0:
        raise ValueError(f"rng must return a float in [0, 1), got {r!r}")
    return r


def _is_finite_number(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check(ok: bool, owner: str, field: str, value: object, accepted: str) -> None:
    if not ok:
        raise ValueError(f"{owner}.{field} must be {accepted}, got {value!r}")


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
        _check(
            _is_finite_number(self.base) and self.base > 0,
            owner,
            "base",
            self.base,
            "a finite number of seconds > 0",
        )
        _check(
            _is_finite_number(self.cap) and self.cap > 0,
            owner,
            "cap",
            self.cap,
            "a finite number of seconds > 0",
        )
        _check(
            _is_int(self.max_attempts) and self.max_attempts >= 1,
            owner,
            "max_attempts",
            self.max_attempts,
            "an int >= 1 (1 means never retry)",
        )
        _check(
            _is_finite_number(self.retry_after_cap) and self.retry_after_cap >= 0,
            owner,
            "retry_after_cap",
            self.retry_after_cap,
            "a finite number of seconds >= 0",
        )
        statuses = self.retryable_statuses
        _check(
            isinstance(statuses, frozenset)
            and all(_is_int(s) and 100 <= s <= 599 and not 200 <= s <= 299 for s in statuses)
            and not statuses & NEVER_RETRY_STATUSES,
            owner,
            "retryable_statuses",
            statuses,
            "a frozenset of HTTP statuses in 100-599, excluding 2xx and 400, 401, 403, 413",
        )
        for name in ("retry_on_timeout", "retry_on_connection_error"):
            flag = getattr(self, name)
            _check(isinstance(flag, bool), owner, name, flag, "True or False")

    def classify(self, status: int | None, error_kind: AttemptKind | None = None) -> AttemptKind:
        """The kind of an attempt: a transport error kind as given, else by status.

        2xx is OK, a status in ``retryable_statuses`` is RETRYABLE_STATUS, any other status
        FATAL_STATUS. With neither a status nor an error kind the response was not
        understood: PROTOCOL_ERROR.
        """
        if error_kind is not None:
            if error_kind not in _ERROR_KINDS:
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

    def backoff(self, attempt: int, rng: _Rng) -> float:
        """Full-jitter wait before retry number ``attempt`` (0 = the first retry).

        Uniform in ``[0, min(cap, base * 2**attempt))``, drawn from ``rng``.
        """
        if attempt < 0:
            raise ValueError(f"attempt must be >= 0, got {attempt!r}")
        ceiling = min(self.cap, self.base * 2.0 ** min(attempt, _MAX_EXPONENT))
        delay = ceiling * _draw(rng)
        if delay >= ceiling:  # rounding of r * ceiling with r just below 1
            delay = math.nextafter(ceiling, 0.0)
        return delay

    def next_delay(
        self, attempt: int, result: AttemptResult, rng: _Rng, *, time_left: float
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


class _Window:
    """Two counters (``a``, ``b``) summed over a sliding window of fixed time buckets.

    The window covers the current bucket and the ``buckets - 1`` before it, i.e. between
    ``window * (buckets - 1) / buckets`` and ``window`` seconds. Footprint: two lists of
    ``buckets`` ints plus a constant (~0.5 KiB for 10 buckets), whatever the traffic.
    Not thread-safe: its owner holds the lock.
    """

    __slots__ = ("_a", "_b", "_n", "_tick", "_width", "sum_a", "sum_b")

    def __init__(self, window: float, now: float, buckets: int = _BUCKETS) -> None:
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
        clock: _Clock = time.monotonic,
    ) -> None:
        owner = "RetryBudget"
        _check(
            _is_finite_number(ratio) and ratio >= 0,
            owner,
            "ratio",
            ratio,
            "a finite number >= 0 (0.1 = retries up to 10% of first attempts)",
        )
        _check(
            _is_finite_number(min_per_second) and min_per_second >= 0,
            owner,
            "min_per_second",
            min_per_second,
            "a finite number of retries per second >= 0",
        )
        _check(
            _is_finite_number(window) and window > 0,
            owner,
            "window",
            window,
            "a finite number of seconds > 0",
        )
        self._ratio = float(ratio)
        self._reserve = float(min_per_second) * float(window)
        self._clock = clock
        self._lock = threading.Lock()
        self._window = _Window(float(window), clock())  # a = first attempts, b = retries
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
            if win.sum_b + 1 <= self._ratio * win.sum_a + self._reserve + _EPSILON:
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


class BreakerState(enum.Enum):
    """State of a :class:`CircuitBreaker`."""

    CLOSED = "closed"
    """Requests flow; failures are counted."""
    OPEN = "open"
    """No requests until the open period has elapsed."""
    HALF_OPEN = "half_open"
    """One probe request is in flight; its outcome closes or reopens the breaker."""


class CircuitBreaker:
    """Stops a sink from sending while its backend fails; probes one request at a time to recover.

    CLOSED: every request is allowed. It opens on ``failure_threshold`` consecutive
    failures, or when at least ``min_requests`` outcomes were recorded within the
    sliding ``window`` and failures make up at least ``failure_ratio`` of them (both
    checked as each failure is recorded: a success never opens the breaker).

    OPEN: no request is allowed for the open period. The first opening lasts
    ``open_duration``; after the k-th consecutive failed probe it lasts
    ``open_duration + U(0, 1) * (min(max_open_duration, open_duration * 2**k) - open_duration)``:
    full jitter above a floor of ``open_duration``, growing exponentially, capped.

    HALF_OPEN: once the period has elapsed, :meth:`allow_request` returns True to exactly
    one caller (the probe) and False to everyone else. A recorded success closes the
    breaker and resets every counter; a failure reopens it for a longer period. A probe
    whose outcome is never recorded is presumed lost after ``max_open_duration`` seconds
    and another probe is allowed, so a crashed caller cannot wedge the sink forever.

    Outcomes recorded while OPEN (late answers to requests sent before it opened) are
    ignored; any outcome recorded while HALF_OPEN is taken as the probe's. Thread-safe
    (one lock). Footprint: O(10 buckets), about 1 KiB, constant.
    """

    __slots__ = (
        "_clock",
        "_consecutive",
        "_failed_probes",
        "_failure_ratio",
        "_failure_threshold",
        "_lock",
        "_max_open_duration",
        "_min_requests",
        "_open_duration",
        "_opened",
        "_probe_at",
        "_probe_expires",
        "_probes",
        "_rng",
        "_state",
        "_window",
    )

    def __init__(  # noqa: PLR0917 - positional order is the agreed sink-facing signature
        self,
        failure_threshold: int = 5,
        failure_ratio: float = 0.5,
        min_requests: int = 20,
        window: float = 30.0,
        open_duration: float = 3.0,
        max_open_duration: float = 4.5,
        clock: _Clock = time.monotonic,
        rng: _Rng = random.random,
    ) -> None:
        owner = "CircuitBreaker"
        _check(
            _is_int(failure_threshold) and failure_threshold >= 1,
            owner,
            "failure_threshold",
            failure_threshold,
            "an int >= 1 (consecutive failures that open the breaker)",
        )
        _check(
            _is_finite_number(failure_ratio) and 0 < failure_ratio <= 1,
            owner,
            "failure_ratio",
            failure_ratio,
            "a number in (0, 1]",
        )
        _check(
            _is_int(min_requests) and min_requests >= 1,
            owner,
            "min_requests",
            min_requests,
            "an int >= 1",
        )
        _check(
            _is_finite_number(window) and window > 0,
            owner,
            "window",
            window,
            "a finite number of seconds > 0",
        )
        _check(
            _is_finite_number(open_duration) and open_duration > 0,
            owner,
            "open_duration",
            open_duration,
            "a finite number of seconds > 0",
        )
        _check(
            _is_finite_number(max_open_duration) and max_open_duration >= open_duration,
            owner,
            "max_open_duration",
            max_open_duration,
            f"a finite number of seconds >= open_duration ({open_duration!r})",
        )
        self._failure_threshold = failure_threshold
        self._failure_ratio = float(failure_ratio)
        self._min_requests = min_requests
        self._open_duration = float(open_duration)
        self._max_open_duration = float(max_open_duration)
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._consecutive = 0
        self._window = _Window(float(window), clock())  # a = failures, b = successes
        self._failed_probes = 0
        self._probe_at = 0.0  # OPEN: when the next probe may go
        self._probe_expires = 0.0  # HALF_OPEN: when an unrecorded probe is presumed lost
        self._opened = 0
        self._probes = 0

    def allow_request(self) -> bool:
        """Whether a request may be sent now; in HALF_OPEN, True makes the caller the probe."""
        with self._lock:
            state = self._state
            if state is BreakerState.CLOSED:
                return True
            now = self._clock()
            if state is BreakerState.OPEN:
                if now < self._probe_at:
                    return False
                self._state = BreakerState.HALF_OPEN
            elif now < self._probe_expires:
                return False
            self._probe_expires = now + self._max_open_duration
            self._probes += 1
            return True

    def record_success(self) -> None:
        """Record a request the backend handled; a probe's success closes the breaker."""
        with self._lock:
            state = self._state
            if state is BreakerState.CLOSED:
                self._consecutive = 0
                self._window.advance(self._clock())
                self._window.add_b()
            elif state is BreakerState.HALF_OPEN:
                self._state = BreakerState.CLOSED
                self._consecutive = 0
                self._failed_probes = 0
                self._window.clear(self._clock())

    def record_failure(self) -> None:
        """Record a failed request; may open the breaker, and a probe's failure reopens it."""
        with self._lock:
            state = self._state
            if state is BreakerState.CLOSED:
                now = self._clock()
                win = self._window
                win.advance(now)
                win.add_a()
                self._consecutive += 1
                total = win.sum_a + win.sum_b
                if self._consecutive >= self._failure_threshold or (
                    total >= self._min_requests
                    and win.sum_a >= self._failure_ratio * total - _EPSILON
                ):
                    self._open(now)
            elif state is BreakerState.HALF_OPEN:
                self._failed_probes += 1
                self._open(self._clock())

    def record_result(self, result: AttemptResult) -> None:
        """Record ``result`` as a failure if it shows backend trouble, else as a success.

        Failures: timeouts, connection and protocol errors, retryable statuses (429
        included: the backend asks for less load) and any 5xx. Everything else, such as
        2xx or a 400, proves the backend is up and counts as a success.
        """
        kind = result.kind
        status = result.status
        if (
            kind in _ERROR_KINDS
            or kind is AttemptKind.RETRYABLE_STATUS
            or (status is not None and status >= 500)
        ):
            self.record_failure()
        else:
            self.record_success()

    def _open(self, now: float) -> None:
        """Enter OPEN for a period grown by the consecutive failed probes. Lock held."""
        base = self._open_duration
        k = self._failed_probes
        duration = base
        if k > 0:
            ceiling = min(self._max_open_duration, base * 2.0 ** min(k, _MAX_EXPONENT))
            duration = base + _draw(self._rng) * (ceiling - base)
        self._state = BreakerState.OPEN
        self._probe_at = now + duration
        self._opened += 1

    @property
    def state(self) -> BreakerState:
        """The current state (an elapsed OPEN period turns HALF_OPEN on the next request)."""
        with self._lock:
            return self._state

    def time_until_probe(self) -> float:
        """Seconds until :meth:`allow_request` can return True by time alone; 0.0 if it can now.

        CLOSED: 0. OPEN: what remains of the open period. HALF_OPEN: what remains until
        the in-flight probe is presumed lost (its recorded outcome usually comes first).
        """
        with self._lock:
            state = self._state
            if state is BreakerState.CLOSED:
                return 0.0
            deadline = self._probe_at if state is BreakerState.OPEN else self._probe_expires
            return max(0.0, deadline - self._clock())

    @property
    def stats(self) -> dict[str, int | str]:
        """``opened`` (times it entered OPEN), ``probes`` (granted) and ``state`` (its value)."""
        with self._lock:
            return {"opened": self._opened, "probes": self._probes, "state": self._state.value}
