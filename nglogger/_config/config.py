"""The one frozen configuration object, validated once.

``Config`` holds every setting of a pipeline. It is built from keyword
arguments (``nglogger.configure(**kwargs)``); the environment parser builds the
same object. Every value is checked in ``__post_init__`` and a bad one raises
:class:`~nglogger.ConfigError` naming the setting, the value and what is
accepted. Nothing here reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypedDict

from .._core.errors import ConfigError
from .._core.levels import (
    ACCEPTED_LEVELS,
    INFO,
    LEVELS_TEXT_ACCEPTED,
    check_logger_levels,
    parse_level,
    parse_logger_levels,
)
from .._core.sink import (
    SELECTION_EVENT_OVERHEAD,
    concurrency_of,
    memory_copies_of,
    request_bytes_of,
    selection_of,
)
from .._core.units import DURATION_ACCEPTED, SIZE_ACCEPTED, parse_duration, parse_size
from .declare import (
    Var,
    at_least,
    boolean,
    choice,
    optional_boolean,
    parse_bool,
    parse_bool_or_auto,
    parse_choice,
    parse_count,
    parse_interval,
    parse_sinks,
    positive_seconds,
    redact_keys_with_defaults,
    setting,
    spec_of,
)
from .processors import PROCESSORS_TEXT_ACCEPTED, Processor, check_processors, import_processors
from .sampling import Sampling
from .secrets import DEFAULT_REDACT_KEYS, shown_setting
from .sinkuri import SINK_URIS, check_sink_uri, parse_sink_uri, uri_memory_copies

REDACT_ACCEPTED = "a sequence of field names such as ('password', 'authorization'), or ()"

SAMPLE_ACCEPTED = (
    "None, a Sampling such as Sampling.parse('debug=0.1,1000/s'), or that string "
    "(the NGLOGGER_SAMPLE form)"
)

__all__ = ["Config", "Settings"]

KiB = 1024
MiB = 1024 * KiB

Overflow = Literal["drop_newest", "drop_oldest", "block"]
SinkOverflow = Literal["drop_newest", "drop_oldest"]
Oversize = Literal["truncate", "drop"]
Format = Literal["json", "console", "auto"]
ConfigErrors = Literal["warn", "raise"]
Schema = Literal["default", "ecs", "gcp", "datadog"]
SpoolFsync = Literal["never", "batch", "interval"]

_OVERFLOWS = ("drop_newest", "drop_oldest", "block")
_SINK_OVERFLOWS = ("drop_newest", "drop_oldest")
_OVERSIZES = ("truncate", "drop")
_FORMATS = ("json", "console", "auto")
#: The output schemas (their key names are in ``_layout.SCHEMAS``).
_SCHEMAS = ("default", "ecs", "gcp", "datadog")
#: Project ids (``my-project-123``, or domain-scoped ``example.com:my-project``).
_GCP_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,99}")
_GCP_ACCEPTED = "a Google Cloud project id such as my-project-123"


def _gcp_project(name: str, value: object) -> None:
    """None or a Google Cloud project id."""
    if value is not None and (not isinstance(value, str) or not _GCP_PROJECT.fullmatch(value)):
        raise ConfigError(name, value, f"None or {_GCP_ACCEPTED}")


def _parse_gcp_project(text: str) -> str:
    value = text.strip()
    if not _GCP_PROJECT.fullmatch(value):
        raise ValueError(text)
    return value


_COUNT = "an integer >= 1 such as 1000"
_BYTES = f"{SIZE_ACCEPTED}; at least 64"
_CHARS = "a character count >= 64 such as 1000 or 64Ki"
_SECONDS = f"{DURATION_ACCEPTED}; greater than 0"
_BOOL = "1, 0, true, false, yes, no, on, off (any case)"
_PAIRS = "comma-separated key=value pairs; percent-encode ',' '=' '%' in keys and values"
_SAMPLE = (
    "comma-separated level=probability rules (debug=0.1, probability 0 to 1) "
    "and at most one rate limit count/period (100/s, 6000/m, 50/500ms)"
)


_SPOOL_FSYNCS = ("interval", "batch", "never")
_SPOOL_DIR = "None, or a directory path such as /var/spool/myapp (a str or os.PathLike)"


def _parse_spool_dir(text: str) -> str | None:
    text = text.strip()
    return text or None


def _spool_dir(name: str, value: object) -> None:
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(name, value, _SPOOL_DIR)


def _empty_context() -> Mapping[str, Any]:
    return MappingProxyType({})


def _env(
    name: str,
    description: str,
    accepted: str,
    parse: Callable[[str], object] | None = None,
    *,
    explains: bool = False,
) -> Var:
    return Var(name, description, accepted, parse, explains)


#: The variables captured whole into ``sink_env``, read by the sinks (in docs order).
_SINK_VARIABLES = (
    _env(
        "NGLOGGER_HTTP_HEADERS",
        "extra headers for generic http(s):// sinks (secret: never shown)",
        _PAIRS,
    ),
    _env(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "base URL of the otlp sink (/v1/logs is appended)",
        "an http(s):// URL; default http://localhost:4318",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "URL of the otlp sink, used as-is (wins)",
        "an http(s):// URL",
    ),
    _env("OTEL_EXPORTER_OTLP_HEADERS", "headers of the otlp sink (secret: never shown)", _PAIRS),
    _env(
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "headers of the otlp sink (wins; secret: never shown)",
        _PAIRS,
    ),
    _env(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "per-request timeout of the otlp sink",
        "milliseconds > 0; default 10000",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        "per-request timeout of the otlp sink (wins)",
        "milliseconds > 0",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "request compression of the otlp sink",
        "gzip, none; default none",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
        "request compression of the otlp sink (wins)",
        "gzip, none",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "protocol of the otlp sink (grpc needs nglogger[grpc]; its endpoint is used as-is)",
        "http/protobuf, http/json, grpc; default http/protobuf",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "protocol of the otlp sink (wins)",
        "http/protobuf, http/json, grpc",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_INSECURE",
        "OTLP/gRPC to an http:// endpoint: plaintext (true) or TLS (false); ..._LOGS_INSECURE wins",
        "true, false; default true for http://, https:// is always TLS",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTLP/gRPC: CA bundle verifying the collector (..._LOGS_CERTIFICATE wins)",
        "a PEM file path; default the system roots",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        "OTLP/gRPC mTLS: client private key (..._LOGS_CLIENT_KEY wins)",
        "a PEM file path (with ..._CLIENT_CERTIFICATE)",
    ),
    _env(
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        "OTLP/gRPC mTLS: client certificate chain (..._LOGS_CLIENT_CERTIFICATE wins)",
        "a PEM file path (with ..._CLIENT_KEY)",
    ),
    _env("DD_API_KEY", "API key of the datadog sink (secret: never shown)", "a Datadog API key"),
    _env(
        "DD_SITE",
        "Datadog site of the datadog sink (default datadoghq.com)",
        "a site such as datadoghq.com, datadoghq.eu, us5.datadoghq.com",
    ),
    _env(
        "DD_SERVICE",
        "service of datadog entries (default: the context's service)",
        "a service name",
    ),
    _env("DD_ENV", "env: tag of datadog entries", "an environment name"),
    _env("DD_VERSION", "version: tag of datadog entries", "a version"),
    _env("DD_TAGS", "more tags of datadog entries", "key:value tags separated by , or spaces"),
    _env(
        "HONEYCOMB_API_KEY",
        "API key of the honeycomb sink (secret: never shown)",
        "a Honeycomb ingest API key",
    ),
    _env(
        "HONEYCOMB_DATASET",
        "dataset of the honeycomb sink (default: the context's service)",
        "a dataset name without '/'",
    ),
    _env(
        "HONEYCOMB_API_ENDPOINT",
        "API host of the honeycomb sink (EU: https://api.eu1.honeycomb.io)",
        "an http(s):// URL; default https://api.honeycomb.io",
    ),
    _env("LOKI_TENANT_ID", "X-Scope-OrgID header of loki+http(s):// sinks", "a Loki tenant id"),
    _env(
        "LOKI_USERNAME",
        "basic-auth user of loki+http(s):// sinks (user-info in the URI wins)",
        "a user name (with LOKI_PASSWORD)",
    ),
    _env(
        "LOKI_STRUCTURED_METADATA",
        "event fields loki+http(s):// sinks send as Loki 3 structured metadata (never labels)",
        "comma-separated top-level field names such as trace_id,span_id",
    ),
    _env(
        "LOKI_PASSWORD",
        "basic-auth password of loki+http(s):// sinks (secret: never shown)",
        "a password (with LOKI_USERNAME)",
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Every setting of a pipeline, with its default.

    Each field is the one declaration of its setting (``nglogger._config.declare``):
    default, docs line, environment variables and the check of its value.

    Memory worst case held by a pipeline built from this config::

        buffer_max_bytes                      (events waiting for the batcher)
      + 3 * batch_max_bytes                   (open arena, recycled arena, batch being copied)
      + len(sinks) * sink_queue_max_bytes     (each sink's queue)
      + len(sinks) * sink_queue_max_bytes     (with spool_dir: batches on their way to disk)
      + sum over sinks of concurrency * copies * size   (batches being written)
      + 2 * batch_max_bytes + 64 * batch_max_events   (if a sink has a level or filter:
                                             its part of a batch being cut, see _select)

    where ``copies`` is what each sink declares as ``memory_copies`` (for a URI:
    ``nglogger._config.sinkuri.MEMORY_COPIES``, measured with tracemalloc): 1 for stream, file
    and memory sinks, 3 for generic HTTP (the batch, its encoded body, its gzip copy),
    5 for Datadog, Elasticsearch, Loki and OTLP/protobuf, 6 for OTLP/gRPC and 10 for
    OTLP/JSON (their encodings hold the events as a list and re-encoded); and ``size``
    is ``batch_max_bytes`` for local sinks and ``max(batch_max_bytes,
    max_request_bytes)`` for HTTP sinks (they merge queued batches into full
    requests; 5 MiB for a sink named by URI).

    A batch shared by several sinks is counted in each queue but held once.
    """

    level: int | str = setting(
        INFO,
        doc="minimum level (name or 0-100)",
        env=(
            _env(
                "NGLOGGER_LEVEL", "minimum level of the events kept", ACCEPTED_LEVELS, parse_level
            ),
            _env("LOG_LEVEL", "used when NGLOGGER_LEVEL is unset", ACCEPTED_LEVELS),
        ),
    )
    # -- per-logger levels and processors (issue 14) --------------------------------
    levels: Mapping[str, int | str] = setting(
        factory=_empty_context,
        doc="per-logger levels by dotted name prefix, e.g. `{'urllib3': 'warning', "
        "'app.db': 'debug'}` (longest prefix wins; `level` applies otherwise)",
        env=(
            _env(
                "NGLOGGER_LEVELS",
                "per-logger levels by logger-name prefix (longest prefix wins)",
                LEVELS_TEXT_ACCEPTED,
                parse_logger_levels,
                explains=True,
            ),
        ),
    )
    processors: Sequence[Processor] = setting(
        (),
        doc="functions `fn(fields)` run on each enabled event before it is serialized, "
        "returning the fields to log or None to drop it (see Processors)",
        env=(
            _env(
                "NGLOGGER_PROCESSORS",
                "processors to import, run in order on each enabled event",
                PROCESSORS_TEXT_ACCEPTED,
                import_processors,
                explains=True,
            ),
        ),
    )
    # ----------------------------------------------------------------------------------
    sinks: Sequence[Any] = setting(
        ("stdout",),
        doc="sink URIs (see Sinks) or sink objects",
        env=(
            _env(
                "NGLOGGER_SINKS",
                "where events are written",
                f"comma-separated sink URIs: {SINK_URIS}; percent-encode ',' in a URI",
                parse_sinks,
                explains=True,
            ),
            _env(
                "OTEL_LOGS_EXPORTER",
                "adds sinks as the OpenTelemetry SDKs do (otlp: the otlp sink, console: "
                "stdout, none: nothing); ignored when sinks is an argument",
                "otlp, console, none (comma-separated)",
            ),
        ),
    )
    format: Format = setting(
        "auto",
        doc="`json`, `console` or `auto` (console on a TTY) for stdout/stderr",
        env=(
            _env(
                "NGLOGGER_FORMAT",
                "output of stream sinks (auto: console on a terminal, JSON otherwise)",
                ", ".join(_FORMATS),
                parse_choice(*_FORMATS),
            ),
        ),
        check=choice(*_FORMATS),
    )
    colors: bool | None = setting(
        None,
        doc="console colours: `None` = when the stream is a TTY "
        "(`NO_COLOR`/`FORCE_COLOR` honoured)",
        env=(
            _env(
                "NO_COLOR",
                "disables colours in console output (wins over FORCE_COLOR)",
                "any value",
            ),
            _env(
                "FORCE_COLOR",
                "forces colours in console output even when not on a terminal",
                "any value except 0 and false",
            ),
        ),
        check=optional_boolean,
    )
    # -- output schema (issue 14): one block, see _layout.SCHEMAS ------------------------
    schema: Schema = setting(
        "default",
        doc="key names of the events: `default`, `ecs` (Elastic Common Schema), `gcp` "
        "(Cloud Logging) or `datadog` (see Output schemas)",
        env=(
            _env(
                "NGLOGGER_SCHEMA",
                "key names of the events (see Output schemas)",
                ", ".join(_SCHEMAS),
                parse_choice(*_SCHEMAS),
            ),
        ),
        check=choice(*_SCHEMAS),
    )
    gcp_project: str | None = setting(
        None,
        doc='Google Cloud project of `schema="gcp"` trace names '
        "(`projects/<project>/traces/<id>`; `None`: the bare trace id)",
        env=(
            _env(
                "GOOGLE_CLOUD_PROJECT",
                "project of the Cloud Logging trace names (schema gcp)",
                _GCP_ACCEPTED,
                _parse_gcp_project,
            ),
        ),
        check=_gcp_project,
    )
    # -- end of the output schema block ---------------------------------------------------
    context: Mapping[str, object] = setting(
        factory=_empty_context,
        doc="static fields on every event (service, env, ...)",
        env=(
            _env("NGLOGGER_CONTEXT", "static fields added to every event", _PAIRS, explains=True),
            _env("OTEL_SERVICE_NAME", "adds service=<name> to every event", "any non-empty string"),
            _env(
                "OTEL_RESOURCE_ATTRIBUTES",
                "adds each resource attribute to every event (service.name as service)",
                _PAIRS,
                explains=True,
            ),
        ),
    )

    buffer_max_events: int = setting(
        100_000,
        doc="most events in the shared buffer",
        env=(
            _env(
                "NGLOGGER_BUFFER_EVENTS", "most events waiting for the batcher", _COUNT, parse_count
            ),
        ),
        check=at_least(1),
    )
    buffer_max_bytes: int = setting(
        32 * MiB,
        doc="most bytes in the shared buffer",
        env=(
            _env("NGLOGGER_BUFFER_BYTES", "most bytes waiting for the batcher", _BYTES, parse_size),
        ),
        check=at_least(64),
        unit="bytes",
    )
    overflow: Overflow = setting(
        "drop_newest",
        doc="`drop_newest`, `drop_oldest`, or `block` (waits `block_timeout`, never in a thread "
        "running an asyncio loop)",
        env=(
            _env(
                "NGLOGGER_OVERFLOW",
                "what a full buffer does with a new event",
                ", ".join(_OVERFLOWS),
                parse_choice(*_OVERFLOWS),
            ),
        ),
        check=choice(*_OVERFLOWS),
    )
    block_timeout: float = setting(
        0.1,
        doc="longest a log call waits for room when `overflow` is `block`",
        env=(
            _env(
                "NGLOGGER_BLOCK_TIMEOUT",
                "longest a log call waits when OVERFLOW=block",
                _SECONDS,
                parse_duration,
            ),
        ),
        check=positive_seconds,
        unit="s",
    )

    batch_max_events: int = setting(
        1_000,
        doc="a batch closes at this many events (or bytes, or interval: whichever comes first)",
        env=(
            _env(
                "NGLOGGER_BATCH_EVENTS", "a batch closes at this many events", _COUNT, parse_count
            ),
        ),
        check=at_least(1),
    )
    batch_max_bytes: int = setting(
        1 * MiB,
        doc="a batch closes at this many bytes",
        env=(
            _env("NGLOGGER_BATCH_BYTES", "a batch closes at this many bytes", _BYTES, parse_size),
        ),
        check=at_least(64),
        unit="bytes",
    )
    flush_interval: float = setting(
        0.2,
        doc="a batch closes this long after its first event",
        env=(
            _env(
                "NGLOGGER_FLUSH_INTERVAL",
                "a batch closes this long after its first event",
                _SECONDS,
                parse_duration,
            ),
        ),
        check=positive_seconds,
        unit="s",
    )

    sink_queue_max_events: int = setting(
        50_000,
        doc="most events in each sink's own queue",
        env=(
            _env(
                "NGLOGGER_SINK_QUEUE_EVENTS", "most events queued for one sink", _COUNT, parse_count
            ),
        ),
        check=at_least(1),
    )
    sink_queue_max_bytes: int = setting(
        16 * MiB,
        doc="most bytes in each sink's own queue",
        env=(
            _env("NGLOGGER_SINK_QUEUE_BYTES", "most bytes queued for one sink", _BYTES, parse_size),
        ),
        check=at_least(64),
        unit="bytes",
    )
    sink_queue_overflow: SinkOverflow = setting(
        "drop_oldest",
        doc="`drop_oldest` or `drop_newest`: what a full sink queue does with a new batch "
        "(`drop_oldest` keeps the events logged after an outage ends)",
        env=(
            _env(
                "NGLOGGER_SINK_QUEUE_OVERFLOW",
                "what a full sink queue does with a new batch",
                ", ".join(_SINK_OVERFLOWS),
                parse_choice(*_SINK_OVERFLOWS),
            ),
        ),
        check=choice(*_SINK_OVERFLOWS),
    )

    sink_max_age: float = setting(
        900.0,
        doc="an HTTP sink drops a queued batch older than this (counted `expired`)",
        env=(
            _env(
                "NGLOGGER_SINK_MAX_AGE",
                "how long an HTTP sink keeps undelivered events queued",
                _SECONDS,
                parse_duration,
            ),
        ),
        check=positive_seconds,
        unit="s",
    )

    # -- the durable spool (nglogger._spool.store) --------------------------------------------
    spool_dir: str | None = setting(
        None,
        doc="directory of each sink's durable spool (one subdirectory per sink; off when "
        "unset; see Spool)",
        env=(
            _env(
                "NGLOGGER_SPOOL_DIR",
                "directory of the sinks' durable spools (one subdirectory per sink)",
                "a directory path (created if missing); one per process",
                _parse_spool_dir,
            ),
        ),
        check=_spool_dir,
    )
    spool_max_bytes: int = setting(
        1024 * MiB,
        doc="most bytes each sink's spool holds on disk (then `spool_full`)",
        env=(
            _env(
                "NGLOGGER_SPOOL_MAX_BYTES",
                "most bytes one sink's spool holds on disk",
                f"{SIZE_ACCEPTED}; at least 64Ki",
                parse_size,
            ),
        ),
        check=at_least(64 * KiB),
        unit="bytes",
    )
    spool_fsync: SpoolFsync = setting(
        "interval",
        doc="`interval` (fsync every 1 s), `batch` (every record) or `never`: what a power "
        "loss can cost (see Spool)",
        env=(
            _env(
                "NGLOGGER_SPOOL_FSYNC",
                "when the spool's files are fsynced",
                ", ".join(_SPOOL_FSYNCS),
                parse_choice(*_SPOOL_FSYNCS),
            ),
        ),
        check=choice(*_SPOOL_FSYNCS),
    )

    shutdown_timeout: float = setting(
        5.0,
        doc="deadline for `shutdown()` and for the flush at interpreter exit",
        env=(
            _env(
                "NGLOGGER_SHUTDOWN_TIMEOUT",
                "longest exit waits to deliver buffered events",
                _SECONDS,
                parse_duration,
            ),
        ),
        check=positive_seconds,
        unit="s",
    )
    report_interval: float = setting(
        60.0,
        doc="a warning event reports drops at most this often (`0`: off)",
        env=(
            _env(
                "NGLOGGER_REPORT_INTERVAL",
                "how often a warning event reports dropped events (only when some were dropped)",
                f"{DURATION_ACCEPTED}; 0 or off disables",
                parse_interval,
            ),
        ),
        unit="s",
    )

    max_event_bytes: int = setting(
        256 * KiB,
        doc="per-event limit (see `oversize`)",
        env=(_env("NGLOGGER_MAX_EVENT_BYTES", "largest serialized event", _BYTES, parse_size),),
        check=at_least(64),
        unit="bytes",
    )
    oversize: Oversize = setting(
        "truncate",
        doc="`truncate` or `drop`: what happens to an event over `max_event_bytes`",
        env=(
            _env(
                "NGLOGGER_OVERSIZE",
                "what happens to a larger event",
                ", ".join(_OVERSIZES),
                parse_choice(*_OVERSIZES),
            ),
        ),
        check=choice(*_OVERSIZES),
    )
    max_field_length: int = setting(
        64 * KiB,
        doc="longest string value (marked where it is cut)",
        env=(
            _env(
                "NGLOGGER_MAX_FIELD_LENGTH",
                "longest string value before it is cut",
                _CHARS,
                parse_size,
            ),
        ),
        check=at_least(64),
        unit="chars",
    )
    max_depth: int = setting(
        32,
        doc="deepest nesting serialized",
        env=(
            _env(
                "NGLOGGER_MAX_DEPTH",
                "deepest nesting serialized",
                "an integer from 1 to 250",
                parse_count,
            ),
        ),
        check=at_least(1),
    )
    max_repr_length: int = setting(
        1_000,
        doc="longest `repr()` of an unserializable value",
        env=(
            _env(
                "NGLOGGER_MAX_REPR_LENGTH",
                "longest repr() of an unserializable value",
                _CHARS,
                parse_size,
            ),
        ),
        check=at_least(64),
    )
    max_traceback_bytes: int = setting(
        16 * KiB,
        doc="largest formatted traceback",
        env=(
            _env("NGLOGGER_MAX_TRACEBACK_BYTES", "largest formatted traceback", _BYTES, parse_size),
        ),
        check=at_least(64),
        unit="bytes",
    )

    sample: Sampling | None = setting(
        None,
        doc='`"debug=0.1,1000/s"` or `Sampling.parse(...)` of it: per-level probability and a '
        "global rate limit; drops counted `sampled`/`rate_limited`",
        env=(
            _env(
                "NGLOGGER_SAMPLE",
                "per-level sampling and a global rate limit (drops counted)",
                _SAMPLE,
                Sampling.parse,
                explains=True,
            ),
        ),
    )
    redact_keys: Sequence[str] = setting(
        DEFAULT_REDACT_KEYS,
        doc="field names whose values are redacted at any depth (see Redaction)",
        env=(
            _env(
                "NGLOGGER_REDACT_KEYS",
                "more field names whose values are replaced (added to the defaults), at any "
                "depth, ignoring case, '-', '_' and '.'",
                "comma-separated field names",
                redact_keys_with_defaults,
            ),
        ),
    )
    redact_values: bool = setting(
        default=False,
        doc="also redact secrets inside values (see Redaction)",
        env=(
            _env(
                "NGLOGGER_REDACT_VALUES",
                "also replace Bearer tokens, JWTs, AWS key ids and URL passwords inside values",
                _BOOL,
                parse_bool,
            ),
        ),
        check=boolean,
    )
    strict: bool = setting(
        default=False,
        doc="raise on encoding problems instead of falling back",
        env=(
            _env(
                "NGLOGGER_STRICT",
                "log calls raise on misuse instead of falling back",
                _BOOL,
                parse_bool,
            ),
        ),
        check=boolean,
    )
    handle_sigterm: bool = setting(
        default=False,
        doc="`configure()` installs `nglogger.handle_signals()`: on SIGTERM, deliver what is "
        "buffered within `shutdown_timeout`, then the previous handler or the default action",
        env=(
            _env(
                "NGLOGGER_HANDLE_SIGTERM",
                "flush on SIGTERM (what a container stop sends), then die by it as before",
                _BOOL,
                parse_bool,
            ),
        ),
        check=boolean,
    )
    config_errors: ConfigErrors = setting(
        "warn",
        doc="what a bad or unknown environment variable does when configuring: `warn` (a "
        "`ConfigWarning`, and that setting keeps its default) or `raise` (`ConfigError`); "
        "keyword arguments always raise",
        env=(
            _env(
                "NGLOGGER_CONFIG_ERRORS",
                "what a bad or unknown variable does: warn and use the default, or raise",
                "warn, raise",
                parse_choice("warn", "raise"),
            ),
        ),
        check=choice("warn", "raise"),
    )
    #: Add trace_id/span_id/trace_flags of the active OpenTelemetry span to events.
    #: None (auto): on when the application has already imported opentelemetry.trace.
    trace_context: bool | None = setting(
        None,
        doc="add `trace_id`/`span_id`/`trace_flags` of the active OpenTelemetry span "
        "(`None`: when the application imported opentelemetry)",
        env=(
            _env(
                "NGLOGGER_TRACE_CONTEXT",
                "add trace_id, span_id and trace_flags of the active OpenTelemetry span to events",
                f"{_BOOL}, or auto (default: on when the application imported opentelemetry)",
                parse_bool_or_auto,
            ),
        ),
        check=optional_boolean,
    )
    #: Ecosystem variables the sinks read (DD_*, HONEYCOMB_*, OTEL_EXPORTER_OTLP_*,
    #: NGLOGGER_HTTP_*), captured by the environment parser. May hold secrets:
    #: never shown in reprs.
    sink_env: Mapping[str, str] = setting(
        factory=_empty_context,
        doc="the sinks' own variables, captured from the environment (listed below)",
        env=_SINK_VARIABLES,
        repr=False,
    )

    def __post_init__(self) -> None:
        try:
            level = parse_level(self.level)
        except ValueError:
            raise ConfigError("level", self.level, ACCEPTED_LEVELS) from None
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "levels", MappingProxyType(check_logger_levels(self.levels)))
        object.__setattr__(self, "processors", check_processors(self.processors))
        sinks: object = self.sinks
        if isinstance(sinks, str) or callable(getattr(sinks, "write", None)):
            sinks = (sinks,)
        if not isinstance(sinks, (tuple, list)):
            raise ConfigError("sinks", sinks, "a sink, a sink URI or a sequence of them")
        for spec in sinks:
            if isinstance(spec, str):
                check_sink_uri(spec)
            elif not callable(getattr(spec, "write", None)):
                raise ConfigError(
                    "sinks", spec, "a sink URI or an object with write(batch) and close()"
                )
        object.__setattr__(self, "sinks", tuple(sinks))
        if not isinstance(self.context, Mapping):
            raise ConfigError("context", self.context, "a mapping of field names to values")
        for key in self.context:
            if not isinstance(key, str):
                raise ConfigError("context", key, "string keys")
        object.__setattr__(self, "context", MappingProxyType(dict(self.context)))
        if not isinstance(self.sink_env, Mapping):
            raise ConfigError("sink_env", "<mapping>", "a mapping of variable names to values")
        object.__setattr__(self, "sink_env", MappingProxyType(dict(self.sink_env)))
        spool_dir: object = self.spool_dir
        if isinstance(spool_dir, os.PathLike):  # a pathlib.Path: kept as its text
            object.__setattr__(self, "spool_dir", os.fspath(spool_dir))
        for name, check in _CHECKS:  # the checks declared with each setting
            check(name, getattr(self, name))
        sample: object = self.sample
        if isinstance(sample, str):  # the NGLOGGER_SAMPLE form: "debug=0.1,1000/s"
            try:
                object.__setattr__(self, "sample", Sampling.parse(sample))
            except ValueError as exc:
                hint = str(exc.args[0]) if exc.args and not isinstance(exc, ConfigError) else ""
                raise ConfigError("sample", sample, SAMPLE_ACCEPTED, hint) from None
        if self.sample is not None and not isinstance(self.sample, Sampling):
            raise ConfigError("sample", self.sample, SAMPLE_ACCEPTED)
        keys = self.redact_keys
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            raise ConfigError("redact_keys", keys, REDACT_ACCEPTED)
        for key in keys:
            if not isinstance(key, str) or not key.strip():
                raise ConfigError("redact_keys", key, REDACT_ACCEPTED)
        object.__setattr__(self, "redact_keys", tuple(dict.fromkeys(k.strip() for k in keys)))
        if self.report_interval != 0:
            positive_seconds("report_interval", self.report_interval)
        if self.max_depth > 250:
            raise ConfigError("max_depth", self.max_depth, "an integer from 1 to 250")
        _not_above("max_event_bytes", self.max_event_bytes, "batch_max_bytes", self.batch_max_bytes)
        _not_above(
            "batch_max_bytes", self.batch_max_bytes, "buffer_max_bytes", self.buffer_max_bytes
        )
        _not_above(
            "batch_max_bytes",
            self.batch_max_bytes,
            "sink_queue_max_bytes",
            self.sink_queue_max_bytes,
        )
        _not_above(
            "batch_max_events",
            self.batch_max_events,
            "buffer_max_events",
            self.buffer_max_events,
        )
        _not_above(
            "batch_max_events",
            self.batch_max_events,
            "sink_queue_max_events",
            self.sink_queue_max_events,
        )

    def __repr__(self) -> str:
        """Every setting, with secrets masked (URIs' passwords, secret-named context keys)."""
        parts = [
            f"{f.name}={shown_setting(f.name, getattr(self, f.name))!r}"
            for f in dataclasses.fields(self)
            if f.repr
        ]
        return f"Config({', '.join(parts)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **explicit: Any) -> Config:
        """Settings from explicit arguments > environment (``os.environ`` if None) > defaults.

        Pass only the arguments the caller actually gave: ``colors=None`` is a value.
        """
        from .environ import resolve  # the environment parser loads when it is first needed

        config, _ = resolve(cls, environ, **explicit)
        return config

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def memory_budget(self) -> int:
        """Worst-case bytes held by a pipeline built from this config (see class doc)."""
        arenas = 3 * self.batch_max_bytes  # open arena, recycled arena, batch being copied
        sinks = self.sinks or ("stdout",)
        in_flight = sum(_in_flight_bytes(s, self.batch_max_bytes, self.sink_env) for s in sinks)
        # A sink with a level or filter gets its part cut from each batch, one at a time:
        # the pieces and the result, each up to a batch (see nglogger._pipeline.select).
        selecting = (
            2 * self.batch_max_bytes + SELECTION_EVENT_OVERHEAD * self.batch_max_events
            if any(_selects(s) for s in sinks)
            else 0
        )
        # with a spool, each sink also holds up to a queue's worth on its way to disk
        per_sink = 2 if self.spool_dir is not None else 1
        queues = per_sink * len(sinks) * self.sink_queue_max_bytes
        return self.buffer_max_bytes + arenas + queues + in_flight + selecting


