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

import time
import uuid
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

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
from ._otlp_records import LogsEncoder, load_proto, otlp_json, severity
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
    "otlp_json",
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
        self._pb = load_proto()
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
        self._build_resource()

    # ------------------------------------------------------------------ resource
    def _build_resource(self) -> None:
        if self._instance_id_generated:
            self._instance_id = str(uuid.uuid4())
        attributes = dict(self.settings.resource)
        attributes["service.instance.id"] = self._instance_id
        self._encoder = LogsEncoder(self._pb, attributes, as_json=self._json)
        self._resource = self._encoder.resource

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
        return self._pb.ExportLogsServiceRequest.FromString(self._encoder.protobuf(events, now))

    def encode(self, events: Sequence[bytes]) -> bytes:
        """The request body: protobuf bytes, or OTLP/JSON (hex ids, integer enums).

        Built one record at a time: each event is parsed, mapped onto one reused
        ``LogRecord`` and serialized before the next, so what the encoding holds is the
        records' bytes (about the batch's size), never every event parsed at once. The
        enclosing ``ExportLogsServiceRequest``, ``ResourceLogs`` and ``ScopeLogs``
        framing is written around them (the same bytes protobuf writes; decoded with
        the official messages in the tests).
        """
        return self._encoder.encode(events, time.time_ns())

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
