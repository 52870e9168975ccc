"""nglogger.testing and the pytest plugin: log capture and memory budgets for users' tests."""

from __future__ import annotations

import copy
import logging
import re
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from unittest import mock

import orjson
import pytest

import nglogger
from nglogger._event import target as _target
from nglogger._pipeline import default as _default
from nglogger.sinks import MemorySink
from nglogger.testing import (
    LogCapture,
    MemoryBudgetExceeded,
    MemoryReport,
    capture_logs,
    check_budget,
    measure,
    memory_budget,
)

pytest_plugins = ["pytester"]

log = nglogger.get_logger("app")
#: A nested request context of ~2.5 KB of JSON.
BIG = {"items": [{"id": i, "tags": ["a", "b"], "meta": {"k": "v" * 20}} for i in range(30)]}
KEPT: list[nglogger.Logger] = []


def handle_normally() -> None:
    """A request handler that logs the way nglogger is meant to be used."""
    log.bind(request_id="3f2a", ctx=BIG).info("request handled", status=200)


def handle_with_deep_copies() -> None:
    """A request handler that deep-copies its context into a logger it keeps."""
    KEPT.append(log.bind(ctx=copy.deepcopy(BIG)))  # the culprit line
    log.info("request handled", status=200)


def line_of(text: str) -> int:
    """The line number of ``text`` in this file."""
    with open(__file__, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if text in line and "line_of(" not in line:
                return number
    raise AssertionError(text)


@pytest.fixture
def kept() -> Iterator[list[nglogger.Logger]]:
    """The deep-copying handler's kept loggers, emptied after the test."""
    yield KEPT
    KEPT.clear()


@pytest.fixture
def null_pipeline() -> nglogger.Pipeline:
    """A configured default pipeline whose sink discards everything."""
    return nglogger.configure(sinks=["null"], level="info")


# --------------------------------------------------------------------- capture


def test_capture_records_events_parsed_and_raw() -> None:
    """Events logged in the block come back parsed in order, and as raw JSON lines."""
    with capture_logs() as logs:
        log.debug("starting", step=1)
        log.info("user created", user_id=42, roles=("admin",))
        assert [e["message"] for e in logs.events] == ["starting", "user created"]
    assert logs.events[1] == {
        "timestamp": logs.events[1]["timestamp"],
        "level": "info",
        "logger": "app",
        "message": "user created",
        "user_id": 42,
        "roles": ["admin"],
    }
    assert [orjson.loads(line) for line in logs.lines] == logs.events


def test_capture_restores_the_configured_pipeline_without_shutting_it_down() -> None:
    """The previous default pipeline is put back, the same object, still running."""
    sink = MemorySink()
    previous = nglogger.configure(sinks=[sink], level="info")
    with capture_logs():
        assert _target.current is not previous
        log.info("captured")
    assert _target.current is previous
    log.info("after")
    nglogger.flush()
    assert [e["message"] for e in sink.events()] == ["after"]


def test_capture_restores_the_unconfigured_default() -> None:
    """With nothing configured before, nothing is configured after (no pipeline is built)."""
    with capture_logs():
        log.info("captured")
    assert _target.current is _default._LAZY


def test_configure_inside_capture_is_undone() -> None:
    """A pipeline configured inside the block is shut down and the previous default restored."""
    previous = nglogger.configure(sinks=["null"])
    with capture_logs():
        inner = nglogger.configure(sinks=["null"])
    assert _target.current is previous
    assert inner._closed


def test_nested_captures_each_see_their_own_events() -> None:
    """An inner capture records what is logged inside it; the outer one gets the rest."""
    with capture_logs() as outer:
        log.info("one")
        with capture_logs() as inner:
            log.info("two")
        log.info("three")
    assert [e["message"] for e in inner.events] == ["two"]
    assert [e["message"] for e in outer.events] == ["one", "three"]


def test_capture_sees_other_threads() -> None:
    """Events logged by another thread during the block are captured."""
    with capture_logs() as logs:
        thread = threading.Thread(target=lambda: log.warning("from a thread"))
        thread.start()
        thread.join()
        logs.assert_logged("from a thread", level="warning")


def test_capture_level_and_settings() -> None:
    """The capture level filters events; other settings reach the capture pipeline."""
    with capture_logs("warning", context={"service": "api"}) as logs:
        log.info("hidden")
        log.error("shown")
    assert [(e["message"], e["service"]) for e in logs.events] == [("shown", "api")]


def test_capture_rejects_sinks() -> None:
    """capture_logs records into its own sink; passing sinks is a TypeError."""
    with pytest.raises(TypeError, match="sinks"), capture_logs(sinks=["null"]):
        pass


def test_clear_forgets_events_logged_so_far() -> None:
    """clear() drops every event logged before it, buffered ones included."""
    with capture_logs() as logs:
        log.info("old")
        logs.clear()
        log.info("new")
        assert [e["message"] for e in logs.events] == ["new"]


def test_assert_logged_matches_fields_levels_patterns_and_json_forms() -> None:
    """Criteria compare with the logged JSON; patterns search; ANY matches anything present."""
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    with capture_logs() as logs:
        log.info("user 42 created", user={"id": 42, "tags": ("a", "b")}, at=when)
        log.warning("disk low", free=0.5)
    event = logs.assert_logged(re.compile(r"user \d+ created"), logger="app", level="info")
    assert event["message"] == "user 42 created"
    logs.assert_logged(user={"id": 42, "tags": ["a", "b"]}, at=when)
    logs.assert_logged(level="warn", free=mock.ANY)
    logs.assert_logged(level=30)
    assert logs.count() == 2
    assert logs.count(level="warning") == 1
    assert logs.count(free=mock.ANY) == 1
    logs.assert_not_logged(level="error")


def test_assert_logged_failure_lists_the_closest_events() -> None:
    """A failed assert_logged names the criteria and lists the closest events with differences."""
    with capture_logs() as logs:
        log.info("user created", user_id=41)
        log.warning("user deleted", user_id=42)
        log.info("unrelated")
    with pytest.raises(AssertionError) as failure:
        logs.assert_logged("user created", level="info", user_id=42)
    report = str(failure.value)
    lines = report.splitlines()
    assert lines[0] == (
        "assert_logged(message='user created', level='info', user_id=42): "
        "no captured event matches."
    )
    assert lines[1] == "3 events captured; closest first:"
    assert lines[2].startswith('  #1 {"timestamp":')
    assert '"message":"user created","user_id":41}' in lines[2]
    assert lines[3] == "      user_id: expected 42, got 41"
    assert lines[4].startswith("  #2 ")
    assert lines[5:7] == [
        "      message: expected 'user created', got 'user deleted'",
        "      level: expected 'info', got 'warning'",
    ]
    assert lines[7].startswith("  #3 ")
    assert lines[8:] == [
        "      message: expected 'user created', got 'unrelated'",
        "      user_id: missing",
    ]
    assert len(report) < 1_000


def test_assert_logged_failure_when_nothing_was_captured() -> None:
    """With no events at all, the report says so and names the capture level."""
    with capture_logs("error") as logs:
        log.info("below the level")
    with pytest.raises(AssertionError, match=r"No events were captured \(capture level: error"):
        logs.assert_logged("below the level")


def test_assert_not_logged_lists_the_matching_events() -> None:
    """assert_not_logged fails with the events that match."""
    with capture_logs() as logs:
        log.error("boom", code=1)
        log.error("boom", code=2)
    with pytest.raises(AssertionError) as failure:
        logs.assert_not_logged("boom", level="error")
    lines = str(failure.value).splitlines()
    assert lines[0] == "assert_not_logged(message='boom', level='error'): 2 captured events match:"
    assert [line[:5] for line in lines[1:]] == ["  #1 ", "  #2 "]


# ---------------------------------------------------------------------- memory


def test_measure_normal_logging_keeps_nothing(null_pipeline: nglogger.Pipeline) -> None:
    """Logging with a bound context retains no memory per call once flushed."""
    report = measure(handle_normally, calls=300, warmup=30)
    assert report.calls == 300
    assert abs(report.retained) < 8_192
    assert 0 < report.per_call_peak < 32_768
    assert report.per_call_peak <= report.per_call_peak_max
    assert null_pipeline.stats().accepted == 330


def test_measure_counts_what_the_code_path_keeps(
    null_pipeline: nglogger.Pipeline, kept: list[nglogger.Logger]
) -> None:
    """Loggers kept by the code path count as retained: at least their serialized context."""
    payload = len(nglogger.Logger("x").bind(ctx=BIG)._ctx.raw["ctx"])
    report = measure(handle_with_deep_copies, calls=100, warmup=0)
    assert report.retained_per_call >= payload
    assert report.retained == round(report.retained_per_call * 100)


def test_measure_leaves_tracemalloc_as_it_found_it(null_pipeline: nglogger.Pipeline) -> None:
    """measure starts and stops tracing itself, or leaves a running trace running."""
    assert not tracemalloc.is_tracing()
    measure(handle_normally, calls=5, warmup=0)
    assert not tracemalloc.is_tracing()
    tracemalloc.start()
    try:
        measure(handle_normally, calls=5, warmup=0)
        assert tracemalloc.is_tracing()
    finally:
        tracemalloc.stop()


def test_measure_isolated_uses_a_discarding_copy_of_the_pipeline() -> None:
    """isolated=True sends nothing to the configured sinks and restores the default after."""
    sink = MemorySink()
    previous = nglogger.configure(sinks=[sink], level="info")
    report = measure(handle_normally, calls=20, warmup=5, isolated=True)
    assert report.calls == 20
    assert _target.current is previous
    nglogger.flush()
    assert sink.received == 0


def test_measure_excludes_what_a_capture_sink_keeps() -> None:
    """Events kept by a capture's sink are pipeline storage, not retained by the code path."""
    with capture_logs() as logs:
        report = measure(handle_normally, calls=200, warmup=20)
    assert len(logs.events) == 220
    assert abs(report.retained) < 8_192
    assert report.pipeline_bytes > 200 * 1_000


def test_measure_ignores_the_records_pytest_keeps(caplog: pytest.LogCaptureFixture) -> None:
    """Stdlib records kept by pytest's log capture are not retained by the code path."""
    std = logging.getLogger("legacy")
    report = measure(lambda: std.warning("disk %s", "low"), calls=300, warmup=10)
    assert abs(report.retained) < 8_192
    std.warning("after the measure")
    assert caplog.messages == ["after the measure"]


def test_memory_budget_object_checks_and_keeps_its_report(null_pipeline: nglogger.Pipeline) -> None:
    """budget(fn) checks with the budget's settings and keeps the report."""
    budget = memory_budget(per_call_bytes=65_536, calls=20, warmup=2)
    report = budget(handle_normally)
    assert (report.calls, report.warmup, budget.report) == (20, 2, report)
    assert budget.measure(handle_normally).calls == 20


def test_check_budget_passes_normal_logging(null_pipeline: nglogger.Pipeline) -> None:
    """A normal logging path stays within a modest budget."""
    report = check_budget(
        handle_normally, per_call_bytes=32_768, retained_bytes=16_384, calls=300, warmup=30
    )
    assert report.retained <= 16_384


@pytest.mark.slow
def test_check_budget_names_the_line_that_keeps_deep_copies(
    null_pipeline: nglogger.Pipeline, kept: list[nglogger.Logger]
) -> None:
    """Keeping deep-copied context fails the retained budget, naming the culprit line."""
    with pytest.raises(MemoryBudgetExceeded) as failure:
        check_budget(handle_with_deep_copies, retained_bytes=16_384, calls=100, warmup=5)
    report = failure.value.report
    assert report.retained > 100 * 2_000
    site = report.retained_sites[0]
    assert (site.filename, site.lineno) == (__file__, line_of("# the culprit line"))
    assert site.size > 2_000
    text = str(failure.value)
    assert "EXCEEDED" in text
    assert f"test_plugin.py:{site.lineno}" in text
    assert "KEPT.append(log.bind(ctx=copy.deepcopy(BIG)))" in text


@pytest.mark.slow
def test_check_budget_names_the_line_of_a_transient_peak(null_pipeline: nglogger.Pipeline) -> None:
    """A per-call peak over budget is located by a snapshot near the peak of one call."""

    def handler() -> None:
        log.bind(ctx=copy.deepcopy(BIG)).info("handled")  # transient copy

    with pytest.raises(MemoryBudgetExceeded) as failure:
        check_budget(handler, per_call_bytes=2_000, calls=50, warmup=5)
    report = failure.value.report
    assert report.per_call_peak > 2_000
    culprit = (__file__, line_of("# transient copy"))
    site = report.peak_sites[0]
    assert (site.filename, site.lineno) == culprit
    assert culprit not in [(kept.filename, kept.lineno) for kept in report.retained_sites]


def test_memory_budget_block_form() -> None:
    """As a context manager, memory_budget measures the block once and checks at its end."""
    nglogger.configure(sinks=["null"])
    handle_normally()
    with memory_budget(retained_bytes=16_384) as budget:
        for _ in range(50):
            handle_normally()
    assert budget.report is not None
    assert budget.report.retained <= 16_384
    keep = []
    with (
        pytest.raises(MemoryBudgetExceeded, match="as one block"),
        memory_budget(retained_bytes=16_384),
    ):
        keep.extend(copy.deepcopy(BIG) for _ in range(20))


def test_memory_budget_block_does_not_check_when_the_block_raises() -> None:
    """An exception inside the block propagates unchanged, with no budget check."""
    keep = []

    def block() -> None:
        with memory_budget(retained_bytes=1):
            keep.append(copy.deepcopy(BIG))
            raise KeyError("boom")

    with pytest.raises(KeyError, match="boom"):
        block()


def test_budget_arguments_are_validated() -> None:
    """A budget needs a limit, at least one call and a non-negative warm-up."""
    with pytest.raises(ValueError, match="per_call_bytes and/or retained_bytes"):
        memory_budget()
    with pytest.raises(ValueError, match="calls=0"):
        measure(handle_normally, calls=0)
    with pytest.raises(ValueError, match="warmup=-1"):
        memory_budget(retained_bytes=1, warmup=-1)


# ------------------------------------------------------------------ the plugin

INI = """
[pytest]
addopts = --strict-markers -p no:cacheprovider
filterwarnings = error
xfail_strict = true
"""

CAPTURE_TESTS = """
import nglogger

log = nglogger.get_logger("shop")


def test_order_is_logged(nglogger_capture):
    log.info("order placed", order_id=7, total=12.5)
    event = nglogger_capture.assert_logged("order placed", order_id=7)
    assert event["total"] == 12.5


def test_wrong_order_id(nglogger_capture):
    log.info("order placed", order_id=7)
    nglogger_capture.assert_logged("order placed", order_id=8)
"""

BUDGET_TESTS = """
import copy

import pytest

import nglogger

log = nglogger.get_logger("shop")
CART = {"lines": [{"sku": i, "tags": ["x", "y"], "note": "n" * 20} for i in range(30)]}
kept = []


@pytest.fixture(autouse=True)
def _null_pipeline():
    nglogger.configure(sinks=["null"])
    yield
    nglogger.shutdown()


def handle_normally():
    log.bind(cart=CART).info("checkout")


def handle_with_deep_copies():
    kept.append(log.bind(cart=copy.deepcopy(CART)))
    log.info("checkout")


@pytest.mark.nglogger_memory_budget(per_call_bytes=65_536, retained_bytes=16_384, calls=200)
def test_normal_logging_fits(nglogger_memory_budget):
    report = nglogger_memory_budget(handle_normally)
    assert report.calls == 200


@pytest.mark.nglogger_memory_budget(retained_bytes=16_384, calls=200)
def test_deep_copies_blow_the_budget(nglogger_memory_budget):
    nglogger_memory_budget(handle_with_deep_copies, calls=100, warmup=5)


@pytest.mark.nglogger_memory_budget(retained_bytes=16_384, isolated=True)
def test_marked_body_normal():
    for _ in range(50):
        handle_normally()


@pytest.mark.nglogger_memory_budget(retained_bytes=16_384)
def test_marked_body_keeps_copies():
    for _ in range(50):
        handle_with_deep_copies()
"""


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with strict markers and warnings as errors."""
    pytester.makeini(INI)
    return pytester


def test_plugin_capture_fixture(project: pytest.Pytester) -> None:
    """nglogger_capture passes a matching assertion and fails a wrong one with a readable report."""
    project.makepyfile(test_capture=CAPTURE_TESTS)
    result = project.runpytest()
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            (
                "*AssertionError: assert_logged(message='order placed', order_id=8): "
                "no captured event matches."
            ),
            "*1 event captured; closest first:",
            '*#1 {"timestamp":*"logger":"shop","message":"order placed","order_id":7}',
            "*order_id: expected 8, got 7",
        ]
    )


@pytest.mark.slow
def test_plugin_memory_budget(project: pytest.Pytester) -> None:
    """The marker and fixture pass normal logging and fail a deep-copy path, naming its line."""
    project.makepyfile(test_budget=BUDGET_TESTS)
    result = project.runpytest()
    result.assert_outcomes(passed=2, failed=2)
    source = (project.path / "test_budget.py").read_text().splitlines()
    culprit = source.index("    kept.append(log.bind(cart=copy.deepcopy(CART)))") + 1
    result.stdout.fnmatch_lines(
        [
            "*_ test_deep_copies_blow_the_budget _*",
            (
                "memory budget exceeded: memory of handle_with_deep_copies (test_budget.py:*) "
                "(100 calls after 5 warm-up):"
            ),
            "  retained *B/call)  budget     16,384 B  EXCEEDED",
            "kept after the calls, allocated at (your code and nglogger):",
            f"  1. * B/call (* blocks) at test_budget.py:{culprit} (inside nglogger/*",
            "       kept.append(log.bind(cart=copy.deepcopy(CART)))",
            "*_ test_marked_body_keeps_copies _*",
            (
                "memory budget exceeded: memory of the body of "
                "test_budget.py::test_marked_body_keeps_copies (as one block):"
            ),
            "  retained * budget     16,384 B  EXCEEDED",
            "kept after the block, allocated at (your code and nglogger):",
            f"  1. * B/block (* blocks) at test_budget.py:{culprit} (inside nglogger/*",
        ]
    )
    assert "Traceback" not in result.stdout.str()


def test_plugin_marker_misuse_is_a_usage_error(project: pytest.Pytester) -> None:
    """Unknown marker arguments, and calls= without the fixture, are reported as errors."""
    project.makepyfile(
        test_misuse="""
        import pytest

        @pytest.mark.nglogger_memory_budget(retained=1)
        def test_typo(nglogger_memory_budget):
            pass

        @pytest.mark.nglogger_memory_budget(retained_bytes=1, calls=10)
        def test_calls_without_fixture():
            pass
        """
    )
    result = project.runpytest()
    result.stdout.fnmatch_lines(
        ["*unknown argument(s) retained; accepted: per_call_bytes, retained_bytes*"]
    )
    result.stdout.fnmatch_lines(["*nglogger_memory_budget(calls=...) applies to the*"])


@pytest.mark.slow
def test_plugin_loads_from_its_entry_point(project: pytest.Pytester) -> None:
    """A fresh pytest process gets the marker and fixtures from the installed entry point."""
    project.makepyfile(test_capture=CAPTURE_TESTS)
    result = project.runpytest_subprocess("--markers")
    result.stdout.fnmatch_lines(["@pytest.mark.nglogger_memory_budget(per_call_bytes=None, *"])
    result = project.runpytest_subprocess("-k", "test_order_is_logged")
    result.assert_outcomes(passed=1, deselected=1)


def test_log_capture_type_is_exported() -> None:
    """The capture object has the documented type."""
    with capture_logs() as logs:
        pass
    assert isinstance(logs, LogCapture)


def test_capture_sees_stdlib_records_without_install(nglogger_capture: LogCapture) -> None:
    """The capture fixture records stdlib logging too, though install() was never called."""
    import logging

    logging.getLogger("plain.stdlib").info("from logging %s", "too", extra={"order_id": 7})
    nglogger.get_logger("native").info("native")
    nglogger_capture.assert_logged("from logging too", level="info", order_id=7)
    nglogger_capture.assert_logged("native")


def test_memory_budget_fixture_writes_nothing_to_the_configured_sinks(
    nglogger_memory_budget: Callable[..., MemoryReport],
) -> None:
    """By default the budget measures an isolated copy: the ~1,100 calls print nothing."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink])
    log = nglogger.get_logger("budgeted")
    nglogger_memory_budget(lambda: log.info("measured"), retained_bytes=1 << 20)
    nglogger_memory_budget(
        lambda: log.info("real"), retained_bytes=1 << 20, calls=5, warmup=1, isolated=False
    )
    assert nglogger.flush(5)
    assert {e["message"] for e in sink.events()} == {"real"}
