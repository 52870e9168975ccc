"""pytest plugin: log capture and memory budgets for projects that log with nglogger.

Installed with nglogger (entry point ``pytest11``: ``nglogger``) and active in
every pytest run; disable it with ``-p no:nglogger``. Unused, it costs one
marker registration: :mod:`nglogger.testing` loads on first use of a fixture
or of the marker.

``nglogger_capture``: the events logged during the test, parsed (a
:class:`nglogger.testing.LogCapture`)::

    def test_creates_user(nglogger_capture):
        create_user("ada")
        nglogger_capture.assert_logged("user created", level="info", name="ada")
        nglogger_capture.assert_not_logged(level="error")

``nglogger_memory_budget``: ``budget(fn)`` calls ``fn()`` many times under
tracemalloc and fails the test with a report naming the lines responsible when
the per-call peak or the retained memory is over the limits of the
``nglogger_memory_budget`` marker, or of keyword arguments (which win)::

    @pytest.mark.nglogger_memory_budget(per_call_bytes=16_384, retained_bytes=65_536)
    def test_handler_memory(nglogger_memory_budget):
        report = nglogger_memory_budget(lambda: handle(REQUEST))
        assert report.retained_per_call < 64

    def test_other(nglogger_memory_budget):
        nglogger_memory_budget(lambda: handle(REQUEST), retained_bytes=65_536, calls=200)

The marker on a test that does not use the fixture measures the test body as
one block (``retained_bytes`` bounds what the body keeps after it returns;
``per_call_bytes`` the body's peak; ``calls`` and ``warmup`` do not apply).
See :mod:`nglogger.testing` for the exact definitions of the measures.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Generator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from .testing import LogCapture, MemoryReport

__all__ = [
    "nglogger_capture",
    "nglogger_memory_budget",
    "pytest_configure",
    "pytest_runtest_call",
]

MARKER = "nglogger_memory_budget"
_SETTINGS = ("per_call_bytes", "retained_bytes", "calls", "warmup", "isolated")


def pytest_configure(config: pytest.Config) -> None:
    """Register the marker (so ``--strict-markers`` accepts it)."""
    config.addinivalue_line(
        "markers",
        f"{MARKER}(per_call_bytes=None, retained_bytes=None, calls=1000, warmup=100, "
        "isolated=True): memory limits for the nglogger_memory_budget fixture (isolated: "
        "the configured limits with a NullSink; isolated=False measures the real sinks); "
        "without the fixture, limits for the test body measured as one block, with the "
        "sinks configured (nglogger.testing).",
    )


def _marker_settings(item: pytest.Item) -> dict[str, Any]:
    """The marker's keyword arguments, checked."""
    marker = item.get_closest_marker(MARKER)
    if marker is None:
        return {}
    if marker.args:
        raise pytest.UsageError(f"{MARKER} takes keyword arguments only, e.g. retained_bytes=65536")
    unknown = sorted(set(marker.kwargs) - set(_SETTINGS))
    if unknown:
        raise pytest.UsageError(
            f"{MARKER}: unknown argument(s) {', '.join(unknown)}; accepted: {', '.join(_SETTINGS)}"
        )
    return dict(marker.kwargs)


@pytest.fixture
def nglogger_capture() -> Iterator[LogCapture]:
    """Everything logged through nglogger during the test, at DEBUG and above."""
    from .testing import capture_logs

    with capture_logs() as capture:
        yield capture


@pytest.fixture
def nglogger_memory_budget(request: pytest.FixtureRequest) -> Callable[..., MemoryReport]:
    """``budget(fn, **limits)``: measure ``fn`` and fail the test if over the limits."""
    from .testing import MemoryBudgetExceeded, check_budget

    defaults = _marker_settings(request.node)

    def budget(fn: Callable[[], object], **overrides: Any) -> MemoryReport:
        """Measure ``fn`` (marker settings, overridden by keywords); fail the test if over."""
        __tracebackhide__ = True
        unknown = sorted(set(overrides) - set(_SETTINGS))
        if unknown:
            raise TypeError(f"unknown argument(s) {', '.join(unknown)}; accepted: {_SETTINGS}")
        # isolated by default: the configured limits, a NullSink, so the ~1,100 calls do
        # not print into the test's captured output (isolated=False measures real sinks)
        try:
            return check_budget(fn, **{"isolated": True, **defaults, **overrides})
        except MemoryBudgetExceeded as exc:
            message = str(exc)
        pytest.fail(message, pytrace=False)  # outside the except: no chained traceback

    return budget


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    """For a marked test that does not use the fixture, measure its body as one block."""
    if item.get_closest_marker(MARKER) is None or MARKER in getattr(item, "fixturenames", ()):
        return (yield)
    settings = _marker_settings(item)
    for name in ("calls", "warmup"):
        if name in settings:
            raise pytest.UsageError(
                f"{MARKER}({name}=...) applies to the {MARKER} fixture; without it the test "
                "body is measured once, as a block"
            )
    from .testing import MemoryBudgetExceeded, memory_budget

    try:
        with memory_budget(**settings):
            result = yield
    except MemoryBudgetExceeded as exc:
        report = dataclasses.replace(exc.report, label=f"the body of {item.nodeid}")
        message = str(MemoryBudgetExceeded(report, exc.per_call_bytes, exc.retained_bytes))
    else:
        return result
    pytest.fail(message, pytrace=False)  # outside the except: no chained traceback
