"""The delivery decisions as values (nglogger._delivery.decision), on a fake clock.

The outage tests drive ``Delivery`` the way a sink's worker does: wait ``ready_in()``,
then one write: send while ``may_send``, follow each verdict (RETRY waits its delay,
HAND_BACK ends the write). The backend is down until ``outage`` seconds, then up.
With the default settings they check the promise of docs/delivery.md: during an
outage of up to 2 minutes (and 10) at most one request per 2 s per sink on average,
and the first delivery within 5 s of the recovery.
"""

from __future__ import annotations

import random

import pytest

from nglogger._delivery.decision import (
    Delivery,
    ItemResults,
    Step,
    bisect_allowance,
    item_results,
)
from nglogger._delivery.retry import (
    AttemptKind,
    AttemptResult,
    CircuitBreaker,
    RetryBudget,
    RetryPolicy,
)

OK = AttemptResult(200, AttemptKind.OK)
DOWN = AttemptResult(503, AttemptKind.RETRYABLE_STATUS)
TOO_LARGE = AttemptResult(413, AttemptKind.FATAL_STATUS)
BAD = AttemptResult(400, AttemptKind.FATAL_STATUS)
FORBIDDEN = AttemptResult(403, AttemptKind.FATAL_STATUS)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def delivery(clock: Clock, seed: int = 1, **limits: int) -> Delivery:
    rng = random.Random(seed).random
    return Delivery(
        RetryPolicy(),
        RetryBudget(clock=clock),
        CircuitBreaker(clock=clock, rng=rng),
        max_request_bytes=limits.get("max_request_bytes", 5 << 20),
        clock=clock,
        rng=rng,
    )


def outage(seconds: float, seed: int) -> tuple[int, float]:
    """(requests sent while down, seconds from recovery to the first delivery)."""
    clock = Clock()
    d = delivery(clock, seed)
    sent_down = 0
    while clock.now < seconds + 600:
        clock.now += max(d.ready_in(), 0.02)  # the worker waits until the sink is ready
        attempt = 0
        deadline = clock.now + 120.0  # batch_deadline
        while d.may_send(attempt):
            up = clock.now >= seconds
            sent_down += not up
            verdict = d.decide(
                OK if up else DOWN,
                attempt=attempt,
                events=100,
                nbytes=100_000,
                time_left=deadline - clock.now,
            )
            if verdict.step is Step.DONE:
                return sent_down, clock.now - seconds
            if verdict.step is not Step.RETRY:
                break  # handed back: the events wait in the queue
            clock.now += verdict.delay
            attempt += 1
    raise AssertionError("never delivered")


@pytest.mark.parametrize("seconds", [30, 75, 120, 600])
def test_with_default_settings_an_outage_is_quiet_and_the_recovery_seen_within_5_s(
    seconds: int,
) -> None:
    """100 runs per length: at most one request per 2 s while down, on average and in the
    worst run; the first delivery at most 5 s after the backend is back."""
    runs = [outage(seconds, seed) for seed in range(100)]
    rates = [sent / seconds for sent, _ in runs]
    assert sum(rates) / len(rates) <= 0.5
    assert max(rates) <= 0.5, max(rates)
    assert max(lag for _, lag in runs) <= 5.0, max(lag for _, lag in runs)


def test_too_large_splits_and_the_cap_is_the_largest_size_accepted_below_it() -> None:
    clock = Clock()
    d = delivery(clock)
    assert d.request_bytes() == 5 << 20
    assert d.learned_cap is None
    assert d.decide(OK, attempt=0, events=10, nbytes=300_000, time_left=60).step is Step.DONE
    verdict = d.decide(TOO_LARGE, attempt=0, events=10, nbytes=800_000, time_left=60)
    assert verdict.step is Step.SPLIT
    assert d.request_bytes() == 400_000  # half of the refused size: more than was accepted
    d.decide(TOO_LARGE, attempt=0, events=5, nbytes=350_000, time_left=60)
    assert d.request_bytes() == 300_000  # the largest accepted below the refusal
    one = d.decide(TOO_LARGE, attempt=0, events=1, nbytes=200_000, time_left=60)
    assert (one.step, one.reason) == (Step.DROP, "too_large")
    assert d.breaker.state.value == "closed"  # a size refusal is not a failure...


def test_a_413_during_an_outage_does_not_close_the_breaker() -> None:
    """...nor a success: a proxy answers 413 while the backend behind it is down."""
    clock = Clock()
    d = delivery(clock)
    for _ in range(5):  # the breaker opens
        d.decide(DOWN, attempt=1, events=10, nbytes=1000, time_left=0.0)
    assert d.breaker.state.value == "open"
    clock.now += d.ready_in()
    assert d.may_send(0)  # the probe
    assert d.decide(TOO_LARGE, attempt=0, events=10, nbytes=9000, time_left=60).step is Step.SPLIT
    assert d.breaker.state.value == "half_open"  # still probing: not closed by the 413


def test_a_400_is_bisected_and_other_refusals_refuse_the_whole_request() -> None:
    clock = Clock()
    d = delivery(clock)
    assert d.decide(BAD, attempt=0, events=8, nbytes=800, time_left=60).step is Step.BISECT
    single = d.decide(BAD, attempt=0, events=1, nbytes=100, time_left=60)
    assert (single.step, single.reason) == (Step.DROP, "rejected")
    whole = d.decide(FORBIDDEN, attempt=0, events=8, nbytes=800, time_left=60)
    assert (whole.step, whole.reason) == (Step.DROP, "rejected")
    assert bisect_allowance(100) == 14
    assert bisect_allowance(1) == 2


def test_the_bisect_budget_is_bounded_without_productive_halves() -> None:
    """A backend refusing everything cannot make bisection cost a request per event:
    the budget allows a few per write and per second, refilled by halves delivered."""
    clock = Clock()
    d = delivery(clock)
    d.bisect_budget.record_attempt()  # one write
    granted = 0
    while d.may_bisect():
        granted += 1
        assert granted < 100
    assert granted <= 4 + 10  # ratio 4 per write, plus 1 per second over the 10 s window


def test_per_item_answers_retry_busy_items_and_refuse_the_others() -> None:
    answers = [(201, ""), (429, "es_rejected_execution_exception"), (400, "mapper: bad"), (503, "")]
    assert item_results(answers, 4) == ItemResults(
        retry=(1, 3),
        rejected=1,
        reason="400 mapper: bad",
        retry_reason="429 es_rejected_execution_exception",
    )
    assert item_results([(201, ""), (None, "")], 2) is None
    assert item_results([(201, ""), (400, "x")], 1) is None  # items past the request ignored


def test_items_sent_again_wait_the_backoff_and_a_delivery_clears_it() -> None:
    clock = Clock()
    d = delivery(clock)
    delay = d.retry_items()
    assert 0 <= delay <= RetryPolicy().cap
    assert d.ready_in() == pytest.approx(delay)
    d.decide(OK, attempt=0, events=1, nbytes=10, time_left=60)
    assert d.ready_in() == 0.0
