"""Specification of nglogger._delivery.retry: policy, Retry-After, retry budget, circuit breaker.

Everything runs on a fake clock and seeded random sources; nothing sleeps.
"""

from __future__ import annotations

import calendar
import math
import random
import threading
import tracemalloc
from collections.abc import Callable

import pytest

from nglogger._delivery.retry import (
    NEVER_RETRY_STATUSES,
    AttemptKind,
    AttemptResult,
    BreakerState,
    CircuitBreaker,
    RetryBudget,
    RetryPolicy,
    parse_retry_after,
)

K = AttemptKind
INF = math.inf


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def const(value: float) -> Callable[[], float]:
    return lambda: value


def fail_rng() -> float:
    raise AssertionError("rng must not be called")


def status(code: int, kind: AttemptKind, retry_after: float | None = None) -> AttemptResult:
    return AttemptResult(code, kind, retry_after)


def error(kind: AttemptKind) -> AttemptResult:
    return AttemptResult(None, kind, error=kind.value)


# ----------------------------------------------------------------------------- AttemptResult


def test_attempt_result_is_a_small_frozen_value():
    """An AttemptResult is immutable and slotted, so it holds nothing but its four fields."""
    result = AttemptResult(503, K.RETRYABLE_STATUS, 2.0, "busy")
    assert not hasattr(result, "__dict__")
    with pytest.raises(AttributeError):
        result.status = 200  # type: ignore[misc]
    assert result == AttemptResult(503, K.RETRYABLE_STATUS, 2.0, "busy")


def test_attempt_result_truncates_long_error_text():
    """A huge error text (a response body, say) is cut to 200 characters."""
    result = AttemptResult(None, K.PROTOCOL_ERROR, error="x" * 100_000)
    assert len(result.error) == 200
    assert result.error.endswith("...")


# ------------------------------------------------------------------------- parse_retry_after

NOW = float(calendar.timegm((2024, 1, 1, 0, 0, 0, 0, 0, 0)))  # Mon, 01 Jan 2024 00:00:00 GMT


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        ("0", 0.0),
        ("  7 ", 7.0),
        ("0005", 5.0),
        ("000000000000000005", 5.0),
        ("0000", 0.0),
        ("2147483648", 2.0**31),
        ("99999999999", 2.0**31),
        ("9" * 5000, 2.0**31),
        ("Mon, 01 Jan 2024 00:00:30 GMT", 30.0),  # IMF-fixdate
        ("Monday, 01-Jan-24 00:01:00 GMT", 60.0),  # obsolete RFC 850
        ("Mon Jan  1 00:00:45 2024", 45.0),  # obsolete asctime, taken as GMT
        ("Mon, 01 Jan 2024 01:00:30 +0100", 30.0),  # a numeric zone is honoured
        ("Mon, 01 Jan 2024 00:00:00 GMT", 0.0),  # now
        ("Sun, 31 Dec 2023 23:59:00 GMT", 0.0),  # past date
        ("Sun, 06 Nov 1994 08:49:37 GMT", 0.0),  # long past
    ],
)
def test_retry_after_valid_forms(value, expected):
    """Delta-seconds and all three HTTP-date forms give seconds to wait; past dates give 0."""
    assert expected == parse_retry_after(value, NOW)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "+5",
        "1.5",
        "5 s",
        "120, 60",
        "Mon, 01 Foo 2024 00:00:00 GMT",
        "Mon, 32 Jan 2024 00:00:00 GMT",
        "Mon, 01 Jan 2024 25:00:00 GMT",
        "Mon, 01 Jan 2024",
        "\u0665",  # an Arabic-Indic digit is not an ASCII DIGIT
    ],
)
def test_retry_after_invalid_is_none(value):
    """Absent, negative, fractional or malformed values are None, so backoff applies instead."""
    assert parse_retry_after(value, NOW) is None


def test_retry_after_leap_second_is_a_valid_date():
    """A date with second 60 is accepted and counts one second after :59."""
    assert 60.0 == parse_retry_after("Mon, 01 Jan 2024 00:00:60 GMT", NOW)


def test_retry_after_nan_now_is_none():
    """A nonsensical wall clock yields None rather than a NaN wait."""
    assert parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", math.nan) is None


