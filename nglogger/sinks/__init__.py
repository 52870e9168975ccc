"""Sinks: where batches go. One module per destination.

``resolve_sink`` turns a sink URI (``stdout``, ``stderr``, ``file:///path``,
``null``, the HTTP and vendor URIs) or a sink object into a sink. The URI
grammar itself is the settings layer's (``nglogger._config.sinkuri``): ``Config``
validates URIs with it without importing any sink.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from .._config.sinkuri import SINK_URIS, check_sink_uri, parse_sink_uri
from .._config.values import parse_pairs
from .._core.errors import ConfigError
from .._core.sink import Outcome, Sink, SinkBase
from ._http_options import check_headers
from .memory import MemorySink, NullSink
from .stream import StreamSink

if TYPE_CHECKING:
    from .._config.config import Config

__all__ = [
    "DatadogSink",
    "ElasticsearchSink",
    "FileSink",
    "HoneycombSink",
    "HttpSink",
    "JsonHttpSink",
    "LokiSink",
    "MemorySink",
    "NullSink",
    "OtlpGrpcSink",
    "OtlpLogsSink",
    "Outcome",
    "Sink",
    "SinkBase",
    "StreamSink",
    "check_sink_uri",
    "resolve_sink",
]

# SINK_URIS stays importable from here (it was defined here before the grammar moved).
_ = SINK_URIS

if TYPE_CHECKING:  # what the lazy names below are, for type checkers and IDEs
    from .datadog import DatadogSink
    from .elasticsearch import ElasticsearchSink
    from .file import FileSink
    from .honeycomb import HoneycombSink
    from .http import HttpSink, JsonHttpSink
    from .loki import LokiSink
    from .otlp import OtlpLogsSink
    from .otlp_grpc import OtlpGrpcSink

#: Sink classes importable from here, each loaded from its module on first use (the HTTP
#: ones need urllib3): ``from nglogger.sinks import FileSink, DatadogSink``.
_LAZY_SINKS = {
    "FileSink": "file",
    "HttpSink": "http",
    "JsonHttpSink": "http",
    "DatadogSink": "datadog",
    "HoneycombSink": "honeycomb",
    "LokiSink": "loki",
    "ElasticsearchSink": "elasticsearch",
    "OtlpLogsSink": "otlp",
    "OtlpGrpcSink": "otlp_grpc",
}


def __getattr__(name: str) -> object:
    """Load a sink class on first use (``import nglogger.sinks`` stays light)."""
    module = _LAZY_SINKS.get(name)
    if module is None:
        raise AttributeError(f"module 'nglogger.sinks' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def _http_headers(config: Config) -> dict[str, str]:
    text = config.sink_env.get("NGLOGGER_HTTP_HEADERS", "")
    if not text.strip():
        return {}
    try:
        pairs = parse_pairs(text)
    except ValueError:  # the entry may hold a secret: never repeat it
        raise ConfigError(
            "NGLOGGER_HTTP_HEADERS", "****", "comma-separated name=value pairs", "a malformed entry"
        ) from None
    try:
        return check_headers(pairs)
    except ConfigError as error:
        raise ConfigError("NGLOGGER_HTTP_HEADERS", error.value, error.accepted) from None


def _from_uri(spec: str, config: Config) -> Sink:
    """The sink a URI names; vendor and network sinks are imported when first named."""
    sink = _build(spec, config)
    level = parse_sink_uri(spec).level
    if level is not None:  # ?level=: the pipeline hands this sink only those events
        sink.level = level  # type: ignore[attr-defined]
    if hasattr(sink, "max_age"):  # HTTP sinks: how long undelivered events stay queued
        sink.max_age = config.sink_max_age
    if hasattr(sink, "read_timeout") and not _otlp_timeout_given(spec, config):
        sink.read_timeout = config.sink_timeout
    return sink


#: The OTLP variables that set an OTLP sink's timeout (they win over NGLOGGER_SINK_TIMEOUT).
_OTLP_TIMEOUTS = ("OTEL_EXPORTER_OTLP_LOGS_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT")


def _otlp_timeout_given(spec: str, config: Config) -> bool:
    """An ``otlp`` sink whose timeout the OTLP settings name (``?timeout=``, ``OTEL_*``)."""
    if not spec.startswith("otlp"):
        return False
    if "timeout=" in spec.partition("?")[2]:
        return True
    return any(config.sink_env.get(name, "").strip() for name in _OTLP_TIMEOUTS)


def _build(spec: str, config: Config) -> Sink:
    uri = parse_sink_uri(spec)
    kind = uri.kind
    if kind in ("stdout", "stderr"):
        return StreamSink(
            kind,
            format=config.format,
            colors=config.colors,
            schema=config.schema,
            sync=config.console_sync,
        )
    if kind == "null":
        return NullSink()
    if kind == "file":
        from .file import FileSink  # deferred: file rotation code is loaded when named

        try:
            return FileSink(uri.target, **uri.file)
        except ConfigError as exc:  # a file option's value: name it, say what it accepts
            reason = f"bad value for {exc.setting}: {exc.value!r}"
            raise ConfigError(
                "sinks", spec, f"{exc.setting}={exc.accepted}", reason=reason
            ) from None
        except ValueError as exc:
            raise ConfigError(
                "sinks", spec, "file options as in the README", reason=str(exc)
            ) from None
    # HTTP sinks are loaded when named: `import nglogger` stays light.
    if kind == "datadog":
        from . import datadog

        return datadog.from_config(config)
    if kind == "honeycomb":
        from . import honeycomb

        return honeycomb.from_config(config)
    if kind == "loki":
        from . import loki

        return loki.from_config(uri.target, config)
    if kind == "elasticsearch":
        from . import elasticsearch

        return elasticsearch.from_config(uri.target, config)
    if kind == "otlp":
        from . import otlp

        settings = otlp.settings_for(uri.target, uri.otlp, config)
        if settings.protocol == "grpc":
            from .otlp_grpc import OtlpGrpcSink  # grpcio: only for OTLP/gRPC

            return OtlpGrpcSink.from_settings(settings)
        return otlp.OtlpLogsSink.from_settings(settings)
    from .http import HttpSink, JsonHttpSink

    cls = JsonHttpSink if kind == "json" else HttpSink
    return cls(uri.target, headers=_http_headers(config))


def resolve_sink(spec: object, config: Config) -> Sink:
    """A sink object for a URI or an object implementing ``write``/``close``."""
    if isinstance(spec, str):
        return _from_uri(spec, config)
    if callable(getattr(spec, "write", None)):
        return cast("Sink", spec)  # duck-typed: the worker supplies what a plain object lacks
    raise ConfigError("sinks", spec, f"{SINK_URIS}, or an object with write(batch) and close()")
