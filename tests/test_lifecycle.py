"""Specification of the pipeline lifecycle: flush, shutdown, sink failures, recursion, exit, context."""

from __future__ import annotations

import asyncio
import contextlib
import json
import select
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import nglogger
from nglogger._event import target as _target
from nglogger._pipeline import default as _default
from nglogger.sinks import MemorySink

# Slack over a deadline the library promises; generous so a loaded machine does not flake.
FLUSH_SLACK = 1.0
SHUTDOWN_SLACK = 0.5


# ---------------------------------------------------------------------------- helpers


class HangingSink:
    """A sink whose ``write`` blocks until the test releases it (never, within deadlines)."""

    def __init__(self, name: str = "hanging") -> None:
        self.name = name
        self.entered = threading.Event()
        self.release = threading.Event()
        self.closed = threading.Event()

    def write(self, batch: nglogger.Batch) -> None:
        self.entered.set()
        self.release.wait()

    def close(self) -> None:
        self.closed.set()


class RaisingSink:
    """A sink whose ``write`` raises ``make_exc(n)`` on the n-th call."""

    name = "raising"

    def __init__(self, make_exc: Callable[[int], BaseException]) -> None:
        self.make_exc = make_exc
        self.calls = 0

    def write(self, batch: nglogger.Batch) -> None:
        self.calls += 1
        raise self.make_exc(self.calls)

    def close(self) -> None:
        pass


class LoggingSink:
    """A sink whose ``write`` runs ``action`` (which logs through nglogger) once per batch."""

    name = "chatty"

    def __init__(self, action: Callable[[], None]) -> None:
        self.action = action
        self.calls = 0
        self.events = 0

    def write(self, batch: nglogger.Batch) -> None:
        self.calls += 1
        self.events += batch.count
        self.action()

    def close(self) -> None:
        pass


def assert_invariants(stats: nglogger.Stats) -> None:
    """The accounting identities of DESIGN.md invariant 3."""
    dropped = sum(stats.dropped.values())
    assert stats.submitted == stats.dispatched + stats.buffered_events + dropped, stats
    for name, sink in stats.sinks.items():
        assert sink.accepted == sink.exported + sum(sink.dropped.values()) + sink.queued_events, (
            name,
            sink,
        )


def messages(sink: MemorySink) -> list[str]:
    return [event["message"] for event in sink.events()]


@pytest.fixture
def hanging() -> Iterator[HangingSink]:
    """A hanging sink, released at teardown so its daemon worker thread ends."""
    sink = HangingSink()
    yield sink
    sink.release.set()


# ------------------------------------------------------------------------------ flush


def test_flush_delivers_everything_and_returns_true(memory_sink: MemorySink) -> None:
    """flush() returns True once every event logged before it has reached every sink."""
    other = MemorySink(name="other")
    nglogger.configure(sinks=[memory_sink, other], flush_interval=60.0, batch_max_events=1000)
    log = nglogger.get_logger("flush")
    for i in range(2500):
        log.info("event", i=i)

    assert nglogger.flush(5.0) is True

    expected = list(range(2500))
    assert expected == [e["i"] for e in memory_sink.events()]
    assert expected == [e["i"] for e in other.events()]
    stats = nglogger.stats()
    assert stats.buffered_events == 0
    assert stats.dispatched == 2500
    assert {"memory": 2500, "other": 2500} == {n: s.exported for n, s in stats.sinks.items()}
    assert_invariants(stats)


def test_flush_with_a_sink_that_never_returns_gives_up_at_its_timeout(
    hanging: HangingSink, memory_sink: MemorySink
) -> None:
    """flush(timeout) returns False within its timeout when a sink's write() never returns."""
    nglogger.configure(sinks=[hanging, memory_sink], flush_interval=0.05)
    log = nglogger.get_logger("flush")
    log.info("stuck")
    assert hanging.entered.wait(5.0)
    log.info("queued behind the stuck batch")

    start = time.monotonic()
    result = nglogger.flush(0.5)
    elapsed = time.monotonic() - start

    assert result is False
    assert elapsed <= 0.5 + FLUSH_SLACK, elapsed
    assert memory_sink.wait_for(2, 5.0)  # the healthy sink is not held up by the stuck one
    assert ["stuck", "queued behind the stuck batch"] == messages(memory_sink)

    hanging.release.set()  # the sink recovers: a later flush delivers the rest
    assert nglogger.flush(5.0) is True
    assert nglogger.stats().sinks["hanging"].exported == 2


