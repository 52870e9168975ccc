"""Level numbers and names (the stdlib ``logging`` numbering) and per-logger level rules.

``LevelRules`` answers "what is the level of logger ``name``?" for a configuration
with ``levels={"urllib3": "warning", "app.db": "debug"}``: the rule of the longest
dotted prefix of the name (``app`` covers ``app`` and ``app.db``, never ``apple``),
the global level otherwise. Loggers ask once, when they are created and when the
default pipeline is replaced or its levels change (``_logger.relevel``), never per call.
``parse_levels_file`` reads the levels file (``NGLOGGER_LEVELS_FILE``).
"""

from __future__ import annotations

from collections.abc import Mapping

from .errors import ConfigError

__all__ = [
    "ACCEPTED_LEVELS",
    "BASE_NAMES",
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "LEVELS_ACCEPTED",
    "LEVELS_FILE_ACCEPTED",
    "LEVELS_TEXT_ACCEPTED",
    "LEVEL_NAMES",
    "WARNING",
    "LevelRules",
    "check_logger_levels",
    "level_name",
    "optional_level",
    "parse_level",
    "parse_levels_file",
    "parse_logger_levels",
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


LEVELS_ACCEPTED = (
    "a mapping of logger-name prefixes to levels, e.g. {'urllib3': 'warning', 'app.db': 'debug'}"
    f" (levels: {ACCEPTED_LEVELS})"
)
LEVELS_TEXT_ACCEPTED = (
    "comma-separated prefix=level pairs such as urllib3=warning,app.db=debug "
    f"(levels: {ACCEPTED_LEVELS})"
)


def _prefix(name: object) -> str | None:
    """A logger-name prefix as given (stripped), or None if it is not one."""
    if not isinstance(name, str):
        return None
    text = name.strip()
    if not text or text.startswith(".") or text.endswith(".") or ".." in text:
        return None
    return text


def check_logger_levels(value: object, setting: str = "levels") -> dict[str, int]:
    """``{"urllib3": "warning"}`` -> ``{"urllib3": 30}``; a ConfigError names the bad entry."""
    if not isinstance(value, Mapping):
        raise ConfigError(setting, value, LEVELS_ACCEPTED)
    out: dict[str, int] = {}
    for name, level in value.items():
        prefix = _prefix(name)
        if prefix is None:
            raise ConfigError(
                setting, name, LEVELS_ACCEPTED, "a logger-name prefix such as 'app.db'"
            )
        try:
            out[prefix] = parse_level(level)
        except ValueError:
            raise ConfigError(
                setting, level, ACCEPTED_LEVELS, f"the level of logger prefix {prefix!r}"
            ) from None
    return out


def parse_logger_levels(text: str) -> dict[str, int]:
    """``NGLOGGER_LEVELS``: ``urllib3=warning,app.db=debug`` -> ``{"urllib3": 30, "app.db": 10}``.

    Raises ``ValueError`` saying which entry is wrong and why.
    """
    out: dict[str, int] = {}
    for number, item in enumerate(text.split(","), start=1):
        entry = item.strip()
        if not entry:
            continue
        name, sep, level = entry.partition("=")
        prefix = _prefix(name)
        if not sep or prefix is None:
            raise ValueError(f"entry {number} {entry!r} is not prefix=level")
        try:
            out[prefix] = parse_level(level)
        except ValueError:
            raise ValueError(
                f"entry {number} {entry!r}: {level.strip()!r} is not a level"
            ) from None
    return out


#: The names of a levels file's line that set the base level (``level``), not a rule.
BASE_NAMES = ("*", "root")

LEVELS_FILE_ACCEPTED = (
    "lines name=level such as app.db=debug (a logger-name prefix; *=level or root=level "
    f"sets the base level), # comments and blank lines (levels: {ACCEPTED_LEVELS})"
)


def parse_levels_file(text: str) -> tuple[dict[str, int], int | None]:
    """A levels file (``NGLOGGER_LEVELS_FILE``): its rules and its base level (None: not set).

    One ``name=level`` per line; ``#`` starts a comment; blank lines are skipped;
    ``*=level`` or ``root=level`` sets the base level. A name given twice is an error.
    Raises ``ValueError("line N: ...")`` for the first bad line.
    """
    rules: dict[str, int] = {}
    base: int | None = None
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        entry = raw.split("#", 1)[0].strip()
        if not entry:
            continue
        name, sep, level = entry.partition("=")
        key = name.strip()
        is_base = key in BASE_NAMES
        prefix = None if is_base else _prefix(name)
        if not sep or (prefix is None and not is_base):
            raise ValueError(f"line {number}: {entry!r} is not name=level")
        try:
            value = parse_level(level)
        except ValueError:
            raise ValueError(
                f"line {number}: {level.strip()!r} is not a level ({ACCEPTED_LEVELS})"
            ) from None
        slot = "*" if is_base else str(prefix)
        if slot in seen:
            raise ValueError(f"line {number}: {key!r} is already set on line {seen[slot]}")
        seen[slot] = number
        if is_base:
            base = value
        else:
            rules[str(prefix)] = value
    return rules, base


def optional_level(value: object, setting: str = "level") -> int | None:
    """A sink's ``level=``: None (every event) or a level name or number, checked."""
    if value is None:
        return None
    try:
        return parse_level(value)
    except ValueError:
        raise ConfigError(setting, value, f"None, or {ACCEPTED_LEVELS}") from None


class LevelRules:
    """Per-logger levels: the longest dotted prefix rule of a name, else ``default``.

    ``matched(name)`` is memoized (at most ``MEMO`` names; the memo starts over when
    full), so a name is resolved once however often it logs.
    """

    __slots__ = ("_memo", "default", "rules")

    MEMO = 4096

    def __init__(self, rules: Mapping[str, int], default: int) -> None:
        self.rules = dict(rules)
        self.default = default
        self._memo: dict[str, int | None] = {}

    def matched(self, name: str) -> int | None:
        """The level of the longest rule covering ``name``; None when no rule does."""
        memo = self._memo
        try:
            return memo[name]
        except KeyError:
            pass
        rules = self.rules
        found: int | None = None
        probe = str(name)
        while True:
            if probe in rules:
                found = rules[probe]
                break
            cut = probe.rfind(".")
            if cut < 0:
                break
            probe = probe[:cut]
        if len(memo) >= self.MEMO:
            memo.clear()
        memo[name] = found
        return found

    def level_of(self, name: str) -> int:
        """The effective level of logger ``name``."""
        found = self.matched(name) if self.rules else None
        return self.default if found is None else found