#: (setting, check) for every setting declared with a check, in declaration order.
_CHECKS = tuple(
    (f.name, check) for f in dataclasses.fields(Config) if (check := spec_of(f).check) is not None
)


def _not_above(name: str, value: int, other: str, limit: int) -> None:
    if value > limit:
        raise ConfigError(name, value, f"at most {other} ({limit})")


_LOCAL_SINKS = ("stdout", "stderr", "null", "file:")


#: The largest request any HTTP sink named by URI sends (its ``max_request_bytes``,
#: 5 MiB for the generic sink; every vendor's is at most this; tested).
HTTP_REQUEST_BYTES = 5 * 1024 * 1024


def _selects(spec: object) -> bool:
    """True if the sink ``spec`` names takes only some events (``level``, ``filter``)."""
    if isinstance(spec, str):
        return parse_sink_uri(spec).level is not None
    try:
        return selection_of(spec) != (None, None)
    except ConfigError:
        return False


def _in_flight_bytes(spec: object, batch_max_bytes: int, env: Mapping[str, str]) -> int:
    """Bytes a sink can hold while writing, besides its queue (see memory_budget).

    An HTTP sink merges queued batches into one request of up to its
    ``max_request_bytes``: each of its ``concurrency`` writes holds ``copies``
    buffers of that size (``memory_copies``; for a URI ``_sinkuri.MEMORY_COPIES``).
    """
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith(_LOCAL_SINKS):
            return batch_max_bytes
        return uri_memory_copies(spec, env) * max(batch_max_bytes, HTTP_REQUEST_BYTES)
    size = max(batch_max_bytes, request_bytes_of(spec))
    return concurrency_of(spec) * memory_copies_of(spec) * size


