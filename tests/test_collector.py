"""Through a real OpenTelemetry Collector: nglogger's otlp sink -> otelcol -> a backend.

Each test starts the collector built from tests/collector (official OTLP receiver,
memory_limiter, batch, otlp_http and debug exporters) on free ports of 127.0.0.1, behind
it a loopback backend that decodes the collector's own OTLP/HTTP exports with
opentelemetry-proto. nglogger is configured only through its public API (sink URIs,
environment variables, ``nglogger.stats()``). What the backend holds is what a vendor
behind a collector would receive. Without Go and without a built collector these tests
are skipped with the reason, except in CI (``CI=true``), where that is a failure.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support.otlp_values import attributes, epoch_ns

import nglogger
from nglogger.sinks import MemorySink
from tests.collector.otelcol import (
    Capture,
    Collector,
    CollectorUnavailable,
    find_binary,
    wait_until,
)

DEADLINE = 60.0
ENV = {
    "OTEL_SERVICE_NAME": "shop",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,team=a%2Cb",
}
_IN_CI = os.environ.get("CI", "").lower() == "true"
# The first test may build the collector (about 2 minutes cold on 2 cores, more when busy).
pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def otelcol_binary() -> Path:
    """The collector binary (built once if Go is there); skipped without Go, except in CI."""
    try:
        return find_binary()
    except CollectorUnavailable as missing:
        if _IN_CI:
            pytest.fail(f"CI must run the collector tests: {missing}")
        pytest.skip(str(missing))


@pytest.fixture
def backend() -> Iterator[Capture]:
    """The vendor behind the collector: a loopback OTLP/HTTP server that decodes exports."""
    with Capture() as capture:
        yield capture


@pytest.fixture
def collector(otelcol_binary: Path, tmp_path: Path) -> Iterator[Collector]:
    """A collector (not started yet) on free 127.0.0.1 ports; stopped after the test."""
    process = Collector(otelcol_binary, tmp_path)
    try:
        yield process
    finally:
        process.stop()


def ids_of(records: list[tuple[Any, Any, Any]]) -> list[int]:
    """The ``i`` attribute of every record the backend holds (duplicates kept)."""
    return [attributes(record)["i"] for _, _, record in records if "i" in attributes(record)]


def sink_stats() -> Any:
    """The otlp sink's counters."""
    [stats] = [s for name, s in nglogger.stats().sinks.items() if name.startswith("otlp")]
    return stats


def assert_accounted(stats: Any) -> None:
    """accepted == exported + dropped + queued for the sink."""
    assert stats.accepted == stats.exported + sum(stats.dropped.values()) + stats.queued_events


# --------------------------------------------------------------------------- what arrives


