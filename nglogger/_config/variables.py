"""The environment variables nglogger reads, and how one variable's text is read.

The table (``TABLE``) is derived from the settings' declarations
(``nglogger._config.fields``): every variable with the setting it feeds, what it
does and what it accepts, its parser, and the variable an error about a setting
names. :func:`text_of` and :func:`parse` read one variable by the rules every
variable shares: an empty or all-whitespace value counts as unset, a parser's
``ValueError`` becomes a :class:`~nglogger.ConfigError` naming the variable, its
value (secrets masked) and what it accepts, and a duration given as a bare number
above :data:`BARE_SECONDS_MAX` is refused as ambiguous.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import NamedTuple

from .._core.errors import ConfigError
from .declare import spec_of
from .fields import ConfigFields
from .secrets import mask_secret

__all__ = [
    "BARE_SECONDS_MAX",
    "PREFIX",
    "TABLE",
    "Table",
    "Variable",
    "describe_variables",
    "parse",
    "text_of",
]

PREFIX = "NGLOGGER_"


class Variable(NamedTuple):
    """One environment variable: the setting it feeds, what it does, what it accepts."""

    field: str | None
    description: str
    accepted: str


@dataclass(frozen=True, slots=True)
class Table:
    """What the parser needs, derived from the settings' declarations."""

    fields: tuple[str, ...]
    variables: Mapping[str, Variable]
    parsers: Mapping[str, Callable[[str], object]]
    explained: frozenset[str]
    variable_of: Mapping[str, str]
    seconds: frozenset[str]  # duration variables, where a bare number means seconds


def _table() -> Table:
    fields = dataclasses.fields(ConfigFields)
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
    return Table(
        tuple(f.name for f in fields),
        MappingProxyType(variables),
        MappingProxyType(parsers),
        frozenset(explained),
        MappingProxyType(variable_of),
        frozenset(seconds),
    )


#: The variable table, parsers and names of the declared settings.
TABLE = _table()


def describe_variables() -> list[tuple[str, str, str]]:
    """``(name, description, accepted)`` for every variable, in documentation order."""
    return [(name, var.description, var.accepted) for name, var in TABLE.variables.items()]


def text_of(environ: Mapping[str, str], name: str) -> str | None:
    """The variable's text, or None when it is unset, empty or all whitespace."""
    value = environ.get(name)
    if value is None or not value.strip():
        return None
    return value


#: The largest number without a unit a duration variable takes as seconds: above it, a
#: bare number is more likely milliseconds (``NGLOGGER_FLUSH_INTERVAL=200``) and is refused.
BARE_SECONDS_MAX = 60.0

_BARE_NUMBER = re.compile(r"\s*\d+(\.\d+)?\s*")


def parse(name: str, text: str, parser: Callable[[str], object], hint: str = "") -> object:
    """``parser(text)``, its ``ValueError`` raised as a ConfigError naming the variable."""
    if name in TABLE.seconds and _BARE_NUMBER.fullmatch(text) and float(text) > BARE_SECONDS_MAX:
        number = text.strip()
        raise ConfigError(
            name,
            text,
            TABLE.variables[name].accepted,
            f"write {number}ms or {number}s; a number without a unit above "
            f"{BARE_SECONDS_MAX:g} is refused as ambiguous",
            reason=f"no unit: {number} seconds or {number} milliseconds?",
        )
    try:
        return parser(text)
    except ValueError as exc:
        if name in TABLE.explained and exc.args and not isinstance(exc, ConfigError):
            hint = str(exc.args[0])
        raise ConfigError(
            name, mask_secret(name, text), TABLE.variables[name].accepted, hint
        ) from None
