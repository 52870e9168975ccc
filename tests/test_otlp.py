"""The OTLP/HTTP logs sink: settings, the event -> LogRecord mapping on the wire, retries, faults."""

from __future__ import annotations

import logging
import os
import re
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from support.http import RecordingServer, Request
from support.memory_http import InMemoryServer
from support.otlp_values import attributes, epoch_ns

import nglogger
from nglogger import Config, ConfigError
from nglogger._delivery.retry import CircuitBreaker, RetryBudget, RetryPolicy
from nglogger.sinks import MemorySink, check_sink_uri
from nglogger.sinks.otlp import (
    OTLP_RETRYABLE,
    OtlpLogsSink,
    otlp_json,
    parse_sink_uri,
    resolve_settings,
    severity,
)
from nglogger.stdlib import LoggingHandler

DEADLINE = 5.0
TRACE = "0af7651916cd43dd8448eb211c80319c"
SPAN = "b7ad6b7169203331"
ENV = {
    "OTEL_SERVICE_NAME": "shop",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=test,team=a%2Cb",
}
PROTOCOLS = ["http/protobuf", "http/json"]
_LOWER_CAMEL = re.compile(r"[a-z][A-Za-z0-9]*")


# ---------------------------------------------------------------------------- receiver side


def _hex_ids_to_base64(data: Any) -> Any:
    """OTLP/JSON -> protobuf's JSON mapping (ids base64), so json_format can parse it."""
    import base64

    for resource_logs in data.get("resourceLogs", []):
        for scope_logs in resource_logs.get("scopeLogs", []):
            for record in scope_logs.get("logRecords", []):
                for key in ("traceId", "spanId"):
                    if key in record:
                        record[key] = base64.b64encode(bytes.fromhex(record[key])).decode()
    return data


def check_otlp_json(data: Any) -> None:
    """Assert the OTLP/JSON rules: lowerCamelCase keys, hex ids, integer enums, int64 strings."""

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                assert _LOWER_CAMEL.fullmatch(key), key
                if key == "intValue":
                    assert isinstance(value, str), value
                    assert re.fullmatch(r"-?[0-9]+", value), value
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(data)
    for resource_logs in data["resourceLogs"]:
        for scope_logs in resource_logs["scopeLogs"]:
            for record in scope_logs["logRecords"]:
                assert isinstance(record["severityNumber"], int)
                for key in ("timeUnixNano", "observedTimeUnixNano"):
                    if key in record:
                        assert isinstance(record[key], str)
                        assert record[key].isdigit()
                if "traceId" in record:
                    assert re.fullmatch(r"[0-9a-f]{32}", record["traceId"])
                if "spanId" in record:
                    assert re.fullmatch(r"[0-9a-f]{16}", record["spanId"])


def decode(request: Request) -> ExportLogsServiceRequest:
    """A recorded request decoded with opentelemetry-proto (OTLP/JSON rules checked first)."""
    message = ExportLogsServiceRequest()
    content_type = request.headers["content-type"]
    if content_type == "application/x-protobuf":
        message.ParseFromString(request.body)
    else:
        assert content_type == "application/json"
        data = orjson.loads(request.body)
        check_otlp_json(data)
        json_format.ParseDict(_hex_ids_to_base64(data), message)
    return message


def records(messages: list[ExportLogsServiceRequest]) -> list[tuple[str, Any]]:
    """Every (scope name, LogRecord) in the requests, in order."""
    return [
        (scope_logs.scope.name, record)
        for message in messages
        for resource_logs in message.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    ]


def received(server: RecordingServer, n_events: int) -> list[ExportLogsServiceRequest]:
    """Wait until the server holds ``n_events`` records; return the decoded requests."""
    deadline = time.monotonic() + DEADLINE
    while True:
        messages = [decode(r) for r in server.requests]
        if len(records(messages)) >= n_events:
            return messages
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {n_events} records, got {len(records(messages))}")
        server.wait_for(len(server.requests) + 1, timeout=max(0.01, deadline - time.monotonic()))


def fast_sink(url: str, **options: Any) -> OtlpLogsSink:
    """An OTLP sink with short timeouts and backoff, for fault tests."""
    options.setdefault("timeout", 0.3)
    options.setdefault("retry", RetryPolicy(base=0.01, cap=0.05, retryable_statuses=OTLP_RETRYABLE))
    options.setdefault("breaker", CircuitBreaker(open_duration=0.05, max_open_duration=0.2))
    options.setdefault("batch_deadline", 2.0)
    options.setdefault("resource", {"service.name": "faults"})
    return OtlpLogsSink(f"{url}/v1/logs", **options)


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    """A loopback receiver answering 200 with an empty body (where the socket is the point)."""
    with RecordingServer() as recording:
        yield recording