# ------------------------------------------------------------------------------ RetryPolicy

DEFAULT = RetryPolicy()
LONG = RetryPolicy(max_attempts=100, cap=30.0)
NO_TIMEOUTS = RetryPolicy(retry_on_timeout=False)
NO_CONN = RetryPolicy(retry_on_connection_error=False)
DATADOG = RetryPolicy(retryable_statuses=frozenset({408, 429, *range(500, 600)}))


@pytest.mark.parametrize(
    ("policy", "attempt", "result", "r", "time_left", "expected"),
    [
        # backoff: U(0, min(cap, base * 2**attempt)) with r the uniform draw
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS), 0.5, INF, 0.25),
        (DEFAULT, 1, status(503, K.RETRYABLE_STATUS), 0.5, INF, 0.5),
        (DEFAULT, 3, status(429, K.RETRYABLE_STATUS), 0.25, INF, 1.0),
        (DEFAULT, 4, status(502, K.RETRYABLE_STATUS), 0.0, INF, 0.0),
        (DEFAULT, 4, status(504, K.RETRYABLE_STATUS), 0.5, INF, 2.0),  # 8 capped at 4
        (LONG, 6, status(503, K.RETRYABLE_STATUS), 0.5, INF, 15.0),  # 32 capped at 30
        (RetryPolicy(max_attempts=10**6), 99_999, status(503, K.RETRYABLE_STATUS), 0.5, INF, 2.0),
        (DEFAULT, 0, error(K.TIMEOUT), 0.5, INF, 0.25),
        (DEFAULT, 0, error(K.CONNECTION_ERROR), 0.5, INF, 0.25),
        (DATADOG, 0, status(408, K.RETRYABLE_STATUS), 0.5, INF, 0.25),
        (DATADOG, 0, status(500, K.RETRYABLE_STATUS), 0.5, INF, 0.25),
        # attempts exhausted: max_attempts counts the first attempt
        (DEFAULT, 5, status(503, K.RETRYABLE_STATUS), 0.5, INF, None),
        (DEFAULT, 5, status(503, K.RETRYABLE_STATUS, 1.0), 0.5, INF, None),
        (RetryPolicy(max_attempts=1), 0, status(503, K.RETRYABLE_STATUS), 0.5, INF, None),
        # not retryable
        (DEFAULT, 0, status(200, K.OK), 0.5, INF, None),
        (DEFAULT, 0, status(500, K.FATAL_STATUS), 0.5, INF, None),
        (DEFAULT, 0, status(500, K.RETRYABLE_STATUS), 0.5, INF, None),  # not in the set
        (DEFAULT, 0, status(503, K.FATAL_STATUS), 0.5, INF, None),  # caller said fatal
        (DEFAULT, 0, status(400, K.RETRYABLE_STATUS, 1.0), 0.5, INF, None),  # mislabelled
        (DEFAULT, 0, status(413, K.FATAL_STATUS), 0.5, INF, None),
        (DEFAULT, 0, AttemptResult(None, K.RETRYABLE_STATUS), 0.5, INF, None),
        (DEFAULT, 0, error(K.PROTOCOL_ERROR), 0.5, INF, None),
        (NO_TIMEOUTS, 0, error(K.TIMEOUT), 0.5, INF, None),
        (NO_TIMEOUTS, 0, error(K.CONNECTION_ERROR), 0.5, INF, 0.25),
        (NO_CONN, 0, error(K.CONNECTION_ERROR), 0.5, INF, None),
        (NO_CONN, 0, error(K.TIMEOUT), 0.5, INF, 0.25),
        # Retry-After takes precedence over backoff, capped, never negative
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, 10.0), 0.5, INF, 10.0),
        (DEFAULT, 4, status(429, K.RETRYABLE_STATUS, 0.5), 0.99, INF, 0.5),
        (DEFAULT, 0, status(429, K.RETRYABLE_STATUS, 45.0), 0.5, INF, 45.0),  # above backoff cap
        (DEFAULT, 0, status(429, K.RETRYABLE_STATUS, 600.0), 0.5, INF, 60.0),
        (DEFAULT, 0, status(429, K.RETRYABLE_STATUS, INF), 0.5, INF, 60.0),
        (RetryPolicy(retry_after_cap=5.0), 0, status(503, K.RETRYABLE_STATUS, 9.0), 0.5, INF, 5.0),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, -3.0), 0.5, INF, 0.0),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, 0.0), 0.5, INF, 0.0),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, math.nan), 0.5, INF, 0.25),
        # the batch's deadline: give up when the wait does not fit in time_left
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, 10.0), 0.5, 9.0, None),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, 10.0), 0.5, 10.0, None),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, 10.0), 0.5, 10.5, 10.0),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, 600.0), 0.5, 61.0, 60.0),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS, 0.0), 0.5, 0.0, None),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS), 0.5, 0.2, None),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS), 0.5, 0.3, 0.25),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS), 0.5, -1.0, None),
        (DEFAULT, 0, status(503, K.RETRYABLE_STATUS), 0.5, math.nan, None),
    ],
)
def test_next_delay_table(policy, attempt, result, r, time_left, expected):
    """next_delay is a pure function of (policy, attempt, result, rng draw, time left)."""
    assert expected == policy.next_delay(attempt, result, const(r), time_left=time_left)


