"""The buffer's lock-free hand-off: the inbox, its moves into the arena, and its bounds.

A log call appends its event to the inbox with one atomic ``list.append``; the call
that fills it, a batcher pass, a flush, a snapshot or ``offer`` moves it into the
arena under the lock. These tests use a buffer large enough for the hand-off to be
open (``_reroom``), and check what the design promises: order per thread, exact
counts under threads, the limits, re-entry, ``freeze`` and a ``MemoryError``.
"""

from __future__ import annotations

import threading

import pytest

from nglogger._pipeline.buffer import (
    ACCEPTED,
    DRAINED,
    DROPPED,
    FAST_MAX_BYTES,
    INBOX_EVENTS,
    SEALED,
    Buffer,
)


def ev(i: int, size: int = 40) -> bytes:
    body = f'{{"i":{i},"p":"'.encode()
    return body + b"x" * max(0, size - len(body) - 3) + b'"}\n'


def big(**kw: object) -> Buffer:
    """A buffer with room for the hand-off (its reservation: 2 inboxes of the largest events)."""
    settings: dict[str, object] = {
        "max_events": 100_000,
        "max_bytes": 64 * 1024 * 1024,
        "batch_events": 1000,
        "batch_bytes": 1024 * 1024,
    }
    settings.update(kw)
    return Buffer(**settings)  # type: ignore[arg-type]


def lines(buf: Buffer) -> list[bytes]:
    out: list[bytes] = []
    for data, _count in buf.take(seal=True):
        out.extend(data.splitlines(keepends=True))
    return out


def test_small_events_go_to_the_inbox_and_the_filling_call_moves_it() -> None:
    buf = big()
    append = buf.make_appender()
    answers = [append(ev(i)) for i in range(INBOX_EVENTS)]
    assert answers[:-1] == [ACCEPTED] * (INBOX_EVENTS - 1)
    assert answers[-1] == DRAINED  # moved into the open batch: nothing for the batcher
    assert buf._inbox == []
    assert buf.snapshot()["events"] == INBOX_EVENTS
    assert lines(buf) == [ev(i) for i in range(INBOX_EVENTS)]


def test_a_large_event_takes_the_lock_after_the_inbox_in_order() -> None:
    """An event over FAST_MAX_BYTES goes through offer, which moves the older inbox first."""
    buf = big()
    append = buf.make_appender()
    append(ev(0))
    append(ev(1))
    large = ev(2, size=FAST_MAX_BYTES + 100)
    assert append(large) == ACCEPTED
    append(ev(3))
    assert lines(buf) == [ev(0), ev(1), large, ev(3)]


def test_the_inbox_seals_batches_at_their_thresholds() -> None:
    buf = big(batch_events=100)
    append = buf.make_appender()
    answers = [append(ev(i)) for i in range(250)]
    assert SEALED in answers  # the move that completed a batch asks for the batcher
    assert [count for _, count in buf.take(seal=True)] == [100, 100, 50]


def test_batch_bytes_split_a_move_exactly() -> None:
    """A move splits its events between batches at batch_max_bytes, in order."""
    size = 1000
    buf = big(batch_bytes=10 * size)
    append = buf.make_appender()
    for i in range(2 * INBOX_EVENTS):
        append(ev(i, size=size))
    taken = buf.take(seal=True)
    assert [count for _, count in taken] == [10] * 12 + [8]
    assert all(len(data) <= 10 * size for data, _ in taken)
    assert b"".join(data for data, _ in taken) == b"".join(ev(i, size=size) for i in range(128))


def test_snapshot_counts_what_waits_in_the_inbox() -> None:
    buf = big()
    append = buf.make_appender()
    for i in range(5):
        append(ev(i))
    assert len(buf._inbox) == 5
    snap = buf.snapshot()
    assert (snap["events"], snap["accepted"], snap["bytes"]) == (5, 5, 5 * len(ev(0)))


def test_the_hand_off_closes_when_the_buffer_nears_full_and_limits_hold() -> None:
    """Near the limits every call goes through offer: the limits and drop counts stay exact."""
    limit = 2 * INBOX_EVENTS * FAST_MAX_BYTES + 50 * 40
    buf = big(max_bytes=limit, batch_bytes=10**9, batch_events=10**9)
    append = buf.make_appender()
    answers = [append(ev(i)) for i in range(100_000)]
    snap = buf.snapshot()
    assert snap["bytes"] <= limit
    assert snap["accepted"] + snap["dropped_incoming"] == 100_000
    assert snap["dropped_incoming"] == answers.count(DROPPED)
    assert buf._fast == [False]  # closed: no room for two full inboxes any more


