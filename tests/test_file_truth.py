"""The file sink tells the truth: failures said on stderr, streams counted as delivered.

* A sink that cannot write (a full disk: a link to ``/dev/full`` and, where mounting
  is permitted, a real full tmpfs; a read-only mount; a parent path that is a file)
  says so once on stderr when it starts failing and once when it writes again, with
  exact counters, in a real pipeline in a fresh interpreter.
* FIFOs and ``/dev/stdout`` on a pipe: every event arrives and is counted exported,
  with no "undelivered" summary at exit (they used to be written, then counted
  ``write_error`` because ``lseek`` on a pipe fails). A FIFO nobody reads fails fast
  (ENXIO) instead of hanging the worker, and one whose reader stops reading does not
  keep the process from exiting.

Every child that could hang runs under :func:`support.stacks.run_dumping` (stacks of
every thread on timeout); nothing waits on a fixed sleep.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest

from nglogger._core import notice as _notice
from nglogger._core.batch import Batch
from nglogger.sinks import Outcome
from nglogger.sinks.file import FileSink
from tests.support.mounts import mount_permitted, run, tmpfs, unmount
from tests.support.stacks import run_dumping

TIMEOUT = 60.0

# ---------------------------------------------------------------------- the child
#: Logs 30 events (3 batches) while the sink cannot write, runs ``fix`` (argv[2]: code),
#: logs 20 more, prints the sink's counters as JSON; the exit summary goes to stderr.
FAILING_CHILD = r"""
import json, os, subprocess, sys
import nglogger

path, fix = sys.argv[1], sys.argv[2]
pipeline = nglogger.configure(
    sinks=[f"file://{path}"], batch_max_events=10, flush_interval=60.0, report_interval=0
)
log = nglogger.get_logger("truth")

def burst(first, n):
    for i in range(first, first + n):
        log.info("event", id=i)
        if (i + 1) % 10 == 0:
            assert pipeline.flush(10.0)

