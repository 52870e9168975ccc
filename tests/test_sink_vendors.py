"""Each vendor sink sends the requests its API documents and reads the replies it defines.

Datadog Logs API v2, Honeycomb batch events, Grafana Loki push (JSON) and
Elasticsearch/OpenSearch ``_bulk``: method and path, headers (API key, content
type, gzip), body shape, limits, per-event results, configuration from URIs and
variables, and secrets kept out of reprs, names and errors. Requests go through
the in-memory transport (``server``); tests marked ``@each_transport`` run once per
transport (``urllib3``: the real transport to a loopback server on 127.0.0.1, and
``mock``); sinks built from a URI, which open their own connections, go to a loopback
server on 127.0.0.1 (``real_server``). Behaviour every vendor shares (statuses,
per-event results, bad settings, secrets) is one test over a table of vendors.
"""

from __future__ import annotations

import base64
import calendar
import functools
import json
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from support.http import RecordingServer, Request
from support.transports import TRANSPORTS, Server, serving

import nglogger
from nglogger._config.report import config_from_env
from nglogger._core.batch import Batch
from nglogger._core.errors import ConfigError
from nglogger._delivery.decision import ItemResults
from nglogger._delivery.http import HttpResponse
from nglogger._delivery.retry import RetryPolicy
from nglogger._event.timestamp import timestamp
from nglogger.sinks import Outcome, resolve_sink
from nglogger.sinks.datadog import DATADOG_RETRYABLE, DatadogSink
from nglogger.sinks.elasticsearch import ElasticsearchSink
from nglogger.sinks.honeycomb import EU_API_HOST, HoneycombSink
from nglogger.sinks.http import HttpSink
from nglogger.sinks.loki import LokiSink

WAIT = 5.0


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """Requests recorded, sinks built with ``transport=server.transport``: in memory by default."""
    with serving(getattr(request, "param", "mock")) as recording:
        yield recording


#: Run a test once per transport (ids ``urllib3`` and ``mock``): its ``server`` fixture.
each_transport = pytest.mark.parametrize("server", TRANSPORTS, indirect=True)


@pytest.fixture
def real_server() -> Iterator[RecordingServer]:
    """A recording HTTP server on 127.0.0.1, for sinks that open their own connections."""
    with RecordingServer() as recording:
        yield recording


def event(i: int = 0, *, level: str = "info", message: str = "hello", pad: int = 0) -> bytes:
    """An event document laid out exactly as nglogger's loggers write them."""
    fields: dict[str, Any] = {
        "timestamp": timestamp(),
        "level": level,
        "logger": "test",
        "message": message,
        "i": i,
    }
    if pad:
        fields["pad"] = "x" * pad
    return orjson.dumps(fields)


def deliver(sink: HttpSink, events: list[bytes]) -> Outcome:
    """Write one batch of ``events`` through ``sink``, then close it (and its connections)."""
    try:
        return sink.write(Batch.from_events(events))
    finally:
        sink.close()


def fast_retry(statuses: frozenset[int]) -> RetryPolicy:
    """A retry policy with millisecond backoff, so retry tests take no time."""
    return RetryPolicy(base=0.001, cap=0.005, max_attempts=3, retryable_statuses=statuses)