def test_next_delay_with_retry_after_does_not_draw():
    """With a Retry-After present the wait is the server's, so no random draw is made."""
    result = status(503, K.RETRYABLE_STATUS, 3.0)
    assert 3.0 == DEFAULT.next_delay(0, result, fail_rng, time_left=INF)


@pytest.mark.parametrize("code", [400, 401, 403, 413])
@pytest.mark.parametrize("policy", [DEFAULT, DATADOG, LONG])
def test_bad_request_and_auth_errors_are_never_retried(policy, code):
    """400, 401, 403 and 413 are never retried, whatever the kind or Retry-After says."""
    for kind in (K.RETRYABLE_STATUS, K.FATAL_STATUS):
        result = status(code, kind, 1.0)
        assert policy.next_delay(0, result, const(0.5), time_left=INF) is None
    assert K.FATAL_STATUS == policy.classify(code)


@pytest.mark.parametrize("code", sorted(NEVER_RETRY_STATUSES))
def test_never_retry_statuses_cannot_be_configured(code):
    """A policy listing 400, 401, 403 or 413 as retryable is rejected at construction."""
    with pytest.raises(ValueError, match="retryable_statuses"):
        RetryPolicy(retryable_statuses=frozenset({503, code}))


@pytest.mark.parametrize(
    ("code", "error_kind", "expected"),
    [
        (200, None, K.OK),
        (204, None, K.OK),
        (299, None, K.OK),
        (429, None, K.RETRYABLE_STATUS),
        (503, None, K.RETRYABLE_STATUS),
        (500, None, K.FATAL_STATUS),
        (404, None, K.FATAL_STATUS),
        (301, None, K.FATAL_STATUS),
        (None, None, K.PROTOCOL_ERROR),
        (None, K.TIMEOUT, K.TIMEOUT),
        (None, K.CONNECTION_ERROR, K.CONNECTION_ERROR),
        (503, K.PROTOCOL_ERROR, K.PROTOCOL_ERROR),
    ],
)
def test_classify(code, error_kind, expected):
    """2xx is OK, listed statuses RETRYABLE_STATUS, others FATAL_STATUS; error kinds pass through."""
    assert expected == DEFAULT.classify(code, error_kind)


