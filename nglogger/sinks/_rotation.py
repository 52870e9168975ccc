"""Dated rotation of the file sink: periods, names, gzip on a helper thread, retention.

Used by ``FileSink`` when ``rotate`` (``daily``/``hourly``), ``compress`` or ``max_age``
is set. A rotated file is named after the period it covers, the way
``logging.handlers.TimedRotatingFileHandler`` names them:

* ``app.ndjson.2026-12-01`` (daily) or ``app.ndjson.2026-12-01_13`` (hourly);
  size-only rotation stamps the time of the rotation, ``app.ndjson.2026-12-01_13-45-12``;
* a second file for the same stamp (size rotation within a period) gets ``.1``, ``.2``...
  in the order written, so sorting by (stamp, n) is chronological;
* ``compress="gzip"`` adds ``.gz`` once compressed.

Periods follow local time by default, as ``TimedRotatingFileHandler`` does
(``utc=False``: daily files start at local midnight and are named by the local
date); ``utc=True`` rotates at UTC boundaries and names files by the UTC date,
matching the events' own timestamps. Local periods come from ``time.mktime``, so a
DST change gives a 23- or 25-hour day (and hourly names that repeat get ``.1``).

Compression runs on a helper thread (one at a time per sink, started when there is
work, ending when there is none), never on the sink's worker thread and never on the
application's: the file is streamed through ``gzip`` in 64 KiB chunks (memory
bounded by one chunk plus zlib's window) into ``name.gz.tmp``, which is renamed to
``name.gz`` before the uncompressed file is removed. Crash safety: a crash leaves the
uncompressed file readable (a partial ``.gz.tmp`` is deleted and the file compressed
again the next time the sink opens it); a file rotated but not yet compressed when the
process ended is compressed at the next start. The interpreter's exit waits for
compressions still running (at most :data:`EXIT_COMPRESS_WAIT` seconds in all), whether
or not the sink was closed. Processes sharing the log coordinate
through the ``flock`` of the ``.gz.tmp``: one compresses a file, another skips it, and
a start never deletes a ``.gz.tmp`` that a live process is writing. Lines a process
appended to a file after it was rotated (before it followed the rotation) are kept:
the file is read until its size stops growing.

Retention (``backups`` newest files kept, files whose period ended more than
``max_age`` ago deleted) runs after every rotation, every compression and at start.
The age is read from the name (the end of the period it covers), not from the file's
modification time, so a fake clock drives it exactly.
"""

from __future__ import annotations

import atexit
import calendar
import contextlib
import gzip
import os
import re
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO, Final, Literal

__all__ = ["CHUNK", "Rotated", "next_boundary", "period_stamp"]

Period = Literal["daily", "hourly"]

#: Bytes read per step while compressing (the memory bound of a compression).
CHUNK: Final = 64 * 1024
_FORMATS: Final = {"daily": "%Y-%m-%d", "hourly": "%Y-%m-%d_%H", None: "%Y-%m-%d_%H-%M-%S"}
_STAMP: Final = r"(\d{4}-\d{2}-\d{2}(?:_\d{2}(?:-\d{2}-\d{2})?)?)"
_TMP: Final = ".gz.tmp"
#: gzip's own default level (``gzip -6``): most of level 9's ratio at a fraction of its time.
_LEVEL: Final = 6
#: Longest the interpreter's exit waits, in all, for rotated files still being compressed:
#: a short job that rotates at its first write leaves a ``.gz`` even when its sink is left
#: open at exit (for events logged after the exit shutdown). Past it, the next start does it.
EXIT_COMPRESS_WAIT: Final = 10.0


def _struct(t: float, utc: bool) -> time.struct_time:
    return time.gmtime(t) if utc else time.localtime(t)


def _epoch(fields: tuple[int, int, int, int, int, int], utc: bool) -> float:
    """Epoch seconds of a calendar time (normalized: hour 24 is the next day's 0)."""
    year, month, day, hour, minute, second = fields
    if utc:
        return float(calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0)))
    return time.mktime((year, month, day, hour, minute, second, 0, 0, -1))


def period_start(t: float, period: Period, utc: bool) -> float:
    """Start of the period (day or hour) containing ``t``."""
    s = _struct(t, utc)
    hour = 0 if period == "daily" else s.tm_hour
    return _epoch((s.tm_year, s.tm_mon, s.tm_mday, hour, 0, 0), utc)


def next_boundary(t: float, period: Period, utc: bool) -> float:
    """The first period boundary after ``t`` (the next midnight or hour)."""
    s = _struct(t, utc)
    if period == "daily":
        boundary = _epoch((s.tm_year, s.tm_mon, s.tm_mday + 1, 0, 0, 0), utc)
    else:
        boundary = _epoch((s.tm_year, s.tm_mon, s.tm_mday, s.tm_hour + 1, 0, 0), utc)
        if boundary <= t:  # a repeated local hour (DST ends): the hour after
            boundary = _epoch((s.tm_year, s.tm_mon, s.tm_mday, s.tm_hour + 2, 0, 0), utc)
    return boundary


