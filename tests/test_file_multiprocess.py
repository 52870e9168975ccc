"""Several processes share one rotated file: nothing lost, nothing twice, one rotation each.

Real processes (forked, each with its own pipeline; forked from a process whose
pipeline already has the file open, as preloaded gunicorn workers are; spawned fresh
interpreters) log small events to one file with ``max_bytes`` and enough ``backups``
that nothing is pruned, through hundreds of rotations; then every event is counted
across the file and its backups (``tests/support/sharedfile.py``). Before rotation
was coordinated, 4 processes lost 1,000-2,000 of 12,000 events and 8 lost a third
(whole backups overwritten by another process's rename chain), while the stats said
everything was exported.

Hourly rotation runs on a fast clock shared by every process (the real clock sped up
360,000 times: an hour is 10 ms) injected with ``FileSink(now=...)``: every hour is
rotated once, by one process, under its own name. ``backups`` pruning keeps N files.

Each run is a child process group with faulthandler: a hang fails the test with the
stacks of every process (``tests/support/stacks.py``).
"""

from __future__ import annotations

import calendar
import contextlib
import fcntl
import gzip
import json
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from nglogger._core.batch import Batch
from nglogger.sinks.file import FileSink
from tests.support.stacks import run_dumping

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork (POSIX)")

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "support" / "sharedfile.py"
EVENTS = 2000  # per process; about 130 bytes each
SIZE = "max_bytes=16384&backups=400"  # ~16 events a batch, a rotation every ~120 events
PROCS = (2, 4, 8)
TIMEOUT = 60.0
STARTS = ("fork", "spawn", "inherit")


def run(tmp_path: Path, timeout: float = 120.0, **spec: Any) -> list[dict[str, Any]]:
    """Run the writers (``spec``); one report per run."""
    base = tmp_path / "runs"
    base.mkdir()
    spec = {"runs": 1, "events": EVENTS, "dir": str(base), **spec}
    done = run_dumping([str(SCRIPT), json.dumps(spec)], timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-8000:]
    assert "undelivered" not in done.stderr, done.stderr[-4000:]
    reports = [json.loads(line) for line in done.stdout.splitlines()]
    assert len(reports) == spec["runs"]
    return reports


def check_all_there(report: dict[str, Any], procs: int, start: str) -> None:
    """Every event of every writer once, whole; what the pipelines say matches the files."""
    writers = procs + 1 if start == "inherit" else procs
    assert report["codes"] == [0] * procs
    assert all(w.get("shutdown", True) for w in report["writers"])
    found = {k: report[k] for k in ("lost", "duplicated", "foreign", "torn")}
    assert found == {"lost": 0, "duplicated": 0, "foreign": 0, "torn": 0}, report["names"][:20]
    assert report["present"] == report["exported"] == writers * EVENTS
    assert report["dropped"] == 0


def numbered(report: dict[str, Any]) -> list[int]:
    """The backup numbers present (``app.jsonl.N``), sorted."""
    return sorted(int(n.rsplit(".", 1)[1]) for n in report["names"] if n != "app.jsonl")


def xattrs_here(directory: Path) -> bool:
    """Whether files here take user extended attributes (the sink records periods in one)."""
    probe = directory / "xattr-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.probe", b"1")
        return True
    except (OSError, AttributeError):
        return False
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def hourly(**extra: Any) -> dict[str, Any]:
    """A spec on the shared fast clock: an hour every 10 ms, events spread over 24 hours."""
    return {"clock": "hourly", "origin": time.time(), "speed": 360_000.0, "hours": 24, **extra}


# ---------------------------------------------------------------------- size rotation
@pytest.mark.parametrize("procs", PROCS)
@pytest.mark.parametrize("start", STARTS)
@pytest.mark.slow
def test_size_rotation_shared_by_processes_loses_nothing(
    tmp_path: Path, start: str, procs: int
) -> None:
    """2, 4, 8 processes, ~100-250 rotations: every event once, backups numbered without gaps."""
    (report,) = run(tmp_path, procs=procs, start=start, query=SIZE)
    check_all_there(report, procs, start)
    backups = numbered(report)
    assert backups == list(range(1, len(backups) + 1))  # no gap: no backup overwritten
    assert len(backups) >= 15 * procs  # many rotations, each done once


@pytest.mark.slow
def test_size_rotation_shared_by_processes_loses_nothing_run_after_run(tmp_path: Path) -> None:
    """20 runs each of 2, 4 and 8 processes: 0 lost, 0 twice, in every run."""
    totals: dict[str, Counter[str]] = {}
    for procs, start in ((2, "fork"), (4, "fork"), (8, "fork")):
        where = tmp_path / f"{start}{procs}"
        where.mkdir()
        reports = run(where, timeout=300.0, procs=procs, start=start, query=SIZE, runs=20)
        tally: Counter[str] = Counter()
        for report in reports:
            check_all_there(report, procs, start)
            tally.update(
                runs=1, events=report["present"], lost=report["lost"], twice=report["duplicated"]
            )
            tally.update(rotations=len(numbered(report)))
        totals[f"{procs} {start}"] = tally
    print()
    for key, tally in totals.items():
        print(f"[{key}] {dict(tally)}")


