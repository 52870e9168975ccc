"""A sink's durable spool: whole batches in append-only segment files, bounded on disk.

(The record format is ``records``; the slots processes take one each, ``slots``.)

One directory per sink (``<spool_dir>/<sink name, made safe>-<crc>``) holds:

``lock``
    ``fcntl.flock``-ed by the process that owns the spool (it holds that pid, for the
    error a second process gets).
``NNNNNNNNNNNNNNNN.seg``
    segments of records, appended in order; a new one starts when the current one
    reaches ``segment_bytes``; a segment is deleted once every record in it was
    acknowledged, and all of them once the spool is empty.
``ack``
    what was delivered, replaced atomically (write ``ack.tmp``, ``os.replace``): the
    watermark ``segment offset`` (every record before it is done) and the positions of
    the records done beyond it (delivered out of order: a record appended while older
    ones were still unread).

A record is a 20-byte header and the batch's bytes as they are (no re-serialization)::

    magic b"NGS1" | payload length u32 | event count u32 | crc32(payload) u32
    | crc32(the 16 bytes before) u32        (little endian)

``zlib.crc32`` (stdlib, ~1 GB/s and more) is enough here: it detects torn and flipped
writes; nothing adversarial is defended against. The header has its own checksum so a
length can be trusted before the payload is read; a damaged header is skipped by
searching the next magic whose header checksum holds.

Opening (:meth:`Spool.open`, on the sink's spool thread) reads every header from the
watermark on: a torn record at the end of a segment (a process killed mid-write) is cut
off (counted in ``corrupt_records``), never delivered half. A payload whose checksum
fails is found when it is read and discarded (counted). Records are read oldest first,
one at a time: memory held by the spool is one record plus the positions of the records
between the watermark and the read cursor (at most the sink's queue's batches).

``fsync``: ``never`` (the kernel writes back; a killed process loses nothing written,
a power loss up to the kernel's writeback delay, ~30 s), ``interval`` (the default:
``fsync`` at most every :data:`SYNC_INTERVAL` s while records are written: a power
loss loses at most that), ``batch`` (every record and every acknowledgement: nothing,
at a cost per batch).

Disk bound: the segment files never hold more than ``max_bytes`` (an append that would
pass it is refused: the caller counts ``spool_full``); the ``ack`` and ``lock`` files
are a few bytes.
"""

from __future__ import annotations

import errno
import heapq
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .._core import notice as _notice
from .._core.errors import ConfigError
from .lock import HELD, SpoolLockedError, held_here, take_file_lock
from .records import (
    HEADER,
    Corrupt,
    Pos,
    find_next,
    parse_header,
    payload_crc,
    record_header,
    segment_name,
    truncate_quietly,
    write_all,
)

__all__ = [
    "FSYNC_POLICIES",
    "SYNC_INTERVAL",
    "Spool",
    "SpoolLockedError",
    "held_here",
]

FSYNC_POLICIES = ("never", "batch", "interval")
SYNC_INTERVAL = 1.0
"""Seconds between fsyncs under the ``interval`` policy."""

_SEGMENT_MIN = 4 * 1024
_SEGMENT_MAX = 64 * 1024 * 1024
_IOV_MAX = 512  # buffers per writev (two per record; the system's limit is 1024)


