"""The file sink on a failing disk, in a real pipeline: full, size-limited, read-only, forbidden.

Disk full runs on a real small filesystem: a 256 KiB tmpfs mounted for the test
(``mount -t tmpfs``, needs root or CAP_SYS_ADMIN). Where mounting is not
permitted the same scenario runs in a forked child under ``RLIMIT_FSIZE``
(``EFBIG`` instead of ``ENOSPC``); the file-size-limit test always runs that
way, so both paths stay exercised. One scenario serves both: healthy events,
the disk fills, 200 events are logged, space returns, 50 more are logged. It
collects facts (counters, the file's lines, call timings) and the tests assert
on them:

* events that could not be written are dropped as ``write_error``, counted
  exactly (accepted == exported + dropped + queued), never raised;
* the file holds whole lines only (a batch that fits partly is cut back out),
  and exactly the events the sink reported exported, each once;
* once space returns, later events are written;
* the application is unaffected: log calls stay fast and a second sink in the
  same pipeline receives every event.

Permission errors: root ignores mode bits, so they come from a read-only bind
mount (``EROFS``), a parent path that is a file (``ENOTDIR``), and a child
process running as ``nobody`` in a directory it may not write (``EACCES``);
each recovers once the cause is fixed. Mounts are undone in teardown.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import select
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from support.mounts import mount_permitted, run, tmpfs, unmount

import nglogger
from nglogger import Config
from nglogger.sinks import MemorySink
from nglogger.sinks.file import FileSink

BATCH = 10
PAD = "p" * 120  # about 230 bytes per line: a batch is about 2.3 KB
CALL_LIMIT = 0.05  # seconds: no single log call may take longer (they take microseconds)


# ---------------------------------------------------------------------- mounting
# ---------------------------------------------------------------------- the scenario
def fill_until_full(filler: Path) -> int:
    """Write ``filler`` until the filesystem says ENOSPC; returns the bytes it holds."""
    chunk = b"\0" * 4096
    written = 0
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        while True:
            try:
                written += os.write(fd, chunk)
            except OSError as exc:
                failure = exc.errno
                break
    finally:
        os.close(fd)
    assert failure == errno.ENOSPC, os.strerror(failure or 0)
    return written


def file_facts(path: Path) -> dict[str, Any]:
    """The file's ids, and whether it holds whole JSON lines only."""
    data = path.read_bytes() if path.exists() else b""
    whole = data == b"" or data.endswith(b"\n")
    ids: list[int] = []
    for line in data.splitlines():
        try:
            ids.append(json.loads(line)["id"])
        except (ValueError, KeyError):
            whole = False
    return {"ids": ids, "whole_lines": whole, "size": len(data)}


def sink_facts(pipeline: nglogger.Pipeline, name: str) -> dict[str, Any]:
    st = pipeline.stats().sinks[name]
    return {
        "accepted": st.accepted,
        "exported": st.exported,
        "dropped": dict(st.dropped),
        "queued": st.queued_events,
        "errors": st.errors,
    }


def log_events(first: int, count: int) -> float:
    """Log events ``first...first+count-1``; returns the slowest single call in seconds."""
    log = nglogger.get_logger("disk")
    slowest = 0.0
    for i in range(first, first + count):
        started = time.perf_counter()
        log.info("event", id=i, pad=PAD)
        slowest = max(slowest, time.perf_counter() - started)
    return slowest


def disk_full_scenario(
    path: Path, fill: Callable[[], None], free: Callable[[], None]
) -> dict[str, Any]:
    """Healthy, full, recovered: the facts the disk-full tests assert on (JSON-ready)."""
    file_sink = FileSink(path)
    memory = MemorySink(name="memory")
    pipeline = nglogger.configure(
        Config(
            sinks=[file_sink, memory],
            batch_max_events=BATCH,
            flush_interval=0.02,
            report_interval=0,
            shutdown_timeout=2.0,
        )
    )
    facts: dict[str, Any] = {}
    try:
        log_events(0, 20)
        facts["healthy_flushed"] = pipeline.flush(5.0)
        facts["healthy"] = sink_facts(pipeline, file_sink.name)
        fill()
        facts["slowest_call_full"] = log_events(20, 200)
        facts["full_flushed"] = pipeline.flush(5.0)
        facts["full"] = sink_facts(pipeline, file_sink.name)
        facts["file_full"] = file_facts(path)
        facts["last_error"] = file_sink.last_error
        free()
        facts["slowest_call_recovered"] = log_events(220, 50)
        facts["recovered_flushed"] = pipeline.flush(5.0)
        facts["recovered"] = sink_facts(pipeline, file_sink.name)
        facts["memory"] = sink_facts(pipeline, memory.name)
        facts["memory_ids"] = [event["id"] for event in memory.events()]
    finally:
        facts["shutdown"] = pipeline.shutdown(2.0)
    facts["file_final"] = file_facts(path)
    return facts