burst(0, 30)
during = pipeline.stats().sinks[f"file:{path}"]
exec(fix)
burst(30, 20)
after = pipeline.stats().sinks[f"file:{path}"]
print(json.dumps({
    "during": [during.accepted, during.exported, dict(during.dropped)],
    "after": [after.accepted, after.exported, dict(after.dropped)],
    "last_error": after.last_error,
}))
"""


def run_failing(path: Path, fix: str) -> tuple[dict[str, Any], list[str]]:
    done = run_dumping([str(path), fix], code=FAILING_CHILD, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout), done.stderr.splitlines()


def ids(path: Path) -> list[int]:
    return [json.loads(line)["id"] for line in path.read_bytes().splitlines()]


def check_failure_told(path: Path, fix: str, error: str) -> list[str]:
    """3 failing batches, then 2 written: one warning each way, exact counters and file."""
    facts, stderr = run_failing(path, fix)
    name = f"file:{path}"
    assert facts["during"] == [30, 0, {"write_error": 30}]
    assert facts["after"] == [50, 20, {"write_error": 30}]
    assert ids(path) == list(range(30, 50))
    failing = (
        f"nglogger: sink {name} cannot write ({error}); "
        "batches are dropped (write_error) until it can"
    )
    again = (
        f"nglogger: sink {name} writes again (30 events dropped as write_error while it could not)"
    )
    summary = (
        f"nglogger: sink {name}: 30 of 50 events undelivered (30 write_error); last error: {error}"
    )
    assert stderr == [failing, again, summary], stderr
    return stderr


# ---------------------------------------------------------------------- mounting
def fill(filler: Path) -> None:
    """Write ``filler`` until the filesystem is full (ENOSPC)."""
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with pytest.raises(OSError) as raised:  # noqa: PT012 - until the disk says no
            while True:
                os.write(fd, b"\0" * 4096)
        assert raised.value.errno == errno.ENOSPC
    finally:
        os.close(fd)


ENOSPC = f"ENOSPC: {os.strerror(errno.ENOSPC)}"


# ---------------------------------------------------------------------- failures are told
def test_a_full_device_is_told_once_when_failing_starts_and_once_when_it_writes_again(
    tmp_path: Path,
) -> None:
    """Writes to /dev/full (ENOSPC): one warning for three failed batches, one on recovery."""
    path = tmp_path / "app.jsonl"
    path.symlink_to("/dev/full")
    check_failure_told(path, "os.unlink(path)", ENOSPC)  # space returns: a regular file


@pytest.mark.skipif(not mount_permitted(), reason="mounting a tmpfs is not permitted here")
def test_a_full_filesystem_is_told_once_each_way(tmp_path: Path) -> None:
    """A real full tmpfs: ENOSPC told once; freeing space is told once ("writes again")."""
    with tmpfs(tmp_path / "fs", "64k") as fs:
        fill(fs / "filler")
        stderr = check_failure_told(fs / "app.jsonl", f"os.unlink({str(fs / 'filler')!r})", ENOSPC)
    print("\n" + "\n".join(stderr))


@pytest.mark.skipif(not mount_permitted(), reason="mounting is not permitted here")
def test_a_read_only_mount_is_told_once_each_way(tmp_path: Path) -> None:
    """A read-only bind mount (EROFS): told once; remounted read-write: told once."""
    with tmpfs(tmp_path / "fs", "1m") as fs:
        view = tmp_path / "ro"
        view.mkdir()
        done = run("mount", "--bind", str(fs), str(view))
        assert done.returncode == 0, done.stderr
        try:
            done = run("mount", "-o", "remount,bind,ro", str(view))
            assert done.returncode == 0, done.stderr
            fix = f"subprocess.run(['mount', '-o', 'remount,bind,rw', {str(view)!r}], check=True)"
            check_failure_told(view / "app.jsonl", fix, f"EROFS: {os.strerror(errno.EROFS)}")
        finally:
            unmount(view)


def test_a_parent_that_is_a_file_is_told_once_each_way(tmp_path: Path) -> None:
    """ENOTDIR (the directory is a file): told once; once it is a directory: told once."""
    parent = tmp_path / "logs"
    parent.write_bytes(b"not a directory")
    fix = f"os.unlink({str(parent)!r}); os.mkdir({str(parent)!r})"
    check_failure_told(parent / "app.jsonl", fix, f"ENOTDIR: {os.strerror(errno.ENOTDIR)}")


def test_each_failure_episode_is_told_once_and_a_custom_name_shows_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fail, fail, write, write, fail: three warnings (not one per batch), naming the path."""
    told: list[str] = []
    monkeypatch.setattr(_notice, "warn", told.append)
    path = tmp_path / "app.jsonl"
    path.symlink_to("/dev/full")
    sink = FileSink(path, name="audit")
    one = Batch.from_events([b'{"i":1}'])
    assert [sink.write(one) for _ in range(3)] == [Outcome(0, {"write_error": 1})] * 3
    path.unlink()
    assert [sink.write(one), sink.write(one)] == [None, None]
    path.unlink()
    path.symlink_to("/dev/full")
    assert sink.write(one) is not None
    sink.close()
    where = f"audit ({path})"
    assert told == [
        f"sink {where} cannot write ({ENOSPC}); batches are dropped (write_error) until it can",
        f"sink {where} writes again (3 events dropped as write_error while it could not)",
        f"sink {where} cannot write ({ENOSPC}); batches are dropped (write_error) until it can",
    ]


# ---------------------------------------------------------------------- streams
#: Logs argv[2] events to the sink URI argv[1], flushes, prints its counters on stderr.
STREAM_CHILD = r"""
import json, sys
import nglogger

uri, n = sys.argv[1], int(sys.argv[2])
pipeline = nglogger.configure(sinks=[uri], batch_max_events=50, report_interval=0)
log = nglogger.get_logger("stream")
for i in range(n):
    log.info("event", id=i, pad="x" * 100)
flushed = pipeline.flush(30.0)
(st,) = pipeline.stats().sinks.values()
print("COUNTS " + json.dumps([flushed, st.accepted, st.exported, dict(st.dropped)]), file=sys.stderr)
"""

