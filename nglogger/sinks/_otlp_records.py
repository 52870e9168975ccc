"""One event -> one OTLP ``LogRecord``, and the ``ExportLogsServiceRequest`` around them.

The mapping is documented in :mod:`nglogger.sinks.otlp` (its module table); this module
holds it, shared by the OTLP/HTTP and OTLP/gRPC sinks: :class:`LogsEncoder` builds the
request body for one resource, protobuf or OTLP/JSON, one record at a time (each event
parsed, mapped onto a fresh ``LogRecord`` and serialized before the next), writing the
``ResourceLogs``/``ScopeLogs`` framing around the records itself.
"""

from __future__ import annotations

import base64
import calendar
import re
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import orjson

from .._core.errors import ConfigError

__all__ = ["LogsEncoder", "load_proto", "otlp_json", "parse_event", "severity"]

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


class LogsEncoder:
    """Request bodies for one resource (its attributes given; ``service.instance.id`` included)."""

    def __init__(self, pb: _Proto, resource: Mapping[str, object], *, as_json: bool) -> None:
        self._pb = pb
        self._json = as_json
        message = pb.Resource()
        for key, value in resource.items():
            kv = message.attributes.add()
            kv.key = key
            _set_any(kv.value, value)
        self.resource = message
        self.resource_bytes: bytes = message.SerializeToString()
        self.resource_json = orjson.dumps(
            pb.json_format.MessageToDict(message, use_integers_for_enums=True)
        )
        #: Event fields equal to a resource attribute are left out of the records.
        self.resource_items = {
            (key, value) for key, value in resource.items() if isinstance(value, str)
        }
        service = resource.get("service.name")
        if isinstance(service, str):
            self.resource_items.add(("service", service))
        self._ts_cache: tuple[str, int] = ("", 0)

    def encode(self, events: Sequence[bytes], now: int) -> bytes:
        """The request body: protobuf bytes, or OTLP/JSON (hex ids, integer enums)."""
        return self.json(events, now) if self._json else self.protobuf(events, now)

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
            event = parse_event(raw)
            logger = event.pop("logger", "")
            name = logger if isinstance(logger, str) else str(logger)
            record = new_record()
            self.fill(record, event, now)
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

    def protobuf(self, events: Sequence[bytes], now: int) -> bytes:
        groups = self._scopes(events, now)
        resource = self.resource_bytes
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

    def json(self, events: Sequence[bytes], now: int) -> bytes:
        groups = self._scopes(events, now)
        pieces: list[bytes | bytearray] = [
            b'{"resourceLogs":[{"resource":',
            self.resource_json,
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

    def fill(self, record: Any, event: dict[str, Any], now: int) -> None:
        """Map one parsed event onto an empty LogRecord (see the module table)."""
        stamp = event.pop("timestamp", None)
        ns = self.time_ns(stamp)
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
        duplicates = self.resource_items
        for key, value in event.items():
            if type(value) is str and (key, value) in duplicates:
                continue
            kv = record.attributes.add()
            kv.key = key
            _set_any(kv.value, value)

    def time_ns(self, stamp: object) -> int | None:
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


def load_proto() -> _Proto:
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


def parse_event(raw: bytes) -> dict[str, Any]:
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
