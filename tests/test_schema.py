"""Output schemas: the key names ECS, Cloud Logging and Datadog expect, chosen at configure time.

References: ecs-logging's ``StdlibFormatter`` (Elastic's own Python formatter) for ECS,
the documented special fields of Cloud Logging's structured logs for GCP, and
datadog-api-client's ``HTTPLog`` model plus the Datadog sink's own id conversion for
Datadog. A call under any schema makes the same Python calls as under the default.
"""

from __future__ import annotations

import inspect
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from support.memory_http import InMemoryServer
from test_hot_path_calls import calls_for

import nglogger
from nglogger._core.errors import ConfigError
from nglogger._event import layout as _layout
from nglogger.sinks import MemorySink, NullSink
from nglogger.sinks._console import render_batch, style_for_schema

WAIT = 10.0
HEADS = {
    "default": ("timestamp", "level", "logger", "message"),
    "ecs": ("@timestamp", "log.level", "log.logger", "message"),
    "gcp": ("time", "severity", "logger", "message"),
    "datadog": ("timestamp", "status", "logger.name", "message"),
}
LEVELS = ("debug", "info", "warning", "error", "critical")


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``json.loads`` hook: fail on a key that appears twice in one object."""
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)


def parse(line: bytes) -> dict[str, Any]:
    """One event, parsed strictly (duplicate keys fail the test)."""
    event = json.loads(line, object_pairs_hook=no_duplicates)
    assert isinstance(event, dict)
    return event


def events_of(sink: MemorySink) -> list[dict[str, Any]]:
    """Every event ``sink`` received, parsed strictly."""
    assert nglogger.flush(WAIT)
    return [parse(line) for line in sink.lines()]


@pytest.fixture
def memory() -> Iterator[MemorySink]:
    sink = MemorySink()
    yield sink
    nglogger.shutdown(5)


def logged(schema: str, memory: MemorySink, **settings: Any) -> list[dict[str, Any]]:
    """Configure ``schema`` on ``memory``, log one event per level, return them parsed."""
    nglogger.configure(sinks=[memory], schema=schema, level="debug", **settings)
    log = nglogger.get_logger("shop")
    for level in LEVELS:
        getattr(log, level)(f"at {level}", order=7)
    return events_of(memory)


def test_literal_offsets_of_the_inline_rewrite_match_the_layout() -> None:
    """The pipeline's inline rewrite uses 14, 41 and 52: the layout's own offsets."""
    assert 14 == len(_layout.TIMESTAMP_OPEN)
    assert 41 == _layout.TIMESTAMP_END
    assert 52 == _layout.LEVEL_START


def test_config_lists_exactly_the_layout_schemas() -> None:
    """Config.schema accepts the schemas _layout defines, no more, no fewer."""
    import typing

    from nglogger._config.config import Schema

    assert set(typing.get_args(Schema)) == set(_layout.SCHEMAS)


@pytest.mark.parametrize("schema", list(HEADS))
def test_each_schema_writes_its_head_keys_first_in_order(schema: str, memory: MemorySink) -> None:
    """The four head keys come first, in order, with the schema's level spelling."""
    events = logged(schema, memory)
    head = HEADS[schema]
    spelled = {"gcp": [lv.upper() for lv in LEVELS]}.get(schema, list(LEVELS))
    assert spelled == [event[head[1]] for event in events]
    for event, level in zip(events, LEVELS, strict=True):
        assert head == tuple(event)[:4]
        assert "shop" == event[head[2]]
        assert f"at {level}" == event[head[3]]
        assert 7 == event["order"]
        assert event[head[0]].endswith("Z")
        assert len(event[head[0]]) == 27


def test_ecs_events_carry_the_ecs_version(memory: MemorySink) -> None:
    """schema="ecs" adds ecs.version (as ecs-logging does), from static context."""
    [event, *_] = logged("ecs", memory)
    assert _layout.ECS_VERSION == event["ecs.version"]


