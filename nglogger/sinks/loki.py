"""Grafana Loki push API (JSON): ``LokiSink``, plus the event-head helpers the vendor sinks share.

``POST <url>/loki/api/v1/push`` with ``Content-Type: application/json`` and a
gzip body (Loki documents both)::

    {"streams": [{"stream": {"service": "checkout", "level": "info"},
                  "values": [["1795696070800619000", "<the event JSON>"], ...]}]}

Labels come from configuration only, never from event fields, so the number of
streams stays small: the configured ``labels`` (default ``{"service": <service
or "nglogger">}``) plus ``level`` (one of debug, info, warning, error, critical,
or ``unknown``; ``level_label=False`` leaves it out). Events of one request are
grouped into one stream per label set. Each value is the event's RFC 3339
timestamp as a string of Unix nanoseconds (Loki's push endpoint takes strings,
not numbers) and the event document itself as the log line, escaped once into a
JSON string (``orjson.dumps(event.decode())``); query it with ``| json``.

Structured metadata (Loki 3; off by default, since an older Loki or one with
``allow_structured_metadata: false`` rejects the push): ``structured_metadata=["trace_id",
"span_id"]`` (or ``LOKI_STRUCTURED_METADATA=trace_id,span_id``) sends those top-level
fields of each event as the value's third element, ``["<ns>", "<line>", {"trace_id":
"..."}]``: indexed per line, queryable as ``{service="checkout"} | trace_id="..."``, and
never labels, so high-cardinality values do not multiply streams. A field that is absent,
null, or not a string, number or boolean is left out; the line keeps every field.

Auth: ``X-Scope-OrgID: <tenant_id>`` for multi-tenant Loki, HTTP basic auth with
``username``/``password`` (Grafana Cloud: instance id and token). Both are sent
only when set.

Responses: ``204`` delivered. Loki answers ``260`` (``block_ingestion_status_code``,
a 2xx) when ingestion is blocked and the logs are discarded: counted as dropped
``rejected``. ``429`` and ``5xx`` are retried, as Promtail does; ``400`` is not
(see Limits).

Limits: a line longer than Loki's ``max_line_size`` (default 256KB) is rejected
by Loki: it stores the other lines of the push and answers 400 naming the ones it
ignored, so exactly those are counted ``rejected`` (lines over the limit the reply
names are counted from the lines sent: exact whether Loki 3 groups identical
messages or Loki 2 names only the last one; a 400 that names no entry refuses the
push: it is bisected to find the lines refused). Events over
``max_record_bytes`` (default 256,000 bytes) are dropped here first as ``too_large``. Requests are
capped at 1 MiB uncompressed (Promtail's default batch size), well under the
default ingestion burst (6 MB); ``max_request_bytes`` keeps room inside that for
eight stream headers.

The private helpers below (reading an event's head, checking secrets and
header values, basic auth, user-info) are shared with the Datadog, Honeycomb
and Elasticsearch sinks.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

import orjson

from .._config.secrets import safe_url
from .._core.errors import ConfigError
from .._delivery.http import HttpResponse
from ._vendor import (
    LEVELS,
    basic_auth,
    check_secret,
    check_text,
    event_fields,
    event_head,
    renamed,
    split_userinfo,
)
from .http import HttpSink

if TYPE_CHECKING:
    from .._config.config import Config

__all__ = ["LokiSink", "from_config"]

PUSH_PATH = "/loki/api/v1/push"

#: Loki's default ``max_line_size`` (256KB, read as decimal to stay on the safe side).
MAX_LINE_BYTES = 256_000
#: Promtail's default batch size; far below Loki's default burst of 6 MB per tenant.
MAX_REQUEST_BYTES = 1024 * 1024

LOKI_RETRYABLE = frozenset({429, *range(500, 600)})
_BLOCKED = 260  # block_ingestion_status_code's default: a 2xx meaning "discarded"

_LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_MAX_STREAMS_RESERVED = 8  # stream headers budgeted per request (levels + "unknown")


# ------------------------------------------------------------------ the sink
class LokiSink(HttpSink):
    """Pushes events to Grafana Loki as JSON streams (see the module docstring)."""

    content_type = "application/json"
    kind = "loki"
    #: Batch-sized buffers held while writing a batch (``Config.memory_budget``): the batch, its
    #: events as a list, each line escaped into a JSON string and its value, the joined body and
    #: its gzip copy (measured at most 4.3x for 1 MiB batches); tests/test_memory_copies.py
    #: measures it with tracemalloc.
    memory_copies = 5

    def __init__(
        self,
        url: str,
        *,
        labels: Mapping[str, str] | None = None,
        level_label: bool = True,
        tenant_id: str | None = None,
        username: str | None = None,
        password: str | None = None,
        structured_metadata: Sequence[str] | None = None,
        **http_options: Any,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ConfigError("url", safe_url(url), "an http:// or https:// URL of Loki")
        url, url_user, url_password = split_userinfo(url)
        username = username if username is not None else url_user
        password = password if password is not None else url_password
        parts = urlsplit(url)
        if parts.query or parts.fragment:
            raise ConfigError("url", safe_url(url), "a Loki URL without query or fragment")
        path = parts.path.rstrip("/")
        if not path.endswith(PUSH_PATH):
            path += PUSH_PATH
        url = urlunsplit((parts.scheme, parts.netloc, path, "", ""))

        if not isinstance(level_label, bool):
            raise ConfigError("level_label", level_label, "True or False")
        if labels is not None and not isinstance(labels, Mapping):
            raise ConfigError("labels", labels, "a mapping of label names to strings")
        chosen = dict(labels) if labels is not None else {"service": "nglogger"}
        for name, value in chosen.items():
            if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
                raise ConfigError("labels", name, "label names matching [A-Za-z_][A-Za-z0-9_]*")
            check_text(f"labels[{name!r}]", value, "a non-empty printable string")
        if level_label and "level" in chosen:
            raise ConfigError(
                "labels", "level", "labels other than 'level'", "the event's level is the label"
            )
        if not chosen and not level_label:
            raise ConfigError("labels", {}, "at least one label (Loki needs one per stream)")
        self._labels = {name: value.strip() for name, value in chosen.items()}
        self._level_label = level_label
        metadata = _metadata_names(structured_metadata)
        clash = sorted(set(metadata) & {*self._labels, *(("level",) if level_label else ())})
        if clash:
            raise ConfigError(
                "structured_metadata", clash[0], "fields that are not labels", "a label already"
            )
        self.structured_metadata = metadata
        self._metadata_needle = (
            re.compile(b'"(?:' + b"|".join(re.escape(n.encode()) for n in metadata) + b')":')
            if metadata
            else None
        )

        headers = dict(http_options.pop("headers", None) or {})
        if tenant_id is not None:
            headers["X-Scope-OrgID"] = check_text(
                "tenant_id", tenant_id, "a Loki tenant id (printable text)"
            )
        if username is not None or password is not None:
            user = check_text("username", username, "the basic-auth user name, with password")
            secret = check_secret("password", password, "the basic-auth password, with username")
            headers["Authorization"] = basic_auth(user, secret)

        self._heads: dict[str, bytes] = {}
        headroom = _MAX_STREAMS_RESERVED * (len(self._stream_head("unknown")) + 2)
        request_bytes = http_options.pop("max_request_bytes", MAX_REQUEST_BYTES)
        if isinstance(request_bytes, int) and not isinstance(request_bytes, bool):
            if request_bytes <= headroom + 64:
                raise ConfigError(
                    "max_request_bytes", request_bytes, f"an integer > {headroom + 64}"
                )
            request_bytes -= headroom
        http_options.setdefault("max_record_bytes", MAX_LINE_BYTES)
        self._minute = b""
        self._minute_epoch = 0
        super().__init__(url, headers=headers, max_request_bytes=request_bytes, **http_options)

    def default_retryable(self) -> frozenset[int]:
        """429 and 5xx (as Promtail); 400 never (a malformed or invalid push)."""
        return LOKI_RETRYABLE

    # ----------------------------------------------------------------- encoding
    def per_event_overhead(self, event: bytes) -> int:
        """``["<ns>",`` ... ``"],`` plus one byte per quote or backslash escaped in the line."""
        escaped = 30 + event.count(b'"') + event.count(b"\\")
        needle = self._metadata_needle
        if needle is None or needle.search(event) is None:
            return escaped
        return escaped + len(event) + 4  # the metadata object: at most the event again

    def _stream_head(self, level: str) -> bytes:
        head = self._heads.get(level)
        if head is None:
            labels = dict(self._labels)
            if self._level_label:
                labels["level"] = level
            head = b'{"stream":' + orjson.dumps(labels) + b',"values":['
            self._heads[level] = head
        return head

    def encode(self, events: Sequence[bytes]) -> bytes:
        """One stream per level; values ``[ns string, event as a JSON string]`` in order."""
        streams: dict[str, list[bytes]] = {}
        for event in events:
            ns, level = self._ns_and_level(event)
            line = orjson.dumps(event.decode("utf-8", "replace"))
            needle = self._metadata_needle
            if needle is not None and needle.search(event) is not None:
                metadata = self._metadata(event)
                if metadata:
                    line += b"," + metadata
            streams.setdefault(level, []).append(b'["' + ns + b'",' + line + b"]")
        return (
            b'{"streams":['
            + b",".join(self._stream_head(lv) + b",".join(vs) + b"]}" for lv, vs in streams.items())
            + b"]}"
        )

    def _metadata(self, event: bytes) -> bytes:
        """The configured fields of the event as a JSON object of strings (b"" if none)."""
        try:
            document = orjson.loads(event)
        except orjson.JSONDecodeError:
            return b""
        if not isinstance(document, dict):
            return b""
        found: dict[str, str] = {}
        for name in self.structured_metadata:
            value = document.get(name)
            if isinstance(value, str):
                found[name] = value
            elif isinstance(value, (bool, int, float)):
                found[name] = orjson.dumps(value).decode()
        return orjson.dumps(found) if found else b""

    def _ns_and_level(self, event: bytes) -> tuple[bytes, str]:
        head = event_head(event)
        if head is not None:
            ns = self._fast_ns(head[0])
            if ns is not None:
                return ns, head[1].decode("ascii")
        _, timestamp, level = event_fields(event)
        ns_value = _parse_ns(timestamp) if timestamp is not None else None
        if ns_value is None:
            ns_value = time.time_ns()  # no usable timestamp: the time it is sent
        return b"%d" % ns_value, level if level in LEVELS else "unknown"

    def _fast_ns(self, timestamp: bytes) -> bytes | None:
        """Nanoseconds of ``YYYY-MM-DDTHH:MM:SS.ffffffZ``; the minute's epoch is cached."""
        minute = timestamp[:16]
        if minute != self._minute:
            try:
                epoch = calendar.timegm(
                    (
                        int(timestamp[0:4]),
                        int(timestamp[5:7]),
                        int(timestamp[8:10]),
                        int(timestamp[11:13]),
                        int(timestamp[14:16]),
                        0,
                    )
                )
            except (ValueError, OverflowError):
                return None
            self._minute, self._minute_epoch = minute, epoch
        micros = (self._minute_epoch + int(timestamp[17:19])) * 1_000_000 + int(timestamp[20:26])
        return b"%d" % (micros * 1000)

    # ----------------------------------------------------------------- results
    def refused_in(self, response: HttpResponse, events: Sequence[bytes]) -> int | None:
        """A 400 naming the entries Loki ignored: only those are lost (it stored the rest)."""
        if response.status != 400:
            return None
        return ignored_entries(response.body, events)

    def accept(self, response: HttpResponse, count: int, dropped: dict[str, int]) -> int:
        """A ``260`` reply means ingestion is blocked and the logs were discarded."""
        if response.status == _BLOCKED:
            dropped["rejected"] = dropped.get("rejected", 0) + count
            return 0
        return count


_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2}):([0-9]{2})"
    r"(?:\.([0-9]{1,9}))?(Z|[+-][0-9]{2}:?[0-9]{2})?"
)


