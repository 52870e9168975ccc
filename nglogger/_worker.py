"""One sink's bounded queue and the thread that feeds it.

Every sink gets its own ``SinkWorker``: a deque of shared :class:`Batch`
objects limited in events and bytes, and a daemon thread that hands them to
``sink.write`` one at a time. A slow, stuck or raising sink therefore only
fills its own queue; the batcher never waits for it.

A sink may ask for more (the optional capabilities of ``nglogger._sink``):

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

Accounting, per sink, at every instant (taken under the worker's lock)::

    accepted == exported + sum(dropped.values()) + queued (in-flight included)

Worst-case footprint: ``max_bytes`` of batches in the queue plus the batch in
flight (shared with other sinks, so often not extra memory at all); for a
coalescing sink the merged batch in flight is within ``max_bytes`` too.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from . import _notice
from ._batch import Batch
from ._guard import enter_delivery
from ._sink import (
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
from ._stats import SinkCounters

__all__ = ["SinkWorker"]

_MAX_ERROR_TEXT = 300


_MAX_WAIT = 1.0  # longest single wait while the sink is not ready (re-checks age and stop)


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
        count_dropped: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
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
        self._lock = threading.Lock()
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
        for thread in threads:
            thread.start()

    def after_fork_child(self) -> None:
        """In a forked child: forget the parent's queue and counters, new thread."""
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
            if self._stopping:
                self._drop_locked("shutdown_deadline", count)
                return
            if self._over(count, size):
                if self._overflow == "drop_oldest":
                    while self._queue and self._over(count, size):
                        old, _ = self._queue.popleft()
                        self._queued_events -= old.count
                        self._queued_bytes -= old.nbytes
                        self._drop_locked(self._queue_full_reason(), old.count)
                if self._over(count, size):
                    self._drop_locked(self._queue_full_reason(), count)
                    return
            self._queue.append((batch, self._clock()))
            self._queued_events += count
            self._queued_bytes += size
            self._hw_events = max(self._hw_events, self._queued_events + self._held_events)
            self._hw_bytes = max(self._hw_bytes, self._queued_bytes + self._held_bytes)
            self._cond.notify()

    def _queue_full_reason(self) -> str:
        """The sink may name why its queue is full (an HTTP sink: ``breaker_open``)."""
        try:
            return str(self._full_reason())
        except Exception:
            return "sink_queue_full"

    def _drop_locked(self, reason: str, n: int) -> None:
        if n:
            self._dropped[reason] = self._dropped.get(reason, 0) + n

    # ----------------------------------------------------------------- thread
    def _max_age(self) -> float | None:
        sink = self.sink
        if not isinstance(sink, Expires):
            return None
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
        if outcome is None:
            self._exported += count
            return
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
            self._drop_locked(str(reason), take)
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
        if self._stopping or (max_age is not None and self._clock() - since >= max_age):
            self._drop_locked("shutdown_deadline" if self._stopping else "expired", batch.count)
            return
        if self._over(batch.count, batch.nbytes):  # only a sink that did not declare limits
            self._drop_locked(self._queue_full_reason(), batch.count)
            return
        self._queue.appendleft((batch, since))
        self._queued_events += batch.count
        self._queued_bytes += batch.nbytes

    # ------------------------------------------------------------ waiting/stop
    def wait_idle(self, deadline: float) -> bool:
        """Wait until the queue is empty and nothing is in flight (monotonic deadline)."""
        with self._lock:
            while self._queue or self._in_flight:
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
            threads = list(self._threads)
        for thread in threads:
            if thread is threading.current_thread():
                continue
            thread.join(max(0.0, deadline - time.monotonic()))
        done = not any(t.is_alive() for t in threads if t is not threading.current_thread())
        if done:
            self._summarize()
        return done

    def abandon(self) -> int:
        """Count everything still queued or in flight as ``shutdown_deadline``."""
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
            if self._summarized or not self._dropped:
                return
            self._summarized = True
            dropped = dict(self._dropped)
            accepted = self._accepted
            last_error = self._last_error
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(dropped.items()))
        cause = f"; last error: {last_error}" if last_error else ""
        _notice.summary(
            f"sink {self.name}: {sum(dropped.values())} of {accepted} events undelivered "
            f"({reasons}){cause}"
        )

    # ------------------------------------------------------------------ stats
    def snapshot(self) -> SinkCounters:
        """This sink's counters, taken atomically."""
        with self._lock:
            flight_events = sum(b.count for b, _ in self._in_flight.values())
            flight_bytes = sum(b.nbytes for b, _ in self._in_flight.values())
            return {
                "accepted": self._accepted,
                "exported": self._exported,
                "dropped": dict(self._dropped),
                "queued_events": self._queued_events + flight_events,
                "queued_bytes": self._queued_bytes + flight_bytes,
                "high_water_events": self._hw_events,
                "high_water_bytes": self._hw_bytes,
                "batches": self._batches,
                "errors": self._errors,
                "last_error": self._last_error,
            }


def _queue_full() -> str:
    return "sink_queue_full"


def _describe(exc: BaseException) -> str:
    """A short text for an exception (never the object: it would pin frames)."""
    try:
        text = f"{type(exc).__name__}: {exc}"
    except BaseException:
        text = type(exc).__name__
    return text[:_MAX_ERROR_TEXT]
