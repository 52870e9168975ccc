"""How a setting is declared: once, on its ``Config`` field, with everything that lists it.

Each field of :class:`~nglogger.Config` (declared in ``nglogger._config.fields``) is
written ``name: type = setting(default, doc=..., env=..., check=...)``: its name, type
and default, the docs line of the README settings table, the environment variables
that feed it (name, what it does, what it accepts, the parser of its text) and the
check of a value given as an argument. From that one declaration come the environment
parser's tables (``nglogger._config.variables``), ``Config``'s per-value validation,
``nglogger config --variables`` and the README's settings and variables tables
(``nglogger config --markdown``; ``tests/test_docs.py`` keeps the README in sync).

The value grammars of the variables (counts, booleans, choices, sink lists, a Google
Cloud project id, a spool directory) are here too, as parsers ``text -> value``
raising ``ValueError``, with the texts saying what they accept.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from .._core.errors import ConfigError
from .._core.levels import level_name
from .._core.units import parse_duration
from .secrets import DEFAULT_REDACT_KEYS
from .values import items

__all__ = [
    "GCP_PROJECT_ACCEPTED",
    "KEY",
    "Check",
    "Spec",
    "Var",
    "at_least",
    "boolean",
    "choice",
    "gcp_project_id",
    "optional_boolean",
    "parse_bool",
    "parse_bool_or_auto",
    "parse_choice",
    "parse_count",
    "parse_gcp_project_id",
    "parse_interval",
    "parse_redact_keys",
    "parse_sinks",
    "parse_spool_directory",
    "positive_seconds",
    "redact_keys_with_defaults",
    "setting",
    "shown_default",
    "spec_of",
    "spool_directory",
]

T = TypeVar("T")

#: The key of a field's metadata that holds its :class:`Spec`.
KEY = "nglogger"

#: ``check(name, value)`` raises ConfigError naming the setting when ``value`` is invalid.
Check = Callable[[str, object], None]

GCP_PROJECT_ACCEPTED = "a Google Cloud project id such as my-project-123"
_SPOOL_DIR_ACCEPTED = "None, or a directory path such as /var/spool/myapp (a str or os.PathLike)"
#: Project ids (``my-project-123``, or domain-scoped ``example.com:my-project``).
_GCP_PROJECT = re.compile(r"[A-Za-z0-9][A-Za-z0-9.:_-]{0,99}")


@dataclass(frozen=True, slots=True)
class Var:
    """An environment variable feeding a setting.

    ``parse`` turns its text into the setting's value; None when a rule of its
    own reads it (``LOG_LEVEL``, the colour and context variables, the sink
    variables captured whole into ``sink_env``). ``explains``: the parser's
    ``ValueError`` text says what is wrong, and the error repeats it.
    """

    name: str
    description: str
    accepted: str
    parse: Callable[[str], object] | None = None
    explains: bool = False


@dataclass(frozen=True, slots=True)
class Spec:
    """Everything declared about one setting besides its name, type and default."""

    doc: str
    env: tuple[Var, ...] = ()
    check: Check | None = None
    unit: str = ""


@overload
def setting(
    default: T,
    *,
    doc: str,
    env: Iterable[Var] = (),
    check: Check | None = None,
    unit: str = "",
    repr: bool = True,
) -> T: ...


@overload
def setting(
    *,
    factory: Callable[[], T],
    doc: str,
    env: Iterable[Var] = (),
    check: Check | None = None,
    unit: str = "",
    repr: bool = True,
) -> T: ...


def setting(
    default: object = dataclasses.MISSING,
    *,
    doc: str,
    env: Iterable[Var] = (),
    check: Check | None = None,
    unit: str = "",
    factory: Callable[[], object] | None = None,
    repr: bool = True,  # noqa: A002 - the dataclasses.field keyword
) -> object:
    """A ``Config`` field with its declaration (see the module docstring)."""
    spec = Spec(doc, tuple(env), check, unit)
    if factory is not None:
        return dataclasses.field(default_factory=factory, repr=repr, metadata={KEY: spec})
    return dataclasses.field(default=default, repr=repr, metadata={KEY: spec})


def spec_of(field: dataclasses.Field[Any]) -> Spec:
    """The declaration of a ``Config`` field."""
    spec = field.metadata.get(KEY)
    if not isinstance(spec, Spec):
        raise TypeError(f"Config field {field.name!r} is not declared with setting()")
    return spec


# --------------------------------------------------------------------------- checks


def choice(*words: str) -> Check:
    """One of ``words`` exactly."""

    def check(name: str, value: object) -> None:
        if value not in words:
            raise ConfigError(name, value, ", ".join(words))

    return check


def at_least(minimum: int) -> Check:
    """An integer (not a bool) >= ``minimum``."""

    def check(name: str, value: object) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ConfigError(name, value, f"an integer >= {minimum}")

    return check


def positive_seconds(name: str, value: object) -> None:
    """A finite number of seconds > 0."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(name, value, "a finite number of seconds > 0")


