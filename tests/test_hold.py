"""nglogger.hold(): a context's debug logs arrive only if it fails, in order, as they were.

Inside a hold, events below the trigger (ERROR) are kept, DEBUG included while DEBUG is
disabled, and emitted before the first event at the trigger, with their own timestamps
and bytes; a hold that ends without one discards them (``held_discarded``); the buffer is
bounded in bytes (``held_dropped``). Calls outside any hold behave as without holds.
"""

from __future__ import annotations

import asyncio
import contextvars
import http.client
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.waiting import require, wait_for

import nglogger
from nglogger import Config, ConfigError
from nglogger._core.levels import INFO
from nglogger._event import logger as _logger
from nglogger._event.hold import HoldBudget
from nglogger.sinks import MemorySink

TESTS = Path(__file__).parent


@pytest.fixture
def sink() -> Iterator[MemorySink]:
    """The default pipeline at INFO (DEBUG disabled globally), into a MemorySink."""
    memory = MemorySink()
    nglogger.configure(sinks=[memory], level="info", flush_interval=0.05)
    yield memory
    nglogger.shutdown(5)


def delivered(sink: MemorySink) -> list[dict[str, Any]]:
    assert nglogger.flush(5)
    return sink.events()


def messages(sink: MemorySink) -> list[str]:
    return [str(e["message"]) for e in delivered(sink)]


def dropped() -> dict[str, int]:
    return dict(nglogger.stats().dropped)


def test_a_failing_context_sends_its_debug_lines_in_order_with_their_own_timestamps(
    sink: MemorySink,
) -> None:
    """DEBUG (disabled), INFO, WARNING held; the ERROR sends them first, as logged, when logged."""
    log = nglogger.get_logger("app")
    stamps = []
    with nglogger.hold():
        for message in ("debug 1", "info 2", "warning 3"):
            before = time.time_ns()
            getattr(log, message.split()[0])(message, n=1)
            stamps.append((before, time.time_ns()))
        assert messages(sink) == []  # held, not in the pipeline yet
        log.error("error 4")
        log.debug("debug 5 after the error")  # the context failed: its lines pass
    events = delivered(sink)
    assert [e["message"] for e in events] == [
        "debug 1",
        "info 2",
        "warning 3",
        "error 4",
        "debug 5 after the error",
    ]
    for event, (before, after) in zip(events, stamps, strict=False):
        at = _ns(str(event["timestamp"]))
        assert before // 1000 <= at // 1000 <= after // 1000  # taken by the call, not the release
    assert [e["level"] for e in events] == ["debug", "info", "warning", "error", "debug"]
    assert dropped() == {}


def test_a_context_that_does_not_fail_discards_what_it_held_and_counts_it(
    sink: MemorySink,
) -> None:
    log = nglogger.get_logger("app")
    with nglogger.hold() as held:
        for i in range(10):
            log.debug("step", i=i)
        log.warning("slow")
        assert held.held == 11
    assert messages(sink) == []
    assert dropped() == {"held_discarded": 11}
    stats = nglogger.stats()
    assert stats.submitted == stats.accepted + sum(stats.dropped.values())


def test_a_stop_with_a_hold_open_counts_what_it_held() -> None:
    """A pipeline stopped under an open hold (a request in flight at exit): counted, not lost."""
    memory = MemorySink()
    pipeline = nglogger.configure(sinks=[memory], level="info", flush_interval=0.05)
    log = nglogger.get_logger("app")
    with nglogger.hold():
        for i in range(3):
            log.debug("in flight", i=i)
        nglogger.shutdown(5)
        assert pipeline.stats().dropped.get("held_discarded") == 3
    assert pipeline.stats().dropped.get("held_discarded") == 3  # the end added nothing
    assert [e for e in memory.events() if e.get("message") == "in flight"] == []


