"""Datadog Logs intake, HTTP API v2: ``DatadogSink``.

``POST https://http-intake.logs.<site>/api/v2/logs`` with the ``DD-API-KEY``
header, ``Content-Type: application/json`` and a gzip body: a JSON array of log
entries. Each entry is the event itself with Datadog's reserved attributes
spliced in front of its first key, never re-serialized::

    {"ddsource":"python","ddtags":"env:prod,version:1.4","hostname":"web-1",
     "service":"checkout","status":"info","timestamp":"...","level":"info",...}

``status`` repeats the event's ``level``: ``status`` is the reserved attribute
Datadog's status remapper reads, so the level shows up without any pipeline
setup. ``timestamp`` and ``message`` are already reserved attribute names.
An attribute the event already has at top level (a ``service`` from the
context, a ``status`` field) is never added a second time: the event's own
value wins, so no entry has duplicate keys. (So an application field named
``status``, such as an HTTP status code, becomes the Datadog status; log it as
``http_status`` instead.) Finding that out costs a substring
search per attribute; only when one of them occurs somewhere in the event is the
event parsed (``orjson.loads``) to see whether it is a top-level key.

Two more attributes are derived from the event, for Datadog's own views:

* an ``exception`` field (``{"type","message","stacktrace"}``, as ``log.exception`` writes
  it) is also sent as ``error.kind``, ``error.message`` and ``error.stack``, the standard
  attributes Error Tracking groups by (the ``exception`` field stays);
* ``trace_id`` / ``span_id`` (W3C hex, from ``trace_context``) are also sent as
  ``dd.trace_id`` / ``dd.span_id``: the lower 64 bits as a decimal string, what Datadog
  correlates traces and logs by (an id that is not hex of the right length, or is all
  zeros, is left alone).

They are added only when the event has such a field (a substring test; then one
``orjson.loads``), never over a key the event already has, and ``error.*`` is left out
when it would push the entry over the per-entry limit.

Limits, from the API reference ("maximum content size per payload
(uncompressed): 5MB; maximum size for a single log: 1MB; maximum array size if
sending multiple logs in an array: 1000 entries"): requests carry at most 1000
entries and 5,000,000 bytes before compression; an entry over 1,000,000 bytes
(event plus spliced attributes) is dropped as ``too_large`` rather than sent
for Datadog to truncate into broken JSON. Retried statuses: 408, 429 and 5xx
(documented as "should be retried after some time"); 400, 401, 403 never; 413
splits the request once.

Environment (via ``Config.sink_env`` when configured as ``datadog`` in
NGLOGGER_SINKS): ``DD_API_KEY`` (required), ``DD_SITE``, ``DD_SERVICE`` (else
the context's ``service``), ``DD_ENV`` and ``DD_VERSION`` (the ``env:`` and
``version:`` tags), ``DD_TAGS`` (``key:value`` tags separated by commas or
spaces).
"""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import orjson

from .._core.errors import ConfigError
from ._pieces import renamed_option
from ._vendor import check_secret, check_text, event_fields, event_head, renamed
from .http import HttpSink

if TYPE_CHECKING:
    from .._config.config import Config

__all__ = ["DatadogSink", "from_config"]

PAYLOAD_LIMIT = 5_000_000
ENTRY_LIMIT = 1_000_000
ENTRIES_LIMIT = 1000
DATADOG_RETRYABLE = frozenset({408, 429, *range(500, 600)})

_SITE = re.compile(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)+")
_TAG = re.compile(r"[^\s,]+")
_STATUS_RESERVE = len(b'"status":"",') + 32  # a status word is at most 32 plain characters
_CACHE_LIMIT = 256
_NONE: frozenset[str] = frozenset()


