"""The bounded buffer between log calls and the batcher.

Events arrive as NDJSON bytes. A log call hands its event over without a lock:
one atomic ``list.append`` to the *inbox* (see ``make_appender``), which the
call that fills it, the batcher, a flush or ``offer`` moves into the open arena
(an ``io.BytesIO`` written at its end) under the lock, 64 events at a time; so a
buffered event costs its payload and nothing else once moved, and a call pays no
lock. Larger events, and every event while the buffer is nearly full, are
appended under the lock by ``offer``. An arena is sealed when it reaches
``batch_max_events`` or would exceed ``batch_max_bytes`` (the caller then wakes
the batcher once), or when the batcher's interval tick finds it non-empty.
Sealed arenas wait in a deque until the batcher takes them; ``extract`` hands
an arena's own buffer over as the batch's exactly sized ``bytes`` (cut to its
fill, no copy), and the next arena is created at the size the last one reached,
so it is written in place and never reallocated (a growing ``bytearray`` is
moved by ``realloc`` again and again once other allocations interleave: ~8x its
size in copies, 30x slower for 8 KB events).

Limits are in events AND bytes over everything held (open + sealed). When full:

* ``drop_newest`` rejects the incoming event (counted ``buffer_full``);
* ``drop_oldest`` evicts the oldest held events until it fits (``buffer_full``);
* ``block`` waits up to ``block_timeout`` for space, then drops the incoming
  event; a thread running an asyncio event loop is never blocked.

Re-entry and exceptions. A log call can start on a thread that is already inside
one of the buffer's locked sections: a signal handler that logs runs between two
bytecodes of the interrupted call, and a ``__del__`` that logs runs whenever the
garbage collector does, allocations inside the section included. The lock is an
``RLock`` taken with ``with`` (no bytecode between taking it and the guarded
block, so no exception can leave it held), so such a call never waits for its own
thread. It never works on state its interrupted caller is halfway through
changing either: a section that changes more than the fast path's allowance marks
itself ``_busy``, and a call that finds the lock already owned by its thread or
the buffer busy *defers* its event: the bytes wait in a side queue, within the
same limits (counted there, ``buffer_full`` when they do not fit), and are moved
into the open arena by the next batcher pass. A ``MemoryError`` (or any
exception) inside a section leaves the lock released and the counters whole: the
arena is written before the counters move.

Worst-case footprint: ``max_bytes`` of payload (the inbox's events included:
the hand-off is open only while two full inboxes of its largest events fit, and
orjson's output, which keeps ~13x its length and at least 4 KiB, is why that
largest is 4 KiB), plus the capacity of the open arena and of one recycled by
``drop_oldest`` (each at most ``batch_max_bytes`` + 1/8), plus ~200 B per sealed
arena.
"""

from __future__ import annotations

import io
import sys
import threading
from bisect import bisect_right
from collections import deque
from collections.abc import Callable
from itertools import accumulate
from typing import Any

__all__ = ["ACCEPTED", "DRAINED", "DROPPED", "SEALED", "Buffer"]

#: ``offer``'s answers: accepted, accepted and the batcher should run (a batch was
#: sealed, or the event was deferred), dropped.

ACCEPTED = 0
SEALED = 1
DROPPED = -1
#: The appender's fourth answer: accepted, and the inbox moved into the open batch
#: (nothing for the batcher; the caller checks for a fork there).
DRAINED = 2

#: Arenas that held at least this much are kept for reuse: below it, growing a
#: fresh arena is cheap, and small workloads keep no idle capacity around.
RECYCLE_MIN = 256 * 1024
#: A new arena gets the capacity the last one reached when that was at least this much.
PREALLOCATE_MIN = 16 * 1024

#: Events up to this size take the lock-free hand-off; larger ones (whose copy costs
#: more than the lock) go through ``offer``.
FAST_MAX_BYTES = 4 * 1024
#: The inbox is moved into the arena by the call that brings it to this many events
#: (and by every batcher pass, flush and ``offer``).
INBOX_EVENTS = 64


def _new_arena(expected: int) -> io.BytesIO:
    """A fresh arena; one expected to grow large gets its capacity up front.

    Growing an arena by appends reallocates (and, once other allocations
    interleave, moves) it again and again; one allocation of the size the last
    batch reached avoids that.
    """
    arena = io.BytesIO()
    if expected >= PREALLOCATE_MIN:
        arena.seek(expected - 1)
        arena.write(b"\0")
        arena.seek(0)
    return arena


