"""A log call never blocks the event loop, whatever the sink does and whatever the overflow policy.

Event-loop lag is measured by a ticker task that sleeps 1 ms in a loop and
records how late it wakes up (``perf_counter`` after minus before, minus the
millisecond). Ten tasks log 50,000 events between them, 100 events at a time,
yielding to the loop after each hundred; the same tasks without logging give
the baseline. The promise is that a stalled sink (its ``write`` blocks on an
Event for the whole run) changes nothing for the loop: a full sink queue or
buffer drops and counts, it never waits. With ``overflow="block"`` and
``block_timeout=5.0`` a thread running an event loop must not wait either (a
plain thread would wait up to 5 s per event): the run must take a small
fraction of one block timeout.

Figures from a 2-core x86-64 container (Python 3.11, ``pytest -s``, three runs),
max lag: no logging 0.5 ms; healthy null sink 3.3-4.9 ms; stalled sink
(drop_newest) 3.1-7.4 ms; stalled sink (block, 5 s) 4.9-8.4 ms; the 50k calls
take 0.07-0.15 s. The lag with logging is the GIL switch interval (5 ms): the
batcher and sink threads get their turn, the calls themselves never wait. With
the batcher stalled so the buffer stays full, 2,000 calls from a task take ~6 ms
(dropped, counted) and a plain thread waits its block_timeout (the control).
The bound asserted is 100 ms: generous for a loaded CI machine, yet 50x below
one block timeout.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

import nglogger
from nglogger import Config
from nglogger.sinks import NullSink

TOTAL = 50_000
TASKS = 10
CHUNK = 100  # events logged between two yields to the loop
TICK = 0.001
MAX_LAG = 0.100  # seconds: the asserted bound on the worst tick lateness
BLOCK_TIMEOUT = 5.0
PAD = "x" * 100

LOG = nglogger.get_logger("loop")


class StalledSink:
    """A sink whose ``write`` blocks until released (by the test or by ``close``)."""

    name = "stalled"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()

    def write(self, batch: nglogger.Batch) -> None:
        self.entered.set()
        self.release.wait()

    def close(self) -> None:
        self.release.set()


@dataclass(frozen=True)
class Lag:
    """What the ticker saw while the tasks ran."""

    max_lag: float
    ticks: int
    elapsed: float


def measure(work: Callable[[int], None]) -> Lag:
    """Run the ticker and ``TASKS`` tasks calling ``work(i)`` ``TOTAL`` times in all."""

    async def main() -> Lag:
        stop = asyncio.Event()
        lags: list[float] = []

        async def ticker() -> None:
            while not stop.is_set():
                before = time.perf_counter()
                await asyncio.sleep(TICK)
                lags.append(time.perf_counter() - before - TICK)

        async def task(first: int, count: int) -> None:
            for start in range(first, first + count, CHUNK):
                for i in range(start, start + CHUNK):
                    work(i)
                await asyncio.sleep(0)

        tick = asyncio.create_task(ticker())
        await asyncio.sleep(TICK)  # the ticker is running before the work starts
        started = time.perf_counter()
        share = TOTAL // TASKS
        await asyncio.gather(*(task(k * share, share) for k in range(TASKS)))
        elapsed = time.perf_counter() - started
        stop.set()
        await tick
        return Lag(max(lags), len(lags), elapsed)

    return asyncio.run(main())


def log_event(i: int) -> None:
    LOG.info("event", id=i, pad=PAD)


def no_logging(i: int) -> None:
    """The baseline: build the same fields, log nothing."""
    {"id": i, "pad": PAD}  # the work a call site does before logging


@contextmanager
def pipeline_with(sink: object, **settings: object) -> Iterator[nglogger.Pipeline]:
    """The default pipeline with ``sink`` only; shut down (and a stalled sink released) after."""
    pipeline = nglogger.configure(
        Config(sinks=[sink], flush_interval=0.01, report_interval=0, **settings)
    )
    try:
        yield pipeline
    finally:
        if isinstance(sink, StalledSink):
            sink.release.set()
        pipeline.shutdown(2.0)


def check_accounting(pipeline: nglogger.Pipeline) -> nglogger.Stats:
    stats = pipeline.stats()
    assert stats.submitted == TOTAL
    assert stats.submitted == stats.dispatched + stats.buffered_events + sum(stats.dropped.values())
    for st in stats.sinks.values():
        assert st.accepted == st.exported + sum(st.dropped.values()) + st.queued_events
    return stats


def show(label: str, lag: Lag, stats: nglogger.Stats | None = None) -> None:
    dropped = {} if stats is None else {**stats.dropped}
    if stats is not None:
        for st in stats.sinks.values():
            dropped.update({f"sink:{k}": v for k, v in st.dropped.items()})
    print(
        f"\n[{label}] max lag {lag.max_lag * 1e3:.2f} ms over {lag.ticks} ticks; "
        f"{TOTAL} calls in {lag.elapsed:.3f} s; dropped {dropped}"
    )


# ------------------------------------------------------------------------- tests
def test_baseline_loop_lag_without_logging() -> None:
    """Without logging the ticker's worst lateness is far below the bound (the reference figure)."""
    lag = measure(no_logging)
    show("no logging", lag)
    assert lag.max_lag < MAX_LAG


def test_logging_to_a_healthy_sink_keeps_loop_lag_small() -> None:
    """Logging 50k events to a healthy sink keeps the loop's worst lateness under the bound."""
    with pipeline_with(NullSink()) as pipeline:
        lag = measure(log_event)
        assert pipeline.flush(5.0)
        stats = check_accounting(pipeline)
    show("healthy null sink", lag, stats)
    assert lag.max_lag < MAX_LAG


