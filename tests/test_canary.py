"""Canary: a secret planted in every position reaches no sink's output, repr, stats or CLI text.

One fan-out pipeline writes to stdout, stderr (console), a file, memory and eight HTTP
sinks (NDJSON, JSON array, Datadog, Honeycomb, Loki, Elasticsearch, OTLP protobuf, OTLP
JSON), each pointed at its own loopback :class:`RecordingServer`. ``CANARY`` is planted
under secret names in every position (call fields, bound context, contextvars, static
context, stdlib ``extra``, non-str keys) and, with ``redact_values=True``, inside free text
(Bearer tokens, JWTs, AWS key ids, URL passwords, the message, exception messages). The
sinks' own credentials are a second canary, ``CRED``, allowed only in request headers.

Leaks found while writing this file are pinned by the strict ``xfail`` tests at the end;
each names the file, the cause and the fix.
"""

from __future__ import annotations

import base64
import collections
import contextlib
import dataclasses
import enum
import logging
import os
import subprocess
import sys
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from support.http import RecordingServer, Request

import nglogger
from nglogger import Config, ConfigError
from nglogger._event.redact import MARK
from nglogger.sinks import MemorySink, StreamSink
from nglogger.sinks.datadog import DatadogSink
from nglogger.sinks.elasticsearch import ElasticsearchSink
from nglogger.sinks.honeycomb import HoneycombSink
from nglogger.sinks.http import HttpSink, JsonHttpSink
from nglogger.sinks.loki import LokiSink
from nglogger.sinks.otlp import OtlpLogsSink

#: 16 characters of [0-9A-Z]: alone it matches no value pattern, so name redaction is tested
#: on its own; "AKIA" + CANARY is an AWS key id, and it fits Bearer, JWT and URL passwords.
CANARY = "CNRY7F3A9CQ2XK8W"
CANARY_BYTES = CANARY.encode()
#: The sinks' own credentials: they belong in request headers and nowhere else.
CRED = "CRED5K2PZ9QW8M1X"
CRED_BYTES = CRED.encode()
JWT = f"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{CANARY}"
DSN = f"postgres://admin:{CANARY}@db.internal:5432/app"
MARK_BYTES = MARK.encode()

HTTP_KINDS = (
    "ndjson",
    "json",
    "datadog",
    "honeycomb",
    "loki",
    "elasticsearch",
    "otlp_proto",
    "otlp_json",
)


class Kind(enum.Enum):
    """An enum key whose value names a secret."""

    TOKEN = "token"


class StrKind(str, enum.Enum):
    """A str-enum key whose value names a secret."""

    SECRET = "Client-Secret"


def nest(depth: int, leaf: Any) -> Any:
    """``leaf`` wrapped in ``depth`` alternating dicts and lists."""
    value = leaf
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


# --------------------------------------------------------------------------- planting


