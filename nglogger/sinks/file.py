"""The file sink: appends NDJSON batches to a local file, with rotation and fsync policy.

It owns one file descriptor opened with ``O_APPEND`` and written with raw
``os.write`` (no Python buffered file object: no io lock to inherit across
``fork`` and nothing buffered to be written twice by a child), size-based
rotation that never splits an event, detection of external rotation
(logrotate), an fsync policy, and error containment: a failed batch is cut back
out of the file and reported as dropped, never raised. Worst-case memory: no
buffering beyond the batch being written (the batch's own ``data``, viewed
through a ``memoryview``, never copied) plus a constant.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from .._batch import Batch
from .._errors import ConfigError
from .._levels import optional_level
from .._sink import sink_filter
from ._base import Outcome
from ._rotation import Period, Rotated, next_boundary, period_stamp, period_start

__all__ = ["FileSink"]

from .._sinkuri import FsyncPolicy

_FSYNC_POLICIES: Final = ("never", "batch", "interval")
_ROTATE: Final = ("daily", "hourly")
_COMPRESS: Final = ("gzip",)
_DEFAULT_BACKUPS: Final = 5
_MAX_BACKUPS: Final = 1000
_OPEN_FLAGS: Final = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _progress(n: int) -> int:
    """Bytes written by one ``os.write``; zero (never seen on a file) must not spin."""
    if n <= 0:
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    return n


def _describe(exc: OSError) -> str:
    """Errno name and message only: keeping the exception would pin its frames."""
    if exc.errno is None:
        return f"{type(exc).__name__}: {exc}"
    name = errno.errorcode.get(exc.errno, f"errno {exc.errno}")
    return f"{name}: {exc.strerror}"


CLOSE_COMPRESS_WAIT = 10.0
"""Longest ``FileSink.close`` waits for a rotated file's compression to finish."""