@pytest.mark.parametrize("kind", [K.OK, K.RETRYABLE_STATUS, K.FATAL_STATUS])
def test_classify_rejects_non_error_kinds(kind):
    """Only transport error kinds may be passed as error_kind."""
    with pytest.raises(ValueError, match="error_kind"):
        DEFAULT.classify(None, kind)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"base": 0}, "base"),
        ({"base": -1.0}, "base"),
        ({"base": math.nan}, "base"),
        ({"base": INF}, "base"),
        ({"base": "1"}, "base"),
        ({"cap": 0.0}, "cap"),
        ({"cap": INF}, "cap"),
        ({"cap": 10**400}, "cap"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"max_attempts": 2.0}, "max_attempts"),
        ({"max_attempts": True}, "max_attempts"),
        ({"retry_after_cap": -1.0}, "retry_after_cap"),
        ({"retry_after_cap": INF}, "retry_after_cap"),
        ({"retryable_statuses": {503}}, "retryable_statuses"),
        ({"retryable_statuses": frozenset({200})}, "retryable_statuses"),
        ({"retryable_statuses": frozenset({99})}, "retryable_statuses"),
        ({"retryable_statuses": frozenset({600})}, "retryable_statuses"),
        ({"retryable_statuses": frozenset({"503"})}, "retryable_statuses"),
        ({"retry_on_timeout": 1}, "retry_on_timeout"),
        ({"retry_on_connection_error": None}, "retry_on_connection_error"),
    ],
)
def test_policy_validation_names_field_value_and_range(kwargs, field):
    """A bad policy setting raises ValueError naming the field, the value and what is accepted."""
    with pytest.raises(ValueError, match=f"RetryPolicy.{field} must be") as info:
        RetryPolicy(**kwargs)
    assert repr(kwargs[field]) in str(info.value)


def test_policy_is_frozen_and_hashable():
    """A policy is an immutable value: equal settings compare and hash equal."""
    with pytest.raises(AttributeError):
        DEFAULT.base = 1.0  # type: ignore[misc]
    assert hash(RetryPolicy()) == hash(DEFAULT)
    assert RetryPolicy() == DEFAULT


@pytest.mark.parametrize("bad", [1.0, 1.5, -0.1, math.nan])
def test_backoff_rejects_rng_outside_unit_interval(bad):
    """An rng returning anything outside [0, 1) is a programming error, reported at once."""
    with pytest.raises(ValueError, match="rng"):
        DEFAULT.backoff(0, const(bad))


def test_backoff_rejects_negative_attempt():
    """Attempt numbers start at 0."""
    with pytest.raises(ValueError, match="attempt"):
        DEFAULT.backoff(-1, const(0.5))
    with pytest.raises(ValueError, match="attempt"):
        DEFAULT.next_delay(-1, error(K.TIMEOUT), const(0.5), time_left=INF)


def test_backoff_stays_below_its_ceiling_for_the_largest_draw():
    """Even r = 1 - 2**-53 gives a wait strictly below the ceiling."""
    r = math.nextafter(1.0, 0.0)
    for attempt in range(12):
        ceiling = min(DEFAULT.cap, DEFAULT.base * 2**attempt)
        assert DEFAULT.backoff(attempt, const(r)) < ceiling


def ks_uniform(samples: list[float]) -> float:
    """Kolmogorov-Smirnov statistic of samples in [0, 1) against the uniform CDF."""
    xs = sorted(samples)
    n = len(xs)
    return max(max((i + 1) / n - x, x - i / n) for i, x in enumerate(xs))


@pytest.mark.parametrize("attempt", [0, 1, 2, 3, 5, 6, 9])
def test_backoff_is_full_jitter(attempt):
    """Backoff waits are uniform on [0, min(cap, base * 2**attempt)): range, mean and KS test."""
    rng = random.Random(202_400 + attempt).random
    n = 20_000
    ceiling = min(DEFAULT.cap, 0.5 * 2**attempt)
    delays = [DEFAULT.backoff(attempt, rng) for _ in range(n)]
    assert all(0.0 <= d < ceiling for d in delays)
    mean = sum(delays) / n
    assert abs(mean - ceiling / 2) < 0.01 * ceiling  # ~5 standard errors of the mean
    # 1.95 / sqrt(n) is the 0.1% critical value of the one-sample KS statistic
    assert ks_uniform([d / ceiling for d in delays]) < 1.95 / math.sqrt(n)


def test_ks_check_detects_a_non_uniform_draw():
    """The KS check used above is sharp enough to reject a skewed distribution."""
    rng = random.Random(7)
    skewed = [rng.random() ** 1.1 for _ in range(20_000)]
    assert ks_uniform(skewed) > 1.95 / math.sqrt(20_000)


# ------------------------------------------------------------------------------ RetryBudget


def test_budget_fresh_allows_only_the_floor():
    """With no first attempts yet, only min_per_second * window retries are allowed."""
    budget = RetryBudget(clock=FakeClock())
    assert budget.try_acquire_retry()  # 0.1/s * 10 s = 1
    assert not budget.try_acquire_retry()
    assert {"attempts": 0, "retries": 1, "denied": 1} == budget.stats


