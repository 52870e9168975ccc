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

* a spool (``spool=``): the queue overflows into a :class:`~nglogger._spool.feed.SpoolFeed`
  stage: batches that would overflow the queue, or that wait on a failing sink, go
  to disk on its thread and are read back oldest first as the queue has room (see
  the "spool" section of ``docs/architecture.md``); nothing expires then
  (``max_age`` is ignored).

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
from .._core.errors import describe_exception
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
from .._spool.feed import SpoolFeed
from .._spool.store import Spool

__all__ = ["SinkWorker"]

_MAX_WAIT = 1.0  # longest single wait while the sink is not ready (re-checks age and stop)
#: How often a shutdown that may leave the rest to the spool looks again (the spool thread
#: writes what is in memory only; it does not wake the shutdown).
_SPOOL_POLL = 0.05
_EVICT_MIN = 64 * 1024  # the smallest piece a handed-back merged write is cut into
#: Under memory pressure a queue keeps at most 1/this of its limits (``relieve``).
_PRESSURE_SHARE = 4


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
        #: A merged write handed back returns to the queue in pieces of this size.
        self._evict_bytes = max(_EVICT_MIN, max_bytes // 64)
        self._evict_events = max(1, max_events // 64)
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
        self._feed: SpoolFeed | None = None  # the spool stage the queue overflows into
        self._pressure = False  # memory pressure: the spool refills a quarter (``relieve``)
        if self._spool is not None:
            self._feed = SpoolFeed(
                self._spool,
                self,
                self._lock,
                name=self.name,
                max_events=self._max_events,
                max_bytes=self._max_bytes,
                overflow=self._overflow,
                clock=self._clock,
                count_dropped=self._count_dropped,
            )

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
            if self._feed is not None:
                threads.append(self._feed.start())
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
                self._last_error = describe_exception(exc)

    # ---------------------------------------------- the queue side of the spool
    # (nglogger._spool.feed.QueueSide; called with the lock held)
    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def abandoned(self) -> bool:
        return self._abandoned

    def room_locked(self, nbytes: int) -> bool:
        if not self._queue and not self._held_events:
            return True
        share = _PRESSURE_SHARE if self._pressure else 1  # under memory pressure: a quarter
        return (
            self._queued_events + self._held_events < self._max_events // share
            and self._queued_bytes + self._held_bytes + nbytes <= self._max_bytes // share
        )

    def enqueue_locked(self, batch: Batch, since: float, *, checked: bool) -> bool:
        if not checked and self._over(batch.count, batch.nbytes):
            return False
        self._queue.append((batch, since))
        self._queued_events += batch.count
        self._queued_bytes += batch.nbytes
        self._hw_events = max(self._hw_events, self._queued_events)
        self._hw_bytes = max(self._hw_bytes, self._queued_bytes)
        # A flush waits on this condition too: notify() could wake the flush instead of
        # an idle worker thread (which waits without a timeout), leaving the batch queued
        # until the flush timed out. Once per batch, so waking every waiter is cheap.
        self._cond.notify_all()
        return True

    def pending_locked(self) -> list[tuple[Batch, float]]:
        return [*self._in_flight.values(), *self._queue]

    def delivering_locked(self) -> bool:
        return bool(self._in_flight)

    def withdraw_locked(self) -> list[Batch]:
        batches = [b for b, _ in self._queue]
        batches += [b for b, _ in self._in_flight.values()]
        self._queue.clear()
        self._in_flight.clear()
        self._queued_events = self._queued_bytes = 0
        self._held_events = self._held_bytes = 0
        return batches

    def drop_locked(self, reason: DropReason, n: int) -> None:
        if n:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    def note_error_locked(self, text: str) -> None:
        self._last_error = text

    def wake_locked(self) -> None:
        self._cond.notify_all()

    # ------------------------------------------------------------------ offer
    def _over(self, count: int, size: int) -> bool:
        return (
            self._queued_events + self._held_events + count > self._max_events
            or self._queued_bytes + self._held_bytes + size > self._max_bytes
        )

    def _queue_over(self, count: int, size: int) -> bool:
        """The queue alone over its limits with ``count`` events of ``size`` more.

        ``drop_oldest`` admits against the queue alone: the merged request in flight
        (budgeted on its own, ``Config.memory_budget``) holds the oldest events, and the
        fresh ones must not be refused because of it; the oldest queued make room.
        """
        return (
            self._queued_events + count > self._max_events
            or self._queued_bytes + size > self._max_bytes
        )

    def offer(self, batch: Batch) -> None:
        """Queue a batch, or count it dropped per the overflow policy. Never blocks."""
        count = batch.count
        size = batch.nbytes
        with self._lock:
            self._accepted += count
            feed = self._feed
            if feed is not None and feed.writing:
                went = feed.take_locked(batch, self._clock(), over=self._over(count, size))
                if went == "full":  # the disk does not keep up
                    self.drop_locked(self._queue_full_reason(), count)
                if went != "queue":
                    return
            if self._stopping:
                self.drop_locked("shutdown_deadline", count)
                return
            if self._overflow == "drop_oldest":
                if self._queue_over(count, size):
                    self._evict_oldest_locked(count, size)
                    if self._queue_over(count, size):  # alone larger than the queue
                        self.drop_locked(self._queue_full_reason(), count)
                        return
            elif self._over(count, size):
                self.drop_locked(self._queue_full_reason(), count)
                return
            self.enqueue_locked(batch, self._clock(), checked=True)
            if feed is not None:
                feed.queued_locked()

    def _evict_oldest_locked(self, count: int, size: int) -> None:
        """``drop_oldest``: drop the oldest queued batches until ``count``/``size`` more fit."""
        while self._queue and self._queue_over(count, size):
            old, _ = self._queue.popleft()
            self._queued_events -= old.count
            self._queued_bytes -= old.nbytes
            self._drop_marked_locked(old, self._queue_full_reason())

    def relieve(self) -> int:
        """Memory pressure: keep at most a quarter of the queue's limits in memory.

        The newest of the excess go back to the spool's spill line when the sink has a
        spool and order allows (nothing of it on disk yet: ``SpoolFeed.take_back_locked``);
        otherwise the oldest queued batches are dropped, counted ``memory_pressure``.
        The batches in flight are the sink's. Returns the events dropped.
        """
        with self._lock:
            self._pressure = True
            budget_events = max(1, self._max_events // _PRESSURE_SHARE)
            budget_bytes = self._max_bytes // _PRESSURE_SHARE
            feed = self._feed
            if feed is not None and feed.writing:
                while self._queue and (
                    self._queued_events > budget_events or self._queued_bytes > budget_bytes
                ):
                    batch, since = self._queue[-1]
                    if not feed.take_back_locked(batch, since):
                        break
                    self._queue.pop()
                    self._queued_events -= batch.count
                    self._queued_bytes -= batch.nbytes
                return 0
            dropped = 0
            while self._queue and (
                self._queued_events > budget_events or self._queued_bytes > budget_bytes
            ):
                old, _ = self._queue.popleft()
                self._queued_events -= old.count
                self._queued_bytes -= old.nbytes
                self._drop_marked_locked(old, "memory_pressure")
                dropped += old.count
            return dropped

    def relieved(self) -> None:
        """Memory pressure is over: the spool refills the whole queue again."""
        with self._lock:
            self._pressure = False
            if self._feed is not None:
                self._feed.poke_locked()

    def _queue_full_reason(self) -> DropReason:
        """The sink may name why its queue is full (an HTTP sink: ``breaker_open``)."""
        try:
            return cast("DropReason", str(self._full_reason()))  # a sink's own name, as given
        except Exception:
            return "sink_queue_full"

    # ----------------------------------------------------------------- thread
    def _max_age(self) -> float | None:
        sink = self.sink
        if (self._feed is not None and not self._feed.broken) or not isinstance(sink, Expires):
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
            self.drop_locked("expired", old.count)
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
            if self._feed is not None:
                self._feed.merged_locked(parts, batch)
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
            feed = self._feed
            if ready > 0 and feed is not None and feed.writing:
                if self._stopping and not any(feed.volatile_locked(b) for b, _ in self._queue):
                    return "exit"  # everything left is on disk, for the next start
                feed.failing_locked()
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
            error = describe_exception(exc)
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
            if feed is not None:
                feed.poke_locked()
        if feed is not None and feed.has_acks:
            feed.flush_acks()
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
        feed = self._feed
        if outcome is None:
            self._exported += count
            if feed is not None:
                feed.settled_locked(batch, None, healthy=True)
            return
        if feed is not None:
            handed = outcome.requeue if isinstance(outcome, Outcome) else None
            feed.settled_locked(
                batch,
                handed if isinstance(handed, Batch) and handed.count else None,
                healthy=isinstance(outcome, Outcome) and not outcome.dropped,
            )
        if not isinstance(outcome, Outcome):
            self._errors += 1
            self._last_error = f"write() returned {type(outcome).__name__}, not Outcome|None"
            self.drop_locked("sink_error", count)
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
            self.drop_locked(cast("DropReason", str(reason)), take)  # the sink's names
            left -= take
        if left:
            self.drop_locked("sink_error", left)
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
        feed = self._feed
        # the spool keeps it for the next start
        keep = feed is not None and feed.writing and not self._abandoned
        if (self._stopping and not keep) or (
            max_age is not None and self._clock() - since >= max_age
        ):
            self._drop_marked_locked(batch, "shutdown_deadline" if self._stopping else "expired")
            return
        if self._overflow == "drop_oldest" and not keep:
            # Back at the head in pieces of about a batch: the oldest events of a merged
            # write make room for fresh ones a piece at a time, not the whole backlog at once.
            marked = feed is not None and feed.marked_locked(batch)
            pieces = [batch] if marked else batch.split(self._evict_bytes, self._evict_events)
            for piece in reversed(pieces):
                self._queue.appendleft((piece, since))
                self._queued_events += piece.count
                self._queued_bytes += piece.nbytes
            self._evict_oldest_locked(0, 0)
        elif self._over(batch.count, batch.nbytes) and not keep:  # no declared limits
            self._drop_marked_locked(batch, self._queue_full_reason())
            return
        else:
            self._queue.appendleft((batch, since))
            self._queued_events += batch.count
            self._queued_bytes += batch.nbytes
        if feed is not None:
            feed.queued_locked()

    def _drop_marked_locked(self, batch: Batch, reason: DropReason) -> None:
        """Drop a batch (counted); its records in the spool are done."""
        if self._feed is not None:
            self._feed.forget_locked(batch)
        self.drop_locked(reason, batch.count)

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
            outcome, error = Outcome(0, {"sink_error": batch.count}), describe_exception(exc)
        with self._lock:
            self._stopping = True  # a requeue is dropped, not queued for a thread
            self._settle(batch, self._clock(), outcome, error)
        return outcome is None

    def count_late(self, count: int, reason: DropReason) -> None:
        """Count events that reached this sink after its threads were gone, not written."""
        with self._lock:
            self._accepted += count
            self.drop_locked(reason, count)

    def count_written(self, count: int) -> None:
        """Count events the pipeline wrote to this sink on the caller's thread (sync console)."""
        with self._lock:
            self._accepted += count
            self._exported += count

    def busy(self) -> bool:
        """Anything queued or being written (a sync console writes only after it, in order)."""
        with self._lock:
            return bool(self._queue or self._in_flight)

    def lock_held_here(self) -> bool:
        """This thread is inside a locked section (re-entry: a signal handler, a finalizer)."""
        return bool(self._lock._is_owned())  # type: ignore[attr-defined]

    # ------------------------------------------------------------ waiting/stop
    def wait_idle(self, deadline: float, *, leave_to_spool: bool = False) -> bool:
        """Wait until the queue (and the spool) is empty and nothing is in flight.

        ``leave_to_spool`` (shutdown): stop waiting, answering False, once the sink is
        not ready (a backoff, an open breaker), nothing is in flight and every event left
        is on disk: they are the next start's, and the process need not wait out its
        deadline for a backend that is down.
        """
        with self._lock:
            feed = self._feed
            while self._queue or self._in_flight or (feed is not None and feed.busy_locked()):
                if not self._threads:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                if (
                    leave_to_spool
                    and feed is not None
                    and feed.writing
                    and not self._in_flight
                    and self._ready_in() > 0
                ):
                    if not any(feed.volatile_locked(b) for b, _ in self._queue):
                        return False  # everything left is on disk, for the next start
                    feed.failing_locked()  # what is in memory only goes to disk at once
                    self._cond.wait(min(remaining, _SPOOL_POLL))
                    continue
                self._cond.wait(remaining)
            return True

    def stop(self, deadline: float) -> bool:
        """Let the threads drain and exit; True if they finished before ``deadline``."""
        with self._lock:
            self._stopping = True
            self._cond.notify_all()
            threads = list(self._threads)
            feed = self._feed
            if feed is not None:
                feed.stop_locked()
                if feed.thread is not None:
                    threads.append(feed.thread)
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
        feed = self._feed
        if feed is not None and feed.writing:
            with self._lock:
                self._stopping = True
                self._abandoned = True
                self._cond.notify_all()
            kept = feed.abandon()
            self._summarize()
            return kept
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
            self.drop_locked("shutdown_deadline", lost)
            self._cond.notify_all()
        self._summarize()
        return lost

    def _summarize(self) -> None:
        """At shutdown: one line on stderr if this sink left events undelivered."""
        with self._lock:
            if self._summarized:
                return
            feed = self._feed
            kept = feed.kept_locked(b for b, _ in self._queue) if feed is not None else 0
            if not self._dropped and not kept:
                return
            self._summarized = True
            dropped = dict(self._dropped)
            accepted = self._accepted + (feed.replayed if feed is not None else 0)
            last_error = self._last_error
        if kept and feed is not None:
            _notice.summary(
                f"sink {self.name}: {kept} events kept in the spool "
                f"{feed.spool.directory} for the next start"
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
            feed = self._feed
            spool = feed.spool if feed is not None else None
            queued_events = self._queued_events + flight_events
            queued_bytes = self._queued_bytes + flight_bytes
            if feed is not None:
                queued_events += feed.spill_events + feed.disk_events + feed.stranded
                queued_bytes += feed.spill_bytes
            return SinkStats(
                accepted=self._accepted,
                exported=self._exported,
                dropped=dict(self._dropped),
                queued_events=queued_events,
                queued_bytes=queued_bytes,
                high_water_events=self._hw_events,
                high_water_bytes=self._hw_bytes,
                batches=self._batches,
                errors=self._errors,
                last_error=self._last_error,
                replayed=feed.replayed if feed is not None else 0,
                spooled_events=spool.pending_events if spool is not None else 0,
                spooled_bytes=spool.pending_bytes if spool is not None else 0,
                spool_high_water_bytes=spool.high_water_bytes if spool is not None else 0,
                spool_written_events=spool.written_events if spool is not None else 0,
                spool_corrupt_records=spool.corrupt_records if spool is not None else 0,
                spool_active=feed.on if feed is not None else False,
                spool_error=feed.error if feed is not None else None,
            )


def _queue_full() -> str:
    return "sink_queue_full"
