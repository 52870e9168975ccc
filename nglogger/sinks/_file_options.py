"""The file sink's options, checked before anything is opened.

Every bad value raises a ``ConfigError`` naming the option, the value and what it
accepts (``resolve_sink`` restates it for a ``file://`` URI's query options). The
checks run in the order of :func:`check_options`' parameters, the first bad value
reported.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Final, Literal

from .._config.sinkuri import FsyncPolicy
from .._core.errors import ConfigError
from ._rotation import Period

__all__ = ["check_options"]

_FSYNC_POLICIES: Final = ("never", "batch", "interval")
_ROTATE: Final = ("daily", "hourly")
_COMPRESS: Final = ("gzip",)
_MAX_BACKUPS: Final = 1000


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_options(
    path: str | os.PathLike[str],
    *,
    max_bytes: int,
    backups: int | None,
    rotate: Period | None,
    compress: Literal["gzip"] | None,
    max_age: float | None,
    utc: bool,
    now: Callable[[], float],
    fsync: FsyncPolicy,
    fsync_interval: float,
    mode: int,
    name: str | None,
    clock: Callable[[], float],
) -> str:
    """``os.fspath(path)``, once every option of ``FileSink`` is valid."""
    try:
        fspath = os.fspath(path)
    except TypeError:
        raise ConfigError("path", path, "a non-empty str or os.PathLike[str]") from None
    if not isinstance(fspath, str) or not fspath:
        raise ConfigError("path", path, "a non-empty str or os.PathLike[str]")
    if not _is_int(max_bytes) or max_bytes < 0:
        raise ConfigError("max_bytes", max_bytes, "an int >= 0 (0 disables rotation)")
    if backups is not None and (not _is_int(backups) or not 0 <= backups <= _MAX_BACKUPS):
        raise ConfigError("backups", backups, f"an int from 0 to {_MAX_BACKUPS} or None")
    if rotate is not None and rotate not in _ROTATE:
        raise ConfigError("rotate", rotate, "'daily', 'hourly' or None")
    if compress is not None and compress not in _COMPRESS:
        raise ConfigError("compress", compress, "'gzip' or None")
    if max_age is not None and (
        not isinstance(max_age, (int, float))
        or isinstance(max_age, bool)
        or not math.isfinite(max_age)
        or max_age <= 0
    ):
        raise ConfigError("max_age", max_age, "a finite number of seconds > 0, or None")
    if not isinstance(utc, bool):
        raise ConfigError("utc", utc, "True or False")
    if not callable(now):
        raise ConfigError("now", now, "a callable returning epoch seconds as a float")
    if fsync not in _FSYNC_POLICIES:
        raise ConfigError("fsync", fsync, ", ".join(repr(p) for p in _FSYNC_POLICIES))
    if (
        not isinstance(fsync_interval, (int, float))
        or isinstance(fsync_interval, bool)
        or not math.isfinite(fsync_interval)
        or fsync_interval <= 0
    ):
        raise ConfigError("fsync_interval", fsync_interval, "a finite number of seconds > 0")
    if not _is_int(mode) or not 0 <= mode <= 0o7777:
        raise ConfigError("mode", mode, "permission bits, an int from 0 to 0o7777")
    if name is not None and (not isinstance(name, str) or not name):
        raise ConfigError("name", name, "a non-empty str or None")
    if not callable(clock):
        raise ConfigError("clock", clock, "a callable returning seconds as a float")
    return fspath