@pytest.fixture
def memory() -> InMemoryServer:
    """Requests recorded in memory through the sink's MockTransport (replies, retries, counts)."""
    return InMemoryServer()


# ---------------------------------------------------------------------------- the mapping


def _log_every_kind_of_event() -> None:
    log = nglogger.get_logger("shop.api")
    log.debug("debugging", i=0)
    log.info(
        "hello",
        i=1,
        s="x",
        b=True,
        n=-5,
        f=1.5,
        big=2**64 - 1,
        nested={"k": [1, "two", None, {"deep": False}]},
        empty={},
        lst=[],
        none=None,
    )
    log.warning("traced", i=2, trace_id=TRACE, span_id=SPAN, trace_flags="01")
    log.error("bad ids", i=3, trace_id="not-hex", span_id=SPAN, trace_flags="01")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", i=4)
    nglogger.get_logger("shop.db").critical("down", i=5, service="billing")
    std = logging.getLogger("test_otlp.std")
    std.propagate = False
    std.setLevel(logging.DEBUG)
    std.handlers[:] = [LoggingHandler()]
    try:
        std.log(25, "custom level", extra={"i": 6})
    finally:
        std.handlers[:] = []
        std.setLevel(logging.NOTSET)


def expected_attributes(event: dict[str, Any]) -> dict[str, Any]:
    """The attributes the module's mapping table promises for ``event``."""
    attrs = {k: v for k, v in event.items() if k not in ("timestamp", "level", "logger", "message")}
    if attrs.get("trace_id") == TRACE:
        for key in ("trace_id", "span_id", "trace_flags"):
            del attrs[key]
    if attrs.get("service") == "shop":
        del attrs["service"]  # repeats the resource's service.name
    if attrs.get("deployment.environment") == "test":
        del attrs["deployment.environment"]
    if attrs.get("team") == "a,b":
        del attrs["team"]
    exception = attrs.pop("exception", None)
    if exception is not None:
        attrs.update({f"exception.{k}": v for k, v in exception.items()})
    if attrs.get("big") == 2**64 - 1:
        attrs["big"] = str(2**64 - 1)
    return attrs


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_every_event_field_is_mapped_onto_the_log_record(
    server: RecordingServer, protocol: str
) -> None:
    """Each event field lands where the mapping table says, decoded by opentelemetry-proto."""
    memory = MemorySink()
    env = {
        **ENV,
        "OTEL_EXPORTER_OTLP_ENDPOINT": server.url,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
    }
    nglogger.configure(
        Config.from_env(env, sinks=("otlp", memory), level="debug", flush_interval=0.05)
    )
    _log_every_kind_of_event()
    assert nglogger.flush(DEADLINE)
    events = {e["i"]: e for e in memory.events()}
    messages = received(server, len(events))

    for request in server.requests:
        assert (request.method, request.path) == ("POST", "/v1/logs")
        content_type = "application/json" if protocol == "http/json" else "application/x-protobuf"
        assert content_type == request.headers["content-type"]
    resource = attributes(messages[0].resource_logs[0].resource)
    assert uuid.UUID(resource.pop("service.instance.id")).version == 4
    assert {
        "service.name": "shop",
        "deployment.environment": "test",
        "team": "a,b",
        "telemetry.sdk.name": "nglogger",
        "telemetry.sdk.language": "python",
        "telemetry.sdk.version": nglogger.__version__,
    } == resource

    mapped = records(messages)
    assert len(events) == len(mapped) == 7
    severities = {
        0: (5, "DEBUG"),
        1: (9, "INFO"),
        2: (13, "WARNING"),
        3: (17, "ERROR"),
        4: (17, "ERROR"),
        5: (21, "CRITICAL"),
        6: (12, "INFO"),
    }
    for scope, record in mapped:
        attrs = attributes(record)
        event = events[attrs["i"]]
        assert event["logger"] == scope
        assert epoch_ns(event["timestamp"]) == record.time_unix_nano
        assert record.time_unix_nano == record.observed_time_unix_nano
        assert severities[event["i"]] == (record.severity_number, record.severity_text)
        assert "string_value" == record.body.WhichOneof("value")
        assert event["message"] == record.body.string_value
        assert expected_attributes(event) == attrs
        if event["i"] == 2:
            assert (bytes.fromhex(TRACE), bytes.fromhex(SPAN), 1) == (
                record.trace_id,
                record.span_id,
                record.flags,
            )
        else:
            assert (b"", b"", 0) == (record.trace_id, record.span_id, record.flags)

    hello = next(r for _, r in mapped if attributes(r)["i"] == 1)
    kinds = {kv.key: kv.value.WhichOneof("value") for kv in hello.attributes}
    assert {
        "i": "int_value",
        "s": "string_value",
        "b": "bool_value",
        "n": "int_value",
        "f": "double_value",
        "big": "string_value",
        "nested": "kvlist_value",
        "empty": "kvlist_value",
        "lst": "array_value",
        "none": None,
    } == kinds
    failed = attributes(next(r for _, r in mapped if attributes(r)["i"] == 4))
    assert "ValueError" == failed["exception.type"]
    assert "boom" == failed["exception.message"]
    assert "ValueError: boom" in failed["exception.stacktrace"]
    billing = attributes(next(r for _, r in mapped if attributes(r)["i"] == 5))
    assert "billing" == billing["service"]  # differs from the resource: kept