def _in_event_loop() -> bool:
    asyncio = sys.modules.get("asyncio")
    if asyncio is None:
        return False
    try:
        return asyncio.get_running_loop() is not None
    except RuntimeError:
        return False


class Buffer:
    """A bounded, byte-accounted event buffer with an overflow policy.

    Thread-safe. ``offer`` is the hot path; ``take`` is called by the batcher.
    """

    __slots__ = (
        "_arena",
        "_batch_bytes",
        "_batch_events",
        "_block_timeout",
        "_busy",
        "_bytes",
        "_deferred",
        "_deferred_bytes",
        "_deferred_events",
        "_dropped_full",
        "_events",
        "_evicted",
        "_fast",
        "_free",
        "_frozen",
        "_hw_bytes",
        "_hw_events",
        "_inbox",
        "_lock",
        "_lost_memory",
        "_max_bytes",
        "_max_events",
        "_overflow",
        "_sealed",
        "_sealed_bytes",
        "_sealed_events",
        "_space",
        "_taken_events",
        "_transit_bytes",
        "_transit_events",
        "_waiters",
        "_wake",
    )

    def __init__(
        self,
        *,
        max_events: int,
        max_bytes: int,
        batch_events: int,
        batch_bytes: int,
        overflow: str = "drop_newest",
        block_timeout: float = 0.1,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._max_events = max_events
        self._max_bytes = max_bytes
        self._batch_events = batch_events
        self._batch_bytes = batch_bytes
        self._overflow = overflow
        self._block_timeout = block_timeout
        self._wake = wake
        #: The lock-free hand-off (see ``make_appender``): events of at most
        #: ``FAST_MAX_BYTES``, waiting to be moved into the open arena. The same
        #: objects for the buffer's life (the appender holds them; a forked child's
        #: ``_init_state`` empties them).
        self._inbox: list[bytes] = []
        #: ``[True]`` while the hand-off may be used: the buffer has room for a full
        #: inbox twice over, and it is not frozen.
        self._fast = [False]
        self._init_state()

    def _init_state(self) -> None:
        """Locks and contents, empty (at construction, and in a forked child)."""
        self._lock = threading.RLock()
        self._space = threading.Condition(self._lock)
        self._busy = False  # a section other than the fast path is changing the state
        self._frozen = False  # held for good by the process's last flush (see freeze)
        self._waiters = 0
        self._arena = io.BytesIO()
        self._free: list[io.BytesIO] = []  # at most one recycled arena
        self._sealed: deque[list[Any]] = deque()  # [BytesIO | bytearray, events, fill]
        # Events of re-entered calls, waiting for the batcher (counted here, not in _events).
        self._deferred: deque[bytes] = deque()
        self._deferred_events = 0
        self._deferred_bytes = 0
        self._events = 0  # held: open + sealed + in transit
        self._bytes = 0
        self._sealed_events = 0
        self._sealed_bytes = 0
        self._transit_events = 0  # popped by the batcher, not yet released
        self._transit_bytes = 0
        self._hw_events = 0
        self._hw_bytes = 0
        self._taken_events = 0
        self._dropped_full = 0  # incoming events rejected
        self._evicted = 0  # accepted events evicted by drop_oldest
        self._lost_memory = 0  # events of an arena a failed allocation freed
        self._inbox.clear()
        self._reroom()

    def _reroom(self) -> None:
        """Open or close the lock-free hand-off (lock held, or at construction).

        Open while the inbox, full twice over with events of the largest size it
        takes, fits within both limits: whatever it holds between two moves into
        the arena is covered by room the buffer has, so the limits hold exactly.
        """
        free_events = self._max_events - self._events - self._deferred_events
        free_bytes = self._max_bytes - self._bytes - self._deferred_bytes
        self._fast[0] = (
            not self._frozen
            and free_events >= 2 * INBOX_EVENTS
            and free_bytes >= 2 * INBOX_EVENTS * FAST_MAX_BYTES
        )

    def make_appender(self) -> Callable[[bytes], int]:
        """The hot path: a lock-free hand-off, with ``offer``'s contract.

        An event of at most ``FAST_MAX_BYTES`` is appended to the inbox (a ``list``:
        one atomic append, no lock, nothing a signal handler or another thread can see
        half done) while the hand-off is open (``_reroom``). The call that brings the
        inbox to ``INBOX_EVENTS`` moves it into the arena under the lock
        (``_drain_now``), where the batch thresholds and limits apply as in ``offer``.
        A larger event is written to the open arena under the lock at once when the
        inbox is empty and it fits the open batch and the hand-off's room (the same
        Python calls as a small event); otherwise, and for every event while the
        hand-off is closed (the buffer near full, or frozen), ``offer`` decides,
        moving the inbox first: a thread's events stay in order.

        The flag is read again after the append: a call that finds the hand-off
        closed by then (``freeze``) goes through the lock, so no call returns after
        the last flush took the inbox with its event left behind.
        """
        inbox = self._inbox
        put = inbox.append
        fast = self._fast
        offer = self.offer
        drain = self._drain_now
        largest = FAST_MAX_BYTES
        full = INBOX_EVENTS

        lock = self._lock
        spare_events = 2 * full  # what the open hand-off keeps free (see ``_reroom``)
        spare_bytes = 2 * full * largest

        def append(payload: bytes) -> int:
            n = len(payload)
            if fast[0]:
                if n <= largest:
                    put(payload)  # a MemoryError here leaves nothing half done
                    if len(inbox) < full and fast[0]:
                        return ACCEPTED
                    return drain()
                # A larger event: written at once when it fits the open batch and leaves
                # the hand-off's room free (so the flag stays right without ``_reroom``);
                # otherwise ``offer`` decides. The same Python calls as a small event.
                with lock:  # an RLock: a re-entered call finds the section busy, below
                    if (
                        not self._busy
                        and not inbox  # older events first: offer moves them
                        and fast[0]
                        and self._arena.tell() + n <= self._batch_bytes
                        and self._events - self._sealed_events - self._transit_events + 1
                        < self._batch_events
                        and self._events + self._deferred_events + 1 + spare_events
                        <= self._max_events
                        and self._bytes + self._deferred_bytes + n + spare_bytes <= self._max_bytes
                    ):
                        try:
                            self._arena.write(payload)
                        except MemoryError:
                            self._arena_failed()
                            raise
                        self._events += 1  # after the write: a failed one counts nothing
                        self._bytes += n
                        return ACCEPTED
            return offer(payload)

        return append

    def hand_off(self) -> tuple[list[bytes], list[bool], int, int, Callable[[], int]]:
        """The appender's small-event step as data, for the C log call.

        (inbox, its open flag, FAST_MAX_BYTES, INBOX_EVENTS, the drain): nglogger/
        _speedups.c appends an event of at most FAST_MAX_BYTES to the inbox while the
        flag is set and drains it at INBOX_EVENTS, exactly as ``make_appender``'s
        function does, and calls that function for everything else.
        """
        return (self._inbox, self._fast, FAST_MAX_BYTES, INBOX_EVENTS, self._drain_now)

    def _drain_now(self) -> int:
        """Move the inbox into the arena (takes the lock); ``offer``'s answers.

        On a thread already inside a section (a finalizer run by the collector
        during one), the events stay in the inbox for the next move.
        """
        if self._reentered():
            return SEALED
        with self._lock:
            if self._busy:
                return SEALED
            self._busy = True
            try:
                return self._drain_inbox() or DRAINED
            finally:
                self._busy = False
                self._reroom()

    def _drain_inbox(self) -> int:
        """Move the inbox's events into the open arena, oldest first (lock held, busy).

        Appenders only ever add at the end and only this (under the lock) removes
        from the front, so copying the first ``count`` events and then deleting
        them loses nothing appended in between. They were covered by the room the
        hand-off was opened with; one that does not fit after all (more threads
        appended at once than the inbox holds twice) is counted ``buffer_full``,
        or makes room under ``drop_oldest``. Returns ``SEALED`` when a batch was
        sealed.
        """
        inbox = self._inbox
        count = len(inbox)
        if not count:
            return ACCEPTED
        items = inbox[:count]
        del inbox[:count]
        ends = list(accumulate(map(len, items)))  # in C: no bytecode per event
        sealed = ACCEPTED
        start = 0
        try:
            while start < count:
                done = ends[start - 1] if start else 0
                fill = self._arena.tell()
                # as many as fit the open batch (at least one) and the limits
                room = min(
                    self._batch_events - self._open_events(),
                    self._max_events - self._events - self._deferred_events,
                )
                budget = done + min(
                    self._batch_bytes - fill, self._max_bytes - self._bytes - self._deferred_bytes
                )
                stop = min(count, start + max(room, 0), bisect_right(ends, budget, start))
                if stop > start:
                    self._write(b"".join(items[start:stop]) if stop - start > 1 else items[start])
                    self._events += stop - start
                    self._bytes += ends[stop - 1] - done
                    start = stop
                    if self._open_events() >= self._batch_events:
                        self._seal()
                        sealed = SEALED
                    continue
                n = ends[start] - done
                if not self._has_room(n):
                    if self._overflow == "drop_oldest" and self._evict_until(n):
                        continue
                    self._note_high_water()
                    self._dropped_full += 1
                    start += 1
                    continue
                if fill:  # it fits the limits, not the open batch: the next batch takes it
                    self._seal()
                    sealed = SEALED
                    continue
                self._write(items[start])  # over batch_max_bytes on its own
                self._events += 1
                self._bytes += n
                start += 1
        except MemoryError:
            self._lost_memory += count - start  # accepted by their calls, lost here
        return sealed

    # --------------------------------------------------------------- hot path
    def offer(self, payload: bytes) -> int:
        """Append one event (NDJSON bytes, newline included).

        Returns ``ACCEPTED`` (0), ``SEALED`` (1: accepted and the batcher should
        run: a batch was sealed, or the event was deferred) or ``DROPPED`` (-1).
        Never waits for a lock its own thread holds: a re-entered call defers.
        """
        lock = self._lock
        if lock._is_owned() and not self._frozen:  # type: ignore[attr-defined]
            return self._defer(payload)
        n = len(payload)
        with lock:
            if self._busy:  # cannot happen but on this thread (the lock is ours): defer
                return self._defer(payload)
            self._busy = True
            try:
                return self._offer_locked(payload, n, block=True)
            finally:
                self._busy = False
                self._reroom()

    def _offer_locked(self, payload: bytes, n: int, *, block: bool) -> int:
        sealed = self._drain_inbox()  # the inbox's events are older: they go first
        if not self._has_room(n) and not self._make_room(n, block):
            self._dropped_full += 1
            return DROPPED  # non-zero: the caller wakes the batcher
        fill = self._arena.tell()
        if fill and fill + n > self._batch_bytes:
            self._seal()
            sealed = SEALED
        self._write(payload)  # first: a MemoryError here changes no counter of this event
        self._events += 1
        self._bytes += n
        if self._open_events() >= self._batch_events:
            self._seal()
            sealed = SEALED
        return sealed

    def _defer(self, payload: bytes) -> int:
        """Keep the event of a re-entered call for the batcher (its thread owns the lock).

        Nothing else runs on the buffer meanwhile: other threads wait for the
        lock, and the interrupted section does not touch these counters between
        two of its bytecodes.
        """
        n = len(payload)
        if (
            self._events + self._deferred_events >= self._max_events
            or self._bytes + self._deferred_bytes + n > self._max_bytes
        ):
            self._dropped_full += 1
            return DROPPED
        self._deferred.append(payload)
        self._deferred_events += 1
        self._deferred_bytes += n
        return SEALED

    def _take_deferred(self) -> None:
        """Move deferred events into the open arena, oldest first (lock held, busy)."""
        deferred = self._deferred
        while deferred:
            payload = deferred[0]
            n = len(payload)
            # They were within the limits when deferred: only the batch thresholds apply.
            fill = self._arena.tell()
            if fill and fill + n > self._batch_bytes:
                self._seal()
            self._write(payload)
            deferred.popleft()
            self._deferred_events -= 1
            self._deferred_bytes -= n
            self._events += 1
            self._bytes += n
            if self._open_events() >= self._batch_events:
                self._seal()

    def _write(self, payload: bytes) -> None:
        """Append to the open arena (lock held); see :meth:`_arena_failed`."""
        try:
            self._arena.write(payload)
        except MemoryError:
            self._arena_failed()
            raise

    def _arena_failed(self) -> None:
        """After a ``MemoryError`` from the open arena's ``write`` (lock held).

        ``BytesIO`` frees its buffer when growing it fails: the events already in
        the open arena are gone. They are counted (``memory_error``) and a fresh
        arena takes their place; the event being written is the caller's to count.
        """
        arena = self._arena
        if not arena.closed:
            return  # nothing was lost: the allocation failed before the buffer was touched
        lost = self._open_events()
        self._events -= lost
        self._bytes = self._sealed_bytes + self._transit_bytes
        self._lost_memory += lost
        self._arena = io.BytesIO()
        self._reroom()

    def _make_room(self, n: int, block: bool) -> bool:
        """Called with the lock held when the buffer is full."""
        self._note_high_water()
        policy = self._overflow
        if policy == "drop_oldest":
            return self._evict_until(n)
        if policy == "block" and block and not _in_event_loop():
            self._wake()
            self._waiters += 1
            self._busy = False  # the wait releases the lock: others may work meanwhile
            try:
                return self._space.wait_for(lambda: self._has_room(n), self._block_timeout)
            finally:
                self._busy = True
                self._waiters -= 1
        return False

    def _has_room(self, n: int) -> bool:
        """Exact check (lock held): fold fast-path appends in first."""
        return (
            self._events + self._deferred_events < self._max_events
            and self._bytes + self._deferred_bytes + n <= self._max_bytes
        )

    def _evict_until(self, n: int) -> bool:
        while self._events and (
            self._events + self._deferred_events >= self._max_events
            or self._bytes + self._deferred_bytes + n > self._max_bytes
        ):
            if not self._sealed:
                self._seal()  # evict from a sealed arena: O(1) per event
                if not self._sealed:  # everything held is in transit to the sinks
                    break
            entry = self._sealed[0]
            arena = entry[0]
            if not isinstance(arena, bytearray):  # first eviction: make it deletable
                arena = entry[0] = self._detach(arena, entry[2])
            cut = arena.index(b"\n") + 1
            del arena[:cut]  # deleting at the front only moves the start pointer
            entry[1] -= 1
            entry[2] -= cut
            self._sealed_events -= 1
            self._sealed_bytes -= cut
            if not arena:
                self._sealed.popleft()
            self._events -= 1
            self._bytes -= cut
            self._evicted += 1
        return (
            self._events + self._deferred_events < self._max_events
            and self._bytes + self._deferred_bytes + n <= self._max_bytes
        )

    def _detach(self, arena: io.BytesIO, fill: int) -> bytearray:
        """The first ``fill`` bytes of an arena as a bytearray; the arena is recycled."""
        with arena.getbuffer() as view, view[:fill] as part:
            data = bytearray(part)
        if fill >= RECYCLE_MIN:
            self._recycle(arena)
        return data

    def _recycle(self, arena: io.BytesIO) -> None:
        """Keep one arena for reuse (lock held): its capacity is kept, no realloc later."""
        if not self._free:
            arena.seek(0)
            self._free.append(arena)

    def _open_events(self) -> int:
        """Events in the open arena (lock held)."""
        return self._events - self._sealed_events - self._transit_events

    def _seal(self) -> None:
        """Close the open arena (lock held); the caller wakes the batcher."""
        arena = self._arena
        fill = arena.tell()
        if not fill:
            return
        count = self._open_events()
        # The new arena first: a MemoryError leaves the open one open and counted.
        fresh = self._free.pop() if self._free else _new_arena(fill)
        self._sealed.append([arena, count, fill])
        self._arena = fresh
        self._sealed_events += count
        self._sealed_bytes += fill

    def _note_high_water(self) -> None:
        self._hw_events = max(self._hw_events, self._events + self._deferred_events)
        self._hw_bytes = max(self._hw_bytes, self._bytes + self._deferred_bytes)

    def _reentered(self) -> bool:
        """True on a thread that is already inside a section (and has not frozen it)."""
        return self._lock._is_owned() and not self._frozen  # type: ignore[attr-defined]

    # ---------------------------------------------------------------- batcher
    def pop_sealed(self, *, seal: bool) -> list[Any] | None:
        """The oldest sealed arena, sealing the open one first if ``seal`` (lock taken).

        The arena stays counted in the buffer's limits ("in transit") until
        :meth:`release`, so while the batcher copies it and hands it to the sinks,
        log calls cannot refill the buffer on top of it. Deferred events join the
        open arena first. Returns None on a thread already inside a section (a
        flush from a signal handler that interrupted a log call): nothing is popped.
        """
        if self._reentered():
            return None
        with self._lock:
            self._busy = True
            try:
                self._drain_inbox()  # older than the deferred events (the hand-off was open)
                self._note_high_water()
                if self._deferred:
                    self._take_deferred()
                if seal:
                    self._seal()
                if not self._sealed:
                    return None
                entry = self._sealed.popleft()
                self._sealed_events -= entry[1]
                self._sealed_bytes -= entry[2]
                self._transit_events += entry[1]
                self._transit_bytes += entry[2]
                return entry
            finally:
                self._busy = False
                self._reroom()

    def restore(self, entry: list[Any]) -> None:
        """Put a popped arena back at the head (its copy failed: ``MemoryError``)."""
        with self._lock:
            self._sealed.appendleft(entry)
            self._sealed_events += entry[1]
            self._sealed_bytes += entry[2]
            self._transit_events -= entry[1]
            self._transit_bytes -= entry[2]

    @staticmethod
    def extract(entry: list[Any]) -> bytes:
        """The events of a popped arena as one exactly sized ``bytes`` (no lock).

        Without a copy: the arena's own buffer, cut to its fill, becomes the batch
        (``BytesIO.getvalue`` hands it over once nothing else shares it); the arena is
        not used again. A copy would write every byte once more into fresh memory.
        """
        arena, _count, fill = entry
        if isinstance(arena, bytearray):
            return bytes(arena)
        whole: io.BytesIO = arena
        whole.truncate(fill)
        return whole.getvalue()

    def release(self, entry: list[Any]) -> None:
        """Stop counting a popped arena (its events are the sinks' now)."""
        _arena, count, fill = entry
        with self._lock:
            self._busy = True
            try:
                self._transit_events -= count
                self._transit_bytes -= fill
                self._events -= count
                self._bytes -= fill
                self._taken_events += count
                if self._waiters:
                    self._space.notify_all()
            finally:
                self._busy = False
                self._reroom()

    def take(self, *, seal: bool) -> list[tuple[bytes, int]]:
        """Pop, extract and release every sealed arena: ``[(bytes, events), ...]``."""
        out: list[tuple[bytes, int]] = []
        first = True
        while True:
            entry = self.pop_sealed(seal=seal and first)
            first = False
            if entry is None:
                return out
            out.append((self.extract(entry), entry[1]))
            self.release(entry)

    def freeze(self) -> None:
        """Hold the lock for good: the process ends next (the last flush of a signal).

        Every later append on another thread waits, so no call can return after
        the last batch was taken with its event left behind. The caller (which
        owns the lock from now on) still takes what is held with ``pop_sealed``.
        Idempotent on the thread that froze it.
        """
        if self._frozen and self._lock._is_owned():  # type: ignore[attr-defined]
            return
        self._fast[0] = False  # appenders see it after their append and take the lock
        self._lock.acquire()
        self._frozen = True

    def thaw(self) -> None:
        """Undo :meth:`freeze` (the process did not end after all)."""
        if self._frozen and self._lock._is_owned():  # type: ignore[attr-defined]
            self._frozen = False
            self._reroom()
            self._lock.release()

    def discard_all(self) -> int:
        """Forget everything held (after fork: those events belong to the parent).

        Called in a forked child, where the lock may have been inherited held:
        everything is made anew, the lock first.
        """
        held = self._events + self._deferred_events + len(self._inbox)
        self._init_state()
        return held

    # ------------------------------------------------------------------ stats
    def snapshot(self) -> dict[str, int]:
        """Counters and current levels, taken atomically.

        On a thread already inside a section (a signal handler asking for stats),
        the same figures are read without the lock and without changing anything.
        """
        if self._reentered():
            return self._figures()
        with self._lock:
            self._busy = True
            try:
                self._drain_inbox()  # exact figures: the inbox's events are counted too
                self._note_high_water()
                return self._figures()
            finally:
                self._busy = False
                self._reroom()

    def _figures(self) -> dict[str, int]:
        inbox = self._inbox  # moved into the arena first, unless read from inside a section
        events = self._events + self._deferred_events + len(inbox)
        return {
            "accepted": self._taken_events + events + self._evicted + self._lost_memory,
            "dropped_incoming": self._dropped_full,
            "lost_memory": self._lost_memory,
            "evicted": self._evicted,
            "taken": self._taken_events,
            "events": events,
            "bytes": self._bytes + self._deferred_bytes + sum(map(len, inbox)),
            "high_water_events": max(self._hw_events, events),
            "high_water_bytes": self._hw_bytes,
        }
