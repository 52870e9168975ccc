"""OTLP/HTTP logs: ``OtlpLogsSink`` sends events to an OpenTelemetry Collector or OTLP backend.

Each batch becomes one ``ExportLogsServiceRequest`` built with the official
``opentelemetry-proto`` messages (``pip install 'nglogger[otel]'``; imported when
the sink is built) and POSTed to ``.../v1/logs`` as ``http/protobuf`` (default,
``application/x-protobuf``) or ``http/json`` (``application/json``: protobuf's
JSON mapping with the OTLP/JSON rules: lowerCamelCase keys, enums as integers,
64-bit integers as decimal strings, trace and span ids as lower-case hex, not
base64). Events are parsed back to structure here, on the sink's worker thread
(one ``orjson.loads`` per event), never on the calling thread.

Mapping of one event to a ``LogRecord``:

=========================  ===============================================================
event field                LogRecord
=========================  ===============================================================
``timestamp`` (RFC 3339)   ``time_unix_nano``; ``observed_time_unix_nano`` is the same
                           instant (nglogger observed the event at the call). An
                           unreadable timestamp stays an attribute; observed = export time
``level``                  ``severity_text`` = the level upper-cased (``WARNING``) and
                           ``severity_number``: debug 5, info 9, warning 13, error 17,
                           critical 21. With ``level_number`` (stdlib custom levels):
                           10*k + j -> 4*k + 1 + min(j, 3) as the OTel SDK maps stdlib
                           levels (25 -> INFO4 = 12), 1-9 -> TRACE (1), 0 -> UNSPECIFIED
``logger``                 the ``InstrumentationScope`` name (records grouped per logger)
``message``                ``body`` (a string AnyValue)
``trace_id`` / ``span_id`` ``trace_id`` (16 bytes) / ``span_id`` (8 bytes) when they are
                           32 / 16 hex digits, not all zero; ``span_id`` and
                           ``trace_flags`` are used only together with a valid trace_id.
                           Anything else stays an attribute
``trace_flags``            ``flags`` (W3C trace flags: ``"01"`` as nglogger.otel writes
                           them, or an int 0-255)
``exception``              ``exception.type``, ``exception.message``,
                           ``exception.stacktrace`` attributes (OTel semantic conventions)
                           when it has that shape; otherwise an attribute as it is
every other field          an attribute: str, bool, int, float as themselves (ints beyond
                           int64 as decimal strings), dicts as ``kvlist_value``, lists as
                           ``array_value``, null as an empty AnyValue
=========================  ===============================================================

An attribute equal to a resource attribute (same key and value; ``service``
counts as ``service.name``) is left out: nglogger copies ``OTEL_SERVICE_NAME``
and ``OTEL_RESOURCE_ATTRIBUTES`` into every event's context, and OTLP carries
them once, on the resource. A field that differs from the resource (another
``service`` for one logger) is kept.

Resource: ``service.name`` from ``OTEL_SERVICE_NAME``, else
``OTEL_RESOURCE_ATTRIBUTES``' ``service.name``, else the context's ``service``,
else ``unknown_service``; the other ``OTEL_RESOURCE_ATTRIBUTES``;
``telemetry.sdk.name=nglogger``, ``telemetry.sdk.language=python``,
``telemetry.sdk.version``; and ``service.instance.id``, a uuid4 renewed in a
forked child (unless configured explicitly).

Settings (resolved by ``nglogger._config.otlp``; explicit argument > ``OTEL_EXPORTER_OTLP_LOGS_*`` >
``OTEL_EXPORTER_OTLP_*`` > the specification's default): endpoint (``..._LOGS_ENDPOINT`` as-is,
else ``..._ENDPOINT`` + ``/v1/logs``, default ``http://localhost:4318/v1/logs``), headers
(``k=v,k2=v2``, percent-decoded; the logs variable replaces the general one), timeout
(milliseconds, default 10000: the read timeout of each request; connect timeout ``min(timeout, 5
s)``), compression (``gzip`` or ``none``, default ``none``), protocol (``http/protobuf`` or
``http/json``; ``grpc`` is not supported). In ``NGLOGGER_SINKS``: ``otlp`` (all from the
environment) or ``otlp+http(s)://host:port[/path][?protocol=..&compression=..&timeout=ms]``:
without a path, ``/v1/logs`` is appended; with one, it is used as-is.

Retries follow the OTLP specification: 429, 502, 503 and 504 (honouring
``Retry-After``), timeouts and connection errors are retried through the shared
policy, budget and breaker of :class:`~nglogger.sinks.http.HttpSink`; every
other status is not. A 2xx whose ``ExportLogsServiceResponse`` reports a
``partial_success`` with ``rejected_log_records`` > 0 counts exactly that many
events as dropped ``rejected`` and is never retried.

Worst-case footprint: the batch and its events as a list, one parsed event and its
record at a time, the serialized records (protobuf: about the batch's size; OTLP/JSON:
about 2-3x), the joined body and its gzip copy, plus one bounded reply (64 KiB); see
``memory_copies`` (measured in tests/test_memory_copies.py).
"""

