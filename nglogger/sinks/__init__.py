"""Sinks: where batches go. One module per destination.

``resolve_sink`` turns a sink URI (``stdout``, ``stderr``, ``file:///path``,
``null``) or a sink object into a sink; ``check_sink_uri`` validates a URI
without doing any I/O (used by ``Config``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

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

SINK_URIS = "stdout, stderr, null, file:///absolute/path.jsonl[?max_bytes=..&backups=..&fsync=..]"
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
    if text in ("stdout", "stderr", "null"):
        return text, "", {}
    parts = urlsplit(text)
    if parts.scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigError("sinks", uri, SINK_URIS, "file URIs name a local path")
        path = unquote(parts.path)
        if not path:
            raise ConfigError("sinks", uri, SINK_URIS, "missing path")
        return "file", path, _file_options(uri, parts.query)
    raise ConfigError("sinks", uri, SINK_URIS)


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
        from .file import FileSink

        try:
            return FileSink(path, **options)
        except ValueError as exc:
            raise ConfigError("sinks", spec, SINK_URIS, str(exc)) from None
    if callable(getattr(spec, "write", None)):
        return spec
    raise ConfigError("sinks", spec, f"{SINK_URIS}, or an object with write(batch) and close()")
