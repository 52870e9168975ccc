"""The bounded buffer: limits in events and bytes, overflow policies, exact counts."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from nglogger._pipeline.buffer import ACCEPTED, DROPPED, SEALED, Buffer


def ev(i: int, size: int = 20) -> bytes:
    body = f'{{"i":{i},"p":"'.encode()
    pad = max(0, size - len(body) - 3)
    return body + b"x" * pad + b'"}\n'


def make(**kw: object) -> Buffer:
    settings: dict[str, object] = {
        "max_events": 10,
        "max_bytes": 10_000,
        "batch_events": 100,
        "batch_bytes": 10_000,
    }
    settings.update(kw)
    return Buffer(**settings)  # type: ignore[arg-type]


def drain(buf: Buffer) -> list[bytes]:
    out: list[bytes] = []
    for data, _count in buf.take(seal=True):
        out.extend(data.splitlines(keepends=True))
    return out


def test_drop_newest_rejects_incoming_and_counts() -> None:
    """When full, drop_newest keeps the oldest events and counts each rejection."""
    buf = make(max_events=3)
    results = [buf.offer(ev(i)) for i in range(5)]
    assert results == [ACCEPTED, ACCEPTED, ACCEPTED, DROPPED, DROPPED]
    assert drain(buf) == [ev(0), ev(1), ev(2)]
    snap = buf.snapshot()
    assert snap["dropped_incoming"] == 2
    assert snap["accepted"] == 3


def test_byte_limit_applies_independently_of_event_limit() -> None:
    """The byte limit rejects events even when the event count is low."""
    buf = make(max_events=1000, max_bytes=100)
    for i in range(10):
        buf.offer(ev(i, size=30))
    snap = buf.snapshot()
    assert snap["bytes"] <= 100
    assert snap["events"] == 3
    assert snap["dropped_incoming"] == 7


def test_drop_oldest_evicts_exactly_enough() -> None:
    """drop_oldest evicts the oldest events, one at a time, across sealed arenas."""
    buf = make(max_events=4, batch_events=2, overflow="drop_oldest")
    for i in range(7):
        assert buf.offer(ev(i)) != DROPPED
    assert drain(buf) == [ev(3), ev(4), ev(5), ev(6)]
    snap = buf.snapshot()
    assert snap["evicted"] == 3
    assert snap["accepted"] == 7
    assert snap["taken"] == 4


def test_drop_oldest_by_bytes_with_mixed_sizes() -> None:
    """drop_oldest frees bytes until a large event fits."""
    buf = make(max_events=100, max_bytes=100, overflow="drop_oldest")
    for i in range(4):
        buf.offer(ev(i, size=20))
    assert buf.offer(ev(9, size=60)) == ACCEPTED
    assert drain(buf) == [ev(2), ev(3), ev(9, size=60)]


def test_seal_on_event_count_and_bytes() -> None:
    """An arena is sealed at batch_events, and before it would exceed batch_bytes."""
    buf = make(max_events=1000, batch_events=3, batch_bytes=1000)
    assert [buf.offer(ev(i)) for i in range(4)] == [ACCEPTED, ACCEPTED, SEALED, ACCEPTED]
    batches = buf.take(seal=False)
    assert [count for _, count in batches] == [3]
    buf2 = make(max_events=1000, batch_events=1000, batch_bytes=50)
    assert [buf2.offer(ev(i, size=20)) for i in range(3)] == [ACCEPTED, ACCEPTED, SEALED]
    assert [(len(data), c) for data, c in buf2.take(seal=True)] == [(40, 2), (20, 1)]


def test_take_returns_in_order_and_empties() -> None:
    """take(seal=True) returns every event once, in order, and resets the levels."""
    buf = make(max_events=100, batch_events=4)
    for i in range(10):
        buf.offer(ev(i))
    assert drain(buf) == [ev(i) for i in range(10)]
    assert buf.take(seal=True) == []
    snap = buf.snapshot()
    assert (snap["events"], snap["bytes"]) == (0, 0)
    assert snap["high_water_events"] == 10


def test_block_waits_for_space_then_accepts() -> None:
    """block waits until the batcher frees space, then accepts the event."""
    buf = make(max_events=2, overflow="block", block_timeout=30.0)
    buf.offer(ev(0))
    buf.offer(ev(1))
    results: list[int] = []
    started = threading.Event()

    def producer() -> None:
        started.set()
        results.append(buf.offer(ev(2)))

    thread = threading.Thread(target=producer)
    thread.start()
    started.wait(5)
    # wait until the producer is actually blocked inside offer()
    deadline = time.monotonic() + 5
    while buf._waiters == 0 and time.monotonic() < deadline:
        time.sleep(0.001)
    assert buf._waiters == 1
    assert drain(buf) == [ev(0), ev(1)]
    thread.join(5)
    assert results == [ACCEPTED]
    assert drain(buf) == [ev(2)]


def test_block_gives_up_after_timeout() -> None:
    """block drops the event (counted) when no space appears within block_timeout."""
    buf = make(max_events=1, overflow="block", block_timeout=0.05)
    buf.offer(ev(0))
    assert buf.offer(ev(1)) == DROPPED
    assert buf.snapshot()["dropped_incoming"] == 1


def test_block_never_blocks_an_event_loop_thread() -> None:
    """Inside a running asyncio loop, block behaves like drop_newest."""
    buf = make(max_events=1, overflow="block", block_timeout=60.0)
    buf.offer(ev(0))

    async def main() -> int:
        return buf.offer(ev(1))

    begin = time.monotonic()
    assert asyncio.run(main()) == DROPPED
    assert time.monotonic() - begin < 30.0  # far below the 60 s block timeout


@pytest.mark.parametrize("entry", ["offer", "appender"])
@pytest.mark.parametrize("policy", ["drop_oldest", "drop_newest"])
def test_concurrent_producers_exact_accounting(entry: str, policy: str) -> None:
    """Under 8 threads, accepted + dropped equals offered, exactly, on both entry points."""
    buf = make(max_events=5000, max_bytes=10**9, batch_events=64, overflow=policy)
    put = buf.offer if entry == "offer" else buf.make_appender()
    per_thread = 2000

    def produce(t: int) -> None:
        for i in range(per_thread):
            put(ev(t * per_thread + i))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    taken = 0
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        taken += sum(c for _, c in buf.take(seal=False))
    for thread in threads:
        thread.join()
    taken += sum(c for _, c in buf.take(seal=True))
    snap = buf.snapshot()
    assert snap["accepted"] + snap["dropped_incoming"] == 8 * per_thread
    assert snap["accepted"] == taken + snap["evicted"]
    assert snap["events"] == 0


def test_discard_all_resets_lock_and_content() -> None:
    """discard_all (used after fork) empties the buffer and replaces a held lock."""
    buf = make()
    buf.offer(ev(0))
    buf._lock.acquire()  # as if another thread held it at fork time
    assert buf.discard_all() == 1
    assert buf.offer(ev(1)) == ACCEPTED
    assert drain(buf) == [ev(1)]


@pytest.mark.parametrize("entry", ["offer", "appender"])
@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest", "block"])
def test_policies_keep_bytes_within_limit(policy: str, entry: str) -> None:
    """Whatever the policy and entry point, held bytes and events never exceed the limits."""
    buf = make(max_events=20, max_bytes=1000, overflow=policy, block_timeout=0.001)
    put = buf.offer if entry == "offer" else buf.make_appender()
    for i in range(500):
        put(ev(i, size=37))
        snap = buf.snapshot()
        assert snap["bytes"] <= 1000
        assert snap["events"] <= 20
        if i % 50 == 49:
            buf.take(seal=True)


def test_appender_seals_at_batch_thresholds_like_offer() -> None:
    """The fast path seals at exactly batch_max_events, as offer does."""
    buf = make(max_events=1000, batch_events=10, batch_bytes=10_000)
    append = buf.make_appender()
    results = [append(ev(i)) for i in range(25)]
    assert [i for i, r in enumerate(results) if r == SEALED] == [9, 19]
    assert [count for _, count in buf.take(seal=True)] == [10, 10, 5]


def test_arena_in_transit_still_counts_against_the_limits() -> None:
    """While the batcher copies a popped arena, log calls cannot refill the buffer on top of it."""
    buf = make(max_events=4, max_bytes=10_000, batch_events=4)
    append = buf.make_appender()
    for i in range(4):
        append(ev(i))
    entry = buf.pop_sealed(seal=True)
    assert entry is not None
    assert append(ev(99)) == DROPPED  # still full: the popped arena is in transit
    assert buf.snapshot()["events"] == 4
    assert buf.extract(entry) == b"".join(ev(i) for i in range(4))
    buf.release(entry)
    assert append(ev(100)) == ACCEPTED
    snap = buf.snapshot()
    assert (snap["events"], snap["taken"], snap["dropped_incoming"]) == (1, 4, 1)


def test_drop_oldest_never_evicts_from_an_arena_in_transit() -> None:
    """drop_oldest evicts only what is still in the buffer, never a batch being dispatched."""
    buf = make(max_events=4, batch_events=4, overflow="drop_oldest")
    for i in range(4):
        buf.offer(ev(i))
    entry = buf.pop_sealed(seal=True)
    assert entry is not None
    assert buf.offer(ev(50)) == DROPPED  # nothing evictable: all four are in transit
    buf.release(entry)
    for i in range(5):
        buf.offer(ev(60 + i))
    assert drain(buf) == [ev(61), ev(62), ev(63), ev(64)]
    assert buf.snapshot()["evicted"] == 1


# ---------------------------------------------------------------------------
# Re-entry: a call that starts inside a section on its own thread (a signal handler,
# a finalizer) never waits for that thread, and never works on half-changed state.


def _nested_during_seal(
    monkeypatch: pytest.MonkeyPatch, payloads: list[bytes], answers: list[int]
) -> None:
    """The next ``_seal`` first logs ``payloads``, as a finalizer run inside it would."""
    real = Buffer._seal

    def inside(self: Buffer) -> None:
        if payloads:
            append = self.make_appender()
            answers.append(append(payloads[0]))  # the fast path, then offer()
            answers.extend(self.offer(p) for p in payloads[1:])
            payloads.clear()
        real(self)

    monkeypatch.setattr(Buffer, "_seal", inside)


def test_a_call_nested_inside_a_seal_is_deferred_then_kept_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buf = make(max_events=100, batch_events=3)
    append = buf.make_appender()
    answers: list[int] = []
    _nested_during_seal(monkeypatch, [ev(100), ev(101)], answers)
    for i in range(3):  # the third append seals: the nested calls land inside _seal
        append(ev(i))
    assert answers == [SEALED, SEALED]  # deferred: accepted, and the batcher is to run
    snap = buf.snapshot()
    assert snap["events"] == 5
    assert snap["accepted"] == 5
    lines = drain(buf)
    assert lines == [ev(0), ev(1), ev(2), ev(100), ev(101)]
    assert buf.snapshot()["events"] == 0
    assert buf.snapshot()["taken"] == 5


def test_a_nested_call_that_does_not_fit_is_counted_buffer_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buf = make(max_events=4, batch_events=3)
    append = buf.make_appender()
    answers: list[int] = []
    _nested_during_seal(monkeypatch, [ev(100), ev(101)], answers)
    for i in range(3):
        append(ev(i))
    assert answers == [SEALED, DROPPED]  # room for one more event only
    snap = buf.snapshot()
    assert snap["events"] == 4
    assert snap["dropped_incoming"] == 1
    assert snap["accepted"] == 4
    assert drain(buf) == [ev(0), ev(1), ev(2), ev(100)]


def test_a_control_call_nested_in_a_section_returns_at_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buf = make(max_events=100, batch_events=2)
    append = buf.make_appender()
    seen: list[object] = []
    real = Buffer._seal

    def inside(self: Buffer) -> None:
        # what a flush or stats() from a signal handler would do on this thread
        seen.append(self.pop_sealed(seal=True))
        seen.append(self.snapshot()["events"])
        real(self)

    monkeypatch.setattr(Buffer, "_seal", inside)
    append(ev(0))
    append(ev(1))  # seals
    assert seen == [None, 2]  # nothing popped; the figures read without waiting
    assert drain(buf) == [ev(0), ev(1)]


def test_a_memory_error_in_the_arena_leaves_the_lock_free_and_counts_the_lost() -> None:
    buf = make(max_events=100, batch_events=100)
    append = buf.make_appender()
    for i in range(3):
        assert append(ev(i)) == ACCEPTED

    class Failing:
        """An arena whose growth failed as BytesIO's does: its buffer freed, closed."""

        closed = False

        def write(self, _data: bytes) -> int:
            self.closed = True
            raise MemoryError

        def tell(self) -> int:
            if self.closed:
                raise ValueError("I/O operation on closed file.")
            return 3 * len(ev(0))

    buf._arena = Failing()  # type: ignore[assignment]
    with pytest.raises(MemoryError):
        append(ev(3))
    # the lock is free for another thread, and the buffer works again
    done = threading.Event()
    threading.Thread(target=lambda: (append(ev(4)), done.set())).start()
    assert done.wait(10)
    snap = buf.snapshot()
    assert snap["lost_memory"] == 3  # the open arena's events were gone with its buffer
    assert snap["events"] == 1
    assert snap["accepted"] == 4  # 3 lost + 1 held; the failing call counts its own event
    assert drain(buf) == [ev(4)]
