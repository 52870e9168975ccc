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
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import stat
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal

from .._core import notice as _notice
from .._core.batch import Batch
from .._core.errors import ConfigError
from .._core.levels import optional_level
from .._core.sink import sink_filter
from ._base import Outcome
from ._rotation import Period, Rotated, next_boundary, period_stamp, period_start

__all__ = ["FileSink"]

from .._config.sinkuri import FsyncPolicy

_FSYNC_POLICIES: Final = ("never", "batch", "interval")
_ROTATE: Final = ("daily", "hourly")
_COMPRESS: Final = ("gzip",)
_DEFAULT_BACKUPS: Final = 5
_MAX_BACKUPS: Final = 1000
# O_NONBLOCK: opening a FIFO nobody reads fails at once (ENXIO) instead of blocking the
# worker until a reader comes; it is cleared right after the open (writes block as usual).
_OPEN_FLAGS: Final = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK
#: Extended attribute holding the start (by the sink's ``now`` clock) of the period a file
#: was started in, so that every process sharing it agrees when it is due for rotation.
PERIOD_XATTR: Final = "user.nglogger.period"
#: Longest wait for another process's rotation of the shared file (seconds); after it the
#: batch is written to the current file, unrotated (nothing lost), and rotation is retried.
LOCK_WAIT: Final = 5.0
#: Times a write follows a file rotated away by another process before writing where it is.
_SETTLE_TRIES: Final = 8
_TIMEOUT: Final = "timeout"


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


def _same(a: os.stat_result, b: os.stat_result) -> bool:
    return a.st_ino == b.st_ino and a.st_dev == b.st_dev


def _stat_or_none(path: Path) -> os.stat_result | None:
    try:
        return path.stat()
    except FileNotFoundError:
        return None


def _names_a_descriptor(path: Path) -> bool:
    """Whether ``path`` is, through symlinks, one of the process's descriptors.

    ``/dev/stdout`` -> ``/proc/self/fd/1``, ``/dev/fd/2``: whatever file they reach, it
    is shared with the process's own writes and must never be renamed or truncated.
    """
    for _ in range(40):  # the kernel's own symlink limit
        text = str(path)
        if text.startswith(("/dev/fd/", "/proc/")) and "/fd/" in text:
            return True
        try:
            target = path.readlink()
        except OSError:
            return False
        path = path.parent / target
    return False


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "one of the process's descriptors"