def test_budget_allows_ratio_of_first_attempts_plus_floor():
    """100 first attempts within the window buy exactly 10% of 100 plus the floor of 1 retry."""
    budget = RetryBudget(clock=FakeClock())
    for _ in range(100):
        budget.record_attempt()
    granted = sum(budget.try_acquire_retry() for _ in range(50))
    assert 11 == granted
    assert {"attempts": 100, "retries": 11, "denied": 39} == budget.stats


def test_budget_ratio_is_exact_despite_float_rounding():
    """29% of 100 attempts is 29 retries, although 0.29 * 100 < 29 in floating point."""
    budget = RetryBudget(ratio=0.29, min_per_second=0.0, clock=FakeClock())
    for _ in range(100):
        budget.record_attempt()
    assert 29 == sum(budget.try_acquire_retry() for _ in range(100))


def test_budget_zero_allows_no_retries():
    """ratio 0 and min_per_second 0 disable retries entirely."""
    budget = RetryBudget(ratio=0.0, min_per_second=0.0, clock=FakeClock())
    for _ in range(1000):
        budget.record_attempt()
    assert not budget.try_acquire_retry()


def test_budget_refills_as_the_window_slides():
    """Spent retries stop counting once they leave the window, and so do old deposits."""
    clock = FakeClock()
    budget = RetryBudget(clock=clock)
    for _ in range(100):
        budget.record_attempt()
    assert 11 == sum(budget.try_acquire_retry() for _ in range(20))
    clock.advance(5.0)  # half a window: spent retries still count
    assert not budget.try_acquire_retry()
    clock.advance(5.0)  # a full window later: deposits and withdrawals both expired
    assert budget.try_acquire_retry()  # the floor again
    assert not budget.try_acquire_retry()
    for _ in range(100):
        budget.record_attempt()
    assert 10 == sum(budget.try_acquire_retry() for _ in range(20))


def test_budget_survives_a_huge_clock_jump():
    """A jump of many windows costs no more than one pass over the buckets and resets it."""
    clock = FakeClock()
    budget = RetryBudget(clock=clock)
    for _ in range(10):
        budget.record_attempt()
    clock.advance(1e9)
    assert budget.try_acquire_retry()
    assert not budget.try_acquire_retry()


@pytest.mark.parametrize(("rate", "seconds"), [(10.0, 1000.0), (100.0, 100.0), (1.0, 10_000.0)])
def test_budget_bounds_a_total_outage(rate, seconds):
    """With every attempt failing, wire attempts stay <= (1 + ratio) * first attempts + floor."""
    clock = FakeClock(0.0)
    budget = RetryBudget(ratio=0.1, min_per_second=0.1, window=10.0, clock=clock)
    policy = RetryPolicy()
    first = int(rate * seconds)
    wire = 0
    for i in range(first):
        clock.now = i / rate
        budget.record_attempt()
        wire += 1
        attempt = 0
        while attempt + 1 < policy.max_attempts and budget.try_acquire_retry():
            wire += 1  # the retry fails too and wants another
            attempt += 1
    floor_allowance = 0.1 * (seconds + 10.0) / first
    assert wire / first <= 1.1 + floor_allowance
    assert wire / first >= 1.09  # the budget is used, not merely respected
    assert first == budget.stats["attempts"]
    assert wire - first == budget.stats["retries"]


def test_budget_is_thread_safe():
    """Concurrent deposits and withdrawals never grant more than the budget allows."""
    budget = RetryBudget(clock=FakeClock())
    threads_n, per_thread = 8, 2000
    barrier = threading.Barrier(threads_n)

    def work() -> None:
        barrier.wait(timeout=10)
        for _ in range(per_thread):
            budget.record_attempt()
            budget.try_acquire_retry()
            budget.try_acquire_retry()

    threads = [threading.Thread(target=work) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    stats = budget.stats
    assert threads_n * per_thread == stats["attempts"]
    assert stats["retries"] <= 0.1 * stats["attempts"] + 1
    assert 2 * threads_n * per_thread == stats["retries"] + stats["denied"]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"ratio": -0.1}, "ratio"),
        ({"ratio": math.nan}, "ratio"),
        ({"min_per_second": -1.0}, "min_per_second"),
        ({"min_per_second": INF}, "min_per_second"),
        ({"window": 0.0}, "window"),
        ({"window": "10"}, "window"),
    ],
)
def test_budget_validation_names_field_value_and_range(kwargs, field):
    """A bad budget setting raises ValueError naming the field, the value and what is accepted."""
    with pytest.raises(ValueError, match=f"RetryBudget.{field} must be") as info:
        RetryBudget(**kwargs)
    assert repr(kwargs[field]) in str(info.value)