def check_disk_full_facts(facts: dict[str, Any], error_name: str) -> None:
    """The guarantees of the module docstring, on the facts of one scenario run."""
    assert facts["healthy_flushed"]
    assert facts["healthy"]["exported"] == 20
    # full: every event accounted, the failures as write_error, nothing raised or stuck
    full = facts["full"]
    assert facts["full_flushed"]
    assert full["accepted"] == 220
    assert full["queued"] == 0
    assert set(full["dropped"]) == {"write_error"}
    lost = full["dropped"]["write_error"]
    assert lost > 0
    assert lost % BATCH == 0  # whole batches are dropped, never part of one
    assert full["accepted"] == full["exported"] + lost
    assert facts["last_error"].startswith(f"{error_name}:")
    # the file: whole lines, exactly the exported events, once each
    on_disk = facts["file_full"]
    assert on_disk["whole_lines"]
    assert len(on_disk["ids"]) == len(set(on_disk["ids"])) == full["exported"]
    assert on_disk["ids"][:20] == list(range(20))
    # recovered: later events are written, and nothing more is lost
    recovered = facts["recovered"]
    assert facts["recovered_flushed"]
    assert recovered["dropped"] == full["dropped"]
    assert recovered["exported"] == full["exported"] + 50
    assert recovered["accepted"] == recovered["exported"] + lost + recovered["queued"]
    final = facts["file_final"]
    assert final["whole_lines"]
    assert final["ids"] == on_disk["ids"] + list(range(220, 270))
    # the application: fast calls, and the other sink got everything
    assert facts["slowest_call_full"] < CALL_LIMIT
    assert facts["slowest_call_recovered"] < CALL_LIMIT
    assert facts["memory"]["dropped"] == {}
    assert sorted(facts["memory_ids"]) == list(range(270))
    assert facts["shutdown"]


def run_in_child(
    scenario: Callable[[Callable[[], None]], dict[str, Any]],
    on_request: Callable[[], None] = lambda: None,
    timeout: float = 30.0,
) -> dict[str, Any]:
    """Run ``scenario(ask)`` in a forked child (limits set there stay there); return its facts.

    ``ask()`` in the child makes the parent run ``on_request()`` and waits for it to
    finish (for fixes only the parent is allowed to make).
    """
    up_read, up_write = os.pipe()  # child -> parent: b"?" requests, then the JSON facts
    down_read, down_write = os.pipe()  # parent -> child: b"!" when a request is done
    pid = os.fork()
    if pid == 0:  # child: never return into pytest
        status = 1
        try:
            os.close(up_read)
            os.close(down_write)

            def ask() -> None:
                os.write(up_write, b"?")
                ready, _, _ = select.select([down_read], [], [], timeout)
                assert ready
                assert os.read(down_read, 1) == b"!"

            facts = scenario(ask)
            with os.fdopen(up_write, "wb") as pipe:
                pipe.write(json.dumps(facts).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(up_write)
    os.close(down_read)
    deadline = time.monotonic() + timeout
    chunks: list[bytes] = []
    try:
        while True:  # read until the child closes the pipe, within the deadline
            remaining = deadline - time.monotonic()
            assert remaining > 0, "the child did not finish in time"
            ready, _, _ = select.select([up_read], [], [], remaining)
            if not ready:
                continue
            chunk = os.read(up_read, 65536)
            if not chunk:
                break
            if not chunks and chunk.startswith(b"?"):
                on_request()
                os.write(down_write, b"!")
                chunk = chunk[1:]
            if chunk:
                chunks.append(chunk)
        _, code = os.waitpid(pid, 0)  # the pipe closes just before os._exit
        pid = 0
        assert os.waitstatus_to_exitcode(code) == 0
        return dict(json.loads(b"".join(chunks)))
    finally:
        os.close(up_read)
        os.close(down_write)
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)