def test_json_and_protobuf_carry_the_same_message() -> None:
    """The http/json body decodes (OTLP/JSON rules) to exactly the protobuf body's message."""
    resource = {"service.name": "same", "service.instance.id": "fixed"}
    proto = OtlpLogsSink(resource=resource)
    json_sink = OtlpLogsSink(protocol="http/json", resource=resource)
    events = [
        orjson.dumps(
            {
                "timestamp": "2026-11-26T13:47:50.800619Z",
                "level": "info",
                "logger": "a" if i % 2 else "b",
                "message": f"m{i}",
                "n": i,
                "big": -(2**63),
                "trace_id": TRACE,
                "span_id": SPAN,
                "trace_flags": 1,
            }
        )
        for i in range(4)
    ]
    from_proto = ExportLogsServiceRequest.FromString(proto.encode(events))
    data = orjson.loads(json_sink.encode(events))
    check_otlp_json(data)
    first = data["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    assert TRACE == first["traceId"]
    assert {"intValue": "-9223372036854775808"} == first["attributes"][1]["value"]
    from_json = json_format.ParseDict(_hex_ids_to_base64(data), ExportLogsServiceRequest())
    assert from_proto == from_json
    assert ["b", "a"] == [s.scope.name for s in from_proto.resource_logs[0].scope_logs]


@pytest.mark.parametrize(
    ("level", "number", "expected"),
    [
        ("debug", None, (5, "DEBUG")),
        ("info", None, (9, "INFO")),
        ("warning", None, (13, "WARNING")),
        ("error", None, (17, "ERROR")),
        ("critical", None, (21, "CRITICAL")),
        ("debug", 5, (1, "DEBUG")),
        ("debug", 0, (0, "DEBUG")),
        ("debug", 11, (6, "DEBUG")),
        ("info", 25, (12, "INFO")),
        ("warning", 31, (14, "WARNING")),
        ("critical", 53, (24, "CRITICAL")),
        ("critical", 99, (24, "CRITICAL")),
        ("verbose", None, (0, "VERBOSE")),
        (None, None, (0, "")),
    ],
)
def test_severity_mapping(level: object, number: object, expected: tuple[int, str]) -> None:
    """Levels map to the OTel severity numbers (custom stdlib levels as the OTel SDK maps them)."""
    assert expected == severity(level, number)


def _one_record(event: dict[str, Any] | bytes) -> Any:
    sink = OtlpLogsSink(resource={"service.name": "unit"})
    raw = event if isinstance(event, bytes) else orjson.dumps(event)
    message = sink.request_message([raw], now_ns=123)
    return message.resource_logs[0].scope_logs[0].log_records[0]


@pytest.mark.parametrize(
    ("fields", "trace_id", "span_id", "flags", "kept"),
    [
        ({"trace_id": TRACE, "span_id": SPAN, "trace_flags": 1}, TRACE, SPAN, 1, set()),
        ({"trace_id": TRACE.upper(), "trace_flags": "00"}, TRACE, "", 0, set()),
        ({"trace_id": "0" * 32, "span_id": SPAN}, "", "", 0, {"trace_id", "span_id"}),
        (
            {"trace_id": TRACE, "span_id": "xyz", "trace_flags": 300},
            TRACE,
            "",
            0,
            {"span_id", "trace_flags"},
        ),
        ({"span_id": SPAN, "trace_flags": "01"}, "", "", 0, {"span_id", "trace_flags"}),
        ({"trace_id": TRACE + "00"}, "", "", 0, {"trace_id"}),
    ],
)
def test_trace_fields_map_only_when_valid(
    fields: dict[str, Any], trace_id: str, span_id: str, flags: int, kept: set[str]
) -> None:
    """Valid hex ids become the record's ids; anything else stays an attribute, nothing is lost."""
    record = _one_record({"timestamp": "2026-01-01T00:00:00Z", "level": "info", **fields})
    assert (bytes.fromhex(trace_id), bytes.fromhex(span_id), flags) == (
        record.trace_id,
        record.span_id,
        record.flags,
    )
    assert kept == set(attributes(record))


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2026-11-26T13:47:50.800619Z", 1795700870800619000),
        ("2026-11-26T13:47:50Z", 1795700870000000000),
        ("2026-11-26T13:47:50.123456789Z", 1795700870123456789),
        ("2026-11-26T14:47:50.500+01:00", 1795700870500000000),
        ("yesterday", None),
        ("2026-11-26T13:47:50.8x9Z", None),
        (12, None),
    ],
)
def test_timestamps(stamp: object, expected: int | None) -> None:
    """RFC 3339 timestamps become nanoseconds; an unreadable one stays an attribute."""
    record = _one_record({"timestamp": stamp, "level": "info", "message": "m"})
    if expected is None:
        assert (0, 123) == (record.time_unix_nano, record.observed_time_unix_nano)
        assert {"timestamp": stamp} == attributes(record)
    else:
        assert (expected, expected) == (record.time_unix_nano, record.observed_time_unix_nano)


