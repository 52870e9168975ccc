"""Levels at runtime: a pipeline's levels replaced while it runs, and the levels file.

``apply_levels`` replaces a pipeline's base level and per-logger rules and, for the
default pipeline, rewrites every live logger's level cell (``_logger.relevel``, under
its lock: a log call still reads one cell) and runs the hooks registered with
``follow_levels`` (the package registers the stdlib loggers ``install()`` set levels
on). ``nglogger.set_levels`` and the levels file both go through it.

``LevelsFile`` is ``NGLOGGER_LEVELS_FILE``: read when the pipeline is built, then
checked by the batcher's tick at most once a second (one ``os.stat`` of the path,
following symlinks: a Kubernetes ConfigMap update swaps a symlink, so the device,
inode, size and modification time are compared). A changed file is read whole and
parsed whole (``_core.levels.parse_levels_file``): its rules laid over the configured
``levels``, its ``*=level`` (or ``root=level``) in place of ``level``. A bad line, an
unreadable or missing file keeps the levels in force entirely and says so once per
change of the file on stderr (``_core.notice``).
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from .._core import notice as _notice
from .._core.errors import ConfigError, ConfigWarning, outside_stacklevel
from .._core.forks import in_child
from .._core.levels import LEVELS_FILE_ACCEPTED, LevelRules, parse_levels_file
from .._event import target as _target
from .._event.logger import relevel

__all__ = ["LevelsFile", "apply_levels", "follow_levels"]

#: Seconds between two looks at the file (at most; the batcher's tick may be slower).
POLL = 1.0
#: A levels file larger than this is refused (it is a list of logger names).
MAX_BYTES = 1024 * 1024

#: Called with the previous base level after the default pipeline's levels changed.
_HOOKS: list[Callable[[int], None]] = []
_lock = threading.RLock()  # one change at a time: set_levels and the batcher's reload


@in_child
def _reset_lock_in_child() -> None:
    global _lock
    _lock = threading.RLock()


class Leveled(Protocol):
    """What ``apply_levels`` changes of a pipeline."""

    min_level: int
    level_rules: LevelRules | None


def follow_levels(hook: Callable[[int], None]) -> None:
    """Call ``hook(previous_base_level)`` after each change of the default pipeline's levels."""
    if hook not in _HOOKS:
        _HOOKS.append(hook)


def apply_levels(pipeline: Leveled, rules: Mapping[str, int], base: int) -> None:
    """Give ``pipeline`` these rules and base level; loggers follow if it is the default one."""
    with _lock:
        previous = pipeline.min_level
        pipeline.level_rules = LevelRules(rules, base) if rules else None
        pipeline.min_level = base
        current: object = _target.current
        if current is not pipeline:
            return
        relevel()  # every live logger's cell, under the loggers' lock
        for hook in _HOOKS:
            _run(hook, previous)


def _run(hook: Callable[[int], None], previous: int) -> None:
    try:
        hook(previous)
    except Exception:  # the stdlib's loggers must not stop the change
        pass


#: What ``os.stat`` says of the file: (device, inode, size, mtime in ns); None: missing.
_Seen = tuple[int, int, int, int] | None


class LevelsFile:
    """One levels file: its path, the configured levels it is laid over, what was seen last."""

    __slots__ = ("_file", "_seen", "due", "level", "levels", "path")

    def __init__(self, path: str, levels: Mapping[str, int], level: int) -> None:
        self.path = path
        self._file = Path(path)
        self.levels = dict(levels)  # the configured ones (``levels``)
        self.level = level  # the configured base (``level``)
        #: When the batcher may look at the file next (monotonic seconds).
        self.due = 0.0
        self._seen: _Seen | str = "never"

    def _stat(self) -> tuple[_Seen, str]:
        try:
            st = self._file.stat()  # follows symlinks: a ConfigMap's swap is a change
        except OSError as exc:
            return None, exc.strerror or type(exc).__name__
        return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns), ""

    def _read(self) -> tuple[dict[str, int], int]:
        """The file's levels laid over the configured ones; ValueError says what is wrong."""
        try:
            with self._file.open("rb") as file:
                data = file.read(MAX_BYTES + 1)
        except OSError as exc:
            raise ValueError(f"cannot be read ({exc.strerror or type(exc).__name__})") from None
        if len(data) > MAX_BYTES:
            raise ValueError(f"larger than {MAX_BYTES} bytes")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 (byte {exc.start})") from None
        rules, base = parse_levels_file(text)
        return {**self.levels, **rules}, self.level if base is None else base

    def first(self, *, strict: bool) -> tuple[dict[str, int], int] | None:
        """At start: the file's levels; None (with a ConfigWarning) when missing or bad.

        ``strict`` (``config_errors="raise"``): a bad file raises ConfigError instead.
        A missing file is a warning either way: it is applied when it appears.
        """
        seen, why = self._stat()
        self._seen = seen
        if seen is None:
            warnings.warn(
                f"levels_file {self.path!r}: missing ({why}); the configured levels apply "
                "until it appears",
                ConfigWarning,
                stacklevel=outside_stacklevel(),
            )
            return None
        try:
            return self._read()
        except ValueError as exc:
            if strict:
                raise ConfigError(
                    "levels_file", self.path, LEVELS_FILE_ACCEPTED, reason=str(exc)
                ) from None
            warnings.warn(
                f"levels_file {self.path!r}: {exc}; the configured levels apply "
                "(NGLOGGER_CONFIG_ERRORS=raise: an error)",
                ConfigWarning,
                stacklevel=outside_stacklevel(),
            )
            return None

    def check(self, pipeline: Leveled, now: float) -> None:
        """From the batcher's tick: apply the file if it changed since the last look."""
        self.due = now + POLL
        seen, why = self._stat()
        if seen == self._seen:
            return
        self._seen = seen
        if seen is None:
            _notice.warn(f"levels file {self.path}: missing ({why}); the levels in force are kept")
            return
        try:
            rules, base = self._read()
        except ValueError as exc:
            _notice.warn(
                f"levels file {self.path}: {exc}; nothing of it is applied, "
                "the levels in force are kept"
            )
            return
        apply_levels(pipeline, rules, base)
