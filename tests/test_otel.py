"""OpenTelemetry integration: trace ids on events inside spans, and nglogger's stats as metrics."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from support.http import RecordingServer

import nglogger
from nglogger import Config, ConfigError, otel
from nglogger._config.sampling import Sampling
from nglogger._delivery.retry import RetryPolicy
from nglogger._event import trace as _trace
from nglogger.sinks import MemorySink
from nglogger.sinks.otlp import OTLP_RETRYABLE, OtlpLogsSink
from nglogger.stdlib import LoggingHandler
from tests.test_otlp import attributes, decode, records

DEADLINE = 5.0
TRACE_FIELDS = ("trace_id", "span_id", "trace_flags")


@pytest.fixture
def tracer() -> trace.Tracer:
    """A tracer from an SDK TracerProvider (not installed globally)."""
    return TracerProvider().get_tracer("test_otel")


def ids(span: trace.Span) -> dict[str, str]:
    """The trace fields an event logged inside ``span`` must carry."""
    context = span.get_span_context()
    return {
        "trace_id": f"{context.trace_id:032x}",
        "span_id": f"{context.span_id:016x}",
        "trace_flags": f"{int(context.trace_flags):02x}",
    }


def trace_part(event: dict[str, Any]) -> dict[str, Any]:
    return {k: event[k] for k in TRACE_FIELDS if k in event}


@pytest.fixture(params=["fast", "public"])
def lookup(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Both span lookups: OTel's context variable read directly, and get_current_span()."""
    if request.param == "public":
        monkeypatch.setattr(_trace, "_span_lookup", lambda: None)
    return str(request.param)


# ---------------------------------------------------------------------------- correlation


def test_native_events_inside_spans_carry_their_ids(
    tracer: trace.Tracer, lookup: str, memory_sink: MemorySink
) -> None:
    """Inside a span an event gets its trace_id/span_id/trace_flags; nested spans, their own."""
    nglogger.configure(Config(sinks=[memory_sink], trace_context=True, flush_interval=0.05))
    log = nglogger.get_logger("traced")
    log.info("before")
    with tracer.start_as_current_span("outer") as outer:
        log.info("outer")
        with tracer.start_as_current_span("inner") as inner:
            log.info("inner")
        log.info("outer again")
    log.info("after")
    assert nglogger.flush(DEADLINE)
    got = {e["message"]: trace_part(e) for e in memory_sink.events()}
    assert {
        "before": {},
        "outer": ids(outer),
        "inner": ids(inner),
        "outer again": ids(outer),
        "after": {},
    } == got
    assert ids(inner)["trace_id"] == ids(outer)["trace_id"]
    assert len(got["inner"]["trace_id"]) == 32
    assert len(got["inner"]["span_id"]) == 16
    assert int(got["inner"]["trace_flags"], 16) & 0x01  # sampled (the SDK also sets 0x02, random)


def test_stdlib_records_inside_spans_carry_their_ids(
    tracer: trace.Tracer, lookup: str, memory_sink: MemorySink
) -> None:
    """Records through the stdlib LoggingHandler get the same fields (same emit wrapper)."""
    nglogger.configure(Config(sinks=[memory_sink], trace_context=True, flush_interval=0.05))
    std = logging.getLogger("test_otel.std")
    std.propagate = False
    std.setLevel(logging.INFO)
    std.handlers[:] = [LoggingHandler()]
    try:
        with tracer.start_as_current_span("request") as span:
            std.info("handled %s", "GET /")
        std.info("outside")
    finally:
        std.handlers[:] = []
        std.setLevel(logging.NOTSET)
    assert nglogger.flush(DEADLINE)
    got = {e["message"]: trace_part(e) for e in memory_sink.events()}
    assert {"handled GET /": ids(span), "outside": {}} == got


def test_an_explicit_trace_id_is_not_overridden(
    tracer: trace.Tracer, lookup: str, memory_sink: MemorySink
) -> None:
    """A trace_id passed by the caller wins over the active span's."""
    nglogger.configure(Config(sinks=[memory_sink], trace_context=True, flush_interval=0.05))
    with tracer.start_as_current_span("span"):
        nglogger.get_logger("x").info("mine", trace_id="f" * 32)
    assert nglogger.flush(DEADLINE)
    [event] = memory_sink.events()
    assert {"trace_id": "f" * 32} == trace_part(event)


def test_unsampled_and_invalid_span_contexts(lookup: str, memory_sink: MemorySink) -> None:
    """A valid unsampled context gives trace_flags "00"; an invalid one adds nothing."""
    nglogger.configure(Config(sinks=[memory_sink], trace_context=True, flush_interval=0.05))
    log = nglogger.get_logger("x")
    unsampled = NonRecordingSpan(
        SpanContext(0x1234, 0x56, is_remote=True, trace_flags=TraceFlags(0))
    )
    with trace.use_span(unsampled):
        log.info("unsampled")
    with trace.use_span(trace.INVALID_SPAN):
        log.info("invalid")
    assert nglogger.flush(DEADLINE)
    got = {e["message"]: trace_part(e) for e in memory_sink.events()}
    assert {
        "unsampled": {"trace_id": f"{0x1234:032x}", "span_id": f"{0x56:016x}", "trace_flags": "00"},
        "invalid": {},
    } == got