from __future__ import annotations

import base64
import calendar
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import orjson

from .._config.otlp import (
    CONTENT_TYPES,
    DEFAULT_ENDPOINT,
    DEFAULT_TIMEOUT,
    OtlpSettings,
    resolve_for_uri,
    resolve_settings,
)
from .._config.report import describe_otel as describe_config
from .._config.sinkuri import OtlpOptions
from .._config.sinkuri import parse_otlp_uri as parse_sink_uri
from .._core.errors import ConfigError
from .._delivery.http import HttpResponse
from .http import HttpSink

if TYPE_CHECKING:
    from .._config.config import Config

__all__ = [
    "DEFAULT_ENDPOINT",
    "OTLP_RETRYABLE",
    "OtlpLogsSink",
    "OtlpSettings",
    "describe_config",
    "from_config",
    "parse_sink_uri",
    "resolve_settings",
    "settings_for",
    "severity",
]

#: ``memory_copies`` per protocol (the same figures as ``nglogger._config.sinkuri.MEMORY_COPIES``).
OTLP_MEMORY_COPIES: Mapping[str, int] = MappingProxyType(
    {"http/protobuf": 5, "http/json": 10, "grpc": 6}
)
#: The statuses the OTLP specification says to retry.
OTLP_RETRYABLE = frozenset({429, 502, 503, 504})
_I64_MIN = -(2**63)
_I64_MAX = 2**63 - 1
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_HEX2 = re.compile(r"[0-9a-fA-F]{2}")
_EXCEPTION_KEYS = frozenset({"type", "message", "stacktrace"})

#: level name -> (severity_number, severity_text)
_SEVERITY: Mapping[str, tuple[int, str]] = MappingProxyType(
    {
        "debug": (5, "DEBUG"),
        "info": (9, "INFO"),
        "warning": (13, "WARNING"),
        "error": (17, "ERROR"),
        "critical": (21, "CRITICAL"),
    }
)


def severity(level: object, number: object = None) -> tuple[int, str]:
    """``(severity_number, severity_text)`` for an event's ``level`` (and ``level_number``)."""
    text = level.upper() if isinstance(level, str) else ""
    if isinstance(number, int) and not isinstance(number, bool):
        if number <= 0:
            return 0, text
        if number < 10:
            return 1, text
        tens, units = divmod(number, 10)
        return min(24, 4 * tens + 1 + min(units, 3)), text
    known = _SEVERITY.get(text.lower())
    if known is not None:
        return known
    return 0, text


def settings_for(url: str, options: OtlpOptions, config: Config) -> OtlpSettings:
    """The settings of an ``otlp`` URI, from ``config.sink_env`` and the context."""
    return resolve_for_uri(config.sink_env, url, options, config.context)