# --------------------------------------------------------------------------- shutdown


@pytest.mark.slow
def test_shutdown_with_a_sink_that_never_returns_meets_its_deadline_and_counts_the_loss(
    hanging: HangingSink, memory_sink: MemorySink
) -> None:
    """shutdown(timeout) abandons a hung sink by the deadline; its events count as shutdown_deadline."""
    pipeline = nglogger.configure(
        sinks=[hanging, memory_sink], batch_max_events=10, flush_interval=0.05
    )
    log = nglogger.get_logger("shutdown")
    for i in range(30):
        log.info("before", i=i)
    assert hanging.entered.wait(5.0)  # one batch in flight, the others queued
    for i in range(25):
        log.info("after", i=i)  # some of these are still in the buffer

    start = time.monotonic()
    result = nglogger.shutdown(1.0)
    elapsed = time.monotonic() - start

    assert result is False
    assert elapsed <= 1.0 + SHUTDOWN_SLACK, elapsed
    assert hanging.closed.is_set()
    stats = pipeline.stats()
    stuck = stats.sinks["hanging"]
    assert (55, 0, {"shutdown_deadline": 55}, 0) == (
        stuck.accepted,
        stuck.exported,
        dict(stuck.dropped),
        stuck.queued_events,
    )
    assert stats.sinks["memory"].exported == 55
    assert memory_sink.received == 55
    assert (55, 55, 0, {}) == (
        stats.submitted,
        stats.dispatched,
        stats.buffered_events,
        dict(stats.dropped),
    )
    assert_invariants(stats)

    hanging.release.set()  # the abandoned write returns late: nothing is counted twice
    assert stats == pipeline.stats()


@pytest.mark.slow
def test_shutdown_deadline_holds_with_several_sinks_whose_close_hangs() -> None:
    """shutdown(timeout) finishes within timeout + 0.5 s however many sinks hang in write and close."""
    release = threading.Event()

    class Stuck:
        def __init__(self, name: str) -> None:
            self.name = name

        def write(self, batch: nglogger.Batch) -> None:
            release.wait()

        def close(self) -> None:
            release.wait()

    pipeline = nglogger.Pipeline(
        nglogger.Config(sinks=[Stuck(f"stuck{i}") for i in range(4)], flush_interval=0.05)
    )
    try:
        pipeline.emit({"message": "m"})
        start = time.monotonic()
        pipeline.shutdown(1.0)
        elapsed = time.monotonic() - start
    finally:
        release.set()
    assert elapsed <= 1.0 + SHUTDOWN_SLACK, elapsed


# ------------------------------------------------------------------------ sink errors


@pytest.mark.parametrize(
    "make_exc",
    [lambda n: RuntimeError(f"boom {n}"), lambda n: SystemExit(f"boom {n}")],
    ids=["RuntimeError", "SystemExit"],
)
def test_a_raising_sink_loses_only_its_own_batches(
    make_exc: Callable[[int], BaseException], memory_sink: MemorySink
) -> None:
    """A sink raising in write() has its events counted sink_error; other sinks and the caller are unaffected."""
    raising = RaisingSink(make_exc)
    nglogger.configure(sinks=[raising, memory_sink], batch_max_events=10, flush_interval=0.05)
    log = nglogger.get_logger("errors")

    results = [log.info("event", i=i) for i in range(35)]  # would propagate if anything raised

    assert [None] * 35 == results
    assert nglogger.flush(5.0) is True
    assert list(range(35)) == [e["i"] for e in memory_sink.events()]
    stats = nglogger.stats()
    bad = stats.sinks["raising"]
    assert (35, 0, {"sink_error": 35}, 0) == (
        bad.accepted,
        bad.exported,
        dict(bad.dropped),
        bad.queued_events,
    )
    assert raising.calls >= 4  # 35 events in batches of at most 10
    assert raising.calls == bad.batches == bad.errors
    assert f"{type(make_exc(0)).__name__}: boom {raising.calls}" == bad.last_error
    assert (35, 0, None) == (
        stats.sinks["memory"].exported,
        stats.sinks["memory"].errors,
        stats.sinks["memory"].last_error,
    )
    assert {} == dict(stats.dropped)
    assert_invariants(stats)


# ------------------------------------------------------------------- after shutdown