def test_the_default_schema_adds_and_renames_nothing(memory: MemorySink) -> None:
    """The default: status, time, severity, @timestamp stay as the caller named them."""
    nglogger.configure(sinks=[memory], schema="default")
    names = {"status": 200, "time": 1, "severity": 2, "@timestamp": 3, "log.level": 4}
    nglogger.get_logger("shop").info("m", **names)
    [event] = events_of(memory)
    assert {"timestamp", "level", "logger", "message", *names} == set(event)


@pytest.mark.parametrize(
    ("schema", "field", "renamed"),
    [
        ("ecs", "@timestamp", "@timestamp_"),
        ("ecs", "log.level", "log.level_"),
        ("ecs", "error", "error_"),
        ("ecs", "level", "level_"),
        ("gcp", "severity", "severity_"),
        ("gcp", "time", "time_"),
        ("gcp", "timestamp", "timestamp_"),
        ("gcp", "logging.googleapis.com/trace", "logging.googleapis.com/trace_"),
        ("datadog", "status", "status_"),
        ("datadog", "logger.name", "logger.name_"),
        ("datadog", "dd.trace_id", "dd.trace_id_"),
    ],
)
def test_a_field_named_like_a_schema_key_is_renamed_everywhere(
    schema: str, field: str, renamed: str, memory: MemorySink
) -> None:
    """Call fields, bound, contextvars and static context never clobber the schema's keys."""
    nglogger.configure(sinks=[memory], schema=schema, context={field: "static"})
    log = nglogger.get_logger("shop")
    log.info("call", **{field: "mine"})
    log.bind(**{field: "bound"}).info("bound")
    with nglogger.bound_contextvars(**{field: "cv"}):
        log.info("cv")
    handler = nglogger.LoggingHandler()
    stdlib = logging.getLogger("schema.stdlib")
    stdlib.addHandler(handler)
    stdlib.propagate = False
    try:
        stdlib.warning("extra", extra={field: "extra"})
    finally:
        stdlib.removeHandler(handler)
    events = events_of(memory)
    head = HEADS[schema]
    assert [("call", "mine"), ("bound", "bound"), ("cv", "cv"), ("extra", "extra")] == [
        (e[head[3]], e[renamed]) for e in events
    ]
    for event in events:
        assert field not in event or field in head  # the head's own value, not the caller's
        assert event[head[1]] in ("info", "INFO", "warning", "WARNING")


def test_ecs_service_context_becomes_service_name(memory: MemorySink) -> None:
    """schema="ecs": static, bound and call ``service`` are written as ``service.name``."""
    nglogger.configure(sinks=[memory], schema="ecs", context={"service": "checkout"})
    log = nglogger.get_logger("shop")
    log.info("static")
    log.bind(service="bound").info("bound")
    log.info("call", service="call")
    assert [("static", "checkout"), ("bound", "bound"), ("call", "call")] == [
        (e["message"], e["service.name"]) for e in events_of(memory)
    ]


def raise_and_log(log: Any) -> None:
    try:
        raise ValueError("card declined")
    except ValueError:
        if isinstance(log, logging.Logger):
            log.exception("payment failed", extra={"order": 7})
        else:
            log.exception("payment failed", order=7)


@pytest.mark.parametrize(
    ("schema", "keys"),
    [
        ("ecs", ("error.type", "error.message", "error.stack_trace")),
        ("datadog", ("error.kind", "error.message", "error.stack")),
    ],
)
def test_exceptions_use_the_schema_error_keys(
    schema: str, keys: tuple[str, str, str], memory: MemorySink
) -> None:
    """log.exception and a stdlib record's exc_info write the schema's three error keys."""
    nglogger.configure(sinks=[memory], schema=schema)
    raise_and_log(nglogger.get_logger("shop"))
    handler = nglogger.LoggingHandler()
    stdlib = logging.getLogger("schema.exc")
    stdlib.addHandler(handler)
    stdlib.propagate = False
    try:
        raise_and_log(stdlib)
    finally:
        stdlib.removeHandler(handler)
    for event in events_of(memory):
        assert "ValueError" == event[keys[0]]
        assert "card declined" == event[keys[1]]
        assert 'raise ValueError("card declined")' in event[keys[2]]
        assert "exception" not in event


