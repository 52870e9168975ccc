"""A console written on the caller's thread (``console_sync``): log lines in order with ``print()``.

A stream sink whose writer says so (a terminal by default, ``StreamSink.sync_writer``) is a
*sync console*: every event the pipeline takes in is rendered and written to it by the call
that logged it, before the event reaches the buffer, so a terminal shows log lines and the
program's own ``print()`` lines in the order they were written, thread by thread. The other
sinks get the event through the buffer as usual; the batcher's fan-out skips this sink
(``ALREADY_WRITTEN``), so no event is written to it twice.

The call never waits for long, and never for its own thread:

* it waits at most ``WAIT`` in all: for the writer's lock (another thread writing) and then
  for room on the terminal (``SyncWriter.write`` polls a non-blocking description of it);
* a call that finds its thread already inside the writer or the sink's queue (a signal
  handler, a finalizer) does not take the lock;
* in every such case, and while an earlier event is still queued (order), the event takes the
  queued path: it waits in ``pending`` (a deque: one C append, safe from a signal handler) and
  the batcher moves it, in order, into the sink's own queue, whose thread writes it as before.
  An event the deadline cut after its first bytes is counted written; the rest of its bytes
  go first in line, as a :class:`~nglogger.sinks._sync.Written` (no event).

Accounting stays the sink's, exact: a written event is counted ``accepted`` and ``exported``
by ``SinkWorker.count_written``; a queued one when the batcher hands it to the queue (its
limits apply, ``sink_queue_full`` counted there); ``pending`` itself holds at most
``sink_queue_max_events`` events and ``sink_queue_max_bytes`` bytes, beyond which an event is
counted ``sink_queue_full`` (``overflow``, counted by the batcher). The counters the caller
moves without a lock (``overflow``, ``pending_bytes``) are one in-place integer addition each,
which no other thread or signal handler can interleave under the GIL (no call inside it).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from .._core.batch import Batch
from ..sinks._sync import SyncWriter, Written
from ..sinks.stream import StreamSink
from .select import Selector
from .worker import SinkWorker

__all__ = ["ALREADY_WRITTEN", "WAIT", "SyncConsole", "sync_consoles", "writing_offer"]

#: The longest a log call waits for the console (its lock, then room on the terminal), in s.
WAIT = 0.1

_monotonic = time.monotonic


def ALREADY_WRITTEN(_batch: Batch) -> tuple[None, int, int]:  # noqa: N802 - a constant's role
    """The fan-out's selector of a sync console: the batch's events were written already."""
    return None, 0, 0


class SyncConsole:
    """One stream sink written on the caller's thread (see the module docstring)."""

    def __init__(
        self,
        sink: StreamSink,
        writer: SyncWriter,
        worker: SinkWorker,
        select: Selector | None,
        *,
        max_events: int,
        max_bytes: int,
    ) -> None:
        self.sink = sink
        self.writer = writer
        self.worker = worker
        self._select = select
        self._max_events = max_events
        self._max_bytes = max_bytes
        #: Events the sink's level/filter left out here, and filter errors (stats adds them).
        self.filtered = 0
        self.filter_errors = 0
        #: The writer failed (not a full device): every event takes the queued path.
        self.off = False
        self.reset(lambda: None)

    def reset(self, wake: Callable[[], None]) -> None:
        """At build and in a forked child: nothing pending, a fresh lock, the batcher's wake-up."""
        self.writer.lock = threading.RLock()
        #: Events (JSON) and cut rests (``Written``) waiting for the batcher, in order.
        self.pending: deque[bytes | Written] = deque()
        self.pending_bytes = 0
        self.overflow = 0
        #: A wait for the terminal ran out: calls take the queued path at once, without
        #: waiting, until the sink's thread has written everything queued.
        self.stalled = False
        self.wake = wake

    # ------------------------------------------------------------ the log call
    def write(self, data: bytes) -> None:
        """Write one event now, or queue it (module docstring). Never raises, never blocks."""
        lock = self.writer.lock
        worker = self.worker
        if self.off or lock._is_owned() or worker.lock_held_here():  # type: ignore[attr-defined]
            self.defer(data)
            return
        deadline = _monotonic() + WAIT
        got = False
        try:
            got = lock.acquire(timeout=WAIT)
            if not got or not self._caught_up(deadline):
                self.defer(data)
                return
            handled, rest = self._write_now(data, deadline)
            if not handled:
                self.defer(data)
            elif rest is not None:  # the deadline cut it: the rest goes first in line
                self.defer_written(rest)
        except Exception:  # rendering or writing failed: the worker writes it (and counts)
            self.defer(data)
        finally:
            if got:
                lock.release()

    def _caught_up(self, deadline: float) -> bool:
        """Nothing logged before still waits (lock held); False if it cannot be so by ``deadline``.

        What waits is written here, in order, once the sink's thread has written its queue:
        the order with ``print()`` comes back at the first call after a queued event.
        """
        pending = self.pending
        worker = self.worker
        if not pending and not worker.busy():
            self.stalled = False
            return True
        if self.stalled:  # the terminal did not drain in time: no more waits until it has
            if worker.busy():
                return False
        elif not worker.wait_idle(deadline):
            self.stalled = True
            return False
        while pending:
            item = pending[0]
            if isinstance(item, Written):
                handled, rest = self._write_text(item.data, deadline)
                count = item.nbytes
            else:
                handled, rest = self._write_now(item, deadline)
                count = len(item)
            if not handled:
                return False
            pending.popleft()
            self.pending_bytes -= count
            if rest is not None:
                self.defer_written(rest)
                return False
        return True

    def _write_now(self, data: bytes, deadline: float) -> tuple[bool, Written | None]:
        """Select, render and write one event (lock held): (handled?, the rest a deadline cut).

        Not handled: nothing was written (the stream was replaced, the terminal had no room
        or failed). Handled: written (counted) or left out by the sink's level or filter.
        """
        sink = self.sink
        stream = sink.target()
        if stream is not self.writer.stream:  # sys.stdout replaced since: the worker follows it
            return False, None
        if self._select is not None:
            part = self._selected(Batch(data, 1))
            if part is None:
                return True, None
            data = part.data
        handled, rest = self._write_text(sink.render(data, stream), deadline)
        if handled:
            self.worker.count_written(1)
        return handled, rest

    def _write_text(self, text: bytes, deadline: float) -> tuple[bool, Written | None]:
        """Write bytes as they are (lock held): (any written?, the rest a deadline cut)."""
        try:
            done = self.writer.write(text, deadline)
        except OSError:  # not a full terminal: a closed or broken one; the worker takes over
            self.off = True
            return False, None
        if done < len(text):  # the terminal did not take it all by the deadline
            self.stalled = True
        if not done:
            return False, None
        return True, (Written(text[done:], 0) if done < len(text) else None)

    def _selected(self, batch: Batch) -> Batch | None:
        """The sink's level and filter applied to ``batch`` (lock held), counted here."""
        select = self._select
        if select is None:
            return batch
        try:
            part, filtered, errors = select(batch)
        except Exception:  # never lose an event to the selection: it is kept
            part, filtered, errors = batch, 0, 1
        self.filtered += filtered
        self.filter_errors += errors
        return part

    def defer(self, data: bytes) -> None:
        """The queued path: ``pending``, for the batcher to move into the sink's queue."""
        if len(self.pending) >= self._max_events or self.pending_bytes > self._max_bytes:
            self.overflow += 1
        else:
            self.pending_bytes += len(data)
            self.pending.append(data)
        self.wake()

    def defer_written(self, rest: Written) -> None:
        """The part of an event a deadline cut: first in line (before what a signal handler
        queued meanwhile), whatever the bounds."""
        self.pending_bytes += rest.nbytes
        self.pending.appendleft(rest)
        self.wake()

    # -------------------------------------------------------------- the batcher
    def move(self, next_seq: Callable[[], int], *, late: bool = False) -> None:
        """Move what is pending into the sink's queue, in order (``late``: write it now).

        On the batcher's thread, or a thread calling ``flush``/``shutdown``; not on a
        thread inside the writer (a signal handler interrupting a write: the next move).
        """
        if not self.pending and not self.overflow:
            return
        lock = self.writer.lock
        if lock._is_owned():  # type: ignore[attr-defined]
            return
        if not lock.acquire(timeout=2 * WAIT):
            return  # a write is in progress past its deadline: the next pass
        try:
            self._move_locked(next_seq, late=late)
        finally:
            lock.release()

    def _move_locked(self, next_seq: Callable[[], int], *, late: bool) -> None:
        worker = self.worker
        pending = self.pending
        events: list[bytes] = []
        while pending:
            item = pending.popleft()
            if isinstance(item, Written):
                self.pending_bytes -= item.nbytes
                self._hand(events, next_seq, late=late)
                events = []
                self._offer(item, late=late)
            else:
                self.pending_bytes -= len(item)
                events.append(item)
        self._hand(events, next_seq, late=late)
        overflow = self.overflow
        if overflow:
            self.overflow -= overflow
            worker.count_late(overflow, "sink_queue_full")

    def _hand(self, events: list[bytes], next_seq: Callable[[], int], *, late: bool) -> None:
        if not events:
            return
        part = self._selected(Batch(b"".join(events), len(events), next_seq()))
        if part is not None:
            self._offer(part, late=late)

    def _offer(self, batch: Batch, *, late: bool) -> None:
        if late:
            self.worker.write_late(batch)
        else:
            self.worker.offer(batch)