def test_calls_outside_any_hold_are_unaffected_while_one_is_open(sink: MemorySink) -> None:
    """A hold open on another thread: here DEBUG is still dropped (uncounted), INFO passes at once."""
    log = nglogger.get_logger("app")
    entered, leave = threading.Event(), threading.Event()

    def request() -> None:
        with nglogger.hold():
            log.debug("held elsewhere")
            entered.set()
            leave.wait(10)

    other = threading.Thread(target=request)
    other.start()
    try:
        assert entered.wait(10)
        assert log.is_enabled_for("info")
        assert not log.is_enabled_for("debug")
        log.debug("disabled here")
        log.info("enabled here")
        assert messages(sink) == ["enabled here"]  # before the hold ends
        assert dropped() == {}  # a disabled call is not a loss
    finally:
        leave.set()
        other.join(10)
    assert messages(sink) == ["enabled here"]
    assert dropped() == {"held_discarded": 1}


def test_is_enabled_for_says_what_a_hold_keeps(sink: MemorySink) -> None:
    log = nglogger.get_logger("app")
    assert not log.is_enabled_for("debug")
    with nglogger.hold():
        assert log.is_enabled_for("debug")
    with nglogger.hold(level="info"):
        assert not log.is_enabled_for("debug")
        assert log.is_enabled_for("info")


def test_the_buffer_keeps_the_newest_events_within_its_bytes(sink: MemorySink) -> None:
    """100 events of ~150 B in a 2 KiB hold: the newest that fit arrive, the rest counted."""
    log = nglogger.get_logger("app")
    with nglogger.hold(max_bytes=2048) as held:
        for i in range(100):
            log.debug("step", i=i, pad="x" * 60)
        assert held.held_bytes <= 2048
        kept = held.held
        log.error("failed")
    events = delivered(sink)
    steps = [e["i"] for e in events if e["message"] == "step"]
    assert steps == list(range(100 - kept, 100))
    assert sum(len(line) for line in sink.lines()[:kept]) <= 2048
    assert dropped() == {"held_dropped": 100 - kept}
    assert nglogger.get_pipeline()._holds.budget.used == 0
    assert 10 <= kept < 20


def test_the_holds_of_a_pipeline_keep_at_most_hold_total_bytes_together() -> None:
    """Two requests held at once under a 4 KiB total: each gives up its own oldest events."""
    memory = MemorySink()
    nglogger.configure(sinks=[memory], level="info", hold_total_bytes=4096)
    log = nglogger.get_logger("app")
    budget = nglogger.get_pipeline()._holds.budget
    first, second = contextvars.Context(), contextvars.Context()
    hold_a, hold_b = nglogger.hold(), nglogger.hold()
    held_a, held_b = first.run(hold_a.__enter__), second.run(hold_b.__enter__)
    for i in range(40):
        first.run(log.debug, "a", i=i, pad="x" * 60)
        second.run(log.debug, "b", i=i, pad="x" * 60)
        assert held_a.held_bytes + held_b.held_bytes <= budget.used <= 4096
    assert held_a.held + held_b.held < 40  # the total, not each hold's 256 KiB, bounded them
    first.run(log.error, "a failed")
    first.run(hold_a.__exit__, None, None, None)
    second.run(hold_b.__exit__, None, None, None)
    assert budget.used == 0
    assert nglogger.flush(5)
    sent = [e["i"] for e in memory.events() if e["message"] == "a"]
    assert sent == list(range(40 - len(sent), 40))  # the newest of its own, in order
    dropped = nglogger.stats().dropped
    assert len(sent) + dropped["held_dropped"] + dropped["held_discarded"] == 80


def test_the_budget_gives_chunks_only_while_half_of_it_is_free() -> None:
    """A hold takes 16 KiB at a time below half the total, then only what it needs."""
    budget = HoldBudget(100)
    assert [budget.take(10, 40), budget.take(10, 40), budget.take(60), budget.take(50)] == [
        40,
        10,
        0,
        50,
    ]
    assert budget.used == 100
    budget.give(100)
    assert (budget.used, budget.take(101, 40)) == (0, 0)