def from_config(url: str, options: OtlpOptions, config: Config) -> OtlpLogsSink:
    """The OTLP/HTTP sink for an ``otlp`` URI (``nglogger.sinks.resolve_sink`` builds
    :class:`~nglogger.sinks.otlp_grpc.OtlpGrpcSink` when the settings say ``grpc``)."""
    return OtlpLogsSink.from_settings(settings_for(url, options, config))


# --------------------------------------------------------------------------- the sink


class OtlpLogsSink(HttpSink):
    """OTLP/HTTP logs exporter (see the module docstring for the mapping and settings)."""

    kind = "otlp"
    _grpc = False

    def __init__(
        self,
        endpoint: str = DEFAULT_ENDPOINT,
        *,
        protocol: str = "http/protobuf",
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        compression: str = "none",
        resource: Mapping[str, object] | None = None,
        **http_options: Any,
    ) -> None:
        settings = resolve_settings(
            {},
            endpoint=endpoint,
            protocol=protocol,
            headers=headers or {},
            timeout=timeout,
            compression=compression,
            resource=resource,
        )
        self._init_from(settings, http_options)

    @classmethod
    def from_settings(cls, settings: OtlpSettings, **http_options: Any) -> OtlpLogsSink:
        """A sink for already resolved settings (see :func:`resolve_settings`)."""
        sink = cls.__new__(cls)
        sink._init_from(settings, http_options)
        return sink

    @classmethod
    def from_env(cls, env: Mapping[str, str], /, **explicit: Any) -> OtlpLogsSink:
        """A sink from ``OTEL_*`` variables in ``env`` (e.g. ``Config.sink_env``) and arguments.

        ``explicit`` takes :func:`resolve_settings`' keywords (endpoint, protocol,
        headers, timeout in seconds, compression, resource, context); anything
        else goes to :class:`~nglogger.sinks.http.HttpSink`.
        """
        names = ("endpoint", "protocol", "headers", "timeout", "compression", "resource", "context")
        chosen = {k: explicit.pop(k) for k in names if k in explicit}
        return cls.from_settings(resolve_settings(env, **chosen), **explicit)

    def _init_from(self, settings: OtlpSettings, http_options: dict[str, Any]) -> None:
        if settings.protocol == "grpc" and not self._grpc:
            raise ConfigError(
                "protocol",
                "grpc",
                "http/protobuf, http/json",
                "OtlpLogsSink speaks OTLP/HTTP; use nglogger.sinks.otlp_grpc.OtlpGrpcSink",
            )
        self._pb = _load_proto()
        self.settings = settings
        self.protocol = settings.protocol
        self.content_type = CONTENT_TYPES[settings.protocol]
        self._json = settings.protocol == "http/json"
        #: Batch-sized buffers held while writing a batch (``Config.memory_budget``): the
        #: batch, its events as a list, the records' encoding, the joined body and its gzip
        #: copy. Measured with tracemalloc (tests/test_memory_copies.py): at most 4.2x the
        #: batch for protobuf, 9.2x for OTLP/JSON (records 2-3x the events' JSON): 5 and
        #: 10; gRPC 6 (grpcio holds its own copy of the message while sending).
        self.memory_copies = OTLP_MEMORY_COPIES[settings.protocol]
        self._instance_id_generated = "service.instance.id" not in settings.resource
        self._instance_id = str(settings.resource.get("service.instance.id", ""))
        http_options.setdefault("connect_timeout", min(settings.timeout, 5.0))
        compress = http_options.pop("compress", settings.compression == "gzip")
        super().__init__(
            settings.endpoint,
            headers=settings.headers,
            compress=compress,
            timeout=settings.timeout,
            **http_options,
        )
        self._ts_cache: tuple[str, int] = ("", 0)
        self._build_resource()

    # ------------------------------------------------------------------ resource
    def _build_resource(self) -> None:
        if self._instance_id_generated:
            self._instance_id = str(uuid.uuid4())
        attributes = dict(self.settings.resource)
        attributes["service.instance.id"] = self._instance_id
        resource = self._pb.Resource()
        for key, value in attributes.items():
            kv = resource.attributes.add()
            kv.key = key
            _set_any(kv.value, value)
        self._resource = resource
        self._resource_bytes: bytes = resource.SerializeToString()
        self._resource_json = orjson.dumps(
            self._pb.json_format.MessageToDict(resource, use_integers_for_enums=True)
        )
        self._resource_items = {
            (key, value) for key, value in attributes.items() if isinstance(value, str)
        }
        service = attributes.get("service.name")
        if isinstance(service, str):
            self._resource_items.add(("service", service))

    @property
    def instance_id(self) -> str:
        """This process's ``service.instance.id`` (renewed after fork unless configured)."""
        return self._instance_id

    def after_fork(self) -> None:
        """In a forked child: fresh connections and a new ``service.instance.id``."""
        super().after_fork()
        self._build_resource()

    # ------------------------------------------------------------------ encoding
    def default_retryable(self) -> frozenset[int]:
        """429, 502, 503, 504 (the OTLP specification's list)."""
        return OTLP_RETRYABLE

    def per_event_overhead(self, event: bytes) -> int:
        """Protobuf: about the JSON size; OTLP/JSON wraps each value (about twice the size)."""
        return len(event) + 64 if self._json else 32

    def request_message(self, events: Sequence[bytes], now_ns: int | None = None) -> Any:
        """The ``ExportLogsServiceRequest`` for these events (one resource, a scope per logger)."""
        now = time.time_ns() if now_ns is None else now_ns
        return self._pb.ExportLogsServiceRequest.FromString(self._encode_protobuf(events, now))

    def encode(self, events: Sequence[bytes]) -> bytes:
        """The request body: protobuf bytes, or OTLP/JSON (hex ids, integer enums).

        Built one record at a time: each event is parsed, mapped onto one reused
        ``LogRecord`` and serialized before the next, so what the encoding holds is the
        records' bytes (about the batch's size), never every event parsed at once. The
        enclosing ``ExportLogsServiceRequest``, ``ResourceLogs`` and ``ScopeLogs``
        framing is written around them (the same bytes protobuf writes; decoded with
        the official messages in the tests).
        """
        now = time.time_ns()
        if self._json:
            return self._encode_json(events, now)
        return self._encode_protobuf(events, now)

    def _scopes(self, events: Sequence[bytes], now: int) -> dict[str, bytearray]:
        """Per logger name (in order of first appearance), its records' encoding, appended.

        Protobuf: each record as a ``ScopeLogs.log_records`` field; OTLP/JSON: the
        records' objects separated by commas. Appending to one buffer per scope frees
        each record's own bytes at once (orjson's output buffers are kilobytes each).
        """
        groups: dict[str, bytearray] = {}
        new_record = self._pb.LogRecord
        as_json = self._json
        for raw in events:
            event = _parse_event(raw)
            logger = event.pop("logger", "")
            name = logger if isinstance(logger, str) else str(logger)
            record = new_record()
            self._fill(record, event, now)
            buf = groups.get(name)
            if buf is None:
                buf = groups[name] = bytearray()
            if as_json:
                if buf:
                    buf += b","
                buf += self._record_json(record)
            else:
                data = record.SerializeToString()
                buf += _tag_len(2, len(data))
                buf += data
        return groups

    def _encode_protobuf(self, events: Sequence[bytes], now: int) -> bytes:
        groups = self._scopes(events, now)
        resource = self._resource_bytes
        head = [_tag_len(1, len(resource)), resource]
        resource_logs_size = sum(map(len, head))
        scopes: list[tuple[int, list[bytes | bytearray]]] = []
        for name, records in groups.items():
            scope = self._pb.InstrumentationScope(name=name).SerializeToString()
            parts: list[bytes | bytearray] = [_tag_len(1, len(scope)), scope, records]
            size = sum(map(len, parts))
            scopes.append((size, parts))
            resource_logs_size += len(_tag_len(2, size)) + size
        pieces: list[bytes | bytearray] = [_tag_len(1, resource_logs_size), *head]
        for size, parts in scopes:
            pieces.append(_tag_len(2, size))
            pieces.extend(parts)
        del groups, scopes
        return b"".join(pieces)

    def _encode_json(self, events: Sequence[bytes], now: int) -> bytes:
        groups = self._scopes(events, now)
        pieces: list[bytes | bytearray] = [
            b'{"resourceLogs":[{"resource":',
            self._resource_json,
            b',"scopeLogs":[',
        ]
        for i, (name, records) in enumerate(groups.items()):
            pieces.append(b'{"scope":' if i == 0 else b',{"scope":')
            pieces.append(orjson.dumps({"name": name} if name else {}))
            pieces.append(b',"logRecords":[')
            pieces.append(records)
            pieces.append(b"]}")
        pieces.append(b"]}]}")
        del groups
        return b"".join(pieces)

    def _record_json(self, record: Any) -> bytes:
        """One LogRecord in OTLP/JSON (integer enums, 64-bit integers as strings, hex ids)."""
        data = self._pb.json_format.MessageToDict(record, use_integers_for_enums=True)
        for key in ("traceId", "spanId"):
            value = data.get(key)
            if value:
                data[key] = base64.b64decode(value).hex()
        return orjson.dumps(data)

    def _fill(self, record: Any, event: dict[str, Any], now: int) -> None:
        """Map one parsed event onto an empty LogRecord (see the module table)."""
        stamp = event.pop("timestamp", None)
        ns = self._time_ns(stamp)
        if ns is None:
            record.observed_time_unix_nano = now
            if stamp is not None:
                event["timestamp"] = stamp
        else:
            record.time_unix_nano = ns
            record.observed_time_unix_nano = ns
        number, text = severity(event.pop("level", None), event.get("level_number"))
        record.severity_number = number
        if text:
            record.severity_text = text
        if "message" in event:
            _set_any(record.body, event.pop("message"))
        trace_id = _hex_id(event.get("trace_id"), _HEX32)
        if trace_id is not None:
            record.trace_id = trace_id
            del event["trace_id"]
            span_id = _hex_id(event.get("span_id"), _HEX16)
            if span_id is not None:
                record.span_id = span_id
                del event["span_id"]
            flags = _trace_flags(event.get("trace_flags"))
            if flags is not None:
                record.flags = flags
                del event["trace_flags"]
        exception = event.get("exception")
        if (
            isinstance(exception, dict)
            and exception
            and _EXCEPTION_KEYS.issuperset(exception)
            and all(isinstance(v, str) for v in exception.values())
        ):
            del event["exception"]
            for key, value in exception.items():
                kv = record.attributes.add()
                kv.key = f"exception.{key}"
                kv.value.string_value = value
        duplicates = self._resource_items
        for key, value in event.items():
            if type(value) is str and (key, value) in duplicates:
                continue
            kv = record.attributes.add()
            kv.key = key
            _set_any(kv.value, value)

    def _time_ns(self, stamp: object) -> int | None:
        """Epoch nanoseconds of an RFC 3339 UTC timestamp (``...T13:47:50.800619Z``)."""
        if not isinstance(stamp, str) or len(stamp) < 20 or stamp[-1] != "Z":
            return _time_slow(stamp)
        if stamp[19] == "Z":
            fraction = ""
            if len(stamp) != 20:
                return _time_slow(stamp)
        elif stamp[19] == ".":
            fraction = stamp[20:-1]
            if not (fraction.isascii() and fraction.isdigit() and len(fraction) <= 9):
                return _time_slow(stamp)
        else:
            return _time_slow(stamp)
        prefix = stamp[:19]
        cached = self._ts_cache
        if cached[0] == prefix:
            seconds = cached[1]
        else:
            try:
                seconds = calendar.timegm(time.strptime(prefix, "%Y-%m-%dT%H:%M:%S"))
            except ValueError:
                return _time_slow(stamp)
            self._ts_cache = (prefix, seconds)
        return seconds * 1_000_000_000 + (int(fraction.ljust(9, "0")) if fraction else 0)

    # ----------------------------------------------------------------- responses
    def accept(self, response: HttpResponse, count: int, dropped: dict[str, int]) -> int:
        """Read ``partial_success`` from the reply: rejected records are dropped ``rejected``."""
        body = response.body
        if not body:
            return count
        content_type = response.headers.get("content-type", "").lower()
        is_json = "json" in content_type if content_type else self._json
        reply = self._pb.ExportLogsServiceResponse()
        try:
            if is_json:
                self._pb.json_format.Parse(body, reply, ignore_unknown_fields=True)
            else:
                reply.ParseFromString(body)
        except Exception:
            self._count("unreadable_response")
            return count
        partial = reply.partial_success
        rejected = max(0, min(int(partial.rejected_log_records), count))
        if rejected or partial.error_message:
            self._count("partial_success")
        if rejected:
            self._count("rejected_log_records", rejected)
            dropped["rejected"] = dropped.get("rejected", 0) + rejected
        return count - rejected