# --------------------------------------------------------------------------- CircuitBreaker


def make_breaker(clock: FakeClock, r: float = 0.5, **kwargs: float) -> CircuitBreaker:
    # the periods these tests compute with (the defaults are shorter: see
    # test_breaker_defaults_probe_within_seconds)
    kwargs.setdefault("open_duration", 5.0)
    kwargs.setdefault("max_open_duration", 60.0)
    return CircuitBreaker(clock=clock, rng=const(r), **kwargs)  # type: ignore[arg-type]


def test_breaker_defaults_probe_within_seconds() -> None:
    """The defaults (docs/delivery.md): first open period 3 s, at most 4.5 s; retries
    back off up to 4 s. Together: one probe per 3-4.5 s while down, back within 5 s."""
    breaker = CircuitBreaker()
    assert (breaker._open_duration, breaker._max_open_duration) == (3.0, 4.5)
    assert RetryPolicy().cap == 4.0


def trip(breaker: CircuitBreaker, failures: int = 5) -> None:
    for _ in range(failures):
        assert breaker.allow_request()
        breaker.record_failure()


def test_breaker_starts_closed_and_allows_requests():
    """A new breaker is CLOSED, allows every request and has no wait."""
    breaker = make_breaker(FakeClock())
    assert BreakerState.CLOSED == breaker.state
    assert all(breaker.allow_request() for _ in range(100))
    assert 0.0 == breaker.time_until_probe()
    assert {"opened": 0, "probes": 0, "state": "closed"} == breaker.stats


def test_breaker_opens_after_consecutive_failures():
    """failure_threshold consecutive failures open the breaker; one fewer does not."""
    breaker = make_breaker(FakeClock())
    trip(breaker, 4)
    assert BreakerState.CLOSED == breaker.state
    breaker.record_failure()
    assert BreakerState.OPEN == breaker.state
    assert 1 == breaker.stats["opened"]


def test_breaker_success_resets_the_consecutive_count():
    """A success between failures restarts the consecutive count."""
    breaker = make_breaker(FakeClock())
    for _ in range(3):
        trip(breaker, 4)
        breaker.record_success()
    assert BreakerState.CLOSED == breaker.state


def test_breaker_opens_on_failure_ratio():
    """At least min_requests outcomes in the window with >= failure_ratio failures open it."""
    breaker = make_breaker(FakeClock())
    for _ in range(9):
        breaker.record_success()
        breaker.record_failure()
    breaker.record_success()  # 19 outcomes: below min_requests
    assert BreakerState.CLOSED == breaker.state
    breaker.record_failure()  # 20 outcomes, 10 failures: ratio 0.5
    assert BreakerState.OPEN == breaker.state


def test_breaker_ratio_needs_enough_failures():
    """Below failure_ratio the breaker stays closed however many requests there are."""
    breaker = make_breaker(FakeClock())
    for _ in range(100):
        breaker.record_success()
        breaker.record_success()
        breaker.record_failure()  # one failure in three
    assert BreakerState.CLOSED == breaker.state


def test_breaker_ratio_forgets_outcomes_outside_the_window():
    """Failures older than the window no longer count towards the ratio."""
    clock = FakeClock()
    breaker = make_breaker(clock, window=30.0)

    def burst() -> None:  # 4 failures then a success: never 5 in a row
        for _ in range(4):
            breaker.record_failure()
        breaker.record_success()

    for _ in range(3):
        burst()  # 15 outcomes, 12 failures: below min_requests
    clock.advance(30.0)
    burst()
    burst()  # had the first 15 been kept: 25 outcomes, 20 failures
    assert BreakerState.CLOSED == breaker.state
    for _ in range(3):
        burst()  # the fresh outcomes alone reach min_requests, 80% failures
    assert BreakerState.OPEN == breaker.state


