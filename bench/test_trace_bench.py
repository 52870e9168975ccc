"""trace-context: ``log.info("hello world")`` with OpenTelemetry trace correlation off, idle and in a span.

Three cases against the basic floor: correlation off (``trace_context=False``:
no wrapper at all, the cost when OTel is not installed either), on with no
span active (one context-variable read and a dict lookup), and on inside an
SDK span (plus the three cached hex fields in the event). opentelemetry is
imported inside the tests, never at collection, so that the auto mode of the
other benchmark files in the same session stays off.
``python bench/test_trace_bench.py`` prints the same comparison with ``timeit``.
"""

from __future__ import annotations

import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="trace-context")


@contextmanager
def in_span(subject: Any) -> Iterator[S.Call]:
    """``subject``'s call made while an SDK span is the current span."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    span = TracerProvider().get_tracer("bench").start_span("bench")
    with trace.use_span(span, end_on_exit=True), subject as call:
        yield call


def off() -> Any:
    """nglogger with trace_context=False: emit is not wrapped."""
    return S.nglogger_info(trace_context=False)


def on_no_span() -> Any:
    """nglogger with trace_context=True and no active span."""
    return S.nglogger_info(trace_context=True)


def on_in_span() -> Any:
    """nglogger with trace_context=True inside an active span."""
    return in_span(S.nglogger_info(trace_context=True))


def test_floor(benchmark: Any) -> None:
    """Floor: the basic event dict + orjson.dumps + time.time_ns() + bytearray append."""
    S.run(benchmark, S.floor_info)


def test_off(benchmark: Any) -> None:
    """Trace correlation off (or OTel not installed): no wrapper around emit."""
    S.run(benchmark, off)


def test_on_no_span(benchmark: Any) -> None:
    """Trace correlation on, no span active: one context lookup per event."""
    S.run(benchmark, on_no_span)


def test_on_in_span(benchmark: Any) -> None:
    """Trace correlation on inside a span: trace_id, span_id and trace_flags added."""
    S.run(benchmark, on_in_span)


def _timeit(subject: Any, number: int = 200_000, repeat: int = 7) -> float:
    """Best mean seconds per call of ``subject``'s call, measured with ``timeit``."""
    with subject() as (function, args, kwargs):
        for _ in range(S.WARMUP_CALLS):
            function(*args, **kwargs)
        timer = timeit.Timer(lambda: function(*args, **kwargs))
        return min(timer.repeat(repeat=repeat, number=number)) / number


def _wrapper_overhead(number: int = 1_000_000, repeat: int = 9) -> tuple[float, float]:
    """The wrapper alone around a no-op emit, in ns: (no span, in span), minus the no-op call."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider

    from nglogger.otel import correlate

    def noop(event: dict[str, Any]) -> None:
        """Stands for the pipeline's emit."""

    wrapped = correlate(noop, True)
    event = {"timestamp": "t", "level": "info", "logger": "bench", "message": S.MESSAGE}

    def best(function: Any) -> float:
        timer = timeit.Timer(lambda: function(dict(event)))
        return min(timer.repeat(repeat=repeat, number=number)) / number * 1e9

    base = best(noop)
    idle = best(wrapped) - base
    span = TracerProvider().get_tracer("bench").start_span("bench")
    with trace.use_span(span, end_on_exit=True):
        active = best(wrapped) - base
    return idle, active


def main() -> None:
    """Print ns/call of each case, its ratio to the floor, and the wrapper's own cost."""
    floor = _timeit(S.floor_info)
    base = _timeit(off)
    rows = [("floor", floor), ("off", base)]
    rows += [("on, no span", _timeit(on_no_span)), ("on, in span", _timeit(on_in_span))]
    for name, seconds in rows:
        print(
            f"{name:12} {seconds * 1e9:7.0f} ns/call  {seconds / floor:5.2f}x floor"
            f"  {(seconds - base) * 1e9:+6.0f} ns vs off"
        )
    idle, active = _wrapper_overhead()
    print(f"wrapper alone: {idle:.0f} ns with no span, {active:.0f} ns in a span")


if __name__ == "__main__":
    main()