def period_stamp(t: float, period: Period | None, utc: bool) -> str:
    """The name stamp of the period containing ``t`` (size-only: ``t`` to the second)."""
    return time.strftime(_FORMATS[period], _struct(t, utc))


def _stamp_end(stamp: str, utc: bool) -> float:
    """When the period named ``stamp`` ended (size-only stamps: the rotation time)."""
    date, _, rest = stamp.partition("_")
    year, month, day = (int(part) for part in date.split("-"))
    if not rest:
        return _epoch((year, month, day + 1, 0, 0, 0), utc)
    hour, *clock = rest.split("-")
    if not clock:
        return _epoch((year, month, day, int(hour) + 1, 0, 0), utc)
    return _epoch((year, month, day, int(hour), int(clock[0]), int(clock[1])), utc)


class Rotated:
    """The rotated files of one path: naming, retention and background compression.

    Worst-case footprint: the queue of paths waiting for compression (one per
    rotation not yet compressed) and one helper thread with one CHUNK buffer.
    """

    def __init__(
        self,
        path: Path,
        *,
        period: Period | None,
        compress: bool,
        backups: int | None,
        max_age: float | None,
        utc: bool,
        now: Callable[[], float],
    ) -> None:
        self.path = path
        self.period = period
        self.compress = compress
        self.backups = backups
        self.max_age = max_age
        self.utc = utc
        self.now = now
        self._name = re.compile(re.escape(path.name) + r"\." + _STAMP + r"(?:\.(\d+))?(\.gz)?")
        self._lock = threading.Lock()  # the queue, the helper thread, pruning
        self._queue: deque[Path] = deque()
        self._worker: threading.Thread | None = None
        self._idle = threading.Event()
        self._idle.set()
        self.compressed = 0
        self.errors = 0
        self.last_error: str | None = None

    # ------------------------------------------------------------------ naming
    def target(self, stamp: str) -> Path:
        """The name for a file rotated with ``stamp``: after every other file of that stamp.

        The first is ``path.<stamp>``, later ones ``.1``, ``.2``... one above the highest
        present (never a gap left by retention, so the order stays chronological).
        """
        taken = [int(m.group(2) or 0) for m in self._matches() if m.group(1) == stamp]
        base = f"{self.path.name}.{stamp}"
        if not taken:
            return self.path.with_name(base)
        return self.path.with_name(f"{base}.{max(taken) + 1}")

    def _matches(self) -> list[re.Match[str]]:
        try:
            names = [entry.name for entry in self.path.parent.iterdir()]
        except OSError:
            return []
        return [match for name in names if (match := self._name.fullmatch(name)) is not None]

    # ----------------------------------------------------------------- rotation
    def rotated(self, moved: Path) -> None:
        """``moved`` was just rotated: queue it for compression, apply retention."""
        if self.compress:
            self._enqueue([moved])
        self.prune()

    def recover(self) -> None:
        """At start: drop partial ``.gz.tmp`` files, compress what a crash left, prune.

        A ``.gz.tmp`` another process is writing (it holds its ``flock``) is left alone.
        """
        if self.compress:
            with contextlib.suppress(OSError):
                for entry in self.path.parent.iterdir():
                    if entry.name.startswith(f"{self.path.name}.") and entry.name.endswith(_TMP):
                        _remove_if_stale(entry)
            leftovers = [
                self.path.with_name(match.group(0))
                for match in sorted(self._matches(), key=_order)
                if not match.group(3)
            ]
            self._enqueue(leftovers)
        self.prune()

    def prune(self) -> None:
        """Delete rotated files beyond ``backups`` or older than ``max_age``."""
        if self.backups is None and self.max_age is None:
            return
        with self._lock:
            groups: dict[tuple[str, int], list[Path]] = {}
            for match in self._matches():
                key = (match.group(1), int(match.group(2) or 0))
                groups.setdefault(key, []).append(self.path.with_name(match.group(0)))
            ordered = sorted(groups, reverse=True)  # newest first
            doomed: list[tuple[str, int]] = []
            if self.backups is not None:
                doomed.extend(ordered[self.backups :])
            if self.max_age is not None:
                limit = self.now() - self.max_age
                doomed.extend(key for key in ordered if _stamp_end(key[0], self.utc) < limit)
            for key in set(doomed):
                for path in groups[key]:
                    if path in self._queue:
                        self._queue.remove(path)
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()

    # -------------------------------------------------------------- compression
    def _enqueue(self, paths: list[Path]) -> None:
        if not paths:
            return
        _finish_at_exit(self)
        with self._lock:
            for path in paths:
                if path not in self._queue:
                    self._queue.append(path)
            self._idle.clear()
            if self._worker is None or not self._worker.is_alive():
                self._worker = threading.Thread(
                    target=self._drain, name="nglogger-gzip", daemon=True
                )
                self._worker.start()

    def _drain(self) -> None:
        while True:
            with self._lock:
                if not self._queue:
                    self._worker = None
                    self._idle.set()
                    return
                path = self._queue[0]
            self._compress(path)
            with self._lock:
                if self._queue and self._queue[0] == path:
                    self._queue.popleft()
            self.prune()

    def _compress(self, path: Path) -> None:
        """``path`` -> ``path.gz`` (streamed through a ``.gz.tmp``), then ``path`` removed.

        Several processes sharing the log may have the same file queued (each looks at
        what a crash left when it starts): the one compressing holds the ``flock`` of the
        ``.gz.tmp`` and another skips the file. Lines appended by a process that had not
        yet followed the rotation are not lost: the file is read until its size stops
        growing, and compressed again if it grew before the original was removed.
        """
        final = path.with_name(f"{path.name}.gz")
        tmp = path.with_name(f"{path.name}{_TMP}")
        try:
            source = path.open("rb")
        except FileNotFoundError:  # compressed by another process, or pruned: done
            return
        except OSError as exc:
            self._failed(exc)
            return
        with source:
            for _ in range(3):
                try:
                    fd = _locked_tmp(tmp, os.fstat(source.fileno()).st_mode & 0o777)
                except OSError as exc:
                    self._failed(exc)
                    return
                if fd is None:  # another process is compressing it
                    return
                try:
                    size = _gzip(source, fd, path.name)
                    tmp.replace(final)
                except OSError as exc:  # disk full...: the uncompressed file stays readable
                    self._failed(exc)
                    with contextlib.suppress(OSError):
                        tmp.unlink()
                    return
                finally:
                    os.close(fd)  # releases the flock
                if os.fstat(source.fileno()).st_size == size:
                    with contextlib.suppress(FileNotFoundError):  # (pruned meanwhile)
                        path.unlink()
                    self.compressed += 1
                    return
            # still growing: the original stays; the next start compresses it again

    def _failed(self, exc: OSError) -> None:
        self.errors += 1
        self.last_error = f"{type(exc).__name__}: {exc}"[:300]

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Wait until no compression is queued or running; True if so in time."""
        return self._idle.wait(timeout)

    def after_fork(self) -> None:
        """A forked child compresses nothing of its parent's (the parent does)."""
        self._lock = threading.Lock()
        self._queue = deque()
        self._worker = None
        self._idle = threading.Event()
        self._idle.set()