class DatadogSink(HttpSink):
    """Sends events to the Datadog Logs intake (see the module docstring)."""

    content_type = "application/json"
    kind = "datadog"
    #: Batch-sized buffers held while writing a batch (``Config.memory_budget``): the batch, its
    #: events as a list, the entries, the joined array and its gzip copy (measured at most 3.7x
    #: for 1 MiB batches); tests/test_memory_copies.py measures it with tracemalloc.
    memory_copies = 5

    def __init__(
        self,
        api_key: str | None = None,
        *,
        site: str = "datadoghq.com",
        service: str | None = None,
        env: str | None = None,
        version: str | None = None,
        source: str = "python",
        tags: Sequence[str] | None = None,
        hostname: str | None = None,
        url: str | None = None,
        **http_options: Any,
    ) -> None:
        key = check_secret("api_key", api_key, "a Datadog API key (argument or DD_API_KEY)")
        if not isinstance(site, str) or not _SITE.fullmatch(site.strip().lower()):
            raise ConfigError("site", site, "a Datadog site such as datadoghq.com or datadoghq.eu")
        endpoint = url or f"https://http-intake.logs.{site.strip().lower()}/api/v2/logs"
        if isinstance(tags, str) or not isinstance(tags, (Sequence, type(None))):
            raise ConfigError("tags", tags, "a sequence of key:value strings such as ['team:x']")
        all_tags = [check_text("tags", tag, "key:value strings") for tag in tags or ()]
        for name, value in (("env", env), ("version", version)):
            if value is not None:
                tag = f"{name}:{check_text(name, value, 'a non-empty printable string')}"
                if tag not in all_tags:
                    all_tags.append(tag)
        if hostname is None:
            hostname = socket.gethostname()
        elif hostname:
            hostname = check_text("hostname", hostname, "a host name ('' to leave it out)")
        static: dict[str, str] = {
            "ddsource": check_text("source", source, "a non-empty printable string"),
            "ddtags": ",".join(all_tags),
            "hostname": hostname,
            "service": "" if service is None else check_text("service", service, "a service name"),
        }
        #: (key, b'"key":"value"') for each attribute spliced into entries, in order.
        self._static = [
            (k, b'"%s":%s' % (k.encode(), orjson.dumps(v))) for k, v in static.items() if v
        ]
        self._keys = frozenset([*(k for k, _ in self._static), "status"])
        #: Finds any of those keys anywhere in an event (one pass in C); a hit is then checked.
        self._needle = re.compile(
            b'"(?:' + b"|".join(re.escape(k.encode()) for k in sorted(self._keys)) + b')":'
        )
        self._prefixes: dict[tuple[bytes, frozenset[str]], bytes] = {}
        self._reserve = sum(len(frag) + 1 for _, frag in self._static) + _STATUS_RESERVE + 2

        if "max_event_bytes" in http_options:  # max_record_bytes's former name
            http_options["max_record_bytes"] = renamed_option(
                "max_event_bytes", "max_record_bytes", http_options.pop("max_event_bytes")
            )
        entry_limit = http_options.pop("max_record_bytes", ENTRY_LIMIT)
        if isinstance(entry_limit, bool) or not isinstance(entry_limit, int):
            raise ConfigError("max_record_bytes", entry_limit, "an integer number of bytes")
        if entry_limit <= self._reserve:
            raise ConfigError("max_record_bytes", entry_limit, f"an integer > {self._reserve}")
        self._entry_limit = entry_limit
        http_options.setdefault("max_request_bytes", PAYLOAD_LIMIT)
        http_options.setdefault("max_request_events", ENTRIES_LIMIT)
        headers = {**(http_options.pop("headers", None) or {}), "DD-API-KEY": key}
        super().__init__(
            endpoint,
            headers=headers,
            max_record_bytes=entry_limit - self._reserve,
            **http_options,
        )

    def default_retryable(self) -> frozenset[int]:
        """408, 429 and every 5xx, as the API reference says."""
        return DATADOG_RETRYABLE

    def per_event_overhead(self, event: bytes) -> int:
        """The spliced attributes (an upper bound) and the array's comma.

        An event with an exception or trace ids may get ``error.*`` (at most the event's
        size again) and ``dd.*`` (under 80 bytes) too.
        """
        if _DERIVED.search(event) is None:
            return self._reserve + 1
        return self._reserve + 1 + len(event) + 80

    def encode(self, events: Sequence[bytes]) -> bytes:
        """``[entry,entry,...]``: each entry is the event with attributes spliced in."""
        return b"[" + b",".join([self._entry(event) for event in events]) + b"]"

    def _entry(self, event: bytes) -> bytes:
        head = event_head(event)
        if head is not None:
            level = head[1]
            present = _NONE
            if self._needle.search(event) is not None:
                present = _top_level_keys(event)
        else:
            document, _, level_text = event_fields(event)
            if document is None:  # not a JSON object: ship its text as the message
                text = event.decode("utf-8", "replace")
                event = b'{"message":' + orjson.dumps(text) + b"}"
                present, level = frozenset({"message"}), b""
            else:
                present = frozenset(document)
                level = level_text.encode() if level_text else b""
        prefix = self._prefix(level, present)
        if _DERIVED.search(event) is not None:
            derived = _derived(event)
            if derived:
                joined = b",".join(derived)
                if len(event) + len(prefix) + len(joined) + 2 > self._entry_limit:
                    derived = [frag for frag in derived if not frag.startswith(b'"error.')]
                    joined = b",".join(derived)
                if joined:
                    prefix = prefix + b"," + joined if prefix else joined
        if not prefix:
            return event
        if event == b"{}":
            return b"{" + prefix + b"}"
        return b"{" + prefix + b"," + event[1:]

    def _prefix(self, level: bytes, present: frozenset[str]) -> bytes:
        """The spliced attributes an event with this level and these keys gets (cached)."""
        mine = present & self._keys if present else _NONE
        key = (level, mine)
        prefix = self._prefixes.get(key)
        if prefix is None:
            parts = [frag for name, frag in self._static if name not in mine]
            if level and "status" not in mine:
                parts.append(b'"status":"' + level + b'"')
            prefix = b",".join(parts)
            if len(self._prefixes) < _CACHE_LIMIT:
                self._prefixes[key] = prefix
        return prefix