def test_a_stalled_sink_does_not_block_the_loop() -> None:
    """With a sink stuck in write, 50k log calls (default drop policy) keep the loop's lag under the bound."""
    sink = StalledSink()
    with pipeline_with(sink, batch_max_events=100, sink_queue_max_events=1_000) as pipeline:
        lag = measure(log_event)
        assert sink.entered.wait(5.0)  # the sink really is stuck in write
        stats = check_accounting(pipeline)
        st = stats.sinks[sink.name]
    show("stalled sink, drop_newest", lag, stats)
    assert lag.max_lag < MAX_LAG
    assert st.exported == 0
    # its queue overflowed (and, when the calls outran the batcher, the buffer did: counted)
    lost = st.dropped["sink_queue_full"] + stats.dropped.get("buffer_full", 0)
    assert lost >= TOTAL - 1_000 - 200


def test_block_policy_never_waits_in_a_thread_running_a_loop() -> None:
    """With overflow="block" (5 s) and a stalled sink, 50k log calls from a loop never wait: lag stays small."""
    sink = StalledSink()
    with pipeline_with(
        sink,
        overflow="block",
        block_timeout=BLOCK_TIMEOUT,
        batch_max_events=50,
        sink_queue_max_events=1_000,
        buffer_max_events=200,  # small: bursts between GIL switches fill it
    ) as pipeline:
        lag = measure(log_event)
        stats = check_accounting(pipeline)
    show("stalled sink, block 5 s", lag, stats)
    assert lag.max_lag < MAX_LAG
    assert lag.elapsed < BLOCK_TIMEOUT / 2  # not one call waited out the block timeout
    # the buffer did fill while the loop logged (a burst outruns the batcher between two
    # GIL switches), so the block policy was reached and declined to wait
    assert stats.dropped.get("buffer_full", 0) > 0


class Stall:
    """Stalls a pipeline's batcher by holding its dispatch lock: the buffer fills and stays full."""

    def __init__(self) -> None:
        self._held: threading.Lock | None = None

    def stall(self, pipeline: nglogger.Pipeline) -> None:
        lock = pipeline._dispatch_lock
        assert lock.acquire(timeout=5.0)
        self._held = lock

    def resume(self) -> None:
        lock, self._held = self._held, None
        if lock is not None:
            lock.release()


@pytest.fixture
def batcher() -> Iterator[Stall]:
    """A batcher staller; whatever happens, the batcher is resumed at teardown."""
    stall = Stall()
    yield stall
    stall.resume()


def test_block_policy_drops_at_once_in_a_loop_when_the_buffer_stays_full(
    batcher: Stall,
) -> None:
    """A loop thread logging into a buffer that stays full drops at once; a plain thread waits block_timeout."""
    capacity = 1_000
    extra = 2_000
    with pipeline_with(
        NullSink(),
        overflow="block",
        block_timeout=BLOCK_TIMEOUT,
        batch_max_events=100,
        buffer_max_events=capacity,
    ) as pipeline:
        batcher.stall(pipeline)

        async def fill_then_overflow() -> tuple[float, float]:
            for i in range(capacity):  # fills the buffer exactly
                log_event(i)
            started = time.perf_counter()
            for i in range(capacity, capacity + extra):
                log_event(i)
            in_task = time.perf_counter() - started
            loop = asyncio.get_running_loop()
            done = loop.create_future()

            def from_callback() -> None:  # a plain callback on the loop thread, not a task
                began = time.perf_counter()
                log_event(-1)
                done.set_result(time.perf_counter() - began)

            loop.call_soon(from_callback)
            return in_task, await done

        try:
            in_task, in_callback = asyncio.run(fill_then_overflow())
        finally:
            batcher.resume()
        assert pipeline.flush(5.0)
        stats = pipeline.stats()
    print(
        f"\n[full buffer, block 5 s] {extra} calls from a task took {in_task * 1e3:.2f} ms; "
        f"one from a loop callback {in_callback * 1e6:.0f} us; dropped {dict(stats.dropped)}"
    )
    assert in_task < 0.5  # one wait would be 5 s
    assert in_callback < 0.5
    assert dict(stats.dropped) == {"buffer_full": extra + 1}
    assert stats.sinks["null"].exported == capacity


def test_block_policy_does_wait_in_a_plain_thread(
    batcher: Stall,
) -> None:
    """The control: the same full buffer makes a thread without a loop wait block_timeout, then drop."""
    block = 0.3
    with pipeline_with(
        NullSink(), overflow="block", block_timeout=block, batch_max_events=10, buffer_max_events=10
    ) as pipeline:
        batcher.stall(pipeline)
        for i in range(10):
            log_event(i)
        waited: list[float] = []

        def plain() -> None:
            started = time.perf_counter()
            log_event(10)
            waited.append(time.perf_counter() - started)

        thread = threading.Thread(target=plain)
        try:
            thread.start()
            thread.join(5.0)
            assert not thread.is_alive()
        finally:
            batcher.resume()
        assert pipeline.flush(5.0)
        stats = pipeline.stats()
    assert dict(stats.dropped) == {"buffer_full": 1}
    print(f"\n[full buffer, block {block} s, plain thread] waited {waited[0]:.3f} s")
    assert block * 0.9 <= waited[0] < block + 1.0
