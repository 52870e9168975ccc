"""The OTLP sink's record-at-a-time encoding equals the official messages built whole.

The sink serializes each ``LogRecord`` on its own and writes the request, resource and
scope framing around them (so a batch is never held parsed and as a message at once).
Here the same events are built the straightforward way with opentelemetry-proto's
messages (``ExportLogsServiceRequest`` with its resource and one scope per logger) and
``json_format``: the protobuf bytes are identical and the OTLP/JSON documents equal.
"""

from __future__ import annotations

import json
import time

import orjson
import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from nglogger.sinks._otlp_records import otlp_json, parse_event
from nglogger.sinks.otlp import OtlpLogsSink


def events() -> list[bytes]:
    out = []
    for i in range(300):
        doc = {
            "timestamp": f"2026-12-01T10:00:{i % 60:02d}.{i:06d}Z",
            "level": ["debug", "info", "warning", "error", "critical"][i % 5],
            "logger": ["", "shop.api", "shop.db", "é"][i % 4],
            "message": f"m{i}" * (i % 7),
            "i": i,
            "nested": {"k": [i, None, {"x": "y" * (i % 200)}]},
        }
        if i % 3 == 0:
            doc["trace_id"] = f"{i + 1:032x}"
            doc["span_id"] = f"{i + 1:016x}"
            doc["trace_flags"] = "01"
        if i % 11 == 0:
            doc["exception"] = {"type": "E", "message": "x", "stacktrace": "tb" * i}
        out.append(orjson.dumps(doc))
    out.append(b"not json at all")
    return out


def reference(sink: OtlpLogsSink, raw: list[bytes], now: int) -> ExportLogsServiceRequest:
    groups: dict[str, list[dict]] = {}
    for event in raw:
        parsed = parse_event(event)
        groups.setdefault(str(parsed.pop("logger", "")), []).append(parsed)
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.CopyFrom(sink._resource)
    for name, group in groups.items():
        scope_logs = resource_logs.scope_logs.add()
        scope_logs.scope.name = name
        for parsed in group:
            sink._encoder.fill(scope_logs.log_records.add(), parsed, now)
    return request


@pytest.mark.parametrize("n", [0, 1, 301])
def test_protobuf_bytes_are_the_official_messages_bytes(n: int) -> None:
    sink = OtlpLogsSink("http://127.0.0.1:9/v1/logs")
    try:
        raw = events()[:n]
        now = time.time_ns()
        ours = sink._encoder.protobuf(raw, now)
        expected = reference(sink, raw, now)
        assert expected.SerializeToString() == ours
        assert expected == ExportLogsServiceRequest.FromString(ours)
    finally:
        sink.close()


@pytest.mark.parametrize("n", [0, 1, 301])
def test_otlp_json_is_the_official_mapping(n: int) -> None:
    from google.protobuf import json_format

    sink = OtlpLogsSink("http://127.0.0.1:9/v1/logs", protocol="http/json")
    try:
        raw = events()[:n]
        now = time.time_ns()
        ours = json.loads(sink._encoder.json(raw, now))
        expected = json.loads(otlp_json(reference(sink, raw, now), json_format))
        if n == 0:  # MessageToDict leaves out the empty list; an empty list is the same
            expected["resourceLogs"][0]["scopeLogs"] = []
        assert expected == ours
    finally:
        sink.close()
