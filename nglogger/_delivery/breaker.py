"""The circuit breaker: stop sending while a backend fails, probe one request to recover.

Pure state: nothing here sleeps or performs I/O; the clock and the random source are
injected (``Callable[[], float]``), so tests drive it by hand.
"""

from __future__ import annotations

import enum
import random
import threading
import time

from .attempt import ERROR_KINDS, AttemptKind, AttemptResult
from .window import EPSILON, MAX_EXPONENT, Clock, Rng, Window, check, draw, is_finite_number, is_int

__all__ = ["BreakerState", "CircuitBreaker"]


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
        clock: Clock = time.monotonic,
        rng: Rng = random.random,
    ) -> None:
        owner = "CircuitBreaker"
        check(
            is_int(failure_threshold) and failure_threshold >= 1,
            owner,
            "failure_threshold",
            failure_threshold,
            "an int >= 1 (consecutive failures that open the breaker)",
        )
        check(
            is_finite_number(failure_ratio) and 0 < failure_ratio <= 1,
            owner,
            "failure_ratio",
            failure_ratio,
            "a number in (0, 1]",
        )
        check(
            is_int(min_requests) and min_requests >= 1,
            owner,
            "min_requests",
            min_requests,
            "an int >= 1",
        )
        check(
            is_finite_number(window) and window > 0,
            owner,
            "window",
            window,
            "a finite number of seconds > 0",
        )
        check(
            is_finite_number(open_duration) and open_duration > 0,
            owner,
            "open_duration",
            open_duration,
            "a finite number of seconds > 0",
        )
        check(
            is_finite_number(max_open_duration) and max_open_duration >= open_duration,
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
        self._window = Window(float(window), clock())  # a = failures, b = successes
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
                    and win.sum_a >= self._failure_ratio * total - EPSILON
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
            kind in ERROR_KINDS
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
            ceiling = min(self._max_open_duration, base * 2.0 ** min(k, MAX_EXPONENT))
            duration = base + draw(self._rng) * (ceiling - base)
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