# --------------------------------------------------------------------------- helpers


class _Proto:
    """The opentelemetry-proto classes the sink uses (imported on first use)."""

    def __init__(self) -> None:
        import importlib

        from opentelemetry.proto.collector.logs.v1 import logs_service_pb2
        from opentelemetry.proto.common.v1 import common_pb2
        from opentelemetry.proto.logs.v1 import logs_pb2
        from opentelemetry.proto.resource.v1 import resource_pb2

        self.ExportLogsServiceRequest = logs_service_pb2.ExportLogsServiceRequest
        self.ExportLogsServiceResponse = logs_service_pb2.ExportLogsServiceResponse
        self.Resource = resource_pb2.Resource
        self.LogRecord = logs_pb2.LogRecord
        self.InstrumentationScope = common_pb2.InstrumentationScope
        self.json_format: Any = importlib.import_module("google.protobuf.json_format")


_PROTO: list[_Proto] = []


def _load_proto() -> _Proto:
    if not _PROTO:
        try:
            _PROTO.append(_Proto())
        except ImportError:
            raise ConfigError(
                "sinks",
                "otlp",
                "an installed opentelemetry-proto",
                "pip install 'nglogger[otel]'",
            ) from None
    return _PROTO[0]


def otlp_json(request: Any, json_format: Any) -> bytes:
    """A protobuf message as OTLP/JSON: protobuf's JSON mapping with hex trace and span ids.

    ``MessageToDict`` already gives lowerCamelCase keys and 64-bit integers as
    strings; enums are asked for as integers; ``bytes`` ids come out base64 and
    are turned into lower-case hex, as the OTLP specification requires.
    """
    data = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_logs in data.get("resourceLogs", ()):
        for scope_logs in resource_logs.get("scopeLogs", ()):
            for record in scope_logs.get("logRecords", ()):
                for key in ("traceId", "spanId"):
                    value = record.get(key)
                    if value:
                        record[key] = base64.b64decode(value).hex()
    return orjson.dumps(data)


