"""Recovery drains in full requests, and a merged request never exceeds its vendor's limits.

Each sink (generic NDJSON and JSON, Datadog, Honeycomb, Loki, Elasticsearch, OTLP)
runs under a real ``SinkWorker`` thread with an in-memory transport: the backend
answers 503 while many small batches queue, then recovers. The backlog must go
out merged, oldest first, in requests within the vendor's documented maxima
(events per request, bytes per request), every event exactly once.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import pytest
from support.http import Request
from support.memory_http import InMemoryServer

from nglogger import Batch
from nglogger._delivery.retry import CircuitBreaker, RetryPolicy
from nglogger._event.timestamp import timestamp
from nglogger._pipeline.worker import SinkWorker
from nglogger.sinks.datadog import DatadogSink
from nglogger.sinks.elasticsearch import ElasticsearchSink
from nglogger.sinks.honeycomb import HoneycombSink
from nglogger.sinks.http import HttpSink, JsonHttpSink
from nglogger.sinks.loki import LokiSink
from nglogger.sinks.otlp import OtlpLogsSink


def _lines(body: bytes) -> list[Any]:
    return [json.loads(line) for line in body.splitlines() if line]


def _ids_ndjson(body: bytes) -> list[int]:
    return [e["i"] for e in _lines(body)]


def _ids_array(body: bytes) -> list[int]:
    return [e["i"] for e in json.loads(body)]


def _ids_honeycomb(body: bytes) -> list[int]:
    return [e["data"]["i"] for e in json.loads(body)]


def _ids_loki(body: bytes) -> list[int]:
    doc = json.loads(body)
    return [json.loads(v[1])["i"] for s in doc["streams"] for v in s["values"]]


def _ids_es(body: bytes) -> list[int]:
    return [e["i"] for e in _lines(body)[1::2]]


def _ids_otlp(body: bytes) -> list[int]:
    from opentelemetry.proto.collector.logs.v1 import logs_service_pb2

    message = logs_service_pb2.ExportLogsServiceRequest()
    message.ParseFromString(body)
    ids = []
    for resource in message.resource_logs:
        for scope in resource.scope_logs:
            for record in scope.log_records:
                ids.extend(kv.value.int_value for kv in record.attributes if kv.key == "i")
    return ids


def _ok_honeycomb(request: Request) -> tuple[int, dict[str, str], bytes]:
    n = len(json.loads(request.body))
    return 200, {}, orjson.dumps([{"status": 202}] * n)


Factory = Callable[[InMemoryServer, dict[str, Any]], HttpSink]

#: name -> (factory, ids of a request body, the 2xx answer, events limit, bytes limit)
VENDORS: dict[str, tuple[Factory, Callable[[bytes], list[int]], Any, int, int]] = {
    "http": (
        lambda s, o: HttpSink(f"{s.url}/ingest", transport=s.transport, **o),
        _ids_ndjson,
        lambda r: (200, {}, b""),
        10_000,
        5 * 1024 * 1024,
    ),
    "json": (
        lambda s, o: JsonHttpSink(f"{s.url}/ingest", transport=s.transport, **o),
        _ids_array,
        lambda r: (200, {}, b""),
        10_000,
        5 * 1024 * 1024,
    ),
    "datadog": (
        lambda s, o: DatadogSink(
            "dd-key", url=f"{s.url}/api/v2/logs", hostname="h", transport=s.transport, **o
        ),
        _ids_array,
        lambda r: (202, {}, b"{}"),
        1_000,
        5_000_000,
    ),
    "honeycomb": (
        lambda s, o: HoneycombSink("k", "ds", api_host=s.url, transport=s.transport, **o),
        _ids_honeycomb,
        _ok_honeycomb,
        500,
        5_000_000,
    ),
    "loki": (
        lambda s, o: LokiSink(s.url, transport=s.transport, **o),
        _ids_loki,
        lambda r: (204, {}, b""),
        10_000,
        1024 * 1024,
    ),
    "elasticsearch": (
        lambda s, o: ElasticsearchSink(s.url, transport=s.transport, **o),
        _ids_es,
        lambda r: (200, {}, b'{"errors":false}'),
        1_000,
        5 * 1024 * 1024,
    ),
    "otlp": (
        lambda s, o: OtlpLogsSink(f"{s.url}/v1/logs", transport=s.transport, **o),
        _ids_otlp,
        lambda r: (200, {}, b""),
        10_000,
        5 * 1024 * 1024,
    ),
}


def event(i: int, pad: int) -> bytes:
    return orjson.dumps(
        {
            "timestamp": timestamp(),
            "level": "info",
            "logger": "t",
            "message": "m",
            "i": i,
            "pad": "x" * pad,
        }
    )


@pytest.mark.parametrize("pad", [50, 6_000], ids=["many_small", "few_large"])
@pytest.mark.parametrize("vendor", sorted(VENDORS))
@pytest.mark.slow
def test_a_backlog_drains_in_merged_requests_within_the_vendor_limits(
    vendor: str, pad: int
) -> None:
    factory, ids_of, ok, max_events, max_bytes = VENDORS[vendor]
    down = threading.Event()
    down.set()

    answered: list[tuple[int, list[int]]] = []  # (status, ids) per request, as answered

    def respond(request: Request) -> tuple[int, dict[str, str], bytes]:
        reply = (503, {}, b"") if down.is_set() else ok(request)
        answered.append((reply[0], ids_of(request.body)))
        return reply

    server = InMemoryServer(respond)
    sink = factory(
        server,
        {
            "retry": RetryPolicy(base=0.001, cap=0.002, max_attempts=2),
            "breaker": CircuitBreaker(
                failure_threshold=1, open_duration=0.05, max_open_duration=0.1
            ),
        },
    )
    worker = SinkWorker(sink, max_events=10**6, max_bytes=1 << 30, overflow="drop_oldest")
    worker.start()
    per_batch = 50
    batches = 3_000 // per_batch if pad < 1000 else 1_500 // per_batch  # ~9 MB: bytes bite
    total = per_batch * batches
    for b in range(batches):
        worker.offer(Batch.from_events([event(b * per_batch + k, pad) for k in range(per_batch)]))
    assert server.wait_for(1)
    down.clear()
    assert worker.wait_idle(time.monotonic() + 60)
    snap = worker.snapshot()
    worker.stop(time.monotonic() + 5)
    sink.close()
    assert snap.dropped == {}
    assert snap.exported == total
    delivered: list[int] = []
    sizes = []
    for request in server.requests:
        ids = ids_of(request.body)
        assert len(ids) <= max_events, (vendor, len(ids))
        assert len(request.body) <= max_bytes, (vendor, len(request.body))
        sizes.append(len(ids))
    drain = 0
    for status, ids in answered:
        if 200 <= status < 300:
            delivered.extend(ids)
            drain += 1
    assert sorted(delivered) == list(range(total))  # exactly once
    assert delivered == sorted(delivered)  # oldest first (one request in flight)
    assert max(sizes) > per_batch  # batches were merged
    backlog = sum(len(event(0, pad)) + 1 for _ in range(total))
    floor = max(total / max_events, backlog / max_bytes)
    assert drain <= 2 * floor + 3, (vendor, drain, floor)


@pytest.mark.parametrize("vendor", sorted(VENDORS))
def test_memory_budget_covers_every_sinks_default_request(vendor: str) -> None:
    """Config.memory_budget counts 5 MiB per HTTP request in flight: no sink's default is more."""
    from nglogger._config.config import HTTP_REQUEST_BYTES

    factory, _, _, max_events, max_bytes = VENDORS[vendor]
    sink = factory(InMemoryServer(), {})
    events, size = sink.request_limits()
    assert events <= max_events
    assert size <= max_bytes <= HTTP_REQUEST_BYTES
    sink.close()


