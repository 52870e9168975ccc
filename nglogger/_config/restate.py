"""Config's errors restated in terms of the environment variables the values came from.

``Config`` names settings (``batch_max_bytes``); a user who set
``NGLOGGER_BATCH_BYTES`` is told about that variable instead: its value (secrets
masked), what it accepts, and the other settings in the message by their variables.
A relation broken by a default (``batch_max_bytes`` above a small
``NGLOGGER_BUFFER_BYTES``) blames the variable the user set, turned around.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .._core.errors import ConfigError
from .secrets import mask_secret
from .variables import TABLE

__all__ = ["blamed_setting", "restate", "variables_in"]

_AT_MOST = re.compile(r"at most (\w+) \((\d+)\)")

#: Setting names in Config's messages that a variable's name replaces.
_UNDERSCORED = re.compile(r"\b(" + "|".join(n for n in TABLE.fields if "_" in n) + r")\b")


def restate(
    error: ConfigError,
    env_source: Mapping[str, str],
    environ: Mapping[str, str],
    explicit: Mapping[str, object],
) -> ConfigError:
    """Config's ``error``, restated in terms of the variables the values came from.

    ``env_source`` maps a setting to the variable its value came from.
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
        limit = TABLE.variable_of.get(error.setting, error.setting)
        accepted = f"at least {limit} ({error.value!r})"
        return ConfigError(other, mask_secret(other, environ[other]), accepted, hint)

    def rename(match: re.Match[str]) -> str:
        setting = match.group(1)
        if setting in env_source:
            return env_source[setting]
        return TABLE.variable_of.get(setting, setting) if name is not None else setting

    accepted = _UNDERSCORED.sub(rename, error.accepted)
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
        accepted = TABLE.variables[name].accepted
    if error.setting == "sinks":
        entry = f"entry {mask_secret(name, str(error.value))!r}"
        hint = f"{entry}: {hint}" if hint else entry
    return ConfigError(name, value, accepted, hint, reason=error.reason)


def blamed_setting(
    error: ConfigError, env_source: Mapping[str, str], explicit: Mapping[str, object]
) -> str | None:
    """The setting whose environment value ``error`` blames (None: an argument or a default)."""
    for setting, name in env_source.items():
        if setting not in explicit and error.setting in name.split("+env:"):
            return setting
    return None


def variables_in(error: ConfigError) -> list[str]:
    """The variable ``error`` names, if it names one."""
    return [error.setting] if error.setting in TABLE.variables else []


def _hint_of(error: ConfigError) -> str:
    hint = getattr(error, "hint", None)
    if isinstance(hint, str):
        return hint
    head = f"{error.setting}={error.value!r} is invalid; accepted: {error.accepted} ("
    message = str(error)
    if message.startswith(head) and message.endswith(")"):
        return message[len(head) : -1]
    return ""