def _tag_len(field: int, size: int) -> bytes:
    """A length-delimited field's key and length (protobuf wire format)."""
    out = bytearray([field << 3 | 2])
    while size > 0x7F:
        out.append(size & 0x7F | 0x80)
        size >>= 7
    out.append(size)
    return bytes(out)


def _parse_event(raw: bytes) -> dict[str, Any]:
    """One event document as a dict; never raises (an unreadable one keeps its text as body)."""
    try:
        event = orjson.loads(raw)
    except orjson.JSONDecodeError:
        event = None
    if isinstance(event, dict):
        if "level" not in event:  # every event of the default names has one
            _from_schema(event)
        return event
    return {
        "message": bytes(raw).decode("utf-8", "replace"),
        "nglogger_fallback": ["otlp_unparsable"],
    }


#: An output schema's names (``Config.schema``) -> nglogger's own, for the OTLP fields.
_SCHEMA_NAMES = (
    ("@timestamp", "timestamp"),  # ecs
    ("time", "timestamp"),  # gcp
    ("log.level", "level"),
    ("severity", "level"),
    ("status", "level"),  # datadog
    ("log.logger", "logger"),
    ("logger.name", "logger"),
    ("trace.id", "trace_id"),
    ("span.id", "span_id"),
    ("logging.googleapis.com/spanId", "span_id"),
)
_GCP_TRACE = "logging.googleapis.com/trace"
_GCP_SAMPLED = "logging.googleapis.com/trace_sampled"