def no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` that fails on a JSON object with a repeated key."""
    keys = [key for key, _ in pairs]
    assert len(keys) == len(set(keys)), keys
    return dict(pairs)


def strict_json(body: bytes) -> Any:
    """The body parsed, failing on duplicate keys at any depth."""
    return json.loads(body, object_pairs_hook=no_duplicate_keys)


def rfc3339_ns(text: str) -> int:
    """Nanoseconds of ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (the test's own conversion)."""
    seconds = calendar.timegm(
        (
            int(text[0:4]),
            int(text[5:7]),
            int(text[8:10]),
            int(text[11:13]),
            int(text[14:16]),
            int(text[17:19]),
        )
    )
    return seconds * 10**9 + int(text[20:26]) * 1000


# ============================================================================ Datadog


def datadog(server: Server, **options: Any) -> DatadogSink:
    """A Datadog sink posting to the server's /api/v2/logs."""
    options.setdefault("hostname", "web-1")
    return DatadogSink(
        "dd-secret-key", url=f"{server.url}/api/v2/logs", transport=server.transport, **options
    )


@each_transport
def test_datadog_request_matches_the_logs_api_v2(server: Server) -> None:
    """POST /api/v2/logs, DD-API-KEY, JSON array gzip'd; each entry is the event plus ddsource/ddtags/hostname/service/status."""
    server.set_responder(lambda request: (202, {}, b"{}"))
    sink = datadog(server, service="checkout", env="prod", version="1.4.2", tags=["team:core"])
    pipeline = nglogger.configure(sinks=[sink], flush_interval=0.05, level="debug")
    log = nglogger.get_logger("app")
    log.info("hello", order=7)
    log.warning("slow", ms=1200)
    assert pipeline.flush(WAIT)
    requests = server.wait_for(1, WAIT)
    entries = [entry for request in requests for entry in strict_json(request.body)]

    for request in requests:
        assert ("POST", "/api/v2/logs") == (request.method, request.path)
        assert "dd-secret-key" == request.headers["dd-api-key"]
        assert "application/json" == request.headers["content-type"]
        assert "gzip" == request.headers["content-encoding"]
    assert [("hello", "info"), ("slow", "warning")] == [(e["message"], e["level"]) for e in entries]
    for entry in entries:
        assert "python" == entry["ddsource"]
        assert "team:core,env:prod,version:1.4.2" == entry["ddtags"]
        assert "web-1" == entry["hostname"]
        assert "checkout" == entry["service"]
        assert entry["level"] == entry["status"]
        assert "app" == entry["logger"]
    assert 7 == entries[0]["order"]
    assert {"accepted": 2, "exported": 2} == {
        k: getattr(pipeline.stats().sinks[sink.name], k) for k in ("accepted", "exported")
    }


def test_datadog_never_duplicates_a_key_the_event_already_has(server: Server) -> None:
    """A top-level service (from the context) or status field wins over the sink's; nested ones do not count."""
    server.set_responder(lambda request: (202, {}, b"{}"))
    sink = datadog(server, service="from-sink")
    pipeline = nglogger.configure(
        sinks=[sink], flush_interval=0.05, context={"service": "from-context"}
    )
    nglogger.get_logger("app").info("answered", status=200)
    assert pipeline.flush(WAIT)
    [entry] = strict_json(server.wait_for(1, WAIT)[0].body)
    assert ("from-context", 200, "python") == (entry["service"], entry["status"], entry["ddsource"])

    nested = orjson.dumps(
        {
            "timestamp": timestamp(),
            "level": "error",
            "logger": "t",
            "message": "m",
            "http": {"service": "x", "status": 503},
        }
    )
    [entry] = strict_json(sink.encode([nested]))
    assert ("from-sink", "error", {"service": "x", "status": 503}) == (
        entry["service"],
        entry["status"],
        entry["http"],
    )


def test_datadog_splits_a_batch_over_1000_entries(server: Server) -> None:
    """2500 events go out as requests of 1000, 1000 and 500 entries (the documented array limit)."""
    server.set_responder(lambda request: (202, {}, b"{}"))
    sink = datadog(server)
    outcome = deliver(sink, [event(i) for i in range(2500)])
    assert (2500, {}) == (outcome.exported, dict(outcome.dropped))
    sizes = [len(request.json()) for request in server.requests]
    assert [1000, 1000, 500] == sizes
    assert list(range(2500)) == [e["i"] for r in server.requests for e in r.json()]


def test_datadog_drops_an_entry_over_1mb_and_keeps_every_payload_under_5mb(
    server: Server,
) -> None:
    """An entry over 1,000,000 bytes is dropped as too_large; requests stay under 5,000,000 bytes uncompressed."""
    server.set_responder(lambda request: (202, {}, b"{}"))
    sink = datadog(server)
    huge = event(99, pad=1_000_000)
    events = [event(i, pad=600_000) for i in range(11)]
    outcome = deliver(sink, [events[0], huge, *events[1:]])
    assert (11, {"too_large": 1}) == (outcome.exported, dict(outcome.dropped))
    assert len(server.requests) >= 2
    for request in server.requests:
        assert len(request.body) <= 5_000_000
        assert all(len(orjson.dumps(entry)) <= 1_000_000 for entry in request.json())
    assert list(range(11)) == [e["i"] for r in server.requests for e in r.json()]


def test_datadog_default_retry_policy_is_the_documented_one() -> None:
    """Retried: 408, 429 and every 5xx; never 400, 401, 403 or 413."""
    statuses = DatadogSink("k", hostname="h").retry.retryable_statuses
    assert {408, 429, 500, 503, 599} <= statuses
    assert not {400, 401, 403, 413} & statuses


def test_datadog_from_dd_variables_and_context() -> None:
    """`datadog` in NGLOGGER_SINKS reads DD_API_KEY/DD_SITE/DD_ENV/DD_VERSION/DD_TAGS and the context's service."""
    config = config_from_env(
        {
            "NGLOGGER_SINKS": "datadog",
            "DD_API_KEY": "dd-secret-key",
            "DD_SITE": "datadoghq.eu",
            "DD_ENV": "prod",
            "DD_VERSION": "2.0",
            "DD_TAGS": "team:core, region:eu",
            "OTEL_SERVICE_NAME": "checkout",
        }
    )
    sink = resolve_sink("datadog", config)
    assert "https://http-intake.logs.datadoghq.eu/api/v2/logs" == sink.url
    [entry] = strict_json(sink.encode([event()]))
    assert ("checkout", "team:core,region:eu,env:prod,version:2.0") == (
        entry["service"],
        entry["ddtags"],
    )
    assert "dd-secret-key" not in repr(sink) + sink.name


def test_datadog_without_an_api_key_is_a_config_error_naming_dd_api_key() -> None:
    """No DD_API_KEY: the error names the variable; a bad site names DD_SITE."""
    with pytest.raises(ConfigError, match="DD_API_KEY"):
        resolve_sink("datadog", nglogger.Config(sinks=["datadog"]))
    with pytest.raises(ConfigError, match="api_key"):
        DatadogSink()
    config = nglogger.Config(sink_env={"DD_API_KEY": "k", "DD_SITE": "not a site"})
    with pytest.raises(ConfigError, match="DD_SITE"):
        resolve_sink("datadog", config)


# ============================================================================ Honeycomb


def per_event_statuses(request: Request) -> tuple[int, dict[str, str], bytes]:
    """Honeycomb's reply: 202 per event, 400 with an error for events whose message is 'bad'."""
    results = [
        {"status": 400, "error": "Event has too many columns."}
        if item["data"].get("message") == "bad"
        else {"status": 202}
        for item in request.json()
    ]
    return 200, {"Content-Type": "application/json"}, orjson.dumps(results)


@each_transport
def test_honeycomb_request_matches_the_batch_api(server: Server) -> None:
    """POST /1/batch/<dataset>, X-Honeycomb-Team, gzip'd array of {"time": <event timestamp>, "data": <event>}."""
    server.set_responder(per_event_statuses)
    sink = HoneycombSink(
        "hc-secret-key", "my dataset", api_host=server.url, transport=server.transport
    )
    pipeline = nglogger.configure(sinks=[sink], flush_interval=0.05)
    nglogger.get_logger("app").info("hello", order=7)
    assert pipeline.flush(WAIT)
    [request] = server.wait_for(1, WAIT)
    assert ("POST", "/1/batch/my%20dataset") == (request.method, request.path)
    assert "hc-secret-key" == request.headers["x-honeycomb-team"]
    assert "application/json" == request.headers["content-type"]
    assert "gzip" == request.headers["content-encoding"]
    [item] = strict_json(request.body)
    assert {"time", "data"} == set(item)
    assert item["data"]["timestamp"] == item["time"]
    assert ("hello", 7, "info") == (
        item["data"]["message"],
        item["data"]["order"],
        item["data"]["level"],
    )


def test_honeycomb_truncated_reply_is_read_as_far_as_it_goes() -> None:
    """A reply cut short still counts the failures it shows; events it omits count as exported."""
    sink = HoneycombSink("k", "ds")
    reply = HttpResponse(200, {}, b'[{"status":202},{"status":400,"error":"x"},{"sta')
    assert ItemResults((), 1, "400") == sink.items(reply, 3)  # cut: no reason readable
    assert sink.items(HttpResponse(200, {}, b""), 3) is None  # all delivered


def test_honeycomb_hosts_us_eu_and_endpoint_variable() -> None:
    """US by default, eu=True for api.eu1, HONEYCOMB_API_ENDPOINT and HONEYCOMB_DATASET from the environment."""
    assert "https://api.honeycomb.io/1/batch/ds" == HoneycombSink("k", "ds").url
    assert f"{EU_API_HOST}/1/batch/ds" == HoneycombSink("k", "ds", eu=True).url
    config = config_from_env(
        {
            "NGLOGGER_SINKS": "honeycomb",
            "HONEYCOMB_API_KEY": "hc-secret-key",
            "HONEYCOMB_API_ENDPOINT": "https://refinery.internal:8080",
            "OTEL_SERVICE_NAME": "checkout",
        }
    )
    sink = resolve_sink("honeycomb", config)
    assert "https://refinery.internal:8080/1/batch/checkout" == sink.url
    env = {"HONEYCOMB_API_KEY": "k", "HONEYCOMB_DATASET": "logs", "OTEL_SERVICE_NAME": "x"}
    config = config_from_env({"NGLOGGER_SINKS": "honeycomb", **env})
    assert "https://api.honeycomb.io/1/batch/logs" == resolve_sink("honeycomb", config).url


def test_honeycomb_without_variables_names_them() -> None:
    """`honeycomb` without HONEYCOMB_API_KEY or a dataset names the missing variable."""
    with pytest.raises(ConfigError, match="HONEYCOMB_API_KEY"):
        resolve_sink("honeycomb", nglogger.Config(sink_env={"HONEYCOMB_DATASET": "ds"}))
    with pytest.raises(ConfigError, match="HONEYCOMB_DATASET"):
        resolve_sink("honeycomb", nglogger.Config(sink_env={"HONEYCOMB_API_KEY": "k"}))


# ============================================================================ Loki


@each_transport
def test_loki_request_matches_the_push_api(server: Server) -> None:
    """POST /loki/api/v1/push, JSON gzip'd, X-Scope-OrgID, basic auth; values are [ns string, event JSON line]."""
    server.set_responder(lambda request: (204, {}, b""))
    sink = LokiSink(
        server.url,
        transport=server.transport,
        labels={"service": "checkout", "env": "prod"},
        tenant_id="tenant-1",
        username="loki-user",
        password="loki-secret",
    )
    pipeline = nglogger.configure(sinks=[sink], flush_interval=0.05)
    log = nglogger.get_logger("app")
    log.info("hello", order=7)
    log.error("failed", code="E1")
    assert pipeline.flush(WAIT)
    requests = server.wait_for(1, WAIT)
    credentials = base64.b64encode(b"loki-user:loki-secret").decode()
    lines = []
    for request in requests:
        assert ("POST", "/loki/api/v1/push") == (request.method, request.path)
        assert "application/json" == request.headers["content-type"]
        assert "gzip" == request.headers["content-encoding"]
        assert "tenant-1" == request.headers["x-scope-orgid"]
        assert f"Basic {credentials}" == request.headers["authorization"]
        body = strict_json(request.body)
        assert ["streams"] == list(body)
        for stream in body["streams"]:
            assert {"stream", "values"} == set(stream)
            for ns, line in stream["values"]:
                assert isinstance(ns, str)
                document = json.loads(line)
                assert rfc3339_ns(document["timestamp"]) == int(ns)
                expected = {"service": "checkout", "env": "prod", "level": document["level"]}
                assert expected == stream["stream"]
                lines.append(document)
    assert [("hello", 7), ("failed", "E1")] == [
        (d["message"], d.get("order", d.get("code"))) for d in lines
    ]


def test_loki_groups_events_into_one_stream_per_level(server: Server) -> None:
    """Events of one request are grouped by label set, keeping their order within each stream."""
    server.set_responder(lambda request: (204, {}, b""))
    sink = LokiSink(server.url, transport=server.transport)
    batch = [event(1), event(2, level="error"), event(3), event(4, level="weird")]
    assert 4 == deliver(sink, batch).exported
    streams = server.requests[0].json()["streams"]
    summary = {s["stream"]["level"]: [json.loads(v[1])["i"] for v in s["values"]] for s in streams}
    assert {"info": [1, 3], "error": [2], "unknown": [4]} == summary
    assert {"service": "nglogger", "level": "info"} == streams[0]["stream"]


def test_loki_timestamps_are_unix_nanosecond_strings_for_any_rfc3339_offset(
    server: Server,
) -> None:
    """An event outside the fixed layout is parsed once; its offset timestamp becomes exact nanoseconds."""
    server.set_responder(lambda request: (204, {}, b""))
    sink = LokiSink(server.url, level_label=False, transport=server.transport)
    other = b'{"message":"x","timestamp":"2026-01-02T03:04:05.5+01:00"}'
    deliver(sink, [other])
    [stream] = server.requests[0].json()["streams"]
    assert {"service": "nglogger"} == stream["stream"]
    assert [["1767319445500000000", other.decode()]] == stream["values"]


def test_loki_drops_lines_over_the_default_max_line_size(server: Server) -> None:
    """A line over 256,000 bytes is dropped here as too_large instead of failing the whole push."""
    server.set_responder(lambda request: (204, {}, b""))
    outcome = deliver(
        LokiSink(server.url, transport=server.transport), [event(1), event(2, pad=256_000)]
    )
    assert (1, {"too_large": 1}) == (outcome.exported, dict(outcome.dropped))


def test_loki_uri_with_userinfo_and_variables(real_server: RecordingServer) -> None:
    """loki+http://user:password@host:port sends basic auth, LOKI_TENANT_ID the tenant; the name shows no password."""
    real_server.set_responder(lambda request: (204, {}, b""))
    port = real_server.url.rsplit(":", 1)[1]
    config = config_from_env(
        {
            "NGLOGGER_SINKS": f"loki+http://loki-user:loki%2Fsecret@127.0.0.1:{port}",
            "LOKI_TENANT_ID": "tenant-1",
            "OTEL_SERVICE_NAME": "checkout",
            "NGLOGGER_FLUSH_INTERVAL": "50ms",
        }
    )
    pipeline = nglogger.configure(config)
    [sink] = [worker.sink for worker in pipeline.workers]
    assert f"loki:http://127.0.0.1:{port}/loki/api/v1/push" == sink.name
    assert "secret" not in repr(sink)
    nglogger.get_logger("app").info("hello")
    assert pipeline.flush(WAIT)
    [request] = real_server.wait_for(1, WAIT)
    assert "tenant-1" == request.headers["x-scope-orgid"]
    credentials = base64.b64encode(b"loki-user:loki/secret").decode()
    assert f"Basic {credentials}" == request.headers["authorization"]
    [stream] = request.json()["streams"]
    assert {"service": "checkout", "level": "info"} == stream["stream"]


# ============================================================================ Elasticsearch


def bulk_reply(request: Request) -> tuple[int, dict[str, str], bytes]:
    """The bulk reply (filtered as asked): 201 per item, 400 for 'bad' messages, 429 for 'busy' ones."""
    documents = request.ndjson()[1::2]
    codes = {"bad": 400, "busy": 429}
    statuses = [codes.get(doc.get("message"), 201) for doc in documents]
    items: list[dict[str, Any]] = [{"create": {"status": status}} for status in statuses]
    for item in items:
        if item["create"]["status"] == 400:
            item["create"]["error"] = {"type": "mapper_parsing_exception", "reason": "bad field"}
    reply = {"errors": any(s >= 300 for s in statuses), "items": items}
    return 200, {"Content-Type": "application/json"}, orjson.dumps(reply)


def busy_once_bulk_reply() -> Callable[[Request], tuple[int, dict[str, str], bytes]]:
    """``bulk_reply``, but a 'busy' item is answered 429 once, then 201 (a shard's queue drained)."""
    seen: set[int] = set()

    def reply(request: Request) -> tuple[int, dict[str, str], bytes]:
        documents = request.ndjson()[1::2]
        statuses = []
        for doc in documents:
            if doc.get("message") == "busy" and doc.get("n") not in seen:
                seen.add(doc.get("n"))
                statuses.append(429)
            else:
                statuses.append(400 if doc.get("message") == "bad" else 201)
        items = [{"create": {"status": status}} for status in statuses]
        body = {"errors": any(s >= 300 for s in statuses), "items": items}
        return 200, {"Content-Type": "application/json"}, orjson.dumps(body)

    return reply


@each_transport
def test_elasticsearch_request_matches_the_bulk_api(server: Server) -> None:
    """POST /<index>/_bulk as NDJSON gzip'd: a create action line before each event, a final newline, ApiKey auth."""
    server.set_responder(bulk_reply)
    sink = ElasticsearchSink(server.url, api_key="es-secret-key", transport=server.transport)
    pipeline = nglogger.configure(sinks=[sink], flush_interval=0.05)
    log = nglogger.get_logger("app")
    log.info("hello", order=7)
    log.info("again")
    assert pipeline.flush(WAIT)
    requests = server.wait_for(1, WAIT)
    documents = []
    for request in requests:
        assert "POST" == request.method
        assert (
            "/logs-nglogger-default/_bulk"
            "?filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"
        ) == request.path
        assert "application/x-ndjson" == request.headers["content-type"]
        assert "gzip" == request.headers["content-encoding"]
        assert "ApiKey es-secret-key" == request.headers["authorization"]
        assert request.body.endswith(b"\n")
        lines = request.body.splitlines()
        assert all(b'{"create":{}}' == line for line in lines[0::2])
        documents += [strict_json(line) for line in lines[1::2]]
    assert ["hello", "again"] == [d["message"] for d in documents]
    assert 2 == pipeline.stats().sinks[sink.name].exported


def test_elasticsearch_full_and_truncated_replies_are_understood() -> None:
    """Unfiltered replies (error objects included) and replies cut short are still counted."""
    sink = ElasticsearchSink("http://127.0.0.1:9200")
    full = orjson.dumps(
        {
            "took": 3,
            "errors": True,
            "items": [
                {"create": {"_index": "x", "status": 201}},
                {
                    "create": {
                        "_index": "x",
                        "status": 400,
                        "error": {"type": "mapper_parsing_exception"},
                    }
                },
            ],
        }
    )
    assert ItemResults((), 1, "400 mapper_parsing_exception") == sink.items(
        HttpResponse(200, {}, full), 2
    )
    cut = b'{"errors":true,"items":[{"create":{"status":201}},{"create":{"status":429}},{"cre'
    assert ItemResults((1,), 0, "", "429") == sink.items(HttpResponse(200, {}, cut), 3)
    assert sink.items(HttpResponse(200, {}, b'{"errors":false,"items":[]}'), 5) is None


def test_elasticsearch_index_op_and_uri(real_server: RecordingServer) -> None:
    """op='index' writes index actions; elasticsearch+http://user:password@host/<index> sets index and basic auth."""
    real_server.set_responder(bulk_reply)
    sink = ElasticsearchSink(real_server.url, index="app-logs", op="index")
    assert 1 == deliver(sink, [event()]).exported
    assert real_server.requests[0].path.startswith("/app-logs/_bulk?")
    assert b'{"index":{}}' == real_server.requests[0].body.splitlines()[0]

    uri = (
        real_server.url.replace("http://", "elasticsearch+http://elastic:es-password@")
        + "/proxy/app-logs"
    )
    from_uri = resolve_sink(uri, nglogger.Config(sinks=[uri]))
    assert "app-logs" == from_uri.index
    assert "es-password" not in repr(from_uri) + from_uri.name
    assert 1 == deliver(from_uri, [event()]).exported
    request = real_server.requests[1]
    assert request.path.startswith("/proxy/app-logs/_bulk?")
    credentials = base64.b64encode(b"elastic:es-password").decode()
    assert f"Basic {credentials}" == request.headers["authorization"]


# ============================================================================ all of them


def _datadog(server: Server) -> HttpSink:
    return datadog(server, retry=fast_retry(DATADOG_RETRYABLE))


def _loki(server: Server) -> HttpSink:
    retry = fast_retry(frozenset({429, 500, 502, 503, 504}))
    return LokiSink(server.url, retry=retry, transport=server.transport)


DELIVERED = (2, {})
REJECTED = (0, {"rejected": 2})


@pytest.mark.parametrize(
    ("make", "answers", "expected"),
    [
        *[
            pytest.param(_datadog, [status, 202], DELIVERED, id=f"datadog-{status}-retried")
            for status in (408, 429, 500, 503)
        ],
        *[
            pytest.param(_datadog, [status], REJECTED, id=f"datadog-{status}-not-retried")
            for status in (401, 403)
        ],
        # a 400 may be about one event: the two are sent apart, and both refused
        pytest.param(_datadog, [400, 400, 400], REJECTED, id="datadog-400-bisected"),
        pytest.param(_loki, [204], DELIVERED, id="loki-204"),
        pytest.param(_loki, [260], REJECTED, id="loki-260-ingestion-blocked"),
        pytest.param(_loki, [429, 204], DELIVERED, id="loki-429-retried"),
        pytest.param(_loki, [400, 400, 400], REJECTED, id="loki-400-bisected"),
    ],
)
def test_each_status_is_retried_delivered_or_rejected_as_the_api_documents(
    server: Server,
    make: Callable[[Server], HttpSink],
    answers: list[int],
    expected: tuple[int, dict[str, int]],
) -> None:
    """Datadog retries 408, 429 and 5xx, never 400/401/403; Loki: 204 delivers, 260 (ingestion
    blocked) is rejected, 429 is retried, 400 is not. One request per answer, no more."""
    replies = iter(answers)
    server.set_responder(lambda request: (next(replies), {}, b""))
    outcome = deliver(make(server), [event(1), event(2)])
    assert expected == (outcome.exported, dict(outcome.dropped))
    assert len(answers) == len(server.requests)


@each_transport
@pytest.mark.parametrize(
    ("make", "responder", "messages", "expected", "counters"),
    [
        pytest.param(
            lambda server: HoneycombSink(
                "k", "ds", api_host=server.url, transport=server.transport
            ),
            lambda: per_event_statuses,
            ["good", "bad", "good"],
            (3, 2, {"rejected": 1}),
            {"item_rejected": 1},
            id="honeycomb-status-array",
        ),
        pytest.param(
            lambda server: ElasticsearchSink(server.url, transport=server.transport),
            busy_once_bulk_reply,
            ["ok", "bad", "busy", "ok"],
            (4, 3, {"rejected": 1}),
            {"item_rejected": 1, "item_retries": 1},
            id="elasticsearch-bulk-items-4xx-and-429",
        ),
    ],
)
def test_per_event_failures_in_a_2xx_reply_are_rejected_and_429s_sent_again(
    server: Server,
    make: Callable[[Server], HttpSink],
    responder: Callable[[], Callable[[Request], tuple[int, dict[str, str], bytes]]],
    messages: list[str],
    expected: tuple[int, int, dict[str, int]],
    counters: dict[str, int],
) -> None:
    """Events the reply refuses (4xx entries) are dropped as rejected; those it answers 429
    are sent again (and delivered); the others exported."""
    server.set_responder(responder())
    sink = make(server)
    pipeline = nglogger.configure(sinks=[sink], flush_interval=0.05)
    log = nglogger.get_logger("app")
    for n, message in enumerate(messages):
        log.info(message, n=n)
    assert pipeline.flush(WAIT)
    stats = pipeline.stats().sinks[sink.name]
    assert expected == (stats.accepted, stats.exported, dict(stats.dropped))
    http = sink.http_stats()
    assert counters == {name: http.get(name, 0) for name in counters}


HONEYCOMB = HoneycombSink
LOKI = functools.partial(LokiSink, "http://127.0.0.1:3100")
ELASTICSEARCH = functools.partial(ElasticsearchSink, "http://127.0.0.1:9200")


@pytest.mark.parametrize(
    ("make", "kwargs", "setting"),
    [
        pytest.param(HONEYCOMB, {"dataset": "ds"}, "api_key", id="honeycomb-no-api-key"),
        pytest.param(HONEYCOMB, {"api_key": "k"}, "dataset", id="honeycomb-no-dataset"),
        pytest.param(
            HONEYCOMB, {"api_key": "k", "dataset": "a/b"}, "dataset", id="honeycomb-dataset-a/b"
        ),
        pytest.param(
            HONEYCOMB,
            {"api_key": "k", "dataset": "ds", "eu": True, "api_host": "https://x"},
            "api_host",
            id="honeycomb-eu-with-api-host",
        ),
        pytest.param(LOKI, {"labels": {"bad-name": "x"}}, "labels", id="loki-label-bad-name"),
        pytest.param(LOKI, {"labels": {"level": "x"}}, "labels", id="loki-label-level"),
        pytest.param(
            LOKI, {"labels": {"service": ""}}, "labels['service']", id="loki-label-empty-value"
        ),
        pytest.param(
            LOKI, {"labels": {}, "level_label": False}, "labels", id="loki-no-label-at-all"
        ),
        pytest.param(LOKI, {"username": "u"}, "password", id="loki-username-no-password"),
        pytest.param(LOKI, {"tenant_id": "a\nb"}, "tenant_id", id="loki-tenant-two-lines"),
        pytest.param(ELASTICSEARCH, {"index": "Logs"}, "index", id="elasticsearch-index-Logs"),
        pytest.param(ELASTICSEARCH, {"index": "a/b"}, "index", id="elasticsearch-index-a/b"),
        pytest.param(
            ELASTICSEARCH, {"index": "_private"}, "index", id="elasticsearch-index-_private"
        ),
        pytest.param(ELASTICSEARCH, {"op": "update"}, "op", id="elasticsearch-op-update"),
        pytest.param(
            ELASTICSEARCH,
            {"api_key": "k", "username": "u", "password": "p"},
            "api_key",
            id="elasticsearch-two-kinds-of-auth",
        ),
    ],
)
def test_bad_settings_are_config_errors_naming_the_setting(
    make: Callable[..., HttpSink], kwargs: dict[str, Any], setting: str
) -> None:
    """Honeycomb: a key and a dataset without '/', eu or api_host. Loki: Prometheus-style label
    names, not 'level', both auth parts, one-line headers. Elasticsearch: index names by its
    rules, op create or index, one kind of auth."""
    with pytest.raises(ConfigError) as caught:
        make(**kwargs)
    assert setting == caught.value.setting


@pytest.mark.parametrize(
    "uri",
    [
        "loki+http://127.0.0.1:3100?tenant=x",
        "loki+http://:3100",
        "elasticsearch+https://127.0.0.1:notaport/idx",
    ],
)
def test_bad_vendor_uris_are_rejected_by_config(uri: str) -> None:
    """A vendor URI with a query, no host or a bad port is refused when the Config is built."""
    with pytest.raises(ConfigError, match="sinks"):
        nglogger.Config(sinks=[uri])


SECRET = "s3cr3t-Value-42"

SINKS_WITH_SECRETS: dict[str, Callable[[str], Any]] = {
    "datadog": lambda secret: DatadogSink(secret, hostname="h"),
    "honeycomb": lambda secret: HoneycombSink(secret, "ds"),
    "loki": lambda secret: LokiSink(f"http://user:{secret}@127.0.0.1:3100", tenant_id="t"),
    "elasticsearch": lambda secret: ElasticsearchSink("http://127.0.0.1:9200", api_key=secret),
}


@pytest.mark.parametrize("kind", sorted(SINKS_WITH_SECRETS))
def test_secrets_never_appear_in_repr_name_stats_or_errors(kind: str) -> None:
    """The API key or password is in no repr, name or stats, nor in the error a malformed one raises."""
    make = SINKS_WITH_SECRETS[kind]
    sink = make(SECRET)
    assert SECRET not in repr(sink) + sink.name + str(sink.http_stats())
    with pytest.raises(ConfigError) as caught:
        make(SECRET + "\x00")
    assert SECRET not in str(caught.value)
    assert "****" in str(caught.value)


def test_secret_variables_stay_out_of_errors_and_config_reprs() -> None:
    """A malformed DD_API_KEY is reported by name only; the Config repr shows no sink variable."""
    environ = {"NGLOGGER_SINKS": "datadog", "DD_API_KEY": SECRET + "\x00"}
    config = config_from_env(environ)
    assert SECRET not in repr(config)
    with pytest.raises(ConfigError, match="DD_API_KEY") as caught:
        resolve_sink("datadog", config)
    assert SECRET not in str(caught.value)


@each_transport
def test_bodies_are_gzipped_by_default_and_plain_on_request(server: Server) -> None:
    """Bodies go out gzip'd (much smaller for repetitive logs); compress=False sends them as they are."""
    server.set_responder(lambda request: (202, {}, b"{}"))
    events = [event(i, message="same text " * 20) for i in range(200)]
    deliver(datadog(server), events)
    deliver(datadog(server, compress=False), events)
    zipped, plain = server.wait_for(2, WAIT)
    assert "gzip" == zipped.headers["content-encoding"]
    assert zipped.wire_bytes < len(zipped.body) / 5
    assert "content-encoding" not in plain.headers
    assert (plain.wire_bytes, plain.body) == (len(zipped.body), zipped.body)


def test_malformed_http_headers_never_echo_the_secret() -> None:
    """A malformed NGLOGGER_HTTP_HEADERS entry is reported without repeating its text."""
    import nglogger
    from nglogger import ConfigError

    config = nglogger.Config.from_env(
        {"NGLOGGER_HTTP_HEADERS": "sk_live_SECRET123", "NGLOGGER_SINKS": "http://127.0.0.1:9/x"}
    )
    with pytest.raises(ConfigError) as info:
        nglogger.Pipeline(config)
    assert "sk_live_SECRET123" not in str(info.value)
    assert "NGLOGGER_HTTP_HEADERS" in str(info.value)


@pytest.mark.parametrize(
    "build",
    [
        lambda **kw: HttpSink("http://127.0.0.1:9/", **kw),
        lambda **kw: DatadogSink("k" * 32, **kw),
        lambda **kw: HoneycombSink("k" * 32, "ds", **kw),
        lambda **kw: LokiSink("http://127.0.0.1:9", **kw),
    ],
    ids=["http", "datadog", "honeycomb", "loki"],
)
def test_the_former_max_event_bytes_keyword_still_sets_the_record_limit_with_a_warning(
    build: Callable[..., HttpSink],
) -> None:
    """``max_event_bytes=`` named two limits (nglogger's event cut and the backend's);
    the sinks' is ``max_record_bytes`` now, the old keyword kept with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match=r"max_event_bytes= is now max_record_bytes="):
        old = build(max_event_bytes=4096)
    new = build(max_record_bytes=4096)
    try:
        assert old._max_record_bytes == new._max_record_bytes < 8192
    finally:
        old.close()
        new.close()


def loki_with_a_line_limit(limit: int) -> Callable[[Request], tuple[int, dict[str, str], bytes]]:
    """Loki's distributor with ``max_line_size``: it stores the valid lines of a push and
    answers 400 with one line per entry it ignored (its validation message)."""

    def reply(request: Request) -> tuple[int, dict[str, str], bytes]:
        errors = [
            f"Max entry size '{limit}' bytes exceeded for stream '{{service=\"x\"}}' while "
            f"adding an entry with length '{len(line)}' bytes"
            for stream in request.json()["streams"]
            for _, line, *_ in stream["values"]
            if len(line) > limit
        ]
        if not errors:
            return 204, {}, b""
        return 400, {"Content-Type": "text/plain"}, "\n".join(errors).encode()

    return reply


@each_transport
def test_a_loki_400_for_some_lines_counts_exactly_those_and_is_not_resent(server: Server) -> None:
    """Loki stores the rest of a push it answers 400: the lines it names are rejected,
    the others exported, in one request (resending would duplicate what it stored)."""
    server.set_responder(loki_with_a_line_limit(1000))
    events = [event(i, pad=2000 if i % 20 == 3 else 10) for i in range(100)]
    outcome = deliver(_loki(server), events)
    assert (95, {"rejected": 5}) == (outcome.exported, dict(outcome.dropped))
    assert 1 == len(server.requests)