def plant(redact_values: bool) -> list[str]:
    """Log the canary in every position through the default pipeline; return the messages."""
    messages: list[str] = []
    log = nglogger.get_logger("canary.app", password=CANARY)

    def info(logger: nglogger.Logger, message: str, **fields: Any) -> None:
        messages.append(message)
        logger.info(message, **fields)

    # Call fields: top level, in various cases and spellings.
    info(
        log,
        "call fields",
        user="alice",
        password=CANARY,
        PASSWORD=CANARY,
        DB_PASSWORD=CANARY,
        client_secret=CANARY,
        Authorization=CANARY,
        apiKey=CANARY,
        access_token=CANARY,
        **{"X-Api-Key": CANARY, "set-cookie": CANARY, "Set-Cookie": CANARY, "x.api.key": CANARY},
    )
    # Call fields: nested in dicts, lists, tuples and dict subclasses, 31 levels deep.
    info(
        log,
        "nested call fields",
        request={
            "headers": {"Authorization": CANARY, "X-Api-Key": CANARY, "Cookie": CANARY},
            "items": [{"password": CANARY}, [{"client_secret": CANARY}]],
            "pairs": ({"Session_Id": CANARY},),
            "ordered": collections.OrderedDict(private_key=CANARY),
            "default": collections.defaultdict(list, {"card-number": CANARY}),
        },
        deep=nest(31, {"passwd": CANARY}),
    )
    # Non-str keys: bytes, an enum, a str-enum (the encoder's slow path names them).
    info(
        log, "non-str keys", data={b"password": CANARY, Kind.TOKEN: CANARY, StrKind.SECRET: CANARY}
    )
    # Bound context: bind, nested bind, new, get_logger(**context).
    bound = log.bind(session_id=CANARY, auth={"private_key": CANARY, "list": [{"api_key": CANARY}]})
    info(bound.bind(inner={"Set-Cookie": CANARY}), "bound context")
    info(log.new(token=CANARY), "new context")
    # Contextvars: bind_contextvars and bound_contextvars, nested values.
    token = nglogger.bind_contextvars(authorization=CANARY, request_ctx={"cookie": CANARY})
    with nglogger.bound_contextvars(access_token=CANARY, nested={"apiKey": [{"secret": CANARY}]}):
        info(nglogger.get_logger("canary.cv"), "contextvars")
    nglogger.reset_contextvars(token)
    # An exception with secret-named fields (its own message carries no secret).
    try:
        raise RuntimeError("plain failure")
    except RuntimeError:
        messages.append("exception fields")
        log.exception("exception fields", session_id=CANARY, cvv=CANARY)
    # stdlib: extra at top level, nested, with non-str keys.
    std = logging.getLogger("canary.stdlib")
    std.handlers = [nglogger.LoggingHandler()]
    std.propagate = False
    std.setLevel(logging.DEBUG)
    messages.append("stdlib extra")
    std.warning(
        "stdlib extra",
        extra={
            "passwd": CANARY,
            "meta": {"set-cookie": CANARY, "deep": [{"Authorization": CANARY}]},
        },
    )
    messages.append("stdlib non-str keys")
    std.warning("stdlib non-str keys", extra={b"password": CANARY, Kind.TOKEN: CANARY})
    if redact_values:
        # Free text: only the value patterns can find these.
        info(
            log,
            "values",
            header=f"Bearer {CANARY}",
            jwt=JWT,
            aws=f"key AKIA{CANARY} used",
            url=DSN,
            nested={"list": [f"bearer   {CANARY}", {"text": f"sent {JWT}"}]},
        )
        info(log.bind(upstream=f"Bearer {CANARY}"), "bound value pattern")
        with nglogger.bound_contextvars(conn=DSN):
            info(log, "contextvars value pattern")
        message = f"retrying with Authorization: Bearer {CANARY} against {DSN}"
        info(log, message)
        try:
            raise PermissionError(f"upstream answered 401 to Bearer {CANARY}")
        except PermissionError:
            messages.append("exception message")
            log.exception("exception message")
        messages.append(f"stdlib token AKIA{CANARY}")
        std.error("stdlib token %s", f"AKIA{CANARY}")
    std.handlers = []
    return messages


# --------------------------------------------------------------------------- decoding


def otlp_proto_text(body: bytes) -> tuple[int, bytes]:
    """(log records, the decoded request as JSON) of an OTLP protobuf body."""
    request = ExportLogsServiceRequest()
    request.ParseFromString(body)
    records = sum(len(scope.log_records) for rl in request.resource_logs for scope in rl.scope_logs)
    return records, orjson.dumps(json_format.MessageToDict(request))


def otlp_json_records(document: Any) -> int:
    """The number of log records of an OTLP/JSON request."""
    return sum(
        len(scope.get("logRecords", ()))
        for rl in document["resourceLogs"]
        for scope in rl.get("scopeLogs", ())
    )