#: How Loki says it ignored entries of a push it answers 400 (it stores the others): the
#: ingester's summary per stream; the distributor's validation messages (Loki 3 groups
#: identical ones as "<n> errors like: <message>", groups joined by "; "; Loki 2 keeps only
#: the last one of the push).
_IGNORED_TOTAL = re.compile(rb"total ignored: ([0-9]+) out of [0-9]+")
_LINE_TOO_LONG = re.compile(rb"Max entry size '([0-9]+)' bytes exceeded")
_GROUP = re.compile(rb"^([0-9]+) errors like: ")
_ENTRY_ERROR = re.compile(
    rb"while adding an entry with length|^entry for stream .* has timestamp too (?:old|new)"
    rb"|^entry with timestamp .* ignored"
)


def ignored_entries(body: bytes, lines: Sequence[bytes]) -> int | None:
    """Entries of a push of ``lines`` a Loki 400 says it ignored (None: it names none, the
    push was refused as a whole).

    Lines over ``max_line_size`` are counted from the lines themselves (the message names
    the limit): exact whatever Loki's version reports. Other per-entry errors count as the
    reply says (a group's ``<n>``, else one each; Loki 2 names only the last error of a push,
    so its other entries are not seen).
    """
    totals = _IGNORED_TOTAL.findall(body)
    if totals:
        return sum(int(n) for n in totals)
    long_limit: int | None = None
    others = 0
    for part in re.split(rb"; |\n", body.strip()):
        if not part:
            continue
        too_long = _LINE_TOO_LONG.search(part)
        if too_long is not None:
            long_limit = int(too_long.group(1))
            continue
        group = _GROUP.match(part)
        rest = part[group.end() :] if group is not None else part
        if _ENTRY_ERROR.search(rest):
            others += int(group.group(1)) if group is not None else 1
    if long_limit is None and not others:
        return None
    too_long_lines = (
        sum(1 for line in lines if len(line) > long_limit) if long_limit is not None else 0
    )
    return too_long_lines + others


