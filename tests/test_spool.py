"""The durable spool: whole batches on disk, checksummed, bounded, replayed exactly once.

Real files in ``tmp_path``, real worker threads, real subprocesses and fork. Waits are
on predicates (a worker's counters), never fixed sleeps.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.http import LoopbackServer, Request
from support.waiting import require as wait_until
from test_fork import fork_child, join_child

import nglogger
from nglogger import Config, ConfigError
from nglogger._core import notice as _notice
from nglogger._core.batch import Batch
from nglogger._core.sink import Outcome
from nglogger._pipeline.pipeline import Pipeline
from nglogger._pipeline.worker import SinkWorker
from nglogger._spool import slots as _slots
from nglogger._spool.records import HEADER, Corrupt
from nglogger._spool.slots import spool_path
from nglogger._spool.store import Spool
from nglogger.sinks import MemorySink


def batch_of(first: int, n: int) -> Batch:
    return Batch.from_events([orjson.dumps({"i": i}) for i in range(first, first + n)])


def one(i: int) -> Batch:
    """A one-event batch of a fixed size (100 bytes) whatever ``i``."""
    return Batch.from_events([orjson.dumps({"i": i, "p": "x" * (87 - len(str(i)))})])


def ids(sink: MemorySink) -> list[int]:
    return [event["i"] for event in sink.events()]


def balanced(stats: Any) -> bool:
    """The per-sink invariant with a spool: accepted + replayed == exported + dropped + queued."""
    return bool(
        stats.accepted + stats.replayed
        == stats.exported + sum(stats.dropped.values()) + stats.queued_events
    )


class DownSink:
    """A sink whose backend is down: never ready, hands every batch back."""

    def __init__(self, name: str = "down") -> None:
        self.name = name
        self.writes = 0

    def write(self, batch: Batch) -> Outcome:
        self.writes += 1
        return Outcome(0, {}, batch)

    def ready_in(self) -> float:
        return 3600.0

    def close(self) -> None:
        pass


@pytest.fixture(autouse=True)
def _fresh_notices(monkeypatch: pytest.MonkeyPatch) -> None:
    """Warnings are rate-limited per process: give each test its own bucket."""
    monkeypatch.setattr(_notice, "_limiter", _notice.NoticeLimiter())


# --------------------------------------------------------------------------- format


def test_records_are_replayed_oldest_first_and_acknowledged_ones_never_again(
    tmp_path: Path,
) -> None:
    """What was acknowledged before a restart is not read again; the rest is, in order."""
    spool = Spool(str(tmp_path), max_bytes=1 << 20, segment_bytes=300)
    spool.open()
    for k in range(10):
        assert spool.append(batch_of(k * 3, 3).data, 3, loaded=False) is not None
    assert len(list(tmp_path.glob("*.seg"))) > 1  # several segments
    read = []
    for _ in range(4):
        record = spool.read()
        assert record is not None
        assert not isinstance(record, Corrupt)
        read.append(record)
    spool.ack([read[0][0], read[2][0]])  # out of order: the 2nd stays unacknowledged
    spool.close()

    again = Spool(str(tmp_path), max_bytes=1 << 20, segment_bytes=300)
    again.open()
    assert again.replayable_events == 30 - 6
    replayed = []
    while (record := again.read()) is not None:
        assert not isinstance(record, Corrupt)
        replayed.extend(orjson.loads(e)["i"] for e in Batch(record[1], record[2]).events())
        again.ack([record[0]])
    assert replayed == [3, 4, 5, *range(9, 30)]
    assert list(tmp_path.glob("*.seg")) == []  # all done: no segment left
    again.close()


def test_a_record_is_the_batch_bytes_as_they_are_behind_a_20_byte_header(tmp_path: Path) -> None:
    spool = Spool(str(tmp_path), max_bytes=1 << 20)
    spool.open()
    batch = batch_of(0, 4)
    spool.append(batch.data, batch.count, loaded=False)
    spool.close()
    (segment,) = tmp_path.glob("*.seg")
    raw = segment.read_bytes()
    assert raw[:4] == b"NGS1"
    assert raw[HEADER:] == batch.data
    assert len(raw) == HEADER + batch.nbytes


def torn_and_flipped(tmp_path: Path) -> tuple[str, Path]:
    """10 records of 5 events; record 3's payload and record 6's header flipped, 9 torn."""
    directory = spool_path(str(tmp_path), "mem")
    spool = Spool(directory, max_bytes=1 << 20)
    spool.open()
    offsets = []
    for k in range(10):
        pos = spool.append(batch_of(k * 5, 5).data, 5, loaded=False)
        assert pos is not None
        offsets.append(pos[1])
    spool.close()
    (segment,) = Path(directory).glob("*.seg")
    raw = bytearray(segment.read_bytes())
    at = offsets[3] + HEADER + 2
    raw[at] ^= 0x01  # one bit of record 3's payload
    raw[offsets[6] + 8] ^= 0x40  # record 6's event count, in its header
    del raw[len(raw) - 7 :]  # record 9 torn: a crash in the middle of its write
    segment.write_bytes(bytes(raw))
    return str(tmp_path), segment


def test_a_torn_tail_and_flipped_bytes_are_detected_counted_and_the_rest_delivered(
    tmp_path: Path,
) -> None:
    spool_dir, segment = torn_and_flipped(tmp_path)
    sink = MemorySink(name="mem")
    pipeline = Pipeline(Config(sinks=(sink,), spool_dir=spool_dir, flush_interval=0.05))
    try:
        assert pipeline.flush(10)
        stats = pipeline.stats().sinks["mem"]
    finally:
        pipeline.shutdown(5)
    expected = [i for k in (0, 1, 2, 4, 5, 7, 8) for i in range(k * 5, k * 5 + 5)]
    assert ids(sink) == expected  # never half a record, never a damaged one
    assert stats.spool_corrupt_records == 3  # the flipped payload, the flipped header, the tear
    assert stats.replayed == 40  # records whose header holds (the torn and the unreadable not)
    assert dict(stats.dropped) == {"spool_corrupt": 5}
    assert stats.exported == 35
    assert balanced(stats)
    assert not segment.exists()  # delivered: deleted


# --------------------------------------------------------------------------- bounds


def capacity(max_bytes: int, segment_bytes: int, record: int) -> int:
    """Records a spool takes before an append would pass ``max_bytes`` (segments roll over)."""
    disk = current = n = 0
    while disk + record <= max_bytes:
        if current and current + record > segment_bytes:
            current = 0
        current += record
        disk += record
        n += 1
    return n


def start_down_worker(spool: Spool, overflow: str) -> tuple[SinkWorker, DownSink]:
    sink = DownSink()
    worker = SinkWorker(sink, max_events=1, max_bytes=1 << 20, overflow=overflow, spool=spool)
    worker.start()
    wait_until(lambda: worker.snapshot().spool_active)
    return worker, sink


def _settled(worker: SinkWorker, offered: int) -> bool:
    """Every offered batch is on disk or counted dropped (nothing waits for the disk)."""
    snap = worker.snapshot()
    dropped = snap.dropped.get("spool_full", 0)
    return bool(snap.spool_written_events + dropped == offered)


@pytest.mark.slow
def test_a_full_spool_drops_exactly_what_did_not_fit_and_stays_within_its_bound(
    tmp_path: Path,
) -> None:
    max_bytes = 64 * 1024
    spool = Spool(str(tmp_path), max_bytes=max_bytes)
    worker, sink = start_down_worker(spool, "drop_newest")
    try:
        n = 800
        for i in range(n):
            worker.offer(one(i))
            wait_until(lambda i=i: _settled(worker, i + 1))
        record = HEADER + one(0).nbytes
        fits = capacity(max_bytes, spool.segment_bytes, record)
        snap = worker.snapshot()
        assert snap.dropped == {"spool_full": n - fits}
        assert snap.spool_written_events == fits
        assert snap.accepted == snap.exported + n - fits + snap.queued_events
        on_disk = sum(f.stat().st_size for f in tmp_path.glob("*.seg"))
        assert on_disk == fits * record
        assert on_disk <= max_bytes
        assert sink.writes == 0  # the backend was never bothered
    finally:
        worker.stop(time.monotonic() + 5)


@pytest.mark.slow
def test_a_full_spool_with_drop_oldest_keeps_the_newest_events(tmp_path: Path) -> None:
    max_bytes = 64 * 1024
    directory = spool_path(str(tmp_path), "down")
    worker, _ = start_down_worker(Spool(directory, max_bytes=max_bytes), "drop_oldest")
    n = 1200
    try:
        for i in range(n):
            worker.offer(one(i))
            wait_until(lambda i=i: _disk_or_dropped(worker, i + 1))
        snap = worker.snapshot()
        dropped = snap.dropped["spool_full"]
        assert set(snap.dropped) == {"spool_full"}
        assert 0 < dropped < n
        assert sum(f.stat().st_size for f in Path(directory).glob("*.seg")) <= max_bytes
        assert snap.accepted == dropped + snap.queued_events
    finally:
        assert worker.stop(time.monotonic() + 5)
    # a new process delivers what is left: the newest events, each once
    sink = MemorySink(name="down")
    pipeline = Pipeline(Config(sinks=(sink,), spool_dir=str(tmp_path)))
    try:
        assert pipeline.flush(10)
    finally:
        pipeline.shutdown(5)
    got = ids(sink)
    assert len(got) == len(set(got)) == n - dropped
    assert n - 1 in got  # the newest survived
    assert 1 not in got  # an old one made room


def _disk_or_dropped(worker: SinkWorker, offered: int) -> bool:
    """Nothing waits for the disk: the memory queue holds only the first (spooled) batch."""
    snap = worker.snapshot()
    return bool(
        snap.spool_written_events + snap.dropped.get("spool_full", 0) >= offered
        and snap.queued_bytes <= one(0).nbytes
    )


def test_memory_stays_within_the_queue_while_a_large_spool_replays(tmp_path: Path) -> None:
    """Replay reads one record at a time into the queue's room, never the whole spool."""
    directory = spool_path(str(tmp_path), "slow")
    spool = Spool(directory, max_bytes=64 << 20)
    spool.open()
    for k in range(200):
        spool.append(batch_of(k * 100, 100).data, 100, loaded=False)
    spool.close()
    peak = 0
    workers: list[SinkWorker] = []
    started = threading.Event()

    class Slow(MemorySink):
        def write(self, batch: Batch) -> Outcome | None:
            nonlocal peak
            started.wait(10)
            peak = max(peak, workers[0].snapshot().queued_bytes)
            return super().write(batch)

    sink = Slow(name="slow")
    record = batch_of(0, 100).nbytes
    pipeline = Pipeline(
        Config(
            sinks=(sink,),
            spool_dir=str(tmp_path),
            sink_queue_max_bytes=4 * record,
            sink_queue_max_events=1000,
            batch_max_bytes=record,
            max_event_bytes=64,
        )
    )
    workers.extend(pipeline.workers)
    started.set()
    try:
        assert pipeline.flush(20)
        stats = pipeline.stats().sinks["slow"]
    finally:
        pipeline.shutdown(5)
    assert ids(sink) == list(range(20_000))
    assert stats.replayed == 20_000
    # the queue's bound (plus the batch being written), not the spool's 1.2 MB
    assert 0 < peak <= 5 * record
    assert stats.high_water_bytes <= 4 * record


