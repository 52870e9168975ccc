"""The sink-URI grammar: what ``sinks=[...]`` and ``NGLOGGER_SINKS`` accept (no I/O).

``parse_sink_uri`` splits a URI into the kind of sink, its target (a path or a
URL) and its typed options; ``check_sink_uri`` is what ``Config`` validates
with. Building the sink from the result is ``nglogger.sinks.resolve_sink``'s
job. Every error is a :class:`~nglogger.ConfigError` on ``sinks`` whose value
is the URI without user-info or query (they may hold credentials).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal, NamedTuple, TypedDict, cast
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit, urlunsplit

from .._core.errors import ConfigError
from .._core.levels import ACCEPTED_LEVELS, parse_level
from .._core.units import parse_duration, parse_size
from .secrets import safe_url

__all__ = [
    "OPTION_VALUES",
    "SINK_SCHEMES",
    "SINK_URIS",
    "FileOptions",
    "OtlpOptions",
    "SinkUri",
    "check_sink_uri",
    "parse_otlp_uri",
    "parse_sink_uri",
    "uri_memory_copies",
]

SINK_URIS = (
    "stdout, stderr, null, file:///absolute/path.jsonl[?max_bytes=..&backups=..&fsync=..&"
    "rotate=..&compress=..&max_age=..&utc=..], "
    "http(s)://host/path (NDJSON), json+http(s)://host/path (JSON array), "
    "datadog (DD_* variables), honeycomb (HONEYCOMB_* variables), "
    "loki+http(s)://[user:password@]host:port[/prefix] (LOKI_* variables), "
    "elasticsearch+http(s)://[user:password@]host:port[/prefix][/index], "
    "otlp (OTEL_EXPORTER_OTLP_* variables), "
    "otlp+http(s)://host:port[/path][?protocol=..&compression=..&timeout=ms], "
    "otlp+grpc(s)://host:port[?compression=..&timeout=ms] (OTLP/gRPC: plaintext / TLS); "
    "any of them may add ?level=<level> (only events at or above it), e.g. datadog?level=error"
)

#: The sink kinds by how a URI starts, for "unknown sink" errors (``SINK_URIS`` has the forms).
SINK_SCHEMES = (
    "stdout, stderr, null, file://, http(s)://, json+http(s)://, datadog, honeycomb, "
    "loki+http(s)://, elasticsearch+http(s)://, otlp, otlp+http(s)://, otlp+grpc(s)://"
)

#: What each URI option accepts, for "bad value" errors.
OPTION_VALUES: Mapping[str, str] = {
    "max_bytes": "a size such as 100MB or 1048576",
    "backups": "a whole number of rotated files, 0 or more",
    "fsync": "never, batch or interval",
    "fsync_interval": "a duration such as 1s or 500ms",
    "rotate": "daily or hourly",
    "compress": "gzip",
    "max_age": "a duration > 0 such as 14d, 12h or 30m",
    "utc": "true or false",
}
_OTLP_OPTIONS = ("protocol", "compression", "timeout")
_HOST_FORM = "scheme://host[:port][/path] with a host name or address"

Kind = Literal[
    "stdout",
    "stderr",
    "null",
    "file",
    "ndjson",
    "json",
    "datadog",
    "honeycomb",
    "loki",
    "elasticsearch",
    "otlp",
]


FsyncPolicy = Literal["never", "batch", "interval"]


class FileOptions(TypedDict, total=False):
    """Query options of a ``file://`` URI, typed."""

    max_bytes: int
    backups: int
    fsync: FsyncPolicy
    fsync_interval: float
    rotate: Literal["daily", "hourly"]
    compress: Literal["gzip"]
    max_age: float
    utc: bool


class OtlpOptions(TypedDict, total=False):
    """Query options of an ``otlp+http(s)://`` URI, typed (timeout in seconds)."""

    protocol: str
    compression: str
    timeout: float


class SinkUri(NamedTuple):
    """A parsed sink URI: the kind of sink, its path or URL, and its options."""

    kind: Kind
    target: str = ""
    file: FileOptions = FileOptions()
    otlp: OtlpOptions = OtlpOptions()
    #: ``?level=``: the sink gets only events at or above it (None: every event).
    level: int | None = None


