"""The spool stage of one sink: what its queue overflows into, and what fills it back.

A :class:`SpoolFeed` sits beside a sink's queue (``nglogger._pipeline.worker``) and
shares its lock. It owns one thread, the only one that touches the disk while the
sink runs, and three kinds of work, oldest first:

* **spill**: a batch the queue has no room for (or that arrives while older events
  are on disk, so that order is kept) waits in ``_spill`` and is written to disk;
* **persist**: a batch that has waited ``SPOOL_AFTER`` in memory (at once while the
  sink fails, or at shutdown) is written too, and stays queued: it survives a crash
  from then on;
* **refill**: records are read back into the queue, one at a time, only while it has
  room for the next one.

Each batch with records on disk carries *marks* (its record positions, and whether it
also holds events that are in memory only); once it is delivered or dropped its
records are acknowledged, outside the lock. A disk write error turns writing off (what
is on disk is still read back); any other disk error turns the spool off, the sink
goes on memory-only. Either is said once on stderr.

The queue side is reached through :class:`QueueSide` (the worker, its lock held), so
this stage knows nothing of delivery; the worker knows the stage through the few
methods below and never touches the disk itself.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from .._core import notice as _notice
from .._core.batch import Batch
from .._core.errors import ConfigError, describe_exception
from .._core.guard import enter_delivery
from .._core.reasons import DropReason
from .records import Corrupt, Pos
from .store import Spool

__all__ = ["SPOOL_AFTER", "QueueSide", "SpoolFeed"]

SPOOL_AFTER = 1.0
"""A batch still undelivered this long after it was queued is written to disk."""

_MAX_WAIT = 1.0  # longest idle wait of the spool thread (re-checks stop)
_SPILL_CHUNK = 8 * 1024 * 1024  # bytes of batches written to the spool in one call

#: A batch's records in the spool and whether it holds events that are in memory only.
_Marks = tuple[tuple[Pos, ...], bool]


class QueueSide(Protocol):
    """The queue a :class:`SpoolFeed` feeds: every method is called with its lock held."""

    @property
    def stopping(self) -> bool: ...

    @property
    def abandoned(self) -> bool: ...

    def room_locked(self, nbytes: int) -> bool:
        """Room for a batch of ``nbytes`` (any size when the queue is empty)."""
        ...

    def enqueue_locked(self, batch: Batch, since: float, *, checked: bool) -> bool:
        """Append at the tail; unless ``checked``, only within the limits (False: no room)."""
        ...

    def pending_locked(self) -> Iterable[tuple[Batch, float]]:
        """Batches in flight, then queued, with when they were queued."""
        ...

    def delivering_locked(self) -> bool:
        """Whether a write is in progress."""
        ...

    def withdraw_locked(self) -> list[Batch]:
        """Stop for good: empty the queue and forget what is in flight; return them all."""
        ...

    def drop_locked(self, reason: DropReason, n: int) -> None: ...

    def note_error_locked(self, text: str) -> None: ...

    def wake_locked(self) -> None:
        """Wake the delivery threads and anyone waiting for the queue to change."""
        ...


class SpoolFeed:
    """The spool stage of one sink (see the module docstring)."""

    def __init__(
        self,
        spool: Spool,
        queue: QueueSide,
        lock: threading.RLock,
        *,
        name: str,
        max_events: int,
        max_bytes: int,
        overflow: str,
        clock: Callable[[], float],
        count_dropped: Callable[[DropReason], None] | None,
    ) -> None:
        self.spool = spool
        self._queue = queue
        self._lock = lock
        self._cond = threading.Condition(lock)
        self._name = name
        self._max_events = max_events  # the spill line holds as much as the queue
        self._max_bytes = max_bytes
        self._overflow = overflow
        self._clock = clock
        self._count_dropped = count_dropped
        self.on = False  # opened and working (False again after a disk error)
        self.broken = False  # a disk error turned the spool off
        self.error: str | None = None  # the disk error that turned it (partly) off
        self.opening = True  # a flush waits for what it replays
        self.replayed = 0  # events a previous process left in the spool
        self.stranded = 0  # on disk, dropped from memory at shutdown (counted as queued)
        self._writes = True  # False after a failed write: the disk is only read back
        self._spill: deque[tuple[Batch, float]] = deque()  # waiting for the spool thread
        self.spill_events = 0
        self.spill_bytes = 0
        self.disk_events = 0  # on disk, not read back yet (counted as queued)
        self.disk_bytes = 0
        self._marks: dict[Batch, _Marks] = {}  # batches that have records in the spool
        self._acks: list[Pos] = []  # records done, acknowledged outside the lock
        self._failing = False  # the sink handed events back or is not ready
        self._maybe_volatile = True  # a memory-only batch may be queued (scan to know)
        self._persist_retry_at = 0.0  # the spool was full: try again then
        self._next_record = 0  # bytes of the next record to read back
        self.thread: threading.Thread | None = None

    # ------------------------------------------------------ the queue's side
    @property
    def writing(self) -> bool:
        """Open and writable: batches may go to disk."""
        return self.on and self._writes

    def busy_locked(self) -> bool:
        """Events on their way to disk, on disk, or a replay not opened yet."""
        return bool(self.spill_events or self.disk_events or self.opening)

    def take_locked(self, batch: Batch, since: float, *, over: bool) -> str:
        """Where an offered batch goes: ``"queue"``, ``"spilled"`` (to disk) or ``"full"``.

        To disk when the queue has no room (``over``), at shutdown, or when older events
        are on their way to disk or there (order is kept); ``"full"`` when the spill line
        is full itself (the disk does not keep up): the queue counts it dropped.
        """
        if not (
            self.writing and (over or self._queue.stopping or self.spill_events or self.disk_events)
        ):
            return "queue"
        count, size = batch.count, batch.nbytes
        if (
            self.spill_events + count > self._max_events
            or self.spill_bytes + size > self._max_bytes
        ):
            return "full"
        self._spill.append((batch, since))
        self.spill_events += count
        self.spill_bytes += size
        self._cond.notify()
        return "spilled"

    def take_back_locked(self, batch: Batch, since: float) -> bool:
        """Memory pressure: the newest queued batch goes to the spill line (False: it stays).

        Only while order allows: nothing on disk yet and nothing on its way there (the
        queue's events are older than both), the batch in memory only, the spill line
        not full. Spilled from the front: it is older than what waits there.
        """
        count, size = batch.count, batch.nbytes
        if (
            not self.writing
            or self.disk_events
            or batch in self._marks
            or self.spill_events != sum(b.count for b, _ in self._spill)  # one being written
            or self.spill_events + count > self._max_events
            or self.spill_bytes + size > self._max_bytes
        ):
            return False
        self._spill.appendleft((batch, since))
        self.spill_events += count
        self.spill_bytes += size
        self._cond.notify()
        return True

    def queued_locked(self) -> None:
        """A memory-only batch was queued (or put back): it may be due for the disk."""
        if self.on:
            self._maybe_volatile = True
            self._cond.notify()

    def poke_locked(self) -> None:
        """The queue changed (a write finished): there may be room to refill."""
        self._cond.notify()

    def failing_locked(self) -> None:
        """The sink is not ready: what is in memory only goes to disk at once."""
        if not self._failing:
            self._failing = True
            self._cond.notify()

    def marked_locked(self, batch: Batch) -> bool:
        """Whether ``batch`` has records in the spool (it must stay whole: they travel with it)."""
        return batch in self._marks

    def volatile_locked(self, batch: Batch) -> bool:
        """Whether a queued batch holds events that are in memory only."""
        marks = self._marks.get(batch)
        return marks is None or marks[1]

    def merged_locked(self, parts: list[Batch], merged: Batch) -> None:
        """Batches were merged into one write: it carries all their records."""
        if not self._marks:
            return
        rids: list[Pos] = []
        volatile = False
        for part in parts:
            marks = self._marks.pop(part, None)
            if marks is None:
                volatile = True
            else:
                rids.extend(marks[0])
                volatile = volatile or marks[1]
        if rids:
            self._marks[merged] = (tuple(rids), volatile)

    def settled_locked(self, batch: Batch, handed_back: Batch | None, *, healthy: bool) -> None:
        """A write finished: its records are done, or travel with what was handed back."""
        marks = self._marks.pop(batch, None) if self._marks else None
        if marks is not None:
            if handed_back is not None:
                self._marks[handed_back] = marks  # acknowledged once the rest is done
            else:
                self._acks.extend(marks[0])
        if handed_back is not None:
            self._failing = True
        elif healthy:
            self._failing = False

    def forget_locked(self, batch: Batch) -> None:
        """A batch was dropped: its records are done."""
        marks = self._marks.pop(batch, None) if self._marks else None
        if marks is not None:
            self._acks.extend(marks[0])

    def kept_locked(self, queued: Iterable[Batch]) -> int:
        """Events that stay on disk for the next start (the exit summary)."""
        kept = self.disk_events + self.stranded
        if self.on:
            kept += sum(b.count for b in queued if not self.volatile_locked(b))
        return kept

    @property
    def has_acks(self) -> bool:
        return bool(self._acks)

    def flush_acks(self) -> None:
        """Acknowledge the records whose batches are done (outside the lock)."""
        with self._lock:
            acks, self._acks = self._acks, []
            spool = self.spool if self.on else None
        if spool is None or not acks:
            return
        try:
            spool.ack(acks)
        except OSError as exc:
            self._failed(exc)

    def stop_locked(self) -> None:
        self._cond.notify_all()

    # ------------------------------------------------------------ the thread
    def start(self) -> threading.Thread:
        """The spool thread (not started): open, replay, then move batches."""
        self.thread = threading.Thread(
            target=self._main, name=f"nglogger-spool-{self._name}", daemon=True
        )
        return self.thread

    def _main(self) -> None:
        """Open (replay what a previous process left), then one disk operation per turn.

        Every disk operation happens here (or in ``abandon``), never on the caller's,
        the batcher's or a delivery thread.
        """
        enter_delivery(self._count_dropped)
        spool = self.spool
        try:
            if not spool.wait_for_lock(
                lambda: self._queue.stopping,
                lambda: _notice.warn(
                    f"sink {self._name}: the spool {spool.directory} is used by another "
                    "pipeline of this process; events are kept in memory until it shuts down"
                ),
            ):
                with self._lock:
                    self.opening = False
                    self._queue.wake_locked()
                return
            spool.open()
        except (OSError, ConfigError) as exc:  # SpoolLockedError is a ConfigError
            self._failed(exc)
            return
        with self._lock:
            self.opening = False
            if self._queue.abandoned:
                return
            self.on = True
            self.replayed = spool.replayable_events
            self.disk_events += spool.unread_events
            self.disk_bytes += spool.unread_bytes
            self._queue.wake_locked()
        if spool.replayable_events:
            _notice.warn(
                f"sink {self._name}: replaying {spool.replayable_events} events left in "
                f"the spool {spool.directory}"
            )
        try:
            while self._step():
                pass
        except BaseException as exc:  # a bug must not leave batches waiting for a dead thread
            self._failed(exc)

    def _step(self) -> bool:
        """One turn, its disk errors handled; False when the thread is done."""
        try:
            return self._turn()
        except _WriteError as exc:
            self._write_failed(exc.error)
            return True
        except OSError as exc:
            self._failed(exc)
            return False

    def _turn(self) -> bool:
        """One disk operation; False when the thread is done."""
        spool = self.spool
        queue = self._queue
        task: str
        spill: list[Batch] = []
        persist: list[Batch] = []
        with self._lock:
            while True:
                if queue.abandoned or not self.on:
                    return False
                now = self._clock()
                sync = spool.sync_due()
                if sync is not None and sync <= 0:  # first: a busy spool still fsyncs in time
                    task = "sync"
                    break
                if self._spill and self._writes:
                    size = 0  # a few MiB per writev: few GIL round trips per batch
                    while self._spill and (not spill or size < _SPILL_CHUNK):
                        batch, _ = self._spill.popleft()  # counted in spill_* until written
                        spill.append(batch)
                        size += batch.nbytes
                    task = "spill"
                    break
                persist, due = self._volatile_due_locked(now) if self._writes else ([], None)
                if persist:
                    task = "persist"
                    break
                if not queue.stopping and self.disk_events and queue.room_locked(self._next_record):
                    task = "refill"
                    break
                if queue.stopping and not queue.delivering_locked() and due is None:
                    return False
                timeouts = [t for t in (due, sync) if t is not None]
                self._cond.wait(max(0.001, min(timeouts)) if timeouts else _MAX_WAIT)
        if task == "refill":
            self._refill_one()
        else:
            try:
                if task == "spill":
                    self._spill_many(spill)
                elif task == "persist":
                    self._persist(persist)
                else:
                    spool.sync()
            except OSError as exc:
                raise _WriteError(exc) from None
        if self._acks:
            self.flush_acks()
        return True

    def _volatile_due_locked(self, now: float) -> tuple[list[Batch], float | None]:
        """Memory-only batches to write now, and seconds until the next one is due."""
        if not self._maybe_volatile:
            return [], None
        if now < self._persist_retry_at:
            return [], self._persist_retry_at - now
        urgent = self._failing or self._queue.stopping
        due: list[Batch] = []
        wait: float | None = None
        found = False
        for batch, since in self._queue.pending_locked():
            if not self.volatile_locked(batch):
                continue
            found = True
            age = now - since
            if urgent or age >= SPOOL_AFTER:
                due.append(batch)
                self._marks.setdefault(batch, ((), True))  # present while it is pending
            else:
                left = SPOOL_AFTER - age
                wait = left if wait is None else min(wait, left)
        if not found:
            self._maybe_volatile = False
        return due, wait

    def _spill_many(self, batches: list[Batch]) -> None:
        """Write batches that waited in ``_spill``; a full spool applies the overflow policy."""
        spool = self.spool
        positions, error = spool.append_many([(b.data, b.count) for b in batches], loaded=False)
        written = [b for b, pos in zip(batches, positions, strict=True) if pos is not None]
        rest = batches[len(written) :]
        with self._lock:
            for batch in written:
                self.spill_events -= batch.count
                self.spill_bytes -= batch.nbytes
                self.disk_events += batch.count
                self.disk_bytes += batch.nbytes
            if error is not None:  # back in line: the failure handler moves them to memory
                now = self._clock()
                self._spill.extendleft((b, now) for b in reversed(rest))
                raise error
            self._queue.wake_locked()
        for batch in rest:  # the spool is full
            pos = None
            discarded = 0
            while pos is None and self._overflow == "drop_oldest":
                n = spool.discard_oldest()
                if n is None:
                    break
                discarded += n
                pos = spool.append(batch.data, batch.count, loaded=False)
            with self._lock:
                self.spill_events -= batch.count
                self.spill_bytes -= batch.nbytes
                self.disk_events -= discarded
                self._queue.drop_locked("spool_full", discarded)
                if pos is None:
                    self._queue.drop_locked("spool_full", batch.count)
                else:
                    self.disk_events += batch.count
                    self.disk_bytes += batch.nbytes

    def _persist(self, batches: list[Batch]) -> None:
        """Write memory-only batches that stay queued (they survive a crash from now on)."""
        if self._queue.abandoned:
            return
        positions, error = self.spool.append_many([(b.data, b.count) for b in batches], loaded=True)
        with self._lock:
            for batch, pos in zip(batches, positions, strict=True):
                if pos is None:  # full (or the error below): it stays in memory
                    self._persist_retry_at = self._clock() + SPOOL_AFTER
                    break
                marks = self._marks.get(batch)
                if marks is None:  # delivered or dropped meanwhile: the new record is done
                    self._acks.append(pos)
                else:
                    self._acks.extend(marks[0])  # its events are in the new record
                    self._marks[batch] = ((pos,), False)
        if error is not None:
            raise error

    def _refill_one(self) -> None:
        """Read the oldest record back into the queue (the sink delivers it as any batch)."""
        spool = self.spool
        size = spool.next_size()
        with self._lock:
            if size is not None:
                self._next_record = size
                if not self._queue.room_locked(size):
                    return
        record = spool.read() if size is not None else None
        with self._lock:
            if record is None:  # nothing readable left
                self.disk_events = 0
                self.disk_bytes = 0
                return
            if isinstance(record, Corrupt):
                n = min(record.count, self.disk_events)
                self.disk_events -= n
                self._queue.drop_locked("spool_corrupt", n)
                self._queue.wake_locked()
                return
            pos, data, count = record
            batch = Batch(data, count)
            self.disk_events = max(0, self.disk_events - count)
            self.disk_bytes = max(0, self.disk_bytes - len(data))
            self._marks[batch] = ((pos,), False)
            self._queue.enqueue_locked(batch, self._clock(), checked=True)

    # ---------------------------------------------------------------- errors
    def _write_failed(self, exc: BaseException) -> None:
        """A write failed (ENOSPC, EFBIG, EROFS...): keep reading back, write no more."""
        text = describe_exception(exc)
        with self._lock:
            if not self._writes:
                return
            self._writes = False
            self.error = f"spool: {text}"
            self._queue.note_error_locked(self.error)
            self._spill_to_memory_locked()
            on_disk = self.disk_events
            self._queue.wake_locked()
            self._cond.notify_all()
        _notice.warn(
            f"sink {self._name}: spool {self.spool.directory} cannot be written ({text}); "
            f"new events are kept in memory only ({on_disk} events on disk are still delivered)"
        )

    def _spill_to_memory_locked(self) -> None:
        """Batches waiting for the disk go back to the memory queue where there is room."""
        while self._spill:
            batch, since = self._spill.popleft()
            if not self._queue.enqueue_locked(batch, since, checked=False):
                self._queue.drop_locked("spool_error", batch.count)
        self.spill_events = self.spill_bytes = 0

    def _failed(self, exc: BaseException) -> None:
        """A disk error: the sink goes on with its memory queue only, and says so once."""
        text = describe_exception(exc)
        with self._lock:
            if self.broken:
                return
            self.broken = True
            self.on = False
            self.opening = False
            self.error = f"spool: {text}"
            self._queue.note_error_locked(self.error)
            self._spill_to_memory_locked()
            self.stranded += self.disk_events  # on disk: the next start may read them
            self.disk_events = self.disk_bytes = 0
            self._marks.clear()
            self._acks.clear()
            self._queue.wake_locked()
            self._cond.notify_all()
        _notice.warn(
            f"sink {self._name}: spool {self.spool.directory} disabled ({text}); "
            "events are kept in memory only"
        )
        try:
            self.spool.close()
        except OSError:
            pass

    # ------------------------------------------------------------ shutdown
    def abandon(self) -> int:
        """The deadline passed: write what is in memory only, keep the rest on disk.

        The queue side must already be marked abandoned. Returns the events not
        delivered (lost, or left in the spool for the next start).
        """
        spool = self.spool
        with self._lock:
            self._cond.notify_all()
            thread = self.thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)  # it stops after its current disk operation
        with self._lock:
            save: list[tuple[Batch, tuple[Pos, ...]]] = []
            pending = self._queue.withdraw_locked()
            pending += [b for b, _ in self._spill]
            for batch in pending:
                marks = self._marks.get(batch)
                if marks is None or marks[1]:
                    save.append((batch, marks[0] if marks else ()))
                else:
                    self.stranded += batch.count
            self._spill.clear()
            self.spill_events = self.spill_bytes = 0
            self._marks.clear()
        lost = 0
        acks: list[Pos] = []
        for batch, old in save:
            try:
                pos = spool.append(batch.data, batch.count, loaded=False)
            except OSError:
                pos = None
            with self._lock:
                if pos is None:  # no room: what is on disk already stays for the next start
                    on_disk = min(batch.count, spool.events_in(old)) if old else 0
                    self.stranded += on_disk
                    lost += batch.count - on_disk
                    self._queue.drop_locked("shutdown_deadline", batch.count - on_disk)
                else:
                    self.stranded += batch.count
                    acks.extend(old)
        try:
            spool.ack(acks)
        except OSError:
            pass
        spool.close()
        with self._lock:
            return lost + self.stranded + self.disk_events


class _WriteError(Exception):
    """A spool write failed (the disk is still read back)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error
