"""Sampling: which events survive, per level and under a global rate limit.

Syntax (``NGLOGGER_SAMPLE`` or ``Sampling.parse``): comma-separated rules,
``level=probability`` (``debug=0.1`` keeps one debug event in ten, at random)
and at most one rate limit ``count/period`` (``100/s``, ``6000/m``, ``50/500ms``).
Levels not listed keep every event. The rate limit is one token bucket per
pipeline shared by every logger, applied after the per-level draw. Events
removed are counted as dropped ``sampled`` or ``rate_limited``.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .._core.errors import ConfigError
from .._core.levels import LEVEL_NAMES, level_name, parse_level
from .._core.reasons import DropReason
from .._core.units import parse_duration

__all__ = ["SAMPLE_TEXT_ACCEPTED", "Sampler", "Sampling"]

#: What ``NGLOGGER_SAMPLE`` accepts (the grammar above).
SAMPLE_TEXT_ACCEPTED = (
    "comma-separated level=probability rules (debug=0.1, probability 0 to 1) "
    "and at most one rate limit count/period (100/s, 6000/m, 50/500ms)"
)


def _items(text: str) -> Iterable[tuple[int, str]]:
    """Non-empty stripped comma items, numbered from 1 as written."""
    for number, item in enumerate(text.split(","), start=1):
        stripped = item.strip()
        if stripped:
            yield number, stripped


def _empty_levels() -> Mapping[int, float]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Sampling:
    """Which events survive sampling (syntax and meaning: see the module docstring).

    ``levels`` maps a named level number (10, 20, 30, 40, 50) to the probability
    that an event of that level is kept; ``limit`` events per ``period`` seconds
    is the optional global rate limit. ``str()`` gives the canonical text.
    """

    levels: Mapping[int, float] = field(default_factory=_empty_levels)
    limit: int | None = None
    period: float = 1.0

    def __post_init__(self) -> None:
        if not isinstance(self.levels, Mapping):
            raise ConfigError("sample", self.levels, "a mapping of level numbers to probabilities")
        for level, probability in self.levels.items():
            if level not in LEVEL_NAMES:
                raise ConfigError("sample", level, "the levels 10, 20, 30, 40, 50")
            if (
                isinstance(probability, bool)
                or not isinstance(probability, (int, float))
                or not 0.0 <= probability <= 1.0
            ):
                raise ConfigError("sample", probability, "a probability from 0 to 1")
        object.__setattr__(self, "levels", MappingProxyType(dict(sorted(self.levels.items()))))
        if self.limit is not None and (
            isinstance(self.limit, bool) or not isinstance(self.limit, int) or self.limit < 1
        ):
            raise ConfigError("sample", self.limit, "a rate limit count >= 1, or None")
        if (
            isinstance(self.period, bool)
            or not isinstance(self.period, (int, float))
            or not math.isfinite(self.period)
            or self.period <= 0
        ):
            raise ConfigError("sample", self.period, "a finite period of seconds > 0")

    @classmethod
    def parse(cls, text: str) -> Sampling:
        """Parse ``NGLOGGER_SAMPLE`` text; ``ValueError`` says which rule is wrong."""
        levels: dict[int, float] = {}
        limit: int | None = None
        period = 1.0
        for number, rule in _items(text):
            if "=" in rule:
                name, _, value = (part.strip() for part in rule.partition("="))
                level = _sample_level(name, number, rule)
                if level in levels:
                    raise ValueError(f"rule {number} {rule!r}: level {name!r} appears twice")
                levels[level] = _probability(value, number, rule)
            elif "/" in rule:
                if limit is not None:
                    raise ValueError(f"rule {number} {rule!r}: only one rate limit is allowed")
                limit, period = _rate(rule, number)
            else:
                raise ValueError(
                    f"rule {number} {rule!r}: expected level=probability or count/period"
                )
        return cls(levels=levels, limit=limit, period=period)

    def __str__(self) -> str:
        rules = [f"{level_name(level)}={_plain(p)}" for level, p in self.levels.items()]
        if self.limit is not None:
            units = {1.0: "s", 60.0: "m", 3600.0: "h"}
            rules.append(f"{self.limit}/{units.get(self.period, f'{_plain(self.period)}s')}")
        return ",".join(rules)


def _plain(number: float) -> str:
    """A float in positional notation that parses back exactly (1e-05 -> 0.00001)."""
    from decimal import Decimal

    text = format(Decimal(repr(float(number))), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


_PROBABILITY = re.compile(r"([0-9]+(\.[0-9]*)?|\.[0-9]+)")
_DIGITS = re.compile(r"[0-9]+")
_BARE_UNIT = re.compile(r"(ns|us|µs|ms|s|m|h)", re.IGNORECASE)


def _sample_level(name: str, number: int, rule: str) -> int:
    if name.isalpha():
        try:
            level = parse_level(name)
        except ValueError:
            pass
        else:
            if level in LEVEL_NAMES:
                return level
    raise ValueError(f"rule {number} {rule!r}: unknown level {name!r} (debug..critical)")


def _probability(value: str, number: int, rule: str) -> float:
    if _PROBABILITY.fullmatch(value) and 0.0 <= float(value) <= 1.0:
        return float(value)
    raise ValueError(f"rule {number} {rule!r}: probability must be a number from 0 to 1")


def _rate(rule: str, number: int) -> tuple[int, float]:
    count_text, _, period_text = (part.strip() for part in rule.partition("/"))
    if not _DIGITS.fullmatch(count_text) or int(count_text) < 1:
        raise ValueError(f"rule {number} {rule!r}: the count must be an integer >= 1")
    if _BARE_UNIT.fullmatch(period_text):
        period_text = f"1{period_text}"
    try:
        period = parse_duration(period_text)
    except ValueError:
        period = 0.0
    if not period > 0:
        raise ValueError(
            f"rule {number} {rule!r}: the period must be a duration > 0 (s, 10s, 500ms)"
        )
    return int(count_text), period


_LEVEL_BY_NAME = {name: number for number, name in LEVEL_NAMES.items()}


class Sampler:
    """Applies a :class:`Sampling` to events; thread-safe; clock and RNG injectable.

    ``keep(level_name)`` returns None to keep the event, or the drop reason.
    Worst-case footprint: a few floats (the token bucket).
    """

    __slots__ = (
        "_capacity",
        "_clock",
        "_last",
        "_levels",
        "_lock",
        "_period",
        "_rate",
        "_rng",
        "_tokens",
    )

    def __init__(
        self,
        sampling: Sampling,
        *,
        rng: Callable[[], float] = random.random,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._levels = {level_name(n): p for n, p in sampling.levels.items()}
        self._rng = rng
        self._clock = clock
        self._lock = threading.RLock()  # taken by log calls: re-entry never waits
        self._capacity = float(sampling.limit) if sampling.limit is not None else 0.0
        self._rate = self._capacity / sampling.period if sampling.limit is not None else 0.0
        self._period = sampling.period
        self._tokens = self._capacity
        self._last = clock()

    def keep(self, level: Any) -> DropReason | None:
        """None when the event is kept, else the reason it is dropped."""
        probability = self._levels.get(level)
        if probability is not None and (probability <= 0.0 or self._rng() >= probability):
            return "sampled"
        if self._capacity:
            with self._lock:
                now = self._clock()
                elapsed = now - self._last
                self._last = now
                if elapsed > 0:
                    self._tokens = min(self._capacity, self._tokens + elapsed * self._rate)
                if self._tokens < 1.0:
                    return "rate_limited"
                self._tokens -= 1.0
        return None
