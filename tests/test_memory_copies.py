"""Each sink's ``memory_copies`` is measured: tracemalloc's peak while it writes one batch.

``Config.memory_budget`` counts ``copies x batch_max_bytes`` per sink for the batches being
written. Here every sink writes batches of realistic events (a request line, a longer text,
many small fields, non-ASCII text) of up to 1 MiB (the default ``batch_max_bytes``)
through a transport that keeps nothing; the peak of traced memory during ``write``,
divided by the batch's size, plus the batch itself, must not exceed what the sink
declares, and the declaration must not be loose by two copies. (Smaller batches carry a
fixed cost on top, about 0.5 MB for the vendor sinks, likely gzip's compressor state.) The URI table
``Config`` uses (``nglogger._config.sinkuri.MEMORY_COPIES``) must say the same as the classes.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Callable, Mapping
from typing import Any

import orjson
import pytest

from nglogger import Config
from nglogger._config.sinkuri import MEMORY_COPIES, uri_memory_copies
from nglogger._core.batch import Batch
from nglogger._core.sink import memory_copies_of
from nglogger._delivery.transport import HttpResponse
from nglogger.sinks.datadog import DatadogSink
from nglogger.sinks.elasticsearch import ElasticsearchSink
from nglogger.sinks.honeycomb import HoneycombSink
from nglogger.sinks.http import HttpSink, JsonHttpSink
from nglogger.sinks.loki import LokiSink
from nglogger.sinks.otlp import OtlpLogsSink

MiB = 1024 * 1024


class Discard:
    """A transport that answers 200 and keeps nothing (so only the sink's copies count)."""

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        return HttpResponse(200, {}, b'{"errors":false}' if "_bulk" in url else b"")

    def close(self) -> None:
        pass

    def after_fork(self) -> None:
        pass


def shaped(i: int, shape: str) -> bytes:
    doc: dict[str, Any] = {
        "timestamp": f"2026-12-01T10:00:00.{i % 10**6:06d}Z",
        "level": "info",
        "logger": "app.api",
        "message": f"request handled {i}",
        "service": "checkout",
        "status_code": 200,
        "path": f"/charge/{i}",
        "ms": 12.5,
        "user": {"id": i, "tags": ["a", "b"]},
        "trace_id": f"{i + 1:032x}",
        "span_id": f"{i + 1:016x}",
    }
    if shape == "text":
        doc["note"] = "x" * 200
    elif shape == "unicode":
        doc["note"] = "é€" * 80
    elif shape == "many":
        doc.update({f"k{j}": j for j in range(30)})
    return orjson.dumps(doc)


def batch_of(shape: str, limit: int = MiB) -> Batch:
    events: list[bytes] = []
    size = 0
    i = 0
    while True:
        event = shaped(i, shape)
        if size + len(event) + 1 > limit:
            break
        events.append(event)
        size += len(event) + 1
        i += 1
    return Batch.from_events(events)


SINKS: dict[str, Callable[[], Any]] = {
    "ndjson": lambda: HttpSink("http://127.0.0.1:9/x", transport=Discard()),
    "json": lambda: JsonHttpSink("http://127.0.0.1:9/x", transport=Discard()),
    "datadog": lambda: DatadogSink(
        "k", url="http://127.0.0.1:9/api/v2/logs", hostname="h", transport=Discard()
    ),
    "honeycomb": lambda: HoneycombSink("k", dataset="d", transport=Discard()),
    "loki": lambda: LokiSink(
        "http://127.0.0.1:9", structured_metadata=["trace_id", "span_id"], transport=Discard()
    ),
    "elasticsearch": lambda: ElasticsearchSink("http://127.0.0.1:9", transport=Discard()),
    "http/protobuf": lambda: OtlpLogsSink(
        "http://127.0.0.1:9/v1/logs", compression="gzip", transport=Discard()
    ),
    "http/json": lambda: OtlpLogsSink(
        "http://127.0.0.1:9/v1/logs", protocol="http/json", compression="gzip", transport=Discard()
    ),
}
#: Sinks whose declared copies (in modules of the HTTP delivery path, not changed here)
#: are below what they hold: measured figures in the reason.
UNDER_DECLARED: dict[str, str] = {}  # every sink declares at least what it holds

SHAPES = ("plain", "text", "unicode", "many")


def measured_copies(sink: Any, batch: Batch) -> float:
    """1 (the batch) + tracemalloc's peak while writing it, in batch sizes."""
    outcome = sink.write(batch)  # warm: imports, caches, pools
    assert outcome.exported == batch.count, outcome
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        outcome = sink.write(batch)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    assert outcome.exported == batch.count, outcome
    return 1 + peak / batch.nbytes


@pytest.fixture(scope="module")
def batches() -> dict[str, Batch]:
    return {shape: batch_of(shape) for shape in SHAPES}


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(k, marks=pytest.mark.xfail(strict=True, reason=UNDER_DECLARED[k]))
        if k in UNDER_DECLARED
        else k
        for k in SINKS
    ],
)
@pytest.mark.slow
def test_declared_copies_cover_the_measured_peak(kind: str, batches: dict[str, Batch]) -> None:
    sink = SINKS[kind]()
    try:
        declared = memory_copies_of(sink)
        measured = {shape: measured_copies(sink, batch) for shape, batch in batches.items()}
    finally:
        sink.close()
    worst = max(measured.values())
    assert worst <= declared, (kind, declared, measured)
    # Not a loose guess either (NDJSON's 3 also covers its path for batches over a
    # request's limits, which the 1 MiB batches here do not take).
    assert declared < worst + 2, (kind, declared, measured)


def test_the_uri_table_matches_the_sink_classes() -> None:
    """Config's per-URI figures are the classes' declarations (gRPC: the sink's)."""
    for kind, make in SINKS.items():
        sink = make()
        try:
            assert MEMORY_COPIES[kind] == memory_copies_of(sink), kind
        finally:
            sink.close()
    from nglogger.sinks.otlp_grpc import OtlpGrpcSink

    grpc = OtlpGrpcSink("http://127.0.0.1:9")
    try:
        assert MEMORY_COPIES["grpc"] == memory_copies_of(grpc) == 6
    finally:
        grpc.close()


@pytest.mark.parametrize(
    ("uri", "env", "copies"),
    [
        ("stdout", {}, 1),
        ("file:///tmp/x.jsonl", {}, 1),
        ("http://127.0.0.1:9/x", {}, 3),
        ("datadog", {}, 5),
        ("loki+http://127.0.0.1:3100", {}, 5),
        ("elasticsearch+http://127.0.0.1:9200", {}, 5),
        ("otlp", {}, 5),
        ("otlp", {"OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, 10),
        ("otlp", {"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc"}, 6),
        ("otlp+http://h:4318", {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, 5),
        ("otlp+http://h:4318?protocol=http/json", {}, 10),
        ("otlp+grpc://h:4317", {}, 6),
    ],
)
def test_memory_budget_counts_each_sinks_copies(uri: str, env: dict[str, str], copies: int) -> None:
    assert copies == uri_memory_copies(uri, env)
    config = Config(sinks=[uri], sink_env=env)
    base = Config(sinks=["null"], sink_env=env)
    from nglogger._config.config import HTTP_REQUEST_BYTES

    # An HTTP sink writes merged requests of up to its max_request_bytes (5 MiB by URI).
    local = uri.startswith(("stdout", "file:"))
    size = config.batch_max_bytes if local else max(config.batch_max_bytes, HTTP_REQUEST_BYTES)
    expected = copies * size - config.batch_max_bytes  # base: null, one batch-sized copy
    assert expected == config.memory_budget - base.memory_budget