def test_events_after_an_explicit_pipeline_shut_down_are_counted_and_never_raise(
    memory_sink: MemorySink,
) -> None:
    """After shutdown, emit() and emit_bytes() count after_shutdown, keep nothing and never raise."""
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[memory_sink]))
    pipeline.emit({"message": "kept"})
    assert pipeline.shutdown(5.0) is True
    assert pipeline.closed

    pipeline.emit({"message": "late"})
    pipeline.emit_bytes(b'{"message":"late bytes"}\n')

    stats = pipeline.stats()
    assert {"after_shutdown": 2} == dict(stats.dropped)
    assert (3, 1, 0) == (stats.submitted, stats.dispatched, stats.buffered_events)
    assert ["kept"] == messages(memory_sink)
    assert_invariants(stats)
    assert pipeline.flush(1.0) is True
    assert pipeline.shutdown(1.0) is True  # idempotent


def test_logging_to_a_configured_pipeline_after_its_own_shutdown_is_counted(
    memory_sink: MemorySink,
) -> None:
    """Logger calls reaching a shut-down default pipeline are counted after_shutdown, not raised."""
    pipeline = nglogger.configure(sinks=[memory_sink])
    log = nglogger.get_logger("late")
    log.info("kept")
    assert pipeline.shutdown(5.0) is True

    log.info("late")
    log.error("late too", exc_info=True)

    assert _target.current is pipeline
    assert {"after_shutdown": 2} == dict(pipeline.stats().dropped)
    assert ["kept"] == messages(memory_sink)


def test_module_shutdown_lets_the_next_log_call_start_a_fresh_default_pipeline(
    memory_sink: MemorySink, capsys: pytest.CaptureFixture[str]
) -> None:
    """After nglogger.shutdown(), the next log call builds a new default pipeline (stdout)."""
    old = nglogger.configure(sinks=[memory_sink])
    log = nglogger.get_logger("fresh")
    log.info("before")
    assert nglogger.shutdown(5.0) is True
    assert old.closed
    assert nglogger.stats() == nglogger.Stats.empty()

    log.info("after")

    new = _target.current
    assert isinstance(new, nglogger.Pipeline)
    assert new is not old
    assert not new.closed
    assert nglogger.flush(5.0) is True
    assert ["before"] == messages(memory_sink)
    assert ["after"] == [
        json.loads(line)["message"] for line in capsys.readouterr().out.splitlines()
    ]
    assert nglogger.stats().sinks["stdout"].exported == 1


# ------------------------------------------------------------------ recursion guard


def _log_plain() -> None:
    nglogger.get_logger("sink").info("from inside write")


def _log_after_bind() -> None:
    nglogger.bind_contextvars(request_id="sink")
    nglogger.get_logger("sink").info("from inside write")


def _log_in_bound() -> None:
    with nglogger.bound_contextvars(request_id="sink"):
        nglogger.get_logger("sink").warning("from inside write")


def _log_after_clear() -> None:
    nglogger.clear_contextvars()
    nglogger.unbind_contextvars("anything")
    nglogger.get_logger("sink").error("from inside write")


def _log_bound_logger() -> None:
    nglogger.get_logger("sink", a=1).bind(b=2).exception("from inside write")


@pytest.mark.parametrize(
    "action",
    [_log_plain, _log_after_bind, _log_in_bound, _log_after_clear, _log_bound_logger],
    ids=["plain", "bind_contextvars", "bound_contextvars", "clear_contextvars", "bound_logger"],
)
def test_a_sink_that_logs_does_not_loop(
    action: Callable[[], None], memory_sink: MemorySink
) -> None:
    """Events a sink logs from write() are dropped and counted as recursion, whatever context it binds."""
    chatty = LoggingSink(action)
    nglogger.configure(sinks=[chatty, memory_sink], batch_max_events=10, flush_interval=0.05)
    log = nglogger.get_logger("app")
    for i in range(25):
        log.info("event", i=i)

    assert nglogger.flush(5.0) is True

    stats = nglogger.stats()
    assert chatty.calls >= 3
    assert chatty.calls == stats.dropped["recursion"]
    assert {"recursion"} == set(stats.dropped)
    assert (25, 0) == (stats.dispatched, stats.buffered_events)  # nothing was fed back
    assert 25 == chatty.events
    assert list(range(25)) == [e["i"] for e in memory_sink.events()]
    assert_invariants(stats)