def _from_schema(event: dict[str, Any]) -> None:
    """An event written with an output schema, renamed to the names the mapping reads.

    Time, severity, scope, trace and span ids are OTLP fields of their own; the
    other schema names stay attributes. Datadog's decimal ids (the lower 64 bits)
    cannot give back a W3C trace id and stay attributes too.
    """
    for schema_name, name in _SCHEMA_NAMES:
        if schema_name in event and name not in event:
            if schema_name == "status" and not isinstance(event[schema_name], str):
                continue  # an HTTP status of a foreign event, not Datadog's level
            event[name] = event.pop(schema_name)
    level = event.get("level")
    if isinstance(level, str):
        event["level"] = level.lower()
    trace = event.get(_GCP_TRACE)
    if isinstance(trace, str) and "trace_id" not in event:
        event["trace_id"] = trace.rsplit("/", 1)[-1]  # projects/<p>/traces/<id>
        del event[_GCP_TRACE]
        sampled = event.pop(_GCP_SAMPLED, None)
        if isinstance(sampled, bool):
            event["trace_flags"] = "01" if sampled else "00"


def _set_any(value: Any, obj: object) -> None:
    """Fill an (empty) AnyValue from a JSON-decoded value."""
    kind = type(obj)
    if kind is str:
        value.string_value = obj
    elif kind is bool:
        value.bool_value = obj
    elif kind is int:
        assert isinstance(obj, int)
        if _I64_MIN <= obj <= _I64_MAX:
            value.int_value = obj
        else:
            value.string_value = str(obj)
    elif kind is float:
        value.double_value = obj
    elif kind is dict:
        assert isinstance(obj, dict)
        kvlist = value.kvlist_value
        kvlist.SetInParent()
        add = kvlist.values.add
        for key, item in obj.items():
            kv = add()
            kv.key = str(key)
            _set_any(kv.value, item)
    elif kind is list:
        assert isinstance(obj, list)
        array = value.array_value
        array.SetInParent()
        add = array.values.add
        for item in obj:
            _set_any(add(), item)
    elif obj is None:
        value.SetInParent()  # an empty AnyValue: OTLP's null
    else:
        value.string_value = str(obj)


def _hex_id(value: object, pattern: re.Pattern[str]) -> bytes | None:
    """The id's bytes when ``value`` is hex of the right length and not all zeros."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return None
    data = bytes.fromhex(value)
    return data if any(data) else None


def _trace_flags(value: object) -> int | None:
    """W3C trace flags from ``"01"`` (two hex digits) or an int 0-255."""
    if isinstance(value, str) and _HEX2.fullmatch(value):
        return int(value, 16)
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 255:
        return value
    return None


def _time_slow(stamp: object) -> int | None:
    """Any other ISO 8601 timestamp with a zone (naive ones are taken as UTC)."""
    if not isinstance(stamp, str):
        return None
    from datetime import datetime, timezone

    try:
        when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    delta = when - datetime(1970, 1, 1, tzinfo=timezone.utc)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