def test_an_unparsable_event_is_sent_as_text_not_dropped() -> None:
    """A document that is not a JSON object travels as its text body, marked."""
    record = _one_record(b"[1, 2")
    assert "[1, 2" == record.body.string_value
    assert {"nglogger_fallback": ["otlp_unparsable"]} == attributes(record)


def test_encoding_runs_on_the_sink_worker_thread(memory: InMemoryServer) -> None:
    """Events are parsed and encoded on the sink's worker, never on the calling thread."""
    sink = fast_sink(memory.url, transport=memory.transport)
    threads: list[str] = []
    encode = sink.encode

    def recording_encode(events: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return encode(events)

    sink.encode = recording_encode  # type: ignore[method-assign]
    nglogger.configure(Config(sinks=[sink], flush_interval=0.05))
    for i in range(10):
        nglogger.get_logger("t").info("e", i=i)
    assert nglogger.flush(DEADLINE)
    assert threads
    assert all(name.startswith("nglogger-sink-") for name in threads), threads


# ---------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("env", "endpoint"),
    [
        ({}, "http://localhost:4318/v1/logs"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318"}, "https://c:4318/v1/logs"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "https://c/otel/"}, "https://c/otel/v1/logs"),
        ({"OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://l:1/custom"}, "http://l:1/custom"),
        (
            {
                "OTEL_EXPORTER_OTLP_ENDPOINT": "https://c:4318",
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "http://l:1/x",
            },
            "http://l:1/x",
        ),
    ],
)
def test_endpoint_from_environment(env: dict[str, str], endpoint: str) -> None:
    """LOGS_ENDPOINT is used as-is; ENDPOINT gets /v1/logs; the default is localhost:4318."""
    assert endpoint == resolve_settings(env).endpoint


def test_settings_from_environment_and_their_precedence() -> None:
    """Logs variables win over general ones; timeout is in milliseconds; headers are decoded."""
    env = {
        "OTEL_EXPORTER_OTLP_HEADERS": "a=1",
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "api-key=s%3Dcret,x-team = a%2Cb ",
        "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        "OTEL_EXPORTER_OTLP_COMPRESSION": "GZIP",
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "http/json",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",  # for other signals: the logs variable wins
    }
    settings = resolve_settings(env)
    assert {"api-key": "s=cret", "x-team": "a,b"} == dict(settings.headers)
    assert (2.5, "gzip", "http/json") == (
        settings.timeout,
        settings.compression,
        settings.protocol,
    )
    shown = settings.describe()
    assert ({"api-key": "****", "x-team": "****"}, "env:OTEL_EXPORTER_OTLP_LOGS_HEADERS") == (
        shown["otel.headers"]
    )
    assert (2500, "env:OTEL_EXPORTER_OTLP_TIMEOUT") == shown["otel.timeout_ms"]
    assert "s=cret" not in repr(settings)
    explicit = resolve_settings(env, protocol="http/protobuf", timeout=1.0, headers={})
    assert ("http/protobuf", 1.0, {}) == (
        explicit.protocol,
        explicit.timeout,
        dict(explicit.headers),
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "thrift"}, "accepted: http/protobuf, http/json"),
        ({"OTEL_EXPORTER_OTLP_TIMEOUT": "soon"}, "OTEL_EXPORTER_OTLP_TIMEOUT='soon'"),
        ({"OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": "0"}, "milliseconds > 0"),
        ({"OTEL_EXPORTER_OTLP_COMPRESSION": "zstd"}, "accepted: gzip, none"),
        ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT="),
        ({"OTEL_EXPORTER_OTLP_HEADERS": "token"}, "OTEL_EXPORTER_OTLP_HEADERS='****'"),
        ({"OTEL_RESOURCE_ATTRIBUTES": "a=%zz"}, "OTEL_RESOURCE_ATTRIBUTES="),
    ],
)
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    """A bad variable raises ConfigError naming it and what is accepted (secrets masked)."""
    config = Config(sinks=["otlp"], sink_env=env)  # the URI alone is valid
    with pytest.raises(ConfigError) as info:
        nglogger.Pipeline(config)
    assert message in str(info.value)
    assert "token" not in str(info.value).split("=", 1)[1]


