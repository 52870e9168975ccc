"""Settings from environment variables: the one place nglogger reads ``os.environ``.

The variable table and parsers (derived from the settings' declarations on
``Config``, see ``nglogger._config.declare``) and the precedence rules.
``resolve(Config, environ, **arguments)`` builds the settings object and says
where each value came from; it is given ``Config`` rather than importing
it, so this module sits below ``nglogger._config.config`` (whose ``Config.from_env``
calls it). ``nglogger._config.report`` has the shorthand functions.

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
import os
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from .._core.errors import ConfigError, ConfigWarning, outside_stacklevel
from .._core.levels import parse_level
from .declare import parse_redact_keys, spec_of
from .sampling import Sampling
from .secrets import MASK, is_secret_name, mask_secret, shown_setting
from .sinkuri import check_sink_uri
from .values import parse_pairs

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    Built = TypeVar("Built", bound=DataclassInstance)

__all__ = [
    "MASK",
    "Sampling",
    "Variable",
    "color_choice",
    "describe_variables",
    "is_secret_name",
    "mask_secret",
    "parse_redact_keys",
    "resolve",
    "tables",
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


#: Prefixes of the variables captured whole into ``Config.sink_env`` for the sinks.
SINK_ENV_PREFIXES = ("DD_", "HONEYCOMB_", "OTEL_EXPORTER_OTLP_", "NGLOGGER_HTTP_", "LOKI_")
#: Single variables also captured for the sinks (the OTLP sink builds its Resource from them).
SINK_ENV_NAMES = frozenset({"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_LOGS_EXPORTER"})


@dataclass(frozen=True, slots=True)
class _Tables:
    """What the parser needs, derived from the settings' declarations (one per Config class)."""

    fields: tuple[str, ...]
    variables: Mapping[str, Variable]
    parsers: Mapping[str, Callable[[str], object]]
    explained: frozenset[str]
    variable_of: Mapping[str, str]
    seconds: frozenset[str]  # duration variables, where a bare number means seconds


_TABLES: dict[type[DataclassInstance], _Tables] = {}


def tables(build: type[DataclassInstance]) -> _Tables:
    """The variable table, parsers and names of ``build``'s declared settings (cached)."""
    cached = _TABLES.get(build)
    if cached is not None:
        return cached
    fields = dataclasses.fields(build)
    variables: dict[str, Variable] = {}
    parsers: dict[str, Callable[[str], object]] = {}
    explained: set[str] = set()
    seconds: set[str] = set()
    for f in fields:
        for var in spec_of(f).env:
            variables[var.name] = Variable(f.name, var.description, var.accepted)
            if var.parse is not None:
                parsers[var.name] = var.parse
            if var.explains:
                explained.add(var.name)
            if spec_of(f).unit == "s" and var.name.startswith(PREFIX):
                seconds.add(var.name)
    # The variable named in errors about a setting (a setting fed by several variables
    # is named by its NGLOGGER_ one).
    variable_of = {
        var.field: name
        for name, var in reversed(list(variables.items()))
        if var.field is not None and name.startswith(PREFIX)
    }
    made = _Tables(
        tuple(f.name for f in fields),
        MappingProxyType(variables),
        MappingProxyType(parsers),
        frozenset(explained),
        MappingProxyType(variable_of),
        frozenset(seconds),
    )
    _TABLES[build] = made
    return made


def describe_variables(build: type[DataclassInstance]) -> list[tuple[str, str, str]]:
    """``(name, description, accepted)`` for every variable, in documentation order."""
    return [(name, var.description, var.accepted) for name, var in tables(build).variables.items()]


