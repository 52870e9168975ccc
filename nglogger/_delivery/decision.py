"""One sink's delivery decisions: may it send now, what next after an answer, what goes back.

Every answer a backend gives (or does not give) goes in, a :class:`Verdict` comes out,
as urllib3's ``Retry.increment`` returns the next state instead of acting: the HTTP and
gRPC sinks act on the verdict, the worker asks :meth:`Delivery.ready_in` and
:meth:`Delivery.request_bytes` before it merges and hands over the next write. Nothing
here sends, sleeps or raises; clock and randomness are injected.

=====================================  =================================================
answer                                 verdict
=====================================  =================================================
2xx                                    ``DONE`` (the sink reads per-item results)
too large (413; gRPC: a message over   ``SPLIT`` in halves while more than one event,
the server's size limit)               else ``DROP too_large``; the largest size the
                                       backend accepted becomes the cap on merged writes
refused (400, 422 and every other      ``BISECT`` in halves to find the events the
status that is not retried)            backend refuses, within a per-batch allowance
                                       (``2*ceil(log2 n)`` extra requests per refused
                                       event found) and the sink's bisect budget; else
                                       ``DROP rejected``
retryable (429, 5xx, timeout,          ``RETRY`` after the backoff or ``Retry-After``
connection error)                      while attempts, the write's deadline and the retry
                                       budget allow; else ``HAND_BACK``: the events go
                                       back to the head of the queue and the sink is
                                       ready again after the backoff (or the breaker's
                                       open period)
=====================================  =================================================

A request that failed on a *stale* keep-alive connection (closed or reset by the server
before any response byte, on a connection that served a request before) never reaches
this table: the transport resends it at once on a fresh connection (see
``nglogger._delivery.http``), spending no retry, opening no breaker and warning nobody.
"""

from __future__ import annotations

import enum
import math
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from .._core.reasons import DropReason
from .retry import (
    AttemptKind,
    AttemptResult,
    BreakerState,
    CircuitBreaker,
    RetryBudget,
    RetryPolicy,
)

__all__ = [
    "BISECT_STATUSES",
    "Delivery",
    "ItemResults",
    "Step",
    "Verdict",
    "bisect_allowance",
    "item_results",
]

#: Refusals that may be about some of the events (a bad one among good ones): bisected.
#: Others (401, 403, 404, ...) are about the request itself and refuse every event.
BISECT_STATUSES = frozenset({400, 422})


class Step(enum.Enum):
    """What the sink does next with the events of one request."""

    DONE = "done"
    """Delivered; per-item results may still hand some back or refuse some."""
    RETRY = "retry"
    """Send the same request again after ``delay`` (within this write)."""
    HAND_BACK = "hand_back"
    """Back to the head of the queue; the sink is ready again in ``delay`` seconds."""
    SPLIT = "split"
    """Too large: send it in halves (the size was learned)."""
    BISECT = "bisect"
    """Refused: send it in halves to find the events the backend refuses."""
    DROP = "drop"
    """Lost, counted under ``reason``."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The next step for one request's events."""

    step: Step
    delay: float = 0.0
    reason: DropReason | None = None


@dataclass(frozen=True, slots=True)
class ItemResults:
    """A 2xx reply's per-event results (Elasticsearch bulk, Honeycomb batch).

    ``retry``: positions (0-based, in the request's order) the backend asks to send
    again (429, 5xx); ``rejected``: how many it refused for good; the reasons are the
    backend's own words for the first of each (for the warning and ``last_error``).
    """

    retry: tuple[int, ...] = ()
    rejected: int = 0
    reason: str = ""
    retry_reason: str = ""


def item_results(answers: Iterable[tuple[int | None, str]], count: int) -> ItemResults | None:
    """Per-item ``(status, reason)`` answers, in request order, as :class:`ItemResults`.

    2xx is delivered; 429 and 5xx are sent again (the item's shard or the backend was
    busy: not a refusal of the event); any other status is refused for good. An item
    without a readable status counts as delivered (the request was a 2xx). None when
    every item was delivered.
    """
    retry: list[int] = []
    rejected = 0
    reason = retry_reason = ""
    for i, (status, why) in enumerate(answers):
        if i >= count:
            break
        if status is None or 200 <= status <= 299:
            continue
        if status == 429 or status >= 500:
            retry.append(i)
            retry_reason = retry_reason or f"{status} {why}".strip()
        else:
            rejected += 1
            reason = reason or f"{status} {why}".strip()
    if not retry and not rejected:
        return None
    return ItemResults(tuple(retry), rejected, reason, retry_reason)


def bisect_allowance(events: int) -> int:
    """Extra requests a refused batch of ``events`` may spend per refused event it finds."""
    return 2 * max(1, math.ceil(math.log2(max(events, 2))))