@pytest.mark.parametrize(
    ("uri", "endpoint", "options"),
    [
        ("otlp", "", {}),
        ("otlp+http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/logs", {}),
        ("otlp+https://collector/", "https://collector/v1/logs", {}),
        ("otlp+http://h:1/custom/logs", "http://h:1/custom/logs", {}),
        (
            "otlp+http://h:1?protocol=http/json&compression=gzip&timeout=1500",
            "http://h:1/v1/logs",
            {"protocol": "http/json", "compression": "gzip", "timeout": 1.5},
        ),
        ("otlp+grpc://127.0.0.1:4317", "http://127.0.0.1:4317", {"protocol": "grpc"}),
        (
            "otlp+grpcs://collector:4317/?timeout=500",
            "https://collector:4317",
            {"protocol": "grpc", "timeout": 0.5},
        ),
    ],
)
def test_sink_uris(uri: str, endpoint: str, options: dict[str, Any]) -> None:
    """`otlp` takes the environment; `otlp+http(s)://` without a path gets /v1/logs."""
    check_sink_uri(uri)
    assert (endpoint, options) == parse_sink_uri(uri)


@pytest.mark.parametrize(
    ("uri", "hint"),
    [
        ("otlp+http://h:1?protocol=grpc", "protocol=grpc on an otlp+http(s) URI; accepted"),
        ("otlp+http://h:1?color=red", "unknown otlp option 'color'"),
        ("otlp+http://user:pw@h:1", "credentials in the URI; accepted: headers in OTEL_EXPORTER"),
        ("otlp+http://h:port", "bad port"),
        ("otlp+grpcx://h:4317", "accepted: stdout"),
    ],
)
def test_bad_sink_uris(uri: str, hint: str) -> None:
    """A bad otlp URI is a ConfigError on `sinks` with the reason, without credentials."""
    with pytest.raises(ConfigError) as info:
        Config(sinks=[uri])
    assert hint in str(info.value)
    assert "pw" not in str(info.value)


def test_headers_and_gzip_reach_the_wire(server: RecordingServer) -> None:
    """Configured headers and gzip compression are on every request; the URI sets the endpoint."""
    env = {"OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20t0ken,x-tenant=7"}
    uri = f"otlp+{server.url}?compression=gzip"
    nglogger.configure(Config.from_env(env, sinks=(uri,), flush_interval=0.05))
    nglogger.get_logger("wire").info("compressed")
    assert nglogger.flush(DEADLINE)
    [request] = server.wait_for(1)
    assert "/v1/logs" == request.path
    assert ("Bearer t0ken", "7", "gzip") == (
        request.headers["authorization"],
        request.headers["x-tenant"],
        request.headers["content-encoding"],
    )
    assert request.wire_bytes != len(request.body)
    assert "compressed" == records([decode(request)])[0][1].body.string_value


# ---------------------------------------------------------------------------- fork


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_exports_with_a_new_instance_id(server: RecordingServer) -> None:
    """After fork the child's resource has a new service.instance.id; both reach the receiver."""
    sink = OtlpLogsSink(f"{server.url}/v1/logs", resource={"service.name": "forky"})
    nglogger.configure(Config(sinks=[sink], flush_interval=0.05))
    log = nglogger.get_logger("fork")
    log.info("parent")
    assert nglogger.flush(DEADLINE)
    server.wait_for(1)
    parent_id = sink.instance_id

    pid = os.fork()
    if pid == 0:  # the child: log, flush, leave without returning into pytest
        code = 1
        try:
            log.info("child")
            code = 0 if nglogger.flush(DEADLINE) else 2
        finally:
            os._exit(code)
    status: list[int] = []
    reaper = threading.Thread(target=lambda: status.append(os.waitpid(pid, 0)[1]))
    reaper.start()
    reaper.join(10.0)
    if reaper.is_alive():
        os.kill(pid, 9)
        reaper.join(5.0)
        pytest.fail("forked child did not finish")
    assert [0] == [os.waitstatus_to_exitcode(s) for s in status]

    ids = {}
    for request in server.wait_for(2):
        message = decode(request)
        body = records([message])[0][1].body.string_value
        ids[body] = attributes(message.resource_logs[0].resource)["service.instance.id"]
    assert parent_id == ids["parent"] == sink.instance_id
    assert ids["child"] != parent_id
    assert uuid.UUID(ids["child"]).version == 4


