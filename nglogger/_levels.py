"""Level numbers and names, shared with the stdlib ``logging`` numbering."""

from __future__ import annotations

__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "LEVEL_NAMES",
    "WARNING",
    "level_name",
    "parse_level",
]

DEBUG = 10
INFO = 20
WARNING = 30
ERROR = 40
CRITICAL = 50

LEVEL_NAMES: dict[int, str] = {
    DEBUG: "debug",
    INFO: "info",
    WARNING: "warning",
    ERROR: "error",
    CRITICAL: "critical",
}

_BY_NAME: dict[str, int] = {
    "debug": DEBUG,
    "info": INFO,
    "warning": WARNING,
    "warn": WARNING,
    "error": ERROR,
    "critical": CRITICAL,
    "fatal": CRITICAL,
}

ACCEPTED_LEVELS = "debug, info, warning, error, critical (any case) or an integer 0-100"


def level_name(level: int) -> str:
    """Lower-case name of a level; levels between names round down (15 -> debug)."""
    name = LEVEL_NAMES.get(level)
    if name is not None:
        return name
    if level < DEBUG:
        return "debug"
    best = DEBUG
    for number in LEVEL_NAMES:
        if number <= level:
            best = number
    return LEVEL_NAMES[best]


def parse_level(value: object) -> int:
    """Turn a level name or number into its number, or raise ``ValueError``."""
    if isinstance(value, bool):
        raise ValueError(f"invalid level {value!r}; accepted: {ACCEPTED_LEVELS}")
    if isinstance(value, int):
        if 0 <= value <= 100:
            return value
        raise ValueError(f"invalid level {value!r}; accepted: {ACCEPTED_LEVELS}")
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _BY_NAME:
            return _BY_NAME[text]
        if text.isdigit():
            return parse_level(int(text))
    raise ValueError(f"invalid level {value!r}; accepted: {ACCEPTED_LEVELS}")
