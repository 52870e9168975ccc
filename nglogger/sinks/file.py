"""The file sink: appends NDJSON batches to a local file, with rotation and fsync policy.

It owns one file descriptor opened with ``O_APPEND`` and written with raw
``os.write`` (no Python buffered file object: no io lock to inherit across
``fork`` and nothing buffered to be written twice by a child), size-based
rotation that never splits an event, detection of external rotation
(logrotate), rotation coordinated between processes sharing the file, an fsync
policy, and error containment: a failed batch is cut back out of the file and
reported as dropped, never raised (and said once on stderr while it lasts).
FIFOs, character devices and the process's own descriptors (``/dev/stdout``)
are written as streams. Worst-case memory: no buffering beyond the batch being
written (the batch's own ``data``, viewed through a ``memoryview``, never
copied) plus a constant.

Its parts, one concern each: ``_file_options`` (the options' checks),
``_file_special`` (opening the path; FIFOs, devices and descriptors as streams),
``_file_shared`` (processes sharing the file: the rotation lock, the period a file
was started in; ``FileSink``'s base class), ``_file_failures`` (error counters, the
warning episodes) and ``_rotation`` (dated names, gzip, retention).
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

from .._config.sinkuri import FsyncPolicy
from .._core import notice as _notice
from .._core.batch import Batch
from .._core.levels import optional_level
from .._core.sink import sink_filter
from ._base import Outcome
from ._file_failures import Failures
from ._file_options import check_options
from ._file_shared import LOCK_WAIT, PERIOD_XATTR, SharedFile, same, stat_or_none, write_period
from ._file_special import is_stream, open_path, stream_notice
from ._rotation import Period, Rotated, period_stamp, period_start

__all__ = ["FileSink"]

# LOCK_WAIT and PERIOD_XATTR stay importable from here (defined here before they moved).
_ = (LOCK_WAIT, PERIOD_XATTR)

_DEFAULT_BACKUPS: Final = 5


def _progress(n: int) -> int:
    """Bytes written by one ``os.write``; zero (never seen on a file) must not spin."""
    if n <= 0:
        raise OSError(errno.EIO, os.strerror(errno.EIO))
    return n


CLOSE_COMPRESS_WAIT = 10.0
"""Longest ``FileSink.close`` waits for a rotated file's compression to finish."""