class Spool:
    """One sink's spool directory (see the module docstring). Thread-safe.

    Built on the configuring thread: creates the directory and takes the lock
    (:class:`SpoolLockedError` if another process holds it; ``OSError`` if the
    directory cannot be used: the caller then runs without a spool).
    :meth:`open` (the sink's spool thread) scans the segments.
    """

    def __init__(
        self,
        directory: str,
        *,
        max_bytes: int,
        fsync: str = "interval",
        segment_bytes: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        slots: int = 1,
    ) -> None:
        if fsync not in FSYNC_POLICIES:
            raise ConfigError("spool_fsync", fsync, ", ".join(FSYNC_POLICIES))
        self._base = directory
        self._slots = max(1, slots)
        self.directory = directory
        self._dir = Path(directory)
        self.max_bytes = max_bytes
        self.fsync = fsync
        self.segment_bytes = segment_bytes or max(_SEGMENT_MIN, min(_SEGMENT_MAX, max_bytes // 8))
        self._clock = clock
        self._lock = threading.RLock()
        self._closed = False
        self._opened = False
        # disk state
        self._segments: dict[int, int] = {}  # number -> size, oldest first
        self._live: dict[int, int] = {}  # number -> its records not done yet
        self._disk_bytes = 0
        self._write_seg = 0
        self._next_seg = 1
        self._write_fd: int | None = None
        self._read_fds: dict[int, int] = {}
        self._watermark: Pos = (1, 0)
        self._read: Pos = (1, 0)
        self._gaps: dict[Pos, Pos] = {}  # a damaged stretch -> the next valid record
        self._skip: dict[Pos, Pos] = {}  # beyond the read cursor: in memory or done -> its end
        self._done: set[Pos] = set()  # done at or beyond the watermark
        self._outstanding: set[Pos] = set()  # read or appended loaded, not done yet
        self._heap: list[Pos] = []  # the outstanding, for their minimum (lazy deletion)
        self._ends: dict[Pos, tuple[Pos, int, int]] = {}  # outstanding -> end, count, bytes
        self._unsynced = False
        self._last_sync = clock()
        # counters
        self.unread_events = 0
        self.unread_bytes = 0
        self.pending_events = 0  # every record not done (unread + in memory)
        self.pending_bytes = 0
        self.high_water_bytes = 0
        self.written_events = 0
        self.written_bytes = 0
        self.corrupt_records = 0
        self.replayable_events = 0  # found at open (a previous process's events)
        self.error: str | None = None
        self._real = os.path.realpath(directory)
        self._lock_fd: int | None = None
        self._acquire()

    # ---------------------------------------------------------------- locking
    def _acquire(self) -> None:
        """Take the first slot no other process holds (``<dir>``, then ``<dir>.1``, ...).

        A slot another pipeline of this process holds is waited for (``wait_for_lock``):
        a process keeps its slot across ``configure()`` calls. Each process of a server
        (gunicorn workers, forked children) so gets a spool of its own, and a process
        that takes a slot a dead one left replays it.
        """
        refused: SpoolLockedError | None = None
        for number in range(self._slots):
            directory = self._base if number == 0 else f"{self._base}.{number}"
            self.directory = directory
            self._dir = Path(directory)
            self._real = os.path.realpath(directory)
            self._dir.mkdir(parents=True, exist_ok=True)
            with HELD.cond:
                self._wait_in_process = self._real in HELD.dirs  # another pipeline of ours
                if self._wait_in_process:
                    return
                try:
                    self._lock_fd = self._take_file_lock()
                except SpoolLockedError as error:
                    refused = refused or error
                    continue
                HELD.dirs[self._real] = self
                return
        assert refused is not None
        if self._slots > 1:
            raise SpoolLockedError(
                "spool_dir",
                self._base,
                f"a directory whose {self._slots} slots are not all used by other processes",
                f"every slot is held by another process; slot 0 is {refused.hint}",
            )
        raise refused

    def for_child(self) -> Spool | None:
        """In a forked child, after :meth:`forget_after_fork`: a spool of its own (the next
        free slot), or None (warned) when there is none: the child's sink is memory-only."""
        try:
            return Spool(
                self._base,
                max_bytes=self.max_bytes,
                fsync=self.fsync,
                segment_bytes=self.segment_bytes,
                clock=self._clock,
                slots=self._slots,
            )
        except (OSError, ConfigError) as exc:
            _notice.warn(
                f"spool {self._base}: none for the forked process {os.getpid()} ({exc}); "
                "its events are kept in memory only"
            )
            return None

    def _take_file_lock(self) -> int:
        return take_file_lock(self._dir, self.directory)

    def wait_for_lock(
        self, stop: Callable[[], bool], slow: Callable[[], object] = lambda: None
    ) -> bool:
        """Wait until another pipeline of this process released the directory (or ``stop()``).

        ``slow()`` is called once if that takes more than 2 s (the other pipeline was
        not shut down: ``configure()`` shuts the previous one down at once).
        """
        warn_at = time.monotonic() + 2.0
        with HELD.cond:
            while self._wait_in_process:
                if warn_at and time.monotonic() > warn_at:
                    warn_at = 0.0
                    slow()
                if stop() or self._closed:
                    return False
                holder = HELD.dirs.get(self._real)
                if holder is None:
                    self._lock_fd = self._take_file_lock()
                    HELD.dirs[self._real] = self
                    self._wait_in_process = False
                    break
                HELD.cond.wait(0.1)
        return True

    # ---------------------------------------------------------------- opening
    def open(self) -> None:
        """Read the ack file and every header from the watermark; cut torn tails."""
        with self._lock:
            if self._opened or self._closed:
                return
            numbers = sorted(
                int(p.name[:-4])
                for p in self._dir.iterdir()
                if p.name.endswith(".seg") and p.name[:-4].isdigit()
            )
            watermark, done = self._read_ack()
            for number in numbers:
                if number < watermark[0]:  # resolved: deleted late (a crash after the ack)
                    self._path(number).unlink()
                    continue
                self._segments[number] = self._path(number).stat().st_size
            # segment numbers are never reused (a done position must stay unique)
            self._next_seg = max([*numbers, watermark[0], *(p[0] for p in done)]) + 1
            if not self._segments:
                watermark = (self._next_seg, 0)
            elif watermark[0] not in self._segments:
                watermark = (min(self._segments), 0)
            self._watermark = self._read = watermark
            self._done = {p for p in done if p >= watermark}
            for number in list(self._segments):
                self._scan(number, watermark[1] if number == watermark[0] else 0)
            self._disk_bytes = sum(self._segments.values())
            for number in [n for n in self._segments if not self._live.get(n)]:
                self._delete(number)  # every record in it is done (or it is empty)
            self.high_water_bytes = self._disk_bytes
            self.replayable_events = self.unread_events
            self._write_seg = self._next_seg - 1  # appends start a new segment
            self._opened = True

    def _read_ack(self) -> tuple[Pos, set[Pos]]:
        try:
            with (self._dir / "ack").open("rb") as f:
                numbers = [int(w) for w in f.read(1 << 20).split()]
        except (OSError, ValueError):
            return (0, 0), set()
        if len(numbers) < 2 or len(numbers) % 2:  # unreadable: replay from the oldest record
            return (0, 0), set()
        pairs = [(numbers[i], numbers[i + 1]) for i in range(0, len(numbers), 2)]
        return pairs[0], set(pairs[1:])

    def _scan(self, number: int, offset: int) -> None:
        """Headers of one segment from ``offset``: count the unread, cut a torn tail."""
        path = self._path(number)
        size = self._segments[number]
        with path.open("rb") as f:
            while offset < size:
                f.seek(offset)
                raw = f.read(HEADER)
                head = parse_header(raw)
                if head is not None and offset + HEADER + head[0] <= size:
                    pos = (number, offset)
                    end = offset + HEADER + head[0]
                    if pos in self._done:
                        self._skip[pos] = (number, end)
                    else:
                        self.unread_events += head[1]
                        self._live[number] = self._live.get(number, 0) + 1
                        self.unread_bytes += head[0]
                        self.pending_events += head[1]
                        self.pending_bytes += head[0]
                    offset = end
                    continue
                self.corrupt_records += 1
                found = find_next(f, offset + 1, size)
                if found is None:  # a torn tail: cut it off
                    with path.open("r+b") as w:
                        w.truncate(offset)
                    self._segments[number] = size = offset
                    break
                self._gaps[(number, offset)] = (number, found)
                offset = found

    # ---------------------------------------------------------------- writing
    def _path(self, number: int) -> Path:
        return self._dir / segment_name(number)

    def append(self, data: bytes, count: int, *, loaded: bool) -> Pos | None:
        """Append one batch as a record; its position, or None when the spool is full.

        ``loaded``: the batch stays in the caller's memory (the reader skips the
        record; the caller acknowledges it). Otherwise it is read back later, in order.
        Raises ``OSError`` (ENOSPC, EFBIG, EROFS, ...): the caller stops spooling.
        """
        positions, error = self.append_many([(data, count)], loaded=loaded)
        if error is not None:
            raise error
        return positions[0]

    def append_many(
        self, items: list[tuple[bytes, int]], *, loaded: bool
    ) -> tuple[list[Pos | None], OSError | None]:
        """Append batches in order, one ``writev`` per segment: ``(positions, error)``.

        A position is None for a batch that did not fit (and every one after it).
        After a disk error the batches written before it keep their positions,
        the rest get None, and the error is returned (nothing half-written stays).
        """
        out: list[Pos | None] = []
        error: OSError | None = None
        with self._lock:
            if self._closed or not self._opened:
                return [None] * len(items), OSError(errno.EBADF, "spool closed")
            i = 0
            while i < len(items) and error is None:
                size = HEADER + len(items[i][0])
                if self._disk_bytes + size > self.max_bytes:
                    break
                try:
                    fd = self._write_fd
                    current = self._segments.get(self._write_seg)
                    if (
                        fd is None
                        or current is None
                        or (current and current + size > self.segment_bytes)
                    ):
                        fd = self._new_segment()
                except OSError as exc:
                    error = exc
                    break
                offset = self._segments[self._write_seg]
                group: list[tuple[bytes, int]] = []
                iov: list[bytes] = []
                at, disk = offset, self._disk_bytes
                while i < len(items) and len(iov) < _IOV_MAX:
                    data, count = items[i]
                    size = HEADER + len(data)
                    if disk + size > self.max_bytes or (group and at + size > self.segment_bytes):
                        break
                    iov += (record_header(data, count), data)
                    group.append((data, count))
                    at += size
                    disk += size
                    i += 1
                try:
                    write_all(fd, iov, at - offset)
                    if self.fsync == "batch":
                        os.fsync(fd)
                except OSError as exc:
                    truncate_quietly(fd, offset)  # leave no torn record behind
                    error = exc
                    break
                for data, count in group:
                    out.append(self._added(data, count, loaded=loaded))
                self._unsynced = self.fsync != "batch"
        out.extend([None] * (len(items) - len(out)))
        return out, error

    def _added(self, data: bytes, count: int, *, loaded: bool) -> Pos:
        """Account for a record just written at the end of the write segment."""
        number = self._write_seg
        offset = self._segments[number]
        size = HEADER + len(data)
        pos = (number, offset)
        end = (number, offset + size)
        self._segments[number] = offset + size
        self._live[number] = self._live.get(number, 0) + 1
        self._disk_bytes += size
        self.high_water_bytes = max(self.high_water_bytes, self._disk_bytes)
        self.written_events += count
        self.written_bytes += len(data)
        self.pending_events += count
        self.pending_bytes += len(data)
        if loaded:
            self._track(pos, end, count, len(data))
            if self.unread_events == 0:  # nothing unread before it: the cursor passes it
                self._read = end
                if self._skip:
                    self._skip = {p: e for p, e in self._skip.items() if p >= end}
                if self._gaps:
                    self._gaps = {p: e for p, e in self._gaps.items() if p >= end}
            else:
                self._skip[pos] = end
        else:
            self.unread_events += count
            self.unread_bytes += len(data)
        return pos

    def _new_segment(self) -> int:
        if self._write_fd is not None:
            self._sync_fd(self._write_fd)
            os.close(self._write_fd)
            self._write_fd = None
        if self._write_seg in self._segments and not self._live.get(self._write_seg):
            self._delete(self._write_seg)  # every record in it is done already
        number = self._next_seg
        self._next_seg += 1
        self._write_seg = number
        fd = os.open(
            self._path(number), os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644
        )
        self._write_fd = fd
        self._segments.setdefault(number, os.fstat(fd).st_size)
        if self.fsync == "batch":
            self._sync_dir()
        return fd

    def _sync_fd(self, fd: int) -> None:
        if self.fsync != "never" and self._unsynced:
            try:
                os.fsync(fd)
            except OSError:
                pass

    def _sync_dir(self) -> None:
        try:
            fd = os.open(self.directory, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)

    def sync_due(self) -> float | None:
        """Seconds until the ``interval`` fsync is due (None: nothing to sync)."""
        if self.fsync != "interval" or not self._unsynced:
            return None
        return max(0.0, self._last_sync + SYNC_INTERVAL - self._clock())

    def sync(self) -> None:
        """fsync the segment being written (the ``interval`` policy's tick)."""
        with self._lock:
            if self._write_fd is not None and self._unsynced and not self._closed:
                os.fsync(self._write_fd)
            self._unsynced = False
            self._last_sync = self._clock()

    # ---------------------------------------------------------------- reading
    def next_size(self) -> int | None:
        """Payload bytes of the next unread record (None: nothing unread)."""
        with self._lock:
            found = self._locate()
            if found is None:
                return None
            return found[1][0]

    def _locate(self) -> tuple[Pos, tuple[int, int, int]] | None:
        """Move the read cursor over skipped records and gaps; the next record's header."""
        while True:
            if self.unread_events <= 0 and self.unread_bytes <= 0:
                return None
            pos = self._read
            number, offset = pos
            size = self._segments.get(number)
            if size is None:
                later = [n for n in self._segments if n > number]
                if not later:
                    return None
                self._read = (min(later), 0)
                continue
            if offset >= size:
                later = [n for n in self._segments if n > number]
                if not later:
                    return None
                self._read = (min(later), 0)
                continue
            if pos in self._skip:
                self._read = self._skip.pop(pos)
                continue
            if pos in self._gaps:
                self._read = self._gaps.pop(pos)
                continue
            raw = os.pread(self._reader(number), HEADER, offset)
            head = parse_header(raw)
            if head is None or offset + HEADER + head[0] > size:
                # damaged after the open scan: the rest of this segment is unreadable
                self.corrupt_records += 1
                later = [n for n in self._segments if n > number]
                if not later:
                    return None
                self._read = (min(later), 0)
                continue
            return pos, head

    def _reader(self, number: int) -> int:
        fd = self._read_fds.get(number)
        if fd is None:
            for old in [n for n in self._read_fds if n < number]:
                os.close(self._read_fds.pop(old))
            fd = os.open(self._path(number), os.O_RDONLY | os.O_CLOEXEC)
            self._read_fds[number] = fd
        return fd

    def read(self) -> tuple[Pos, bytes, int] | Corrupt | None:
        """The next unread record ``(position, payload, events)``, oldest first.

        A payload whose checksum fails comes back as :class:`Corrupt` (already
        resolved: the caller counts its events dropped). The caller acknowledges
        a record read with :meth:`ack` once the sink is done with it.
        """
        with self._lock:
            if self._closed or not self._opened:
                return None
            found = self._locate()
            if found is None:
                return None
            pos, (length, count, crc) = found
            number, offset = pos
            data = os.pread(self._reader(number), length, offset + HEADER)
            end = (number, offset + HEADER + length)
            self._read = end
            self.unread_events = max(0, self.unread_events - count)
            self.unread_bytes = max(0, self.unread_bytes - length)
            self._track(pos, end, count, length)
            if len(data) != length or payload_crc(data) != crc:
                self.corrupt_records += 1
                self._resolve(pos)
                self._advance()
                return Corrupt(pos, count)
            return pos, data, count

    def discard_oldest(self) -> int | None:
        """Drop the oldest unread record (``drop_oldest`` on a full spool); its events."""
        with self._lock:
            if self._closed or not self._opened:
                return None
            found = self._locate()
            if found is None:
                return None
            pos, (length, count, _) = found
            end = (pos[0], pos[1] + HEADER + length)
            self._read = end
            self.unread_events = max(0, self.unread_events - count)
            self.unread_bytes = max(0, self.unread_bytes - length)
            self._track(pos, end, count, length)
            self._resolve(pos)
            self._advance()
            return count

    # ------------------------------------------------------- acknowledging
    def _track(self, pos: Pos, end: Pos, count: int, nbytes: int) -> None:
        self._outstanding.add(pos)
        heapq.heappush(self._heap, pos)
        self._ends[pos] = (end, count, nbytes)

    def events_in(self, positions: tuple[Pos, ...] | list[Pos]) -> int:
        """How many events the records at ``positions`` hold (those still outstanding)."""
        with self._lock:
            return sum(self._ends[pos][1] for pos in positions if pos in self._ends)

    def ack(self, positions: tuple[Pos, ...] | list[Pos]) -> None:
        """These records are done (delivered, or dropped and counted): never sent again."""
        if not positions:
            return
        with self._lock:
            if self._closed or not self._opened:
                return
            for pos in positions:
                self._resolve(pos)
            self._advance()

    def _resolve(self, pos: Pos) -> None:
        if pos not in self._outstanding:
            return
        self._outstanding.discard(pos)
        _, count, nbytes = self._ends.pop(pos)
        self.pending_events -= count
        self.pending_bytes -= nbytes
        self._done.add(pos)
        number = pos[0]
        live = self._live.get(number, 0) - 1
        if live > 0:
            self._live[number] = live
        else:  # every record of that segment is done: its space is free at once
            self._live.pop(number, None)
            if number != self._write_seg or self._write_fd is None:
                self._delete(number)

    def _advance(self) -> None:
        heap = self._heap
        while heap and heap[0] not in self._outstanding:
            heapq.heappop(heap)
        mark = min(heap[0], self._read) if heap else self._read
        if self.pending_events == 0 and not self._outstanding and self.unread_events == 0:
            self._reset_if_empty()
            return
        if mark != self._watermark:
            self._watermark = mark
            self._done = {p for p in self._done if p >= mark}
            for number in [n for n in self._segments if n < mark[0]]:
                self._delete(number)
        self._write_ack()

    def _reset_if_empty(self) -> None:
        """Everything done: delete every segment, start the next one afresh."""
        if self._write_fd is not None:
            os.close(self._write_fd)
            self._write_fd = None
        for number in list(self._segments):
            self._delete(number)
        self._watermark = self._read = (self._next_seg, 0)
        self._done.clear()
        self._skip.clear()
        self._gaps.clear()
        self._write_ack()

    def _delete(self, number: int) -> None:
        self._live.pop(number, None)
        size = self._segments.pop(number, 0)
        self._disk_bytes -= size
        fd = self._read_fds.pop(number, None)
        if fd is not None:
            os.close(fd)
        self._path(number).unlink(missing_ok=True)

    def _write_ack(self) -> None:
        words = [f"{self._watermark[0]} {self._watermark[1]}"]
        words.extend(f"{n} {o}" for n, o in sorted(self._done))
        tmp = self._dir / "ack.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
        try:
            os.write(fd, ("\n".join(words) + "\n").encode())
            if self.fsync == "batch":
                os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(self._dir / "ack")

    # ---------------------------------------------------------------- state
    @property
    def disk_bytes(self) -> int:
        """Bytes the segment files hold now."""
        return self._disk_bytes

    @property
    def opened(self) -> bool:
        """True once :meth:`open` scanned the directory."""
        return self._opened

    def close(self) -> None:
        """Sync, close the files, release the lock (records not done stay for the next start)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._write_fd is not None:
                self._sync_fd(self._write_fd)
            self._close_fds()
        with HELD.cond:
            if HELD.dirs.get(self._real) is self:
                del HELD.dirs[self._real]
            if self._lock_fd is not None:
                os.close(self._lock_fd)  # closing releases the flock
                self._lock_fd = None
            HELD.cond.notify_all()

    def _close_fds(self) -> None:
        for fd in [self._write_fd, *self._read_fds.values()]:
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._write_fd = None
        self._read_fds.clear()

    def forget_after_fork(self) -> None:
        """In a forked child: close the inherited descriptors, never touching the files.

        The lock is not released (``flock`` belongs to the shared open file: the
        parent keeps it); :meth:`for_child` then gives the child a slot of its own.
        """
        self._closed = True
        self._lock = threading.RLock()
        self._close_fds()
        if self._lock_fd is not None:
            try:
                os.close(self._lock_fd)
            except OSError:
                pass
            self._lock_fd = None
        HELD.dirs.pop(self._real, None)