# --------------------------------------------------------------------------- disk trouble


def test_an_unusable_spool_dir_falls_back_to_memory_with_a_clear_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Not a directory (or, as a non-root user, a read-only one): memory only, no exception."""
    if os.geteuid() == 0:  # root writes through permissions: a parent that is a file
        blocker = tmp_path / "a-file"
        blocker.write_text("not a directory")
        spool_dir = blocker / "spool"
    else:
        spool_dir = tmp_path / "read-only"
        spool_dir.mkdir()
        spool_dir.chmod(0o555)
    sink = MemorySink(name="mem")
    pipeline = Pipeline(Config(sinks=(sink,), spool_dir=str(spool_dir), flush_interval=0.05))
    try:
        for i in range(100):
            pipeline.emit({"level": "info", "message": "m", "i": i})
        assert pipeline.flush(10)
        stats = pipeline.stats().sinks["mem"]
    finally:
        pipeline.shutdown(5)
        if os.geteuid() != 0:
            spool_dir.chmod(0o755)
    assert ids(sink) == list(range(100))
    assert stats.spool_active is False
    err = capsys.readouterr().err
    assert "sink mem: spool" in err
    assert "unusable" in err
    assert "events are kept in memory only" in err


def test_an_unusable_spool_dir_is_an_error_when_config_errors_raise(tmp_path: Path) -> None:
    """config_errors="raise" (development, CI): an unusable spool_dir fails configure()."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(ConfigError, match=r"spool_dir='.*a-file': .* is unusable"):
        Pipeline(Config(sinks=(MemorySink(),), spool_dir=str(blocker), config_errors="raise"))