# ---------------------------------------------------------------------- time rotation
@pytest.mark.parametrize(
    ("start", "procs"), [("fork", 2), ("fork", 4), ("fork", 8), ("spawn", 4), ("inherit", 4)]
)
@pytest.mark.slow
def test_hourly_rotation_shared_by_processes_rotates_each_hour_once(
    tmp_path: Path, start: str, procs: int
) -> None:
    """A day of hours on the fast clock: every event once; each hour one file, never .1, .2."""
    (report,) = run(tmp_path, procs=procs, start=start, **hourly(max_bytes=0))
    check_all_there(report, procs, start)
    rotated = [n for n in report["names"] if n != "app.jsonl"]
    assert len(rotated) >= 12  # most of the 24 hours were rotated
    if xattrs_here(tmp_path):  # each period's file recorded: nobody rotates it twice
        pattern = re.compile(r"app\.jsonl\.\d{4}-\d{2}-\d{2}_\d{2}")
        assert [n for n in rotated if not pattern.fullmatch(n)] == []


def test_hourly_rotation_with_gzip_shared_by_processes_loses_nothing(tmp_path: Path) -> None:
    """Hourly files compressed while 4 processes write: every event once, every file .gz."""
    (report,) = run(tmp_path, procs=4, start="fork", **hourly(max_bytes=0, compress="gzip"))
    check_all_there(report, 4, "fork")
    rotated = [n for n in report["names"] if n != "app.jsonl"]
    assert len(rotated) >= 12
    assert [n for n in rotated if not n.endswith(".gz")] == []


def test_size_rotation_with_gzip_shared_by_processes_loses_nothing(tmp_path: Path) -> None:
    """Dated size rotation with gzip, 4 processes: every event once, every rotated file .gz."""
    (report,) = run(tmp_path, procs=4, start="fork", query="max_bytes=16384&compress=gzip")
    check_all_there(report, 4, "fork")
    rotated = [n for n in report["names"] if n != "app.jsonl"]
    assert len(rotated) >= 50
    assert [n for n in rotated if not n.endswith(".gz")] == []


# ---------------------------------------------------------------------- pruning
def test_numbered_pruning_keeps_the_configured_backups(tmp_path: Path) -> None:
    """backups=3 with 4 processes: exactly 3 backups remain; what is there is whole, once."""
    (report,) = run(tmp_path, procs=4, start="fork", query="max_bytes=16384&backups=3")
    assert report["names"] == ["app.jsonl", "app.jsonl.1", "app.jsonl.2", "app.jsonl.3"]
    assert (report["duplicated"], report["foreign"], report["torn"]) == (0, 0, 0)
    assert report["exported"] == 4 * EVENTS
    assert 0 < report["present"] < 4 * EVENTS  # the rest was pruned, as configured


def test_hourly_pruning_keeps_the_configured_backups(tmp_path: Path) -> None:
    """backups=3 on hourly files with 4 processes: the 3 newest hours remain."""
    (report,) = run(tmp_path, procs=4, start="fork", **hourly(max_bytes=0, backups=3))
    rotated = [n for n in report["names"] if n != "app.jsonl"]
    assert len(rotated) == 3
    assert (report["duplicated"], report["foreign"], report["torn"]) == (0, 0, 0)
    assert report["exported"] == 4 * EVENTS
    assert 0 < report["present"] < 4 * EVENTS


# ---------------------------------------------------------------------- in one process
# Two FileSinks on one path have two open files, so they coordinate exactly as two
# processes do: these tests drive the same code deterministically.