def test_the_held_bytes_are_the_bytes_the_event_would_have_been(tmp_path: Path) -> None:
    """Under an output schema, with context and a nested field: byte for byte the same line."""
    memory = MemorySink()
    nglogger.configure(sinks=[memory], level="debug", schema="ecs", context={"svc": "api"})
    log = nglogger.get_logger("app").bind(user="bob")
    with nglogger.bound_contextvars(request_id="r-1"):
        log.info("same", payload={"a": [1, 2]}, n=3)
        with nglogger.hold():
            log.info("same", payload={"a": [1, 2]}, n=3)
            log.error("trigger")
    assert nglogger.flush(5)
    lines = memory.lines()
    assert len(lines) == 3

    def untimed(line: bytes) -> dict[str, Any]:
        event = orjson.loads(line)
        event.pop("@timestamp")
        return event

    assert untimed(lines[0]) == untimed(lines[1])
    assert lines[0].index(b'"log.level"') == lines[1].index(b'"log.level"')
    assert len(lines[0]) == len(lines[1])


def test_asyncio_tasks_share_the_hold_of_the_task_that_created_them(sink: MemorySink) -> None:
    """50 concurrent requests, each in its own hold, with child tasks: only failures' lines."""
    log = nglogger.get_logger("app")

    async def request(n: int) -> None:
        with nglogger.hold():
            log.debug("start", n=n)

            async def child() -> None:
                await asyncio.sleep(0)
                log.debug("child", n=n)

            await asyncio.gather(child(), child())
            await asyncio.to_thread(log.debug, "thread", n=n)
            await asyncio.sleep(0)
            if n % 5 == 0:
                log.error("failed", n=n)

    async def main() -> None:
        await asyncio.gather(*(request(n) for n in range(50)))

    asyncio.run(main())
    events = delivered(sink)
    failing = {n for n in range(50) if n % 5 == 0}
    assert {e["n"] for e in events} == failing
    for n in failing:
        mine = [e["message"] for e in events if e["n"] == n]
        assert mine == ["start", "child", "child", "thread", "failed"], mine
    assert dropped() == {"held_discarded": 40 * 4}
    assert nglogger.get_pipeline()._holds.budget.used == 0


def test_threads_see_a_hold_through_a_copied_context_only(sink: MemorySink) -> None:
    """copy_context().run and to_thread carry a hold; a plain Thread starts outside it."""
    log = nglogger.get_logger("app")
    with nglogger.hold():
        context = contextvars.copy_context()
        carried = threading.Thread(target=context.run, args=(log.debug, "carried"))
        plain = threading.Thread(target=log.debug, args=("plain: disabled",))
        plain_info = threading.Thread(target=log.info, args=("plain: at once",))
        for thread in (carried, plain, plain_info):
            thread.start()
            thread.join(10)
        assert messages(sink) == ["plain: at once"]
        log.error("failed")
    assert messages(sink) == ["plain: at once", "carried", "failed"]


