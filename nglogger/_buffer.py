"""The bounded buffer between log calls and the batcher.

Events arrive as NDJSON bytes and are appended to an open arena (an
``io.BytesIO`` written at its end), so an event costs its payload and nothing
else: no per-event object survives the call. An arena is sealed when it reaches
``batch_max_events`` or would exceed ``batch_max_bytes`` (the caller then wakes
the batcher once), or when the batcher's interval tick finds it non-empty.
Sealed arenas wait in a deque until the batcher takes them; ``take`` copies each
into one exactly sized ``bytes`` outside the lock and recycles one large arena
(>= 256 KiB), so a warm arena is written in place and never reallocated (a growing ``bytearray``
is moved by ``realloc`` again and again once other allocations interleave:
~8x its size in copies, 30x slower for 8 KB events).

Limits are in events AND bytes over everything held (open + sealed). When full:

* ``drop_newest`` rejects the incoming event (counted ``buffer_full``);
* ``drop_oldest`` evicts the oldest held events until it fits (``buffer_full``);
* ``block`` waits up to ``block_timeout`` for space, then drops the incoming
  event; a thread running an asyncio event loop is never blocked.

Worst-case footprint: ``max_bytes`` of payload, plus the capacity of the open
and the recycled arena (each at most ``batch_max_bytes`` + 1/8), plus ~200 B
per sealed arena.
"""

from __future__ import annotations

import io
import sys
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

__all__ = ["ACCEPTED", "DROPPED", "SEALED", "Buffer"]

ACCEPTED = 0
SEALED = 1
DROPPED = -1

#: Arenas that held at least this much are kept for reuse: below it, growing a
#: fresh arena is cheap, and small workloads keep no idle capacity around.
RECYCLE_MIN = 256 * 1024