#: What ``?level=`` on a sink URI accepts.
SINK_LEVEL_ACCEPTED = f"level= one of {ACCEPTED_LEVELS}"

_HTTP_SCHEMES: dict[str, Kind] = {
    "http": "ndjson",
    "https": "ndjson",
    "json+http": "json",
    "json+https": "json",
}
#: Vendor sinks: the words and schemes naming them, and the kind each resolves to.
_WORDS: dict[str, Kind] = {
    "stdout": "stdout",
    "stderr": "stderr",
    "null": "null",
    "datadog": "datadog",
    "honeycomb": "honeycomb",
}
_VENDOR_SCHEMES: dict[str, Kind] = {
    "loki+http": "loki",
    "loki+https": "loki",
    "elasticsearch+http": "elasticsearch",
    "elasticsearch+https": "elasticsearch",
}


_OTLP_PREFIXES = ("otlp+http://", "otlp+https://", "otlp+grpc://", "otlp+grpcs://")
_GRPC_SCHEMES = {"otlp+grpc": "http", "otlp+grpcs": "https"}


#: Batch-sized buffers a sink of each kind holds while writing one batch, for
#: ``Config.memory_budget`` (the sink classes declare the same as ``memory_copies``;
#: tests/test_memory_copies.py measures them with tracemalloc). OTLP by protocol.
MEMORY_COPIES: dict[str, int] = {
    "stdout": 1,
    "stderr": 1,
    "null": 1,
    "file": 1,
    "ndjson": 3,
    "json": 5,
    "datadog": 5,
    "honeycomb": 5,
    "loki": 5,
    "elasticsearch": 5,
    "http/protobuf": 5,
    "http/json": 10,
    "grpc": 6,
}


def uri_memory_copies(uri: str, env: Mapping[str, str]) -> int:
    """``MEMORY_COPIES`` of the sink ``uri`` names (OTLP: its protocol, from ``env`` too)."""
    try:
        parsed = parse_sink_uri(uri)
    except ConfigError:
        return 3
    if parsed.kind != "otlp":
        return MEMORY_COPIES[parsed.kind]
    protocol = parsed.otlp.get("protocol")
    if protocol is None:
        for name in ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
            text = env.get(name, "").strip().lower()
            if text:
                protocol = text
                break
        if protocol == "grpc" and parsed.target:  # an otlp+http(s) URI speaks OTLP/HTTP
            protocol = "http/protobuf"
    return MEMORY_COPIES.get(protocol or "http/protobuf", MEMORY_COPIES["http/json"])


def check_sink_uri(uri: str) -> None:
    """Raise ConfigError if ``uri`` names no known sink (no I/O)."""
    parse_sink_uri(uri)


def parse_sink_uri(uri: str) -> SinkUri:
    """The kind, target and options named by ``uri`` (see ``SINK_URIS``)."""
    text, level = _take_level(uri)
    parsed = _parse_sink_uri(text)
    return parsed if level is None else parsed._replace(level=level)


def _take_level(uri: str) -> tuple[str, int | None]:
    """``uri`` without its ``level`` query option, and that option's level.

    Every sink URI takes ``?level=`` (``datadog?level=error``, ``file:///x?level=warning``);
    it is the pipeline's, so it is removed before the sink sees its URI.
    """
    text = uri.strip()
    base, sep, query = text.partition("?")
    if not sep:
        return text, None
    query, hash_sep, fragment = query.partition("#")
    kept: list[str] = []
    level: int | None = None
    seen = False
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if unquote(key) != "level":
            kept.append(item)
            continue
        if seen:
            raise _bad(uri, "level given twice", SINK_LEVEL_ACCEPTED)
        seen = True
        try:
            level = parse_level(unquote(value))
        except ValueError:
            raise _bad(
                uri, f"bad value for level: {unquote(value)!r}", SINK_LEVEL_ACCEPTED
            ) from None
    rest = "&".join(kept)
    out = base + ("?" + rest if rest else "") + (hash_sep + fragment if hash_sep else "")
    return out, level