class Delivery:
    """The delivery state of one sink: breaker, budgets, backoff, the learned size cap.

    Thread-safe: a sink with ``concurrency`` > 1 consults it from every worker thread.
    """

    def __init__(
        self,
        policy: RetryPolicy,
        budget: RetryBudget,
        breaker: CircuitBreaker,
        *,
        max_request_bytes: int,
        clock: Callable[[], float] = time.monotonic,
        rng: Callable[[], float] = random.random,
        bisect_budget: RetryBudget | None = None,
    ) -> None:
        self.policy = policy
        self.budget = budget
        self.breaker = breaker
        #: Extra requests spent finding refused events: at most twice the first attempts
        #: plus one per second (per 10 s window), so a backend that refuses everything
        #: costs a bounded number of requests, not one per event.
        self.bisect_budget = bisect_budget or RetryBudget(
            ratio=2.0, min_per_second=1.0, window=10.0, clock=clock
        )
        self._configured = max_request_bytes
        self._clock = clock
        self._rng = rng
        self._lock = threading.Lock()
        self._not_before = 0.0  # a backoff after a write handed events back
        self._requeues = 0  # consecutive hand-backs (the backoff's exponent)
        self._cap: int | None = None  # learned from a "too large": merged writes stay under
        self._accepted_max = 0  # the largest request (event bytes) the backend took

    # ------------------------------------------------------------ before sending
    def ready_in(self) -> float:
        """Seconds before the next write may send: a backoff, or the breaker's open period."""
        wait = self._not_before - self._clock()
        if self.breaker.state is not BreakerState.CLOSED:
            wait = max(wait, self.breaker.time_until_probe())
        return max(0.0, wait)

    def request_bytes(self) -> int:
        """Event bytes one request may carry: the configured limit, or what was learned."""
        cap = self._cap
        return self._configured if cap is None else min(cap, self._configured)

    @property
    def learned_cap(self) -> int | None:
        """The size cap learned from a "too large" answer (None: none seen)."""
        return self._cap

    def may_send(self, attempt: int) -> bool:
        """Whether an attempt may go now (the breaker; a first attempt is counted)."""
        if not self.breaker.allow_request():
            return False
        if attempt == 0:
            self.budget.record_attempt()
        return True

    def may_bisect(self) -> bool:
        """Whether the sink's budget allows one more request to find refused events."""
        return self.bisect_budget.try_acquire_retry()

    # ------------------------------------------------------------- the answer
    def decide(
        self,
        result: AttemptResult,
        *,
        attempt: int,
        events: int,
        nbytes: int,
        time_left: float,
        too_large: bool = False,
    ) -> Verdict:
        """The next step after attempt ``attempt`` of a request of ``events`` events.

        ``nbytes`` is the request's event bytes (before encoding and compression: what
        the worker merges); ``too_large`` marks a size refusal the status does not say
        (gRPC's RESOURCE_EXHAUSTED for a message over the server's limit).
        """
        if result.kind is AttemptKind.OK:
            self.breaker.record_success()
            self._delivered(nbytes)
            return Verdict(Step.DONE)
        if too_large or result.status == 413:
            # Neither a success nor a failure: a proxy in front answers 413 while the
            # backend behind it is down, so it must not close an open breaker.
            self._refused_size(nbytes)
            if events > 1:
                return Verdict(Step.SPLIT)
            return Verdict(Step.DROP, reason="too_large")
        if not self.policy.is_retryable(result):
            self.breaker.record_result(result)  # a 4xx proves the backend up; a 5xx does not
            if events > 1 and result.status in BISECT_STATUSES:
                return Verdict(Step.BISECT)
            return Verdict(Step.DROP, reason="rejected")
        self.breaker.record_failure()
        delay = self.policy.next_delay(attempt, result, self._rng, time_left=time_left)
        if delay is None:  # attempts or the write's time used up: wait in the queue
            return self._hand_back(self.backoff(result))
        if not self.budget.try_acquire_retry():
            return self._hand_back(max(delay, self.backoff(result)))
        return Verdict(Step.RETRY, delay=delay)

    def retry_items(self, result: AttemptResult | None = None) -> float:
        """Some items of a delivered request are to be sent again: the wait before that."""
        delay = self.backoff(result)
        self._hand_back(delay)
        return delay

    def backoff(self, result: AttemptResult | None = None) -> float:
        """The wait before handed-back events are sent again: Retry-After, else backoff."""
        retry_after = result.retry_after if result is not None else None
        if retry_after is not None and not math.isnan(retry_after):
            return min(max(retry_after, 0.0), self.policy.retry_after_cap)
        return self.policy.backoff(min(self._requeues, 64), self._rng)

    def _hand_back(self, delay: float) -> Verdict:
        with self._lock:
            self._requeues += 1
            self._not_before = max(self._not_before, self._clock() + delay)
        return Verdict(Step.HAND_BACK, delay=delay)

    def _delivered(self, nbytes: int) -> None:
        with self._lock:
            self._requeues = 0
            self._not_before = 0.0
            self._accepted_max = max(self._accepted_max, nbytes)

    def answered(self) -> None:
        """The backend handled a request (a refusal too): no backoff is due any more."""
        with self._lock:
            self._requeues = 0
            self._not_before = 0.0

    def _refused_size(self, nbytes: int) -> None:
        """A request of ``nbytes`` was too large: never merge that much again.

        The cap is the largest size accepted below it, or half of it when nothing that
        large was accepted yet (the halves tell more).
        """
        with self._lock:
            below = self._accepted_max if self._accepted_max < nbytes else 0
            cap = max(below, nbytes // 2, 1)
            if self._cap is None or cap < self._cap:
                self._cap = cap
            self._requeues = 0
            self._not_before = 0.0