def test_a_configured_instance_id_is_kept() -> None:
    """An explicit service.instance.id is the user's: after_fork does not replace it."""
    sink = OtlpLogsSink(resource={"service.name": "a", "service.instance.id": "pod-7"})
    sink.after_fork()
    assert "pod-7" == sink.instance_id


# ---------------------------------------------------------------------------- faults


def _responses(*replies: tuple[int, dict[str, str], bytes]) -> Any:
    """A responder playing ``replies`` in order, then repeating the last; records arrival times."""
    times: list[float] = []
    lock = threading.Lock()

    def respond(_request: Request) -> tuple[int, dict[str, str], bytes]:
        with lock:
            times.append(time.monotonic())
            return replies[min(len(times), len(replies)) - 1]

    respond.times = times  # type: ignore[attr-defined]
    return respond


@pytest.mark.slow
def test_503_storm_stays_bounded_and_counts_every_event(memory: InMemoryServer) -> None:
    """A backend answering 503 for 1.5 s of steady logging: bounded queue, <= 1.1 wire attempts per batch, exact drops."""
    memory.set_responder(_responses((503, {}, b"")))
    sink = fast_sink(memory.url, transport=memory.transport, batch_deadline=0.3)
    queue_events, queue_bytes = 200, 64 * 1024
    pipeline = nglogger.configure(
        Config(
            sinks=[sink],
            batch_max_events=50,
            batch_max_bytes=queue_bytes,
            max_event_bytes=queue_bytes,
            flush_interval=0.02,
            sink_queue_max_events=queue_events,
            sink_queue_max_bytes=queue_bytes,
        )
    )
    log = nglogger.get_logger("storm")
    logged = 0
    slowest = 0.0
    started = time.monotonic()
    while time.monotonic() - started < 1.5:
        for _ in range(50):  # one batch
            before = time.monotonic()
            log.info("storm", i=logged)  # never raises
            slowest = max(slowest, time.monotonic() - before)
            logged += 1
        pipeline.flush(0.02)  # paces the producer: waits (at most 20 ms) for an idle sink
    pipeline.shutdown(3.0)

    stats = pipeline.stats()
    [sink_stats] = stats.sinks.values()
    assert slowest < 0.1  # the caller is never held up by the backend
    assert 0 == sink_stats.exported
    assert stats.dispatched == sink_stats.accepted == sum(sink_stats.dropped.values())
    assert logged == stats.submitted == stats.dispatched + sum(stats.dropped.values())
    assert set(sink_stats.dropped) <= {
        "retries_exhausted",
        "breaker_open",
        "sink_queue_full",
        "shutdown_deadline",
    }
    assert sink_stats.high_water_events <= queue_events
    assert sink_stats.high_water_bytes <= queue_bytes
    http = sink.http_stats()
    first = http["budget"]["attempts"]
    retries = http.get("retries", 0)
    assert len(memory.requests) == http["requests"] == first + retries
    assert retries <= 0.1 * first + 2  # the retry budget (10% plus a floor)
    assert stats.batches >= 20
    assert http["requests"] <= 1.1 * stats.batches + 2  # about 1.1 wire attempts per batch
    assert http["breaker"]["opened"] >= 1
    assert http["breaker"]["probes"] >= 1  # it kept probing during the outage


