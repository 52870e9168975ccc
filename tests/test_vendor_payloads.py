"""Payloads each vendor's UI understands, checked against the vendors' own client code.

Datadog: entries validated with ``datadog-api-client``'s ``HTTPLog`` model (the v2 logs
intake's request schema), with the standard attributes Error Tracking and trace
correlation read (``error.*``, ``dd.trace_id``/``dd.span_id``), ``status`` from the
level. Elasticsearch: the request the official ``elasticsearch`` client's
``helpers.bulk`` sends for the same documents, to the same kind of loopback server, is
the reference; every document has ``@timestamp``. Loki: structured metadata (Loki 3) for
high-cardinality fields, never labels. Events come from real loggers (and a real
OpenTelemetry SDK span for the trace ids).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from support.http import RecordingServer, Request
from support.memory_http import InMemoryServer

import nglogger
from nglogger._core.batch import Batch
from nglogger._core.errors import ConfigError
from nglogger.sinks.datadog import ENTRY_LIMIT, DatadogSink, dd_id
from nglogger.sinks.elasticsearch import ElasticsearchSink, data_stream_name
from nglogger.sinks.loki import LokiSink

WAIT = 10.0


@pytest.fixture
def server() -> InMemoryServer:
    return InMemoryServer()


def logged(sink: Any, calls: Any) -> None:
    """Configure a pipeline on ``sink``, run ``calls(log)``, flush."""
    pipeline = nglogger.configure(
        sinks=[sink], flush_interval=0.05, level="debug", trace_context=True
    )
    calls(nglogger.get_logger("shop"))
    assert pipeline.flush(WAIT)


def raise_and_log(log: Any) -> None:
    try:
        raise ValueError("card declined")
    except ValueError:
        log.exception("payment failed", order=7)


# ============================================================================ Datadog


def test_datadog_entries_are_valid_http_log_items_with_error_and_trace_attributes(
    server: InMemoryServer,
) -> None:
    """Every entry validates as HTTPLog; exceptions as error.*, W3C ids as dd.* decimal."""
    from datadog_api_client import Configuration
    from datadog_api_client.model_utils import validate_and_convert_types
    from datadog_api_client.v2.model.http_log import HTTPLog
    from datadog_api_client.v2.model.http_log_item import HTTPLogItem
    from opentelemetry.sdk.trace import TracerProvider

    server.set_responder(lambda request: (202, {}, b"{}"))
    sink = DatadogSink(
        "dd-key",
        url=f"{server.url}/api/v2/logs",
        transport=server.transport,
        hostname="web-1",
        service="checkout",
        env="prod",
        tags=["team:core"],
    )
    tracer = TracerProvider().get_tracer("test")
    spans: list[Any] = []

    def calls(log: Any) -> None:
        for level in ("debug", "info", "warning", "error", "critical"):
            getattr(log, level)(f"at {level}")
        with tracer.start_as_current_span("checkout") as span:
            spans.append(span.get_span_context())
            raise_and_log(log)

    logged(sink, calls)
    entries = [e for r in server.wait_for(1, WAIT) for e in json.loads(r.body)]
    model = validate_and_convert_types(entries, (HTTPLog,), ["body"], True, True, Configuration())
    assert isinstance(model, HTTPLog)
    items = model.value
    assert all(isinstance(item, HTTPLogItem) for item in items)
    from datetime import datetime

    for entry, item in zip(entries, items, strict=True):  # nothing lost or retyped
        parsed = item.to_dict()
        when = parsed.pop("timestamp")  # the client reads Datadog's timestamp as a date
        assert isinstance(when, datetime)
        assert datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")) == when
        assert {k: v for k, v in entry.items() if k != "timestamp"} == parsed
    for item in items:
        assert ("python", "team:core,env:prod", "web-1", "checkout") == (
            item.ddsource,
            item.ddtags,
            item.hostname,
            item.service,
        )
    statuses = [(e["message"], e["status"]) for e in entries]
    assert [
        ("at debug", "debug"),
        ("at info", "info"),
        ("at warning", "warning"),
        ("at error", "error"),
        ("at critical", "critical"),
        ("payment failed", "error"),
    ] == statuses
    failed = entries[-1]
    assert "ValueError" == failed["error.kind"]
    assert "card declined" == failed["error.message"]
    assert failed["error.stack"] == failed["exception"]["stacktrace"]
    assert 'raise ValueError("card declined")' in failed["error.stack"]
    [context] = spans
    assert str(context.trace_id & (2**64 - 1)) == failed["dd.trace_id"]
    assert str(context.span_id) == failed["dd.span_id"]
    assert f"{context.trace_id:032x}" == failed["trace_id"]  # the W3C id stays
    for entry in entries[:-1]:
        assert not {"error.kind", "dd.trace_id", "dd.span_id"} & set(entry)


def test_datadog_ids_are_the_lower_64_bits_in_decimal() -> None:
    """dd_id: lower 64 bits of a W3C hex id, decimal; malformed or zero ids give nothing."""
    import re

    hex32, hex16 = re.compile(r"[0-9a-fA-F]{32}"), re.compile(r"[0-9a-fA-F]{16}")
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    assert str(0xA3CE929D0E0E4736) == dd_id(trace, hex32)
    assert str(0x00F067AA0BA902B7) == dd_id("00f067aa0ba902b7", hex16)
    assert "0" == dd_id("0000000000000001" + "0" * 16, hex32)  # upper bits only: valid W3C id
    assert dd_id("0" * 32, hex32) is None
    assert dd_id("xyz", hex32) is None
    assert dd_id(12, hex32) is None


def test_datadog_keeps_the_events_own_attributes(server: InMemoryServer) -> None:
    """An event that already has dd.trace_id or error.kind keeps its own values, no duplicates."""
    server.set_responder(lambda request: (202, {}, b"{}"))
    sink = DatadogSink(
        "k", url=f"{server.url}/api/v2/logs", transport=server.transport, hostname="h"
    )
    event = orjson.dumps(
        {
            "timestamp": "2026-12-01T10:00:00.000001Z",
            "level": "error",
            "logger": "x",
            "message": "m",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "dd.trace_id": "mine",
            "exception": {"type": "E", "message": "x", "stacktrace": "s"},
            "error.kind": "Mine",
        }
    )
    try:
        assert 1 == sink.write(Batch.from_events([event])).exported
    finally:
        sink.close()
    [request] = server.wait_for(1, WAIT)
    pairs: list[list[tuple[str, Any]]] = []
    [entry] = json.loads(request.body, object_pairs_hook=lambda p: pairs.append(p) or dict(p))
    for obj in pairs:
        assert len({k for k, _ in obj}) == len(obj)
    assert ("mine", "Mine", "x", "s") == (
        entry["dd.trace_id"],
        entry["error.kind"],
        entry["error.message"],
        entry["error.stack"],
    )


def test_datadog_error_attributes_never_push_an_entry_over_1mb(server: InMemoryServer) -> None:
    """A huge stack near the entry limit: error.* left out, the entry stays under 1 MB."""
    server.set_responder(lambda request: (202, {}, b"{}"))
    sink = DatadogSink(
        "k", url=f"{server.url}/api/v2/logs", transport=server.transport, hostname="h"
    )
    stack = "frame\n" * 110_000  # 660 KB: twice would be over 1 MB
    event = orjson.dumps(
        {
            "timestamp": "2026-12-01T10:00:00.000001Z",
            "level": "error",
            "logger": "x",
            "message": "m",
            "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736",
            "exception": {"type": "E", "message": "x", "stacktrace": stack},
        }
    )
    try:
        assert 1 == sink.write(Batch.from_events([event])).exported
    finally:
        sink.close()
    [request] = server.wait_for(1, WAIT)
    body = request.body
    assert len(body) - 2 <= ENTRY_LIMIT
    [entry] = json.loads(body)
    assert "error.stack" not in entry
    assert stack == entry["exception"]["stacktrace"]
    assert str(0xA3CE929D0E0E4736) == entry["dd.trace_id"]  # small: still there


# ============================================================================ Elasticsearch


@pytest.fixture
def es_server() -> Iterator[RecordingServer]:
    """A loopback server answering bulk requests as Elasticsearch does (product header too)."""

    def reply(request: Request) -> tuple[int, dict[str, str], bytes]:
        lines = [line for line in request.body.split(b"\n") if line]
        items = [{"create": {"status": 201}} for _ in lines[::2]]
        body = orjson.dumps({"errors": False, "items": items})
        return 200, {"X-Elastic-Product": "Elasticsearch", "Content-Type": "application/json"}, body

    with RecordingServer(reply) as recording:
        yield recording


def _documents(request: Request) -> tuple[list[Any], list[Any]]:
    lines = [orjson.loads(line) for line in request.body.split(b"\n") if line]
    return lines[::2], lines[1::2]


def test_elasticsearch_bulk_body_matches_the_official_clients(
    es_server: RecordingServer, memory_sink: Any
) -> None:
    """The same documents through elasticsearch.helpers.bulk: same path, actions, sources."""
    from elasticsearch import Elasticsearch, helpers

    sink = ElasticsearchSink(es_server.url, dataset="checkout", namespace="prod")
    assert "logs-checkout-prod" == sink.index
    pipeline = nglogger.configure(sinks=[sink, memory_sink], flush_interval=0.05)
    log = nglogger.get_logger("shop")
    log.info("paid", order=1, amount=9.5)
    log.warning("slow", ms=1200, nested={"a": [1, None]})
    raise_and_log(log)
    assert pipeline.flush(WAIT)
    [ours] = es_server.wait_for(1, WAIT)
    events = memory_sink.events()

    client = Elasticsearch(es_server.url)
    documents = [{"@timestamp": e["timestamp"], **e} for e in events]
    actions = [{"_op_type": "create", "_source": doc} for doc in documents]
    ok, errors = helpers.bulk(client, actions, index="logs-checkout-prod")
    client.close()
    assert (3, []) == (ok, errors)
    [_, theirs] = es_server.wait_for(2, WAIT)

    assert ours.path.split("?")[0] == theirs.path.split("?")[0] == "/logs-checkout-prod/_bulk"
    assert "application/x-ndjson" in ours.headers["content-type"]
    our_actions, our_docs = _documents(ours)
    their_actions, their_docs = _documents(theirs)
    assert their_actions == our_actions == [{"create": {}}] * 3
    assert their_docs == our_docs
    for doc, event in zip(our_docs, events, strict=True):
        assert event["timestamp"] == doc["@timestamp"]  # the event's own time
        assert next(iter(doc)) == "@timestamp"


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (b'{"message":"no time"}', None),  # the time it is sent
        (b'{"@timestamp":"2020-01-01T00:00:00Z","message":"own"}', "2020-01-01T00:00:00Z"),
        (
            b'{"message":"later","timestamp":"2021-02-03T04:05:06.000007Z"}',
            "2021-02-03T04:05:06.000007Z",
        ),
        (
            b'{"timestamp":"2021-02-03T04:05:06Z","x":{"@timestamp":"nested"}}',
            "2021-02-03T04:05:06Z",
        ),
        (b"not json", None),
    ],
)
def test_elasticsearch_every_document_has_a_timestamp(
    server: InMemoryServer, event: bytes, expected: str | None
) -> None:
    server.set_responder(lambda request: (200, {}, b'{"errors":false}'))
    sink = ElasticsearchSink(server.url, transport=server.transport)
    try:
        assert 1 == sink.write(Batch.from_events([event])).exported
    finally:
        sink.close()
    [request] = server.wait_for(1, WAIT)
    _, [doc] = _documents(request)
    stamp = doc["@timestamp"]
    if expected is None:
        from datetime import datetime

        assert datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None
    else:
        assert expected == stamp


@pytest.mark.parametrize(
    ("dataset", "namespace"),
    [("my-app", "prod"), ("App", "prod"), ("app", "a b"), ("x" * 90, "y" * 10), ("_x", "p")],
)
def test_data_stream_names_follow_the_documented_scheme(dataset: str, namespace: str) -> None:
    with pytest.raises(ConfigError):
        data_stream_name(dataset, namespace)
    with pytest.raises(ConfigError):
        ElasticsearchSink("http://127.0.0.1:9200", dataset=dataset, namespace=namespace)


def test_index_and_dataset_are_exclusive() -> None:
    with pytest.raises(ConfigError) as info:
        ElasticsearchSink("http://127.0.0.1:9200", index="x", dataset="y")
    assert "either index or dataset/namespace" in str(info.value)
    assert "logs-nglogger-default" == ElasticsearchSink("http://127.0.0.1:9200").index
    assert "logs-web-default" == ElasticsearchSink("http://127.0.0.1:9200", dataset="web").index


# ============================================================================ Loki


def _loki_push(server: InMemoryServer, **options: Any) -> dict[str, Any]:
    server.set_responder(lambda request: (204, {}, b""))
    sink = LokiSink(server.url, transport=server.transport, **options)
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")

    def calls(log: Any) -> None:
        log.info("outside a span", user_id=42)
        with tracer.start_as_current_span("op"):
            log.info("inside a span", user_id=43)

    logged(sink, calls)
    [request] = server.wait_for(1, WAIT)
    push: dict[str, Any] = json.loads(request.body)
    return push


def test_loki_structured_metadata_carries_high_cardinality_fields(server: InMemoryServer) -> None:
    """trace_id/span_id/user_id as each value's third element; labels unchanged."""
    push = _loki_push(server, structured_metadata=["trace_id", "span_id", "user_id"])
    [stream] = push["streams"]
    assert {"service": "nglogger", "level": "info"} == stream["stream"]
    outside, inside = stream["values"]
    assert 3 == len(outside) == len(inside)
    assert {"user_id": "42"} == outside[2]
    line = json.loads(inside[1])
    assert {"trace_id": line["trace_id"], "span_id": line["span_id"], "user_id": "43"} == inside[2]
    assert all(isinstance(v, str) for v in inside[2].values())  # Loki takes strings only


