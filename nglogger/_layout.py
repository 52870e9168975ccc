"""The event's byte layout and the reserved-key rule: one home for both.

Every event nglogger writes starts with the same four keys, in this order, holding
the logger's own values::

    {"timestamp":"2026-11-26T13:47:50.800619Z","level":"info","logger":"app","message":"..."

then the static context, the bound context, the contextvars context and the call's
fields. The timestamp is always RFC 3339 UTC with six fraction digits (27 bytes), so
sinks can read it and the level straight from the bytes (``TIMESTAMP_OPEN`` ...).

A field named like a reserved key is kept with a trailing underscore (``level`` ->
``level_``), and a renamed field never overwrites another one (``level`` and
``level_`` given together become ``level_`` and ``level__``): :func:`rename_reserved`
for one name, :func:`renamed_fields` for a call's fields.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "FALLBACK_KEY",
    "LEVEL_OPEN",
    "LEVEL_START",
    "RESERVED",
    "TIMESTAMP_END",
    "TIMESTAMP_OPEN",
    "TRUNCATED_KEY",
    "free_name",
    "rename_reserved",
    "renamed_fields",
]

#: Markers of the fallbacks an event went through (see ``_encode``).
FALLBACK_KEY = "nglogger_fallback"
#: What an oversize event says about the values it lost.
TRUNCATED_KEY = "nglogger_truncated"
#: Keys only nglogger writes; a caller's field of that name is renamed.
RESERVED = frozenset({"timestamp", "level", "logger", "message", FALLBACK_KEY})

#: ``{"timestamp":"`` then 27 bytes of RFC 3339 UTC, then ``","level":"``.
TIMESTAMP_OPEN = b'{"timestamp":"'
TIMESTAMP_END = len(TIMESTAMP_OPEN) + 27
LEVEL_OPEN = b'","level":"'
LEVEL_START = TIMESTAMP_END + len(LEVEL_OPEN)


def rename_reserved(key: str) -> str:
    """``"level"`` -> ``"level_"``; any other name as it is."""
    return f"{key}_" if key in RESERVED else key


def free_name(name: str, *taken: Mapping[str, Any]) -> str:
    """``name`` with underscores appended until none of ``taken`` uses it."""
    while any(name in names for names in taken):
        name = f"{name}_"
    return name


def renamed_fields(fields: Mapping[str, Any], skip: frozenset[str] = frozenset()) -> dict[str, Any]:
    """``fields`` with reserved names renamed, never overwriting another field.

    Names in ``skip`` are left out (the stdlib handler's standard record attributes).
    """
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in skip:
            continue
        if key in RESERVED or key in out:
            out[free_name(f"{key}_", out, fields)] = value
        else:
            out[key] = value
    return out
