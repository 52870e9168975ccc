"""Memory-pressure shedding: over ``memory_limit`` DEBUG, then INFO, is shed, never WARNING.

A real process whose own allocations cross its limit while it logs: RSS samples, DEBUG
then INFO shed, what its queues held dropped (``memory_pressure``, in stats, the loss
report and the exit summary), one line on stderr when shedding starts and one when it
ends, and recovery once the allocations are freed. Then the setting (sizes, ``auto``
from a fake cgroup tree, ``off``, bad values) and the decision on fake samples.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import pytest
from support.proc import run_python
from support.waiting import require

import nglogger
from nglogger import Config, ConfigError, ConfigWarning
from nglogger._config.memory import cgroup_memory_max, parse_memory_limit, resolve_memory_limit
from nglogger._config.report import config_from_env, describe_memory
from nglogger._core.batch import Batch
from nglogger._core.levels import DEBUG, INFO, WARNING
from nglogger._event import logger as _logger
from nglogger._pipeline.memory import (
    ESCALATE_AFTER,
    MemoryGuard,
    RssReader,
    build_guard,
)
from nglogger._pipeline.worker import SinkWorker
from nglogger._spool import feed as _feed
from nglogger.sinks import MemorySink

MiB = 1024 * 1024

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="RSS is read from /proc/self/statm"
)

_CHILD = r"""
import gc, json, os, sys, threading, time
import nglogger
from nglogger.sinks import MemorySink

MiB = 1024 * 1024
PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm", "rb") as f:
        return int(f.read().split()[1]) * PAGE