def rlimit_scenario(path: Path, room: int = 1000) -> dict[str, Any]:
    """The disk-full scenario where "full" is RLIMIT_FSIZE at the file's size + ``room`` bytes."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # EFBIG instead of a fatal signal
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]

    def fill() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size + room, hard))

    def free() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))

    return disk_full_scenario(path, fill, free)


# ---------------------------------------------------------------------- disk full
def test_disk_full_drops_are_counted_and_writing_resumes_when_space_returns(
    tmp_path: Path,
) -> None:
    """On a full filesystem events drop as write_error, the file keeps whole lines, and writing resumes."""
    if not mount_permitted():  # fall back, never skip: the same scenario under RLIMIT_FSIZE
        facts = run_in_child(lambda _ask: rlimit_scenario(tmp_path / "app.jsonl"))
        check_disk_full_facts(facts, "EFBIG")
        print(f"\n[disk full: RLIMIT_FSIZE fallback] {facts['full']} -> {facts['recovered']}")
        return
    with tmpfs(tmp_path / "fs") as fs:
        filler = fs / "filler"
        held: list[int] = []
        facts = disk_full_scenario(
            fs / "app.jsonl",
            fill=lambda: held.append(fill_until_full(filler)),
            free=filler.unlink,
        )
    check_disk_full_facts(facts, "ENOSPC")
    print(
        f"\n[disk full: tmpfs 256k] filler={held[0]} B; during={facts['full']} "
        f"after={facts['recovered']} file={facts['file_final']['size']} B "
        f"slowest call {facts['slowest_call_full'] * 1e6:.0f} us"
    )


def test_file_size_limit_drops_are_counted_and_writing_resumes_when_raised(
    tmp_path: Path,
) -> None:
    """Under RLIMIT_FSIZE (EFBIG) batches drop as write_error, partial ones are cut out, and writing resumes."""
    facts = run_in_child(lambda _ask: rlimit_scenario(tmp_path / "app.jsonl"))
    check_disk_full_facts(facts, "EFBIG")
    print(f"\n[RLIMIT_FSIZE] during={facts['full']} after={facts['recovered']}")


# ---------------------------------------------------------------------- permissions
def permission_scenario(path: Path, fix: Callable[[], None]) -> dict[str, Any]:
    """10 events while the path is unwritable, ``fix()``, 10 more: the facts."""
    file_sink = FileSink(path)
    memory = MemorySink(name="memory")
    pipeline = nglogger.configure(
        Config(
            sinks=[file_sink, memory],
            batch_max_events=BATCH,
            flush_interval=0.02,
            report_interval=0,
        )
    )
    facts: dict[str, Any] = {}
    try:
        facts["slowest_call"] = log_events(0, BATCH)
        facts["broken_flushed"] = pipeline.flush(5.0)
        facts["broken"] = sink_facts(pipeline, file_sink.name)
        facts["last_error"] = file_sink.last_error
        fix()
        log_events(BATCH, BATCH)
        facts["fixed_flushed"] = pipeline.flush(5.0)
        facts["fixed"] = sink_facts(pipeline, file_sink.name)
        facts["memory_ids"] = [event["id"] for event in memory.events()]
    finally:
        pipeline.shutdown(2.0)
    facts["file"] = file_facts(path)
    return facts


def check_permission_facts(facts: dict[str, Any], error_name: str) -> None:
    assert facts["broken_flushed"]
    assert facts["broken"]["dropped"] == {"write_error": BATCH}
    assert facts["broken"]["exported"] == 0
    assert facts["last_error"].startswith(f"{error_name}:"), facts["last_error"]
    assert facts["fixed_flushed"]
    assert facts["fixed"]["exported"] == BATCH
    assert facts["fixed"]["dropped"] == {"write_error": BATCH}
    assert facts["fixed"]["accepted"] == 2 * BATCH
    assert facts["file"]["whole_lines"]
    assert facts["file"]["ids"] == list(range(BATCH, 2 * BATCH))
    assert facts["slowest_call"] < CALL_LIMIT
    assert sorted(facts["memory_ids"]) == list(range(2 * BATCH))


def test_read_only_mount_drops_as_write_error_until_remounted_read_write(
    tmp_path: Path,
) -> None:
    """A path on a read-only mount drops batches as write_error (EROFS); after a rw remount they are written."""
    if not mount_permitted():
        pytest.skip("mounting is not permitted here; ENOTDIR and EACCES cover permission errors")
    with tmpfs(tmp_path / "fs") as fs:
        (fs / "logs").mkdir()
        view = tmp_path / "ro"
        view.mkdir()
        done = run("mount", "--bind", str(fs / "logs"), str(view))
        assert done.returncode == 0, done.stderr
        try:
            done = run("mount", "-o", "remount,bind,ro", str(view))
            assert done.returncode == 0, done.stderr

            def fix() -> None:
                remount = run("mount", "-o", "remount,bind,rw", str(view))
                assert remount.returncode == 0, remount.stderr

            facts = permission_scenario(view / "app.jsonl", fix)
        finally:
            unmount(view)
    check_permission_facts(facts, "EROFS")


def test_parent_path_that_is_a_file_drops_as_write_error_until_it_is_a_directory(
    tmp_path: Path,
) -> None:
    """A path under a regular file drops batches as write_error (ENOTDIR); once a directory, they are written."""
    parent = tmp_path / "logs"
    parent.write_bytes(b"not a directory")

    def fix() -> None:
        parent.unlink()
        parent.mkdir()

    facts = permission_scenario(parent / "app.jsonl", fix)
    check_permission_facts(facts, "ENOTDIR")


def as_nobody_scenario(path: Path, warm_up: Path, ask: Callable[[], None]) -> dict[str, Any]:
    """In a forked child: load every module while still root, become nobody, run the scenario."""
    permission_scenario(warm_up, lambda: None)  # lazy imports happen now, while readable
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)
    return permission_scenario(path, ask)


NOBODY = 65534


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch to the nobody user")
def test_directory_without_write_permission_drops_as_write_error_until_granted(
    tmp_path: Path,
) -> None:
    """A process that may not write the directory drops batches as write_error (EACCES); once granted, they are written."""
    base = Path(tempfile.mkdtemp(prefix="nglogger-eacces-"))
    try:
        base.chmod(0o755)
        logs = base / "logs"
        logs.mkdir(mode=0o755)  # owned by root: nobody may not create files in it
        facts = run_in_child(
            lambda ask: as_nobody_scenario(logs / "app.jsonl", tmp_path / "warm.jsonl", ask),
            on_request=lambda: os.chown(logs, NOBODY, NOBODY),
        )
    finally:
        shutil.rmtree(base, ignore_errors=True)
    check_permission_facts(facts, "EACCES")


# ---------------------------------------------------------------------- two writers
class RacedFileSink(FileSink):
    """A FileSink that lets another writer append right after it measured the file.

    That is the window between ``_prepare`` (fstat: where this batch will start)
    and ``os.write`` in which another process sharing the file (a forked worker,
    the supported multi-process setup) can append a batch of its own.
    """

    __slots__ = ("_between",)

    def __init__(self, path: Path, between: Callable[[], None]) -> None:
        super().__init__(path)
        self._between = between

    def _prepare(self, incoming: int) -> tuple[int, int]:
        prepared = super()._prepare(incoming)
        self._between()
        return prepared


def two_writers_scenario(path: Path) -> dict[str, Any]:
    """B appends a whole batch while A is between fstat and write; A's batch then fits only partly."""
    from nglogger._core.batch import Batch

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
    path.write_bytes(b'{"id":0}\n')
    other = FileSink(path)  # stands for another process appending to the same file
    theirs = Batch.from_events([b'{"id":%d,"by":"B"}' % i for i in range(1, 6)])
    ours = Batch.from_events(
        [b'{"id":%d,"by":"A","pad":"%s"}' % (i, PAD.encode()) for i in range(6, 11)]
    )
    outcomes: dict[str, Any] = {}

    def other_appends() -> None:
        outcomes["B"] = other.write(theirs)

    sink = RacedFileSink(path, other_appends)
    room = path.stat().st_size + len(theirs.data) + 40  # B fits; A gets 40 bytes in, then EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (room, hard))
    try:
        outcomes["A"] = sink.write(ours)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (hard, hard))
    sink.close()
    other.close()
    return {
        "A": repr(outcomes["A"]),
        "B": repr(outcomes["B"]),
        "last_error": sink.last_error,
        "file": file_facts(path),
    }


def test_a_failed_partial_write_never_cuts_lines_another_writer_appended(tmp_path: Path) -> None:
    """Cutting back a partly written batch removes only its own bytes, not another writer's lines."""
    facts = run_in_child(lambda _ask: two_writers_scenario(tmp_path / "app.jsonl"))
    assert facts["B"] == "None"  # the other writer's batch was written and counted exported
    assert facts["A"] == "Outcome(exported=0, dropped={'write_error': 5})"
    assert facts["last_error"].startswith("EFBIG:")
    assert facts["file"]["whole_lines"]
    assert facts["file"]["ids"] == [0, 1, 2, 3, 4, 5]