class Clock:
    """A settable wall clock (epoch seconds)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def utc(text: str) -> float:
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S")))


def batch(*ids: int | str) -> Batch:
    return Batch.from_events([json.dumps({"i": i}).encode() for i in ids])


def ids(path: Path) -> list[Any]:
    return [json.loads(line)["i"] for line in path.read_bytes().splitlines()]


def test_a_sink_that_follows_another_ones_hourly_rotation_does_not_rotate_again(
    tmp_path: Path,
) -> None:
    """Sink A rotates the 10:00 file at 11:05; sink B follows to the 11:00 file and keeps it."""
    path = tmp_path / "app.jsonl"
    clock = Clock(utc("2026-12-01 10:30:00"))
    a = FileSink(path, rotate="hourly", utc=True, now=clock)
    b = FileSink(path, rotate="hourly", utc=True, now=clock)
    assert (a.write(batch("a1")), b.write(batch("b1"))) == (None, None)
    clock.t = utc("2026-12-01 11:05:00")
    for sink, event in ((a, "a2"), (b, "b2"), (b, "b3"), (a, "a3")):
        assert sink.write(batch(event)) is None
    a.close()
    b.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.jsonl", "app.jsonl.2026-12-01_10"]
    assert ids(tmp_path / "app.jsonl.2026-12-01_10") == ["a1", "b1"]
    assert ids(path) == ["a2", "b2", "b3", "a3"]


def test_the_rotation_lock_is_taken_only_when_a_rotation_looks_due(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """100 batches, a rotation every 10: one exclusive lock per rotation, none in between."""
    taken: list[int] = []
    real = fcntl.flock

    def flock(fd: int, operation: int) -> None:
        taken.append(operation)
        real(fd, operation)

    monkeypatch.setattr(fcntl, "flock", flock)
    one = len(batch("000").data)  # every batch the same size
    sink = FileSink(tmp_path / "app.log", max_bytes=10 * one, backups=20)
    for i in range(100):
        assert sink.write(batch(f"{i:03d}")) is None
    plain = FileSink(tmp_path / "plain.log")
    for i in range(100):
        assert plain.write(batch(f"{i:03d}")) is None
    sink.close()
    plain.close()
    exclusive = [op for op in taken if op & fcntl.LOCK_EX]
    assert len(exclusive) == 9  # the rotations: batches 10, 20, ... 90 found the file full
    assert [op for op in taken if op & fcntl.LOCK_SH] == []  # (only compressing sinks)
    assert sorted(p.name for p in tmp_path.iterdir())[:3] == ["app.log", "app.log.1", "app.log.2"]


def test_sinks_on_threads_sharing_one_rotated_file_lose_nothing(tmp_path: Path) -> None:
    """4 sinks (4 open files) on 4 threads, ~100 rotations: every event once."""
    path = tmp_path / "app.log"
    sinks = [FileSink(path, max_bytes=2000, backups=400) for _ in range(4)]
    failures: list[object] = []

    def write(n: int) -> None:
        for i in range(300):
            outcome = sinks[n].write(batch(f"{n}-{i}-a", f"{n}-{i}-b"))
            if outcome is not None:
                failures.append(outcome)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT)
    for sink in sinks:
        sink.close()
    assert failures == []
    seen = Counter(i for p in tmp_path.iterdir() for i in ids(p))
    expected = {f"{n}-{i}-{x}" for n in range(4) for i in range(300) for x in "ab"}
    assert set(seen) == expected
    assert set(seen.values()) == {1}
    backups = sorted(int(p.name.rsplit(".", 1)[1]) for p in tmp_path.iterdir() if p != path)
    assert backups == list(range(1, len(backups) + 1))


def test_a_gzip_temporary_another_process_is_writing_is_left_alone(tmp_path: Path) -> None:
    """At start, a locked .gz.tmp is another process's compression: kept, its file skipped."""
    path = tmp_path / "app.ndjson"
    left = tmp_path / "app.ndjson.2026-11-30"
    left.write_bytes(b'{"i":30}\n')
    tmp = tmp_path / "app.ndjson.2026-11-30.gz.tmp"
    tmp.write_bytes(b"\x1f\x8b being written")
    holder = os.open(tmp, os.O_WRONLY)
    fcntl.flock(holder, fcntl.LOCK_EX)  # what a compressing process holds
    clock = Clock(utc("2026-12-01 08:00:00"))
    try:
        sink = FileSink(path, rotate="daily", utc=True, compress="gzip", now=clock)
        assert sink.write(batch(1)) is None
        assert sink.wait_compressed(TIMEOUT)
        sink.close()
        assert tmp.read_bytes() == b"\x1f\x8b being written"
        assert left.exists()
    finally:
        os.close(holder)  # that process is gone: the next start cleans up and compresses
    sink = FileSink(path, rotate="daily", utc=True, compress="gzip", now=clock)
    assert sink.write(batch(2)) is None
    assert sink.wait_compressed(TIMEOUT)
    sink.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["app.ndjson", "app.ndjson.2026-11-30.gz"]
    assert gzip.decompress((tmp_path / names[1]).read_bytes()) == b'{"i":30}\n'


def test_the_numbered_shift_stops_at_a_gap(tmp_path: Path) -> None:
    """Backups .1 and .3 (no .2): .1 moves to .2, .3 stays; nothing is overwritten."""
    path = tmp_path / "app.log"
    path.write_bytes(b'{"i":0}\n')
    (tmp_path / "app.log.1").write_bytes(b'{"i":-1}\n')
    (tmp_path / "app.log.3").write_bytes(b'{"i":-3}\n')
    sink = FileSink(path, max_bytes=10, backups=5)
    assert sink.write(batch(1)) is None
    sink.close()
    found = {p.name: ids(p) for p in tmp_path.iterdir()}
    assert found == {"app.log": [1], "app.log.1": [0], "app.log.2": [-1], "app.log.3": [-3]}