def wait_until(predicate, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            sys.exit(f"timed out waiting for {what}")
        pause.wait(0.005)

class Gate:
    '''A sink that holds its first write until opened: its queue fills.'''
    name = "gate"
    spooled = False
    def __init__(self):
        self.opened = threading.Event()
    def write(self, batch):
        self.opened.wait(120)
        return None
    def close(self):
        self.opened.set()

gate = Gate()
seen = MemorySink()
base = rss()
limit = base + 48 * MiB
nglogger.configure(
    sinks=[seen, gate], memory_limit=limit, level="debug", flush_interval=0.05,
    sink_queue_max_events=400, batch_max_events=100, loss_report=0.2,
)
log = nglogger.get_logger("app")
triples = []

def state():
    return [log.is_enabled_for("debug"), log.is_enabled_for("info")]

def triple():
    before = state()
    n = len(triples)
    log.debug("d", seq=n)
    log.info("i", seq=n)
    log.warning("w", seq=n)
    triples.append([n, before, state()])

def samples():
    return nglogger.stats().memory.get("samples", 0)

def next_sample():
    now = samples()
    wait_until(lambda: samples() > now, "an RSS sample")

wait_until(lambda: samples() >= 2, "the first samples")
for _ in range(5):
    triple()
for i in range(300):  # the gate's queue: 6 batches, 1 in flight
    log.info("filler", i=i)
    if i % 50 == 49:
        nglogger.flush(0)
wait_until(lambda: sum(e["message"] == "filler" for e in seen.events()) == 300, "fillers")

ballast = []
while state()[0]:  # allocate while logging, until DEBUG is shed
    chunk = bytearray(8 * MiB)
    chunk[::PAGE] = b"\x01" * len(range(0, len(chunk), PAGE))  # touched: resident
    ballast.append(chunk)
    triple()
    next_sample()
    if len(ballast) > 40:
        sys.exit("never shed")
while state()[1]:  # then INFO, while the allocations stay
    triple()
    next_sample()
for _ in range(5):
    triple()
    next_sample()
held = rss()
ballast.clear()
gc.collect()
freed = rss()
wait_until(lambda: state() == [True, True], "recovery")
for _ in range(5):
    triple()
gate.opened.set()
ok = nglogger.flush(30)
stats = nglogger.stats()
print(json.dumps({
    "base": base, "limit": limit, "held": held, "freed": freed, "flushed": ok,
    "memory": dict(stats.memory), "triples": triples,
    "delivered": [[e["level"], e.get("seq")] for e in seen.events() if e["message"] in "diw"],
    "losses": [e["nglogger_dropped"] for e in seen.events()
               if e["message"] == "nglogger loss report"],
    "sinks": {name: {"dropped": dict(s.dropped), "accepted": s.accepted,
                     "exported": s.exported, "queued": s.queued_events}
              for name, s in stats.sinks.items()},
}))
sys.stdout.flush()
nglogger.shutdown(10)
"""


@linux_only
def test_a_process_over_its_limit_sheds_debug_then_info_never_warning_and_recovers(
    tmp_path: Path,
) -> None:
    """Allocations cross the limit while logging: DEBUG, then INFO shed; freed: all back."""
    # Every allocation over 128 KiB is its own mapping, given back to the system when freed
    # (glibc would otherwise raise its threshold after the first free and keep the heap).
    done = run_python(_CHILD, {"MALLOC_MMAP_THRESHOLD_": "131072"}, tmp_path, timeout=180)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    memory = report["memory"]
    limit = report["limit"]

    # RSS samples: about every 100 ms, the peak over the limit, back below 90% of it.
    assert memory["limit_bytes"] == limit
    assert memory["samples"] >= 10
    assert memory["peak_rss_bytes"] > limit
    assert report["held"] > limit > report["freed"]
    assert memory["shed_level"] == 0
    assert memory["episodes"] == 1

    # DEBUG first, then INFO too; a triple logged with one state throughout is judged.
    states = {(True, True): "none", (False, True): "debug", (False, False): "info"}
    delivered = {(level, seq) for level, seq in report["delivered"]}
    phases: list[str] = []
    for seq, before, after in report["triples"]:
        if before != after:
            continue  # the levels changed during this triple
        phase = states[tuple(before)]
        if not phases or phases[-1] != phase:
            phases.append(phase)
        assert ("warning", seq) in delivered  # never shed
        assert (("info", seq) in delivered) == (phase != "info"), (seq, phase)
        assert (("debug", seq) in delivered) == (phase == "none"), (seq, phase)
    assert phases == ["none", "debug", "info", "none"], phases

    # What the gate's queue held beyond a quarter of its limit was dropped, and counted.
    gate = report["sinks"]["gate"]
    dropped = gate["dropped"].get("memory_pressure", 0)
    assert dropped >= 100
    assert gate["accepted"] == gate["exported"] + sum(gate["dropped"].values()) + gate["queued"]
    assert report["sinks"]["memory"]["dropped"] == {}  # a sink keeping up loses nothing
    reported = sum(
        loss["sinks"].get("gate", {}).get("memory_pressure", 0) for loss in report["losses"]
    )
    assert reported == dropped  # the loss report

    # Once on stderr when it starts, once when it ends; the exit summary counts the drops.
    lines = done.stderr.splitlines()
    started = [line for line in lines if "shedding DEBUG" in line]
    ended = [line for line in lines if "shedding ended" in line]
    assert len(started) == 1, done.stderr
    assert len(ended) == 1, done.stderr
    assert "DEBUG and INFO" in ended[0]
    assert any(f"{dropped} memory_pressure" in line for line in lines), done.stderr


# ------------------------------------------------------------------------- the setting
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("512MiB", 512 * MiB),
        ("2GB", 2_000_000_000),
        (" 1GiB ", 1024 * MiB),
        ("1048576", MiB),
        ("auto", "auto"),
        ("AUTO", "auto"),
        ("off", None),
        ("0", None),
        ("none", None),
    ],
)
def test_the_setting_reads_sizes_auto_and_off(text: str, expected: object) -> None:
    """A size (bytes), ``auto`` or ``off``."""
    assert expected == parse_memory_limit(text)


@pytest.mark.parametrize("text", ["lots", "512XB", "-1MiB", "1000", "512KiB"])
def test_a_bad_value_is_refused_with_what_is_wrong(text: str) -> None:
    """Not a size, or below 1 MiB: ValueError."""
    with pytest.raises(ValueError, match=r"not a size|below 1MiB"):
        parse_memory_limit(text)


def test_the_default_is_auto() -> None:
    """Unless configured: ``auto``."""
    assert Config().memory_limit == "auto"


@pytest.mark.parametrize("value", [512 * MiB, "512MiB", "auto", None, "off"])
def test_arguments_take_a_size_auto_or_off(value: object) -> None:
    """configure()'s argument: bytes, a size's text, auto, None or off."""
    assert value == Config(memory_limit=value).memory_limit  # type: ignore[arg-type]


@pytest.mark.parametrize("value", ["lots", 1000, True, 1.5, "512KiB"])
def test_a_bad_argument_is_a_config_error_naming_the_setting(value: object) -> None:
    """A bad argument raises at once, naming ``memory_limit``."""
    with pytest.raises(ConfigError, match="memory_limit"):
        Config(memory_limit=value)  # type: ignore[arg-type]


def test_the_environment_sets_it() -> None:
    """``NGLOGGER_MEMORY_LIMIT=512MiB``."""
    assert config_from_env({"NGLOGGER_MEMORY_LIMIT": "512MiB"}).memory_limit == 512 * MiB
    assert config_from_env({"NGLOGGER_MEMORY_LIMIT": "off"}).memory_limit is None


def test_a_bad_variable_warns_and_keeps_the_default() -> None:
    """A bad ``NGLOGGER_MEMORY_LIMIT``: a ConfigWarning naming it, the default in force."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = config_from_env({"NGLOGGER_MEMORY_LIMIT": "lots"})
    assert config.memory_limit == "auto"
    texts = [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]
    assert len(texts) == 1
    assert "NGLOGGER_MEMORY_LIMIT" in texts[0]
    assert "lots" in texts[0]


def test_a_bad_variable_is_an_error_when_errors_raise() -> None:
    """``NGLOGGER_CONFIG_ERRORS=raise``: the same variable is a ConfigError."""
    with pytest.raises(ConfigError, match="NGLOGGER_MEMORY_LIMIT"):
        config_from_env({"NGLOGGER_MEMORY_LIMIT": "lots", "NGLOGGER_CONFIG_ERRORS": "raise"})


def cgroup_tree(tmp_path: Path, path: str, limits: dict[str, str]) -> tuple[str, str]:
    """A fake ``/proc/self/cgroup`` naming ``path`` and a tree of ``memory.max`` files."""
    proc = tmp_path / "cgroup"
    proc.write_text(f"12:memory:/ignored/v1\n0::{path}\n")
    root = tmp_path / "fs"
    for where, value in limits.items():
        directory = root / where.strip("/")
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "memory.max").write_text(f"{value}\n")
    root.mkdir(exist_ok=True)
    return str(proc), str(root)


