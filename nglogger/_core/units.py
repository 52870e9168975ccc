"""Parsing of sizes (``64MiB``) and durations (``500ms``) for settings."""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration", "parse_size"]

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "k": 1000,
    "kb": 1000,
    "ki": 1024,
    "kib": 1024,
    "m": 1000**2,
    "mb": 1000**2,
    "mi": 1024**2,
    "mib": 1024**2,
    "g": 1000**3,
    "gb": 1000**3,
    "gi": 1024**3,
    "gib": 1024**3,
    "t": 1000**4,
    "tb": 1000**4,
    "ti": 1024**4,
    "tib": 1024**4,
}
SIZE_ACCEPTED = "a byte count such as 1048576, 512KiB, 64MiB, 1GiB (or kB/MB/GB)"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|us|µs|ms|s|m|h)?\s*$", re.IGNORECASE)
_DURATION_UNITS = {
    None: 1.0,
    "ns": 1e-9,
    "us": 1e-6,
    "µs": 1e-6,
    "ms": 1e-3,
    "s": 1.0,
    "m": 60.0,
    "h": 3600.0,
}
DURATION_ACCEPTED = "a duration such as 0.5, 500ms, 2s, 1m (plain numbers are seconds)"


def parse_size(value: str | int) -> int:
    """``"64MiB"`` -> 67108864. Raises ``ValueError`` on anything else."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(value)
        return value
    match = _SIZE.match(value)
    if match is None:
        raise ValueError(value)
    number = float(match.group(1))
    unit = (match.group(2) or "").lower()
    if unit not in _SIZE_UNITS:
        raise ValueError(value)
    result = number * _SIZE_UNITS[unit]
    if not math.isfinite(result) or result != int(result):
        raise ValueError(value)
    return int(result)


def parse_duration(value: str | float) -> float:
    """``"500ms"`` -> 0.5 (seconds). Raises ``ValueError`` on anything else."""
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, (int, float)):
        if not math.isfinite(value) or value < 0:
            raise ValueError(value)
        return float(value)
    match = _DURATION.match(value)
    if match is None:
        raise ValueError(value)
    unit = match.group(2).lower() if match.group(2) else None
    return float(match.group(1)) * _DURATION_UNITS[unit]
