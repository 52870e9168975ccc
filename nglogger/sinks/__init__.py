"""Sinks: where batches go. One module per destination.

``resolve_sink`` turns a sink URI (``stdout``, ``stderr``, ``file:///path``,
``null``) or a sink object into a sink; ``check_sink_uri`` validates a URI
without doing any I/O (used by ``Config``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from .._errors import ConfigError
from ._base import Outcome, Sink
from .memory import MemorySink, NullSink
from .stream import StreamSink

if TYPE_CHECKING:
    from .._config import Config

__all__ = [
    "MemorySink",
    "NullSink",
    "Outcome",
    "Sink",
    "StreamSink",
    "check_sink_uri",
    "resolve_sink",
]

SINK_URIS = (
    "stdout, stderr, null, file:///absolute/path.jsonl[?max_bytes=..&backups=..&fsync=..], "
    "http(s)://host/path (NDJSON), json+http(s)://host/path (JSON array), "
    "datadog (DD_* variables), honeycomb (HONEYCOMB_* variables), "
    "loki+http(s)://[user:password@]host:port[/prefix] (LOKI_* variables), "
    "elasticsearch+http(s)://[user:password@]host:port[/prefix][/index], "
    "otlp (OTEL_EXPORTER_OTLP_* variables), "
    "otlp+http(s)://host:port[/path][?protocol=..&compression=..&timeout=ms]"
)
_HTTP_SCHEMES = {
    "http": "ndjson",
    "https": "ndjson",
    "json+http": "json",
    "json+https": "json",
}
#: Vendor sinks: the words and schemes naming them, and the kind each resolves to.
_VENDOR_WORDS = ("datadog", "honeycomb")
_VENDOR_SCHEMES = {
    "loki+http": "loki",
    "loki+https": "loki",
    "elasticsearch+http": "elasticsearch",
    "elasticsearch+https": "elasticsearch",
}
_FILE_OPTIONS = {"max_bytes", "backups", "fsync", "fsync_interval"}


def _file_options(uri: str, query: str) -> dict[str, Any]:
    from .._units import parse_duration, parse_size

    options: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        if key not in _FILE_OPTIONS:
            raise ConfigError("sinks", uri, SINK_URIS, f"unknown file option {key!r}")
        try:
            if key == "max_bytes":
                options[key] = parse_size(value)
            elif key == "backups":
                options[key] = int(value)
            elif key == "fsync_interval":
                options[key] = parse_duration(value)
            else:
                options[key] = value
        except ValueError:
            raise ConfigError("sinks", uri, SINK_URIS, f"bad value for {key}") from None
    return options


def check_sink_uri(uri: str) -> None:
    """Raise ConfigError if ``uri`` names no known sink (no I/O)."""
    _parse(uri)


def _parse(uri: str) -> tuple[str, str, dict[str, Any]]:
    text = uri.strip()
    if text in ("stdout", "stderr", "null", *_VENDOR_WORDS):
        return text, "", {}
    if text == "otlp" or text.startswith(("otlp+http://", "otlp+https://")):
        from .otlp import parse_sink_uri

        return "otlp", *parse_sink_uri(text)
    parts = urlsplit(text)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError("sinks", uri, SINK_URIS, "file URIs name a local path")
        path = unquote(parts.path)
        if not path:
            raise ConfigError("sinks", uri, SINK_URIS, "missing path")
        return "file", path, _file_options(uri, parts.query)
    if parts.scheme in _HTTP_SCHEMES:
        _check_host(uri, parts)
        url = text.split("+", 1)[1] if parts.scheme.startswith("json+") else text
        return _HTTP_SCHEMES[parts.scheme], url, {}
    if parts.scheme in _VENDOR_SCHEMES:
        _check_host(uri, parts)
        if parts.query or parts.fragment:
            raise ConfigError("sinks", _safe(uri), SINK_URIS, "no query or fragment expected")
        return _VENDOR_SCHEMES[parts.scheme], text.split("+", 1)[1], {}
    raise ConfigError("sinks", _safe(uri), SINK_URIS)


def _check_host(uri: str, parts: SplitResult) -> None:
    """A network sink URI names a host and, if any, a valid port."""
    if not parts.hostname:
        raise ConfigError("sinks", _safe(uri), SINK_URIS, "missing host")
    try:
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ConfigError("sinks", _safe(uri), SINK_URIS, "bad port") from None


def _safe(uri: str) -> str:
    """A URI fit for an error message: no userinfo, no query."""
    parts = urlsplit(uri.strip())
    netloc = parts.netloc.rpartition("@")[2]
    return f"{parts.scheme}://{netloc}{parts.path}" if parts.scheme else uri


def _http_headers(config: Config) -> dict[str, str]:
    text = config.sink_env.get("NGLOGGER_HTTP_HEADERS", "")
    if not text.strip():
        return {}
    from .._env import _parse_pairs

    try:
        return _parse_pairs(text)
    except ValueError:  # the entry may hold a secret: never repeat it
        raise ConfigError(
            "NGLOGGER_HTTP_HEADERS", "****", "comma-separated name=value pairs", "a malformed entry"
        ) from None


def _vendor_sink(kind: str, url: str, config: Config) -> Any:
    """A Datadog, Honeycomb, Loki or Elasticsearch sink built from ``config`` (lazy import)."""
    if kind == "datadog":
        from . import datadog

        return datadog.from_config(config)
    if kind == "honeycomb":
        from . import honeycomb

        return honeycomb.from_config(config)
    if kind == "loki":
        from . import loki

        return loki.from_config(url, config)
    from . import elasticsearch

    return elasticsearch.from_config(url, config)


def resolve_sink(spec: object, config: Config) -> Any:
    """A sink object for a URI or an object implementing ``write``/``close``."""
    if isinstance(spec, str):
        kind, path, options = _parse(spec)
        if kind == "stdout":
            return StreamSink("stdout", format=config.format, colors=config.colors)
        if kind == "stderr":
            return StreamSink("stderr", format=config.format, colors=config.colors)
        if kind == "null":
            return NullSink()
        if kind in ("datadog", "honeycomb", "loki", "elasticsearch"):
            return _vendor_sink(kind, path, config)
        if kind == "otlp":
            from .otlp import from_config

            return from_config(path, options, config)
        if kind in ("ndjson", "json"):
            from .http import HttpSink, JsonHttpSink

            cls = JsonHttpSink if kind == "json" else HttpSink
            return cls(path, headers=_http_headers(config))
        from .file import FileSink

        try:
            return FileSink(path, **options)
        except ValueError as exc:
            raise ConfigError("sinks", spec, SINK_URIS, str(exc)) from None
    if callable(getattr(spec, "write", None)):
        return spec
    raise ConfigError("sinks", spec, f"{SINK_URIS}, or an object with write(batch) and close()")