@pytest.mark.parametrize("retry_after", ["1", "date"])
@pytest.mark.slow
def test_429_with_retry_after_is_retried_after_the_wait(
    memory: InMemoryServer, retry_after: str
) -> None:
    """429 + Retry-After (seconds or HTTP-date): one retry after the asked delay, then delivered."""
    from email.utils import formatdate

    header = formatdate(time.time() + 2, usegmt=True) if retry_after == "date" else retry_after
    respond = _responses((429, {"Retry-After": header}, b""), (200, {}, b""))
    memory.set_responder(respond)
    sink = fast_sink(memory.url, transport=memory.transport, batch_deadline=10.0)
    pipeline = nglogger.configure(Config(sinks=[sink], flush_interval=0.05))
    for i in range(5):
        nglogger.get_logger("slow").info("later", i=i)
    assert pipeline.flush(DEADLINE)
    first, second = memory.wait_for(2)
    assert first.body == second.body
    assert respond.times[1] - respond.times[0] >= 0.9
    [sink_stats] = pipeline.stats().sinks.values()
    assert (5, {}) == (sink_stats.exported, dict(sink_stats.dropped))
    assert 1 == sink.http_stats()["retries"]


@pytest.mark.parametrize("status", [401, 403, 500, 501])
def test_other_statuses_are_not_retried(memory: InMemoryServer, status: int) -> None:
    """Statuses outside 429/502/503/504 are not retried: one request, events dropped `rejected`.

    (A 400 or 422 may be about one event: it is bisected, see test_backend_answers.)"""
    memory.set_responder(_responses((status, {}, b"")))
    sink = fast_sink(memory.url, transport=memory.transport)
    pipeline = nglogger.configure(Config(sinks=[sink], flush_interval=5.0))
    for i in range(3):
        nglogger.get_logger("no").info("nope", i=i)
    assert pipeline.flush(DEADLINE)
    assert 1 == len(memory.requests)
    [sink_stats] = pipeline.stats().sinks.values()
    assert {"rejected": 3} == dict(sink_stats.dropped)


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_partial_success_is_counted_and_not_retried(memory: InMemoryServer, protocol: str) -> None:
    """A 200 with partial_success drops exactly rejected_log_records as `rejected`, no retry."""
    reply = ExportLogsServiceResponse()
    reply.partial_success.rejected_log_records = 3
    reply.partial_success.error_message = "3 records too old"
    if protocol == "http/json":
        body = json_format.MessageToJson(reply).encode()
        assert b'"rejectedLogRecords": "3"' in body
        content_type = "application/json"
    else:
        body, content_type = reply.SerializeToString(), "application/x-protobuf"
    memory.set_responder(_responses((200, {"Content-Type": content_type}, body)))
    sink = fast_sink(memory.url, transport=memory.transport, protocol=protocol)
    pipeline = nglogger.configure(Config(sinks=[sink], flush_interval=5.0))
    for i in range(10):
        nglogger.get_logger("partial").info("maybe", i=i)
    assert pipeline.flush(DEADLINE)
    assert 1 == len(memory.requests)
    [sink_stats] = pipeline.stats().sinks.values()
    assert (7, {"rejected": 3}) == (sink_stats.exported, dict(sink_stats.dropped))
    assert 1 == sink.http_stats()["partial_success"]


def test_an_unreadable_success_reply_counts_as_delivered(memory: InMemoryServer) -> None:
    """A 200 whose body is not an ExportLogsServiceResponse still means delivered."""
    memory.set_responder(_responses((200, {"Content-Type": "application/json"}, b"<html>")))
    sink = fast_sink(memory.url, transport=memory.transport)
    pipeline = nglogger.configure(Config(sinks=[sink], flush_interval=5.0))
    nglogger.get_logger("odd").info("ok")
    assert pipeline.flush(DEADLINE)
    [sink_stats] = pipeline.stats().sinks.values()
    assert (1, {}) == (sink_stats.exported, dict(sink_stats.dropped))
    assert 1 == sink.http_stats()["unreadable_response"]


@pytest.mark.slow
def test_black_hole_times_out_without_hurting_the_caller(server: RecordingServer) -> None:
    """A server that accepts and never answers: per-request timeouts, events kept, fast shutdown.

    Nothing is dropped while the sink queue has room: the events wait for the
    backend; the shutdown deadline is what finally counts them (shutdown_deadline).
    """

    def never_answer(_request: Request) -> None:
        server.closing.wait(30.0)  # released when the server closes (teardown)

    server.set_responder(never_answer)
    sink = fast_sink(
        server.url, timeout=0.2, retry=RetryPolicy(base=0.01, cap=0.02, max_attempts=2)
    )
    pipeline = nglogger.configure(Config(sinks=[sink], flush_interval=5.0))
    log = nglogger.get_logger("hole")
    started = time.monotonic()
    for i in range(20):
        log.info("into the void", i=i)
    assert time.monotonic() - started < 0.5
    assert not pipeline.flush(1.0)
    [sink_stats] = pipeline.stats().sinks.values()
    assert 0 == sink_stats.exported
    assert {} == dict(sink_stats.dropped)
    assert 20 == sink_stats.queued_events
    http = sink.http_stats()
    assert http["timeout"] >= 1
    # before the breaker opens: its failure threshold (5) and a budget retry; then probes
    assert http["requests"] <= 6 + sink.breaker.stats["probes"]
    started = time.monotonic()
    assert not pipeline.shutdown(2.0)
    assert time.monotonic() - started < 2.5
    [sink_stats] = pipeline.stats().sinks.values()
    assert {"shutdown_deadline": 20} == dict(sink_stats.dropped)