@pytest.mark.parametrize("policy", ["drop_newest", "drop_oldest"])
def test_threads_lose_nothing_and_count_exactly(policy: str) -> None:
    """8 threads: every event accepted or counted, each thread's events in its order."""
    buf = big(max_events=6000, overflow=policy)
    append = buf.make_appender()
    per_thread = 3000

    def produce(t: int) -> None:
        for i in range(per_thread):
            append(ev(t * per_thread + i))

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(8)]
    got: list[bytes] = []
    for thread in threads:
        thread.start()
    while any(t.is_alive() for t in threads):
        got.extend(line for data, _ in buf.take(seal=False) for line in data.splitlines())
    for thread in threads:
        thread.join()
    got.extend(line for data, _ in buf.take(seal=True) for line in data.splitlines())
    snap = buf.snapshot()
    assert snap["accepted"] + snap["dropped_incoming"] == 8 * per_thread
    assert snap["accepted"] == len(got) + snap["evicted"]
    assert snap["events"] == 0
    numbers = [int(line.split(b",")[0][5:]) for line in got]
    for t in range(8):
        mine = [n for n in numbers if n // per_thread == t]
        assert mine == sorted(mine)


def test_a_call_nested_in_a_move_goes_to_the_inbox_and_is_kept(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A finalizer that logs while its thread moves the inbox appends without waiting."""
    buf = big(batch_events=10)
    append = buf.make_appender()
    real = Buffer._seal
    nested: list[int] = []

    def inside(self: Buffer) -> None:
        if not nested:
            nested.append(append(ev(999)))
        real(self)

    monkeypatch.setattr(Buffer, "_seal", inside)
    for i in range(INBOX_EVENTS):
        append(ev(i))
    assert nested == [ACCEPTED]
    got = lines(buf)
    assert sorted(got) == sorted([*(ev(i) for i in range(INBOX_EVENTS)), ev(999)])
    assert buf.snapshot()["taken"] == INBOX_EVENTS + 1


def test_freeze_makes_later_calls_wait_and_takes_the_inbox() -> None:
    """After freeze, no call returns with its event left behind: it waits for the lock."""
    buf = big()
    append = buf.make_appender()
    for i in range(3):
        append(ev(i))
    buf.freeze()
    started = threading.Event()
    returned = threading.Event()

    def late() -> None:
        started.set()
        append(ev(50))
        returned.set()

    thread = threading.Thread(target=late, daemon=True)
    thread.start()
    assert started.wait(10)
    assert not returned.wait(0.2)  # waits for the frozen lock (a hang here is the point)
    entry = buf.pop_sealed(seal=True)
    assert entry is not None
    assert buf.extract(entry).splitlines(keepends=True)[:3] == [ev(0), ev(1), ev(2)]
    buf.release(entry)
    buf.thaw()
    assert returned.wait(10)
    assert lines(buf) == [ev(50)]


def test_a_memory_error_while_moving_counts_the_inbox_events_lost() -> None:
    buf = big()
    append = buf.make_appender()
    for i in range(5):
        append(ev(i))

    class Failing:
        closed = False

        def write(self, _data: bytes) -> int:
            raise MemoryError

        def tell(self) -> int:
            return 0

    real = buf._arena
    buf._arena = Failing()  # type: ignore[assignment]
    snap = buf.snapshot()  # moves the inbox: the write fails
    buf._arena = real
    assert snap["lost_memory"] == 5
    assert snap["accepted"] == 5  # accepted by their calls, then lost: counted
    assert snap["events"] == 0
    assert append(ev(9)) == ACCEPTED
    assert lines(buf) == [ev(9)]


def test_discard_all_empties_the_inbox() -> None:
    buf = big()
    append = buf.make_appender()
    for i in range(4):
        append(ev(i))
    assert buf.discard_all() == 4
    assert buf._inbox == []
    append(ev(7))
    assert lines(buf) == [ev(7)]


def test_a_large_event_is_written_under_the_lock_with_the_limits_kept() -> None:
    """Events over FAST_MAX_BYTES: written at once while the hand-off's room stays free."""
    size = 3 * FAST_MAX_BYTES
    limit = 2 * INBOX_EVENTS * FAST_MAX_BYTES + 10 * size
    buf = big(max_bytes=limit, batch_bytes=4 * size)
    append = buf.make_appender()
    answers = [append(ev(i, size=size)) for i in range(100)]
    snap = buf.snapshot()
    assert snap["bytes"] <= limit
    assert snap["accepted"] + snap["dropped_incoming"] == 100
    assert snap["dropped_incoming"] == answers.count(DROPPED) > 0  # full: offer said so
    taken = lines(buf)
    assert taken == [ev(i, size=size) for i in range(100) if answers[i] != DROPPED]


def test_a_large_event_nested_in_a_section_is_deferred_in_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A finalizer logging a large event inside a move: it waits in the side queue."""
    buf = big(batch_events=10)
    append = buf.make_appender()
    real = Buffer._seal
    large = ev(999, size=FAST_MAX_BYTES + 10)
    nested: list[int] = []

    def inside(self: Buffer) -> None:
        if not nested:
            nested.append(append(large))
        real(self)

    monkeypatch.setattr(Buffer, "_seal", inside)
    for i in range(INBOX_EVENTS):
        append(ev(i))
    assert nested == [SEALED]  # deferred: accepted, the batcher is to run
    got = lines(buf)
    assert sorted(got) == sorted([*(ev(i) for i in range(INBOX_EVENTS)), large])
