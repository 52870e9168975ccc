"""Every setting, declared once: the fields of ``Config``.

``ConfigFields`` is a frozen dataclass with one field per setting, each written
``name: type = setting(default, doc=..., env=..., check=...)``
(``nglogger._config.declare``): its type, default, docs line, the environment variables
that feed it and the check of its value. :class:`~nglogger.Config` is this dataclass
with the checks across settings, its repr and ``from_env``. The environment parser
(``nglogger._config.environ``) and the docs tables read the declarations here, so the
parser sits below ``Config``, whose ``from_env`` calls it. Private: use ``nglogger.Config``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

from .._core.errors import ConfigError
from .._core.levels import (
    ACCEPTED_LEVELS,
    INFO,
    LEVELS_FILE_ACCEPTED,
    LEVELS_TEXT_ACCEPTED,
    parse_level,
    parse_logger_levels,
)
from .._core.units import DURATION_ACCEPTED, SIZE_ACCEPTED, parse_duration, parse_size
from .declare import (
    GCP_PROJECT_ACCEPTED,
    Var,
    at_least,
    boolean,
    choice,
    gcp_project_id,
    optional_boolean,
    parse_bool,
    parse_bool_or_auto,
    parse_choice,
    parse_count,
    parse_gcp_project_id,
    parse_interval,
    parse_sinks,
    parse_spool_directory,
    positive_seconds,
    redact_keys_with_defaults,
    setting,
    spool_directory,
)
from .memory import MEMORY_LIMIT_ACCEPTED, MIN_LIMIT, parse_memory_limit
from .processors import PROCESSORS_TEXT_ACCEPTED, Processor, import_processors
from .sampling import SAMPLE_TEXT_ACCEPTED, Sampling
from .secrets import DEFAULT_REDACT_KEYS
from .sinkenv import SINK_VARIABLES
from .sinkuri import SINK_URIS
from .storm import STORM_LEVELS_ACCEPTED, STORM_LIMIT_ACCEPTED, StormLimit, parse_storm_levels
from .values import PAIRS_ACCEPTED as _PAIRS

__all__ = [
    "ConfigErrors",
    "ConfigFields",
    "Format",
    "Overflow",
    "Oversize",
    "Schema",
    "SinkOverflow",
    "SpoolFsync",
]

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
_SPOOL_FSYNCS = ("interval", "batch", "never")

_COUNT = "an integer >= 1 such as 1000"
_BYTES = f"{SIZE_ACCEPTED}; at least 64"
_CHARS = "a character count >= 64 such as 1000 or 64Ki"
_SECONDS = f"{DURATION_ACCEPTED}; greater than 0"
_BOOL = "1, 0, true, false, yes, no, on, off (any case)"


def _empty_context() -> Mapping[str, Any]:
    return MappingProxyType({})


_LEVELS_FILE_ACCEPTED = "None, or a file path such as /etc/myapp/levels (a str or os.PathLike)"


def _levels_file(name: str, value: object) -> None:
    """None or a non-blank path (a ``PathLike`` is turned into its text before the check)."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(name, value, _LEVELS_FILE_ACCEPTED)


def _parse_levels_file_path(text: str) -> str | None:
    """``NGLOGGER_LEVELS_FILE``: a path, stripped (blank: unset)."""
    return text.strip() or None


def _optional_seconds(name: str, value: object) -> None:
    """None (off) or a finite number of seconds > 0."""
    if value is not None:
        positive_seconds(name, value)


def _a_level(name: str, value: object) -> None:
    """A level name or number (``hold_trigger``, ``hold_level``)."""
    try:
        parse_level(value)
    except ValueError:
        raise ConfigError(name, value, ACCEPTED_LEVELS) from None


def _parse_loss_report(text: str) -> float | None:
    """``NGLOGGER_LOSS_REPORT``: a duration; 0 or off: None (off)."""
    return parse_interval(text) or None


def _storm_limit(name: str, value: object) -> None:
    """None, a ``StormLimit``, or its text (``"100/s"``)."""
    if value is None or isinstance(value, StormLimit):
        return
    if isinstance(value, str):
        try:
            StormLimit.parse(value)
        except ValueError as exc:
            raise ConfigError(name, value, STORM_LIMIT_ACCEPTED, str(exc)) from None
        return
    raise ConfigError(name, value, STORM_LIMIT_ACCEPTED)


