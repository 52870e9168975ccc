"""Processes sharing one file sink's file: who rotates it, and when, under which lock.

Several processes may write one file (forked or separately started workers, each with
its own ``FileSink``). A rotation is decided and done under an exclusive ``flock`` of
the file at the path, taken only when a rotation looks due; under it the sink checks
that the file is still the one at the path (else another process rotated it: the sink
reopens the path and decides again on that file), so the renames run once per
rotation, never once per process. With ``compress`` (which removes rotated files), each
batch holds a shared ``flock`` from its check that the file is at the path to its
write. A wait for another process's lock is bounded (:data:`LOCK_WAIT`). A daily/hourly
file records the start of the period it was started in as the extended attribute
:data:`PERIOD_XATTR` (where the filesystem has none, the file's modification time
stands in), so only one process rotates it per period. No lock file is created.

:class:`SharedFile` holds these steps as methods of ``FileSink`` (its base class): they
read and write the sink's state, and call its ``_open``, ``_release``, ``_rotate`` and
``_rotate_dated``. Memory: a constant.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final

from ._rotation import Period, Rotated, next_boundary, period_start

__all__ = ["LOCK_WAIT", "PERIOD_XATTR", "SharedFile", "same", "stat_or_none", "write_period"]

#: Extended attribute holding the start (by the sink's ``now`` clock) of the period a file
#: was started in, so that every process sharing it agrees when it is due for rotation.
PERIOD_XATTR: Final = "user.nglogger.period"
#: Longest wait for another process's rotation of the shared file (seconds); after it the
#: batch is written to the current file, unrotated (nothing lost), and rotation is retried.
LOCK_WAIT: Final = 5.0
#: Times a write follows a file rotated away by another process before writing where it is.
_SETTLE_TRIES: Final = 8
_TIMEOUT: Final = "timeout"


def same(a: os.stat_result, b: os.stat_result) -> bool:
    """Whether two ``stat`` results are of one file (device and inode)."""
    return a.st_ino == b.st_ino and a.st_dev == b.st_dev


def stat_or_none(path: Path) -> os.stat_result | None:
    """``path.stat()``, or None when nothing is at the path (rotated away)."""
    try:
        return path.stat()
    except FileNotFoundError:
        return None


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


def write_period(fd: int, start: float) -> None:
    """Record on the file the start of the period it was started in (where it can)."""
    with contextlib.suppress(OSError, AttributeError):
        os.setxattr(fd, PERIOD_XATTR, repr(start).encode())


class SharedFile:
    """``FileSink``'s steps that processes sharing its file coordinate (see the module).

    Called with the sink's lock held. The slots are the state of the coordination
    (set by the sink's ``__init__``); the other attributes are the sink's, read here.
    """

    __slots__ = ("_born", "_next_rollover", "_recovered", "_shared")

    #: (st_dev, st_ino, period start) of the open file, once known (rotate=... only).
    _born: tuple[int, int, float] | None
    #: When the daily/hourly file is next due (by the sink's ``now`` clock).
    _next_rollover: float
    #: Whether what a crash left (dated scheme) was looked at; the first open does it.
    _recovered: bool
    #: The descriptor whose shared lock the batch being written holds, if any.
    _shared: int | None

    _fd: int | None
    _path: Path
    _special: bool
    _max_bytes: int
    _period: Period | None
    _dated: Rotated | None
    _now: Callable[[], float]

    if TYPE_CHECKING:  # the sink's own steps these call

        def _open(self) -> int: ...
        def _release(self, sync: bool) -> None: ...
        def _rotate(self, fd: int) -> None: ...
        def _rotate_dated(self, fd: int, when: float) -> None: ...

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
                current = stat_or_none(self._path)
                if current is not None and same(current, st) and not self._due(st, incoming):
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
            current = stat_or_none(self._path)
            if current is None or not same(current, st):  # rotated away: follow the path
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
                current = stat_or_none(self._path)
                if current is None or not same(current, st):  # rotated while we waited
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
            write_period(fd, start)
        self._born = (st.st_dev, st.st_ino, start)
        return start