def test_gcp_keeps_the_exception_object_and_writes_source_location(memory: MemorySink) -> None:
    """schema="gcp": a stdlib record's source is logging.googleapis.com/sourceLocation."""
    nglogger.configure(sinks=[memory], schema="gcp")
    handler = nglogger.LoggingHandler(source=True)
    stdlib = logging.getLogger("schema.gcp")
    stdlib.addHandler(handler)
    stdlib.propagate = False
    try:
        raise_and_log(stdlib)
    finally:
        stdlib.removeHandler(handler)
    [event] = events_of(memory)
    lines, start = inspect.getsourcelines(raise_and_log)
    line = start + next(i for i, text in enumerate(lines) if "extra=" in text)
    assert {"file": __file__, "line": str(line), "function": "raise_and_log"} == event[
        "logging.googleapis.com/sourceLocation"
    ]
    location = event["logging.googleapis.com/sourceLocation"]
    assert location["line"].isdigit()
    assert "ValueError" == event["exception"]["type"]
    assert "ERROR" == event["severity"]


def test_ecs_names_match_ecs_logging_for_the_same_record(memory: MemorySink) -> None:
    """ECS: every field an nglogger event has is one ecs-logging writes for the same record.

    Both outputs are flattened to dotted paths (Elasticsearch reads ``{"log":{"logger":
    ...}}`` and ``"log.logger"`` as the same field); ecs-logging's extra process and
    ``log.original`` fields are the only ones nglogger leaves out.
    """
    import ecs_logging

    stream = io.StringIO()
    reference = logging.StreamHandler(stream)
    reference.setFormatter(ecs_logging.StdlibFormatter())
    nglogger.configure(sinks=[memory], schema="ecs")
    ours = nglogger.LoggingHandler(source=True)
    stdlib = logging.getLogger("schema.ecs")
    stdlib.setLevel(logging.INFO)
    stdlib.addHandler(reference)
    stdlib.addHandler(ours)
    stdlib.propagate = False
    try:
        stdlib.info("plain")
        raise_and_log(stdlib)
    finally:
        stdlib.removeHandler(reference)
        stdlib.removeHandler(ours)
    theirs = [flatten(json.loads(line)) for line in stream.getvalue().splitlines()]
    mine = [flatten(event) for event in events_of(memory)]
    assert 2 == len(theirs) == len(mine)
    for nglogger_event, ecs_event in zip(mine, theirs, strict=True):
        own = set(nglogger_event)
        assert own <= set(ecs_event), own - set(ecs_event)
        assert set(ecs_event) - own <= {
            "log.original",
            "process.name",
            "process.pid",
            "process.thread.id",
            "process.thread.name",
        }
        for key in ("log.level", "log.logger", "message", "log.origin.function", "ecs.version"):
            assert ecs_event[key] == nglogger_event[key], key
        assert ecs_event.get("error.type") == nglogger_event.get("error.type")
        assert ecs_event.get("error.message") == nglogger_event.get("error.message")