def test_auto_is_90_percent_of_the_lowest_memory_max_of_the_cgroup_and_its_ancestors(
    tmp_path: Path,
) -> None:
    """``auto``: 90% of the lowest ``memory.max`` on the way up; where it came from is said."""
    proc, root = cgroup_tree(
        tmp_path,
        "/kubepods/pod1/app",
        {"kubepods": "max", "kubepods/pod1": str(1024 * MiB), "kubepods/pod1/app": "max"},
    )
    resolved = resolve_memory_limit("auto", proc_cgroup=proc, cgroup_root=root)
    assert resolved.limit == int(1024 * MiB * 0.9)
    assert "kubepods/pod1/memory.max" in resolved.source
    assert resolved.source.startswith("auto: 90% of 1073741824")


@pytest.mark.parametrize(
    ("path", "limits"),
    [
        ("/app", {"app": "max"}),  # max: no limit
        ("/app", {}),  # no file
        (None, {"app": "100000000"}),  # cgroup v1 only: no 0:: line
    ],
)
def test_auto_without_a_cgroup_limit_is_off(
    tmp_path: Path, path: str | None, limits: dict[str, str]
) -> None:
    """``max``, no ``memory.max`` or no cgroup v2: off."""
    proc, root = cgroup_tree(tmp_path, path or "/app", limits)
    if path is None:
        Path(proc).write_text("12:memory:/app\n")
    assert cgroup_memory_max(proc, root) is None
    assert resolve_memory_limit("auto", proc_cgroup=proc, cgroup_root=root).limit is None


