"""``loss_report``: one ``nglogger loss report`` event per interval through every sink,
with the drops since the previous one by reason and by sink; nothing when nothing was lost."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

import nglogger
from nglogger._delivery.retry import CircuitBreaker, RetryPolicy
from nglogger._pipeline.report import LossReport
from nglogger.sinks import HttpSink, MemorySink
from tests.support.http import LoopbackServer, Request
from tests.support.waiting import require

MESSAGE = "nglogger loss report"


def _reports(sink: MemorySink) -> list[dict[str, Any]]:
    return [e for e in sink.events() if e.get("message") == MESSAGE]


def _pipeline(sink: Any, interval: float, **settings: Any) -> nglogger.Pipeline:
    settings.setdefault("buffer_max_events", 10)
    settings.setdefault("batch_max_events", 10)
    return nglogger.Pipeline(
        nglogger.Config(
            sinks=[sink],
            flush_interval=0.01,
            report_interval=0,  # the other report stays out of the counts
            loss_report=interval,
            **settings,
        )
    )


def _ticks(pipeline: nglogger.Pipeline, n: int) -> None:
    """Wait until the batcher has looked at the loss report ``n`` more times."""
    report = pipeline._loss_report
    assert report is not None
    after = report._next + (n - 1) * report.interval
    require(lambda: report._next > after)


def _buffer_full(pipeline: nglogger.Pipeline) -> int:
    return pipeline.stats().dropped.get("buffer_full", 0)


def test_one_report_per_interval_with_the_exact_deltas() -> None:
    """Each burst's buffer_full drops are reported once, exactly, in the next interval."""
    sink = MemorySink()
    pipeline = _pipeline(sink, 0.3)
    try:
        for burst in range(2):
            _ticks(pipeline, 1)  # just after a report check: the next is 0.3 s away
            before = _buffer_full(pipeline)
            for i in range(100):  # far more than the 10-event buffer holds
                pipeline.emit({"message": "burst", "i": i})
            lost = _buffer_full(pipeline) - before
            assert lost > 0
            assert pipeline.flush(5)
            require(lambda n=burst: len(_reports(sink)) == n + 1)
            report = _reports(sink)[-1]
            assert report["level"] == "warning"
            assert report["logger"] == "nglogger"
            assert report["nglogger_dropped"] == {"pipeline": {"buffer_full": lost}, "sinks": {}}
            assert report["nglogger_dropped_total"] == lost
        _ticks(pipeline, 2)  # two more intervals, nothing lost: nothing more said
        assert pipeline.flush(5)
        assert len(_reports(sink)) == 2
    finally:
        pipeline.shutdown(2)


def test_no_report_when_nothing_was_dropped() -> None:
    sink = MemorySink()
    pipeline = _pipeline(sink, 0.05)
    try:
        for i in range(5):
            pipeline.emit({"message": "fine", "i": i})
        _ticks(pipeline, 3)
        assert pipeline.flush(5)
        assert pipeline.stats().total_dropped == 0
        assert [e["message"] for e in sink.events()] == ["fine"] * 5
    finally:
        pipeline.shutdown(2)


def test_off_by_default() -> None:
    assert nglogger.Config().loss_report is None
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[MemorySink()]))
    try:
        assert pipeline._loss_report is None
    finally:
        pipeline.shutdown(2)


def test_the_setting_and_its_variable() -> None:
    from nglogger._config.fields import _parse_loss_report

    assert _parse_loss_report("60s") == 60.0
    assert _parse_loss_report("500ms") == 0.5
    assert _parse_loss_report("off") is None
    assert _parse_loss_report("0") is None
    for bad in (0, -1.0, float("inf"), "60s", True):
        with pytest.raises(nglogger.ConfigError):
            nglogger.Config(loss_report=bad)


def test_deltas_by_sink_and_a_counter_that_went_back() -> None:
    """Only the counts that grew are listed; a counter reset (forked child) counts from 0."""
    from nglogger._core.stats import SinkStats, Stats

    report = LossReport(1.0, 0.0)
    assert not report.due(0.5)
    assert report.due(1.0)
    assert not report.due(1.5)
    first = Stats(
        dropped={"buffer_full": 3},
        sinks={"a": SinkStats(dropped={"sink_queue_full": 4}), "b": SinkStats()},
    )
    assert report.deltas(first) == {
        "pipeline": {"buffer_full": 3},
        "sinks": {"a": {"sink_queue_full": 4}},
    }
    assert report.deltas(first) is None
    second = Stats(
        dropped={"buffer_full": 3, "too_large": 1},
        sinks={"a": SinkStats(dropped={"sink_queue_full": 4, "breaker_open": 2})},
    )
    event = report.event(second)
    assert event is not None
    assert event["nglogger_dropped"] == {
        "pipeline": {"too_large": 1},
        "sinks": {"a": {"breaker_open": 2}},
    }
    assert event["nglogger_dropped_total"] == 3
    reset = Stats(dropped={"buffer_full": 1})
    assert report.deltas(reset) == {"pipeline": {"buffer_full": 1}, "sinks": {}}