def test_breaker_refuses_requests_while_open():
    """While OPEN no request is allowed, and time_until_probe counts down the open period."""
    clock = FakeClock()
    breaker = make_breaker(clock)
    trip(breaker)
    assert 5.0 == breaker.time_until_probe()
    for _ in range(49):
        clock.advance(0.1)
        assert not breaker.allow_request()
    assert 0.1 == pytest.approx(breaker.time_until_probe())
    assert BreakerState.OPEN == breaker.state
    assert 0 == breaker.stats["probes"]


def test_breaker_half_open_allows_exactly_one_probe():
    """After the open period exactly one caller gets the probe; the rest are refused."""
    clock = FakeClock()
    breaker = make_breaker(clock)
    trip(breaker)
    clock.advance(5.0)
    assert 0.0 == breaker.time_until_probe()
    assert breaker.allow_request()
    assert BreakerState.HALF_OPEN == breaker.state
    assert not any(breaker.allow_request() for _ in range(100))
    assert {"opened": 1, "probes": 1, "state": "half_open"} == breaker.stats


def test_breaker_half_open_one_probe_among_concurrent_threads():
    """Many threads asking at once in HALF_OPEN: exactly one is granted the probe."""
    clock = FakeClock()
    breaker = make_breaker(clock)
    trip(breaker)
    clock.advance(5.0)
    threads_n = 32
    barrier = threading.Barrier(threads_n)
    granted: list[bool] = []
    lock = threading.Lock()

    def ask() -> None:
        barrier.wait(timeout=10)
        answers = [breaker.allow_request() for _ in range(50)]
        with lock:
            granted.extend(answers)

    threads = [threading.Thread(target=ask) for _ in range(threads_n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert threads_n * 50 == len(granted)
    assert 1 == sum(granted)


def test_breaker_probe_success_closes_and_resets():
    """A successful probe closes the breaker and resets its counters and open period."""
    clock = FakeClock()
    breaker = make_breaker(clock)
    trip(breaker)
    clock.advance(5.0)
    assert breaker.allow_request()
    breaker.record_success()
    assert BreakerState.CLOSED == breaker.state
    assert 0.0 == breaker.time_until_probe()
    trip(breaker, 4)  # the consecutive count restarted from zero
    assert BreakerState.CLOSED == breaker.state
    breaker.record_failure()
    assert BreakerState.OPEN == breaker.state
    assert 5.0 == breaker.time_until_probe()  # the first open period again


def test_breaker_probe_failure_reopens_for_longer():
    """Each failed probe reopens with open_duration + r * (min(cap, d * 2**k) - d)."""
    clock = FakeClock()
    breaker = make_breaker(clock, r=0.5)
    trip(breaker)
    periods = [breaker.time_until_probe()]
    for _ in range(7):
        clock.advance(periods[-1])
        assert breaker.allow_request()
        breaker.record_failure()
        assert BreakerState.OPEN == breaker.state
        assert not breaker.allow_request()
        periods.append(breaker.time_until_probe())
    assert [5.0, 7.5, 12.5, 22.5, 32.5, 32.5, 32.5, 32.5] == periods
    assert {"opened": 8, "probes": 7, "state": "open"} == breaker.stats


def test_breaker_open_periods_are_jittered_within_bounds():
    """With a real random source, open periods lie in [open_duration, min(cap, d * 2**k)]."""
    clock = FakeClock()
    breaker = CircuitBreaker(
        clock=clock, rng=random.Random(42).random, open_duration=5.0, max_open_duration=60.0
    )
    trip(breaker)
    seen: list[float] = []
    for k in range(1, 200):
        clock.advance(breaker.time_until_probe())
        assert breaker.allow_request()
        breaker.record_failure()
        period = breaker.time_until_probe()
        assert 5.0 <= period <= min(60.0, 5.0 * 2**k)
        seen.append(period)
    assert len(set(seen)) == len(seen)  # jittered, not a fixed schedule
    assert max(seen) > 50.0  # and reaching towards the cap


def test_breaker_lost_probe_is_replaced_after_max_open_duration():
    """A probe whose outcome is never recorded stops blocking after max_open_duration."""
    clock = FakeClock()
    breaker = make_breaker(clock)
    trip(breaker)
    clock.advance(5.0)
    assert breaker.allow_request()
    assert 60.0 == breaker.time_until_probe()
    clock.advance(59.9)
    assert not breaker.allow_request()
    clock.advance(0.1)
    assert 0.0 == breaker.time_until_probe()
    assert breaker.allow_request()
    assert not breaker.allow_request()
    assert 2 == breaker.stats["probes"]


def test_breaker_ignores_late_outcomes_while_open():
    """Outcomes arriving while OPEN neither close it nor extend its open period."""
    clock = FakeClock()
    breaker = make_breaker(clock)
    trip(breaker)
    clock.advance(1.0)
    breaker.record_success()
    breaker.record_failure()
    assert BreakerState.OPEN == breaker.state
    assert 4.0 == breaker.time_until_probe()
    assert 1 == breaker.stats["opened"]


@pytest.mark.parametrize(
    ("result", "is_failure"),
    [
        (AttemptResult(200, K.OK), False),
        (AttemptResult(400, K.FATAL_STATUS), False),
        (AttemptResult(413, K.FATAL_STATUS), False),
        (AttemptResult(500, K.FATAL_STATUS), True),
        (AttemptResult(429, K.RETRYABLE_STATUS), True),
        (AttemptResult(503, K.RETRYABLE_STATUS), True),
        (AttemptResult(None, K.TIMEOUT), True),
        (AttemptResult(None, K.CONNECTION_ERROR), True),
        (AttemptResult(None, K.PROTOCOL_ERROR), True),
    ],
)
def test_breaker_record_result_maps_outcomes(result, is_failure):
    """Backend trouble (errors, retryable statuses, 5xx) is a failure; any other answer a success."""
    breaker = make_breaker(FakeClock(), failure_threshold=1)
    breaker.record_result(result)
    expected = BreakerState.OPEN if is_failure else BreakerState.CLOSED
    assert expected == breaker.state


def test_breaker_rejects_bad_rng_on_reopen():
    """An rng outside [0, 1) is reported as a programming error when a probe fails."""
    clock = FakeClock()
    breaker = make_breaker(clock, r=1.0)
    trip(breaker)
    clock.advance(5.0)
    assert breaker.allow_request()
    with pytest.raises(ValueError, match="rng"):
        breaker.record_failure()


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"failure_threshold": 0}, "failure_threshold"),
        ({"failure_threshold": 2.5}, "failure_threshold"),
        ({"failure_ratio": 0.0}, "failure_ratio"),
        ({"failure_ratio": 1.5}, "failure_ratio"),
        ({"failure_ratio": math.nan}, "failure_ratio"),
        ({"min_requests": 0}, "min_requests"),
        ({"window": -1.0}, "window"),
        ({"open_duration": 0.0}, "open_duration"),
        ({"open_duration": INF}, "open_duration"),
        ({"max_open_duration": 2.0}, "max_open_duration"),
        ({"max_open_duration": INF}, "max_open_duration"),
    ],
)
def test_breaker_validation_names_field_value_and_range(kwargs, field):
    """A bad breaker setting raises ValueError naming the field, the value and what is accepted."""
    with pytest.raises(ValueError, match=f"CircuitBreaker.{field} must be") as info:
        CircuitBreaker(**kwargs)
    assert repr(kwargs[field]) in str(info.value)


# ------------------------------------------------------------------------------------ memory


@pytest.mark.slow
def test_budget_and_breaker_memory_does_not_grow_with_traffic():
    """A million operations over a long simulated time leave the footprint unchanged (< 4 KiB)."""
    clock = FakeClock(0.0)
    budget = RetryBudget(clock=clock)
    breaker = CircuitBreaker(clock=clock, rng=random.Random(0).random)

    def run(n: int) -> None:
        for i in range(n):
            clock.now = i * 0.01
            budget.record_attempt()
            budget.try_acquire_retry()
            if breaker.allow_request():
                if i % 3:
                    breaker.record_success()
                else:
                    breaker.record_failure()

    run(10_000)  # warm up: reach steady state before measuring
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        run(250_000)
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert after - before < 4096
