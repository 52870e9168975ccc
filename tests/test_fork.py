"""Specification of fork safety: a working pipeline in the child, no inherited locks, no duplicates."""

from __future__ import annotations

import json
import multiprocessing
import os
import select
import signal
import threading
import time
import traceback
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import nglogger
from nglogger._pipeline import lifecycle
from nglogger._pipeline.buffer import INBOX_EVENTS
from nglogger.sinks import MemorySink
from nglogger.sinks.file import FileSink

pytestmark = [
    pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)"),
    # Python >= 3.12 warns when a multi-threaded process forks; forking one is the point here.
    pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning"),
]

CHILD_TIMEOUT = 10.0  # a child still running after this is deadlocked: it is killed, the test fails


# ---------------------------------------------------------------------------- helpers


class GatedSink:
    """A slow sink: ``write`` waits for ``gate`` before passing the batch on (to ``inner`` if any).

    In a forked child the gate starts open (``after_fork``), so only the parent's exporter is
    held up; ``busy`` is set once a ``write`` is in progress.
    """

    def __init__(self, inner: Any = None, name: str = "gated") -> None:
        self.name = name
        self.inner = inner
        self.gate = threading.Event()
        self.busy = threading.Event()
        self._lock = threading.Lock()
        self.received = 0

    def write(self, batch: nglogger.Batch) -> nglogger.Outcome | None:
        self.busy.set()
        self.gate.wait(30.0)
        with self._lock:
            self.received += batch.count
        return self.inner.write(batch) if self.inner is not None else None

    def after_fork(self) -> None:
        self.gate = threading.Event()
        self.gate.set()
        self.busy = threading.Event()
        self._lock = threading.Lock()
        self.received = 0
        if self.inner is not None:
            self.inner.after_fork()

    def close(self) -> None:
        self.gate.set()
        if self.inner is not None:
            self.inner.close()


@pytest.fixture
def gated() -> Iterator[GatedSink]:
    """A gated sink, opened at teardown so its worker thread ends."""
    sink = GatedSink()
    yield sink
    sink.gate.set()


def fork_child(body: Callable[[], Any]) -> tuple[int, int]:
    """Fork; the child runs ``body`` and reports its JSON result (or traceback) through a pipe.

    The child always leaves with ``os._exit``: it never returns into pytest.
    """
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            try:
                os.close(read_fd)
                report: dict[str, Any] = {"result": body()}
            except BaseException:
                report = {"error": traceback.format_exc()}
            data = json.dumps(report).encode()
            while data:
                data = data[os.write(write_fd, data) :]
        finally:
            os._exit(0)
    os.close(write_fd)
    return pid, read_fd


def join_child(pid: int, read_fd: int, timeout: float = CHILD_TIMEOUT) -> Any:
    """Reap the child within ``timeout`` (killing it on timeout) and return its result."""
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    eof = False
    pause = threading.Event()
    try:
        while True:
            reaped, status = os.waitpid(pid, os.WNOHANG)
            if reaped:
                break
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                pytest.fail(f"forked child did not finish within {timeout} s (deadlock?)")
            if eof:
                pause.wait(min(remaining, 0.002))
                continue
            ready, _, _ = select.select([read_fd], [], [], min(remaining, 0.01))
            if ready:
                chunk = os.read(read_fd, 65536)
                eof = not chunk
                chunks.append(chunk)
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(read_fd)
    assert os.waitstatus_to_exitcode(status) == 0
    report = json.loads(b"".join(chunks))
    if "error" in report:
        pytest.fail("forked child failed:\n" + report["error"])
    return report["result"]


def run_in_child(body: Callable[[], Any], timeout: float = CHILD_TIMEOUT) -> Any:
    return join_child(*fork_child(body), timeout=timeout)