def _metadata_names(names: object) -> tuple[str, ...]:
    """Structured metadata field names, checked (Loki's label-name rule applies to them)."""
    if names is None:
        return ()
    if isinstance(names, str) or not isinstance(names, Sequence):
        raise ConfigError("structured_metadata", names, "a sequence of field names")
    out: list[str] = []
    for name in names:
        if not isinstance(name, str) or not _LABEL_NAME.fullmatch(name):
            raise ConfigError(
                "structured_metadata", name, "field names matching [A-Za-z_][A-Za-z0-9_]*"
            )
        if name not in out:
            out.append(name)
    return tuple(out)


def _parse_ns(text: str) -> int | None:
    """Unix nanoseconds of an RFC 3339 text (no offset means UTC), or None."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        seconds = calendar.timegm(
            (int(year), int(month), int(day), int(hour), int(minute), int(second))
        )
    except (ValueError, OverflowError):
        return None
    if zone and zone != "Z":
        sign = -1 if zone[0] == "+" else 1  # local time + offset: subtract to reach UTC
        seconds += sign * (int(zone[1:3]) * 3600 + int(zone[-2:]) * 60)
    return seconds * 1_000_000_000 + int((fraction or "").ljust(9, "0"))


def from_config(url: str, config: Config) -> LokiSink:
    """The sink for ``loki+http(s)://[user:password@]host:port[/prefix]`` in NGLOGGER_SINKS.

    Labels: ``service`` from the context's ``service`` (else ``nglogger``).
    ``LOKI_TENANT_ID`` sets ``X-Scope-OrgID``; ``LOKI_USERNAME``/``LOKI_PASSWORD``
    set basic auth (user-info in the URI wins).
    """
    env = config.sink_env
    service = config.context.get("service")
    _, url_user, url_password = split_userinfo(url)
    options: dict[str, Any] = {
        "labels": {"service": service if isinstance(service, str) and service else "nglogger"},
        "tenant_id": (env.get("LOKI_TENANT_ID") or "").strip() or None,
    }
    metadata = [n.strip() for n in env.get("LOKI_STRUCTURED_METADATA", "").split(",") if n.strip()]
    if metadata:
        options["structured_metadata"] = metadata
    if url_user is None and url_password is None:
        options["username"] = (env.get("LOKI_USERNAME") or "").strip() or None
        options["password"] = (env.get("LOKI_PASSWORD") or "").strip() or None
    try:
        return LokiSink(url, **options)
    except ConfigError as error:
        raise renamed(
            error,
            {
                "tenant_id": "LOKI_TENANT_ID",
                "username": "LOKI_USERNAME",
                "password": "LOKI_PASSWORD",
                "structured_metadata": "LOKI_STRUCTURED_METADATA",
            },
        ) from None