def test_off_and_explicit_sizes_resolve_as_given() -> None:
    """``off``: no limit; a size: itself."""
    assert resolve_memory_limit(None).limit is None
    assert resolve_memory_limit("off").limit is None
    assert resolve_memory_limit("64MiB").limit == 64 * MiB
    assert resolve_memory_limit(64 * MiB).source == "memory_limit"


def test_nglogger_config_shows_the_limit_in_force_and_where_it_came_from() -> None:
    """``nglogger config``: the resolved limit beside the setting."""
    rows = describe_memory(Config(memory_limit="64MiB"))
    assert rows == {"memory_limit.resolved": (64 * MiB, "memory_limit")}
    assert describe_memory(Config(memory_limit=None)) == {"memory_limit.resolved": ("off", "off")}


def test_an_explicit_limit_where_rss_cannot_be_read_is_a_warning_not_a_failure(
    tmp_path: Path,
) -> None:
    """No RSS to read (not Linux): an explicit limit is a ConfigWarning; auto is quietly off."""
    missing = str(tmp_path / "no-statm")
    with pytest.warns(ConfigWarning, match="memory_limit .* is ignored"):
        assert build_guard("64MiB", statm=missing) is None
    proc, root = cgroup_tree(tmp_path, "/app", {"app": str(512 * MiB)})
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert build_guard("auto", statm=missing, proc_cgroup=proc, cgroup_root=root) is None


@linux_only
def test_rss_is_read_from_statm() -> None:
    """The reader's figure is this process's resident size (pages x page size)."""
    rss = RssReader().read()
    assert rss is not None
    assert 4 * MiB < rss < 64 * 1024 * MiB


# ------------------------------------------------------------------------- the decision
def test_the_steps_on_fake_samples() -> None:
    """Over: DEBUG shed; still over for ESCALATE_AFTER samples: INFO too; under 90%: back."""
    guard = MemoryGuard(100 * MiB, "test")
    assert guard.observe(50 * MiB, 0.0) == (0, 0)
    assert guard.observe(101 * MiB, 0.1) == (0, 1)
    for i in range(ESCALATE_AFTER - 1):
        assert guard.observe(120 * MiB, 0.2 + i / 10) == (1, 1)
    assert guard.observe(120 * MiB, 0.5) == (1, 2)
    assert guard.observe(130 * MiB, 0.6) == (2, 2)  # never beyond INFO
    assert guard.observe(95 * MiB, 0.7) == (2, 2)  # between 90% and the limit: kept
    assert guard.observe(89 * MiB, 0.8) == (2, 0)
    assert guard.observe(95 * MiB, 0.9) == (0, 0)  # below the limit: nothing starts
    assert guard.figures() == {
        "limit_bytes": 100 * MiB,
        "rss_bytes": 95 * MiB,
        "peak_rss_bytes": 130 * MiB,
        "samples": 9,
        "shed_level": 0,
        "episodes": 1,
    }