# --------------------------------------------------------------------------- value parsers


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

    A bad or unknown *variable* raises :class:`ConfigError` when ``config_errors`` is
    ``"raise"``; with ``"warn"`` (the default) it is reported as a
    :class:`ConfigWarning` and ignored: its setting keeps its default (source
    ``"default (NAME ignored)"``). A bad *argument* always raises.
    """
    if environ is None:
        environ = os.environ
    table = tables(build)
    fields = table.fields
    _check_arguments(fields, explicit)
    problems: list[ConfigError] = []
    raises = _raises(table, environ, explicit)

    def report(error: ConfigError) -> None:
        if raises:
            raise error
        problems.append(error)

    for error in _unknown_names(table, environ):
        report(error)
    values: dict[str, Any] = {}
    env_source: dict[str, str] = {}  # setting -> variable it came from

    for name, parser in table.parsers.items():
        text = _get(environ, name)
        if text is None:
            continue
        setting = table.variables[name].field
        assert setting is not None
        try:
            values[setting] = _parse(table, name, text, parser)
        except ConfigError as error:
            report(error)
            continue
        env_source[setting] = name
    if "level" not in values:
        text = _get(environ, "LOG_LEVEL")
        if text is not None:
            try:
                values["level"] = _parse(
                    table, "LOG_LEVEL", text, parse_level, "set NGLOGGER_LEVEL to override"
                )
                env_source["level"] = "LOG_LEVEL"
            except ConfigError as error:
                report(error)
    exporters = _get(environ, "OTEL_LOGS_EXPORTER")
    if exporters is not None and "sinks" not in explicit:
        default = next(f.default for f in dataclasses.fields(build) if f.name == "sinks")
        sinks = values.get("sinks", default)
        try:
            added = _logs_exporter_sinks(exporters, sinks)
        except ConfigError as error:
            report(error)
            added = ()
        if added:
            values["sinks"] = (*sinks, *added)
            used = env_source.get("sinks")
            env_source["sinks"] = f"{used}+env:OTEL_LOGS_EXPORTER" if used else "OTEL_LOGS_EXPORTER"
    colors = color_choice(environ)
    if colors is not None:
        values["colors"], env_source["colors"] = colors

    sink_env = {
        k: v for k, v in environ.items() if k.startswith(SINK_ENV_PREFIXES) or k in SINK_ENV_NAMES
    }
    if sink_env:
        values["sink_env"] = sink_env
        env_source["sink_env"] = "+".join(sorted(sink_env)) if len(sink_env) < 4 else "*"
    context, context_source = _context(table, environ, explicit, report)
    values.update(explicit)
    if context_source:
        values["context"] = context
    ignored: dict[str, str] = {}  # setting -> variable whose value was set aside

    def translate(error: ConfigError) -> ConfigError:
        return _translate(error, table, env_source, environ, explicit)

    pending = {
        setting: values.pop(setting, default)
        for setting, default in _PENDING_DEFAULTS.items()
        if setting not in fields
    }
    while True:
        try:
            config = build(**values)
            break
        except ConfigError as failed:
            translated = _translate(failed, table, env_source, environ, explicit)
            setting = _env_setting_of(translated, env_source, explicit)
            if raises or setting is None:
                raise translated from None
            if setting == "sinks" and _drop_bad_sinks(values, failed, report, translate):
                continue  # the good entries of NGLOGGER_SINKS stay
            report(translated)  # set that variable aside and build again
            ignored[setting] = env_source.pop(setting)
            del values[setting]

    sources: dict[str, str] = {}
    for setting in (*fields, *_PENDING_DEFAULTS):
        if setting in explicit:
            sources[setting] = "argument"
        elif setting in env_source:
            sources[setting] = f"env:{env_source[setting]}"
        elif setting in ignored:
            sources[setting] = f"default ({ignored[setting]} ignored)"
        else:
            sources[setting] = "default"
    if context_source:
        sources["context"] = context_source
    for problem in problems:
        for name in _variables_in(problem, table):
            setting = table.variables[name].field if name in table.variables else None
            if setting is not None and sources.get(setting) == "default":
                sources[setting] = f"default ({name} ignored)"
    _warn(problems)

    report_: dict[str, tuple[object, str]] = {}
    for setting in fields:
        report_[setting] = (shown_setting(setting, getattr(config, setting)), sources[setting])
    for setting, value in pending.items():
        report_[setting] = (value, sources[setting])
    return config, report_


def color_choice(environ: Mapping[str, str] | None = None) -> tuple[bool, str] | None:
    """``(colors, variable)`` from ``NO_COLOR`` / ``FORCE_COLOR``, or None (auto: a TTY decides).

    ``NO_COLOR`` (any non-empty value) wins; ``FORCE_COLOR`` counts unless ``0``/``false``.
    Also read for the default pipeline nothing configured, so that ``NO_COLOR`` holds
    everywhere output can be coloured.
    """
    if environ is None:
        environ = os.environ
    if environ.get("NO_COLOR", ""):
        return False, "NO_COLOR"
    if environ.get("FORCE_COLOR", "").strip().lower() not in ("", "0", "false"):
        return True, "FORCE_COLOR"
    return None


def _drop_bad_sinks(
    values: dict[str, Any],
    failed: ConfigError,
    report: Callable[[ConfigError], None],
    translate: Callable[[ConfigError], ConfigError],
) -> bool:
    """Leave out the sink URIs that do not parse (each reported); False if none would be left."""
    sinks = values.get("sinks")
    if failed.setting != "sinks" or not isinstance(sinks, tuple):
        return False
    kept: list[object] = []
    bad: list[ConfigError] = []
    for spec in sinks:
        try:
            if isinstance(spec, str):
                check_sink_uri(spec)
        except ConfigError as invalid:
            bad.append(invalid)
            continue
        kept.append(spec)
    if not bad or not kept:
        return False
    for entry_error in bad:
        report(translate(entry_error))
    values["sinks"] = tuple(kept)
    return True


def _raises(table: _Tables, environ: Mapping[str, str], explicit: Mapping[str, object]) -> bool:
    """True when bad variables raise (``config_errors="raise"``), read before anything else."""
    if "config_errors" in explicit:
        return explicit["config_errors"] == "raise"  # Config checks the word itself
    name = "NGLOGGER_CONFIG_ERRORS"
    text = _get(environ, name)
    if text is None or name not in table.parsers:
        return False
    try:
        return _parse(table, name, text, table.parsers[name]) == "raise"
    except ConfigError:
        return False  # the switch itself is bad: the default (warn) applies, and says so


def _env_setting_of(
    error: ConfigError, env_source: Mapping[str, str], explicit: Mapping[str, object]
) -> str | None:
    """The setting whose environment value ``error`` blames (None: an argument or a default)."""
    for setting, name in env_source.items():
        if setting not in explicit and error.setting in name.split("+env:"):
            return setting
    return None


def _variables_in(error: ConfigError, table: _Tables) -> list[str]:
    return [error.setting] if error.setting in table.variables else []


def _warn(problems: Sequence[ConfigError]) -> None:
    """One ConfigWarning per bad variable, pointing at the caller outside nglogger."""
    if not problems:
        return
    level = outside_stacklevel()
    for error in problems:
        warnings.warn(
            f"{error}; ignored, the default applies (NGLOGGER_CONFIG_ERRORS=raise: an error)",
            ConfigWarning,
            stacklevel=level,
        )


#: ``OTEL_LOGS_EXPORTER`` values (the OpenTelemetry SDKs' names) -> the sink URI each adds.
LOGS_EXPORTERS: Mapping[str, str | None] = MappingProxyType(
    {"otlp": "otlp", "console": "stdout", "none": None}
)


def _logs_exporter_sinks(text: str, sinks: object) -> tuple[str, ...]:
    """The sinks ``OTEL_LOGS_EXPORTER`` adds to ``sinks`` (none already there twice).

    ``otlp`` adds the ``otlp`` sink (all from ``OTEL_EXPORTER_OTLP_*``) unless an otlp
    sink is configured, ``console`` adds ``stdout`` unless there, ``none`` adds
    nothing; several are comma-separated, as in the SDKs.
    """
    names = [word.strip().lower() for word in text.split(",") if word.strip()]
    unknown = [name for name in names if name not in LOGS_EXPORTERS]
    if unknown or (len(names) > 1 and "none" in names):
        raise ConfigError(
            "OTEL_LOGS_EXPORTER",
            text,
            "otlp, console or none (comma-separated; none alone)",
            "nglogger adds the otlp sink for otlp and stdout for console",
        )
    have = [s.strip() for s in sinks if isinstance(s, str)] if isinstance(sinks, Sequence) else []
    added: list[str] = []
    for name in names:
        uri = LOGS_EXPORTERS[name]
        if uri is None:
            continue
        present = any(s == uri or (uri == "otlp" and s.startswith("otlp+")) for s in have)
        if not present and uri not in added:
            added.append(uri)
    return tuple(added)


def _get(environ: Mapping[str, str], name: str) -> str | None:
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value


#: The largest number without a unit a duration variable takes as seconds: above it, a
#: bare number is more likely milliseconds (``NGLOGGER_FLUSH_INTERVAL=200``) and is refused.
BARE_SECONDS_MAX = 60.0

_BARE_NUMBER = re.compile(r"\s*\d+(\.\d+)?\s*")


def _parse(
    table: _Tables, name: str, text: str, parser: Callable[[str], object], hint: str = ""
) -> object:
    if name in table.seconds and _BARE_NUMBER.fullmatch(text) and float(text) > BARE_SECONDS_MAX:
        number = text.strip()
        raise ConfigError(
            name,
            text,
            table.variables[name].accepted,
            f"write {number}ms or {number}s; a number without a unit above "
            f"{BARE_SECONDS_MAX:g} is refused as ambiguous",
            reason=f"no unit: {number} seconds or {number} milliseconds?",
        )
    try:
        return parser(text)
    except ValueError as exc:
        if name in table.explained and exc.args and not isinstance(exc, ConfigError):
            hint = str(exc.args[0])
        raise ConfigError(
            name, mask_secret(name, text), table.variables[name].accepted, hint
        ) from None


def _close_matches(word: str, known: Sequence[str]) -> list[str]:
    """The closest known name, for a "did you mean" hint (difflib loads only on a mistake)."""
    import difflib

    return difflib.get_close_matches(word, known, n=1)


def _check_arguments(fields: tuple[str, ...], explicit: Mapping[str, object]) -> None:
    known = (*fields, *_PENDING_DEFAULTS)
    for name in explicit:
        if name not in known:
            close = _close_matches(name, known)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"unexpected keyword argument {name!r}{hint}")


def _unknown_names(table: _Tables, environ: Mapping[str, str]) -> list[ConfigError]:
    """One error per ``NGLOGGER_*`` name nglogger does not know, with the closest known name.

    The value is shown unless the name, or the name it is closest to, is a secret's
    (a misspelled ``NGLOGGER_HTTP_HEADRS`` may hold credentials).
    """
    known = [name for name in table.variables if name.startswith(PREFIX)]
    unknown = sorted(
        name for name in environ if name.upper().startswith(PREFIX) and name not in table.variables
    )
    errors: list[ConfigError] = []
    for name in unknown:
        suffix = name.upper().removeprefix(PREFIX)
        close = _close_matches(suffix, [k.removeprefix(PREFIX) for k in known])
        if close:
            accepted = f"a known {PREFIX} variable"
            hint = f"unknown variable; did you mean {PREFIX}{close[0]}?"
        else:
            accepted = f"a known {PREFIX} variable: {', '.join(sorted(known))}"
            hint = "unknown variable"
        secret = is_secret_name(name) or bool(close and is_secret_name(PREFIX + close[0]))
        value = MASK if secret else mask_secret(name, environ[name])
        errors.append(ConfigError(name, value, accepted, hint))
    return errors


def _context(
    table: _Tables,
    environ: Mapping[str, str],
    explicit: Mapping[str, object],
    report: Callable[[ConfigError], None],
) -> tuple[dict[str, object], str]:
    """The merged context and its source ("" when nothing sets it).

    A variable that does not parse is reported and left out of the merge.
    """
    origin: dict[str, str] = {}  # key -> source
    merged: dict[str, object] = {}
    text = _get(environ, "OTEL_RESOURCE_ATTRIBUTES")
    attributes = _parse_context(table, "OTEL_RESOURCE_ATTRIBUTES", text, report)
    if attributes is not None:
        if "service.name" in attributes:
            attributes["service"] = attributes.pop("service.name")
        _merge(merged, origin, attributes, "env:OTEL_RESOURCE_ATTRIBUTES")
    text = _get(environ, "OTEL_SERVICE_NAME")
    if text is not None:
        _merge(merged, origin, {"service": text.strip()}, "env:OTEL_SERVICE_NAME")
    text = _get(environ, "NGLOGGER_CONTEXT")
    parsed = _parse_context(table, "NGLOGGER_CONTEXT", text, report)
    if parsed is not None:
        _merge(merged, origin, parsed, "env:NGLOGGER_CONTEXT")
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


def _parse_context(
    table: _Tables, name: str, text: str | None, report: Callable[[ConfigError], None]
) -> dict[str, str] | None:
    if text is None:
        return None
    try:
        result = _parse(table, name, text, parse_pairs)
    except ConfigError as error:
        report(error)
        return None
    assert isinstance(result, dict)
    return result


_AT_MOST = re.compile(r"at most (\w+) \((\d+)\)")


def _translate(
    error: ConfigError,
    table: _Tables,
    env_source: Mapping[str, str],
    environ: Mapping[str, str],
    explicit: Mapping[str, object],
) -> ConfigError:
    """Config's error, restated in terms of the variables the values came from.

    A relation broken by a default (``batch_max_bytes`` above a small
    ``NGLOGGER_BUFFER_BYTES``) blames the variable the user set, turned around.
    """
    name = env_source.get(error.setting)
    if name is not None:
        name = name.split("+env:")[0]  # sinks from NGLOGGER_SINKS and OTEL_LOGS_EXPORTER
    hint = _hint_of(error)
    relation = _AT_MOST.fullmatch(error.accepted)
    if (
        name is None
        and error.setting not in explicit
        and relation is not None
        and relation.group(1) in env_source
    ):
        other = env_source[relation.group(1)]
        limit = table.variable_of.get(error.setting, error.setting)
        accepted = f"at least {limit} ({error.value!r})"
        return ConfigError(other, mask_secret(other, environ[other]), accepted, hint)

    def rename(match: re.Match[str]) -> str:
        setting = match.group(1)
        if setting in env_source:
            return env_source[setting]
        return table.variable_of.get(setting, setting) if name is not None else setting

    underscored = re.compile(r"\b(" + "|".join(n for n in table.fields if "_" in n) + r")\b")
    accepted = underscored.sub(rename, error.accepted)
    if name is None:
        if accepted == error.accepted:
            return error
        return ConfigError(error.setting, error.value, accepted, hint, reason=error.reason)
    value = mask_secret(name, environ[name])
    if error.setting == "sinks" and error.reason:  # the entry, what is wrong, what it accepts
        entry = mask_secret(name, str(error.value))
        several = len([item for item in environ[name].split(",") if item.strip()]) > 1
        reason = f"entry {entry!r}: {error.reason}" if several else error.reason
        return ConfigError(name, value, error.accepted, hint, reason=reason)
    if accepted == error.accepted:  # a check on this value alone: say it in env terms
        accepted = table.variables[name].accepted
    if error.setting == "sinks":
        entry = f"entry {mask_secret(name, str(error.value))!r}"
        hint = f"{entry}: {hint}" if hint else entry
    return ConfigError(name, value, accepted, hint, reason=error.reason)


def _hint_of(error: ConfigError) -> str:
    hint = getattr(error, "hint", None)
    if isinstance(hint, str):
        return hint
    head = f"{error.setting}={error.value!r} is invalid; accepted: {error.accepted} ("
    message = str(error)
    if message.startswith(head) and message.endswith(")"):
        return message[len(head) : -1]
    return ""