def test_off_means_no_wrapper_at_all(tracer: trace.Tracer, memory_sink: MemorySink) -> None:
    """trace_context=False leaves emit unwrapped and events without trace fields."""
    pipeline = nglogger.configure(Config(sinks=[memory_sink], trace_context=False))
    assert "emit" == pipeline.emit.__name__
    with tracer.start_as_current_span("span"):
        nglogger.get_logger("x").info("plain")
    assert nglogger.flush(DEADLINE)
    assert {} == trace_part(memory_sink.events()[0])
    on = nglogger.configure(Config(sinks=[MemorySink()], trace_context=True))
    assert "traced_emit" == on.emit.__name__


def test_auto_mode_follows_whether_the_app_imported_opentelemetry() -> None:
    """Auto is on here (opentelemetry.trace is imported) and off, without importing it, elsewhere."""
    pipeline = nglogger.configure(Config(sinks=[MemorySink()]))
    assert pipeline.config.trace_context is None
    assert "traced_emit" == pipeline.emit.__name__
    code = (
        "import sys, nglogger; "
        "p = nglogger.Pipeline(nglogger.Config(sinks=['null'])); "
        "print(p.emit.__name__, 'opentelemetry' in sys.modules); p.shutdown(1)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "emit False" == out.stdout.strip()


def test_on_without_opentelemetry_is_a_config_error() -> None:
    """trace_context=True without opentelemetry installed raises ConfigError naming the extra."""
    code = (
        "import sys; sys.modules['opentelemetry'] = None; import nglogger\n"
        "try:\n"
        "    nglogger.Pipeline(nglogger.Config(sinks=['null'], trace_context=True))\n"
        "except nglogger.ConfigError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert "trace_context=True is invalid" in out.stdout
    assert "nglogger[otel]" in out.stdout


def test_trace_context_setting_is_validated_and_read_from_the_environment() -> None:
    """trace_context accepts True/False/None; NGLOGGER_TRACE_CONTEXT takes booleans or auto."""
    with pytest.raises(ConfigError, match="trace_context='yes' is invalid"):
        Config(trace_context="yes")  # type: ignore[arg-type]
    assert Config.from_env({"NGLOGGER_TRACE_CONTEXT": "off"}).trace_context is False
    assert Config.from_env({"NGLOGGER_TRACE_CONTEXT": "1"}).trace_context is True
    assert Config.from_env({"NGLOGGER_TRACE_CONTEXT": "auto"}).trace_context is None
    with pytest.raises(ConfigError, match="NGLOGGER_TRACE_CONTEXT"):
        Config.from_env({"NGLOGGER_TRACE_CONTEXT": "sometimes", "NGLOGGER_CONFIG_ERRORS": "raise"})


def test_trace_fields_helper(tracer: trace.Tracer) -> None:
    """trace_fields() gives the active span's fields, or nothing outside a span."""
    assert {} == otel.trace_fields()
    with tracer.start_as_current_span("s") as span:
        assert ids(span) == otel.trace_fields()


def test_spans_reach_the_otlp_record(tracer: trace.Tracer) -> None:
    """Through the OTLP sink, an event logged in a span carries that span's ids as bytes."""
    with RecordingServer() as server:
        sink = OtlpLogsSink(f"{server.url}/v1/logs", resource={"service.name": "t"})
        nglogger.configure(Config(sinks=[sink], trace_context=True, flush_interval=0.05))
        with tracer.start_as_current_span("op") as span:
            nglogger.get_logger("otlp").info("in span")
        assert nglogger.flush(DEADLINE)
        [request] = server.wait_for(1)
        [(_, record)] = records([decode(request)])
    context = span.get_span_context()
    expected = (context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big"))
    assert (*expected, int(context.trace_flags)) == (
        record.trace_id,
        record.span_id,
        record.flags,
    )
    assert {} == {k: v for k, v in attributes(record).items() if k in TRACE_FIELDS}


# ---------------------------------------------------------------------------- metrics


@pytest.fixture
def reader() -> Iterator[InMemoryMetricReader]:
    """An in-memory metric reader on a fresh MeterProvider (``reader.provider``)."""
    metric_reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[metric_reader])
    metric_reader.provider = provider  # type: ignore[attr-defined]
    yield metric_reader
    provider.shutdown()


def points(reader: InMemoryMetricReader) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """nglogger's metrics: name -> {sorted attributes: value}."""
    data = reader.get_metrics_data()
    out: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for resource_metrics in data.resource_metrics if data else ():
        for scope_metrics in resource_metrics.scope_metrics:
            if scope_metrics.scope.name != "nglogger":
                continue
            for metric in scope_metrics.metrics:
                out[metric.name] = {
                    tuple(sorted(p.attributes.items())): p.value for p in metric.data.data_points
                }
    return out


def test_self_metrics_report_the_pipeline_stats(reader: InMemoryMetricReader) -> None:
    """Accepted, dropped (reason, sink), exported, buffer, retries and breaker state are visible."""
    with RecordingServer() as server:
        replies = iter([503])
        server.set_responder(lambda _r: (next(replies, 200), {}, b""))
        otlp = OtlpLogsSink(
            f"{server.url}/v1/logs",
            resource={"service.name": "m"},
            retry=RetryPolicy(base=0.01, cap=0.02, retryable_statuses=OTLP_RETRYABLE),
        )
        memory = MemorySink()
        pipeline = nglogger.Pipeline(
            Config(
                sinks=[otlp, memory],
                sample=Sampling.parse("debug=0"),
                flush_interval=5.0,
                level="debug",
            )
        )
        try:
            handle = otel.instrument(reader.provider, pipeline)  # type: ignore[attr-defined]
            assert len(otel.METRICS) == len(handle.instruments)
            for i in range(4):
                pipeline.emit({"level": "info", "logger": "m", "message": "kept", "i": i})
            pipeline.emit({"level": "debug", "logger": "m", "message": "sampled out"})
            assert pipeline.flush(DEADLINE)
            for _ in range(5):
                otlp.breaker.record_failure()  # open the OTLP sink's breaker
            got = points(reader)
            stats = pipeline.stats()
        finally:
            pipeline.shutdown(2.0)
    sink = otlp.name
    assert {(): 4} == got["nglogger.events.accepted"] == {(): stats.accepted}
    assert {(("reason", "sampled"),): 1} == got["nglogger.events.dropped"]
    assert {(("sink", sink),): 4, (("sink", "memory"),): 4} == got["nglogger.events.exported"]
    assert {(("sink", sink),): 1} == got["nglogger.sink.retries"]
    assert {(("sink", sink),): 2} == got["nglogger.sink.breaker.state"]
    assert {(): 0} == got["nglogger.buffer.bytes"] == got["nglogger.buffer.events"]
    assert {(): stats.high_water_events} == got["nglogger.buffer.high_water.events"]
    assert got["nglogger.buffer.high_water.bytes"][()] > 0
    assert {(("sink", sink),): 0, (("sink", "memory"),): 0} == got["nglogger.sink.queue.bytes"]


def test_sink_drops_carry_reason_and_sink(reader: InMemoryMetricReader) -> None:
    """A drop inside a sink is reported with both its reason and the sink's name."""

    class Refusing:
        name = "refusing"

        def write(self, batch: nglogger.Batch) -> nglogger.Outcome:
            return nglogger.Outcome(0, {"rejected": batch.count})

        def close(self) -> None:
            pass

    pipeline = nglogger.Pipeline(Config(sinks=[Refusing()], flush_interval=5.0))
    try:
        otel.instrument(reader.provider, pipeline)  # type: ignore[attr-defined]
        for i in range(3):
            pipeline.emit({"level": "info", "logger": "r", "message": "no", "i": i})
        assert pipeline.flush(DEADLINE)
        got = points(reader)
    finally:
        pipeline.shutdown(2.0)
    assert {(("reason", "rejected"), ("sink", "refusing")): 3} == got["nglogger.events.dropped"]


def test_callbacks_never_raise_and_stop_silences_them(
    reader: InMemoryMetricReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failing stats() yields no points instead of an error; stop() reports nothing more."""
    pipeline = nglogger.Pipeline(Config(sinks=[MemorySink()]))
    try:
        handle = otel.instrument(reader.provider, pipeline)  # type: ignore[attr-defined]

        def broken() -> None:
            raise RuntimeError("stats broke")

        monkeypatch.setattr(pipeline, "stats", broken)
        assert {} == {k: v for k, v in points(reader).items() if v}
        monkeypatch.undo()
        assert points(reader)["nglogger.events.accepted"] == {(): 0}
        handle.stop()
        assert {} == {k: v for k, v in points(reader).items() if v}
    finally:
        pipeline.shutdown(2.0)


def test_default_pipeline_is_followed_across_configure(reader: InMemoryMetricReader) -> None:
    """Without a pipeline argument the metrics read whatever pipeline is the default now."""
    otel.instrument(reader.provider)  # type: ignore[attr-defined]
    assert {} == {k: v for k, v in points(reader).items() if v}  # nothing configured yet
    nglogger.configure(Config(sinks=[MemorySink()], flush_interval=0.05))
    nglogger.get_logger("d").info("one")
    assert nglogger.flush(DEADLINE)
    assert {(): 1} == points(reader)["nglogger.events.accepted"]
    nglogger.configure(Config(sinks=[MemorySink()], flush_interval=0.05))
    assert {(): 0} == points(reader)["nglogger.events.accepted"]


def test_instrument_uses_the_global_meter_provider_by_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """meter_provider=None takes OTel's global MeterProvider."""
    from opentelemetry import metrics

    seen: list[str] = []

    class Provider:
        def get_meter(self, name: str, version: str) -> Any:
            seen.append(name)
            return metrics.NoOpMeterProvider().get_meter(name, version)

    monkeypatch.setattr(metrics, "get_meter_provider", Provider)
    otel.instrument()
    assert ["nglogger"] == seen