class Settings(TypedDict, total=False):
    """The keyword arguments of ``configure()`` and ``install()``: one per :class:`Config` field.

    Declared for type checkers and IDE completion (``**settings: Unpack[Settings]``); the
    values are checked by ``Config`` itself. tests/test_api.py keeps it equal to Config's
    fields (``sample`` also takes its ``NGLOGGER_SAMPLE`` text).
    """

    level: int | str
    levels: Mapping[str, int | str]
    processors: Sequence[Processor]
    sinks: Sequence[Any]
    format: Format
    colors: bool | None
    schema: Schema
    gcp_project: str | None
    context: Mapping[str, object]
    buffer_max_events: int
    buffer_max_bytes: int
    overflow: Overflow
    block_timeout: float
    batch_max_events: int
    batch_max_bytes: int
    flush_interval: float
    sink_queue_max_events: int
    sink_queue_max_bytes: int
    sink_queue_overflow: SinkOverflow
    sink_max_age: float
    spool_dir: str | None
    spool_max_bytes: int
    spool_fsync: SpoolFsync
    shutdown_timeout: float
    report_interval: float
    max_event_bytes: int
    oversize: Oversize
    max_field_length: int
    max_depth: int
    max_repr_length: int
    max_traceback_bytes: int
    sample: Sampling | str | None
    redact_keys: Sequence[str]
    redact_values: bool
    strict: bool
    handle_sigterm: bool
    config_errors: ConfigErrors
    trace_context: bool | None
    sink_env: Mapping[str, str]