def test_a_file_in_the_way_of_the_parent_is_refused_too(tmp_path: Path) -> None:
    """Whatever the user, a spool path below a regular file cannot be used: memory only."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    sink = MemorySink(name="mem")
    pipeline = Pipeline(Config(sinks=(sink,), spool_dir=str(blocker / "spool")))
    try:
        pipeline.emit({"level": "info", "message": "m", "i": 1})
        assert pipeline.flush(10)
    finally:
        pipeline.shutdown(5)
    assert ids(sink) == [1]


WRITE_LIMITED = """
import json, resource, signal, sys, time
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails with EFBIG
resource.setrlimit(resource.RLIMIT_FSIZE, ({limit}, {limit}))
import nglogger.auto
import nglogger
log = nglogger.get_logger("app")
sink = lambda: next(iter(nglogger.stats().sinks.values()))
def wait(predicate):
    start = time.monotonic()
    while not predicate() and time.monotonic() - start < 30:
        time.sleep(0.01)
for i in range(100):  # ~25 KB: fits under the limit
    log.info("request handled", i=i, pad="x" * 200)
wait(lambda: sink().spool_written_events >= 100)
for i in range(100, {events}):  # these pass the limit
    log.info("request handled", i=i, pad="x" * 200)
wait(lambda: sink().spool_error is not None)
print("recover", flush=True)
sys.stdin.readline()  # the endpoint is up again
ok = nglogger.flush(timeout=60)
s = sink()
print(json.dumps({{"flushed": ok, "exported": s.exported, "accepted": s.accepted,
    "dropped": dict(s.dropped), "written": s.spool_written_events,
    "spool_error": s.spool_error, "active": s.spool_active}}), flush=True)