_DERIVED = re.compile(rb'"(?:exception|trace_id)":')
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEX16 = re.compile(r"[0-9a-fA-F]{16}")
_ERROR_KEYS = (("type", "error.kind"), ("message", "error.message"), ("stacktrace", "error.stack"))


def dd_id(value: object, pattern: re.Pattern[str]) -> str | None:
    """A W3C trace or span id (hex) as Datadog's: its lower 64 bits in decimal; else None."""
    if not isinstance(value, str) or not pattern.fullmatch(value):
        return None
    number = int(value[-16:], 16)
    return str(number) if int(value, 16) else None


def _derived(event: bytes) -> list[bytes]:
    """``error.*`` from ``exception`` and ``dd.*`` from the trace ids, as JSON fragments."""
    try:
        document = orjson.loads(event)
    except orjson.JSONDecodeError:
        return []
    if not isinstance(document, dict):
        return []
    out: list[bytes] = []
    trace = dd_id(document.get("trace_id"), _HEX32)
    if trace is not None:
        if "dd.trace_id" not in document:
            out.append(b'"dd.trace_id":"' + trace.encode() + b'"')
        span = dd_id(document.get("span_id"), _HEX16)
        if span is not None and "dd.span_id" not in document:
            out.append(b'"dd.span_id":"' + span.encode() + b'"')
    exception = document.get("exception")
    if isinstance(exception, dict):
        for source, target in _ERROR_KEYS:
            value = exception.get(source)
            if isinstance(value, str) and target not in document:
                out.append(b'"%s":%s' % (target.encode(), orjson.dumps(value)))
    return out


def _top_level_keys(event: bytes) -> frozenset[str]:
    """The event's top-level keys (one parse); empty if it is not a JSON object."""
    try:
        document = orjson.loads(event)
    except orjson.JSONDecodeError:
        return frozenset()
    return frozenset(document) if isinstance(document, dict) else frozenset()


def _split_tags(text: str) -> list[str]:
    return _TAG.findall(text)


def from_config(config: Config) -> DatadogSink:
    """The sink for ``datadog`` in NGLOGGER_SINKS, from the ``DD_*`` variables and the context."""
    env = {k: v.strip() for k, v in config.sink_env.items() if k.startswith("DD_") and v.strip()}
    service = env.get("DD_SERVICE") or config.context.get("service")
    options: dict[str, Any] = {
        "service": service if isinstance(service, str) and service else None,
        "env": env.get("DD_ENV"),
        "version": env.get("DD_VERSION"),
        "tags": _split_tags(env.get("DD_TAGS", "")),
    }
    if "DD_SITE" in env:
        options["site"] = env["DD_SITE"]
    try:
        return DatadogSink(env.get("DD_API_KEY"), **options)
    except ConfigError as error:
        raise renamed(
            error,
            {
                "api_key": "DD_API_KEY",
                "site": "DD_SITE",
                "env": "DD_ENV",
                "version": "DD_VERSION",
                "tags": "DD_TAGS",
            },
        ) from None
