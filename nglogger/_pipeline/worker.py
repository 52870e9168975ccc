"""One sink's bounded queue and the thread that feeds it.

Every sink gets its own ``SinkWorker``: a deque of shared :class:`Batch`
objects limited in events and bytes, and a daemon thread that hands them to
``sink.write`` one at a time. A slow, stuck or raising sink therefore only
fills its own queue; the batcher never waits for it.

A sink may ask for more (the optional capabilities of ``nglogger._core.sink``):

* ``request_limits()``: the worker merges queued batches, oldest first, into
  one write of at most that many events and bytes (an HTTP sink drains a
  backlog in full requests); the batches being written keep counting against
  the queue's limits, so a write handed back always fits;
* ``Outcome.requeue``: events the sink could not deliver yet go back to the
  head of the queue (nothing is lost while the queue has room); the oldest are
  the first evicted by ``drop_oldest``;
* ``ready_in()``: while the sink is not ready (an open breaker, a backoff) the
  worker waits and the batches stay queued;
* ``max_age``: a batch that waited longer is dropped as ``expired``.

* a spool (``spool=``, ``nglogger._spool.store``): batches that would overflow the
  queue, or that wait on a failing sink, go to disk on the worker's spool thread
  and are read back oldest first as the queue has room (see the "spool" section
  of ``docs/architecture.md``); nothing expires then (``max_age`` is ignored).

Accounting, per sink, at every instant (taken under the worker's lock)::

    accepted + replayed == exported + sum(dropped.values()) + queued

where ``queued`` counts the queue, the batches in flight, those on their way to
the spool and those on disk not read back yet; ``replayed`` the events a previous
process left in the spool (0 without one).

Worst-case footprint: ``max_bytes`` of batches in the queue plus the batch in
flight (shared with other sinks, so often not extra memory at all); for a
coalescing sink the merged batch in flight is within ``max_bytes`` too. With a
spool, another ``max_bytes`` of batches on their way to disk; records are read
back one at a time, only when the queue has room for them.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import cast

from .._core import notice as _notice
from .._core.batch import Batch
from .._core.errors import ConfigError
from .._core.guard import enter_delivery
from .._core.reasons import DropReason
from .._core.sink import (
    Coalesces,
    DescribesErrors,
    Expires,
    ForkAware,
    NamesQueueFull,
    Outcome,
    Paced,
    Sink,
    concurrency_of,
    sink_name,
)
from .._core.stats import SinkStats
from .._spool.records import Corrupt, Pos
from .._spool.store import Spool

__all__ = ["SinkWorker"]

_MAX_ERROR_TEXT = 300


_MAX_WAIT = 1.0  # longest single wait while the sink is not ready (re-checks age and stop)
SPOOL_AFTER = 1.0
_SPILL_CHUNK = 8 * 1024 * 1024  # bytes of batches written to the spool in one call
"""With a spool: a batch still undelivered this long after it was queued is written to disk."""

#: A batch's records in the spool and whether it holds events that are in memory only.
_Marks = tuple[tuple[Pos, ...], bool]


class SinkWorker:
    """Queue + worker thread(s) for one sink."""

    def __init__(
        self,
        sink: Sink,
        *,
        max_events: int,
        max_bytes: int,
        overflow: str = "drop_newest",
        on_progress: Callable[[], None] = lambda: None,
        count_dropped: Callable[[DropReason], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        spool: Spool | None = None,
    ) -> None:
        self.sink = sink
        self._spool = spool
        self.name: str = sink_name(sink)
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._overflow = overflow
        self._on_progress = on_progress
        self._count_dropped = count_dropped
        self._clock = clock
        self._concurrency = concurrency_of(sink)
        self._full_reason: Callable[[], str] = (
            sink.queue_full_reason if isinstance(sink, NamesQueueFull) else _queue_full
        )
        self._coalesces = isinstance(sink, Coalesces)
        self._paced = isinstance(sink, Paced)
        self._reset_state()

    def _reset_state(self) -> None:
        # An RLock: stats() from a signal handler that interrupted a dispatch on the
        # same thread reads the counters instead of waiting for itself.
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[tuple[Batch, float]] = deque()  # (batch, when it was queued)
        self._queued_events = 0
        self._queued_bytes = 0
        # thread ident -> (batch being written, when its oldest event was queued)
        self._in_flight: dict[int, tuple[Batch, float]] = {}
        self._held_events = 0  # in flight AND counted against the limits (coalescing sinks)
        self._held_bytes = 0
        self._accepted = 0
        self._exported = 0
        self._dropped: dict[str, int] = {}
        self._batches = 0
        self._errors = 0
        self._last_error: str | None = None
        self._hw_events = 0
        self._hw_bytes = 0
        self._stopping = False
        self._abandoned = False
        self._summarized = False
        self._threads: list[threading.Thread] = []
        # the spool (see _spool_main): batches on their way to disk, and what is there
        self._spool_cond = threading.Condition(self._lock)
        self._spool_on = False  # opened and working (False again after a disk error)
        self._spool_writes = True  # False after a failed write: the disk is only read back
        self._spool_error: str | None = None  # the disk error that turned it (partly) off
        self._spill: deque[tuple[Batch, float]] = deque()  # waiting for the spool thread
        self._spill_events = 0
        self._spill_bytes = 0
        self._disk_events = 0  # on disk, not read back yet (counted as queued)
        self._disk_bytes = 0
        self._stranded = 0  # on disk, dropped from memory at shutdown (counted as queued)
        self._marks: dict[Batch, _Marks] = {}  # batches that have records in the spool
        self._acks: list[Pos] = []  # records done, acknowledged outside the lock
        self._failing = False  # the sink handed events back or is not ready
        self._replayed = 0  # events a previous process left in the spool
        self._spool_thread: threading.Thread | None = None
        self._spool_broken = False  # a disk error turned the spool off
        self._maybe_volatile = True  # a memory-only batch may be queued (scan to know)
        self._persist_retry_at = 0.0  # the spool was full: try again then
        self._next_record = 0  # bytes of the next record to read back
        self._spool_opening = self._spool is not None  # flush waits for what it replays

    # --------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the worker thread(s) (idempotent).

        A sink with a ``concurrency`` attribute (HTTP sinks) gets that many threads,
        so that many requests can be in flight; the default is one.
        """
        with self._lock:
            if self._threads:
                return
            base = f"nglogger-sink-{self.name}"
            self._threads = [
                threading.Thread(
                    target=self._run,
                    name=base if self._concurrency == 1 else f"{base}-{i}",
                    daemon=True,
                )
                for i in range(self._concurrency)
            ]
            threads = list(self._threads)
            if self._spool is not None:
                self._spool_thread = threading.Thread(
                    target=self._spool_main, name=f"nglogger-spool-{self.name}", daemon=True
                )
                threads.append(self._spool_thread)
        for thread in threads:
            thread.start()

    def after_fork_child(self) -> None:
        """In a forked child: forget the parent's queue and counters, new thread.

        The child never writes into the parent's spool: it closes the inherited
        descriptors and takes a slot of its own (``Spool.for_child``: the next one no
        process holds, replaying what a dead process left there), or runs memory-only
        when there is none.
        """
        if self._spool is not None:
            self._spool.forget_after_fork()
            self._spool = self._spool.for_child()
        self._reset_state()
        if isinstance(self.sink, ForkAware):
            try:
                self.sink.after_fork()
            except Exception as exc:
                self._errors += 1
                self._last_error = _describe(exc)

    # ------------------------------------------------------------------ offer
    def _over(self, count: int, size: int) -> bool:
        return (
            self._queued_events + self._held_events + count > self._max_events
            or self._queued_bytes + self._held_bytes + size > self._max_bytes
        )

    def offer(self, batch: Batch) -> None:
        """Queue a batch, or count it dropped per the overflow policy. Never blocks."""
        count = batch.count
        size = batch.nbytes
        with self._lock:
            self._accepted += count
            if (self._spool_on and self._spool_writes) and (
                self._stopping or self._spill_events or self._disk_events or self._over(count, size)
            ):
                # behind what is on disk already, or no room: to the spool, in order
                if (
                    self._spill_events + count <= self._max_events
                    and self._spill_bytes + size <= self._max_bytes
                ):
                    self._spill.append((batch, self._clock()))
                    self._spill_events += count
                    self._spill_bytes += size
                    self._spool_cond.notify()
                else:  # the disk does not keep up
                    self._drop_locked(self._queue_full_reason(), count)
                return
            if self._stopping:
                self._drop_locked("shutdown_deadline", count)
                return
            if self._over(count, size):
                if self._overflow == "drop_oldest":
                    while self._queue and self._over(count, size):
                        old, _ = self._queue.popleft()
                        self._queued_events -= old.count
                        self._queued_bytes -= old.nbytes
                        self._drop_marked_locked(old, self._queue_full_reason())
                if self._over(count, size):
                    self._drop_locked(self._queue_full_reason(), count)
                    return
            self._queue.append((batch, self._clock()))
            self._queued_events += count
            self._queued_bytes += size
            if self._spool_on:
                self._maybe_volatile = True
                self._spool_cond.notify()
            self._hw_events = max(self._hw_events, self._queued_events + self._held_events)
            self._hw_bytes = max(self._hw_bytes, self._queued_bytes + self._held_bytes)
            # A flush waits on this condition too: notify() could wake the flush instead of
            # an idle worker thread (which waits without a timeout), leaving the batch queued
            # until the flush timed out. Once per batch, so waking every waiter is cheap.
            self._cond.notify_all()

    def _queue_full_reason(self) -> DropReason:
        """The sink may name why its queue is full (an HTTP sink: ``breaker_open``)."""
        try:
            return cast("DropReason", str(self._full_reason()))  # a sink's own name, as given
        except Exception:
            return "sink_queue_full"

    def _drop_locked(self, reason: DropReason, n: int) -> None:
        if n:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    # ----------------------------------------------------------------- thread
    def _max_age(self) -> float | None:
        sink = self.sink
        if (self._spool is not None and not self._spool_broken) or not isinstance(sink, Expires):
            return None  # with a spool nothing expires: the disk bound governs
        age = sink.max_age
        if isinstance(age, bool) or not isinstance(age, (int, float)) or not age > 0:
            return None
        return float(age)

    def _expire_locked(self, now: float) -> float | None:
        """Drop queued batches older than ``max_age`` (oldest first); seconds to the next expiry."""
        max_age = self._max_age()
        if max_age is None:
            return None
        queue = self._queue
        while queue and now - queue[0][1] >= max_age:
            old, _ = queue.popleft()
            self._queued_events -= old.count
            self._queued_bytes -= old.nbytes
            self._drop_locked("expired", old.count)
        return queue[0][1] + max_age - now if queue else None

    def _ready_in(self) -> float:
        if not self._paced:
            return 0.0
        try:
            wait = float(self.sink.ready_in())  # type: ignore[attr-defined]
        except Exception:
            return 0.0
        return wait if wait > 0 else 0.0

    def _limits(self) -> tuple[int, int] | None:
        if not self._coalesces:
            return None
        try:
            events, size = self.sink.request_limits()  # type: ignore[attr-defined]
        except Exception:
            return None
        return int(events), int(size)

    def _take_locked(self) -> tuple[Batch, float]:
        """Pop the oldest batch, merged with the next ones within the sink's request limits."""
        batch, since = self._queue.popleft()
        events, size = batch.count, batch.nbytes
        self._queued_events -= events
        self._queued_bytes -= size
        limits = self._limits()
        if limits is None:
            return batch, since
        max_events, max_bytes = limits
        parts = [batch]
        queue = self._queue
        while queue:
            head = queue[0][0]
            if events + head.count > max_events or size + head.nbytes > max_bytes:
                break
            queue.popleft()
            parts.append(head)
            events += head.count
            size += head.nbytes
            self._queued_events -= head.count
            self._queued_bytes -= head.nbytes
        if len(parts) > 1:
            batch = Batch(b"".join([p.data for p in parts]), events, parts[0].seq)
            if self._marks:
                self._merge_marks_locked(parts, batch)
        del parts
        self._held_events += events
        self._held_bytes += size
        return batch, since

    def step(self, wait: Callable[[float | None], object]) -> str:
        """One turn of the worker loop (the thread's body; tests drive it on a fake clock).

        ``wait(timeout)`` is called with the lock held (``Condition.wait`` in the
        thread). Returns ``"exit"``, ``"idle"`` (waited: queue empty), ``"waited"``
        (the sink was not ready) or ``"wrote"``.
        """
        sink = self.sink
        me = threading.get_ident()
        with self._lock:
            if self._abandoned or (self._stopping and not self._queue):
                return "exit"
            now = self._clock()
            expiry = self._expire_locked(now)
            if not self._queue:
                if self._stopping:
                    return "exit"
                wait(None)
                return "idle"
            ready = self._ready_in()
            if ready > 0 and self._spool_on and self._spool_writes:
                if self._stopping and not any(self._volatile_locked(b) for b, _ in self._queue):
                    return "exit"  # everything left is on disk, for the next start
                if not self._failing:
                    self._failing = True
                    self._spool_cond.notify()
            if ready > 0:
                timeout = min(ready, _MAX_WAIT)
                if expiry is not None:
                    timeout = min(timeout, max(expiry, 0.001))
                wait(timeout)
                return "waited"
            batch, since = self._take_locked()
            self._in_flight[me] = (batch, since)
        outcome: Outcome | None
        error: str | None = None
        try:
            outcome = sink.write(batch)
        except BaseException as exc:  # contain everything a sink can do
            outcome = Outcome(0, {"sink_error": batch.count})
            error = _describe(exc)
        del batch
        with self._lock:
            flight = self._in_flight.pop(me, None)
            if flight is not None:
                if self._coalesces:
                    self._held_events -= flight[0].count
                    self._held_bytes -= flight[0].nbytes
                if not self._abandoned:
                    self._settle(flight[0], flight[1], outcome, error)
            del flight
            self._cond.notify_all()
            if self._spool is not None:
                self._spool_cond.notify()
        if self._acks:
            self._flush_acks()
        self._on_progress()
        return "wrote"

    def _run(self) -> None:
        enter_delivery(self._count_dropped)
        wait = self._cond.wait
        while self.step(wait) != "exit":
            pass

    def _settle(self, batch: Batch, since: float, outcome: object, error: str | None) -> None:
        """Count a finished batch, put back what the sink handed back (lock held)."""
        self._batches += 1
        count = batch.count
        marks = self._marks.pop(batch, None) if self._marks else None
        if outcome is None:
            self._exported += count
            self._failing = False
            if marks is not None:
                self._acks.extend(marks[0])
            return
        requeue = outcome.requeue if isinstance(outcome, Outcome) else None
        if marks is not None:
            if isinstance(requeue, Batch) and requeue.count:
                self._marks[requeue] = marks  # acknowledged once the rest is done
            else:
                self._acks.extend(marks[0])
        if isinstance(requeue, Batch) and requeue.count:
            self._failing = True
        elif isinstance(outcome, Outcome) and not outcome.dropped:
            self._failing = False
        if not isinstance(outcome, Outcome):
            self._errors += 1
            self._last_error = f"write() returned {type(outcome).__name__}, not Outcome|None"
            self._drop_locked("sink_error", count)
            return
        exported = max(0, min(int(outcome.exported), count))
        self._exported += exported
        left = count - exported
        requeue = outcome.requeue
        if isinstance(requeue, Batch) and 0 < requeue.count <= left and requeue.nbytes:
            left -= requeue.count
        else:
            requeue = None
        for reason, n in outcome.dropped.items():
            take = max(0, min(int(n), left))
            self._drop_locked(cast("DropReason", str(reason)), take)  # the sink's names
            left -= take
        if left:
            self._drop_locked("sink_error", left)
        if requeue is not None:
            self._requeue_locked(requeue, since)
        if error is not None:  # an exception escaped write(): counted as an error
            self._errors += 1
            self._last_error = error
        elif outcome.dropped or requeue is not None:  # the sink may say why (ENOSPC, HTTP 503)
            described = self.sink.last_error if isinstance(self.sink, DescribesErrors) else None
            if isinstance(described, str) and described:
                self._last_error = described

    def _requeue_locked(self, batch: Batch, since: float) -> None:
        """Put undelivered events back at the head of the queue (they stay counted)."""
        max_age = self._max_age()
        # the spool keeps it for the next start
        keep = self._spool_on and self._spool_writes and not self._abandoned
        if (self._stopping and not keep) or (
            max_age is not None and self._clock() - since >= max_age
        ):
            self._drop_marked_locked(batch, "shutdown_deadline" if self._stopping else "expired")
            return
        if self._over(batch.count, batch.nbytes) and not keep:  # a sink without declared limits
            self._drop_marked_locked(batch, self._queue_full_reason())
            return
        self._queue.appendleft((batch, since))
        self._queued_events += batch.count
        self._queued_bytes += batch.nbytes
        self._maybe_volatile = True

    def _drop_marked_locked(self, batch: Batch, reason: DropReason) -> None:
        """Drop a batch (counted); its records in the spool are done."""
        marks = self._marks.pop(batch, None) if self._marks else None
        if marks is not None:
            self._acks.extend(marks[0])
        self._drop_locked(reason, batch.count)

    def _merge_marks_locked(self, parts: list[Batch], merged: Batch) -> None:
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

    def _volatile_locked(self, batch: Batch) -> bool:
        """Whether a queued batch holds events that are in memory only."""
        marks = self._marks.get(batch)
        return marks is None or marks[1]

    # ------------------------------------------------------------ the spool
    def _spool_main(self) -> None:
        """The spool thread: open (replay what a previous process left), then move batches.

        Oldest first: batches waiting for the disk (``_spill``) are written, memory-only
        batches that waited ``SPOOL_AFTER`` (or at once while the sink fails) are
        written and stay queued, and records are read back into the queue while it
        has room. Every disk operation happens here (or in ``abandon``), never on
        the caller's or the batcher's thread.
        """
        enter_delivery(self._count_dropped)
        spool = self._spool
        if spool is None:
            return
        try:
            if not spool.wait_for_lock(
                lambda: self._stopping,
                lambda: _notice.warn(
                    f"sink {self.name}: the spool {spool.directory} is used by another "
                    "pipeline of this process; events are kept in memory until it shuts down"
                ),
            ):
                with self._lock:
                    self._spool_opening = False
                    self._cond.notify_all()
                return
            spool.open()
        except (OSError, ConfigError) as exc:  # SpoolLockedError is a ConfigError
            self._spool_failed(spool, exc)
            return
        with self._lock:
            self._spool_opening = False
            if self._spool is not spool or self._abandoned:
                return
            self._spool_on = True
            self._replayed = spool.replayable_events
            self._disk_events += spool.unread_events
            self._disk_bytes += spool.unread_bytes
            self._cond.notify_all()
        if spool.replayable_events:
            _notice.warn(
                f"sink {self.name}: replaying {spool.replayable_events} events left in "
                f"the spool {spool.directory}"
            )
        try:
            while self._spool_step(spool):
                pass
        except BaseException as exc:  # a bug must not leave batches waiting for a dead thread
            self._spool_failed(spool, exc)

    def _spool_step(self, spool: Spool) -> bool:
        """One turn, its disk errors handled; False when the thread is done."""
        try:
            return self._spool_turn(spool)
        except _WriteError as exc:
            self._spool_write_failed(spool, exc.error)
            return True
        except OSError as exc:
            self._spool_failed(spool, exc)
            return False

    def _spool_turn(self, spool: Spool) -> bool:
        """One disk operation; False when the thread is done."""
        task: str
        spill: list[Batch] = []
        persist: list[Batch] = []
        with self._lock:
            while True:
                if self._abandoned or self._spool is not spool or not self._spool_on:
                    return False
                now = self._clock()
                sync = spool.sync_due()
                if sync is not None and sync <= 0:  # first: a busy spool still fsyncs in time
                    task = "sync"
                    break
                if self._spill and self._spool_writes:
                    size = 0  # a few MiB per writev: few GIL round trips per batch
                    while self._spill and (not spill or size < _SPILL_CHUNK):
                        batch, _ = self._spill.popleft()  # counted in _spill_* until written
                        spill.append(batch)
                        size += batch.nbytes
                    task = "spill"
                    break
                persist, due = self._volatile_due_locked(now) if self._spool_writes else ([], None)
                if persist:
                    task = "persist"
                    break
                if not self._stopping and self._disk_events and self._has_room_locked():
                    task = "refill"
                    break
                if self._stopping and not self._in_flight and due is None:
                    return False
                timeouts = [t for t in (due, sync) if t is not None]
                self._spool_cond.wait(max(0.001, min(timeouts)) if timeouts else _MAX_WAIT)
        if task == "refill":
            self._refill_one(spool)
        else:
            try:
                if task == "spill":
                    self._spill_many(spool, spill)
                elif task == "persist":
                    self._persist(spool, persist)
                else:
                    spool.sync()
            except OSError as exc:
                raise _WriteError(exc) from None
        if self._acks:
            self._flush_acks()
        return True

    def _has_room_locked(self) -> bool:
        """Room in the queue for the next record (its size as last seen; any size if empty)."""
        if not self._queue and not self._held_events:
            return True
        return (
            self._queued_events + self._held_events < self._max_events
            and self._queued_bytes + self._held_bytes + self._next_record <= self._max_bytes
        )

    def _volatile_due_locked(self, now: float) -> tuple[list[Batch], float | None]:
        """Memory-only batches to write now, and seconds until the next one is due."""
        if not self._maybe_volatile:
            return [], None
        if now < self._persist_retry_at:
            return [], self._persist_retry_at - now
        urgent = self._failing or self._stopping
        due: list[Batch] = []
        wait: float | None = None
        found = False
        for batch, since in [*self._in_flight.values(), *self._queue]:
            if not self._volatile_locked(batch):
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

    def _spill_many(self, spool: Spool, batches: list[Batch]) -> None:
        """Write batches that waited in ``_spill``; a full spool applies the overflow policy."""
        positions, error = spool.append_many([(b.data, b.count) for b in batches], loaded=False)
        written = [b for b, pos in zip(batches, positions, strict=True) if pos is not None]
        rest = batches[len(written) :]
        with self._lock:
            for batch in written:
                self._spill_events -= batch.count
                self._spill_bytes -= batch.nbytes
                self._disk_events += batch.count
                self._disk_bytes += batch.nbytes
            if error is not None:  # back in line: the failure handler moves them to memory
                now = self._clock()
                self._spill.extendleft((b, now) for b in reversed(rest))
                raise error
            self._cond.notify_all()
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
                self._spill_events -= batch.count
                self._spill_bytes -= batch.nbytes
                self._disk_events -= discarded
                self._drop_locked("spool_full", discarded)
                if pos is None:
                    self._drop_locked("spool_full", batch.count)
                else:
                    self._disk_events += batch.count
                    self._disk_bytes += batch.nbytes

    def _persist(self, spool: Spool, batches: list[Batch]) -> None:
        """Write memory-only batches that stay queued (they survive a crash from now on)."""
        if self._abandoned:
            return
        positions, error = spool.append_many([(b.data, b.count) for b in batches], loaded=True)
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

    def _refill_one(self, spool: Spool) -> None:
        """Read the oldest record back into the queue (the sink delivers it as any batch)."""
        size = spool.next_size()
        with self._lock:
            if size is not None:
                self._next_record = size
                if not self._has_room_locked():
                    return
        record = spool.read() if size is not None else None
        with self._lock:
            if record is None:  # nothing readable left
                self._disk_events = 0
                self._disk_bytes = 0
                return
            if isinstance(record, Corrupt):
                n = min(record.count, self._disk_events)
                self._disk_events -= n
                self._drop_locked("spool_corrupt", n)
                self._cond.notify_all()
                return
            pos, data, count = record
            batch = Batch(data, count)
            self._disk_events = max(0, self._disk_events - count)
            self._disk_bytes = max(0, self._disk_bytes - len(data))
            self._queue.append((batch, self._clock()))
            self._queued_events += count
            self._queued_bytes += len(data)
            self._marks[batch] = ((pos,), False)
            self._hw_events = max(self._hw_events, self._queued_events + self._held_events)
            self._hw_bytes = max(self._hw_bytes, self._queued_bytes + self._held_bytes)
            self._cond.notify_all()  # the worker, and a flush waiting on this condition

    def _flush_acks(self) -> None:
        """Acknowledge the records whose batches are done (outside the worker's lock)."""
        with self._lock:
            acks, self._acks = self._acks, []
            spool = self._spool if self._spool_on else None
        if spool is None or not acks:
            return
        try:
            spool.ack(acks)
        except OSError as exc:
            self._spool_failed(spool, exc)

    def _spool_write_failed(self, spool: Spool, exc: BaseException) -> None:
        """A write failed (ENOSPC, EFBIG, EROFS...): keep reading back, write no more."""
        with self._lock:
            if not self._spool_writes or self._spool is not spool:
                return
            self._spool_writes = False
            self._spool_error = self._last_error = f"spool: {_describe(exc)}"
            self._spill_to_memory_locked()
            on_disk = self._disk_events
            self._cond.notify_all()
            self._spool_cond.notify_all()
        _notice.warn(
            f"sink {self.name}: spool {spool.directory} cannot be written ({_describe(exc)}); "
            f"new events are kept in memory only ({on_disk} events on disk are still delivered)"
        )

    def _spill_to_memory_locked(self) -> None:
        """Batches waiting for the disk go back to the memory queue where there is room."""
        while self._spill:
            batch, since = self._spill.popleft()
            if self._over(batch.count, batch.nbytes):
                self._drop_locked("spool_error", batch.count)
            else:
                self._queue.append((batch, since))
                self._queued_events += batch.count
                self._queued_bytes += batch.nbytes
        self._spill_events = self._spill_bytes = 0

    def _spool_failed(self, spool: Spool, exc: BaseException) -> None:
        """A disk error: the sink goes on with its memory queue only, and says so once."""
        with self._lock:
            if self._spool_broken or self._spool is not spool:
                return
            self._spool_broken = True
            self._spool_on = False
            self._spool_opening = False
            self._spool_error = self._last_error = f"spool: {_describe(exc)}"
            self._spill_to_memory_locked()
            self._stranded += self._disk_events  # on disk: the next start may read them
            self._disk_events = self._disk_bytes = 0
            self._marks.clear()
            self._acks.clear()
            self._cond.notify_all()
            self._spool_cond.notify_all()
        _notice.warn(
            f"sink {self.name}: spool {spool.directory} disabled ({_describe(exc)}); "
            "events are kept in memory only"
        )
        try:
            spool.close()
        except OSError:
            pass

    def _abandon_to_spool(self, spool: Spool) -> int:
        """``abandon`` with a spool: write what is in memory only, keep the rest on disk."""
        with self._lock:
            self._stopping = True
            self._abandoned = True
            self._cond.notify_all()
            self._spool_cond.notify_all()
            thread = self._spool_thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(1.0)  # it stops after its current disk operation
        with self._lock:
            save: list[tuple[Batch, tuple[Pos, ...]]] = []
            pending = [b for b, _ in self._queue]
            pending += [b for b, _ in self._in_flight.values()]
            pending += [b for b, _ in self._spill]
            for batch in pending:
                marks = self._marks.get(batch)
                if marks is None or marks[1]:
                    save.append((batch, marks[0] if marks else ()))
                else:
                    self._stranded += batch.count
            self._queue.clear()
            self._in_flight.clear()
            self._spill.clear()
            self._queued_events = self._queued_bytes = 0
            self._held_events = self._held_bytes = 0
            self._spill_events = self._spill_bytes = 0
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
                    self._stranded += on_disk
                    lost += batch.count - on_disk
                    self._drop_locked("shutdown_deadline", batch.count - on_disk)
                else:
                    self._stranded += batch.count
                    acks.extend(old)
        try:
            spool.ack(acks)
        except OSError:
            pass
        spool.close()
        self._summarize()
        with self._lock:
            return lost + self._stranded + self._disk_events

    # ------------------------------------------------------------------ exit
    def write_late(self, batch: Batch) -> bool:
        """Write ``batch`` on the caller's thread, once the worker threads are gone.

        For events logged after the exit shutdown (an ``atexit`` handler that runs
        after nglogger's, a daemon thread, a finalizer at teardown): counted like a
        batch the worker wrote; what the sink hands back cannot wait any more and is
        counted ``shutdown_deadline``. True when every event was delivered.
        """
        with self._lock:
            self._accepted += batch.count
        error: str | None = None
        outcome: object
        try:
            outcome = self.sink.write(batch)
        except Exception as exc:
            outcome, error = Outcome(0, {"sink_error": batch.count}), _describe(exc)
        with self._lock:
            self._stopping = True  # a requeue is dropped, not queued for a thread
            self._settle(batch, self._clock(), outcome, error)
        return outcome is None

    def count_late(self, count: int, reason: DropReason) -> None:
        """Count events that reached this sink after its threads were gone, not written."""
        with self._lock:
            self._accepted += count
            self._drop_locked(reason, count)

    # ------------------------------------------------------------ waiting/stop
    def wait_idle(self, deadline: float) -> bool:
        """Wait until the queue (and the spool) is empty and nothing is in flight."""
        with self._lock:
            while (
                self._queue
                or self._in_flight
                or self._spill_events
                or self._disk_events
                or self._spool_opening
            ):
                if not self._threads:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def stop(self, deadline: float) -> bool:
        """Let the threads drain and exit; True if they finished before ``deadline``."""
        with self._lock:
            self._stopping = True
            self._cond.notify_all()
            self._spool_cond.notify_all()
            threads = list(self._threads)
            if self._spool_thread is not None:
                threads.append(self._spool_thread)
        for thread in threads:
            if thread is threading.current_thread():
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
        done = not any(t.is_alive() for t in threads if t is not threading.current_thread())
        if done:
            if self._spool is not None:
                self._spool.close()
            self._summarize()
        return done

    def abandon(self) -> int:
        """Count everything still queued or in flight as ``shutdown_deadline``.

        With a spool, nothing is counted lost that can be written to it: events
        in memory only go to disk, for the next start. Returns the events not
        delivered (lost, or left in the spool).
        """
        spool = self._spool
        if spool is not None and self._spool_on and self._spool_writes:
            return self._abandon_to_spool(spool)
        with self._lock:
            self._stopping = True
            lost = self._queued_events
            self._queue.clear()
            self._queued_events = 0
            self._queued_bytes = 0
            for flight, _ in self._in_flight.values():
                lost += flight.count
            self._in_flight.clear()
            self._held_events = 0
            self._held_bytes = 0
            self._abandoned = True
            self._drop_locked("shutdown_deadline", lost)
            self._cond.notify_all()
        self._summarize()
        return lost

    def _summarize(self) -> None:
        """At shutdown: one line on stderr if this sink left events undelivered."""
        with self._lock:
            if self._summarized:
                return
            kept = self._disk_events + self._stranded
            if self._spool_on:
                kept += sum(b.count for b, _ in self._queue if not self._volatile_locked(b))
            if not self._dropped and not kept:
                return
            self._summarized = True
            dropped = dict(self._dropped)
            accepted = self._accepted + self._replayed  # what this process had to deliver
            last_error = self._last_error
        if kept and self._spool is not None:
            _notice.summary(
                f"sink {self.name}: {kept} events kept in the spool "
                f"{self._spool.directory} for the next start"
            )
        if not dropped:
            return
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items()))
        cause = f"; last error: {last_error}" if last_error else ""
        _notice.summary(
            f"sink {self.name}: {sum(dropped.values())} of {accepted} events undelivered "
            f"({reasons}){cause}"
        )

    # ------------------------------------------------------------------ stats
    def snapshot(self) -> SinkStats:
        """This sink's counters, taken atomically."""
        with self._lock:
            flight_events = sum(b.count for b, _ in self._in_flight.values())
            flight_bytes = sum(b.nbytes for b, _ in self._in_flight.values())
            spool = self._spool
            return SinkStats(
                accepted=self._accepted,
                exported=self._exported,
                dropped=dict(self._dropped),
                queued_events=self._queued_events
                + flight_events
                + self._spill_events
                + self._disk_events
                + self._stranded,
                queued_bytes=self._queued_bytes + flight_bytes + self._spill_bytes,
                high_water_events=self._hw_events,
                high_water_bytes=self._hw_bytes,
                batches=self._batches,
                errors=self._errors,
                last_error=self._last_error,
                replayed=self._replayed,
                spooled_events=spool.pending_events if spool is not None else 0,
                spooled_bytes=spool.pending_bytes if spool is not None else 0,
                spool_high_water_bytes=spool.high_water_bytes if spool is not None else 0,
                spool_written_events=spool.written_events if spool is not None else 0,
                spool_corrupt_records=spool.corrupt_records if spool is not None else 0,
                spool_active=self._spool_on,
                spool_error=self._spool_error,
            )


class _WriteError(Exception):
    """A spool write failed (the disk is still read back)."""

    def __init__(self, error: OSError) -> None:
        super().__init__(str(error))
        self.error = error


def _queue_full() -> str:
    return "sink_queue_full"


def _describe(exc: BaseException) -> str:
    """A short text for an exception (never the object: it would pin frames)."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:
        text = type(exc).__name__
    return text[:_MAX_ERROR_TEXT]