def test_retry_budget_is_shared_with_the_http_family() -> None:
    """The OTLP sink uses HttpSink's budget and breaker, retrying exactly the OTLP statuses."""
    budget = RetryBudget(ratio=0.5)
    sink = OtlpLogsSink(budget=budget)
    assert OTLP_RETRYABLE == sink.retry.retryable_statuses == frozenset({429, 502, 503, 504})
    assert budget is sink.budget
    assert "otlp:http://localhost:4318/v1/logs" == sink.name


def test_otlp_json_helper_turns_ids_into_hex() -> None:
    """otlp_json writes trace and span ids as lower-case hex, never base64."""
    message = ExportLogsServiceRequest()
    record = message.resource_logs.add().scope_logs.add().log_records.add()
    record.trace_id = bytes.fromhex(TRACE)
    record.span_id = bytes.fromhex(SPAN)
    record.severity_number = 9
    data = orjson.loads(otlp_json(message, json_format))
    assert {"traceId": TRACE, "spanId": SPAN, "severityNumber": 9} == (
        data["resourceLogs"][0]["scopeLogs"][0]["logRecords"][0]
    )


# ---------------------------------------------------------------------------- nglogger config


def _config_cli(env: dict[str, str]) -> Any:
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_"))}
    return subprocess.run(
        [sys.executable, "-m", "nglogger", "config", "--json"],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
        check=False,
    )


def test_nglogger_config_shows_resolved_otel_settings() -> None:
    """`nglogger config` lists endpoint, protocol, masked headers, timeout, compression, resource."""
    out = _config_cli(
        {
            "NGLOGGER_SINKS": "otlp",
            "OTEL_SERVICE_NAME": "shop",
            "OTEL_EXPORTER_OTLP_ENDPOINT": "https://collector:4318",
            "OTEL_EXPORTER_OTLP_LOGS_HEADERS": "api-key=s3cr3t",
            "OTEL_EXPORTER_OTLP_TIMEOUT": "2500",
        }
    )
    assert 0 == out.returncode, out.stderr
    assert "s3cr3t" not in out.stdout
    report = orjson.loads(out.stdout)
    shown = {k: (v["value"], v["source"]) for k, v in report.items() if k.startswith("otel.")}
    resource = shown.pop("otel.resource")
    assert {
        "otel.endpoint": ("https://collector:4318/v1/logs", "env:OTEL_EXPORTER_OTLP_ENDPOINT"),
        "otel.protocol": ("http/protobuf", "default"),
        "otel.headers": ({"api-key": "****"}, "env:OTEL_EXPORTER_OTLP_LOGS_HEADERS"),
        "otel.timeout_ms": (2500, "env:OTEL_EXPORTER_OTLP_TIMEOUT"),
        "otel.compression": ("none", "default"),
    } == shown
    assert ("shop", "env:OTEL_SERVICE_NAME") == (resource[0]["service.name"], resource[1])


@pytest.mark.slow
def test_nglogger_config_without_otel_and_with_grpc() -> None:
    """No OTel section without OTel settings; grpc for an otlp+http URI is left to other signals."""
    plain = _config_cli({"NGLOGGER_SINKS": "stdout"})
    assert 0 == plain.returncode
    assert not [k for k in orjson.loads(plain.stdout) if k.startswith("otel.")]
    http = _config_cli(
        {"NGLOGGER_SINKS": "otlp+http://h:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    )
    assert 0 == http.returncode, http.stderr
    assert "http/protobuf" == orjson.loads(http.stdout)["otel.protocol"]["value"]
    grpc = _config_cli({"NGLOGGER_SINKS": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"})
    assert 0 == grpc.returncode, grpc.stderr
    shown = orjson.loads(grpc.stdout)
    assert "grpc" == shown["otel.protocol"]["value"]
    assert "http://localhost:4317" == shown["otel.endpoint"]["value"]
    assert shown["otel.insecure"]["value"] is True
    bad = _config_cli({"NGLOGGER_SINKS": "otlp", "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "thrift"})
    assert 2 == bad.returncode
    assert "accepted: http/protobuf, http/json, grpc" in bad.stderr