def test_a_sink_that_logs_from_close_does_not_start_a_new_default_pipeline() -> None:
    """A sink logging from close() during nglogger.shutdown() does not revive the default pipeline."""

    class CloseLogger:
        name = "close-logger"

        def write(self, batch: nglogger.Batch) -> None:
            pass

        def close(self) -> None:
            nglogger.get_logger("sink").info("closing")

    nglogger.configure(sinks=[CloseLogger()])
    assert nglogger.shutdown(5.0) is True
    assert _target.current is _default._LAZY


def test_recursion_in_an_explicit_pipeline_is_counted_there_and_builds_nothing() -> None:
    """A logging sink of an explicit Pipeline counts recursion on that pipeline, not a new default one."""
    chatty = LoggingSink(_log_plain)
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[chatty], flush_interval=0.05))
    try:
        pipeline.emit({"message": "m"})
        assert pipeline.flush(5.0) is True
        built = _target.current is not _default._LAZY
        counted = pipeline.stats().dropped.get("recursion", 0)
    finally:
        pipeline.shutdown(2.0)
    assert (False, 1) == (built, counted)


# ---------------------------------------------------------------- interpreter exit


def _script(*parts: str) -> str:
    """Python source from separately indented parts."""
    return "".join(textwrap.dedent(part).strip() + "\n" for part in parts)


def run_child(
    code: str, *args: str, timeout: float = 30.0
) -> tuple[subprocess.CompletedProcess[str], float]:
    """Run ``python -c code args``; return the result and time.monotonic() at its exit."""
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return result, time.monotonic()