_compressing: weakref.WeakSet[Rotated] = weakref.WeakSet()
_exit_lock = threading.Lock()
_exit_hook = False


def _finish_at_exit(rotated: Rotated) -> None:
    """Have the interpreter's exit wait for ``rotated``'s compressions (bounded)."""
    global _exit_hook
    with _exit_lock:
        _compressing.add(rotated)
        if not _exit_hook:
            _exit_hook = True
            atexit.register(_wait_at_exit)


def _wait_at_exit() -> None:
    deadline = time.monotonic() + EXIT_COMPRESS_WAIT
    for rotated in list(_compressing):
        rotated.wait_idle(max(0.0, deadline - time.monotonic()))


def _order(match: re.Match[str]) -> tuple[str, int]:
    return match.group(1), int(match.group(2) or 0)


def _gzip(source: BinaryIO, fd: int, name: str) -> int:
    """Compress ``source`` from its start into ``fd`` (emptied first), fsync; bytes read.

    Reads until the end, then on while the file grew meanwhile.
    """
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    source.seek(0)
    consumed = 0
    with os.fdopen(fd, "wb", closefd=False) as raw:
        with gzip.GzipFile(
            filename=name, mode="wb", fileobj=raw, mtime=0, compresslevel=_LEVEL
        ) as out:
            while True:
                chunk = source.read(CHUNK)
                if chunk:
                    out.write(chunk)
                    consumed += len(chunk)
                elif os.fstat(source.fileno()).st_size <= consumed:
                    break
        raw.flush()
        os.fsync(fd)
    return consumed


def _flock_nb(fd: int) -> bool:
    """An exclusive ``flock`` without waiting: False if another open file holds one."""
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:  # no locks on this filesystem: go on uncoordinated
        pass
    return True


def _same_file(path: Path, fd: int) -> bool:
    try:
        st, mine = path.stat(), os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (mine.st_dev, mine.st_ino)


def _locked_tmp(tmp: Path, mode: int) -> int | None:
    """``tmp`` opened and ``flock``-ed for this compression, or None if another has it."""
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, mode)
    if _flock_nb(fd) and _same_file(tmp, fd):  # (not removed as stale before we locked it)
        return fd
    os.close(fd)
    return None


def _remove_if_stale(tmp: Path) -> None:
    """Delete a ``.gz.tmp`` left by a crash; one being written (locked) stays."""
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        if _flock_nb(fd) and _same_file(tmp, fd):
            with contextlib.suppress(OSError):
                tmp.unlink()
    finally:
        os.close(fd)
