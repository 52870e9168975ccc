"""Settings from environment variables: the one place nglogger reads ``os.environ``.

The precedence and merge rules. :class:`Resolution` reads the arguments and the
environment into the keyword arguments of ``Config`` and says where each value
came from; ``Config.from_env`` (``nglogger._config.config.resolve``) builds the
Config from them and hands back a value Config refuses. The variable table and the
reading of one variable are ``nglogger._config.variables``, Config's errors restated
per variable ``nglogger._config.restate``, the sinks' own variables
``nglogger._config.sinkenv``; ``nglogger._config.report`` has the shorthand functions.

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
- ``variables.describe_variables`` lists every variable (docs table, ``nglogger config``).

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
import warnings
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from .._core.errors import ConfigError, ConfigWarning, outside_stacklevel
from .._core.levels import parse_level
from .fields import ConfigFields
from .restate import blamed_setting, restate, variables_in
from .secrets import MASK, is_secret_name, mask_secret, shown_setting
from .sinkenv import captured
from .sinkuri import check_sink_uri
from .values import parse_pairs
from .variables import PREFIX, TABLE, parse, text_of

__all__ = ["LOGS_EXPORTERS", "Resolution", "color_choice"]

# Settings the environment parser understands but Config does not have yet: they
# are parsed, validated and reported in the sources, and passed to Config as
# soon as it has a field of that name.
_PENDING_DEFAULTS: Mapping[str, object] = MappingProxyType({})

#: The default sinks, which ``OTEL_LOGS_EXPORTER`` adds to.
_DEFAULT_SINKS = next(f.default for f in dataclasses.fields(ConfigFields) if f.name == "sinks")


class Resolution:
    """Settings from arguments > environment > defaults, on their way into a ``Config``.

    Made from ``environ`` (``None``: ``os.environ``) and the arguments the caller
    gave, it holds ``values``, the keyword arguments of ``Config``, and where each
    came from. ``Config`` is then built from ``values``; a value it refuses goes to
    :meth:`set_aside`, and the built Config to :meth:`finish`, which gives per
    setting ``(value, source)``.

    ``source`` is ``"default"``, ``"argument"`` or ``"env:NAME"``; ``context``,
    merged from several places, joins them with ``+`` (``"argument+env:OTEL_SERVICE_NAME"``).
    Values are safe to print (:func:`mask_secret`); the Config holds the real ones.
    Settings Config does not have yet are reported too.

    A bad or unknown *variable* raises :class:`ConfigError` when ``config_errors`` is
    ``"raise"``; with ``"warn"`` (the default) it is reported as a
    :class:`ConfigWarning` and ignored: its setting keeps its default (source
    ``"default (NAME ignored)"``). A bad *argument* always raises.
    """

    __slots__ = (
        "_context_source",
        "_env_source",
        "_environ",
        "_explicit",
        "_ignored",
        "_pending",
        "_problems",
        "_raises",
        "values",
    )

    def __init__(self, environ: Mapping[str, str] | None, explicit: Mapping[str, Any]) -> None:
        if environ is None:
            environ = os.environ
        self._environ = environ
        self._explicit = explicit
        _check_arguments(explicit)
        self._problems: list[ConfigError] = []
        self._raises = _raises(environ, explicit)
        for error in _unknown_names(environ):
            self._report(error)
        values: dict[str, Any] = {}
        env_source: dict[str, str] = {}  # setting -> variable it came from
        self._env_source = env_source

        for name, parser in TABLE.parsers.items():
            text = text_of(environ, name)
            if text is None:
                continue
            setting = TABLE.variables[name].field
            assert setting is not None
            try:
                values[setting] = parse(name, text, parser)
            except ConfigError as error:
                self._report(error)
                continue
            env_source[setting] = name
        if "level" not in values:
            text = text_of(environ, "LOG_LEVEL")
            if text is not None:
                try:
                    values["level"] = parse(
                        "LOG_LEVEL", text, parse_level, "set NGLOGGER_LEVEL to override"
                    )
                    env_source["level"] = "LOG_LEVEL"
                except ConfigError as error:
                    self._report(error)
        exporters = text_of(environ, "OTEL_LOGS_EXPORTER")
        if exporters is not None and "sinks" not in explicit:
            sinks = values.get("sinks", _DEFAULT_SINKS)
            try:
                added = _logs_exporter_sinks(exporters, sinks)
            except ConfigError as error:
                self._report(error)
                added = ()
            if added:
                values["sinks"] = (*sinks, *added)
                used = env_source.get("sinks")
                env_source["sinks"] = (
                    f"{used}+env:OTEL_LOGS_EXPORTER" if used else "OTEL_LOGS_EXPORTER"
                )
        colors = color_choice(environ)
        if colors is not None:
            values["colors"], env_source["colors"] = colors

        sink_env = captured(environ)
        if sink_env:
            values["sink_env"] = sink_env
            env_source["sink_env"] = "+".join(sorted(sink_env)) if len(sink_env) < 4 else "*"
        context, self._context_source = _context(environ, explicit, self._report)
        values.update(explicit)
        if self._context_source:
            values["context"] = context
        self._ignored: dict[str, str] = {}  # setting -> variable whose value was set aside
        self._pending = {
            setting: values.pop(setting, default)
            for setting, default in _PENDING_DEFAULTS.items()
            if setting not in TABLE.fields
        }
        self.values = values

    def _report(self, error: ConfigError) -> None:
        if self._raises:
            raise error
        self._problems.append(error)

    def _restate(self, error: ConfigError) -> ConfigError:
        return restate(error, self._env_source, self._environ, self._explicit)

    def set_aside(self, refused: ConfigError) -> None:
        """Config refused ``values``: raise its error restated, or leave out what caused it.

        The error is raised, in terms of the variable the value came from, when bad
        variables raise or when no variable is to blame (an argument, a default).
        Otherwise the variable is reported and set aside (or only the sink URIs of
        ``NGLOGGER_SINKS`` that do not parse), for Config to be built again.
        """
        translated = self._restate(refused)
        setting = blamed_setting(translated, self._env_source, self._explicit)
        if self._raises or setting is None:
            raise translated from None
        if setting == "sinks" and _drop_bad_sinks(
            self.values, refused, self._report, self._restate
        ):
            return  # the good entries of NGLOGGER_SINKS stay
        self._report(translated)  # set that variable aside and build again
        self._ignored[setting] = self._env_source.pop(setting)
        del self.values[setting]

    def finish(self, config: ConfigFields) -> dict[str, tuple[object, str]]:
        """Warn about the variables set aside; per setting of ``config``, ``(value, source)``."""
        sources: dict[str, str] = {}
        for setting in (*TABLE.fields, *_PENDING_DEFAULTS):
            if setting in self._explicit:
                sources[setting] = "argument"
            elif setting in self._env_source:
                sources[setting] = f"env:{self._env_source[setting]}"
            elif setting in self._ignored:
                sources[setting] = f"default ({self._ignored[setting]} ignored)"
            else:
                sources[setting] = "default"
        if self._context_source:
            sources["context"] = self._context_source
        for problem in self._problems:
            for name in variables_in(problem):
                fed = TABLE.variables[name].field if name in TABLE.variables else None
                if fed is not None and sources.get(fed) == "default":
                    sources[fed] = f"default ({name} ignored)"
        _warn(self._problems)

        report: dict[str, tuple[object, str]] = {}
        for setting in TABLE.fields:
            report[setting] = (shown_setting(setting, getattr(config, setting)), sources[setting])
        for setting, value in self._pending.items():
            report[setting] = (value, sources[setting])
        return report


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


def _raises(environ: Mapping[str, str], explicit: Mapping[str, object]) -> bool:
    """True when bad variables raise (``config_errors="raise"``), read before anything else."""
    if "config_errors" in explicit:
        return explicit["config_errors"] == "raise"  # Config checks the word itself
    name = "NGLOGGER_CONFIG_ERRORS"
    text = text_of(environ, name)
    if text is None or name not in TABLE.parsers:
        return False
    try:
        return parse(name, text, TABLE.parsers[name]) == "raise"
    except ConfigError:
        return False  # the switch itself is bad: the default (warn) applies, and says so


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


def _close_matches(word: str, known: Sequence[str]) -> list[str]:
    """The closest known name, for a "did you mean" hint (difflib loads only on a mistake)."""
    import difflib

    return difflib.get_close_matches(word, known, n=1)


def _check_arguments(explicit: Mapping[str, object]) -> None:
    known = (*TABLE.fields, *_PENDING_DEFAULTS)
    for name in explicit:
        if name not in known:
            close = _close_matches(name, known)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise TypeError(f"unexpected keyword argument {name!r}{hint}")


def _unknown_names(environ: Mapping[str, str]) -> list[ConfigError]:
    """One error per ``NGLOGGER_*`` name nglogger does not know, with the closest known name.

    The value is shown unless the name, or the name it is closest to, is a secret's
    (a misspelled ``NGLOGGER_HTTP_HEADRS`` may hold credentials).
    """
    known = [name for name in TABLE.variables if name.startswith(PREFIX)]
    unknown = sorted(
        name for name in environ if name.upper().startswith(PREFIX) and name not in TABLE.variables
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
    environ: Mapping[str, str],
    explicit: Mapping[str, object],
    report: Callable[[ConfigError], None],
) -> tuple[dict[str, object], str]:
    """The merged context and its source ("" when nothing sets it).

    A variable that does not parse is reported and left out of the merge.
    """
    origin: dict[str, str] = {}  # key -> source
    merged: dict[str, object] = {}
    text = text_of(environ, "OTEL_RESOURCE_ATTRIBUTES")
    attributes = _parse_context("OTEL_RESOURCE_ATTRIBUTES", text, report)
    if attributes is not None:
        if "service.name" in attributes:
            attributes["service"] = attributes.pop("service.name")
        _merge(merged, origin, attributes, "env:OTEL_RESOURCE_ATTRIBUTES")
    text = text_of(environ, "OTEL_SERVICE_NAME")
    if text is not None:
        _merge(merged, origin, {"service": text.strip()}, "env:OTEL_SERVICE_NAME")
    text = text_of(environ, "NGLOGGER_CONTEXT")
    parsed = _parse_context("NGLOGGER_CONTEXT", text, report)
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
    name: str, text: str | None, report: Callable[[ConfigError], None]
) -> dict[str, str] | None:
    if text is None:
        return None
    try:
        result = parse(name, text, parse_pairs)
    except ConfigError as error:
        report(error)
        return None
    assert isinstance(result, dict)
    return result