@pytest.mark.parametrize("compression", ["gzip", "none"])
@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json"])
def test_every_field_reaches_the_backend_through_the_collector(
    collector: Collector,
    backend: Capture,
    monkeypatch: pytest.MonkeyPatch,
    protocol: str,
    compression: str,
) -> None:
    """Body, severity, attributes, resource, scope, trace ids and exceptions survive otelcol."""
    from opentelemetry.sdk.trace import TracerProvider

    collector.start(collector.config(backend.url))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    memory = MemorySink()
    nglogger.configure(
        sinks=[f"otlp+{collector.url}?protocol={protocol}&compression={compression}", memory],
        level="debug",
        flush_interval=0.05,
        trace_context=True,
    )
    log = nglogger.get_logger("shop.api")
    log.debug("debugging", i=0)
    log.info(
        "hello",
        i=1,
        s="text é",
        n=-5,
        top=2**63 - 1,
        big=2**64 - 1,
        f=1.5,
        b=True,
        nested={"k": [1, "two", None, {"deep": False}], "empty": {}},
        lst=[1, 2.5, "x", True],
        raw=b"bytes",
        none=None,
    )
    tracer = TracerProvider().get_tracer("test_collector")
    with tracer.start_as_current_span("checkout") as span:
        log.warning("in a span", i=2)
    context = span.get_span_context()
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", i=3)
    nglogger.get_logger("shop.db").critical("down", i=4, service="billing")
    assert nglogger.flush(DEADLINE)

    events = {e["i"]: e for e in memory.events()}
    found = backend.wait_records(lambda r: len(ids_of(r)) >= 5, DEADLINE, "5 records")
    assert [0, 1, 2, 3, 4] == sorted(ids_of(found))
    stats = sink_stats()
    assert (5, 5, {}) == (stats.accepted, stats.exported, dict(stats.dropped))

    for resource, _scope, _record in found:
        resource_attrs = attributes(resource)
        assert uuid.UUID(resource_attrs.pop("service.instance.id")).version == 4
        assert {
            "service.name": "shop",
            "deployment.environment": "test",
            "team": "a,b",
            "telemetry.sdk.name": "nglogger",
            "telemetry.sdk.language": "python",
            "telemetry.sdk.version": nglogger.__version__,
        } == resource_attrs
    by_id = {attributes(record)["i"]: (scope, record) for _, scope, record in found}
    severities = {0: (5, "DEBUG"), 1: (9, "INFO"), 2: (13, "WARNING"), 3: (17, "ERROR")}
    severities[4] = (21, "CRITICAL")
    for i, (scope, record) in by_id.items():
        event = events[i]
        assert event["logger"] == scope.name
        assert "string_value" == record.body.WhichOneof("value")
        assert event["message"] == record.body.string_value
        assert severities[i] == (record.severity_number, record.severity_text)
        assert epoch_ns(event["timestamp"]) == record.time_unix_nano

    hello = attributes(by_id[1][1])
    assert {
        "i": 1,
        "s": "text é",
        "n": -5,
        "top": 2**63 - 1,
        "big": str(2**64 - 1),
        "f": 1.5,
        "b": True,
        "nested": {"k": [1, "two", None, {"deep": False}], "empty": {}},
        "lst": [1, 2.5, "x", True],
        "raw": "bytes",
        "none": None,
    } == hello
    kinds = {kv.key: kv.value.WhichOneof("value") for kv in by_id[1][1].attributes}
    assert {
        "i": "int_value",
        "s": "string_value",
        "n": "int_value",
        "top": "int_value",
        "big": "string_value",
        "f": "double_value",
        "b": "bool_value",
        "nested": "kvlist_value",
        "lst": "array_value",
        "raw": "string_value",
        "none": None,
    } == kinds

    traced = by_id[2][1]
    assert (
        context.trace_id.to_bytes(16, "big"),
        context.span_id.to_bytes(8, "big"),
        int(context.trace_flags),  # sampled, and "random" with recent SDKs: 0x03
    ) == (traced.trace_id, traced.span_id, traced.flags)
    assert int(context.trace_flags) & 0x01  # sampled
    assert {"i": 2} == attributes(traced)
    for i in (0, 1, 3, 4):
        assert (b"", b"", 0) == (by_id[i][1].trace_id, by_id[i][1].span_id, by_id[i][1].flags)

    failed = attributes(by_id[3][1])
    assert "ValueError" == failed["exception.type"]
    assert "boom" == failed["exception.message"]
    assert 'raise ValueError("boom")' in failed["exception.stacktrace"]
    assert failed["exception.stacktrace"].rstrip().endswith("ValueError: boom")
    assert "billing" == attributes(by_id[4][1])["service"]  # differs from the resource: kept
    # The collector's own accounting agrees: every record accepted, none refused, and its
    # debug exporter (the second exporter of the pipeline) saw them all too.
    assert 5 == collector.metric("otelcol_receiver_accepted_log_records")
    assert 0 == collector.metric("otelcol_receiver_refused_log_records")
    wait_until(lambda: collector.debug_exported() == 5, DEADLINE, "the debug exporter")