def _parse_sink_uri(text: str) -> SinkUri:
    uri = text
    if text in _WORDS:
        return SinkUri(_WORDS[text])
    if text == "otlp" or text.startswith(_OTLP_PREFIXES):
        url, options = parse_otlp_uri(text)
        return SinkUri("otlp", url, otlp=options)
    parts = urlsplit(text)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise _bad(
                uri,
                "a file URI names a local path",
                "file:///absolute/path or file://localhost/path",
            )
        path = unquote(parts.path)
        if not path:
            raise _bad(uri, "missing path", "file:///absolute/path")
        return SinkUri("file", path, file=_file_options(uri, parts.query))
    if parts.scheme in _HTTP_SCHEMES:
        _check_host(uri, parts)
        url = text.split("+", 1)[1] if parts.scheme.startswith("json+") else text
        return SinkUri(_HTTP_SCHEMES[parts.scheme], url)
    if parts.scheme in _VENDOR_SCHEMES:
        _check_host(uri, parts)
        if parts.query or parts.fragment:
            raise _bad(uri, "no query or fragment expected", "the URI without ?query or #fragment")
        return SinkUri(_VENDOR_SCHEMES[parts.scheme], text.split("+", 1)[1])
    raise _bad(uri, _unknown_sink(text), SINK_SCHEMES)


_FILE_OPTIONS = (
    "max_bytes",
    "backups",
    "fsync",
    "fsync_interval",
    "rotate",
    "compress",
    "max_age",
    "utc",
)
#: The file options whose value is one word of a list: (option, accepted words).
_FILE_WORDS: dict[str, tuple[str, ...]] = {
    "rotate": ("daily", "hourly"),
    "compress": ("gzip",),
    "utc": ("true", "false"),
}
_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*d\s*", re.IGNORECASE)


def _file_options(uri: str, query: str) -> FileOptions:
    options = FileOptions()
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _FILE_OPTIONS:
            raise _bad(
                uri, f"unknown file option {key!r}", f"file options {', '.join(_FILE_OPTIONS)}"
            )
        _file_option(uri, options, key, value)
    return options


def parse_age(value: str) -> float:
    """``"14d"`` -> seconds; other units as ``parse_duration`` (``12h``, ``30m``)."""
    match = _AGE.fullmatch(value)
    if match is not None:
        return float(match.group(1)) * 86400.0
    return parse_duration(value)


def _file_option(uri: str, options: FileOptions, key: str, value: str) -> None:
    words = _FILE_WORDS.get(key)
    if words is not None:
        word = value.strip().lower()
        if word not in words:
            raise _bad(uri, f"bad value for {key}: {value!r}", f"{key}={OPTION_VALUES[key]}")
        if key == "utc":
            options["utc"] = word == "true"
        elif key == "rotate":
            options["rotate"] = cast("Literal['daily', 'hourly']", word)
        else:
            options["compress"] = "gzip"
        return
    try:
        if key == "max_age":
            options["max_age"] = _positive(parse_age(value))
        elif key == "max_bytes":
            options["max_bytes"] = parse_size(value)
        elif key == "backups":
            options["backups"] = int(value)
        elif key == "fsync_interval":
            options["fsync_interval"] = parse_duration(value)
        else:
            options["fsync"] = cast("FsyncPolicy", value)  # FileSink checks the word
    except ValueError:
        raise _bad(uri, f"bad value for {key}: {value!r}", f"{key}={OPTION_VALUES[key]}") from None


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError(seconds)
    return seconds


def _check_host(uri: str, parts: SplitResult) -> None:
    """A network sink URI names a host and, if any, a valid port."""
    if not parts.hostname:
        raise _bad(uri, "missing host", _HOST_FORM)
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise _bad(uri, "bad port", "a port number from 1 to 65535") from None


def _bad(uri: str, reason: str, accepted: str) -> ConfigError:
    """The error for ``uri``: what is wrong with it first, then what that part accepts."""
    return ConfigError("sinks", _safe(uri), accepted, reason=reason)