def flatten(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested objects as dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for key, item in value.items():
        name = f"{prefix}{key}"
        if isinstance(item, dict):
            out.update(flatten(item, f"{name}."))
        else:
            out[name] = item
    return out


def in_span(call: Any) -> Any:
    """Run ``call()`` inside an SDK span; return the span's context."""
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("checkout") as span:
        call()
        return span.get_span_context()


@pytest.mark.parametrize("project", [None, "my-project-123"])
def test_gcp_trace_fields(project: str | None, memory: MemorySink) -> None:
    """GCP: trace (projects/P/traces/ID with a project), spanId hex, trace_sampled boolean."""
    nglogger.configure(sinks=[memory], schema="gcp", trace_context=True, gcp_project=project)
    context = in_span(lambda: nglogger.get_logger("shop").info("traced"))
    [event] = events_of(memory)
    trace = f"{context.trace_id:032x}"
    if project is not None:
        trace = f"projects/{project}/traces/{trace}"
    assert trace == event["logging.googleapis.com/trace"]
    assert all(event), event
    assert f"{context.span_id:016x}" == event["logging.googleapis.com/spanId"]
    assert event["logging.googleapis.com/trace_sampled"] is True
    assert not {"trace_id", "span_id", "trace_flags"} & set(event)


def test_ecs_trace_fields(memory: MemorySink) -> None:
    """ECS: trace.id and span.id, W3C hex; no flags field (ECS has none)."""
    nglogger.configure(sinks=[memory], schema="ecs", trace_context=True)
    context = in_span(lambda: nglogger.get_logger("shop").info("traced"))
    [event] = events_of(memory)
    assert f"{context.trace_id:032x}" == event["trace.id"]
    assert f"{context.span_id:016x}" == event["span.id"]
    assert not {"trace_id", "span_id", "trace_flags", "trace.flags"} & set(event)
    assert all(event), event  # no key without a name (the flags once went under "")


def test_datadog_trace_ids_are_what_the_datadog_sink_derives(memory: MemorySink) -> None:
    """Datadog: dd.trace_id / dd.span_id equal the sink's own conversion of the W3C ids."""
    import re

    from nglogger.sinks.datadog import dd_id

    nglogger.configure(sinks=[memory], schema="datadog", trace_context=True)
    context = in_span(lambda: nglogger.get_logger("shop").info("traced"))
    [event] = events_of(memory)
    assert dd_id(f"{context.trace_id:032x}", re.compile("[0-9a-f]{32}")) == event["dd.trace_id"]
    assert dd_id(f"{context.span_id:016x}", re.compile("[0-9a-f]{16}")) == event["dd.span_id"]
    assert not {"trace_id", "span_id", "trace_flags"} & set(event)


def test_datadog_schema_and_sink_do_not_map_twice() -> None:
    """schema="datadog" into DatadogSink: one status, one dd.trace_id, one error.kind per entry.

    The entries also validate as datadog-api-client's HTTPLog items.
    """
    from datadog_api_client import Configuration
    from datadog_api_client.model_utils import validate_and_convert_types
    from datadog_api_client.v2.model.http_log import HTTPLog

    from nglogger.sinks.datadog import DatadogSink

    server = InMemoryServer()
    server.set_responder(lambda request: (202, {}, b"{}"))
    sink = DatadogSink(
        "dd-key", url=f"{server.url}/api/v2/logs", transport=server.transport, hostname="h"
    )
    pipeline = nglogger.configure(
        sinks=[sink], schema="datadog", trace_context=True, flush_interval=0.05
    )
    try:
        log = nglogger.get_logger("shop")
        log.info("plain", status=200)
        in_span(lambda: raise_and_log(log))
        assert pipeline.flush(WAIT)
        entries = [
            e
            for r in server.wait_for(1, WAIT)
            for e in json.loads(r.body, object_pairs_hook=no_duplicates)
        ]
    finally:
        nglogger.shutdown(5)
    assert [("plain", "info"), ("payment failed", "error")] == [
        (e["message"], e["status"]) for e in entries
    ]
    assert 200 == entries[0]["status_"]
    failed = entries[1]
    assert "ValueError" == failed["error.kind"]
    assert failed["dd.trace_id"].isdigit()
    assert not {"level", "exception", "trace_id"} & set(failed)
    model = validate_and_convert_types(entries, (HTTPLog,), ["body"], True, True, Configuration())
    assert isinstance(model, HTTPLog)


def test_ecs_schema_into_elasticsearch_keeps_one_timestamp() -> None:
    """schema="ecs" into ElasticsearchSink: the event's own @timestamp, never a second one."""
    from nglogger.sinks.elasticsearch import ElasticsearchSink

    server = InMemoryServer()
    server.set_responder(lambda request: (200, {}, b'{"errors":false}'))
    sink = ElasticsearchSink(server.url, transport=server.transport)
    pipeline = nglogger.configure(sinks=[sink], schema="ecs", flush_interval=0.05)
    try:
        nglogger.get_logger("shop").info("indexed")
        assert pipeline.flush(WAIT)
        [request] = server.wait_for(1, WAIT)
    finally:
        nglogger.shutdown(5)
    action, document = request.body.splitlines()
    assert {"create": {}} == orjson.loads(action)
    event = parse(document)
    assert ("@timestamp", "log.level", "log.logger", "message") == tuple(event)[:4]
    assert "timestamp" not in event


@pytest.mark.parametrize("schema", ["ecs", "gcp", "datadog"])
def test_a_schema_costs_the_python_calls_of_the_default(schema: str) -> None:
    """A log call under ``schema`` makes exactly the Python calls it makes under the default."""
    counts = {}
    for name in ("default", schema):
        nglogger.configure(sinks=[NullSink()], schema=name)
        try:
            log = nglogger.get_logger("gate")
            counts[name] = (
                calls_for(lambda log=log: log.info("m", request_id="r-1", n=3)),
                calls_for(lambda log=log: log.info("m", payload={"a": [1, 2], "b": "x" * 50})),
                calls_for(lambda log=log: log.bind(user="u").warning("m")),
            )
        finally:
            nglogger.shutdown(5)
    assert counts["default"] == counts[schema], counts


def test_an_unknown_level_word_is_rewritten_by_the_slow_form() -> None:
    """A head whose level is outside the table still gets the schema's names."""
    event = (
        b'{"timestamp":"2026-11-26T13:47:50.800619Z","level":"notice","logger":"a","message":"m"}'
    )
    assert {
        "time": "2026-11-26T13:47:50.800619Z",
        "severity": "notice",
        "logger": "a",
        "message": "m",
    } == parse(_layout.SCHEMAS["gcp"].rewrite(event))
    assert b"[1,2]" == _layout.SCHEMAS["ecs"].rewrite(b"[1,2]")  # not an event: as it is


@pytest.mark.parametrize("schema", ["ecs", "gcp", "datadog"])
def test_console_reads_each_schema_head(schema: str, memory: MemorySink) -> None:
    """The console renderer shows time, level, logger and message of a schema's events."""
    nglogger.configure(sinks=[memory], schema=schema)
    raise_and_log(nglogger.get_logger("shop"))
    assert nglogger.flush(WAIT)
    text = render_batch(b"\n".join(memory.lines()), style_for_schema(schema)).decode()
    first, *block = text.splitlines()
    version = " ecs.version=1.6.0" if schema == "ecs" else ""
    assert f"ERROR    [shop] payment failed{version} order=7" == first.split(" ", 1)[1]
    assert any('raise ValueError("card declined")' in line for line in block)


def test_bad_schema_names_the_setting_and_the_accepted_values() -> None:
    """configure(schema=...) and NGLOGGER_SCHEMA reject a name with the accepted ones."""
    with pytest.raises(ConfigError) as caught:
        nglogger.Config(schema="elastic")  # type: ignore[arg-type]
    assert "schema='elastic' is invalid; accepted: default, ecs, gcp, datadog" in str(caught.value)
    with pytest.raises(ConfigError) as env:
        nglogger.Config.from_env({"NGLOGGER_SCHEMA": "splunk", "NGLOGGER_CONFIG_ERRORS": "raise"})
    assert "NGLOGGER_SCHEMA" in str(env.value)
    assert "default, ecs, gcp, datadog" in str(env.value)
    assert "ecs" == nglogger.Config.from_env({"NGLOGGER_SCHEMA": "ECS"}).schema
    with pytest.raises(ConfigError) as project:
        nglogger.Config(gcp_project="has space")
    assert "gcp_project='has space' is invalid" in str(project.value)


#: The special fields of Cloud Logging's structured logs (the agent's documented list).
GCP_SPECIAL = {
    "severity",
    "message",
    "httpRequest",
    "time",
    "timestamp",
    "timestampSeconds",
    "timestampNanos",
    "logging.googleapis.com/insertId",
    "logging.googleapis.com/labels",
    "logging.googleapis.com/operation",
    "logging.googleapis.com/sourceLocation",
    "logging.googleapis.com/spanId",
    "logging.googleapis.com/trace",
    "logging.googleapis.com/trace_sampled",
}


def test_gcp_special_fields_and_severities_are_the_documented_ones(memory: MemorySink) -> None:
    """GCP: every special-looking key is a documented one; severities are LogSeverity names.

    ``LogSeverity`` comes from googleapis-common-protos (``google/logging/type``), the
    enum Cloud Logging's ``severity`` field takes.
    """
    from google.logging.type import log_severity_pb2

    nglogger.configure(sinks=[memory], schema="gcp", level="debug", trace_context=True)
    log = nglogger.get_logger("shop")
    for level in LEVELS:
        in_span(lambda level=level: getattr(log, level)(f"at {level}"))
    handler = nglogger.LoggingHandler(source=True)
    stdlib = logging.getLogger("schema.gcp.special")
    stdlib.addHandler(handler)
    stdlib.propagate = False
    try:
        stdlib.warning("with source")
    finally:
        stdlib.removeHandler(handler)
    events = events_of(memory)
    assert 6 == len(events)
    severities = set(log_severity_pb2.LogSeverity.keys())
    for event in events:
        assert event["severity"] in severities
        written = {k for k in event if k.startswith("logging.googleapis.com/")}
        assert written <= GCP_SPECIAL
        assert {"time", "severity", "message"} <= set(event)
        assert not {"timestamp", "level"} & set(event)  # no second time or level field
    assert ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", "WARNING"] == [
        e["severity"] for e in events
    ]
    assert {"file", "line", "function"} == set(events[-1]["logging.googleapis.com/sourceLocation"])