def child_lines(result: subprocess.CompletedProcess[str]) -> list[Any]:
    """The JSON documents the child printed, one per stdout line."""
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def file_lines(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes() if path.exists() else b""
    assert data == b"" or data.endswith(b"\n")
    return [json.loads(line) for line in data.splitlines()]


EXIT_REPORT = """
import atexit, json, sys, time
import nglogger

def report():
    # Registered before the first pipeline, so it runs after nglogger's own exit hooks
    # and after non-daemon threads were joined.
    print(json.dumps(nglogger.stats().as_dict()), flush=True)

atexit.register(report)
"""

HANGING_SINK = """
import threading

entered = threading.Event()

class Hang:
    name = "hang"

    def write(self, batch):
        entered.set()
        threading.Event().wait()

    def close(self):
        pass
"""


def test_exit_flushes_buffered_events_to_a_file(tmp_path: Path) -> None:
    """At normal interpreter exit, every buffered event reaches the file, with no explicit flush."""
    path = tmp_path / "exit.jsonl"
    code = _script(
        """
        import json, sys
        import nglogger

        nglogger.configure(
            sinks=["file://" + sys.argv[1]],
            flush_interval=60.0,
            batch_max_events=20_000,
            batch_max_bytes=8 * 1024 * 1024,
        )
        log = nglogger.get_logger("exit")
        for i in range(10_000):
            log.info("event", i=i)
        stats = nglogger.stats()
        print(json.dumps([stats.buffered_events, stats.sinks["file:" + sys.argv[1]].exported]))
        """
    )
    result, _ = run_child(code, str(path))

    assert [[10_000, 0]] == child_lines(result)  # all buffered, none written, at main's end
    assert list(range(10_000)) == [e["i"] for e in file_lines(path)]


@pytest.mark.slow
def test_exit_with_a_sink_that_never_returns_meets_the_shutdown_timeout() -> None:
    """A process whose sink hangs still exits within shutdown_timeout + 0.5 s of main's end."""
    code = _script(
        EXIT_REPORT,
        HANGING_SINK,
        """
        nglogger.configure(sinks=[Hang()], shutdown_timeout=1.0, flush_interval=0.05)
        log = nglogger.get_logger("exit")
        for i in range(100):
            log.info("event", i=i)
        assert entered.wait(10.0)
        print(json.dumps(time.monotonic()), flush=True)
        """,
    )
    result, exited = run_child(code)

    main_end, stats = child_lines(result)
    assert exited - main_end <= 1.0 + SHUTDOWN_SLACK, exited - main_end
    hang = stats["sinks"]["hang"]
    assert (100, 0, {"shutdown_deadline": 100}, 0) == (
        hang["accepted"],
        hang["exported"],
        hang["dropped"],
        hang["queued_events"],
    )
    assert (100, 100, {}) == (stats["submitted"], stats["dispatched"], stats["dropped"])


@pytest.mark.slow
def test_exit_with_a_hung_sink_and_a_running_non_daemon_thread_meets_the_deadline() -> None:
    """With a hung sink and a non-daemon thread still running at exit, exit stays within the deadline."""
    code = _script(
        EXIT_REPORT,
        HANGING_SINK,
        """
        nglogger.configure(sinks=[Hang()], shutdown_timeout=1.0, flush_interval=0.05)
        log = nglogger.get_logger("exit")
        main_ended = threading.Event()

        def work():
            main_ended.wait(10.0)
            for i in range(50):
                log.info("worker", i=i)
            threading.Event().wait(0.3)  # still busy for a moment after main returned
            log.info("worker done")

        threading.Thread(target=work, name="user-worker", daemon=False).start()
        log.info("main")
        assert entered.wait(10.0)
        print(json.dumps(time.monotonic()), flush=True)
        main_ended.set()
        """,
    )
    result, exited = run_child(code)

    main_end, stats = child_lines(result)
    assert exited - main_end <= 1.0 + SHUTDOWN_SLACK, exited - main_end
    hang = stats["sinks"]["hang"]
    assert 0 == hang["exported"]
    assert hang["accepted"] == hang["dropped"]["shutdown_deadline"]
    assert 52 == stats["submitted"]
    assert stats["submitted"] == stats["dispatched"] + stats["buffered_events"] + sum(
        stats["dropped"].values()
    )


LATE_LOGGERS = {
    "non-daemon thread": """
        def work():
            exiting.wait(10.0)
            for i in range(5):
                log.info("late", i=i)

        threading.Thread(target=work, daemon=False).start()
    """,
    "thread pool": """
        pool = concurrent.futures.ThreadPoolExecutor(1)
        for i in range(5):
            pool.submit(lambda i=i: (exiting.wait(10.0), log.info("late", i=i)))
    """,
}


@pytest.mark.parametrize("late", sorted(LATE_LOGGERS))
def test_exit_delivers_events_logged_by_threads_that_finish_during_exit(
    late: str, tmp_path: Path
) -> None:
    """Events logged by non-daemon threads while the interpreter waits for them are delivered."""
    path = tmp_path / "late.jsonl"
    code = (
        _script(
            """
            import concurrent.futures.thread  # imported before nglogger, as in most applications
            import sys, threading

            exiting = threading.Event()
            # Set by the interpreter's exit sequence once nglogger's threading exit hook (registered
            # later, so run earlier) has run: makes "logged during exit" deterministic.
            threading._register_atexit(exiting.set)

            import nglogger

            nglogger.configure(sinks=["file://" + sys.argv[1]], flush_interval=60.0)
            log = nglogger.get_logger("exit")
            """
        )
        + _script(LATE_LOGGERS[late])
        + 'log.info("main")\n'
    )
    result, _ = run_child(code, str(path))

    assert result.returncode == 0, result.stderr
    assert ["main", "late", "late", "late", "late", "late"] == [
        e["message"] for e in file_lines(path)
    ]


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    """One line of the child's stdout, waiting at most ``timeout`` seconds."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    assert ready, "child did not report in time"
    return proc.stdout.readline()


SIGTERM_CHILD = """
import signal, sys, threading
import nglogger

if sys.argv[2] == "handler":
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
nglogger.configure(
    sinks=["file://" + sys.argv[1]], flush_interval=60.0, batch_max_events=5_000
)
log = nglogger.get_logger("term")
for i in range(1_000):
    log.info("event", i=i)
print("ready", flush=True)
threading.Event().wait(30.0)
"""


@pytest.mark.parametrize(
    ("mode", "returncode", "delivered"),
    [("default", -signal.SIGTERM, 0), ("handler", 0, 1_000)],
    ids=["no-handler-loses-buffer", "handler-calling-sys.exit-flushes"],
)
def test_sigterm(mode: str, returncode: int, delivered: int, tmp_path: Path) -> None:
    """SIGTERM without a handler loses buffered events (no exit hooks run); a handler calling sys.exit flushes them."""
    path = tmp_path / "term.jsonl"
    with subprocess.Popen(
        [sys.executable, "-c", SIGTERM_CHILD, str(path), mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as proc:
        try:
            assert "ready\n" == _read_line(proc, 30.0)
            proc.send_signal(signal.SIGTERM)
            proc.wait(30.0)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
    assert returncode == proc.returncode
    assert delivered == len(file_lines(path))


# --------------------------------------------------------------------- contextvars


@pytest.fixture
def recorded(memory_sink: MemorySink) -> MemorySink:
    nglogger.configure(sinks=[memory_sink], flush_interval=0.05)
    return memory_sink


def test_threads_do_not_see_each_others_binds(recorded: MemorySink) -> None:
    """Context bound in one thread never appears in another thread's events, even interleaved."""
    log = nglogger.get_logger("threads")
    both = threading.Barrier(2, timeout=10.0)
    errors: list[BaseException] = []

    def worker(name: str) -> None:
        try:
            nglogger.bind_contextvars(worker=name)
            both.wait()
            log.info("first", step=1)
            both.wait()
            with nglogger.bound_contextvars(phase=name + "-inner"):
                both.wait()
                log.info("inner", step=2)
            both.wait()
            log.info("last", step=3)
            assert {"worker": name} == nglogger.get_contextvars()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10.0)
    assert [] == errors
    assert nglogger.flush(5.0) is True

    for name in ("a", "b"):
        mine = [e for e in recorded.events() if e.get("worker") == name]
        assert [
            ("first", None),
            ("inner", f"{name}-inner"),
            ("last", None),
        ] == [(e["message"], e.get("phase")) for e in mine]
    assert 6 == recorded.received
    assert {} == nglogger.get_contextvars()