"""


@pytest.mark.slow
def test_a_disk_that_refuses_writes_mid_run_never_hurts_the_application(
    tmp_path: Path,
) -> None:
    """EFBIG (RLIMIT_FSIZE, as ENOSPC would): a warning, memory only, every event delivered.

    The endpoint holds its first request until the child's spool has failed: meanwhile
    the queued batches wait past ``SPOOL_AFTER`` and are written, until the limit.
    """
    gate = threading.Event()
    seen: list[int] = []
    lock = threading.Lock()

    def endpoint(request: Request) -> tuple[int, dict[str, str], bytes]:
        gate.wait(60)
        with lock:
            seen.extend(event["i"] for event in request.ndjson())
        return 200, {}, b""

    events = 1000  # ~250 KB: past the 32 KiB file size limit
    with LoopbackServer(endpoint) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("NGLOGGER_")}
        env.update(
            NGLOGGER_SINKS=f"{server.url}/ingest",
            NGLOGGER_SPOOL_DIR=str(tmp_path / "spool"),
            NGLOGGER_SPOOL_FSYNC="never",
            NGLOGGER_FLUSH_INTERVAL="50ms",
            PYTHONPATH=os.pathsep.join(sys.path),
        )
        code = WRITE_LIMITED.format(limit=32 * 1024, events=events)
        with subprocess.Popen(
            [sys.executable, "-c", code],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as child:
            assert child.stdout is not None
            assert child.stdin is not None
            assert child.stdout.readline().strip() == "recover"
            gate.set()
            child.stdin.write("go\n")
            child.stdin.flush()
            out, err = child.communicate(timeout=90)
    assert child.returncode == 0, err
    report = orjson.loads(out.strip().splitlines()[-1])
    assert report["flushed"] is True
    assert "cannot be written" in err
    assert "new events are kept in memory only" in err
    assert "File too large" in report["spool_error"]
    assert report["active"] is True  # still reading back what it wrote
    assert report["written"] > 0  # some reached the disk before the limit...
    assert sorted(seen) == list(range(events))  # ...and were read back: nothing lost, none twice
    assert report["exported"] == events
    assert report["dropped"] == {}


# --------------------------------------------------------------------------- processes


@pytest.mark.slow
def test_a_forked_child_never_writes_into_the_parents_spool(tmp_path: Path) -> None:
    """The child closes the parent's spool and takes the next free slot: a spool of its own."""
    sink = DownSink(name="down")
    pipeline = Pipeline(Config(sinks=(sink,), spool_dir=str(tmp_path), flush_interval=0.05))
    try:
        for i in range(50):
            pipeline.emit({"level": "info", "message": "parent", "i": i})
        wait_until(lambda: pipeline.stats().sinks["down"].spooled_events == 50)
        directory = Path(spool_path(str(tmp_path), "down"))
        before = {p.name: p.read_bytes() for p in directory.iterdir()}

        def child() -> dict[str, Any]:
            for i in range(30):
                pipeline.emit({"level": "info", "message": "child", "i": i})
            pipeline._dispatch(seal=True)
            wait_until(lambda: pipeline.stats().sinks["down"].spool_written_events == 30)
            stats = pipeline.stats().sinks["down"]
            spool = pipeline.workers[0]._spool
            return {
                "active": stats.spool_active,
                "written": stats.spool_written_events,
                "directory": spool.directory if spool is not None else None,
            }

        pid, fd = fork_child(child)
        result = join_child(pid, fd)
        assert result == {"active": True, "written": 30, "directory": f"{directory}.1"}
        after = {p.name: p.read_bytes() for p in directory.iterdir()}
        assert after == before  # not one byte of the parent's spool changed
        stats = pipeline.stats().sinks["down"]
        assert stats.spool_active  # the parent still owns it
        # The child's 30 events wait in its slot for the next process that takes it.
        left = Spool(f"{directory}.1", max_bytes=1 << 20)
        try:
            left.open()
            assert left.replayable_events == 30
        finally:
            left.close()
    finally:
        pipeline.shutdown(1)