@pytest.mark.parametrize("schema", list(HEADS))
def test_a_sinks_level_cuts_the_schemas_events_by_their_level(schema: str) -> None:
    """A sink's level= reads the schema's head: the error sink gets error and critical only."""
    everything, errors = MemorySink(name="all"), MemorySink(name="errors", level="error")
    nglogger.configure(sinks=[everything, errors], schema=schema, level="debug")
    try:
        log = nglogger.get_logger("shop")
        for level in LEVELS:
            getattr(log, level)(f"at {level}")
        assert nglogger.flush(WAIT)
        level_key = HEADS[schema][1]
        assert 5 == len(everything.lines())
        assert ["at error", "at critical"] == [parse(line)["message"] for line in errors.lines()]
        assert all(
            parse(line)[level_key] in ("error", "ERROR", "critical", "CRITICAL")
            for line in errors.lines()
        )
        assert 3 == nglogger.stats().sinks["errors"].filtered
    finally:
        nglogger.shutdown(5)


@pytest.mark.parametrize("schema", list(HEADS))
def test_otlp_records_of_a_schema_keep_time_severity_scope_and_trace(
    schema: str, memory: MemorySink
) -> None:
    """The OTLP encoding maps a schema's head and trace names onto OTLP's own fields."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from nglogger.sinks.otlp import OtlpLogsSink

    nglogger.configure(sinks=[memory], schema=schema, trace_context=True)
    context = in_span(lambda: nglogger.get_logger("shop").warning("traced", n=1))
    nglogger.get_logger("shop").error("plain")
    assert nglogger.flush(WAIT)
    lines = memory.lines()
    stamp = parse(lines[0])[HEADS[schema][0]]
    sink = OtlpLogsSink("http://127.0.0.1:9/v1/logs")
    try:
        request = ExportLogsServiceRequest.FromString(sink._encoder.protobuf(lines, 1))
    finally:
        sink.close()
    [scope] = request.resource_logs[0].scope_logs
    assert "shop" == scope.scope.name
    traced, plain = scope.log_records
    assert [13, 17] == [traced.severity_number, plain.severity_number]  # WARN, ERROR
    assert ["WARNING", "ERROR"] == [traced.severity_text, plain.severity_text]
    assert ["traced", "plain"] == [traced.body.string_value, plain.body.string_value]
    expected_ns = utc_ns(stamp)
    assert expected_ns == traced.time_unix_nano
    attributes = {a.key for a in traced.attributes}
    assert "n" in attributes
    assert not set(HEADS[schema][:3]) & attributes  # no second time, level or logger
    if schema == "datadog":  # decimal lower 64 bits: no W3C id to give back
        assert {"dd.trace_id", "dd.span_id"} <= attributes
    else:
        assert f"{context.trace_id:032x}" == traced.trace_id.hex()
        assert f"{context.span_id:016x}" == traced.span_id.hex()


def utc_ns(stamp: str) -> int:
    """Epoch ns of ``2026-12-01T10:00:00.123456Z``."""
    import calendar
    import time as _time

    head, _, fraction = stamp.rstrip("Z").partition(".")
    seconds = calendar.timegm(_time.strptime(head, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0"))