def test_bound_contextvars_restores_on_exit_and_on_error(recorded: MemorySink) -> None:
    """bound_contextvars restores exactly the previous context when its block ends or raises."""
    log = nglogger.get_logger("bound")

    def fail_while_bound() -> None:
        with nglogger.bound_contextvars(extra=2, deeper=True):
            log.info("deeper")
            raise KeyError("boom")

    nglogger.bind_contextvars(user="u1", shared="outer")
    with nglogger.bound_contextvars(shared="inner", extra=1):
        assert {"user": "u1", "shared": "inner", "extra": 1} == nglogger.get_contextvars()
        log.info("inside")
        with pytest.raises(KeyError):
            fail_while_bound()
        assert {"user": "u1", "shared": "inner", "extra": 1} == nglogger.get_contextvars()
    assert {"user": "u1", "shared": "outer"} == nglogger.get_contextvars()
    log.info("outside")
    assert nglogger.flush(5.0) is True

    picked = [
        {k: e.get(k) for k in ("message", "user", "shared", "extra", "deeper")}
        for e in recorded.events()
    ]
    assert [
        {"message": "inside", "user": "u1", "shared": "inner", "extra": 1, "deeper": None},
        {"message": "deeper", "user": "u1", "shared": "inner", "extra": 2, "deeper": True},
        {"message": "outside", "user": "u1", "shared": "outer", "extra": None, "deeper": None},
    ] == picked


def test_asyncio_tasks_do_not_see_each_others_binds(recorded: MemorySink) -> None:
    """Each asyncio task sees the context it inherited plus its own binds, never a sibling's."""
    log = nglogger.get_logger("tasks")
    nglogger.bind_contextvars(app="svc")

    async def main() -> dict[str, Any]:
        go = asyncio.Event()
        ready = 0
        all_ready = asyncio.Event()

        async def handle(n: int) -> dict[str, Any]:
            nonlocal ready
            nglogger.bind_contextvars(request=n)
            ready += 1
            if ready == 5:
                all_ready.set()
            await go.wait()  # every task has bound before any logs
            log.info("start")
            with nglogger.bound_contextvars(step=f"{n}-inner"):
                await asyncio.sleep(0)  # yield to siblings while bound
                log.info("inner")
            await asyncio.sleep(0)
            log.info("end")
            return nglogger.get_contextvars()

        tasks = [asyncio.create_task(handle(n)) for n in range(5)]
        await asyncio.wait_for(all_ready.wait(), 10.0)
        go.set()
        seen = await asyncio.wait_for(asyncio.gather(*tasks), 10.0)
        return {"tasks": seen, "main": nglogger.get_contextvars()}

    result = asyncio.run(main())
    assert nglogger.flush(5.0) is True

    assert [{"app": "svc", "request": n} for n in range(5)] == result["tasks"]
    assert {"app": "svc"} == result["main"]
    assert {"app": "svc"} == nglogger.get_contextvars()
    for n in range(5):
        mine = [e for e in recorded.events() if e.get("request") == n]
        assert [("start", None), ("inner", f"{n}-inner"), ("end", None)] == [
            (e["message"], e.get("step")) for e in mine
        ]
        assert all(e["app"] == "svc" for e in mine)
    assert 15 == recorded.received