def _memory_limit(name: str, value: object) -> None:
    """None (off), ``"auto"``, a byte count >= 1 MiB, or a size's text (``"512MiB"``)."""
    if value is None:
        return
    if isinstance(value, str):
        try:
            parse_memory_limit(value)
        except ValueError as exc:
            raise ConfigError(name, value, MEMORY_LIMIT_ACCEPTED, str(exc)) from None
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < MIN_LIMIT:
        raise ConfigError(name, value, MEMORY_LIMIT_ACCEPTED)


def _storm_levels(name: str, value: object) -> None:
    """None, or level names."""
    if value is None:
        return
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise ConfigError(name, value, STORM_LEVELS_ACCEPTED)
    try:
        for level in value:
            parse_level(level)
    except (TypeError, ValueError):
        raise ConfigError(name, value, STORM_LEVELS_ACCEPTED) from None


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigFields:
    """Every setting with its declaration; ``Config`` adds the checks across settings."""

    level: int | str = setting(
        INFO,
        doc="minimum level (name or 0-100)",
        env=(
            Var("NGLOGGER_LEVEL", "minimum level of the events kept", ACCEPTED_LEVELS, parse_level),
            Var("LOG_LEVEL", "used when NGLOGGER_LEVEL is unset", ACCEPTED_LEVELS),
        ),
    )
    # -- per-logger levels and processors (issue 14) --------------------------------
    levels: Mapping[str, int | str] = setting(
        factory=_empty_context,
        doc="per-logger levels by dotted name prefix, e.g. `{'urllib3': 'warning', "
        "'app.db': 'debug'}` (longest prefix wins; `level` applies otherwise)",
        env=(
            Var(
                "NGLOGGER_LEVELS",
                "per-logger levels by logger-name prefix (longest prefix wins)",
                LEVELS_TEXT_ACCEPTED,
                parse_logger_levels,
                explains=True,
            ),
        ),
    )
    levels_file: str | None = setting(
        None,
        doc="file of `name=level` lines (`*=level`: `level`) laid over `levels` and `level`, "
        "re-read when it changes, at most once a second (see Levels at runtime)",
        env=(
            Var(
                "NGLOGGER_LEVELS_FILE",
                "per-logger levels re-read at runtime when the file changes",
                f"a file path; the file holds {LEVELS_FILE_ACCEPTED}",
                _parse_levels_file_path,
            ),
        ),
        check=_levels_file,
    )
    processors: Sequence[Processor] = setting(
        (),
        doc="functions `fn(fields)` run on each enabled event before it is serialized, "
        "returning the fields to log or None to drop it (see Processors)",
        env=(
            Var(
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
            Var(
                "NGLOGGER_SINKS",
                "where events are written",
                f"comma-separated sink URIs: {SINK_URIS}; percent-encode ',' in a URI",
                parse_sinks,
                explains=True,
            ),
            Var(
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
            Var(
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
            Var(
                "NO_COLOR",
                "disables colours in console output (wins over FORCE_COLOR)",
                "any value",
            ),
            Var(
                "FORCE_COLOR",
                "forces colours in console output even when not on a terminal",
                "any value except 0 and false",
            ),
        ),
        check=optional_boolean,
    )
    console_sync: bool | None = setting(
        None,
        doc="write stdout/stderr on the caller's thread, in order with `print()` "
        "(`None`: when the stream is a terminal)",
        env=(
            Var(
                "NGLOGGER_CONSOLE_SYNC",
                "write stdout/stderr on the caller's thread, in order with print()",
                f"{_BOOL}, or auto (default: on a terminal)",
                parse_bool_or_auto,
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
            Var(
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
            Var(
                "GOOGLE_CLOUD_PROJECT",
                "project of the Cloud Logging trace names (schema gcp)",
                GCP_PROJECT_ACCEPTED,
                parse_gcp_project_id,
            ),
        ),
        check=gcp_project_id,
    )
    # -- end of the output schema block ---------------------------------------------------
    context: Mapping[str, object] = setting(
        factory=_empty_context,
        doc="static fields on every event (service, env, ...)",
        env=(
            Var("NGLOGGER_CONTEXT", "static fields added to every event", _PAIRS, explains=True),
            Var("OTEL_SERVICE_NAME", "adds service=<name> to every event", "any non-empty string"),
            Var(
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
            Var(
                "NGLOGGER_BUFFER_EVENTS", "most events waiting for the batcher", _COUNT, parse_count
            ),
        ),
        check=at_least(1),
    )
    buffer_max_bytes: int = setting(
        32 * MiB,
        doc="most bytes in the shared buffer",
        env=(
            Var("NGLOGGER_BUFFER_BYTES", "most bytes waiting for the batcher", _BYTES, parse_size),
        ),
        check=at_least(64),
        unit="bytes",
    )
    overflow: Overflow = setting(
        "drop_newest",
        doc="`drop_newest`, `drop_oldest`, or `block` (waits `block_timeout`, never in a thread "
        "running an asyncio loop)",
        env=(
            Var(
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
            Var(
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
            Var("NGLOGGER_BATCH_EVENTS", "a batch closes at this many events", _COUNT, parse_count),
        ),
        check=at_least(1),
    )
    batch_max_bytes: int = setting(
        1 * MiB,
        doc="a batch closes at this many bytes",
        env=(Var("NGLOGGER_BATCH_BYTES", "a batch closes at this many bytes", _BYTES, parse_size),),
        check=at_least(64),
        unit="bytes",
    )
    flush_interval: float = setting(
        0.2,
        doc="a batch closes this long after its first event",
        env=(
            Var(
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
            Var(
                "NGLOGGER_SINK_QUEUE_EVENTS", "most events queued for one sink", _COUNT, parse_count
            ),
        ),
        check=at_least(1),
    )
    sink_queue_max_bytes: int = setting(
        16 * MiB,
        doc="most bytes in each sink's own queue",
        env=(
            Var("NGLOGGER_SINK_QUEUE_BYTES", "most bytes queued for one sink", _BYTES, parse_size),
        ),
        check=at_least(64),
        unit="bytes",
    )
    sink_queue_overflow: SinkOverflow = setting(
        "drop_oldest",
        doc="`drop_oldest` or `drop_newest`: what a full sink queue does with a new batch "
        "(`drop_oldest` keeps the events logged after an outage ends)",
        env=(
            Var(
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
            Var(
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
    sink_timeout: float = setting(
        10.0,
        doc="the read timeout of each request an HTTP or gRPC sink makes: a slower backend is "
        "presumed down (the events are retried, not lost); OTLP sinks take "
        "`OTEL_EXPORTER_OTLP_TIMEOUT` when it is set",
        env=(
            Var(
                "NGLOGGER_SINK_TIMEOUT",
                "the read timeout of each HTTP/gRPC sink request",
                _SECONDS,
                parse_duration,
            ),
        ),
        check=positive_seconds,
        unit="s",
    )

    spool_dir: str | None = setting(
        None,
        doc="directory of each sink's durable spool (one subdirectory per sink; off when "
        "unset; see Spool)",
        env=(
            Var(
                "NGLOGGER_SPOOL_DIR",
                "directory of the sinks' durable spools (one subdirectory per sink)",
                "a directory path (created if missing); the processes of a server share "
                "it, each taking a slot of its own",
                parse_spool_directory,
            ),
        ),
        check=spool_directory,
    )
    spool_max_bytes: int = setting(
        1024 * MiB,
        doc="most bytes each sink's spool holds on disk (then `spool_full`)",
        env=(
            Var(
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
            Var(
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
            Var(
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
            Var(
                "NGLOGGER_REPORT_INTERVAL",
                "how often a warning event reports dropped events (only when some were dropped)",
                f"{DURATION_ACCEPTED}; 0 or off disables",
                parse_interval,
            ),
        ),
        unit="s",
    )
    loss_report: float | None = setting(
        None,
        doc="at most this often, an `nglogger loss report` event through every sink counts "
        "the events dropped since the previous one, by reason and by sink (`None`: off; "
        "see Loss report)",
        env=(
            Var(
                "NGLOGGER_LOSS_REPORT",
                "how often an event sent through the sinks reports what was lost "
                "(only when something was)",
                f"{DURATION_ACCEPTED}; 0 or off disables",
                _parse_loss_report,
            ),
        ),
        check=_optional_seconds,
        unit="s",
    )
    # -- nglogger.hold(): debug logs only for the requests that fail (issue 24) ---------
    hold_bytes: int = setting(
        256 * KiB,
        doc="what one `nglogger.hold()` keeps at most, in event bytes (the oldest go beyond, "
        "counted `held_dropped`; see Holding debug logs)",
        env=(
            Var(
                "NGLOGGER_HOLD_BYTES",
                "the events one nglogger.hold() keeps at most (the oldest go beyond)",
                f"{SIZE_ACCEPTED}; at least 1024",
                parse_size,
            ),
        ),
        check=at_least(1024),
        unit="bytes",
    )
    hold_trigger: int | str = setting(
        "error",
        doc="inside `nglogger.hold()`, an event at this level or above sends the held "
        "events on (name or 0-100)",
        env=(
            Var(
                "NGLOGGER_HOLD_TRIGGER",
                "inside nglogger.hold(), an event at this level sends the held events on",
                ACCEPTED_LEVELS,
                parse_level,
            ),
        ),
        check=_a_level,
    )
    hold_level: int | str = setting(
        "debug",
        doc="the lowest level `nglogger.hold()` keeps, even when the loggers' level is "
        "higher (below `hold_trigger`)",
        env=(
            Var(
                "NGLOGGER_HOLD_LEVEL",
                "the lowest level nglogger.hold() keeps, whatever the loggers' level",
                f"{ACCEPTED_LEVELS}; below NGLOGGER_HOLD_TRIGGER",
                parse_level,
            ),
        ),
        check=_a_level,
    )
    hold_total_bytes: int = setting(
        64 * MiB,
        doc="what every open `nglogger.hold()` keeps at most together, in event bytes (a "
        "hold that would go over gives up its oldest events, counted `held_dropped`)",
        env=(
            Var(
                "NGLOGGER_HOLD_TOTAL_BYTES",
                "the events all open nglogger.hold()s keep at most together",
                f"{SIZE_ACCEPTED}; at least 1024",
                parse_size,
            ),
        ),
        check=at_least(1024),
        unit="bytes",
    )

    max_event_bytes: int = setting(
        256 * KiB,
        doc="per-event limit (see `oversize`)",
        env=(Var("NGLOGGER_MAX_EVENT_BYTES", "largest serialized event", _BYTES, parse_size),),
        check=at_least(64),
        unit="bytes",
    )
    oversize: Oversize = setting(
        "truncate",
        doc="`truncate` or `drop`: what happens to an event over `max_event_bytes`",
        env=(
            Var(
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
            Var(
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
            Var(
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
            Var(
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
            Var("NGLOGGER_MAX_TRACEBACK_BYTES", "largest formatted traceback", _BYTES, parse_size),
        ),
        check=at_least(64),
        unit="bytes",
    )

    sample: Sampling | None = setting(
        None,
        doc='`"debug=0.1,1000/s"` or `Sampling.parse(...)` of it: per-level probability and a '
        "global rate limit; drops counted `sampled`/`rate_limited`",
        env=(
            Var(
                "NGLOGGER_SAMPLE",
                "per-level sampling and a global rate limit (drops counted)",
                SAMPLE_TEXT_ACCEPTED,
                Sampling.parse,
                explains=True,
            ),
        ),
    )
    storm_limit: StormLimit | str | None = setting(
        None,
        doc='`"100/s"` or `StormLimit(100, 1.0)`: each call site (logger name + message '
        "template) may log this many events per period; the rest are suppressed (counted "
        "`storm_suppressed`) and summarized once per site and period (`None`: off)",
        env=(
            Var(
                "NGLOGGER_STORM_LIMIT",
                "a log storm's events beyond this rate per call site are suppressed and summarized",
                STORM_LIMIT_ACCEPTED,
                StormLimit.parse,
                explains=True,
            ),
        ),
        check=_storm_limit,
    )
    storm_levels: Sequence[str] | None = setting(
        None,
        doc="the levels the storm guard applies to (`None`: every level; "
        '`("debug", "info")` exempts WARNING and above)',
        env=(
            Var(
                "NGLOGGER_STORM_LEVELS",
                "the levels the storm guard applies to (default: every level)",
                STORM_LEVELS_ACCEPTED,
                parse_storm_levels,
                explains=True,
            ),
        ),
        check=_storm_levels,
    )
    memory_limit: int | str | None = setting(
        "auto",
        doc='above this process RSS (bytes or `"512MiB"`; `"auto"`: 90% of the cgroup v2 '
        "`memory.max`, off without one; `None`: off) DEBUG, then INFO, is shed and queues "
        "shrink (counted `memory_pressure`) until RSS is back below 90% of it (see Memory "
        "pressure; Linux)",
        env=(
            Var(
                "NGLOGGER_MEMORY_LIMIT",
                "above this process RSS, DEBUG then INFO is shed and queues shrink",
                MEMORY_LIMIT_ACCEPTED,
                parse_memory_limit,
                explains=True,
            ),
        ),
        check=_memory_limit,
    )
    redact_keys: Sequence[str] = setting(
        DEFAULT_REDACT_KEYS,
        doc="field names whose values are redacted at any depth (see Redaction)",
        env=(
            Var(
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
            Var(
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
            Var(
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
            Var(
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
            Var(
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
            Var(
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
        env=SINK_VARIABLES,
        repr=False,
    )
