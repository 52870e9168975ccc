"""Spool slots: the directories of one sink's spool that processes take one each.

Each process (gunicorn's master and every worker) takes the first of a sink's
:data:`SLOTS` slot directories (``<dir>``, ``<dir>.1``, ...) that no other process
holds (each is ``flock``-ed by its holder), replaying what a process that is gone
left there; :func:`orphaned_slots` names the slots left with events that nobody holds.
"""

from __future__ import annotations

import os
import re
import threading
import zlib
from pathlib import Path
from typing import Any

from .._core import notice as _notice
from .._core.errors import ConfigError
from .lock import SpoolLockedError, held_here
from .store import Spool

__all__ = [
    "ORPHAN_GRACE",
    "SLOTS",
    "OrphanReport",
    "orphaned_slots",
    "spool_path",
    "spools_for",
    "unusable_spool_dir",
]


def spool_path(spool_dir: str, sink_name: str) -> str:
    """The sink's own directory under ``spool_dir``: its name made safe, plus a checksum."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", sink_name).strip("._")[:80] or "sink"
    return str(Path(spool_dir) / f"{safe}-{zlib.crc32(sink_name.encode()):08x}")


SLOTS = 64
"""Processes that can each hold a spool of one sink under one ``spool_dir`` at once."""


def spools_for(
    config: Any, names: list[str], wanted: list[bool] | None = None
) -> list[Spool | None]:
    """One spool per sink when ``config.spool_dir`` is set (None for a sink whose disk fails).

    ``wanted``: per sink, whether it takes a spool (stdout, stderr and file sinks do not:
    their writes are local, a spool would not outlast what makes them fail).

    Each process takes the first of the sink's :data:`SLOTS` slot directories no other
    process holds. When every slot is held, :class:`SpoolLockedError` is raised with
    ``config_errors="raise"`` (nothing is kept locked) and is a warning otherwise; so is
    a directory that cannot be used (read-only, not a directory, no space): that sink
    then runs with its memory queue only.
    """
    if config.spool_dir is None:
        return [None] * len(names)
    spools: list[Spool | None] = []
    try:
        for index, name in enumerate(names):
            if wanted is not None and not wanted[index]:
                spools.append(None)
                continue
            path = spool_path(config.spool_dir, name)
            try:
                spools.append(
                    Spool(
                        path,
                        max_bytes=config.spool_max_bytes,
                        fsync=config.spool_fsync,
                        slots=SLOTS,
                    )
                )
            except SpoolLockedError as exc:
                if getattr(config, "config_errors", "raise") == "raise":
                    raise
                _notice.warn(f"sink {name}: no spool ({exc}); events are kept in memory only")
                spools.append(None)
            except OSError as exc:
                if getattr(config, "config_errors", "raise") == "raise":
                    raise ConfigError(
                        "spool_dir",
                        config.spool_dir,
                        "a directory nglogger can create and write",
                        reason=f"{path} is unusable ({type(exc).__name__}: {exc})",
                    ) from None
                _notice.warn(
                    f"sink {name}: spool {path} unusable ({type(exc).__name__}: {exc}); "
                    "events are kept in memory only"
                )
                spools.append(None)
    except BaseException:
        for spool in spools:
            if spool is not None:
                spool.close()
        raise
    return spools


#: Seconds after a start before slots left by gone processes are reported: the server's
#: other workers, starting a moment later, take theirs meanwhile.
ORPHAN_GRACE = 5.0


class OrphanReport:
    """Says once which slots processes that are gone left holding events.

    Not at start: when a server restarts its workers after a crash, the first one to
    start would name the slots its siblings take a moment later. The batcher calls
    :meth:`due` on its ticks and :meth:`report` once ``ORPHAN_GRACE`` seconds have
    passed; shutdown reports what is still unheld then (a short-lived process).
    """

    __slots__ = ("_bases", "_done", "_lock", "after")

    def __init__(self, spool_dir: str | None, names: list[str], spools: list[Any], now: float):
        self._bases = (
            [(n, spool_path(spool_dir, n)) for n, s in zip(names, spools, strict=True) if s]
            if spool_dir is not None
            else []
        )
        self._done = not self._bases
        self._lock = threading.Lock()
        #: The monotonic time from which :meth:`report` runs (see ``due``).
        self.after = now + ORPHAN_GRACE

    def due(self, now: float) -> bool:
        """Whether the batcher should call :meth:`report` now."""
        return not self._done and now >= self.after

    def report(self) -> None:
        """Warn about each sink's slots that no process holds and that hold events (once)."""
        with self._lock:
            if self._done:
                return
            self._done = True
        for name, base in self._bases:
            try:
                left = orphaned_slots(base, SLOTS)
            except Exception:  # a report never fails a shutdown or the batcher
                left = []
            if left:
                _notice.warn(
                    f"sink {name}: {len(left)} spool slot(s) left by processes that are gone "
                    f"hold undelivered events ({', '.join(left)}); a process that takes such a "
                    "slot delivers them"
                )


def orphaned_slots(base: str, slots: int) -> list[str]:
    """Slot directories of ``base`` that no process holds and that still hold segments."""
    import fcntl

    found: list[str] = []
    for number in range(slots):
        directory = Path(base if number == 0 else f"{base}.{number}")
        real = os.path.realpath(directory)
        if not directory.is_dir():
            if number:
                break  # slots are taken in order: none beyond the first missing one
            continue
        if held_here(real):
            continue  # ours
        if not any(_size(p) for p in directory.glob("*.seg")):
            continue  # nothing left (or its holder is replaying and removing segments)
        try:
            fd = os.open(directory / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # another process holds it: not orphaned
        finally:
            os.close(fd)  # closing releases the flock if we took it
        found.append(str(directory))
    return found


def _size(path: Path) -> int:
    """A segment's size; 0 when it is gone (its holder replayed and removed it meanwhile)."""
    try:
        return path.stat().st_size
    except OSError:
        return 0


def unusable_spool_dir(spool_dir: str) -> str | None:
    """Why ``spool_dir`` cannot hold spools (None: it can), leaving nothing behind.

    The directory, or the nearest of its parents that exists (the spool creates the
    rest), must be a directory this process can make a directory in (tried, and
    removed): what ``nglogger config`` checks, where a running pipeline would warn and
    run memory-only.
    """
    path = Path(spool_dir).expanduser()
    if not path.is_absolute():
        path = Path.cwd() / path
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            return f"spool_dir {spool_dir!r}: no part of the path exists"
        probe = probe.parent
    if not probe.is_dir():
        return f"spool_dir {spool_dir!r}: {str(probe)!r} is not a directory"
    import tempfile

    try:  # what the spool does first: make a directory there (removed at once)
        Path(tempfile.mkdtemp(prefix=".nglogger-check-", dir=probe)).rmdir()
    except OSError as exc:
        what = "it" if probe == path else f"its parent {str(probe)!r}"
        return f"spool_dir {spool_dir!r}: {what} cannot hold a directory ({exc.strerror})"
    return None