def boolean(name: str, value: object) -> None:
    """True or False."""
    if not isinstance(value, bool):
        raise ConfigError(name, value, "True or False")


def optional_boolean(name: str, value: object) -> None:
    """True, False or None (auto)."""
    if value is not None and not isinstance(value, bool):
        raise ConfigError(name, value, "True, False or None (auto)")


def gcp_project_id(name: str, value: object) -> None:
    """None or a Google Cloud project id."""
    if value is not None and (not isinstance(value, str) or not _GCP_PROJECT.fullmatch(value)):
        raise ConfigError(name, value, f"None or {GCP_PROJECT_ACCEPTED}")


def spool_directory(name: str, value: object) -> None:
    """None or a non-blank path (a ``PathLike`` is turned into its text before the check)."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(name, value, _SPOOL_DIR_ACCEPTED)


# --------------------------------------------------------------------------- parsers


def parse_choice(*accepted: str) -> Callable[[str], str]:
    """A parser accepting ``accepted`` words in any case."""

    def parse(text: str) -> str:
        value = text.strip().lower()
        if value not in accepted:
            raise ValueError(text)
        return value

    return parse


_INTEGER = re.compile(r"[0-9]+(_[0-9]+)*")
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


def parse_interval(text: str) -> float:
    """A duration, where 0 (or "off") disables the periodic report."""
    if text.strip().lower() in ("0", "off", "false", "no"):
        return 0.0
    return parse_duration(text)


def parse_count(text: str) -> int:
    """A plain non-negative integer (``1000``, ``1_000``)."""
    if not _INTEGER.fullmatch(text.strip()):
        raise ValueError(text)
    return int(text)


def parse_bool(text: str) -> bool:
    """1, 0, true, false, yes, no, on, off (any case)."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(text)


def parse_bool_or_auto(text: str) -> bool | None:
    """A boolean, or ``auto`` (None)."""
    return None if text.strip().lower() == "auto" else parse_bool(text)


def parse_sinks(text: str) -> tuple[str, ...]:
    """Comma-separated sink URIs (at least one)."""
    uris = tuple(item for _, item in items(text))
    if not uris:
        raise ValueError("no sink URI (use null to discard events)")
    return uris


def parse_gcp_project_id(text: str) -> str:
    """A Google Cloud project id, stripped."""
    value = text.strip()
    if not _GCP_PROJECT.fullmatch(value):
        raise ValueError(text)
    return value


def parse_spool_directory(text: str) -> str | None:
    """A directory path, stripped."""
    text = text.strip()
    return text or None


def parse_redact_keys(text: str) -> tuple[str, ...]:
    """``"Password, api_key,password"`` -> ``("password", "api_key")``: case-folded, unique."""
    keys: dict[str, None] = {}
    for _, item in items(text):
        keys.setdefault(item.casefold(), None)
    return tuple(keys)


def redact_keys_with_defaults(text: str) -> tuple[str, ...]:
    """NGLOGGER_REDACT_KEYS adds to the default names (pass ``redact_keys=()`` to clear)."""
    return tuple(dict.fromkeys((*DEFAULT_REDACT_KEYS, *parse_redact_keys(text))))


# --------------------------------------------------------------------------- docs

_KiB = 1024


def shown_default(field: dataclasses.Field[Any]) -> str:
    """A field's default as the README settings table writes it."""
    spec = spec_of(field)
    if field.default_factory is not dataclasses.MISSING:
        value: object = field.default_factory()
    else:
        value = field.default
    if field.name == "level" and isinstance(value, int):
        return f"`{level_name(value)}`"
    if field.name == "redact_keys":
        return "the default names (see Redaction)"
    if spec.unit == "bytes" and isinstance(value, int):
        for size, suffix in ((_KiB * _KiB, "MiB"), (_KiB, "KiB")):
            if value % size == 0:
                return f"{value // size} {suffix}"
        return f"{value} B"
    if spec.unit == "chars" and isinstance(value, int):
        return f"{value // _KiB} Ki chars" if value % _KiB == 0 else f"{value:_}"
    if spec.unit == "s" and isinstance(value, (int, float)):
        return f"{value:g} s"
    if isinstance(value, Mapping):
        return "`{}`"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:_}".replace("_", " ")
    if isinstance(value, str):
        return f"`{value}`"
    if isinstance(value, Sequence):
        return f"`{tuple(value)!r}`".replace("'", '"')
    return f"`{value!r}`"