N = 3000  # about 450 KB: several times a pipe's buffer, so writes block on the reader


def counts(stderr: str) -> list[Any]:
    (line,) = [x for x in stderr.splitlines() if x.startswith("COUNTS ")]
    return list(json.loads(line[len("COUNTS ") :]))


class FifoReader:
    """Reads a FIFO to its end on a thread; a spare writer keeps it from ending early."""

    def __init__(self, fifo: Path) -> None:
        self.fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # does not wait for a writer
        os.set_blocking(self.fd, True)
        self.spare = os.open(fifo, os.O_WRONLY)  # until the child is done
        self.data = bytearray()
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while chunk := os.read(self.fd, 65536):
            self.data += chunk

    def finish(self) -> bytes:
        os.close(self.spare)
        self.thread.join(TIMEOUT)
        assert not self.thread.is_alive()
        os.close(self.fd)
        return bytes(self.data)


def test_a_fifo_with_a_reader_gets_every_event_counted_exported(tmp_path: Path) -> None:
    """3,000 events through a FIFO: all read, all exported, no undelivered summary."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    try:
        done = run_dumping([f"file://{fifo}", str(N)], code=STREAM_CHILD, timeout=TIMEOUT)
    finally:
        data = reader.finish()
    assert done.returncode == 0, done.stderr
    assert counts(done.stderr) == [True, N, N, {}]
    assert [json.loads(line)["id"] for line in data.splitlines()] == list(range(N))
    assert "undelivered" not in done.stderr
    assert "cannot write" not in done.stderr


def test_dev_stdout_on_a_pipe_gets_every_event_counted_exported(tmp_path: Path) -> None:
    """file:///dev/stdout with stdout a pipe: every line arrives, counted exported."""
    done = run_dumping(["file:///dev/stdout", str(N)], code=STREAM_CHILD, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert counts(done.stderr) == [True, N, N, {}]
    assert [json.loads(line)["id"] for line in done.stdout.splitlines()] == list(range(N))
    assert "undelivered" not in done.stderr


def test_dev_stdout_to_a_file_is_never_rotated_or_renamed(tmp_path: Path) -> None:
    """/dev/stdout reaching a regular file, with max_bytes: written whole, /dev untouched."""
    out = tmp_path / "stdout.log"
    uri = "file:///dev/stdout?max_bytes=2000&backups=2"
    with out.open("w") as stdout:
        done = run_dumping([uri, "200"], code=STREAM_CHILD, timeout=TIMEOUT, stdout=stdout.fileno())
    assert done.returncode == 0, done.stderr
    assert counts(done.stderr) == [True, 200, 200, {}]
    assert [json.loads(line)["id"] for line in out.read_bytes().splitlines()] == list(range(200))
    assert not os.path.lexists("/dev/stdout.1")
    assert os.path.islink("/dev/stdout")
    warning = (
        "nglogger: sink file:/dev/stdout: /dev/stdout is one of the process's descriptors, "
        "written as a stream; rotation (max_bytes, rotate, compress, max_age) does not apply to it"
    )
    assert warning in done.stderr.splitlines()


def test_a_fifo_without_a_reader_fails_at_once_and_says_why(tmp_path: Path) -> None:
    """No reader: batches are write_error (ENXIO) at once, told once; the process exits."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    done = run_dumping([f"file://{fifo}", "120"], code=STREAM_CHILD, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    assert counts(done.stderr) == [True, 120, 0, {"write_error": 120}]
    error = "ENXIO: no process has the FIFO open for reading"
    lines = done.stderr.splitlines()
    failing = (
        f"nglogger: sink file:{fifo} cannot write ({error}); "
        "batches are dropped (write_error) until it can"
    )
    assert [x for x in lines if "cannot write" in x] == [failing]
    assert f"nglogger: sink file:{fifo}: 120 of 120 events undelivered (120 write_error); " in (
        done.stderr
    )


STUCK_CHILD = r"""
import sys
import nglogger

nglogger.configure(sinks=[sys.argv[1]], batch_max_events=50, shutdown_timeout=1.0)
log = nglogger.get_logger("stuck")
for i in range(3000):
    log.info("event", id=i, pad="x" * 100)
print("logged", file=sys.stderr, flush=True)
"""


@pytest.mark.slow
def test_a_fifo_whose_reader_stops_reading_does_not_keep_the_process_from_exiting(
    tmp_path: Path,
) -> None:
    """The reader holds the FIFO open but reads nothing: the exit deadline abandons the sink."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    holder = os.open(fifo, os.O_RDWR)  # a reader that never reads (and never ends)
    try:
        capacity = fcntl.fcntl(holder, fcntl.F_GETPIPE_SZ)
        done = run_dumping([f"file://{fifo}"], code=STUCK_CHILD, timeout=TIMEOUT)
    finally:
        os.close(holder)
    assert done.returncode == 0, done.stderr
    assert "logged" in done.stderr
    (summary,) = [x for x in done.stderr.splitlines() if "undelivered" in x]
    assert "shutdown_deadline" in summary
    undelivered = int(summary.split(": ", 2)[2].split(" of ")[0])
    assert 0 < undelivered < 3000  # what fitted in the pipe was delivered
    assert (3000 - undelivered) * 100 <= capacity  # events are over 100 bytes


CUT_CHILD = r"""
import json, os, sys, threading
from nglogger._core.batch import Batch
from nglogger.sinks.file import FileSink

fifo = sys.argv[1]
reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
os.set_blocking(reader, True)
sink = FileSink(fifo)
batch = Batch.from_events([b'{"i":%d,"pad":"%s"}' % (i, b"y" * 100) for i in range(3000)])
got = bytearray()

def read_some_then_leave():
    while len(got) < 100_000:
        got.extend(os.read(reader, 65536))
    os.close(reader)

thread = threading.Thread(target=read_some_then_leave, daemon=True)
thread.start()
outcome = sink.write(batch)
thread.join(30)
sink.close()
print(json.dumps([outcome.exported, dict(outcome.dropped), got.count(b"\n"), sink.last_error]))
"""


def test_a_stream_cut_part_way_counts_the_whole_lines_that_went_out(tmp_path: Path) -> None:
    """The reader goes away mid-batch (EPIPE): lines already sent are exported, not dropped."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    done = run_dumping([str(fifo)], code=CUT_CHILD, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    exported, dropped, seen, last_error = json.loads(done.stdout)
    assert exported + dropped["write_error"] == 3000
    assert seen <= exported < 3000  # at least every line the reader received
    assert last_error == f"EPIPE: {os.strerror(errno.EPIPE)}"


def test_streams_are_never_seeked_truncated_fsynced_or_rotated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO sink with fsync=batch and max_bytes: plain writes only, each batch exported."""
    fifo = tmp_path / "events.fifo"
    os.mkfifo(fifo)
    reader = FifoReader(fifo)
    calls: list[str] = []
    for name in ("lseek", "fsync", "ftruncate"):
        real = getattr(os, name)

        def spy(*args: Any, _name: str = name, _real: Any = real) -> Any:
            calls.append(_name)
            return _real(*args)

        monkeypatch.setattr(os, name, spy)
    told: list[str] = []
    monkeypatch.setattr(_notice, "warn", told.append)
    sink = FileSink(fifo, fsync="batch", max_bytes=100, backups=2)
    outcomes = [sink.write(Batch.from_events([b'{"i":%d}' % i] * 3)) for i in range(20)]
    sink.close()
    monkeypatch.undo()
    data = reader.finish()
    assert outcomes == [None] * 20
    assert calls == []
    assert len(data.splitlines()) == 60
    assert sorted(p.name for p in tmp_path.iterdir()) == ["events.fifo"]
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    stream = (
        f"sink file:{fifo}: {fifo} is a FIFO, written as a stream; "
        "rotation (max_bytes, rotate, compress, max_age) does not apply to it"
    )
    assert told == [stream]