def _unknown_sink(text: str) -> str:
    """Why ``text`` names no sink, with the closest known scheme or word."""
    import difflib  # loaded only on a mistake

    word, _, query = text.partition("?")
    if "://" not in text and word in _WORDS and query:  # stdout?lvl=error
        options = sorted({key for key, _ in parse_qsl(query, keep_blank_values=True)})
        return f"{word} takes no option {', '.join(map(repr, options))} (only level=)"
    head = text.split("://", 1)[0] if "://" in text else text
    known = [*_WORDS, *_HTTP_SCHEMES, *_VENDOR_SCHEMES, "file", "otlp", *_GRPC_SCHEMES]
    known += ["otlp+http", "otlp+https"]
    close = difflib.get_close_matches(head.lower(), known, n=1)
    what = f"unknown scheme {head!r}" if "://" in text else f"unknown sink {head!r}"
    return f"{what} (did you mean {close[0]!r}?)" if close else what


def _safe(uri: str) -> object:
    """A URI fit for an error message: no user-info, no query."""
    return safe_url(uri) if "://" in uri else uri


def parse_otlp_uri(uri: str) -> tuple[str, OtlpOptions]:
    """``otlp``, ``otlp+http(s)://...`` or ``otlp+grpc(s)://...`` -> ``(endpoint or "", options)``.

    Options are ``protocol``, ``compression`` and ``timeout`` (milliseconds),
    returned typed (timeout in seconds). An ``otlp+http(s)`` URI always speaks
    OTLP/HTTP (``protocol`` picks its encoding); an ``otlp+grpc`` URI is
    ``protocol=grpc`` on ``http://host:port`` (``otlp+grpcs``: ``https://``, TLS).
    No I/O; raises ConfigError (setting ``sinks``).
    """
    text = uri.strip()
    if text == "otlp":
        return "", OtlpOptions()
    parts = urlsplit(text)
    grpc = parts.scheme in _GRPC_SCHEMES
    if parts.scheme not in ("otlp+http", "otlp+https") and not grpc:
        raise _bad(
            uri, _unknown_sink(text), "otlp, otlp+http(s)://host:port, otlp+grpc(s)://host:port"
        )
    if not parts.hostname:
        raise _bad(uri, "missing host", _HOST_FORM)
    if "@" in parts.netloc:
        raise _bad(uri, "credentials in the URI", "headers in OTEL_EXPORTER_OTLP_HEADERS")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise _bad(uri, "bad port", "a port number from 1 to 65535") from None
    options = OtlpOptions()
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        if key not in _OTLP_OPTIONS:
            raise _bad(
                uri, f"unknown otlp option {key!r}", f"otlp options {', '.join(_OTLP_OPTIONS)}"
            )
        _otlp_option(uri, options, key, value)
    if grpc:
        if parts.path not in ("", "/"):
            raise _bad(uri, "OTLP/gRPC takes no path", "otlp+grpc(s)://host:port")
        if options.get("protocol", "grpc") != "grpc":
            raise _bad(uri, "OTLP/HTTP on a gRPC URI", "otlp+http(s):// for OTLP/HTTP")
        options["protocol"] = "grpc"
        return urlunsplit((_GRPC_SCHEMES[parts.scheme], parts.netloc, "", "", "")), options
    if options.get("protocol") == "grpc":
        raise _bad(
            uri,
            "protocol=grpc on an otlp+http(s) URI",
            "protocol=http/protobuf or http/json (OTLP/gRPC is otlp+grpc://host:4317)",
        )
    scheme = parts.scheme.split("+", 1)[1]
    path = parts.path if parts.path not in ("", "/") else "/v1/logs"
    return urlunsplit((scheme, parts.netloc, path, "", "")), options


def _otlp_option(uri: str, options: OtlpOptions, key: str, value: str) -> None:
    """A URI option's typed value; a bad one is a ConfigError on ``sinks`` naming the option."""
    from .otlp import check_compression, check_protocol, millis  # otlp URIs only

    try:
        if key == "protocol":
            options["protocol"] = check_protocol(key, value)
        elif key == "compression":
            options["compression"] = check_compression(key, value)
        else:
            options["timeout"] = millis(key, value)
    except ConfigError as error:
        raise _bad(uri, f"bad value for {key}: {value!r}", f"{key}={error.accepted}") from None
