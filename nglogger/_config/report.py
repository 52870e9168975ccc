"""Configuration from the environment, as functions (the parser is ``nglogger._config.environ``).

``config_from_env(environ, **arguments)`` builds the frozen :class:`Config`;
``resolve_with_sources`` also says where each value came from (for
``nglogger config``), and ``describe_otel`` adds the resolved OpenTelemetry
exporter settings to that report. ``settings_table`` and ``variables_table``
write the README's tables from the settings' declarations.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from .._core.errors import ConfigError
from .config import Config, resolve
from .declare import parse_redact_keys, shown_default, spec_of
from .environ import color_choice
from .memory import resolve_memory_limit
from .otlp import resolve_for_uri
from .sampling import Sampling
from .secrets import MASK, is_secret_name, mask_secret, safe_url_text
from .sinkenv import SINK_ENV_NAMES, SINK_ENV_PREFIXES
from .sinkuri import OtlpOptions, parse_otlp_uri
from .variables import PREFIX, TABLE, Variable, describe_variables

__all__ = [
    "KNOWN_VARIABLES",
    "MASK",
    "PREFIX",
    "SINK_ENV_NAMES",
    "SINK_ENV_PREFIXES",
    "Sampling",
    "Variable",
    "color_choice",
    "config_from_env",
    "describe_memory",
    "describe_otel",
    "describe_variables",
    "is_secret_name",
    "mask_secret",
    "parse_redact_keys",
    "resolve_with_sources",
    "settings_table",
    "variables_table",
]


#: Every variable nglogger reads: name -> (setting, what it does, what it accepts), in
#: documentation order; generated from the declarations of Config's fields.
KNOWN_VARIABLES: Mapping[str, Variable] = TABLE.variables


#: Settings left out of the README settings table (documented with their variables).
_UNLISTED = frozenset({"sink_env"})


def settings_table() -> str:
    """The README's settings table (Markdown), from the declarations of Config's fields."""
    rows = ["| setting | default | meaning |", "|---|---|---|"]
    rows += [
        f"| `{f.name}` | {shown_default(f)} | {spec_of(f).doc} |"
        for f in dataclasses.fields(Config)
        if f.name not in _UNLISTED
    ]
    return "\n".join(rows) + "\n"


def variables_table() -> str:
    """The README's environment variables table (Markdown), from the same declarations."""
    rows = ["| variable | what it does | accepted |", "|---|---|---|"]
    rows += [f"| `{name}` | {what} | {accepted} |" for name, what, accepted in describe_variables()]
    return "\n".join(rows) + "\n"


def config_from_env(environ: Mapping[str, str] | None = None, /, **explicit: Any) -> Config:
    """The Config from keyword arguments > environment > defaults (``Config.from_env``).

    ``environ=None`` reads ``os.environ``. Pass only the arguments the caller
    actually gave: ``colors=None`` is a value.
    """
    return Config.from_env(environ, **explicit)


def resolve_with_sources(
    environ: Mapping[str, str], /, **explicit: Any
) -> tuple[Config, dict[str, tuple[object, str]]]:
    """The Config and, per setting, ``(value, source)``.

    ``source`` is ``"default"``, ``"argument"`` or ``"env:NAME"``; ``context``,
    merged from several places, joins them with ``+`` (``"argument+env:OTEL_SERVICE_NAME"``).
    Values are safe to print (:func:`mask_secret`); the Config holds the real ones.
    """
    return resolve(environ, **explicit)


def describe_memory(config: Config) -> dict[str, tuple[object, str]]:
    """``memory_limit`` as it is in force, for ``nglogger config``: bytes (or ``off``) and
    where it came from (``auto: 90% of <memory.max> in <file>``, ``memory_limit``)."""
    try:
        resolved = resolve_memory_limit(config.memory_limit)
    except ValueError as error:  # Config checked it: cannot happen
        return {"memory_limit.resolved": (str(error), "error")}
    shown: object = "off" if resolved.limit is None else resolved.limit
    return {"memory_limit.resolved": (shown, resolved.source)}


def describe_otel(config: Config) -> dict[str, tuple[object, str]] | None:
    """The resolved OTel settings for ``nglogger config``, or None when nothing is OTel.

    Shown when a sink is ``otlp...`` or any ``OTEL_*`` variable is set. A bad
    setting raises ConfigError when an otlp sink is configured, and is shown as
    ``otel.error`` otherwise (the variables may be meant for another exporter).
    """
    uris = [s for s in config.sinks if isinstance(s, str) and s.strip().startswith("otlp")]
    if not uris and not any(name.startswith("OTEL_") for name in config.sink_env):
        return None
    url, options = "", OtlpOptions()
    try:
        if uris:
            url, options = parse_otlp_uri(uris[0])
        settings = resolve_for_uri(config.sink_env, url, options, config.context)
    except ConfigError as error:
        if uris:
            raise
        return {"otel.error": (str(error), "env")}
    rows = settings.describe()
    if uris and url:
        rows["otel.endpoint"] = (safe_url_text(settings.endpoint), "sinks")
    return rows