def file_events(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes() if path.exists() else b""
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


def tagged(events: list[dict[str, Any]], message: str) -> list[int]:
    """The ``i`` of the events with ``message``, sorted (duplicates kept)."""
    return sorted(e["i"] for e in events if e["message"] == message)


def invariants_hold(stats: nglogger.Stats) -> bool:
    dropped = sum(stats.dropped.values())
    ok = stats.submitted == stats.dispatched + stats.buffered_events + dropped
    return ok and all(
        s.accepted == s.exported + sum(s.dropped.values()) + s.queued_events
        for s in stats.sinks.values()
    )


# ----------------------------------------------------------------- fork while busy


@pytest.mark.slow
def test_fork_while_exporting_gives_the_child_a_working_pipeline(
    gated: GatedSink, memory_sink: MemorySink
) -> None:
    """Forking while a sink is mid-write, 50 times: each child exports its own events within 1 s."""
    nglogger.configure(sinks=[gated, memory_sink], batch_max_events=50, flush_interval=0.01)
    log = nglogger.get_logger("fork")
    cycles = 50

    for cycle in range(cycles):
        gated.gate.clear()
        gated.busy.clear()
        for i in range(300):
            log.info("parent", cycle=cycle, i=i)
        assert gated.busy.wait(5.0)  # the exporter is blocked inside write()
        for i in range(300, 330):
            log.info("parent", cycle=cycle, i=i)  # sealed, queued or still buffered

        def child(cycle: int = cycle) -> dict[str, Any]:
            for i in range(20):
                log.info("child", cycle=cycle, i=i)
            flushed = nglogger.flush(1.0)
            stats = nglogger.stats()
            return {
                "flushed": flushed,
                "events": [[e["message"], e["cycle"], e["i"]] for e in memory_sink.events()],
                "gated": gated.received,
                "counts": [stats.submitted, stats.dispatched, dict(stats.dropped)],
                "sinks": {n: [s.exported, dict(s.dropped)] for n, s in stats.sinks.items()},
                "invariants": invariants_hold(stats),
                "threads": sorted(t.name for t in threading.enumerate()),
            }

        result = run_in_child(child)

        assert result["flushed"] is True, cycle
        assert [["child", cycle, i] for i in range(20)] == result["events"]
        assert 20 == result["gated"]
        assert [20, 20, {}] == result["counts"]
        assert {"gated": [20, {}], "memory": [20, {}]} == result["sinks"]
        assert result["invariants"] is True
        names = set(result["threads"])
        assert {"nglogger-batcher", "nglogger-sink-gated", "nglogger-sink-memory"} <= names

        gated.gate.set()
        assert nglogger.flush(5.0) is True

    expected = sorted((cycle, i) for cycle in range(cycles) for i in range(330))
    assert expected == sorted((e["cycle"], e["i"]) for e in memory_sink.events())
    assert {"parent"} == {e["message"] for e in memory_sink.events()}
    stats = nglogger.stats()
    assert cycles * 330 == gated.received == stats.sinks["gated"].exported
    assert {} == dict(stats.dropped)
    assert invariants_hold(stats)


# ----------------------------------------------------------------- no duplicates


def test_events_held_by_the_parent_at_fork_are_delivered_once_by_the_parent(
    tmp_path: Path,
) -> None:
    """Events buffered, queued or in flight in the parent at fork never come out of the child."""
    path = tmp_path / "fork.jsonl"
    sink = GatedSink(FileSink(path), name="file")
    try:
        nglogger.configure(sinks=[sink], batch_max_events=50, flush_interval=60.0)
        log = nglogger.get_logger("dup")
        for i in range(200):
            log.info("parent", i=i)  # four sealed batches: one in flight, three queued
        assert sink.busy.wait(5.0)
        for i in range(200, 230):
            log.info("parent", i=i)  # still in the buffer
        before = nglogger.stats()
        assert (30, 200) == (before.buffered_events, before.sinks["file"].queued_events)

        def child() -> list[Any]:
            inherited = nglogger.stats()
            for i in range(10):
                log.info("child", i=i)
            return [inherited.submitted, inherited.buffered_events, nglogger.flush(2.0)]

        assert [0, 0, True] == run_in_child(child)
        assert ([], list(range(10))) == (
            tagged(file_events(path), "parent"),
            tagged(file_events(path), "child"),
        )

        sink.gate.set()
        assert nglogger.flush(5.0) is True
        events = file_events(path)
        assert list(range(230)) == tagged(events, "parent")
        assert list(range(10)) == tagged(events, "child")
        assert 240 == len(events)
    finally:
        sink.gate.set()


def _mp_log(count: int) -> None:
    """Log ``count`` events and return without flushing (the process exit must deliver them)."""
    log = nglogger.get_logger("mp")
    for i in range(count):
        log.info("child", i=i)


def test_multiprocessing_fork_children_deliver_their_events_at_exit(tmp_path: Path) -> None:
    """A multiprocessing 'fork' child logs to the inherited file sink, delivered at its exit, no duplicates."""
    path = tmp_path / "mp.jsonl"
    nglogger.configure(sinks=[f"file://{path}"], flush_interval=60.0, batch_max_events=1000)
    log = nglogger.get_logger("mp")
    for i in range(40):
        log.info("parent", i=i)
    assert nglogger.stats().buffered_events == 40

    process = multiprocessing.get_context("fork").Process(target=_mp_log, args=(25,))
    process.start()
    process.join(CHILD_TIMEOUT)
    if process.is_alive():
        process.kill()
        process.join()
        pytest.fail("multiprocessing child did not finish (deadlock?)")
    assert process.exitcode == 0

    assert ([], list(range(25))) == (
        tagged(file_events(path), "parent"),
        tagged(file_events(path), "child"),
    )
    assert nglogger.flush(5.0) is True
    assert list(range(40)) == tagged(file_events(path), "parent")
    assert list(range(25)) == tagged(file_events(path), "child")


def _pool_task(i: int) -> int:
    nglogger.get_logger("pool").info("task", i=i)
    return i


def test_multiprocessing_fork_pool_workers_deliver_their_events(tmp_path: Path) -> None:
    """Events logged by 'fork' Pool workers reach the file once the pool is closed and joined."""
    path = tmp_path / "pool.jsonl"
    nglogger.configure(sinks=[f"file://{path}"], flush_interval=60.0, batch_max_events=1000)
    nglogger.get_logger("pool").info("parent", i=0)

    pool = multiprocessing.get_context("fork").Pool(2)
    try:
        assert list(range(30)) == pool.map(_pool_task, range(30), chunksize=3)
        pool.close()
        joiner = threading.Thread(target=pool.join, daemon=True)
        joiner.start()
        joiner.join(CHILD_TIMEOUT)
        assert not joiner.is_alive(), "pool workers did not exit (deadlock?)"
    finally:
        pool.terminate()

    assert nglogger.flush(5.0) is True
    events = file_events(path)
    assert list(range(30)) == tagged(events, "task")
    assert [0] == tagged(events, "parent")


# ------------------------------------------------------------ forks that skip the hook


@pytest.mark.parametrize(
    ("trigger", "discarded"),
    [("stats", 8), ("flush", 8), ("seal", INBOX_EVENTS)],
)
def test_a_fork_that_bypassed_the_hook_is_detected_by_pid(
    trigger: str, discarded: int, memory_sink: MemorySink
) -> None:
    """Without the at-fork hook, the PID check rebuilds the pipeline and counts what it discards as fork."""
    nglogger.configure(sinks=[memory_sink], batch_max_events=10, flush_interval=60.0)
    log = nglogger.get_logger("pid")
    for i in range(5):
        log.info("parent", i=i)

    def child() -> dict[str, Any]:
        threads_before = sorted(t.name for t in threading.enumerate())
        for i in range(3):
            log.info("child-early", i=i)
        if trigger == "stats":
            nglogger.stats()
        elif trigger == "flush":
            nglogger.flush(1.0)
        else:
            # the held event that fills the lock-free inbox (the parent's 5 included)
            # moves it into the arena, where the PID is checked
            for i in range(3, INBOX_EVENTS - 5):
                log.info("child-early", i=i)
        for i in range(2):
            log.info("child-late", i=i)
        flushed = nglogger.flush(1.0)
        stats = nglogger.stats()
        return {
            "threads_before": threads_before,
            "threads_after": sorted(t.name for t in threading.enumerate()),
            "flushed": flushed,
            "dropped": dict(stats.dropped),
            "counts": [stats.submitted, stats.dispatched, stats.buffered_events],
            "invariants": invariants_hold(stats),
            "events": [[e["message"], e["i"]] for e in memory_sink.events()],
        }

    with pytest.MonkeyPatch.context() as patch:
        # The at-fork hook rebuilds the pipelines it finds here: hide them, as a fork made
        # by C code that skips PyOS_AfterFork_Child would.
        patch.setattr(lifecycle, "LIVE", weakref.WeakSet())
        pid, read_fd = fork_child(child)
    result = join_child(pid, read_fd)

    assert ["MainThread"] == result["threads_before"]  # really not rebuilt by the hook
    assert {"nglogger-batcher", "nglogger-sink-memory"} <= set(result["threads_after"])
    assert result["flushed"] is True
    assert {"fork": discarded} == result["dropped"]
    assert [discarded + 2, 2, 0] == result["counts"]
    assert result["invariants"] is True
    assert [["child-late", 0], ["child-late", 1]] == result["events"]

    assert nglogger.flush(5.0) is True  # the parent still delivers its own, once
    assert [["parent", i] for i in range(5)] == [
        [e["message"], e["i"]] for e in memory_sink.events()
    ]


def test_a_pipeline_shut_down_before_fork_stays_shut_down_in_the_child(
    memory_sink: MemorySink,
) -> None:
    """A pipeline shut down in the parent is still closed in a forked child and keeps nothing."""
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[memory_sink]))
    assert pipeline.shutdown(2.0) is True

    def child() -> list[Any]:
        pipeline.stats()
        pipeline.emit({"message": "late"})
        pipeline.flush(1.0)
        return [pipeline.closed, dict(pipeline.stats().dropped), memory_sink.received]

    try:
        result = run_in_child(child)
    finally:
        pipeline.shutdown(1.0)
    assert [True, {"after_shutdown": 1}, 0] == result
