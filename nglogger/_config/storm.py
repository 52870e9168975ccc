"""The storm guard's settings: ``storm_limit`` (``"100/s"``) and ``storm_levels``.

The guard itself is ``nglogger._event.storm``; these are parsed with the configuration.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._core.errors import ConfigError
from .._core.levels import parse_level
from .._core.units import parse_duration

__all__ = ["STORM_LEVELS_ACCEPTED", "STORM_LIMIT_ACCEPTED", "StormLimit", "parse_storm_levels"]

#: What ``NGLOGGER_STORM_LIMIT`` accepts.
STORM_LIMIT_ACCEPTED = "count/period (100/s, 6000/m, 50/500ms) per call site; off or 0: off"
#: What ``NGLOGGER_STORM_LEVELS`` accepts.
STORM_LEVELS_ACCEPTED = "comma-separated level names (debug,info): the levels the guard applies to"

_RATE = re.compile(r"^\s*(\d+)\s*/\s*(\S+)\s*$")
_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class StormLimit:
    """``limit`` events per ``period`` seconds for each call site."""

    limit: int
    period: float = 1.0

    def __post_init__(self) -> None:
        if isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1:
            raise ConfigError("storm_limit", self.limit, "a count >= 1 per period")
        if not isinstance(self.period, (int, float)) or not 0 < self.period < float("inf"):
            raise ConfigError("storm_limit", self.period, "a finite period of seconds > 0")

    @classmethod
    def parse(cls, text: str) -> StormLimit | None:
        """``"100/s"``, ``"6000/m"``, ``"50/500ms"``; ``"off"`` or ``"0"``: None (off)."""
        stripped = text.strip().lower()
        if stripped in ("", "off", "0", "none", "false"):
            return None
        match = _RATE.match(stripped)
        if match is None:
            raise ValueError(f"{text!r} is not count/period (such as 100/s)")
        unit = match.group(2)
        period = _UNITS.get(unit)
        if period is None:
            period = parse_duration(unit)
        return cls(int(match.group(1)), float(period))

    def __str__(self) -> str:
        return f"{self.limit}/{self.period:g}s"


def parse_storm_levels(text: str) -> tuple[str, ...] | None:
    """``"debug,info"`` -> the level names (checked); empty: None (every level)."""
    names = tuple(part.strip().lower() for part in text.split(",") if part.strip())
    for name in names:
        parse_level(name)  # ValueError names the bad one
    return names or None