class FileSink:
    """Append batches to the file at ``path``; rotate by size; never raise from ``write``.

    The file is opened lazily on the first ``write`` (construction only
    validates arguments) with ``O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC`` and
    permission bits ``mode`` (subject to the umask).

    * ``max_bytes > 0``: before a batch that would take the file past
      ``max_bytes``, the file is rotated like ``RotatingFileHandler``
      (``path.{n-1}`` -> ``path.{n}`` ... ``path`` -> ``path.1``, the oldest
      beyond ``backups`` is overwritten); ``backups=0`` truncates in place. A
      batch larger than ``max_bytes`` goes whole into a fresh file: files
      always hold whole lines.
    * Every batch compares the open descriptor with ``path`` (device and
      inode); when the file was moved away or replaced, the path is reopened
      (``WatchedFileHandler`` behaviour), so external rotation needs no signal.
    * ``fsync``: ``"never"``; ``"batch"`` after every batch; ``"interval"``
      after a batch once ``fsync_interval`` seconds (by ``clock``) have passed
      since the last fsync. Unless ``"never"``, ``close`` and rotation fsync
      unsynced data first.
    * An ``OSError`` (disk full, permission, read-only filesystem, I/O error)
      while opening, rotating, writing or fsyncing a batch is contained: the
      bytes of that batch already written are truncated away, the descriptor is
      closed so the next batch reopens the file (recovery once the cause is
      fixed), and the batch is reported as ``Outcome(0, {"write_error": n})``.
      ``errors`` and ``last_error`` describe failures without holding
      exception objects.
    * A batch written after ``close`` is reported as dropped with reason
      ``"closed"``. ``close`` is idempotent and may run on another thread; it
      waits only for the batch being written.

    * ``rotate="daily"`` / ``"hourly"``: the file is rotated at each midnight / hour
      (local time, as ``TimedRotatingFileHandler``; ``utc=True`` for UTC), by the
      ``now`` clock, to ``path.2026-12-01`` / ``path.2026-12-01_13``; a file left
      from an earlier period is rotated at the first write. ``compress="gzip"``
      compresses rotated files on a helper thread (``path.2026-12-01.gz``);
      ``backups=N`` keeps the N newest rotated files, ``max_age`` (seconds) deletes
      those whose period ended longer ago. Any of these switches rotation to dated
      names (``max_bytes`` rotations get the period, or with no ``rotate`` the time
      of rotation, plus ``.1``, ``.2``...); ``backups`` then defaults to keeping all.
      See ``_rotation`` for names, crash safety and memory.

    Rotation is per process: each process decides from the size it sees and
    renames files under the others. With several processes (for example
    forked workers) writing one file, set ``max_bytes=0`` and rotate
    externally; ``O_APPEND`` keeps their concurrent appends whole.
    """

    #: Left open by the exit shutdown: events logged after it (an atexit handler that runs
    #: after nglogger's, a finalizer at teardown) are appended on the caller's thread.
    writes_late = True

    __slots__ = (
        "_backups",
        "_clock",
        "_closed",
        "_dated",
        "_dirty",
        "_errors",
        "_fd",
        "_fsync",
        "_fsync_interval",
        "_last_error",
        "_last_sync",
        "_lock",
        "_max_bytes",
        "_mode",
        "_next_rollover",
        "_now",
        "_path",
        "_period",
        "_recovered",
        "filter",
        "level",
        "name",
    )

    name: str

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        max_bytes: int = 0,
        backups: int | None = None,
        fsync: FsyncPolicy = "never",
        fsync_interval: float = 1.0,
        mode: int = 0o644,
        name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        level: int | str | None = None,
        filter: Callable[[bytes], object] | None = None,  # noqa: A002 - the option's name
        rotate: Period | None = None,
        compress: Literal["gzip"] | None = None,
        max_age: float | None = None,
        utc: bool = False,
        now: Callable[[], float] = time.time,
    ) -> None:
        self.level = optional_level(level)
        self.filter = sink_filter(filter)
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

        self.name = name if name is not None else f"file:{fspath}"
        self._path = Path(fspath)
        self._max_bytes = max_bytes
        dated = rotate is not None or compress is not None or max_age is not None
        self._backups = backups if backups is not None or dated else _DEFAULT_BACKUPS
        self._period: Period | None = rotate
        self._now = now
        self._next_rollover = math.inf
        self._recovered = False
        #: Dated rotation (names, gzip, retention); None: the numbered scheme.
        self._dated = (
            Rotated(
                self._path,
                period=rotate,
                compress=compress is not None,
                backups=backups,
                max_age=None if max_age is None else float(max_age),
                utc=utc,
                now=now,
            )
            if dated
            else None
        )
        self._fsync: FsyncPolicy = fsync
        self._fsync_interval = float(fsync_interval)
        self._mode = mode
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._closed = False
        self._dirty = False
        self._last_sync = clock()
        self._errors = 0
        self._last_error: str | None = None

    def __repr__(self) -> str:
        rotate = f", rotate={self._period!r}" if self._period else ""
        return (
            f"FileSink({str(self._path)!r}, max_bytes={self._max_bytes}{rotate}, "
            f"fsync={self._fsync!r})"
        )

    def wait_compressed(self, timeout: float | None = None) -> bool:
        """Wait until no rotated file waits for compression; True if so within ``timeout``."""
        return self._dated is None or self._dated.wait_idle(timeout)

    @property
    def path(self) -> str:
        """The path written to."""
        return str(self._path)

    @property
    def errors(self) -> int:
        """How many batches (and closes) failed with an ``OSError`` in this process."""
        return self._errors

    @property
    def last_error(self) -> str | None:
        """The latest failure as ``"ENAME: message"``, or ``None``."""
        return self._last_error

    def write(self, batch: Batch) -> Outcome | None:
        """Append ``batch`` whole, or report it dropped; never raises ``OSError``."""
        data = batch.data
        with self._lock:
            if self._closed:
                return Outcome(exported=0, dropped={"closed": batch.count})
            if not data:
                return None
            start = -1
            written = 0
            try:
                fd, _size = self._prepare(len(data))
                view = memoryview(data)
                total = len(data)
                while written < total:
                    step = _progress(os.write(fd, view[written:]))
                    if not written:
                        # O_APPEND: our bytes began where this first write ended minus its
                        # length (another process may have appended since _prepare looked)
                        start = os.lseek(fd, 0, os.SEEK_CUR) - step
                    written += step
                self._dirty = True
                if self._fsync == "batch" or (
                    self._fsync == "interval"
                    and self._clock() - self._last_sync >= self._fsync_interval
                ):
                    self._sync(fd)
            except OSError as exc:
                self._fail(exc, start if written else -1)
                return Outcome(exported=0, dropped={"write_error": batch.count})
        return None

    def close(self) -> None:
        """Fsync (unless the policy is ``"never"``) and close; idempotent, thread-safe.

        A rotated file still being compressed is finished first, for at most
        :data:`CLOSE_COMPRESS_WAIT` seconds (within the pipeline's shutdown deadline): a
        short job that rotates at its first write still leaves a ``.gz``. One that is not
        done by then is compressed again by the next start.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                self._release(sync=True)
            except OSError as exc:
                self._record(exc)
        self.wait_compressed(CLOSE_COMPRESS_WAIT)

    def after_fork(self) -> None:
        """Reset per-process state in a forked child; the descriptor is kept.

        The lock is replaced (a parent thread may have held it at fork time) and
        the error counters and fsync bookkeeping start afresh: unsynced data
        written by the parent is the parent's to fsync.
        """
        self._lock = threading.Lock()
        self._errors = 0
        self._last_error = None
        self._dirty = False
        self._last_sync = self._clock()
        if self._dated is not None:
            self._dated.after_fork()

    # -- helpers; called with the lock held ------------------------------------------

    def _prepare(self, incoming: int) -> tuple[int, int]:
        """Open, reopen or rotate as needed; return the descriptor and current size."""
        fd = self._fd
        if fd is not None:
            st = os.fstat(fd)
            try:
                current = self._path.stat()
            except FileNotFoundError:
                moved = True
            else:
                moved = (current.st_dev, current.st_ino) != (st.st_dev, st.st_ino)
            if moved:
                self._release(sync=True)
                fd = None
            elif self._period is not None and self._now() >= self._next_rollover:
                self._rotate_dated(self._next_rollover - 1)  # named by the period that ended
                fd = None
            else:
                size = st.st_size
                if 0 < self._max_bytes < size + incoming and size > 0:
                    self._rotate()
                    fd = None
                else:
                    return fd, size
        if self._dated is not None and not self._recovered:
            self._recovered = True
            self._dated.recover()  # what a crash left: compress, prune
            self._rotate_leftover()
        fd = self._fd if self._fd is not None else self._open()
        size = os.fstat(fd).st_size
        if 0 < self._max_bytes < size + incoming and size > 0:
            self._rotate()
            fd = self._open() if self._fd is None else self._fd
            size = os.fstat(fd).st_size
        return fd, size

    def _rotate_leftover(self) -> None:
        """At start: a file written in an earlier period is rotated under that period."""
        now = self._now()
        period = self._period
        if period is None:
            return
        utc = self._dated.utc if self._dated is not None else False
        self._next_rollover = next_boundary(now, period, utc)
        try:
            st = self._path.stat()
        except FileNotFoundError:
            return
        if st.st_size > 0 and period_start(st.st_mtime, period, utc) < period_start(
            now, period, utc
        ):
            self._rotate_dated(st.st_mtime)

    def _rotate_dated(self, when: float) -> None:
        """Move the file to its dated name (the period containing ``when``), start anew."""
        dated = self._dated
        assert dated is not None
        self._release(sync=True)
        target = dated.target(period_stamp(when, self._period, dated.utc))
        try:
            self._path.replace(target)
        except FileNotFoundError:  # nothing written yet, or moved away meanwhile
            target = None  # type: ignore[assignment]
        if self._period is not None:
            self._next_rollover = next_boundary(self._now(), self._period, dated.utc)
        self._open()
        if target is not None:
            dated.rotated(target)

    def _open(self, truncate: bool = False) -> int:
        flags = _OPEN_FLAGS | os.O_TRUNC if truncate else _OPEN_FLAGS
        fd = os.open(self._path, flags, self._mode)
        self._fd = fd
        self._dirty = False
        return fd

    def _rotate(self) -> None:
        """Shift backups and start an empty file at the path (``backups=0``: truncate)."""
        if self._dated is not None:
            self._rotate_dated(self._now())
            return
        self._release(sync=True)
        if self._backups == 0:
            self._open(truncate=True)
            return
        base = str(self._path)
        for i in range(self._backups or 0, 0, -1):
            src = Path(f"{base}.{i - 1}") if i > 1 else self._path
            # replace() overwrites, so deletes, the oldest backup; a missing source is a
            # gap in the backups or a file moved away meanwhile.
            with contextlib.suppress(FileNotFoundError):
                src.replace(f"{base}.{i}")
        self._open()

    def _sync(self, fd: int) -> None:
        os.fsync(fd)
        self._dirty = False
        self._last_sync = self._clock()

    def _release(self, sync: bool) -> None:
        """Close the descriptor (fsyncing first when asked and the policy wants it)."""
        fd, self._fd = self._fd, None  # forget it first: a fork must not see a dead fd
        if fd is None:
            return
        try:
            if sync and self._dirty and self._fsync != "never":
                self._sync(fd)
        finally:
            self._dirty = False
            os.close(fd)

    def _fail(self, exc: OSError, truncate_to: int) -> None:
        """Contain a failed batch: cut its bytes back out and drop the descriptor."""
        self._record(exc)
        fd, self._fd = self._fd, None
        self._dirty = False
        if fd is None:
            return
        # A device such as /dev/full cannot be truncated: nothing more can be done.
        # Only cut when nothing was appended after our partial bytes (another process
        # sharing the file may have written since): their lines are never cut.
        with contextlib.suppress(OSError):
            if truncate_to >= 0 and os.fstat(fd).st_size == os.lseek(fd, 0, os.SEEK_CUR):
                os.ftruncate(fd, truncate_to)
        with contextlib.suppress(OSError):
            os.close(fd)

    def _record(self, exc: OSError) -> None:
        self._errors += 1
        self._last_error = _describe(exc)