def _lock(fd: int, shared: bool = False) -> bool | str:
    """``flock(fd, LOCK_EX)`` (or ``LOCK_SH``), polled for at most :data:`LOCK_WAIT` seconds.

    True: held (release with ``LOCK_UN`` or by closing ``fd``); False: the filesystem
    has no locks (rotation goes on uncoordinated, as before locks); ``_TIMEOUT``.
    """
    import fcntl

    operation = (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB
    deadline = 0.0
    pause = 0.001
    while True:
        try:
            fcntl.flock(fd, operation)
            return True
        except BlockingIOError:
            pass
        except OSError:  # ENOLCK, EINVAL...: no locks here
            return False
        now = time.monotonic()
        if not deadline:  # held by another process (rotating): wait, bounded
            deadline = now + LOCK_WAIT
        elif now >= deadline:
            return _TIMEOUT
        time.sleep(pause)
        pause = min(pause * 2, 0.002)


def _unlock(fd: int) -> None:
    import fcntl

    with contextlib.suppress(OSError):
        fcntl.flock(fd, fcntl.LOCK_UN)


def _read_period(fd: int) -> float | None:
    try:
        return float(os.getxattr(fd, PERIOD_XATTR))
    except (OSError, ValueError, AttributeError):  # no xattr, no support, not Linux
        return None


def _write_period(fd: int, start: float) -> None:
    with contextlib.suppress(OSError, AttributeError):
        os.setxattr(fd, PERIOD_XATTR, repr(start).encode())


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

    __slots__ = (
        "_backups",
        "_born",
        "_clock",
        "_closed",
        "_dated",
        "_dirty",
        "_episode",
        "_errors",
        "_failing",
        "_fd",
        "_fspath",
        "_fsync",
        "_fsync_interval",
        "_guarded",
        "_last_error",
        "_last_sync",
        "_lock",
        "_max_bytes",
        "_mode",
        "_next_rollover",
        "_notices",
        "_now",
        "_path",
        "_period",
        "_recovered",
        "_rotated",
        "_shared",
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
        #: Whether what a crash left (dated scheme) was looked at; the first open does it.
        self._recovered = self._dated is None
        #: Compression removes rotated files: a batch must never land in one once rotated,
        #: so writes hold a shared lock across the check that the file is at the path.
        self._guarded = compress is not None
        #: The descriptor whose shared lock the batch being written holds, if any.
        self._shared: int | None = None
        self._fsync: FsyncPolicy = fsync
        self._fsync_interval = float(fsync_interval)
        self._mode = mode
        self._clock = clock
        self._lock = threading.Lock()
        self._fd: int | None = None
        #: The open file is not a regular file of ours (FIFO, device, /dev/stdout...).
        self._special = False
        self._told_special = False
        #: (st_dev, st_ino, period start) of the open file, once known (rotate=... only).
        self._born: tuple[int, int, float] | None = None
        self._closed = False
        self._dirty = False
        self._last_sync = clock()
        self._errors = 0
        self._last_error: str | None = None
        #: Whether batches are failing (a warning went out); events dropped meanwhile.
        self._failing = False
        self._episode = 0
        #: Warnings to print once the lock is released.
        self._notices: list[str] = []
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
            outcome = self._write_locked(data, batch.count)
            notices = self._notices
            if notices:
                self._notices = []
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
                self._record(exc)
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
        self._errors = 0
        self._last_error = None
        self._failing = False
        self._episode = 0
        self._notices = []
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
        if self._failing:
            self._failing = False
            self._notices.append(
                f"sink {self._who()} writes again ({self._episode} events dropped as "
                "write_error while it could not)"
            )
            self._episode = 0
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
            current = _stat_or_none(self._path)
            if current is not None and _same(current, st) and not self._due(st, incoming):
                return fd, st.st_size
        return self._settle(incoming)

    def _prepare_guarded(self, incoming: int) -> tuple[int, int]:
        """:meth:`_prepare` holding a shared lock of the file from the check to the write.

        A rotation takes the exclusive lock: it waits for the batches being written,
        and a batch that waited for it finds its file rotated away and follows the path.
        """
        for _ in range(_SETTLE_TRIES):
            fd = self._fd
            if fd is not None:
                if self._special:
                    return fd, 0
                held = _lock(fd, shared=True) is True
                st = os.fstat(fd)
                current = _stat_or_none(self._path)
                if current is not None and _same(current, st) and not self._due(st, incoming):
                    self._shared = fd if held else None
                    return fd, st.st_size
                if held:
                    _unlock(fd)
            self._settle(incoming)  # then check again, under the shared lock
        return self._settle(incoming)

    def _unshare(self) -> None:
        """Release the shared lock the batch held, if the descriptor is still open."""
        fd, self._shared = self._shared, None
        if fd is not None and fd == self._fd:
            _unlock(fd)

    def _due(self, st: os.stat_result, incoming: int) -> bool:
        """Whether the file ``st`` looks due for rotation (a batch of ``incoming`` bytes)."""
        if self._period is not None and self._now() >= self._next_rollover:
            return True
        size = st.st_size
        return 0 < self._max_bytes < size + incoming and size > 0

    def _settle(self, incoming: int) -> tuple[int, int]:
        """Open the file at the path and rotate it if due, coordinated between processes.

        Only the holder of the ``flock`` of the file currently at the path renames it,
        and it checks, under the lock, that the file is still there: a process that
        finds its file rotated away by another reopens the path and decides again.
        """
        for _ in range(_SETTLE_TRIES):
            fd = self._fd
            if fd is None:
                fd = self._open()
                if self._special:
                    return fd, 0
            st = os.fstat(fd)
            current = _stat_or_none(self._path)
            if current is None or not _same(current, st):  # rotated away: follow the path
                self._release(sync=True)
                continue
            if not self._recovered:  # the first open of a dated sink: what a crash left
                self._recovered = True
                if self._dated is not None:
                    self._dated.recover()
            elif not self._due(st, incoming):
                return fd, st.st_size
            held = _lock(fd)
            if held == _TIMEOUT:  # another process is stuck rotating: write on, unrotated
                return fd, st.st_size
            try:
                current = _stat_or_none(self._path)
                if current is None or not _same(current, st):  # rotated while we waited
                    self._release(sync=True)  # (closing drops the lock)
                    continue
                return self._rotate_if_due(fd, current, incoming)
            finally:
                if held and self._fd == fd:
                    _unlock(fd)
        fd = self._fd if self._fd is not None else self._open()
        return fd, 0 if self._special else os.fstat(fd).st_size

    def _rotate_if_due(self, fd: int, st: os.stat_result, incoming: int) -> tuple[int, int]:
        """Under the file's lock, ``st`` being the file at the path: rotate it if due."""
        period = self._period
        if period is not None:
            dated = self._dated
            assert dated is not None
            now = self._now()
            current = period_start(now, period, dated.utc)
            born = self._period_of(fd, st, current)
            if st.st_size > 0 and born < current:
                self._rotate_dated(fd, born)  # named by the period it was started in
                self._next_rollover = next_boundary(now, period, dated.utc)
                new = self._fd
                assert new is not None
                return new, os.fstat(new).st_size
            self._next_rollover = next_boundary(now, period, dated.utc)
        size = st.st_size
        if 0 < self._max_bytes < size + incoming and size > 0:
            self._rotate(fd)
            new = self._fd
            assert new is not None
            return new, os.fstat(new).st_size
        return fd, size

    def _period_of(self, fd: int, st: os.stat_result, current: float) -> float:
        """The start of the period the open file ``st`` was started in (at most ``current``).

        Known in this process, else recorded on the file (by whichever process created
        it), else read from the modification time: a file last written in an earlier
        period than the present, both by the system clock that wrote it, is of that
        period; any other (one written since, an empty one, one whose creator has not
        recorded it yet) is of this period. Then recorded, so every process decides the same.
        """
        born = self._born
        if born is not None and born[0] == st.st_dev and born[1] == st.st_ino:
            return born[2]
        start = _read_period(fd)
        if start is None:
            dated = self._dated
            period = self._period
            assert dated is not None
            assert period is not None
            written = period_start(st.st_mtime, period, dated.utc)
            old = st.st_size and written < period_start(time.time(), period, dated.utc)
            start = min(written, current) if old else current
            _write_period(fd, start)
        self._born = (st.st_dev, st.st_ino, start)
        return start

    def _open(self) -> int:
        """Open the path (creating it): the sink's descriptor from now on."""
        fspath = self._fspath
        created = False
        try:
            if self._period is not None:  # whoever creates the file records its period
                try:
                    fd = os.open(fspath, _OPEN_FLAGS | os.O_EXCL, self._mode)
                    created = True
                except FileExistsError:
                    fd = os.open(fspath, _OPEN_FLAGS, self._mode)
            else:
                fd = os.open(fspath, _OPEN_FLAGS, self._mode)
        except OSError as exc:
            if exc.errno == errno.ENXIO and self._is_fifo():
                raise OSError(errno.ENXIO, "no process has the FIFO open for reading") from None
            raise
        try:
            os.set_blocking(fd, True)
            st = os.fstat(fd)
        except OSError:
            os.close(fd)
            raise
        self._fd = fd
        self._dirty = False
        self._special = not stat.S_ISREG(st.st_mode) or _names_a_descriptor(self._path)
        if self._special:
            self._tell_special(st.st_mode)
        elif created and self._period is not None and self._dated is not None:
            start = period_start(self._now(), self._period, self._dated.utc)
            _write_period(fd, start)
            self._born = (st.st_dev, st.st_ino, start)
        return fd

    def _is_fifo(self) -> bool:
        try:
            return stat.S_ISFIFO(self._path.stat().st_mode)
        except OSError:
            return False

    def _tell_special(self, mode: int) -> None:
        """Once: rotation options asked for a stream do not apply (say so)."""
        if self._told_special or not (self._max_bytes or self._dated is not None):
            return
        self._told_special = True
        self._notices.append(
            f"sink {self._who()}: {self._fspath} is {_kind(mode)}, written as a stream; "
            "rotation (max_bytes, rotate, compress, max_age) does not apply to it"
        )

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
        self._record(exc)
        self._episode += dropped
        if not self._failing:
            self._failing = True
            self._notices.append(
                f"sink {self._who()} cannot write ({self._last_error}); "
                "batches are dropped (write_error) until it can"
            )
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

    def _record(self, exc: OSError) -> None:
        self._errors += 1
        self._last_error = _describe(exc)
