"""Who holds a spool directory: one process (``flock`` on its ``lock`` file), one pipeline.

A process takes a slot directory by ``flock``-ing its ``lock`` file (which then holds the
process's pid, shown when another process is refused). Within the process, a registry
(:data:`HELD`) says which pipeline's spool holds each directory, so a pipeline built
by ``configure()`` while the previous one still shuts down waits for it instead of
being refused; the registry is new in a forked child (the parent's condition may
have been held at the fork, and the child holds nothing).
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Any

from .._core.errors import ConfigError
from .._core.forks import in_child

__all__ = ["HELD", "SpoolLockedError", "held_here", "take_file_lock"]


class SpoolLockedError(ConfigError):
    """Another process owns this spool directory (its lock file is locked)."""


class _Held:
    """The spool directories this process holds: real path -> the holding spool."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.dirs: dict[str, Any] = {}


HELD = _Held()


@in_child
def _reinit_after_fork() -> None:
    HELD.cond = threading.Condition()  # the parent's may have been held at fork
    HELD.dirs.clear()


def held_here(real: str) -> bool:
    """True when a spool of this process holds the directory at real path ``real``."""
    with HELD.cond:
        return real in HELD.dirs


def take_file_lock(directory: Path, shown: str) -> int:
    """``flock`` ``directory/lock`` for this process (its pid written in it); the open fd.

    :class:`SpoolLockedError` (naming the holder's pid) when another process holds it.
    """
    import fcntl

    fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        try:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
        except OSError:
            holder = "?"
        os.close(fd)
        raise SpoolLockedError(
            "spool_dir",
            shown,
            "a directory no other process uses (each process needs its own spool_dir)",
            f"locked by pid {holder}",
        ) from None
    except OSError:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