def test_holds_on_many_threads_at_once_keep_their_own_events(sink: MemorySink) -> None:
    log = nglogger.get_logger("app")
    barrier = threading.Barrier(8)

    def request(n: int) -> None:
        with nglogger.hold():
            barrier.wait(10)
            for i in range(200):
                log.debug("step", n=n, i=i)
            if n % 2:
                log.error("failed", n=n)

    threads = [threading.Thread(target=request, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    events = delivered(sink)
    assert {e["n"] for e in events} == {1, 3, 5, 7}
    for n in (1, 3, 5, 7):
        assert [e.get("i") for e in events if e["n"] == n] == [*range(200), None]
    assert dropped() == {"held_discarded": 4 * 200}
    assert nglogger.get_pipeline()._holds.budget.used == 0  # every byte given back


def test_nested_holds_hand_their_events_to_the_outer_one(sink: MemorySink) -> None:
    """An inner hold that ends quietly gives its lines to the outer; the outer's ERROR sends all."""
    log = nglogger.get_logger("app")
    with nglogger.hold():
        log.debug("outer 1")
        with nglogger.hold():
            log.debug("inner 2")
        log.debug("outer 3")
        assert messages(sink) == []
        log.error("outer 4")
    assert messages(sink) == ["outer 1", "inner 2", "outer 3", "outer 4"]
    with nglogger.hold():
        log.debug("outer 5")
        with nglogger.hold():
            log.debug("inner 6")
        log.info("outer 7")
    assert dropped() == {"held_discarded": 3}


def test_an_error_in_a_nested_hold_sends_both(sink: MemorySink) -> None:
    log = nglogger.get_logger("app")
    with nglogger.hold():
        log.debug("outer 1")
        with nglogger.hold():
            log.debug("inner 2")
            log.error("inner 3")
        log.debug("outer 4")
    assert messages(sink) == ["outer 1", "inner 2", "inner 3", "outer 4"]


def test_an_exception_leaving_a_hold_sends_what_it_held(sink: MemorySink) -> None:
    """An Exception is a failure; a BaseException such as a cancellation is not."""
    log = nglogger.get_logger("app")

    class Cancelled(BaseException):
        pass

    def crash(message: str, exc: BaseException) -> None:
        with nglogger.hold():
            log.debug(message)
            raise exc

    with pytest.raises(ZeroDivisionError):
        crash("before the crash", ZeroDivisionError())
    assert messages(sink) == ["before the crash"]
    with pytest.raises(Cancelled):
        crash("cancelled", Cancelled())
    assert messages(sink) == ["before the crash"]
    assert dropped() == {"held_discarded": 1}
    with nglogger.hold():
        log.debug("caught inside")
        try:
            _ = 1 / 0
        except ZeroDivisionError:
            pass  # handled: not a failure
    with nglogger.hold() as held:
        log.debug("released by hand")
        held.release()
        log.debug("after the release")
    assert messages(sink) == ["before the crash", "released by hand", "after the release"]


def test_decorated_functions_and_coroutines_are_held_per_call(sink: MemorySink) -> None:
    log = nglogger.get_logger("app")

    @nglogger.hold
    def job(n: int) -> int:
        log.debug("job", n=n)
        if n == 2:
            log.error("job failed", n=n)
        return n

    @nglogger.hold(trigger="warning")
    async def task(n: int) -> int:
        log.debug("task", n=n)
        if n == 3:
            log.warning("task warned", n=n)
        return n

    assert [job(n) for n in range(4)] == [0, 1, 2, 3]
    assert asyncio.run(_gather(task, 4)) == [0, 1, 2, 3]
    assert job.__name__ == "job"
    assert [(e["message"], e["n"]) for e in delivered(sink)] == [
        ("job", 2),
        ("job failed", 2),
        ("task", 3),
        ("task warned", 3),
    ]


async def _gather(task: Any, n: int) -> list[int]:
    return list(await asyncio.gather(*(task(i) for i in range(n))))


def test_stdlib_records_are_held_the_same_way(sink: MemorySink) -> None:
    """Records through nglogger's handler: held in a hold; outside, leveled by logging as before."""
    lib = logging.getLogger("hold.stdlib")
    handler = nglogger.LoggingHandler()
    lib.addHandler(handler)
    lib.setLevel(logging.DEBUG)
    lib.propagate = False
    try:
        with nglogger.hold():
            lib.debug("stdlib %s", "held")
        with nglogger.hold():
            lib.debug("stdlib %s", "sent")
            lib.error("stdlib failed")
        lib.debug("stdlib outside")  # logging's level decides, as without holds
    finally:
        lib.removeHandler(handler)
    assert messages(sink) == ["stdlib sent", "stdlib failed", "stdlib outside"]
    assert dropped() == {"held_discarded": 1}


def test_the_servers_own_lines_are_never_held(sink: MemorySink) -> None:
    """An access line logged inside a request's hold (uvicorn does) goes out at once."""
    access = logging.getLogger("uvicorn.access")
    handler = nglogger.LoggingHandler()
    access.addHandler(handler)
    access.propagate = False
    access.setLevel(logging.INFO)
    try:
        with nglogger.hold():
            nglogger.get_logger("app").debug("held")
            access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5", "GET", "/x", "1.1", 200)
            assert [e["logger"] for e in delivered(sink)] == ["uvicorn.access"]
    finally:
        access.removeHandler(handler)
        access.propagate = True
    assert dropped() == {"held_discarded": 1}


def test_the_storm_guard_still_applies_inside_a_hold() -> None:
    memory = MemorySink()
    nglogger.configure(sinks=[memory], level="info", storm_limit="5/s")
    log = nglogger.get_logger("app")
    with nglogger.hold():
        for i in range(50):
            log.debug("retry", i=i)
        log.error("gave up")
    assert nglogger.flush(5)
    kept = [e for e in memory.events() if e["message"] == "retry"]
    assert 5 <= len(kept) <= 10
    assert nglogger.stats().dropped["storm_suppressed"] == 50 - len(kept)


def test_shedding_wins_over_a_hold(sink: MemorySink) -> None:
    """Under memory pressure DEBUG is shed: a hold does not capture it."""
    shed = getattr(_logger, "shed", None)
    if shed is None:
        pytest.skip("memory-pressure shedding is not in this tree")
    log = nglogger.get_logger("app")
    with nglogger.hold():
        shed(1, INFO)
        try:
            log.debug("shed")
            log.info("kept")
        finally:
            shed(1, 0)
        log.error("failed")
    assert messages(sink) == ["kept", "failed"]


def test_hold_mode_ends_a_few_ticks_after_the_last_hold(sink: MemorySink) -> None:
    pipeline = nglogger.get_pipeline()
    direct = pipeline.direct
    assert pipeline.storm is None
    assert direct is not None
    with nglogger.hold():
        assert pipeline.storm is not None
        assert pipeline.direct is None
        assert pipeline.hold_floor == nglogger.DEBUG
    require(lambda: pipeline.storm is None, timeout=10)
    assert pipeline.direct is direct
    assert pipeline.hold_floor is None
    log = nglogger.get_logger("app")
    log.debug("disabled again")
    log.info("logged")
    assert messages(sink) == ["logged"]


def test_settings_and_their_errors() -> None:
    config = Config()
    assert (config.hold_bytes, config.hold_trigger, config.hold_level) == (256 * 1024, 40, 10)
    env = Config.from_env(
        {
            "NGLOGGER_HOLD_BYTES": "1MiB",
            "NGLOGGER_HOLD_TRIGGER": "warning",
            "NGLOGGER_HOLD_LEVEL": "info",
        }
    )
    assert (env.hold_bytes, env.hold_trigger, env.hold_level) == (1 << 20, 30, 20)
    with pytest.raises(ConfigError, match="hold_bytes"):
        Config(hold_bytes=100)
    with pytest.raises(ConfigError, match="hold_total_bytes"):
        Config(hold_total_bytes=100)
    assert Config.from_env({"NGLOGGER_HOLD_TOTAL_BYTES": "8MiB"}).hold_total_bytes == 8 << 20
    with pytest.raises(ConfigError, match="hold_trigger"):
        Config(hold_trigger="loud")
    with pytest.raises(ConfigError, match="hold_level"):
        Config(hold_level="error")  # not below the trigger
    with pytest.raises(ConfigError, match="NGLOGGER_HOLD_BYTES"):
        Config.from_env({"NGLOGGER_HOLD_BYTES": "lots", "NGLOGGER_CONFIG_ERRORS": "raise"})
    with pytest.raises(ConfigError, match="trigger"):
        nglogger.hold(trigger="loud")
    with pytest.raises(ConfigError, match="max_bytes"):
        nglogger.hold(max_bytes=10)
    with pytest.raises(ConfigError, match="level"):
        nglogger.hold(trigger="info", level="warning")


def test_configured_defaults_apply(tmp_path: Path) -> None:
    memory = MemorySink()
    nglogger.configure(sinks=[memory], level="info", hold_trigger="warning", hold_level="info")
    log = nglogger.get_logger("app")
    with nglogger.hold():
        log.debug("below the hold's level: disabled")
        log.info("held")
        log.warning("the trigger")
    assert nglogger.flush(5)
    assert [e["message"] for e in memory.events()] == ["held", "the trigger"]


FORKED = """
import os, sys, threading, nglogger
from nglogger.sinks import FileSink
nglogger.configure(sinks=[FileSink(sys.argv[1])], level="info", flush_interval=0.05)
log = nglogger.get_logger("app")
entered, leave = threading.Event(), threading.Event()
def request():
    with nglogger.hold():
        entered.set()
        leave.wait(30)
threading.Thread(target=request, daemon=True).start()  # hold mode on at the fork
entered.wait(30)
pid = os.fork()
who = "child" if pid == 0 else "parent"
log.debug("outside, disabled", who=who)
with nglogger.hold():
    log.debug("held", who=who)
    log.error("failed", who=who)
with nglogger.hold():
    log.debug("discarded", who=who)
nglogger.flush(10)
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
leave.set()
"""


@pytest.mark.timeout(120)
def test_a_forked_child_keeps_hold_mode(tmp_path: Path) -> None:
    """Forked while a hold is open: the child's holds work, its disabled calls stay disabled."""
    out = tmp_path / "events.jsonl"
    done = subprocess.run(
        [sys.executable, "-c", FORKED, str(out)],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
        env={k: v for k, v in os.environ.items() if not k.startswith("NGLOGGER_")},
    )
    assert done.returncode == 0, done.stderr
    events = _events(out)
    for who in ("parent", "child"):
        assert [e["message"] for e in events if e["who"] == who] == ["held", "failed"], events


# -- real servers --------------------------------------------------------------------

KINDS = ("ok", "status", "error", "raise")
FAILING = ("status", "error", "raise")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(port: int, path: str, deadline: float) -> tuple[int, bytes]:
    """GET ``path`` once the server answers (connection refusals retried until ``deadline``)."""
    pause = threading.Event()
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                return response.status, response.read()
            finally:
                connection.close()
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            pause.wait(0.05)


def _events(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    return [orjson.loads(line) for line in out.read_bytes().splitlines() if line.endswith(b"}")]


def _environment(out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_"))}
    env["NGLOGGER_SINKS"] = f"file://{out}"
    env["NGLOGGER_LEVEL"] = "info"
    env["NGLOGGER_FLUSH_INTERVAL"] = "50ms"
    env["PYTHONPATH"] = os.pathsep.join([str(TESTS), env.get("PYTHONPATH", "")])
    return env


def _drive(port: int, out: Path, requests: int, steps: set[int]) -> None:
    """Concurrent requests of every kind; only the failing ones' lines arrive, all of them."""
    deadline = time.monotonic() + 60
    assert _get(port, "/stats", deadline)[0] == 200  # up
    paths = [f"/{KINDS[n % len(KINDS)]}/r{n}" for n in range(requests)]
    answers: dict[str, int] = {}

    def client(chunk: list[str]) -> None:
        for path in chunk:
            answers[path] = _get(port, path, deadline)[0]

    clients = [threading.Thread(target=client, args=(paths[i::8],)) for i in range(8)]
    for thread in clients:
        thread.start()
    for thread in clients:
        thread.join(60)
    assert len(answers) == requests
    assert all(answers[p] == (200 if p.startswith(("/ok", "/error")) else 500) for p in paths)
    served = lambda: {e["rid"] for e in _events(out) if e["message"] == "served"}  # noqa: E731
    require(lambda: len(served()) == requests, timeout=30)
    events = _events(out)
    by_rid: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        rid = event.get("rid")
        if isinstance(rid, str) and event["message"] != "served":
            by_rid.setdefault(rid, []).append(event)
        elif event["logger"] == "app.lib":
            rid = str(event["message"]).rsplit(" ", 1)[-1]
            by_rid.setdefault(rid, []).append(event)
    failed = {p.rsplit("/", 1)[-1] for p in paths if p.startswith(("/status", "/error", "/raise"))}
    assert set(by_rid) == failed
    for rid, lines in by_rid.items():
        kind = KINDS[int(rid[1:]) % len(KINDS)]
        expected = steps if kind != "raise" else steps - {6}  # WSGI: raised before the body
        assert {e.get("step") for e in lines if e["logger"] == "app"} >= expected, (rid, lines)
        assert any(e["level"] == "debug" and e["logger"] == "app.lib" for e in lines)
        stamps = [e["timestamp"] for e in lines if e["logger"] == "app"]
        assert stamps == sorted(stamps), lines  # in order, their own times
    _, body = _get(port, "/stats", deadline)
    discarded = orjson.loads(body)["held_discarded"]
    per_request = len(steps) + 1  # its debug and info lines and the stdlib record
    assert discarded == (requests - len(failed)) * per_request


@pytest.mark.timeout(120)
def test_uvicorn_sends_only_the_failing_requests_debug_lines(tmp_path: Path) -> None:
    """``uvicorn support.hold_app:asgi``: 80 concurrent requests, a quarter succeed."""
    pytest.importorskip("uvicorn")
    out = tmp_path / "events.jsonl"
    port = _free_port()
    uvicorn = Path(sys.executable).with_name("uvicorn")
    command = [str(uvicorn)] if uvicorn.exists() else [sys.executable, "-m", "uvicorn"]
    server = subprocess.Popen(
        [
            *command,
            "support.hold_app:asgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "info",
        ],
        env=_environment(out),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _drive(port, out, 80, {1, 2, 3, 4})
        # uvicorn logs each access line inside the request (in its send()): never held
        access = [e for e in _events(out) if e["logger"] == "uvicorn.access"]
        paths = [str(e.get("path")) for e in access if str(e.get("path")).startswith("/")]
        assert sorted(p for p in paths if p != "/stats") == sorted(
            f"/{KINDS[n % len(KINDS)]}/r{n}" for n in range(80)
        )
    finally:
        _stop(server)


@pytest.mark.timeout(120)
def test_gunicorn_threads_send_only_the_failing_requests_debug_lines(tmp_path: Path) -> None:
    """``gunicorn --threads 8 support.hold_app:wsgi``: the hold spans the response's iteration."""
    pytest.importorskip("gunicorn")
    out = tmp_path / "events.jsonl"
    config = tmp_path / "gunicorn.conf.py"
    config.write_text("control_socket_disable = True\n")
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(config),
            "--worker-class",
            "gthread",
            "--workers",
            "1",
            "--threads",
            "8",
            "--bind",
            f"127.0.0.1:{port}",
            "support.hold_app:wsgi",
        ],
        env=_environment(out),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _drive(port, out, 80, {1, 4, 6})
    finally:
        _stop(server)


def _stop(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.communicate(timeout=10)


def _ns(stamp: str) -> int:
    """``2026-12-08T00:35:01.532499Z`` -> ns since the epoch."""
    from datetime import datetime

    seconds = datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()
    return round(seconds * 1_000_000) * 1000


assert wait_for  # the module's one poll loop (used through require)