def test_a_restarted_pipeline_in_the_same_process_takes_the_spool_over(tmp_path: Path) -> None:
    """configure() builds the new pipeline before the old one shuts down: it waits its turn."""
    down = DownSink(name="s")
    nglogger.configure(
        sinks=[down], spool_dir=str(tmp_path), flush_interval=0.05, shutdown_timeout=0.5
    )
    log = nglogger.get_logger("app")
    for i in range(20):
        log.info("m", i=i)
    wait_until(lambda: nglogger.stats().sinks["s"].spooled_events == 20)
    sink = MemorySink(name="s")
    nglogger.configure(sinks=[sink], spool_dir=str(tmp_path), flush_interval=0.05)
    assert nglogger.flush(10)
    assert ids(sink) == list(range(20))
    assert nglogger.stats().sinks["s"].replayed == 20


# --------------------------------------------------------------------------- settings


def test_spool_settings_come_from_the_environment_and_bad_ones_are_named() -> None:
    config = Config.from_env(
        {
            "NGLOGGER_SPOOL_DIR": "/var/spool/app",
            "NGLOGGER_SPOOL_MAX_BYTES": "2GiB",
            "NGLOGGER_SPOOL_FSYNC": "batch",
        }
    )
    assert (config.spool_dir, config.spool_max_bytes, config.spool_fsync) == (
        "/var/spool/app",
        2 << 30,
        "batch",
    )
    assert Config().spool_dir is None
    assert Config(spool_dir="/x").spool_max_bytes == 1 << 30
    assert Config(spool_dir=Path("/x")).spool_dir == "/x"
    with pytest.raises(ConfigError, match="NGLOGGER_SPOOL_FSYNC"):
        Config.from_env({"NGLOGGER_SPOOL_FSYNC": "sometimes", "NGLOGGER_CONFIG_ERRORS": "raise"})
    with pytest.raises(ConfigError, match="spool_max_bytes"):
        Config(spool_max_bytes=100)
    with pytest.raises(ConfigError, match="spool_dir"):
        Config(spool_dir="")