def test_sink_max_age_reaches_sinks_named_by_uri() -> None:
    """NGLOGGER_SINK_MAX_AGE / Config.sink_max_age is the max_age of an HTTP sink built from a URI."""
    from nglogger import Config
    from nglogger.sinks import resolve_sink

    config = Config(sinks=["http://127.0.0.1:9/x"], sink_max_age=42.0)
    sink = resolve_sink("http://127.0.0.1:9/x", config)
    assert sink.max_age == 42.0  # type: ignore[attr-defined]
    sink.close()
    env = Config.from_env({"NGLOGGER_SINK_MAX_AGE": "2m"})
    assert env.sink_max_age == 120.0


@pytest.mark.parametrize(
    ("spec", "env", "expected"),
    [
        ("http://127.0.0.1:9/x", {"NGLOGGER_SINK_TIMEOUT": "2500ms"}, 2.5),
        ("loki+http://127.0.0.1:9", {"NGLOGGER_SINK_TIMEOUT": "30s"}, 30.0),
        ("otlp+http://127.0.0.1:9", {"NGLOGGER_SINK_TIMEOUT": "4s"}, 4.0),
        # the OTLP variable is the more specific: it wins for an OTLP sink
        (
            "otlp+http://127.0.0.1:9",
            {"NGLOGGER_SINK_TIMEOUT": "4s", "OTEL_EXPORTER_OTLP_TIMEOUT": "7000"},
            7.0,
        ),
        ("otlp+http://127.0.0.1:9?timeout=1500", {"NGLOGGER_SINK_TIMEOUT": "4s"}, 1.5),
        ("http://127.0.0.1:9/x", {}, 10.0),
    ],
)
def test_the_read_timeout_of_sinks_named_by_uri_comes_from_the_environment(
    spec: str, env: dict[str, str], expected: float
) -> None:
    """NGLOGGER_SINK_TIMEOUT is the read timeout of every HTTP/gRPC sink built from a URI
    (what the transport waits for, not only the attribute)."""
    from nglogger import Config
    from nglogger.sinks import resolve_sink

    config = Config.from_env(env)
    sink = resolve_sink(spec, config)
    try:
        assert sink.read_timeout == expected  # type: ignore[attr-defined]
        assert sink._transport.read_timeout == expected  # type: ignore[attr-defined]
    finally:
        sink.close()


def test_a_bad_sink_timeout_is_named_and_the_default_kept() -> None:
    import warnings

    from nglogger import Config, ConfigWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = Config.from_env({"NGLOGGER_SINK_TIMEOUT": "-1s"})
    assert config.sink_timeout == 10.0
    assert any(
        issubclass(w.category, ConfigWarning) and "NGLOGGER_SINK_TIMEOUT" in str(w.message)
        for w in caught
    )