def test_the_report_reaches_an_http_sink_after_an_outage() -> None:
    """During 503s the sink drops events; once the server answers 200 the loss report
    (counting those drops, by reason, under the sink's name) is delivered."""
    healthy = threading.Event()
    delivered: list[dict[str, Any]] = []
    lock = threading.Lock()

    def respond(request: Request) -> tuple[int, dict[str, str], bytes]:
        if not healthy.is_set():
            return 503, {}, b""
        with lock:
            delivered.extend(request.ndjson())
        return 200, {}, b""

    with LoopbackServer(respond) as server:
        sink = HttpSink(
            f"{server.url}/logs",
            retry=RetryPolicy(base=0.01, cap=0.05),
            breaker=CircuitBreaker(
                failure_threshold=3,
                open_duration=0.05,
                max_open_duration=0.2,
                rng=random.Random(7).random,
            ),
            rng=random.Random(11).random,
            timeout=1.0,
            connect_timeout=1.0,
        )
        pipeline = _pipeline(
            sink,
            0.2,
            buffer_max_events=1000,
            batch_max_events=5,
            sink_queue_max_events=10,
        )
        try:
            (name,) = pipeline.stats().sinks

            def sink_drops() -> int:
                return sum(pipeline.stats().sinks[name].dropped.values())

            for i in range(200):
                pipeline.emit({"message": "during outage", "i": i})
            require(lambda: sink_drops() > 0)
            healthy.set()

            def reports() -> list[dict[str, Any]]:
                with lock:
                    return [e for e in delivered if e.get("message") == MESSAGE]

            def all_reported() -> bool:
                total = pipeline.stats().total_dropped
                return total > 0 and sum(r["nglogger_dropped_total"] for r in reports()) == total

            require(all_reported)
            stats = pipeline.stats()
            assert stats.dropped == {}
            by_reason: dict[str, int] = {}
            for report in reports():
                assert report["level"] == "warning"
                assert set(report["nglogger_dropped"]) == {"pipeline", "sinks"}
                assert set(report["nglogger_dropped"]["sinks"]) <= {name}
                for reason, n in report["nglogger_dropped"]["sinks"].get(name, {}).items():
                    by_reason[reason] = by_reason.get(reason, 0) + n
            assert by_reason == dict(stats.sinks[name].dropped)
        finally:
            pipeline.shutdown(5)


def test_the_drop_counter_matches_the_report() -> None:
    """``nglogger.otel.instrument``'s ``nglogger.events.dropped`` counter (reason, sink)
    reads the same exact counters: after the first report it equals that report's counts."""
    pytest.importorskip("opentelemetry.sdk.metrics")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    from nglogger.otel import instrument

    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    sink = MemorySink()
    pipeline = _pipeline(sink, 0.2)
    try:
        instrumentation = instrument(provider, pipeline)
        _ticks(pipeline, 1)
        for i in range(50):
            pipeline.emit({"message": "burst", "i": i})
        assert pipeline.flush(5)
        require(lambda: len(_reports(sink)) == 1)
        [report] = _reports(sink)
        data = reader.get_metrics_data()
        assert data is not None
        points = {
            tuple(sorted(point.attributes.items())): point.value
            for rm in data.resource_metrics
            for sm in rm.scope_metrics
            for metric in sm.metrics
            if metric.name == "nglogger.events.dropped"
            for point in metric.data.data_points
        }
        assert points == {(("reason", "buffer_full"),): report["nglogger_dropped_total"]}
        instrumentation.stop()
    finally:
        pipeline.shutdown(2)
        provider.shutdown()


def test_requests_that_did_not_fail_are_not_reported_as_losses() -> None:
    """held_discarded (a hold ended without its trigger) is counted, never reported as lost."""
    sink = MemorySink()
    nglogger.configure(
        nglogger.Config(sinks=[sink], flush_interval=0.01, report_interval=0.05, loss_report=0.05)
    )
    try:
        pipeline = nglogger.get_pipeline()
        log = nglogger.get_logger("request")
        for i in range(3):
            with nglogger.hold():
                log.debug("detail", i=i)
                log.info("handled", i=i)
        require(lambda: pipeline.stats().dropped.get("held_discarded", 0) == 6)
        _ticks(pipeline, 2)  # two loss-report checks (and drop-report checks) since
        assert pipeline.flush(5)
        said = [e for e in sink.events() if e.get("logger") == "nglogger"]
        assert said == [], said
    finally:
        nglogger.shutdown(2)