def events_in(kind: str, request: Request) -> tuple[int, bytes]:
    """(events carried, decoded text to search) of one recorded request of sink ``kind``."""
    if kind == "ndjson":
        return len(request.ndjson()), request.body
    if kind in ("json", "datadog", "honeycomb"):
        return len(request.json()), request.body
    if kind == "loki":
        streams = request.json()["streams"]
        lines = [line for stream in streams for _, line in stream["values"]]
        return len(lines), request.body + "\n".join(lines).encode()
    if kind == "elasticsearch":
        return len(request.body.splitlines()) // 2, request.body
    if kind == "otlp_proto":
        return otlp_proto_text(request.body)
    assert kind == "otlp_json"
    return otlp_json_records(request.json()), request.body


def credential_in_headers(kind: str, headers: dict[str, str]) -> bool:
    """True when the sink's credential reached the header it is meant for."""
    if kind in ("loki", "elasticsearch"):
        scheme, _, encoded = headers.get("authorization", "").partition(" ")
        return scheme == "Basic" and CRED in base64.b64decode(encoded).decode()
    name = {
        "ndjson": "x-api-key",
        "datadog": "dd-api-key",
        "honeycomb": "x-honeycomb-team",
    }.get(kind, "authorization")
    return CRED in headers.get(name, "")


# --------------------------------------------------------------------------- fan-out


@pytest.fixture
def servers() -> Iterator[dict[str, RecordingServer]]:
    """One loopback recording server per HTTP sink kind."""
    with contextlib.ExitStack() as stack:
        yield {kind: stack.enter_context(RecordingServer()) for kind in HTTP_KINDS}


def http_sinks(servers: dict[str, RecordingServer]) -> dict[str, HttpSink]:
    """Every HTTP sink kind pointed at its server, each with ``CRED`` as its credential."""
    url = {kind: server.url for kind, server in servers.items()}
    bearer = {"Authorization": f"Bearer {CRED}"}
    es_host = url["elasticsearch"].removeprefix("http://")
    return {
        "ndjson": HttpSink(f"{url['ndjson']}/ingest", headers={"X-Api-Key": CRED}),
        "json": JsonHttpSink(f"{url['json']}/ingest", headers=bearer),
        "datadog": DatadogSink(CRED, url=f"{url['datadog']}/api/v2/logs", hostname="canary"),
        "honeycomb": HoneycombSink(CRED, "canary", api_host=url["honeycomb"]),
        "loki": LokiSink(url["loki"], username="loki", password=CRED),
        "elasticsearch": ElasticsearchSink(f"http://elastic:{CRED}@{es_host}"),
        "otlp_proto": OtlpLogsSink(f"{url['otlp_proto']}/v1/logs", headers=bearer),
        "otlp_json": OtlpLogsSink(
            f"{url['otlp_json']}/v1/logs", protocol="http/json", compression="gzip", headers=bearer
        ),
    }