def test_shedding_raises_every_level_cell_and_the_stdlib_handler_but_never_warning() -> None:
    """A floor raises the cells (DEBUG, INFO) and the stdlib handler; WARNING always passes."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink], memory_limit=None, level="debug")
    native = nglogger.get_logger("shed.native")
    stdlib = logging.getLogger("shed.stdlib")
    handler = nglogger.LoggingHandler()
    stdlib.addHandler(handler)
    stdlib.setLevel(logging.DEBUG)
    stdlib.propagate = False
    try:
        for floor in (INFO, WARNING):
            _logger.shed(7, floor)
            try:
                assert not native.is_enabled_for(DEBUG)
                assert native.is_enabled_for(WARNING)
                late = nglogger.get_logger("shed.made.while.shedding")
                assert not late.is_enabled_for(floor - 10)
                for log in (native, stdlib):
                    log.debug("d")
                    log.info("i")
                    log.warning("w")
            finally:
                _logger.shed(7, 0)
        assert native.is_enabled_for(DEBUG)  # restored
        assert nglogger.flush(5)
    finally:
        stdlib.removeHandler(handler)
        nglogger.shutdown(5)
    got = [(e["logger"], e["level"]) for e in sink.events()]
    assert got == [
        ("shed.native", "info"),
        ("shed.native", "warning"),
        ("shed.stdlib", "info"),
        ("shed.stdlib", "warning"),
        ("shed.native", "warning"),
        ("shed.stdlib", "warning"),
    ]


def test_the_highest_floor_of_several_owners_is_in_force() -> None:
    """Two pipelines shedding: the higher floor holds until both stop."""
    log = nglogger.get_logger("shed.owners")
    _logger.shed(1, INFO)
    _logger.shed(2, WARNING)
    try:
        assert not log.is_enabled_for(INFO)
        _logger.shed(2, 0)
        assert log.is_enabled_for(INFO)
        assert not log.is_enabled_for(DEBUG)
    finally:
        _logger.shed(1, 0)
        _logger.shed(2, 0)
    assert _logger.SHED[0] == 0


class Gate:
    """A sink whose writes wait until it is opened (its queue fills); it keeps what it got."""

    name = "gate"

    def __init__(self, *, spooled: bool) -> None:
        self.spooled = spooled
        self.opened = threading.Event()
        self.lines: list[bytes] = []

    def write(self, batch: Batch) -> None:
        self.opened.wait(60)
        self.lines += batch.data.splitlines()

    def close(self) -> None:
        self.opened.set()


def fill(gate: Gate, tmp_path: Path, **settings: Any) -> SinkWorker:
    """The gate's queue holding 300 events in 6 batches (the first in flight)."""
    pipeline = nglogger.configure(
        sinks=[gate],
        memory_limit=None,
        flush_interval=0.05,
        sink_queue_max_events=400,
        batch_max_events=50,
        **settings,
    )
    worker = pipeline.workers[0]
    if gate.spooled:
        require(lambda: nglogger.stats().sinks["gate"].spool_active)
    log = nglogger.get_logger("fill")
    for i in range(300):
        log.info("e", seq=i)
        if i % 50 == 49:
            nglogger.flush(0)
            require(lambda: bool(worker._in_flight))  # the first batch: the gate holds it
    require(lambda: nglogger.stats().sinks["gate"].queued_events == 300)
    return worker


def test_without_a_spool_a_queue_keeps_a_quarter_and_counts_the_oldest_dropped(
    tmp_path: Path,
) -> None:
    """relieve(): the oldest queued batches beyond 100 of 400 events go, memory_pressure."""
    gate = Gate(spooled=False)
    try:
        worker = fill(gate, tmp_path)
        assert worker.relieve() == 150  # 250 queued (50 in flight): 3 batches of 50 go
        sink = nglogger.stats().sinks["gate"]
        assert sink.dropped == {"memory_pressure": 150}
        assert sink.accepted == sink.exported + 150 + sink.queued_events
        gate.opened.set()
        assert nglogger.flush(10)
    finally:
        gate.opened.set()
        nglogger.shutdown(5)
    seqs = [json.loads(line)["seq"] for line in gate.lines]
    assert seqs == list(range(50)) + list(range(200, 300))  # the oldest queued went


def test_with_a_spool_the_excess_goes_to_disk_and_comes_back_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """relieve() with a spool: nothing dropped; what was spilled is delivered later, in order."""
    monkeypatch.setattr(_feed, "SPOOL_AFTER", 600.0)  # no batch persisted meanwhile
    gate = Gate(spooled=True)
    try:
        worker = fill(gate, tmp_path, spool_dir=str(tmp_path / "spool"))
        assert worker.relieve() == 0
        assert worker._queued_events <= 100  # in memory: a quarter
        require(lambda: nglogger.stats().sinks["gate"].spool_written_events >= 150)
        assert worker._queued_events <= 100  # the refill keeps to the quarter meanwhile
        worker.relieved()
        gate.opened.set()
        assert nglogger.flush(20)
        sink = nglogger.stats().sinks["gate"]
        assert sink.dropped == {}
    finally:
        gate.opened.set()
        nglogger.shutdown(5)
    assert [json.loads(line)["seq"] for line in gate.lines] == list(range(300))