def test_memory_budget_counts_each_sinks_batches_on_their_way_to_disk() -> None:
    plain = Config(sinks=("stdout", "stderr"))
    spooled = plain.replace(spool_dir="/tmp/x")
    assert spooled.memory_budget == plain.memory_budget + 2 * plain.sink_queue_max_bytes


def test_nglogger_config_shows_the_spool(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGLOGGER_")}
    env["NGLOGGER_SPOOL_DIR"] = str(tmp_path)
    out = subprocess.run(
        [sys.executable, "-m", "nglogger", "config"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    lines = {line.split()[0]: line for line in out.splitlines() if line.strip()}
    assert str(tmp_path) in lines["spool_dir"]
    assert "NGLOGGER_SPOOL_DIR" in lines["spool_dir"]
    assert "1073741824" in lines["spool_max_bytes"]
    assert "interval" in lines["spool_fsync"]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Gated:
    """A healthy but slow sink: each write waits for the gate."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.got: list[int] = []

    def write(self, batch: Batch) -> None:
        self.gate.wait(30)
        self.got.extend(orjson.loads(e)["i"] for e in batch.events())

    def close(self) -> None:
        self.gate.set()


def test_a_slow_sink_s_batches_reach_the_disk_once_they_waited_spool_after(
    tmp_path: Path,
) -> None:
    """Not failing, not full: a batch is written only after waiting SPOOL_AFTER (fake clock)."""
    from nglogger._spool.feed import SPOOL_AFTER

    clock = FakeClock()
    sink = Gated()
    worker = SinkWorker(
        sink,
        max_events=100,
        max_bytes=1 << 20,
        clock=clock,
        spool=Spool(str(tmp_path), max_bytes=1 << 20),
    )
    worker.start()
    try:
        wait_until(lambda: worker.snapshot().spool_active)
        worker.offer(one(1))  # in flight, held by the gate
        worker.offer(one(2))  # queued
        wait_until(lambda: worker.snapshot().queued_events == 2)
        assert worker.snapshot().spool_written_events == 0  # younger than SPOOL_AFTER
        clock.now += SPOOL_AFTER
        wait_until(lambda: worker.snapshot().spool_written_events == 2)  # both, in flight too
        sink.gate.set()
        wait_until(lambda: worker.snapshot().exported == 2)
        wait_until(lambda: worker.snapshot().spooled_events == 0)  # acknowledged
        assert sink.got == [1, 2]
        assert list(tmp_path.glob("*.seg")) == []
    finally:
        sink.gate.set()
        assert worker.stop(time.monotonic() + 5)


@pytest.mark.slow
def test_a_second_pipeline_of_the_process_waits_for_the_spool_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two live pipelines on one directory: the second runs from memory, warns, then takes over."""
    first = Pipeline(Config(sinks=(DownSink(name="s"),), spool_dir=str(tmp_path)))
    sink = MemorySink(name="s")
    second = Pipeline(Config(sinks=(sink,), spool_dir=str(tmp_path), flush_interval=0.05))
    try:
        second.emit({"level": "info", "message": "m", "i": 1})
        assert sink.wait_for(1, timeout=10)  # delivered from memory meanwhile
        wait_until(lambda: "used by another pipeline of this process" in capsys.readouterr().err)
        assert second.stats().sinks["s"].spool_active is False
        first.shutdown(0.5)
        wait_until(lambda: second.stats().sinks["s"].spool_active)
    finally:
        first.shutdown(0.5)
        second.shutdown(5)


class RecoveringSink(MemorySink):
    """Down (hands batches back, not ready) until ``up`` is set; then a memory sink."""

    def __init__(self, name: str) -> None:
        super().__init__(name=name)
        self.up = threading.Event()

    def write(self, batch: Batch) -> Outcome | None:
        if not self.up.is_set():
            return Outcome(0, {}, batch)
        return super().write(batch)

    def ready_in(self) -> float:
        return 0.0 if self.up.is_set() else 0.05


@pytest.mark.skipif(not Path("/dev/full").exists(), reason="needs /dev/full (Linux)")
def test_a_real_enospc_turns_the_spool_off_and_loses_nothing(tmp_path: Path) -> None:
    """The next segment is /dev/full: the kernel's own ENOSPC; the app is never hurt."""
    sink = RecoveringSink("full")
    config = Config(
        sinks=(sink,), spool_dir=str(tmp_path), spool_max_bytes=64 * 1024, flush_interval=0.02
    )
    pipeline = Pipeline(config)
    try:
        wait_until(lambda: pipeline.stats().sinks["full"].spool_active)
        directory = Path(spool_path(str(tmp_path), "full"))
        (directory / "0000000000000002.seg").symlink_to("/dev/full")  # after segment 1
        events = 400  # 10 batches of ~4.4 KB: past the first 8 KiB segment
        for i in range(events):
            pipeline.emit({"level": "info", "message": "m", "i": i, "pad": "x" * 60})
            if i % 40 == 39:
                pipeline._dispatch(seal=True)  # one batch, one record
        wait_until(lambda: pipeline.stats().sinks["full"].spool_error is not None)
        stats = pipeline.stats().sinks["full"]
        assert "No space left on device" in str(stats.spool_error)
        assert stats.spool_written_events > 0  # segment 1 took some before the disk was full
        sink.up.set()
        assert pipeline.flush(20)
        assert sorted(ids(sink)) == list(range(events))  # from disk and from memory, once each
        stats = pipeline.stats().sinks["full"]
        assert stats.dropped == {}
        assert balanced(stats)
    finally:
        pipeline.shutdown(5)


class MergingDownSink(DownSink):
    """A failing sink that merges queued batches into one write (as the HTTP sinks do)."""

    def request_limits(self) -> tuple[int, int]:
        return 10_000, 64 << 20

    def ready_in(self) -> float:
        return 0.05  # keeps trying: merged writes mix spooled and memory-only batches


def test_at_shutdown_events_already_on_disk_are_kept_not_counted_lost(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A full spool, a merged batch partly on disk: only the memory-only part is lost."""
    sink = MergingDownSink(name="merging")
    config = Config(
        sinks=(sink,),
        spool_dir=str(tmp_path),
        spool_max_bytes=64 * 1024,
        batch_max_events=100,
        flush_interval=0.02,
        shutdown_timeout=0.5,
    )
    pipeline = Pipeline(config)
    try:
        wait_until(lambda: pipeline.stats().sinks["merging"].spool_active)
        for i in range(3000):
            pipeline.emit({"level": "info", "message": "m", "i": i})
        wait_until(lambda: pipeline.stats().sinks["merging"].spooled_events >= 100)
    finally:
        pipeline.shutdown(0.5)
    stats = pipeline.stats().sinks["merging"]
    on_disk = Spool(spool_path(str(tmp_path), "merging"), max_bytes=64 * 1024)
    try:
        on_disk.open()
        kept = on_disk.replayable_events
    finally:
        on_disk.close()
    assert kept > 0
    assert stats.dropped == {"shutdown_deadline": 3000 - kept}  # not the events on disk
    assert f"{kept} events kept in the spool" in capsys.readouterr().err


def test_a_slot_left_by_a_process_that_is_gone_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Fewer processes than before: the one that starts says which slot still holds events."""
    base = spool_path(str(tmp_path), "mem")
    for slot in (base, f"{base}.1"):  # two processes spooled; both are gone now
        left = Spool(slot, max_bytes=1 << 20)
        left.open()
        assert left.append(Batch.from_events([b'{"i":1}']).data, 1, loaded=False) is not None
        left.close()
    sink = MemorySink(name="mem")
    pipeline = Pipeline(Config(sinks=(sink,), spool_dir=str(tmp_path), flush_interval=0.05))
    try:
        assert pipeline.flush(10)
        assert ids(sink) == [1]  # slot 0 replayed
    finally:
        pipeline.shutdown(5)
    err = capsys.readouterr().err
    assert (
        f"1 spool slot(s) left by processes that are gone hold undelivered events ({base}.1)" in err
    )


SIBLING = """
import sys, time
from nglogger import Config
from nglogger._pipeline.pipeline import Pipeline
from nglogger.sinks import MemorySink
pipeline = Pipeline(Config(sinks=(MemorySink(name="mem"),), spool_dir=sys.argv[1]))
print(pipeline.workers[0]._spool.directory, flush=True)
sys.stdin.read()  # until the test closes our stdin
pipeline.shutdown(5)
"""


def _leave_slots(base: str, count: int) -> None:
    for number in range(count):  # processes spooled there; all are gone now
        left = Spool(base if number == 0 else f"{base}.{number}", max_bytes=1 << 20)
        left.open()
        assert left.append(Batch.from_events([b'{"i":1}']).data, 1, loaded=False) is not None
        left.close()


def test_a_slot_a_sibling_takes_a_moment_later_is_not_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Workers restarted after a crash: the first one does not name its sibling's slot."""
    base = spool_path(str(tmp_path), "mem")
    _leave_slots(base, 2)
    first = Pipeline(Config(sinks=(MemorySink(name="mem"),), spool_dir=str(tmp_path)))
    try:
        with subprocess.Popen(
            [sys.executable, "-c", SIBLING, str(tmp_path)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        ) as sibling:
            try:
                assert sibling.stdout is not None
                assert sibling.stdout.readline().strip() == f"{base}.1"  # it took slot 1
                first.shutdown(5)  # reports what is unheld now: nothing
            finally:
                if sibling.stdin is not None:
                    sibling.stdin.close()
                sibling.wait(timeout=30)
    finally:
        first.shutdown(5)
    assert "left by processes that are gone" not in capsys.readouterr().err


def test_a_slot_still_unheld_after_the_grace_is_reported_while_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The batcher says it once the grace has passed, not only at shutdown."""
    monkeypatch.setattr(_slots, "ORPHAN_GRACE", 0.2)
    base = spool_path(str(tmp_path), "mem")
    _leave_slots(base, 2)
    seen: list[str] = []
    pipeline = Pipeline(
        Config(sinks=(MemorySink(name="mem"),), spool_dir=str(tmp_path), flush_interval=0.05)
    )
    try:

        def reported() -> bool:
            seen.append(capsys.readouterr().err)
            return "left by processes that are gone" in "".join(seen)

        wait_until(reported)
        assert pipeline._orphans.due(time.monotonic() + 3600) is False  # said once
    finally:
        pipeline.shutdown(5)
    seen.append(capsys.readouterr().err)
    assert "".join(seen).count("left by processes that are gone") == 1
    assert f"({base}.1)" in "".join(seen)


def test_local_sinks_take_no_spool_slot(tmp_path: Path) -> None:
    """stdout, stderr and file sinks write locally: only the network sink gets a spool."""
    spool_dir = tmp_path / "spool"
    with LoopbackServer() as server:
        pipeline = Pipeline(
            Config(
                sinks=("stdout", "stderr", f"file://{tmp_path / 'app.log'}", f"{server.url}/in"),
                spool_dir=str(spool_dir),
            )
        )
        try:
            spools = [worker._spool for worker in pipeline.workers]
            assert [spool is None for spool in spools] == [True, True, True, False]
            assert len(list(spool_dir.iterdir())) == 1  # the HTTP sink's slot only
        finally:
            pipeline.shutdown(5)


def test_the_orphan_check_survives_segments_removed_while_it_looks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A holder replaying removes segments between the glob and their stat: no error."""
    base = spool_path(str(tmp_path), "mem")
    _leave_slots(base, 2)
    real_stat = Path.stat

    def vanishing(self: Path, **kwargs: Any) -> os.stat_result:
        if self.suffix == ".seg":
            raise FileNotFoundError(2, "No such file or directory", str(self))
        return real_stat(self, **kwargs)

    monkeypatch.setattr(Path, "stat", vanishing)
    assert _slots.orphaned_slots(base, _slots.SLOTS) == []  # nothing found, nothing raised