def test_loki_without_structured_metadata_sends_two_element_values(server: InMemoryServer) -> None:
    """Off by default: Loki 2 and Loki 3 with structured metadata disabled accept the push."""
    [stream] = _loki_push(server)["streams"]
    assert [2, 2] == [len(value) for value in stream["values"]]


@pytest.mark.parametrize(
    ("names", "message"),
    [
        (["service"], "a label already"),
        (["level"], "a label already"),
        (["trace-id"], "field names matching"),
        ("trace_id", "a sequence of field names"),
    ],
)
def test_loki_structured_metadata_names_are_checked(names: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        LokiSink("http://127.0.0.1:3100", structured_metadata=names)
    assert message in str(info.value)


def test_loki_structured_metadata_from_the_environment(server: InMemoryServer) -> None:
    """LOKI_STRUCTURED_METADATA names the fields for loki+http(s):// sinks."""
    from nglogger._config.report import config_from_env
    from nglogger.sinks import resolve_sink

    env = {"LOKI_STRUCTURED_METADATA": "trace_id, span_id"}
    sink = resolve_sink("loki+http://127.0.0.1:3100", config_from_env(env))
    assert isinstance(sink, LokiSink)
    assert ("trace_id", "span_id") == sink.structured_metadata
    sink.close()
    with pytest.raises(ConfigError) as info:
        resolve_sink(
            "loki+http://127.0.0.1:3100", config_from_env({"LOKI_STRUCTURED_METADATA": "a-b"})
        )
    assert "LOKI_STRUCTURED_METADATA='a-b'" in str(info.value)