@pytest.mark.parametrize("redact_values", [False, True], ids=["names", "names+values"])
def test_canary_reaches_no_sink(
    redact_values: bool,
    servers: dict[str, RecordingServer],
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    """The canary planted in every position is absent from every sink's output, all at once."""
    path = tmp_path / "events.jsonl"
    memory = MemorySink()
    remote = http_sinks(servers)
    stdout = StreamSink("stdout")
    stderr = StreamSink("stderr", format="console", colors=False)
    context: dict[str, object] = {
        "service": "canary-svc",
        "api_key": CANARY,
        "db": {"password": CANARY, "hosts": [{"Authorization": CANARY}]},
    }
    if redact_values:
        context["dsn"] = DSN
    pipeline = nglogger.configure(
        sinks=[stdout, stderr, f"file://{path}", memory, *remote.values()],
        level="debug",
        context=context,
        redact_values=redact_values,
        flush_interval=0.05,
        report_interval=0,
    )
    messages = plant(redact_values)
    n = len(messages)
    assert nglogger.flush(15)
    stats = nglogger.stats()
    captured = capfd.readouterr()

    # Every sink exported every event: nothing vacuous, nothing dropped.
    assert stats.submitted == stats.accepted == stats.dispatched == n
    assert stats.dropped == {}
    assert len(stats.sinks) == 4 + len(HTTP_KINDS)
    for name, sink_stats in stats.sinks.items():
        assert sink_stats.accepted == sink_stats.exported == n, name
        assert dict(sink_stats.dropped) == {}, name
    assert len(memory.events()) == n

    outputs: dict[str, bytes] = {
        "stdout": captured.out.encode(),
        "stderr": captured.err.encode(),
        "file": path.read_bytes(),
        "memory": b"\n".join(memory.lines()),
    }
    assert len(outputs["stdout"].splitlines()) == n
    assert len(outputs["file"].splitlines()) == n
    for kind, server in servers.items():
        requests = server.requests
        assert requests, kind
        delivered = 0
        texts = []
        for request in requests:
            count, text = events_in(kind, request)
            delivered += count
            texts.append(text)
            head = orjson.dumps(dict(request.headers)) + request.path.encode()
            assert CANARY_BYTES not in head, f"{kind}: canary in request line or headers"
            assert CRED_BYTES not in request.body, f"{kind}: credential in the body"
            assert credential_in_headers(kind, dict(request.headers)), kind
            if kind != "otlp_proto":  # gzip on the wire, searched after the server undid it
                assert request.headers.get("content-encoding") == "gzip", kind
        assert delivered == n, kind
        outputs[kind] = b"\n".join(texts)
        if kind == "otlp_proto":  # the raw protobuf too, not only its decoded form
            outputs["otlp_proto raw"] = b"".join(r.body for r in requests)

    assert len(outputs) == 5 + len(HTTP_KINDS)
    assert [name for name, data in outputs.items() if CANARY_BYTES in data] == []
    assert [name for name, data in outputs.items() if CRED_BYTES in data] == []
    assert [name for name, data in outputs.items() if MARK_BYTES not in data] == []  # not vacuous

    # Diagnostics: reprs, names and stats never carry either secret.
    texts = [
        repr(pipeline),
        repr(nglogger.LoggingHandler()),
        repr(nglogger.get_logger("canary.app").bind(password=CANARY)),
        repr(stats),
        orjson.dumps(stats.as_dict()).decode(),
    ]
    with nglogger.bound_contextvars(password=CANARY, nested={"token": CANARY}):
        texts.append(repr(nglogger.get_contextvars()))
    texts.append(repr(nglogger.get_logger("x").bind(api_key=CANARY).context))
    for worker in pipeline.workers:
        texts += [repr(worker.sink), str(getattr(worker.sink, "name", ""))]
    for sink in remote.values():
        texts += [repr(sink.http_stats()), str(sink.last_error)]
    for text in texts:
        assert CANARY not in text
        assert CRED not in text
    assert nglogger.shutdown(5)


def test_memory_messages_are_scrubbed_exactly() -> None:
    """With redact_values=True the message and stdlib args keep their text around the mark."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink], redact_values=True)
    nglogger.get_logger("m").info(f"retry with Bearer {CANARY} against {DSN}")
    std = logging.getLogger("canary.stdlib.args")
    std.handlers = [nglogger.LoggingHandler()]
    std.propagate = False
    std.error("token %s and %s", f"AKIA{CANARY}", JWT)
    std.handlers = []
    assert nglogger.flush(5)
    first, second = sink.events()
    assert first["message"] == f"retry with {MARK} against postgres://{MARK}@db.internal:5432/app"
    assert second["message"] == f"token {MARK} and {MARK}"


@pytest.mark.parametrize("redact_values", [False, True])
def test_exception_message_with_a_bearer_token(redact_values: bool) -> None:
    """An exception's message is free text: its Bearer token is scrubbed only with redact_values=True."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink], redact_values=redact_values)
    try:
        raise PermissionError(f"upstream answered 401 to Bearer {CANARY}")
    except PermissionError:
        nglogger.get_logger("exc").exception("call failed")
    assert nglogger.flush(5)
    [event] = sink.events()
    exception = event["exception"]
    if redact_values:
        assert exception["message"] == f"upstream answered 401 to {MARK}"
        assert CANARY not in exception["stacktrace"]
        assert MARK in exception["stacktrace"]
    else:  # documented: without value patterns an exception's text is logged as it is
        assert exception["message"] == f"upstream answered 401 to Bearer {CANARY}"
        assert CANARY in exception["stacktrace"]


# --------------------------------------------------------------------------- config errors


SAFE_ENV_ERRORS = [
    {"NGLOGGER_SINKS": "datadog", "DD_API_KEY": f"\x01{CANARY}"},
    {"NGLOGGER_SINKS": "datadog", "DD_API_KEY": CANARY, "DD_SITE": "bad site"},
    {
        "NGLOGGER_SINKS": "honeycomb",
        "HONEYCOMB_API_KEY": f"a\x7f{CANARY}",
        "HONEYCOMB_DATASET": "d",
    },
    {"NGLOGGER_SINKS": "honeycomb", "HONEYCOMB_API_KEY": CANARY},
    {
        "NGLOGGER_SINKS": "loki+http://127.0.0.1:1",
        "LOKI_USERNAME": "u",
        "LOKI_PASSWORD": f"\x02{CANARY}",
    },
    {"NGLOGGER_SINKS": "loki+http://127.0.0.1:1", "LOKI_PASSWORD": CANARY},
    {"NGLOGGER_SINKS": f"loki+http://u:{CANARY}@127.0.0.1:bad"},
    {"NGLOGGER_SINKS": f"loki+http://u:{CANARY}@127.0.0.1:1/?q=1"},
    {"NGLOGGER_SINKS": f"elasticsearch+http://:{CANARY}@127.0.0.1:1/idx"},
    {"NGLOGGER_SINKS": f"elasticsearch+http://u:%01{CANARY}@127.0.0.1:1/idx"},
    {"NGLOGGER_SINKS": f"http://u:{CANARY}@127.0.0.1:bad/x"},
    {"NGLOGGER_SINKS": f"json+http://u:{CANARY}@/x"},
    {"NGLOGGER_SINKS": f"otlp+http://u:{CANARY}@127.0.0.1:1"},
    {"NGLOGGER_SINKS": f"nope://u:{CANARY}@h"},
    {"NGLOGGER_SINKS": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization{CANARY}"},
    {"NGLOGGER_SINKS": "otlp", "OTEL_EXPORTER_OTLP_LOGS_HEADERS": f"a=%ZZ{CANARY}"},
    {"NGLOGGER_SINKS": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": f"ftp://u:{CANARY}@h"},
    {"NGLOGGER_SINKS": "http://127.0.0.1:1/x", "NGLOGGER_HTTP_HEADERS": f"X-Api-Key{CANARY}"},
    {"NGLOGGER_APIKEY": CANARY},
    {"NGLOGGER_CONTEXT": f"password={CANARY},broken"},
    {"NGLOGGER_CONTEXT": f"password=%ZZ{CANARY}"},
    {"OTEL_RESOURCE_ATTRIBUTES": f"api_key={CANARY},broken"},
]

LEAKY_ENV_ERRORS = [
    pytest.param(
        {"NGLOGGER_CONTEXT": f"session={CANARY},broken"},
        id="context-session",
    ),
    pytest.param(
        {
            "NGLOGGER_SINKS": "honeycomb",
            "HONEYCOMB_API_KEY": "k",
            "HONEYCOMB_DATASET": "d",
            "HONEYCOMB_API_ENDPOINT": f"ftp://u:{CANARY}@h",
        },
        id="honeycomb-endpoint-userinfo",
    ),
]


def assert_error_masked(error: ConfigError) -> None:
    """Neither the message, the args nor the attributes of ``error`` hold the canary."""
    for text in (str(error), repr(error), repr(error.value), repr(error.args), error.accepted):
        assert CANARY not in text, text


@pytest.mark.parametrize("env", [*SAFE_ENV_ERRORS, *LEAKY_ENV_ERRORS])
def test_config_errors_never_show_a_secret(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """ConfigError for a bad secret (or a bad value next to one) masks it, and so does the
    ConfigWarning that reports it in the default (warn) mode."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("NGLOGGER_CONFIG_ERRORS", "raise")
    with pytest.raises(ConfigError) as caught:
        nglogger.configure()
    assert_error_masked(caught.value)
    monkeypatch.setenv("NGLOGGER_CONFIG_ERRORS", "warn")
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        nglogger.configure()
    nglogger.shutdown(5)
    assert seen, "the bad variable was reported"
    for warning in seen:
        assert CANARY not in str(warning.message), warning.message


SINK_URL_ERRORS: list[Any] = [
    pytest.param(lambda: LokiSink(f"ftp://u:{CANARY}@h"), id="loki"),
    pytest.param(lambda: LokiSink(f"http://u:{CANARY}@h/?a=1"), id="loki-query"),
    pytest.param(
        lambda: LokiSink("http://h", username="u", password=f"\x01{CANARY}"), id="loki-pw"
    ),
    pytest.param(lambda: ElasticsearchSink(f"ftp://u:{CANARY}@h"), id="elasticsearch"),
    pytest.param(lambda: ElasticsearchSink("http://h", api_key=CANARY, username="u"), id="es-both"),
    pytest.param(lambda: ElasticsearchSink("http://h", api_key=f"\x01{CANARY}"), id="es-key"),
    pytest.param(lambda: HoneycombSink(f"\x01{CANARY}", "ds"), id="honeycomb-key"),
    pytest.param(lambda: DatadogSink(f"\x01{CANARY}"), id="datadog-key"),
    pytest.param(lambda: OtlpLogsSink(f"ftp://u:{CANARY}@h"), id="otlp"),
    pytest.param(
        lambda: OtlpLogsSink("http://h", headers={"a": 1, "b": CANARY}), id="otlp-headers"
    ),
    *[
        pytest.param(
            build,
            id=name,
        )
        for name, where, build in [
            ("http", "sinks/http.py HttpSink.__init__", lambda: HttpSink(f"ftp://u:{CANARY}@h/x")),
            ("json+http", "sinks/http.py", lambda: JsonHttpSink(f"ftp://u:{CANARY}@h/x")),
            ("datadog-url", "sinks/http.py", lambda: DatadogSink("k", url=f"ftp://u:{CANARY}@h")),
            (
                "honeycomb-host",
                "sinks/honeycomb.py HoneycombSink.__init__",
                lambda: HoneycombSink("k", "ds", api_host=f"ftp://u:{CANARY}@h"),
            ),
        ]
    ],
]


@pytest.mark.parametrize("build", SINK_URL_ERRORS)
def test_sink_constructor_errors_never_show_a_secret(build: Callable[[], object]) -> None:
    """A sink constructor's ConfigError masks keys, passwords and URL user-info."""
    with pytest.raises(ConfigError) as caught:
        build()
    assert_error_masked(caught.value)


# --------------------------------------------------------------------------- nglogger config


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m nglogger *args`` with ``env`` added to a clean environment."""
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NGLOGGER_", "OTEL_", "DD_", "HONEYCOMB_", "LOKI_"))
    }
    return subprocess.run(
        [sys.executable, "-m", "nglogger", *args],
        capture_output=True,
        text=True,
        env={**base, **env},
        timeout=60,
        check=False,
    )


CLI_SECRETS = {
    "DD_API_KEY": CANARY,
    "HONEYCOMB_API_KEY": CANARY,
    "HONEYCOMB_DATASET": "canary",
    "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization=Bearer%20{CANARY},x-api-key={CANARY}",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS": f"x-api-key={CANARY}",
    "NGLOGGER_HTTP_HEADERS": f"X-Api-Key={CANARY},Authorization=Bearer%20{CANARY}",
    "LOKI_USERNAME": "loki",
    "LOKI_PASSWORD": CANARY,
    "NGLOGGER_SINKS": ",".join(
        [
            "stdout",
            "datadog",
            "honeycomb",
            "otlp+http://127.0.0.1:4318",
            f"loki+http://loki:{CANARY}@127.0.0.1:3100",
            f"elasticsearch+http://elastic:{CANARY}@127.0.0.1:9200/logs-app-default",
            f"json+http://u:{CANARY}@127.0.0.1:8080/ingest",
        ]
    ),
    "NGLOGGER_CONTEXT": f"service=svc,password={CANARY},api_key={CANARY},client_secret={CANARY}",
    "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod",
}


@pytest.mark.parametrize("json_output", [False, True], ids=["table", "json"])
def test_cli_config_masks_every_secret_variable(json_output: bool) -> None:
    """`nglogger config` shows secret variables, URL user-info and secret context keys masked."""
    out = run_cli(CLI_SECRETS, "config", *(["--json"] if json_output else []))
    assert out.returncode == 0, out.stderr
    assert CANARY not in out.stdout + out.stderr
    assert "****" in out.stdout
    if json_output:
        report = orjson.loads(out.stdout)
        sink_env = report["sink_env"]["value"]
        for name in ("DD_API_KEY", "HONEYCOMB_API_KEY", "LOKI_PASSWORD", "NGLOGGER_HTTP_HEADERS"):
            assert sink_env[name] == "****", name
        assert report["otel.headers"]["value"] == {"x-api-key": "****"}
        assert report["context"]["value"]["password"] == "****"


@pytest.mark.parametrize(
    "env",
    [
        {"NGLOGGER_SINKS": "otlp", "OTEL_EXPORTER_OTLP_HEADERS": f"Authorization{CANARY}"},
        {"NGLOGGER_SINKS": f"loki+http://u:{CANARY}@127.0.0.1:bad"},
        {"OTEL_EXPORTER_OTLP_HEADERS": f"Authorization{CANARY}"},
    ],
    ids=["otlp-headers", "sink-uri", "otel-error-row"],
)
def test_cli_config_errors_mask_secrets(env: dict[str, str]) -> None:
    """A bad secret makes `nglogger config` report an error (or an otel.error row), masked."""
    out = run_cli(env, "config")
    assert CANARY not in out.stdout + out.stderr
    assert "****" in out.stdout + out.stderr


# --------------------------------------------------------------------------- known leaks
# Each test below fails today (strict xfail): remove the marker with the fix.


@pytest.mark.parametrize("position", ["call", "bind", "contextvars", "static", "extra"])
def test_secret_nested_at_max_depth_is_redacted(position: str) -> None:
    """A secret 32 levels deep (the default max_depth) is redacted or cut, in every position."""
    sink = MemorySink()
    deep = nest(32, {"password": CANARY})
    context = {"deep": deep} if position == "static" else {}
    nglogger.configure(sinks=[sink], context=context)
    log = nglogger.get_logger("deep")
    if position == "call":
        log.info("deep", deep=deep)
    elif position == "bind":
        log.bind(deep=deep).info("deep")
    elif position == "contextvars":
        with nglogger.bound_contextvars(deep=deep):
            log.info("deep")
    elif position == "static":
        log.info("deep")
    else:
        std = logging.getLogger("canary.deep")
        std.handlers = [nglogger.LoggingHandler()]
        std.propagate = False
        std.warning("deep", extra={"deep": deep})
        std.handlers = []
    assert nglogger.flush(5)
    [line] = sink.lines()
    assert CANARY_BYTES not in line


@dataclasses.dataclass
class Credentials:
    """A dataclass with a secret-named field (orjson serializes dataclasses natively)."""

    user: str
    password: str


Login = collections.namedtuple("Login", ["user", "password"])


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(
            Credentials("alice", CANARY),
            id="dataclass",
        ),
        pytest.param(
            Login("alice", CANARY),
            id="namedtuple",
        ),
        pytest.param({"creds": {"user": "alice", "password": CANARY}}, id="dict"),
    ],
)
@pytest.mark.parametrize("position", ["call", "bind"])
def test_record_like_values_are_redacted(value: object, position: str) -> None:
    """Secret-named fields of dataclasses and namedtuples are redacted like dict keys."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink])
    log = nglogger.get_logger("records")
    if position == "call":
        log.info("record", creds=value)
    else:
        log.bind(creds=value).info("record")
    assert nglogger.flush(5)
    [line] = sink.lines()
    assert CANARY_BYTES not in line


@pytest.mark.parametrize("position", ["bind", "contextvars"])
def test_context_bound_before_configure_uses_the_configured_names(position: str) -> None:
    """A custom secret name configured after a bind still redacts that bound context."""
    if position == "bind":
        log = nglogger.get_logger("early").bind(ssn=CANARY)
    else:
        nglogger.bind_contextvars(ssn=CANARY)
        log = nglogger.get_logger("early")
    sink = MemorySink()
    nglogger.configure(sinks=[sink], redact_keys=("ssn", "password"))
    log.info("after configure")
    assert nglogger.flush(5)
    [line] = sink.lines()
    assert CANARY_BYTES not in line


@pytest.mark.parametrize(
    "settings",
    [
        {"context": {"api_key": CANARY}},
        {"sinks": ["stdout", f"loki+http://u:{CANARY}@127.0.0.1:3100"]},
    ],
    ids=["context", "sink-uri"],
)
def test_config_repr_masks_secrets(settings: dict[str, Any]) -> None:
    """repr(Config) shows neither secret context values nor URL passwords."""
    assert CANARY not in repr(Config(**settings))


def test_otlp_settings_repr_masks_endpoint_userinfo() -> None:
    """repr(OtlpLogsSink(...).settings) hides user-info in the endpoint."""
    sink = OtlpLogsSink(f"http://u:{CANARY}@127.0.0.1:1/v1/logs")
    assert CANARY not in repr(sink)
    assert CANARY not in repr(sink.settings)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["session", "session_id", "cvv", "card_number"])
def test_cli_config_masks_every_redacted_context_name(name: str) -> None:
    """`nglogger config` masks a context value whose key the redactor treats as secret."""
    out = run_cli({"NGLOGGER_CONTEXT": f"{name}={CANARY}"}, "config", "--json")
    assert out.returncode == 0, out.stderr
    assert CANARY not in out.stdout + out.stderr


def test_cli_config_masks_secret_resource_attributes() -> None:
    """`nglogger config` masks secret-named OTEL_RESOURCE_ATTRIBUTES in the otel.resource row."""
    env = {"NGLOGGER_SINKS": "otlp", "OTEL_RESOURCE_ATTRIBUTES": f"api_key={CANARY}"}
    out = run_cli(env, "config", "--json")
    assert out.returncode == 0, out.stderr
    assert CANARY not in out.stdout + out.stderr


def test_otlp_resource_attributes_are_redacted(monkeypatch: pytest.MonkeyPatch) -> None:
    """A secret-named resource attribute from OTEL_RESOURCE_ATTRIBUTES reaches no OTLP body."""
    with RecordingServer() as server:
        monkeypatch.setenv("NGLOGGER_SINKS", f"otlp+{server.url}?protocol=http/json")
        monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", f"service.name=svc,api_key={CANARY}")
        nglogger.configure()
        nglogger.get_logger("otel").info("hello")
        assert nglogger.flush(5)
        [request] = server.wait_for(1)
        assert otlp_json_records(request.json()) == 1
        assert CANARY_BYTES not in request.body