def test_the_readme_agent_configuration_runs_as_documented(
    collector: Collector, backend: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The documented agent config and environment work with the real collector, verbatim.

    The text is in docs/opentelemetry.md (it was in the README; the test keeps its name).
    """
    page = (Path(__file__).resolve().parent.parent / "docs" / "opentelemetry.md").read_text()
    section = page.split("## Deployment with the OpenTelemetry Collector", 1)[1]
    yaml_text = section.split("```yaml\n", 1)[1].split("```", 1)[0]
    for documented, ours in (
        ('"127.0.0.1:4318"', f'"127.0.0.1:{collector.http_port}"'),
        ('"127.0.0.1:4317"', f'"127.0.0.1:{collector.grpc_port}"'),
        ('"https://otel-gateway.example.internal:4318"', f'"{backend.url}"'),
        ("port: 8888", f"port: {collector.metrics_port}"),
    ):
        assert 1 == yaml_text.count(documented), documented
        yaml_text = yaml_text.replace(documented, ours)
    collector.start(yaml_text)
    for name, value in {
        "NGLOGGER_SINKS": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
        "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
        "OTEL_SERVICE_NAME": "checkout",
    }.items():
        monkeypatch.setenv(name, value)
    nglogger.configure()
    for i in range(10):
        nglogger.get_logger("app").info("documented", i=i)
    assert nglogger.flush(DEADLINE)
    found = backend.wait_records(lambda r: len(ids_of(r)) >= 10, DEADLINE, "10 records")
    assert list(range(10)) == sorted(ids_of(found))
    assert {"checkout"} == {attributes(res)["service.name"] for res, _, _ in found}
    assert {"gzip"} == {r.headers.get("content-encoding") for r in backend.requests}
    assert 10 == collector.metric("otelcol_receiver_accepted_log_records")


# --------------------------------------------------------------------------- backpressure


@pytest.mark.slow
def test_memory_limiter_refusal_is_retried_politely_and_stays_within_limits(
    collector: Collector, backend: Capture
) -> None:
    """While memory_limiter refuses (503), nglogger backs off and holds only what its queue may."""
    collector.start(collector.config(backend.url, refuse=True))
    collector.wait_refusing()
    queue_bytes = 2 * 1024 * 1024
    nglogger.configure(
        sinks=[f"otlp+{collector.url}"],
        flush_interval=0.05,
        sink_queue_max_bytes=queue_bytes,
    )
    log = nglogger.get_logger("backpressure")
    n = 200
    for i in range(n):
        log.info("refused at first", i=i, pad="x" * 100)
    refused = "otelcol_receiver_refused_log_records"
    wait_until(lambda: collector.metric(refused) >= n, DEADLINE, f"{n} records refused")
    wait_until(
        lambda: (sink_stats().last_error or "").startswith("HTTP 503"),
        DEADLINE,
        "nglogger to see a 503",
    )
    # Observe the outage for a while: a client without backoff sends hundreds of requests
    # in this window; nglogger's backoff (0.5 s x 2^attempt, full jitter), retry budget
    # and breaker allow a handful.
    start = time.monotonic()
    while time.monotonic() - start < 3.0:
        stats = sink_stats()
        assert stats.queued_bytes <= queue_bytes
        assert stats.high_water_bytes <= queue_bytes
        assert_accounted(stats)
        assert 0 == stats.exported
        time.sleep(0.05)
    attempts = collector.metric(refused) / n
    assert 1 <= attempts <= 8, attempts
    assert [] == backend.records()
    assert 0 == collector.metric("otelcol_receiver_accepted_log_records")
    # The operator raises the limit (a configuration reload, SIGHUP): what nglogger still
    # holds is delivered; what it gave up on is counted, nothing else is missing.
    collector.reload(collector.config(backend.url))
    wait_until(lambda: sink_stats().queued_events == 0, DEADLINE, "nglogger's queue to drain")
    assert nglogger.flush(DEADLINE)
    stats = sink_stats()
    assert_accounted(stats)
    wait_until(
        lambda: len(set(ids_of(backend.records()))) >= stats.exported,
        DEADLINE,
        "the collector to export what it accepted",
    )
    delivered = set(ids_of(backend.records()))
    assert stats.exported == len(delivered)
    assert n - len(delivered) == sum(stats.dropped.values())
    # After the recovery, new events flow again (the breaker closed, nothing is stuck).
    for i in range(n, n + 50):
        log.info("after recovery", i=i)
    found = backend.wait_records(
        lambda r: set(range(n, n + 50)) <= set(ids_of(r)), DEADLINE, "events logged afterwards"
    )
    assert len(delivered) + 50 == len(set(ids_of(found)))
    assert_accounted(sink_stats())


def test_a_refusing_collector_costs_no_more_than_the_queue_limit(
    collector: Collector, backend: Capture
) -> None:
    """More data than the sink queue holds, while refused: held bytes stay under the limit."""
    collector.start(collector.config(backend.url, refuse=True))
    collector.wait_refusing()
    queue_bytes = 256 * 1024
    batch_bytes = 64 * 1024
    nglogger.configure(
        sinks=[f"otlp+{collector.url}"],
        flush_interval=0.05,
        max_event_bytes=16 * 1024,
        batch_max_bytes=batch_bytes,
        sink_queue_max_bytes=queue_bytes,
    )
    log = nglogger.get_logger("flood")
    n = 5000  # about 1.3 MB of events: five times the queue
    for i in range(n):
        log.info("flood", i=i, pad="y" * 200)
    wait_until(lambda: sink_stats().accepted == n, DEADLINE, "every event handed to the sink")
    stats = sink_stats()
    # The queue holds at most its limit; queued_bytes also counts the request in flight,
    # merged from the queue (so at most a queue's worth again: drop_oldest admits fresh
    # events against the queue alone, the request is budgeted on its own).
    assert stats.high_water_bytes <= queue_bytes
    assert stats.queued_bytes <= 2 * queue_bytes + batch_bytes
    assert_accounted(stats)
    overflow = stats.dropped.get("sink_queue_full", 0) + stats.dropped.get("breaker_open", 0)
    assert overflow > 0, dict(stats.dropped)  # the limit was reached, and counted
    assert 0 == stats.exported
    collector.reload(collector.config(backend.url))
    wait_until(lambda: sink_stats().queued_events == 0, DEADLINE, "nglogger's queue to drain")
    stats = sink_stats()
    assert stats.high_water_bytes <= queue_bytes
    assert_accounted(stats)
    wait_until(
        lambda: len(set(ids_of(backend.records()))) >= stats.exported,
        DEADLINE,
        "the collector to export what it accepted",
    )
    delivered = set(ids_of(backend.records()))
    assert stats.exported == len(delivered)
    assert n - len(delivered) == sum(stats.dropped.values())


def test_memory_limiter_refusal_loses_nothing_once_the_collector_recovers(
    collector: Collector, backend: Capture
) -> None:
    """Events refused for a few seconds, with room in the queue, are all delivered afterwards."""
    collector.start(collector.config(backend.url, refuse=True))
    collector.wait_refusing()
    nglogger.configure(sinks=[f"otlp+{collector.url}"], flush_interval=0.05)
    log = nglogger.get_logger("backpressure")
    n = 200
    for i in range(n):
        log.info("refused at first", i=i)
    refused = "otelcol_receiver_refused_log_records"
    wait_until(lambda: collector.metric(refused) >= 2 * n, DEADLINE, "a retry refused too")
    collector.reload(collector.config(backend.url))
    assert nglogger.flush(DEADLINE)
    stats = sink_stats()
    assert {} == dict(stats.dropped)
    found = backend.wait_records(lambda r: len(set(ids_of(r))) >= n, DEADLINE, f"{n} records")
    assert set(range(n)) == set(ids_of(found))


# --------------------------------------------------------------------------- restarts


def _stream_through_a_kill(collector: Collector, backend: Capture) -> tuple[int, Any]:
    """Log steadily while the collector is SIGKILLed and restarted; return (n logged, stats)."""
    # Synchronous pipeline (no batch processor, no exporter queue): the collector answers
    # 200 only once the backend has the records, so an acknowledged record cannot die
    # with the collector and every event nglogger counts exported is at the backend.
    config = collector.config(backend.url, batch=False, exporter_queue=False)
    collector.start(config)
    nglogger.configure(sinks=[f"otlp+{collector.url}"], flush_interval=0.05)
    log = nglogger.get_logger("restart")
    stop = threading.Event()
    logged = [0]

    def produce() -> None:
        while not stop.is_set():
            log.info("streaming", i=logged[0])
            logged[0] += 1
            if logged[0] % 20 == 0:
                stop.wait(0.005)

    producer = threading.Thread(target=produce, name="producer")
    producer.start()
    try:
        backend.wait_records(lambda r: len(r) >= 500, DEADLINE, "500 records before the kill")
        collector.kill()
        wait_until(lambda: sink_stats().last_error, DEADLINE, "nglogger to see the collector gone")
        before_restart = logged[0]
        wait_until(lambda: logged[0] >= before_restart + 2000, DEADLINE, "2000 events logged")
        collector.start(config)
        wait_until(
            lambda: sink_stats().exported > before_restart, DEADLINE, "delivery after restart"
        )
    finally:
        stop.set()
        producer.join(timeout=DEADLINE)
    assert nglogger.flush(DEADLINE)
    return logged[0], sink_stats()


@pytest.mark.slow
def test_collector_killed_mid_stream_every_event_delivered_or_counted(
    collector: Collector, backend: Capture
) -> None:
    """SIGKILL of the collector mid-stream: each event is at the backend or counted dropped."""
    n, stats = _stream_through_a_kill(collector, backend)
    assert_accounted(stats)
    assert n == stats.accepted
    assert 0 == stats.queued_events
    delivered = set(ids_of(backend.records()))
    assert delivered <= set(range(n))
    missing = n - len(delivered)
    assert missing <= sum(stats.dropped.values()), (missing, dict(stats.dropped))
    assert stats.exported <= len(delivered)  # acknowledged => at the backend (duplicates aside)


@pytest.mark.slow
def test_collector_killed_mid_stream_loses_nothing(collector: Collector, backend: Capture) -> None:
    """A collector restart within seconds, with room in the queue, loses no event."""
    n, stats = _stream_through_a_kill(collector, backend)
    assert {} == dict(stats.dropped)
    assert set(range(n)) == set(ids_of(backend.records()))


# --------------------------------------------------------------------------- the skip policy


@pytest.mark.parametrize("ci", ["true", ""])
@pytest.mark.slow
def test_without_a_collector_the_tests_skip_with_the_reason_except_in_ci(
    tmp_path: Path, ci: str
) -> None:
    """No usable binary: a clear skip on a developer's machine, a failure in CI."""
    not_a_binary = tmp_path / "otelcol"
    not_a_binary.write_text("")
    env = {**os.environ, "OTELCOL_BINARY": str(not_a_binary), "CI": ci}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", __file__, "-k", "readme", "-p", "no:randomly", "-rs"],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    reason = f"OTELCOL_BINARY={not_a_binary} is not an executable"
    assert reason in run.stdout, run.stdout
    if ci:
        assert 1 == run.returncode, run.stdout
        assert "CI must run the collector tests" in run.stdout
        assert "1 error" in run.stdout
    else:
        assert 0 == run.returncode, run.stdout
        assert "1 skipped" in run.stdout


# --------------------------------------------------------------------------- OTLP/gRPC


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_every_field_reaches_the_backend_over_grpc(
    collector: Collector, backend: Capture, monkeypatch: pytest.MonkeyPatch, compression: str
) -> None:
    """otlp+grpc:// to the collector's gRPC receiver: the same records as over HTTP."""
    from opentelemetry.sdk.trace import TracerProvider

    collector.start(collector.config(backend.url))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-tenant=7")
    memory = MemorySink()
    uri = f"otlp+grpc://127.0.0.1:{collector.grpc_port}?compression={compression}"
    nglogger.configure(sinks=[uri, memory], level="debug", flush_interval=0.05, trace_context=True)
    log = nglogger.get_logger("shop.grpc")
    log.debug("debugging", i=0)
    log.info("hello", i=1, s="é", big=2**64 - 1, f=0.5, b=False, nested={"k": [1, None]})
    tracer = TracerProvider().get_tracer("test_collector")
    with tracer.start_as_current_span("checkout") as span:
        log.warning("in a span", i=2)
    context = span.get_span_context()
    try:
        raise KeyError("gone")
    except KeyError:
        log.exception("failed", i=3)
    assert nglogger.flush(DEADLINE)

    events = {e["i"]: e for e in memory.events()}
    found = backend.wait_records(lambda r: len(ids_of(r)) >= 4, DEADLINE, "4 records")
    assert [0, 1, 2, 3] == sorted(ids_of(found))
    stats = sink_stats()
    assert (4, 4, {}) == (stats.accepted, stats.exported, dict(stats.dropped))
    assert [name for name in nglogger.stats().sinks if name.startswith("otlp+grpc:")]
    by_id = {
        attributes(record)["i"]: (resource, scope, record) for resource, scope, record in found
    }
    for i, (resource, scope, record) in by_id.items():
        resource_attrs = attributes(resource)
        assert uuid.UUID(resource_attrs.pop("service.instance.id")).version == 4
        assert "shop" == resource_attrs["service.name"]
        assert "a,b" == resource_attrs["team"]
        assert "shop.grpc" == scope.name
        assert events[i]["message"] == record.body.string_value
        assert epoch_ns(events[i]["timestamp"]) == record.time_unix_nano
    assert [(5, "DEBUG"), (9, "INFO"), (13, "WARNING"), (17, "ERROR")] == [
        (by_id[i][2].severity_number, by_id[i][2].severity_text) for i in range(4)
    ]
    assert {
        "i": 1,
        "s": "é",
        "big": str(2**64 - 1),
        "f": 0.5,
        "b": False,
        "nested": {"k": [1, None]},
    } == attributes(by_id[1][2])
    traced = by_id[2][2]
    assert (context.trace_id.to_bytes(16, "big"), context.span_id.to_bytes(8, "big")) == (
        traced.trace_id,
        traced.span_id,
    )
    assert int(context.trace_flags) == traced.flags
    failed = attributes(by_id[3][2])
    assert ("KeyError", "'gone'") == (failed["exception.type"], failed["exception.message"])
    assert 4 == collector.metric("otelcol_receiver_accepted_log_records")


def test_grpc_collector_down_then_up_delivers_or_counts_everything(
    collector: Collector, backend: Capture
) -> None:
    """No collector at first (UNAVAILABLE: retried, then the batches wait in the queue), then one.

    Nothing is dropped while the sink queue has room; every event is at the backend once
    the collector is up, those logged before it too.
    """
    from nglogger.sinks.otlp_grpc import OtlpGrpcSink

    sink = OtlpGrpcSink(f"http://127.0.0.1:{collector.grpc_port}")
    nglogger.configure(sinks=[sink], flush_interval=0.05)
    log = nglogger.get_logger("late")
    n = 50
    for i in range(n):
        log.info("before the collector", i=i)
    wait_until(lambda: sink_stats().last_error, DEADLINE, "nglogger to see no collector")
    assert "gRPC UNAVAILABLE" in sink_stats().last_error
    collector.start(collector.config(backend.url))
    probes = iter(range(10**6, 2 * 10**6))

    def recovered() -> bool:
        log.info("probe", i=next(probes))
        nglogger.flush(DEADLINE)
        return sink_stats().exported > 0

    wait_until(recovered, DEADLINE, "the sink to reach the started collector", interval=0.2)
    early = sink_stats()
    assert_accounted(early)
    assert {} == dict(early.dropped)  # the queue had room: batches waited, none dropped
    for i in range(n, 2 * n):
        log.info("after the collector", i=i)
    assert nglogger.flush(DEADLINE)
    stats = sink_stats()
    assert_accounted(stats)
    assert dict(early.dropped) == dict(stats.dropped)  # nothing lost once it is up
    found = backend.wait_records(
        lambda r: set(range(n, 2 * n)) <= set(ids_of(r)), DEADLINE, "the later records"
    )
    delivered = set(ids_of(found))
    early_ids = set(range(n)) | set(range(10**6, 2 * 10**6))
    assert delivered <= early_ids | set(range(n, 2 * n))
    assert early.accepted - len(delivered & early_ids) == sum(stats.dropped.values())
    counters = sink.http_stats()
    assert counters["grpc_UNAVAILABLE"] >= 1
    assert counters["grpc_OK"] >= 1


@pytest.mark.slow
def test_grpc_memory_limiter_refusal_is_retried_politely_and_recovers(
    collector: Collector, backend: Capture
) -> None:
    """memory_limiter refuses over gRPC (UNAVAILABLE): backoff, accounting, then delivery."""
    collector.start(collector.config(backend.url, refuse=True))
    collector.wait_refusing()
    nglogger.configure(sinks=[f"otlp+grpc://127.0.0.1:{collector.grpc_port}"], flush_interval=0.05)
    log = nglogger.get_logger("backpressure")
    n = 100
    for i in range(n):
        log.info("refused at first", i=i)
    refused = "otelcol_receiver_refused_log_records"
    wait_until(lambda: collector.metric(refused) >= n, DEADLINE, f"{n} records refused")
    wait_until(
        lambda: "gRPC UNAVAILABLE" in (sink_stats().last_error or ""),
        DEADLINE,
        "nglogger to see UNAVAILABLE",
    )
    start = time.monotonic()
    while time.monotonic() - start < 2.0:  # observe the outage: a handful of attempts at most
        stats = sink_stats()
        assert_accounted(stats)
        assert 0 == stats.exported
        time.sleep(0.05)
    attempts = collector.metric(refused) / n
    assert 1 <= attempts <= 8, attempts
    assert 0 == collector.metric("otelcol_receiver_accepted_log_records")
    collector.reload(collector.config(backend.url))
    assert nglogger.flush(DEADLINE)
    stats = sink_stats()
    assert_accounted(stats)
    assert {} == dict(stats.dropped)  # refused batches waited in the queue, none dropped
    wait_until(
        lambda: len(set(ids_of(backend.records()))) >= stats.exported,
        DEADLINE,
        "the collector to export what it accepted",
    )
    delivered = set(ids_of(backend.records()))
    assert n - len(delivered) == sum(stats.dropped.values())
    for i in range(n, n + 50):
        log.info("after recovery", i=i)
    found = backend.wait_records(
        lambda r: set(range(n, n + 50)) <= set(ids_of(r)), DEADLINE, "events logged afterwards"
    )
    assert len(delivered) + 50 == len(set(ids_of(found)))
    assert_accounted(sink_stats())