def sync_consoles(
    workers: Sequence[SinkWorker],
    selectors: list[Selector | Callable[[Batch], tuple[None, int, int]] | None],
    *,
    max_events: int,
    max_bytes: int,
) -> tuple[SyncConsole, ...]:
    """The stream sinks written on the caller's thread; their fan-out selector becomes
    ``ALREADY_WRITTEN``. Empty when none is (a pipe, a file, ``console_sync=False``)."""
    found = []
    for index, worker in enumerate(workers):
        sink = worker.sink
        if not isinstance(sink, StreamSink):
            continue
        writer = sink.sync_writer()
        if writer is None:
            continue
        select = selectors[index]
        found.append(
            SyncConsole(
                sink,
                writer,
                worker,
                select if isinstance(select, Selector) else None,
                max_events=max_events,
                max_bytes=max_bytes,
            )
        )
        selectors[index] = ALREADY_WRITTEN
    return tuple(found)


def writing_offer(
    consoles: tuple[SyncConsole, ...], offer: Callable[[bytes], int]
) -> Callable[[bytes], int]:
    """``offer`` (the buffer's hand-off) that first writes the event to the sync consoles."""
    if len(consoles) == 1:
        write = consoles[0].write

        def offer_one(data: bytes) -> int:
            write(data)
            return offer(data)

        return offer_one

    def offer_all(data: bytes) -> int:
        for console in consoles:
            console.write(data)
        return offer(data)

    return offer_all