def _new_arena(expected: int) -> io.BytesIO:
    """A fresh arena; one expected to grow large gets its capacity up front.

    Growing an arena by appends reallocates (and, once other allocations
    interleave, moves) it again and again; one allocation of the size the last
    batch reached avoids that.
    """
    arena = io.BytesIO()
    if expected >= RECYCLE_MIN:
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
        "_bytes",
        "_dropped_full",
        "_events",
        "_evicted",
        "_free",
        "_grant_bytes",
        "_grant_events",
        "_hw_bytes",
        "_hw_events",
        "_lock",
        "_max_bytes",
        "_max_events",
        "_overflow",
        "_room_bytes",
        "_room_events",
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
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._waiters = 0
        self._arena = io.BytesIO()
        self._free: list[io.BytesIO] = []  # at most one recycled arena
        self._sealed: deque[list[Any]] = deque()  # [BytesIO | bytearray, events, fill]
        self._events = 0  # held: open + sealed
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
        # Fast-path allowance: events/bytes that may be appended without looking at
        # limits or batch thresholds. ``_events``/``_bytes`` are exact once
        # ``_sync()`` has folded in what the fast path used (grant - room).
        self._room_events = 0
        self._room_bytes = 0
        self._grant_events = 0
        self._grant_bytes = 0
        self._reroom()

    def _sync(self) -> None:
        """Fold fast-path appends into the exact counters (lock held)."""
        used_events = self._grant_events - self._room_events
        if used_events:
            self._events += used_events
            self._bytes += self._grant_bytes - self._room_bytes
        self._grant_events = self._room_events = 0
        self._grant_bytes = self._room_bytes = 0

    def _reroom(self) -> None:
        """Recompute the fast-path allowance from the exact counters (lock held)."""
        room_events = min(
            self._max_events - self._events,
            self._batch_events - self._open_events(),
        )
        room_bytes = min(self._max_bytes - self._bytes, self._batch_bytes - self._arena.tell())
        if room_events <= 0 or room_bytes <= 0:
            room_events = room_bytes = 0
        self._grant_events = self._room_events = room_events
        self._grant_bytes = self._room_bytes = room_bytes

    def make_appender(self) -> Callable[[bytes], int]:
        """The hot path: append under the lock while within the allowance.

        Returns a function with ``offer``'s contract. Within the allowance it
        only decrements two counters and extends the arena; the last event of the
        allowance and everything beyond go through ``offer`` (limits, policies,
        sealing).
        """
        lock = self._lock
        acquire = lock.acquire
        release = lock.release
        offer = self.offer

        def append(payload: bytes) -> int:
            n = len(payload)
            acquire()
            if n < self._room_bytes and self._room_events > 1:
                self._room_events -= 1
                self._room_bytes -= n
                self._arena.write(payload)
                release()
                return ACCEPTED
            release()
            return offer(payload)

        return append

    # --------------------------------------------------------------- hot path
    def offer(self, payload: bytes) -> int:
        """Append one event (NDJSON bytes, newline included).

        Returns ``ACCEPTED`` (0), ``SEALED`` (1: accepted and a batch was sealed,
        the caller should wake the batcher) or ``DROPPED`` (-1).
        """
        n = len(payload)
        lock = self._lock
        lock.acquire()
        try:
            self._sync()
            events = self._events
            if events >= self._max_events or self._bytes + n > self._max_bytes:
                if not self._make_room(n):
                    self._dropped_full += 1
                    return DROPPED
                events = self._events
            sealed = ACCEPTED
            fill = self._arena.tell()
            if fill and fill + n > self._batch_bytes:
                self._seal()
                sealed = SEALED
            self._arena.write(payload)
            self._events = events = events + 1
            self._bytes += n
            if self._open_events() >= self._batch_events:
                self._seal()
                sealed = SEALED
            return sealed
        finally:
            self._reroom()
            lock.release()

    def _make_room(self, n: int) -> bool:
        """Called with the lock held when the buffer is full."""
        self._note_high_water()
        policy = self._overflow
        if policy == "drop_oldest":
            return self._evict_until(n)
        if policy == "block" and not _in_event_loop():
            self._wake()
            self._waiters += 1
            try:
                return self._space.wait_for(lambda: self._has_room(n), self._block_timeout)
            finally:
                self._waiters -= 1
        return False

    def _has_room(self, n: int) -> bool:
        """Exact check (lock held): fold fast-path appends in first."""
        self._sync()
        return self._events < self._max_events and self._bytes + n <= self._max_bytes

    def _evict_until(self, n: int) -> bool:
        while self._events and (
            self._events >= self._max_events or self._bytes + n > self._max_bytes
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
        return self._events < self._max_events and self._bytes + n <= self._max_bytes

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
        """Events in the open arena (lock held, after ``_sync``)."""
        return self._events - self._sealed_events - self._transit_events

    def _seal(self) -> None:
        """Close the open arena (lock held); the caller wakes the batcher."""
        arena = self._arena
        fill = arena.tell()
        if not fill:
            return
        count = self._open_events()
        self._sealed.append([arena, count, fill])
        self._sealed_events += count
        self._sealed_bytes += fill
        self._arena = self._free.pop() if self._free else _new_arena(fill)

    def _note_high_water(self) -> None:
        self._hw_events = max(self._hw_events, self._events)
        self._hw_bytes = max(self._hw_bytes, self._bytes)

    # ---------------------------------------------------------------- batcher
    def pop_sealed(self, *, seal: bool) -> list[Any] | None:
        """The oldest sealed arena, sealing the open one first if ``seal`` (lock taken).

        The arena stays counted in the buffer's limits ("in transit") until
        :meth:`release`, so while the batcher copies it and hands it to the sinks,
        log calls cannot refill the buffer on top of it.
        """
        with self._lock:
            self._sync()
            try:
                self._note_high_water()
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
                self._reroom()

    @staticmethod
    def extract(entry: list[Any]) -> bytes:
        """The events of a popped arena as one exactly sized ``bytes`` (no lock)."""
        arena, _count, fill = entry
        if isinstance(arena, bytearray):
            return bytes(arena)
        with arena.getbuffer() as view, view[:fill] as part:
            return bytes(part)

    def release(self, entry: list[Any]) -> None:
        """Stop counting a popped arena (its events are the sinks' now); recycle it."""
        arena, count, fill = entry
        with self._lock:
            self._sync()
            self._transit_events -= count
            self._transit_bytes -= fill
            self._events -= count
            self._bytes -= fill
            self._taken_events += count
            if isinstance(arena, io.BytesIO) and fill >= RECYCLE_MIN:
                self._recycle(arena)
            if self._waiters:
                self._space.notify_all()
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

    def discard_all(self) -> int:
        """Forget everything held (after fork: those events belong to the parent).

        Called in a forked child, where the lock may have been inherited held:
        it gets a new lock first.
        """
        self._lock = threading.Lock()
        self._space = threading.Condition(self._lock)
        self._waiters = 0
        with self._lock:
            self._sync()
            held = self._events
            self._arena = io.BytesIO()
            self._free = []
            self._sealed.clear()
            self._events = self._bytes = 0
            self._sealed_events = self._sealed_bytes = 0
            self._transit_events = self._transit_bytes = 0
            self._reroom()
            return held

    # ------------------------------------------------------------------ stats
    def snapshot(self) -> dict[str, int]:
        """Counters and current levels, taken atomically."""
        with self._lock:
            self._sync()
            self._reroom()
            self._note_high_water()
            return {
                "accepted": self._taken_events + self._events + self._evicted,
                "dropped_incoming": self._dropped_full,
                "evicted": self._evicted,
                "taken": self._taken_events,
                "events": self._events,
                "bytes": self._bytes,
                "high_water_events": self._hw_events,
                "high_water_bytes": self._hw_bytes,
            }