class FileSink(SharedFile):
    """Append batches to the file at ``path``; rotate by size; never raise from ``write``.

    The file is opened lazily on the first ``write`` (construction only
    validates arguments) with ``O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC`` and
    permission bits ``mode`` (subject to the umask).

    * ``max_bytes > 0``: before a batch that would take the file past
      ``max_bytes``, the file is rotated like ``RotatingFileHandler``
      (``path.{n-1}`` -> ``path.{n}`` ... ``path`` -> ``path.1``, the oldest
      beyond ``backups`` is overwritten; only the backups present shift: a gap
      in the numbers stops the shift there); ``backups=0`` truncates in place. A
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
      exception objects. The first failed batch says so once on stderr
      (``nglogger._core.notice``: "sink file:/x/app.jsonl cannot write (ENOSPC: ...);
      batches are dropped (write_error) until it can"), and the first batch
      written after failures says "... writes again"; nothing per batch.
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

    Several processes may share one rotated file (forked or separately started
    workers, each with its own sink; a forked child's inherited sink too). A
    rotation is decided and done under an exclusive ``flock`` on the file being
    rotated, taken only when a rotation looks due: under it the sink checks that
    the file is still the one at ``path`` (else another process rotated it: the
    sink reopens ``path`` and decides again on that file's size), so the rename
    chain runs once per rotation, never once per process, and no backup is
    overwritten by another process's renames. Every process follows the new file
    at its next batch; a batch already on its way into the old file lands in the
    newest backup, whole (with ``compress``, which removes rotated files, each batch
    holds a shared ``flock`` from that check to its write, so a rotated file is never
    written again). A daily/hourly file records the period it was started
    in (extended attribute ``user.nglogger.period``; where the filesystem has none,
    the file's modification time stands in) so only one process rotates it per
    period. A wait for another process's rotation is bounded (:data:`LOCK_WAIT`
    seconds, then the batch is written unrotated). No lock file is created. Only
    ``backups`` limits what is kept: older files are deleted, as configured.

    FIFOs, character devices, sockets and paths that reach one of the process's
    own descriptors (``/dev/stdout``, ``/dev/fd/N``) are written as streams: no
    seeking, truncation, fsync, rotation or reopening (``max_bytes``, ``rotate``,
    ``compress`` and ``max_age`` do not apply to them; a warning says so once). A
    FIFO is opened without blocking: while no process reads it, batches are
    dropped as ``write_error`` (``ENXIO``) and the worker never waits for a
    reader; once it has one, writes block while the pipe is full, like any pipe
    (the pipeline's shutdown deadline abandons a sink stuck there). When a write
    to a stream fails part-way, the whole lines that went out count as exported.
    """

    #: Left open by the exit shutdown: events logged after it (an atexit handler that runs
    #: after nglogger's, a finalizer at teardown) are appended on the caller's thread.
    writes_late = True
    #: A local write: a spool on the same disks would not outlast what makes it fail.
    spooled = False

    __slots__ = (
        "_backups",
        "_clock",
        "_closed",
        "_dated",
        "_dirty",
        "_failures",
        "_fd",
        "_fspath",
        "_fsync",
        "_fsync_interval",
        "_guarded",
        "_last_sync",
        "_lock",
        "_max_bytes",
        "_mode",
        "_now",
        "_path",
        "_period",
        "_rotated",
        "_special",
        "_told_special",
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
        fspath = check_options(
            path,
            max_bytes=max_bytes,
            backups=backups,
            rotate=rotate,
            compress=compress,
            max_age=max_age,
            utc=utc,
            now=now,
            fsync=fsync,
            fsync_interval=fsync_interval,
            mode=mode,
            name=name,
            clock=clock,
        )
        self.name = name if name is not None else f"file:{fspath}"
        self._path = Path(fspath)
        self._fspath = fspath
        self._max_bytes = max_bytes
        dated = rotate is not None or compress is not None or max_age is not None
        self._backups = backups if backups is not None else (None if dated else _DEFAULT_BACKUPS)
        self._period: Period | None = rotate
        self._now = now
        self._next_rollover = math.inf
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
        self._recovered = self._dated is None
        #: Compression removes rotated files: a batch must never land in one once rotated,
        #: so writes hold a shared lock across the check that the file is at the path.
        self._guarded = compress is not None
        self._shared = None
        self._fsync: FsyncPolicy = fsync
        self._fsync_interval = float(fsync_interval)
        self._mode = mode
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        #: The open file is not a regular file of ours (FIFO, device, /dev/stdout...).
        self._special = False
        self._told_special = False
        self._born = None
        self._closed = False
        self._dirty = False
        self._last_sync = clock()
        #: Failure counters and episodes; its notices are printed once the lock is released.
        self._failures = Failures()
        #: Files rotated by the batch being written: compressed and pruned after it.
        self._rotated: list[Path] = []

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
        return self._failures.errors

    @property
    def last_error(self) -> str | None:
        """The latest failure as ``"ENAME: message"``, or ``None``."""
        return self._failures.last_error

    def write(self, batch: Batch) -> Outcome | None:
        """Append ``batch`` whole, or report it dropped; never raises ``OSError``."""
        data = batch.data
        with self._lock:
            if self._closed:
                return Outcome(exported=0, dropped={"closed": batch.count})
            if not data:
                return None
            outcome = self._write_locked(data, batch.count)
            notices = self._failures.take()
            rotated = self._rotated
            if rotated:
                self._rotated = []
        if rotated and self._dated is not None:  # the batch is written: compress, prune
            for path in rotated:
                self._dated.rotated(path)
        if notices:  # printed outside the lock, as the HTTP sinks do
            for text in notices:
                _notice.warn(text)
        return outcome

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
                self._failures.record(exc)
        self.wait_compressed(CLOSE_COMPRESS_WAIT)

    def after_fork(self) -> None:
        """Reset per-process state in a forked child.

        The lock is replaced (a parent thread may have held it at fork time) and
        the error counters, the failure warning state and fsync bookkeeping start
        afresh: unsynced data written by the parent is the parent's to fsync. The
        inherited descriptor of a regular file is closed and the path reopened at
        the next batch: rotation locks belong to an open file description, so the
        child needs its own to exclude its parent (streams keep theirs).
        """
        self._lock = threading.Lock()
        self._failures = Failures()
        self._rotated = []
        self._shared = None
        self._dirty = False
        self._last_sync = self._clock()
        fd = self._fd
        if fd is not None and not self._special:
            self._fd = None
            with contextlib.suppress(OSError):
                os.close(fd)  # the parent's copy stays open (and keeps any lock it holds)
        if self._dated is not None:
            self._dated.after_fork()

    # -- helpers; called with the lock held ------------------------------------------

    def _write_locked(self, data: bytes, count: int) -> Outcome | None:
        start = -1
        written = 0
        try:
            fd, _size = self._prepare(len(data))
            view = memoryview(data)
            total = len(data)
            special = self._special
            while written < total:
                step = _progress(os.write(fd, view[written:]))
                if not written and not special:
                    # O_APPEND: our bytes began where this first write ended minus its
                    # length (another process may have appended since _prepare looked)
                    start = os.lseek(fd, 0, os.SEEK_CUR) - step
                written += step
            if not special:
                self._dirty = True
                if self._fsync == "batch" or (
                    self._fsync == "interval"
                    and self._clock() - self._last_sync >= self._fsync_interval
                ):
                    self._sync(fd)
        except OSError as exc:
            self._unshare()
            # A stream cannot be cut back: the whole lines that went out were delivered.
            sent = data.count(b"\n", 0, written) if self._special and written else 0
            self._fail(exc, start if written else -1, count - sent)
            return Outcome(exported=sent, dropped={"write_error": count - sent})
        self._unshare()
        if self._failures.failing:
            self._failures.recovered(self._who())
        return None

    def _who(self) -> str:
        """The sink's name, with its path unless the name is the default ``file:<path>``."""
        if self.name == f"file:{self._fspath}":
            return self.name
        return f"{self.name} ({self._fspath})"

    def _prepare(self, incoming: int) -> tuple[int, int]:
        """Open, reopen or rotate as needed; return the descriptor and current size.

        The common case is two system calls (``fstat`` of the descriptor, ``stat`` of
        the path): the file is still ours and no rotation is due. Anything else, the
        first open included, goes through :meth:`_settle`.
        """
        if self._guarded:
            return self._prepare_guarded(incoming)
        fd = self._fd
        if fd is not None:
            if self._special:
                return fd, 0
            st = os.fstat(fd)
            current = stat_or_none(self._path)
            if current is not None and same(current, st) and not self._due(st, incoming):
                return fd, st.st_size
        return self._settle(incoming)

    def _open(self) -> int:
        """Open the path (creating it): the sink's descriptor from now on.

        Whoever creates a daily/hourly file records its period on it.
        """
        fd, st, created = open_path(self._fspath, self._mode, self._period is not None)
        self._fd = fd
        self._dirty = False
        self._special = is_stream(self._path, st)
        if self._special:
            self._tell_special(st.st_mode)
        elif created and self._period is not None and self._dated is not None:
            start = period_start(self._now(), self._period, self._dated.utc)
            write_period(fd, start)
            self._born = (st.st_dev, st.st_ino, start)
        return fd

    def _tell_special(self, mode: int) -> None:
        """Once: rotation options asked for a stream do not apply (say so)."""
        if self._told_special or not (self._max_bytes or self._dated is not None):
            return
        self._told_special = True
        self._failures.notices.append(stream_notice(self._who(), self._fspath, mode))

    def _rotate_dated(self, fd: int, when: float) -> None:
        """Move the file to its dated name (the period containing ``when``), start anew.

        Called with the lock of ``fd`` (the file at the path) held; ``fd`` stays open,
        so locked, until the new file is open.
        """
        dated = self._dated
        assert dated is not None
        self._flush(fd)
        target = dated.target(period_stamp(when, self._period, dated.utc))
        try:
            self._path.replace(target)
            moved = True
        except FileNotFoundError:  # moved away meanwhile (by something that did not lock)
            moved = False
        try:
            self._open()
        finally:
            if self._fd != fd:
                os.close(fd)
        if moved:
            self._rotated.append(target)  # compressed and pruned once the batch is written

    def _rotate(self, fd: int) -> None:
        """Shift backups and start an empty file at the path (``backups=0``: truncate).

        Called with the lock of ``fd`` (the file at the path) held; ``fd`` stays open,
        so locked, until the renames are done and the new file is open.
        """
        if self._dated is not None:
            self._rotate_dated(fd, self._now())
            return
        self._flush(fd)
        if self._backups == 0:
            os.ftruncate(fd, 0)  # O_APPEND: every writer goes on at the new end
            return
        base = self._fspath
        limit = self._backups or 0
        present = 0  # backups .1 .. .present exist: only they shift (a gap stops the chain)
        while present < limit and os.path.lexists(f"{base}.{present + 1}"):
            present += 1
        for i in range(min(present + 1, limit), 0, -1):
            src = Path(f"{base}.{i - 1}") if i > 1 else self._path
            # replace() overwrites, so deletes, the oldest backup once all are there; a
            # missing source is a file moved away meanwhile.
            with contextlib.suppress(FileNotFoundError):
                src.replace(f"{base}.{i}")
        try:
            self._open()
        finally:
            if self._fd != fd:
                os.close(fd)

    def _flush(self, fd: int) -> None:
        """Before a rotation: fsync unsynced data when the policy wants it."""
        if self._dirty and self._fsync != "never":
            self._sync(fd)
        self._dirty = False

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
            if sync and self._dirty and self._fsync != "never" and not self._special:
                self._sync(fd)
        finally:
            self._dirty = False
            os.close(fd)

    def _fail(self, exc: OSError, truncate_to: int, dropped: int) -> None:
        """Contain a failed batch: cut its bytes back out and drop the descriptor."""
        self._failures.failed(exc, dropped, self._who())
        fd, self._fd = self._fd, None
        self._dirty = False
        if fd is None:
            return
        # A device such as /dev/full cannot be truncated: nothing more can be done.
        # Only cut when nothing was appended after our partial bytes (another process
        # sharing the file may have written since): their lines are never cut.
        with contextlib.suppress(OSError):
            if (
                truncate_to >= 0
                and not self._special
                and os.fstat(fd).st_size == os.lseek(fd, 0, os.SEEK_CUR)
            ):
                os.ftruncate(fd, truncate_to)
        with contextlib.suppress(OSError):
            os.close(fd)
