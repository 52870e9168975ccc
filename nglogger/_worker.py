"""One sink's bounded queue and the thread that feeds it.

Every sink gets its own ``SinkWorker``: a deque of shared :class:`Batch`
objects limited in events and bytes, and a daemon thread that hands them to
``sink.write`` one at a time. A slow, stuck or raising sink therefore only
fills its own queue; the batcher never waits for it.

Accounting, per sink, at every instant (taken under the worker's lock)::

    accepted == exported + sum(dropped.values()) + queued (in-flight included)

Worst-case footprint: ``max_bytes`` of batches in the queue plus the one batch
in flight (shared with other sinks, so often not extra memory at all).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from ._batch import Batch
from ._guard import enter_delivery
from ._sink import (
    DescribesErrors,
    ForkAware,
    NamesQueueFull,
    Outcome,
    Sink,
    concurrency_of,
    sink_name,
)
from ._stats import SinkCounters

__all__ = ["SinkWorker"]

_MAX_ERROR_TEXT = 300


class SinkWorker:
    """Queue + worker thread for one sink."""

    def __init__(
        self,
        sink: Sink,
        *,
        max_events: int,
        max_bytes: int,
        overflow: str = "drop_newest",
        on_progress: Callable[[], None] = lambda: None,
        count_dropped: Callable[[str], None] | None = None,
    ) -> None:
        self.sink = sink
        self.name: str = sink_name(sink)
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._overflow = overflow
        self._on_progress = on_progress
        self._count_dropped = count_dropped
        self._concurrency = concurrency_of(sink)
        self._full_reason: Callable[[], str] = (
            sink.queue_full_reason if isinstance(sink, NamesQueueFull) else _queue_full
        )
        self._reset_state()

    def _reset_state(self) -> None:
        self._lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._queue: deque[Batch] = deque()
        self._queued_events = 0
        self._queued_bytes = 0
        self._in_flight: dict[int, Batch] = {}  # thread ident -> batch being written
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
    def offer(self, batch: Batch) -> None:
        """Queue a batch, or count it dropped per the overflow policy. Never blocks."""
        count = batch.count
        size = batch.nbytes
        with self._lock:
            self._accepted += count
            if self._stopping:
                self._drop_locked("shutdown_deadline", count)
                return
            if (
                self._queued_events + count > self._max_events
                or self._queued_bytes + size > self._max_bytes
            ):
                if self._overflow == "drop_oldest":
                    while self._queue and (
                        self._queued_events + count > self._max_events
                        or self._queued_bytes + size > self._max_bytes
                    ):
                        old = self._queue.popleft()
                        self._queued_events -= old.count
                        self._queued_bytes -= old.nbytes
                        self._drop_locked(self._queue_full_reason(), old.count)
                if (
                    self._queued_events + count > self._max_events
                    or self._queued_bytes + size > self._max_bytes
                ):
                    self._drop_locked(self._queue_full_reason(), count)
                    return
            self._queue.append(batch)
            self._queued_events += count
            self._queued_bytes += size
            self._hw_events = max(self._hw_events, self._queued_events)
            self._hw_bytes = max(self._hw_bytes, self._queued_bytes)
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
    def _run(self) -> None:
        enter_delivery(self._count_dropped)
        sink = self.sink
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._cond.wait()
                if not self._queue:
                    return
                batch = self._queue.popleft()
                self._queued_events -= batch.count
                self._queued_bytes -= batch.nbytes
                me = threading.get_ident()
                self._in_flight[me] = batch
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
                if flight is not None and not self._abandoned:
                    self._settle(flight, outcome, error)
                self._cond.notify_all()
            self._on_progress()

    def _settle(self, batch: Batch, outcome: object, error: str | None) -> None:
        """Count a finished batch (lock held)."""
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
        for reason, n in outcome.dropped.items():
            take = max(0, min(int(n), left))
            self._drop_locked(str(reason), take)
            left -= take
        if left:
            self._drop_locked("sink_error", left)
        if error is not None:  # an exception escaped write(): counted as an error
            self._errors += 1
            self._last_error = error
        elif outcome.dropped:  # drops the sink reported: it may say why (ENOSPC, HTTP 503...)
            described = self.sink.last_error if isinstance(self.sink, DescribesErrors) else None
            if isinstance(described, str) and described:
                self._last_error = described

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
        return not any(t.is_alive() for t in threads if t is not threading.current_thread())

    def abandon(self) -> int:
        """Count everything still queued or in flight as ``shutdown_deadline``."""
        with self._lock:
            self._stopping = True
            lost = self._queued_events
            self._queue.clear()
            self._queued_events = 0
            self._queued_bytes = 0
            for flight in self._in_flight.values():
                lost += flight.count
            self._in_flight.clear()
            self._abandoned = True
            self._drop_locked("shutdown_deadline", lost)
            self._cond.notify_all()
            return lost

    # ------------------------------------------------------------------ stats
    def snapshot(self) -> SinkCounters:
        """This sink's counters, taken atomically."""
        with self._lock:
            flight_events = sum(b.count for b in self._in_flight.values())
            flight_bytes = sum(b.nbytes for b in self._in_flight.values())
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
