"""Settings from environment variables: the one place nglogger reads ``os.environ``.

The variable table (``KNOWN_VARIABLES``), the value parsers and the precedence
rules. ``resolve(Config, environ, **arguments)`` builds the settings object and
says where each value came from; it is given ``Config`` rather than importing
it, so this module sits below ``nglogger._config`` (whose ``Config.from_env``
calls it). ``nglogger._env`` has the shorthand functions.

Precedence: explicit keyword arguments > environment > ``Config`` defaults. The only
exception is ``context``, which is merged key by key (an argument key beats an
environment key), so that ``OTEL_SERVICE_NAME`` set by operations survives an
application's ``context={...}``.

Rules shared by every variable
------------------------------
- An empty or all-whitespace value counts as unset (``NO_COLOR`` follows its own
  spec: any non-empty value). Values are stripped; choice words ignore case.
- Lists are comma-separated; empty items (``a,,b``, a trailing comma) are ignored.
- A bad value raises :class:`~nglogger.ConfigError` naming the *variable*, the
  value (secrets masked) and what is accepted, also when the check that failed
  is ``Config``'s own (a range or a relation between two settings).
- Any ``NGLOGGER_*`` name that is not known (case-insensitive prefix) raises
  ``ConfigError`` suggesting the closest known name; its value is never shown,
  since a misspelled name may hold a secret the masking rule cannot recognise.
- :func:`describe_variables` lists every variable (README table, ``nglogger config``).

Context keys (``NGLOGGER_CONTEXT``, ``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``)
-------------------------------------------------------------------------------------
Both key=value variables use the OTel/W3C Baggage form ``k1=v1,k2=v2``: whitespace
around keys and values is trimmed, then keys and values are percent-decoded
(``,`` ``=`` ``%`` are written ``%2C`` ``%3D`` ``%25``; ``+`` stays a plus).
A value may contain a raw ``=`` (the first one splits). A later duplicate key
wins, as in the OTel SDKs. An entry without ``=``, an empty key, a bad percent
escape or percent-encoded bytes that are not UTF-8 raise ``ConfigError`` naming
the entry; the OTel spec asks to discard the whole variable with an error, and
a configuration error is the error nglogger reports.

The service name goes to the key ``service`` (``OTEL_SERVICE_NAME`` wins over
``service.name`` in ``OTEL_RESOURCE_ATTRIBUTES``, as the OTel spec says); every
other resource attribute keeps its own name (``deployment.environment``,
``service.version``). Why ``service`` and not ECS's ``service.name``: it is the
reserved attribute Datadog, Loki/Grafana conventions and most log UIs facet on
without remapping, it is a flat key that needs no dotted-path interpretation,
and a sink that needs another shape (OTLP's ``service.name`` resource
attribute, an ECS encoder) maps one well-known key. Merge order, later wins:
``OTEL_RESOURCE_ATTRIBUTES`` < ``OTEL_SERVICE_NAME`` < ``NGLOGGER_CONTEXT`` <
the ``context`` argument.

Colours
-------
``NO_COLOR`` (any non-empty value) -> ``colors=False``; else ``FORCE_COLOR``
(non-empty and not ``0``/``false``) -> ``colors=True``; else ``None`` (auto:
colour on a TTY). NO_COLOR wins; a ``colors`` argument wins over both.

Sampling (``NGLOGGER_SAMPLE``)
------------------------------
A comma list of rules::

    sample  := rule ("," rule)*
    rule    := level "=" probability        debug=0.1   keep 10% of debug events
             | count "/" period             100/s       at most 100 events per second
    level   := debug | info | warning | error | critical   (warn, fatal: aliases)
    period  := s | m | h | ms | a duration such as 10s, 500ms (plain number: seconds)

Examples: ``debug=0.1``; ``debug=0,info=0.25``; ``500/s``; ``debug=0.1,6000/m``.
Each level appears at most once; unlisted levels keep every event; levels
between the named ones use the named level below them (15 -> debug). At most one
rate limit, and it is global to the pipeline: one token bucket (burst = count)
shared by all loggers and levels, applied after the per-level draw. Global,
because a budget on what the process ships is the guarantee users ask for, and
because per-logger buckets would need state per logger name, unbounded memory
for dynamic names. Drops are counted (reasons ``sampled`` and ``rate_limited``).

Secrets
-------
:func:`mask_secret` is the one masking rule, for error messages, reprs and the
sources report: a value whose variable name contains KEY, TOKEN, SECRET, PASS,
AUTH, HEADERS, CREDENTIAL, COOKIE or DSN (any case) becomes ``****`` (nothing of
it is kept, not even its length); in other values, URI user-info and
secret-named query parameters, and ``k=v`` items with secret-named keys, are
masked. ``NGLOGGER_REDACT_KEYS`` is the one exemption: it lists key names.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
import re
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from ._errors import ConfigError
from ._levels import ACCEPTED_LEVELS, parse_level
from ._sampling import Sampling
from ._secrets import (
    DEFAULT_REDACT_KEYS,
    MASK,
    is_secret_name,
    mask_secret,
    shown_setting,
)
from ._sinkuri import SINK_URIS
from ._units import DURATION_ACCEPTED, SIZE_ACCEPTED, parse_duration, parse_size
from ._values import items, parse_pairs

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    Built = TypeVar("Built", bound=DataclassInstance)

__all__ = [
    "KNOWN_VARIABLES",
    "MASK",
    "Sampling",
    "Variable",
    "describe_variables",
    "is_secret_name",
    "mask_secret",
    "parse_redact_keys",
    "resolve",
]

PREFIX = "NGLOGGER_"

# Settings the environment parser understands but Config does not have yet: they
# are parsed, validated and reported in the sources, and passed to Config as
# soon as it has a field of that name.
_PENDING_DEFAULTS: Mapping[str, object] = MappingProxyType({})


class Variable(NamedTuple):
    """One environment variable: the setting it feeds, what it does, what it accepts."""

    field: str | None
    description: str
    accepted: str


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

#: Prefixes of the variables captured whole into ``Config.sink_env`` for the sinks.
SINK_ENV_PREFIXES = ("DD_", "HONEYCOMB_", "OTEL_EXPORTER_OTLP_", "NGLOGGER_HTTP_", "LOKI_")
#: Single variables also captured for the sinks (the OTLP sink builds its Resource from them).
SINK_ENV_NAMES = frozenset({"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_LOGS_EXPORTER"})

KNOWN_VARIABLES: Mapping[str, Variable] = MappingProxyType(
    {
        "NGLOGGER_LEVEL": Variable("level", "minimum level of the events kept", ACCEPTED_LEVELS),
        "LOG_LEVEL": Variable("level", "used when NGLOGGER_LEVEL is unset", ACCEPTED_LEVELS),
        "NGLOGGER_FORMAT": Variable(
            "format",
            "output of stream sinks (auto: console on a terminal, JSON otherwise)",
            "json, console, auto",
        ),
        "NGLOGGER_SINKS": Variable(
            "sinks",
            "where events are written",
            f"comma-separated sink URIs: {SINK_URIS}; percent-encode ',' in a URI",
        ),
        "NGLOGGER_CONTEXT": Variable("context", "static fields added to every event", _PAIRS),
        "OTEL_SERVICE_NAME": Variable(
            "context", "adds service=<name> to every event", "any non-empty string"
        ),
        "OTEL_RESOURCE_ATTRIBUTES": Variable(
            "context",
            "adds each resource attribute to every event (service.name as service)",
            _PAIRS,
        ),
        "NO_COLOR": Variable(
            "colors", "disables colours in console output (wins over FORCE_COLOR)", "any value"
        ),
        "FORCE_COLOR": Variable(
            "colors",
            "forces colours in console output even when not on a terminal",
            "any value except 0 and false",
        ),
        "NGLOGGER_BUFFER_EVENTS": Variable(
            "buffer_max_events", "most events waiting for the batcher", _COUNT
        ),
        "NGLOGGER_BUFFER_BYTES": Variable(
            "buffer_max_bytes", "most bytes waiting for the batcher", _BYTES
        ),
        "NGLOGGER_OVERFLOW": Variable(
            "overflow",
            "what a full buffer does with a new event",
            "drop_newest, drop_oldest, block",
        ),
        "NGLOGGER_BLOCK_TIMEOUT": Variable(
            "block_timeout", "longest a log call waits when OVERFLOW=block", _SECONDS
        ),
        "NGLOGGER_BATCH_EVENTS": Variable(
            "batch_max_events", "a batch closes at this many events", _COUNT
        ),
        "NGLOGGER_BATCH_BYTES": Variable(
            "batch_max_bytes", "a batch closes at this many bytes", _BYTES
        ),
        "NGLOGGER_FLUSH_INTERVAL": Variable(
            "flush_interval", "a batch closes this long after its first event", _SECONDS
        ),
        "NGLOGGER_SINK_QUEUE_EVENTS": Variable(
            "sink_queue_max_events", "most events queued for one sink", _COUNT
        ),
        "NGLOGGER_SINK_QUEUE_BYTES": Variable(
            "sink_queue_max_bytes", "most bytes queued for one sink", _BYTES
        ),
        "NGLOGGER_SINK_QUEUE_OVERFLOW": Variable(
            "sink_queue_overflow",
            "what a full sink queue does with a new batch",
            "drop_newest, drop_oldest",
        ),
        "NGLOGGER_SHUTDOWN_TIMEOUT": Variable(
            "shutdown_timeout", "longest exit waits to deliver buffered events", _SECONDS
        ),
        "NGLOGGER_REPORT_INTERVAL": Variable(
            "report_interval",
            "how often a warning event reports dropped events (only when some were dropped)",
            f"{DURATION_ACCEPTED}; 0 or off disables",
        ),
        "NGLOGGER_MAX_EVENT_BYTES": Variable("max_event_bytes", "largest serialized event", _BYTES),
        "NGLOGGER_OVERSIZE": Variable(
            "oversize", "what happens to a larger event", "truncate, drop"
        ),
        "NGLOGGER_MAX_FIELD_LENGTH": Variable(
            "max_field_length", "longest string value before it is cut", _CHARS
        ),
        "NGLOGGER_MAX_DEPTH": Variable(
            "max_depth", "deepest nesting serialized", "an integer from 1 to 250"
        ),
        "NGLOGGER_MAX_REPR_LENGTH": Variable(
            "max_repr_length", "longest repr() of an unserializable value", _CHARS
        ),
        "NGLOGGER_MAX_TRACEBACK_BYTES": Variable(
            "max_traceback_bytes", "largest formatted traceback", _BYTES
        ),
        "NGLOGGER_STRICT": Variable(
            "strict", "log calls raise on misuse instead of falling back", _BOOL
        ),
        "NGLOGGER_TRACE_CONTEXT": Variable(
            "trace_context",
            "add trace_id, span_id and trace_flags of the active OpenTelemetry span to events",
            f"{_BOOL}, or auto (default: on when the application imported opentelemetry)",
        ),
        "NGLOGGER_REDACT_KEYS": Variable(
            "redact_keys",
            "more field names whose values are replaced (added to the defaults), at any depth, "
            "ignoring case, '-', '_' and '.'",
            "comma-separated field names",
        ),
        "NGLOGGER_REDACT_VALUES": Variable(
            "redact_values",
            "also replace Bearer tokens, JWTs, AWS key ids and URL passwords inside values",
            _BOOL,
        ),
        "NGLOGGER_SAMPLE": Variable(
            "sample", "per-level sampling and a global rate limit (drops counted)", _SAMPLE
        ),
        "NGLOGGER_HTTP_HEADERS": Variable(
            "sink_env",
            "extra headers for generic http(s):// sinks (secret: never shown)",
            _PAIRS,
        ),
        "OTEL_EXPORTER_OTLP_ENDPOINT": Variable(
            "sink_env",
            "base URL of the otlp sink (/v1/logs is appended)",
            "an http(s):// URL; default http://localhost:4318",
        ),
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": Variable(
            "sink_env", "URL of the otlp sink, used as-is (wins)", "an http(s):// URL"
        ),
        "OTEL_EXPORTER_OTLP_HEADERS": Variable(
            "sink_env", "headers of the otlp sink (secret: never shown)", _PAIRS
        ),
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS": Variable(
            "sink_env", "headers of the otlp sink (wins; secret: never shown)", _PAIRS
        ),
        "OTEL_EXPORTER_OTLP_TIMEOUT": Variable(
            "sink_env", "per-request timeout of the otlp sink", "milliseconds > 0; default 10000"
        ),
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT": Variable(
            "sink_env", "per-request timeout of the otlp sink (wins)", "milliseconds > 0"
        ),
        "OTEL_EXPORTER_OTLP_COMPRESSION": Variable(
            "sink_env", "request compression of the otlp sink", "gzip, none; default none"
        ),
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION": Variable(
            "sink_env", "request compression of the otlp sink (wins)", "gzip, none"
        ),
        "OTEL_EXPORTER_OTLP_PROTOCOL": Variable(
            "sink_env",
            "encoding of the otlp sink (grpc is not supported)",
            "http/protobuf, http/json; default http/protobuf",
        ),
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": Variable(
            "sink_env", "encoding of the otlp sink (wins)", "http/protobuf, http/json"
        ),
        "DD_API_KEY": Variable(
            "sink_env", "API key of the datadog sink (secret: never shown)", "a Datadog API key"
        ),
        "DD_SITE": Variable(
            "sink_env",
            "Datadog site of the datadog sink (default datadoghq.com)",
            "a site such as datadoghq.com, datadoghq.eu, us5.datadoghq.com",
        ),
        "DD_SERVICE": Variable(
            "sink_env",
            "service of datadog entries (default: the context's service)",
            "a service name",
        ),
        "DD_ENV": Variable("sink_env", "env: tag of datadog entries", "an environment name"),
        "DD_VERSION": Variable("sink_env", "version: tag of datadog entries", "a version"),
        "DD_TAGS": Variable(
            "sink_env", "more tags of datadog entries", "key:value tags separated by , or spaces"
        ),
        "HONEYCOMB_API_KEY": Variable(
            "sink_env",
            "API key of the honeycomb sink (secret: never shown)",
            "a Honeycomb ingest API key",
        ),
        "HONEYCOMB_DATASET": Variable(
            "sink_env",
            "dataset of the honeycomb sink (default: the context's service)",
            "a dataset name without '/'",
        ),
        "HONEYCOMB_API_ENDPOINT": Variable(
            "sink_env",
            "API host of the honeycomb sink (EU: https://api.eu1.honeycomb.io)",
            "an http(s):// URL; default https://api.honeycomb.io",
        ),
        "LOKI_TENANT_ID": Variable(
            "sink_env", "X-Scope-OrgID header of loki+http(s):// sinks", "a Loki tenant id"
        ),
        "LOKI_USERNAME": Variable(
            "sink_env",
            "basic-auth user of loki+http(s):// sinks (user-info in the URI wins)",
            "a user name (with LOKI_PASSWORD)",
        ),
        "LOKI_PASSWORD": Variable(
            "sink_env",
            "basic-auth password of loki+http(s):// sinks (secret: never shown)",
            "a password (with LOKI_USERNAME)",
        ),
    }
)

# The variable named in errors about a setting (a setting fed by several variables
# is named by its NGLOGGER_ one).
_VARIABLE_OF: Mapping[str, str] = MappingProxyType(
    {
        var.field: name
        for name, var in reversed(list(KNOWN_VARIABLES.items()))
        if var.field is not None and name.startswith(PREFIX)
    }
)


def describe_variables() -> list[tuple[str, str, str]]:
    """``(name, description, accepted)`` for every variable, in documentation order."""
    return [(name, var.description, var.accepted) for name, var in KNOWN_VARIABLES.items()]


# --------------------------------------------------------------------------- value parsers


def _items(text: str) -> Iterable[tuple[int, str]]:
    """Non-empty stripped comma items, numbered from 1 as written."""
    return items(text)


def parse_redact_keys(text: str) -> tuple[str, ...]:
    """``"Password, api_key,password"`` -> ``("password", "api_key")``: case-folded, unique."""
    keys: dict[str, None] = {}
    for _, item in _items(text):
        keys.setdefault(item.casefold(), None)
    return tuple(keys)


def _redact_keys_with_defaults(text: str) -> tuple[str, ...]:
    """NGLOGGER_REDACT_KEYS adds to the default names (pass ``redact_keys=()`` to clear)."""
    return tuple(dict.fromkeys((*DEFAULT_REDACT_KEYS, *parse_redact_keys(text))))


def _check_redact_keys(value: object) -> tuple[str, ...]:
    accepted = "a sequence of field names such as ('password', 'authorization')"
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable):
        raise ConfigError("redact_keys", value, accepted)
    keys: dict[str, None] = {}
    for key in value:
        if not isinstance(key, str) or not key.strip():
            raise ConfigError("redact_keys", key, accepted)
        keys.setdefault(key.strip().casefold(), None)
    return tuple(keys)


def _check_sample(value: object) -> Sampling | None:
    if value is None or isinstance(value, Sampling):
        return value
    raise ConfigError("sample", value, "a nglogger Sampling value or None")


def _choice(*accepted: str) -> Callable[[str], str]:
    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in accepted:
            raise ValueError(text)
        return value

    return parse


_INTEGER = re.compile(r"[0-9]+(_[0-9]+)*")


def _parse_interval(text: str) -> float:
    """A duration, where 0 (or "off") disables the periodic report."""
    if text.strip().lower() in ("0", "off", "false", "no"):
        return 0.0
    return parse_duration(text)


def _parse_count(text: str) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise ValueError(text)
    return int(text)


_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(text)


def _parse_bool_or_auto(text: str) -> bool | None:
    return None if text.strip().lower() == "auto" else _parse_bool(text)


def _parse_sinks(text: str) -> tuple[str, ...]:
    uris = tuple(item for _, item in _items(text))
    if not uris:
        raise ValueError("no sink URI (use null to discard events)")
    return uris


_PARSERS: Mapping[str, Callable[[str], object]] = MappingProxyType(
    {
        "NGLOGGER_LEVEL": parse_level,
        "NGLOGGER_FORMAT": _choice("json", "console", "auto"),
        "NGLOGGER_SINKS": _parse_sinks,
        "NGLOGGER_BUFFER_EVENTS": _parse_count,
        "NGLOGGER_BUFFER_BYTES": parse_size,
        "NGLOGGER_OVERFLOW": _choice("drop_newest", "drop_oldest", "block"),
        "NGLOGGER_BLOCK_TIMEOUT": parse_duration,
        "NGLOGGER_BATCH_EVENTS": _parse_count,
        "NGLOGGER_BATCH_BYTES": parse_size,
        "NGLOGGER_FLUSH_INTERVAL": parse_duration,
        "NGLOGGER_SINK_QUEUE_EVENTS": _parse_count,
        "NGLOGGER_SINK_QUEUE_BYTES": parse_size,
        "NGLOGGER_SINK_QUEUE_OVERFLOW": _choice("drop_newest", "drop_oldest"),
        "NGLOGGER_SHUTDOWN_TIMEOUT": parse_duration,
        "NGLOGGER_REPORT_INTERVAL": _parse_interval,
        "NGLOGGER_MAX_EVENT_BYTES": parse_size,
        "NGLOGGER_OVERSIZE": _choice("truncate", "drop"),
        "NGLOGGER_MAX_FIELD_LENGTH": parse_size,
        "NGLOGGER_MAX_DEPTH": _parse_count,
        "NGLOGGER_MAX_REPR_LENGTH": parse_size,
        "NGLOGGER_MAX_TRACEBACK_BYTES": parse_size,
        "NGLOGGER_STRICT": _parse_bool,
        "NGLOGGER_REDACT_KEYS": _redact_keys_with_defaults,
        "NGLOGGER_REDACT_VALUES": _parse_bool,
        "NGLOGGER_SAMPLE": Sampling.parse,
        "NGLOGGER_TRACE_CONTEXT": _parse_bool_or_auto,
    }
)

# Parsers whose ValueError text explains the problem (the others just echo the value).
_EXPLAINED = frozenset(
    {"NGLOGGER_SINKS", "NGLOGGER_SAMPLE", "NGLOGGER_CONTEXT", "OTEL_RESOURCE_ATTRIBUTES"}
)


# --------------------------------------------------------------------------- resolution


def resolve(
    build: type[Built], environ: Mapping[str, str] | None, /, **explicit: Any
) -> tuple[Built, dict[str, tuple[object, str]]]:
    """The settings object ``build(**values)`` and, per setting, ``(value, source)``.

    ``build`` is ``Config`` (passed in, so that this parser sits below it);
    its dataclass fields are the settings. ``environ=None`` reads ``os.environ``.

    ``source`` is ``"default"``, ``"argument"`` or ``"env:NAME"``; ``context``,
    merged from several places, joins them with ``+`` (``"argument+env:OTEL_SERVICE_NAME"``).
    Values are safe to print (:func:`mask_secret`); the Config holds the real ones.
    Settings Config does not have yet (``redact_keys``, ``sample``) are reported too.
    """
    if environ is None:
        environ = os.environ
    fields = tuple(f.name for f in dataclasses.fields(build))
    _check_arguments(fields, explicit)
    _check_names(environ)
    values: dict[str, Any] = {}
    env_source: dict[str, str] = {}  # setting -> variable it came from

    for name, parser in _PARSERS.items():
        text = _get(environ, name)
        if text is None:
            continue
        setting = KNOWN_VARIABLES[name].field
        assert setting is not None
        values[setting] = _parse(name, text, parser)
        env_source[setting] = name
    if "level" not in values:
        text = _get(environ, "LOG_LEVEL")
        if text is not None:
            values["level"] = _parse(
                "LOG_LEVEL", text, parse_level, "set NGLOGGER_LEVEL to override"
            )
            env_source["level"] = "LOG_LEVEL"
    if environ.get("NO_COLOR", ""):
        values["colors"] = False
        env_source["colors"] = "NO_COLOR"
    elif environ.get("FORCE_COLOR", "").strip().lower() not in ("", "0", "false"):
        values["colors"] = True
        env_source["colors"] = "FORCE_COLOR"

    sink_env = {
        k: v for k, v in environ.items() if k.startswith(SINK_ENV_PREFIXES) or k in SINK_ENV_NAMES
    }
    if sink_env:
        values["sink_env"] = sink_env
        env_source["sink_env"] = "+".join(sorted(sink_env)) if len(sink_env) < 4 else "*"
    context, context_source = _context(environ, explicit)
    sources: dict[str, str] = {}
    for setting in (*fields, *_PENDING_DEFAULTS):
        if setting in explicit:
            sources[setting] = "argument"
        elif setting in env_source:
            sources[setting] = f"env:{env_source[setting]}"
        else:
            sources[setting] = "default"
    values.update(explicit)
    if context_source:
        values["context"] = context
        sources["context"] = context_source

    pending = {
        setting: values.pop(setting, default)
        for setting, default in _PENDING_DEFAULTS.items()
        if setting not in fields
    }
    try:
        config = build(**values)
    except ConfigError as error:
        raise _translate(error, fields, env_source, environ, explicit) from None

    report: dict[str, tuple[object, str]] = {}
    for setting in fields:
        report[setting] = (shown_setting(setting, getattr(config, setting)), sources[setting])
    for setting, value in pending.items():
        report[setting] = (value, sources[setting])
    return config, report


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value


def _parse(name: str, text: str, parser: Callable[[str], object], hint: str = "") -> object:
    try:
        return parser(text)
    except ValueError as exc:
        if name in _EXPLAINED and exc.args and not isinstance(exc, ConfigError):
            hint = str(exc.args[0])
        raise ConfigError(
            name, mask_secret(name, text), KNOWN_VARIABLES[name].accepted, hint
        ) from None


def _check_arguments(fields: tuple[str, ...], explicit: Mapping[str, object]) -> None:
    known = (*fields, *_PENDING_DEFAULTS)
    for name in explicit:
        if name not in known:
            close = difflib.get_close_matches(name, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"unexpected keyword argument {name!r}{hint}")


def _check_names(environ: Mapping[str, str]) -> None:
    known = [name for name in KNOWN_VARIABLES if name.startswith(PREFIX)]
    unknown = sorted(
        name for name in environ if name.upper().startswith(PREFIX) and name not in KNOWN_VARIABLES
    )
    if not unknown:
        return
    name = unknown[0]
    suffix = name.upper().removeprefix(PREFIX)
    close = difflib.get_close_matches(suffix, [k.removeprefix(PREFIX) for k in known], n=1)
    if close:
        accepted = f"a known {PREFIX} variable"
        hint = f"unknown variable; did you mean {PREFIX}{close[0]}?"
    else:
        accepted = f"a known {PREFIX} variable: {', '.join(sorted(known))}"
        hint = "unknown variable"
    raise ConfigError(name, MASK, accepted, hint)


def _context(
    environ: Mapping[str, str], explicit: Mapping[str, object]
) -> tuple[dict[str, object], str]:
    """The merged context and its source ("" when nothing sets it)."""
    origin: dict[str, str] = {}  # key -> source
    merged: dict[str, object] = {}
    text = _get(environ, "OTEL_RESOURCE_ATTRIBUTES")
    if text is not None:
        attributes = _parse_context("OTEL_RESOURCE_ATTRIBUTES", text)
        if "service.name" in attributes:
            attributes["service"] = attributes.pop("service.name")
        _merge(merged, origin, attributes, "env:OTEL_RESOURCE_ATTRIBUTES")
    text = _get(environ, "OTEL_SERVICE_NAME")
    if text is not None:
        _merge(merged, origin, {"service": text.strip()}, "env:OTEL_SERVICE_NAME")
    text = _get(environ, "NGLOGGER_CONTEXT")
    if text is not None:
        _merge(merged, origin, _parse_context("NGLOGGER_CONTEXT", text), "env:NGLOGGER_CONTEXT")
    if "context" in explicit:
        argument = explicit["context"]
        if not isinstance(argument, Mapping) or not merged:
            return {}, ""  # the argument alone (Config validates it)
        _merge(merged, origin, argument, "argument")
    order = (
        "argument",
        "env:NGLOGGER_CONTEXT",
        "env:OTEL_SERVICE_NAME",
        "env:OTEL_RESOURCE_ATTRIBUTES",
    )
    present = set(origin.values())
    return merged, "+".join(source for source in order if source in present)


def _merge(
    merged: dict[str, object], origin: dict[str, str], new: Mapping[Any, object], source: str
) -> None:
    for key, value in new.items():
        merged[key] = value
        origin[key] = source


def _parse_context(name: str, text: str) -> dict[str, str]:
    result = _parse(name, text, parse_pairs)
    assert isinstance(result, dict)
    return result


_AT_MOST = re.compile(r"at most (\w+) \((\d+)\)")


def _translate(
    error: ConfigError,
    fields: tuple[str, ...],
    env_source: Mapping[str, str],
    environ: Mapping[str, str],
    explicit: Mapping[str, object],
) -> ConfigError:
    """Config's error, restated in terms of the variables the values came from.

    A relation broken by a default (``batch_max_bytes`` above a small
    ``NGLOGGER_BUFFER_BYTES``) blames the variable the user set, turned around.
    """
    name = env_source.get(error.setting)
    hint = _hint_of(error)
    relation = _AT_MOST.fullmatch(error.accepted)
    if (
        name is None
        and error.setting not in explicit
        and relation is not None
        and relation.group(1) in env_source
    ):
        other = env_source[relation.group(1)]
        limit = _VARIABLE_OF.get(error.setting, error.setting)
        accepted = f"at least {limit} ({error.value!r})"
        return ConfigError(other, mask_secret(other, environ[other]), accepted, hint)

    def rename(match: re.Match[str]) -> str:
        setting = match.group(1)
        if setting in env_source:
            return env_source[setting]
        return _VARIABLE_OF.get(setting, setting) if name is not None else setting

    underscored = re.compile(r"\b(" + "|".join(n for n in fields if "_" in n) + r")\b")
    accepted = underscored.sub(rename, error.accepted)
    if name is None:
        if accepted == error.accepted:
            return error
        return ConfigError(error.setting, error.value, accepted, hint)
    if accepted == error.accepted:  # a check on this value alone: say it in env terms
        accepted = KNOWN_VARIABLES[name].accepted
    if error.setting == "sinks":
        entry = f"entry {mask_secret(name, str(error.value))!r}"
        hint = f"{entry}: {hint}" if hint else entry
    return ConfigError(name, mask_secret(name, environ[name]), accepted, hint)


def _hint_of(error: ConfigError) -> str:
    hint = getattr(error, "hint", None)
    if isinstance(hint, str):
        return hint
    head = f"{error.setting}={error.value!r} is invalid; accepted: {error.accepted} ("
    message = str(error)
    if message.startswith(head) and message.endswith(")"):
        return message[len(head) : -1]
    return ""
