"""Specification of FileSink: whole lines, rotation, external rotation, errors, fsync, fork."""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import threading
from pathlib import Path

import pytest

from nglogger._core.batch import Batch
from nglogger._core.errors import ConfigError
from nglogger.sinks._base import Outcome, Sink
from nglogger.sinks.file import FileSink


def batch(*ids: int, pad: int = 0) -> Batch:
    """A batch of events {"i": id, "p": "xxx..."} (pad characters of padding)."""
    return Batch.from_events([b'{"i":%d,"p":"%s"}' % (i, b"x" * pad) for i in ids])


def lines(path: Path) -> list[bytes]:
    """The file's events; asserts the file holds whole lines only."""
    data = path.read_bytes()
    assert data == b"" or data.endswith(b"\n"), data[-40:]
    return data.splitlines()


def ids(path: Path) -> list[int]:
    return [json.loads(line)["i"] for line in lines(path)]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record os.fsync calls instead of performing them."""
    calls: list[int] = []
    monkeypatch.setattr(os, "fsync", calls.append)
    return calls


# -- construction --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"max_bytes": -1}, "max_bytes"),
        ({"max_bytes": 1.5}, "max_bytes"),
        ({"max_bytes": True}, "max_bytes"),
        ({"backups": -1}, "backups"),
        ({"backups": 1001}, "backups"),
        ({"fsync": "always"}, "fsync"),
        ({"fsync_interval": 0}, "fsync_interval"),
        ({"fsync_interval": -1.0}, "fsync_interval"),
        ({"fsync_interval": float("nan")}, "fsync_interval"),
        ({"fsync_interval": float("inf")}, "fsync_interval"),
        ({"mode": 0o10000}, "mode"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_arguments_raise_config_error_naming_setting_and_value(
    tmp_path: Path, kwargs: dict[str, object], setting: str
) -> None:
    """A bad argument raises a ValueError naming the parameter, its value and what is accepted."""
    with pytest.raises(ValueError) as info:
        FileSink(tmp_path / "app.log", **kwargs)  # type: ignore[arg-type]
    message = str(info.value)
    assert isinstance(info.value, ConfigError)
    assert message.startswith(f"{setting}={next(iter(kwargs.values()))!r} is invalid; accepted: ")


@pytest.mark.parametrize("path", ["", b"/tmp/x", 3])
def test_bad_path_raises_config_error(path: object) -> None:
    """The path must be a non-empty str or str PathLike."""
    with pytest.raises(ConfigError, match=r"^path="):
        FileSink(path)  # type: ignore[arg-type]


def test_construction_does_no_io_and_defaults_the_name(tmp_path: Path) -> None:
    """Construction validates only: a missing directory is not an error until the first write."""
    path = tmp_path / "missing" / "app.log"
    sink = FileSink(path)
    assert f"file:{path}" == sink.name
    assert str(path) == sink.path
    assert isinstance(sink, Sink)
    assert not path.parent.exists()
    assert Outcome(0, {"write_error": 1}) == sink.write(batch(1))
    assert "ENOENT: No such file or directory" == sink.last_error


# -- writing -------------------------------------------------------------------------


def test_writes_whole_batches_in_order(tmp_path: Path) -> None:
    """Batches are appended whole, in the order written, and write returns None."""
    path = tmp_path / "app.log"
    sink = FileSink(path)
    assert sink.write(batch(1, 2, 3)) is None
    assert sink.write(batch(4)) is None
    assert sink.write(batch(5, 6)) is None
    sink.close()
    assert [1, 2, 3, 4, 5, 6] == ids(path)
    assert 0 == sink.errors
    assert sink.last_error is None


def test_appends_to_an_existing_file(tmp_path: Path) -> None:
    """An existing file is appended to, never truncated."""
    path = tmp_path / "app.log"
    path.write_bytes(b'{"i":0}\n')
    sink = FileSink(path)
    sink.write(batch(1, 2))
    sink.close()
    assert [0, 1, 2] == ids(path)


def test_new_file_gets_the_requested_mode(tmp_path: Path) -> None:
    """A file created by the sink has the permission bits asked for."""
    path = tmp_path / "app.log"
    sink = FileSink(path, mode=0o600)
    sink.write(batch(1))
    sink.close()
    assert 0o600 == path.stat().st_mode & 0o777


def test_empty_batch_is_a_no_op(tmp_path: Path) -> None:
    """A batch with no events succeeds without creating the file."""
    path = tmp_path / "app.log"
    sink = FileSink(path)
    assert sink.write(Batch(b"", 0)) is None
    assert not path.exists()


# -- rotation ------------------------------------------------------------------------


def test_rotation_keeps_whole_lines_and_the_newest_backups(tmp_path: Path) -> None:
    """Rotation shifts path -> path.1 -> path.2, keeps `backups` files, deletes the oldest."""
    path = tmp_path / "app.log"
    one = len(batch(0).data)
    sink = FileSink(path, max_bytes=2 * one, backups=2)
    for i in range(7):
        assert sink.write(batch(i)) is None
    sink.close()
    expected = {"app.log": [6], "app.log.1": [4, 5], "app.log.2": [2, 3]}
    actual = {p.name: ids(p) for p in sorted(tmp_path.iterdir())}
    assert expected == actual
    assert all(p.stat().st_size <= 2 * one for p in tmp_path.iterdir())


def test_rotation_never_splits_a_batch(tmp_path: Path) -> None:
    """A batch that would cross max_bytes goes whole into the next file."""
    path = tmp_path / "app.log"
    one = len(batch(0).data)
    sink = FileSink(path, max_bytes=3 * one, backups=1)
    sink.write(batch(1, 2))
    sink.write(batch(3, 4))
    sink.close()
    assert [1, 2] == ids(tmp_path / "app.log.1")
    assert [3, 4] == ids(path)


def test_batch_larger_than_max_bytes_goes_whole_into_a_fresh_file(tmp_path: Path) -> None:
    """A batch bigger than max_bytes is written whole, alone, into a fresh file."""
    path = tmp_path / "app.log"
    sink = FileSink(path, max_bytes=100, backups=3)
    sink.write(batch(1))
    sink.write(batch(2, 3, pad=200))
    sink.write(batch(4))
    sink.close()
    expected = {"app.log": [4], "app.log.1": [2, 3], "app.log.2": [1]}
    assert expected == {p.name: ids(p) for p in sorted(tmp_path.iterdir())}


def test_rotation_applies_to_an_existing_file_at_first_write(tmp_path: Path) -> None:
    """An existing file already near max_bytes is rotated before the first batch."""
    path = tmp_path / "app.log"
    path.write_bytes(b'{"i":0,"p":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}\n')
    sink = FileSink(path, max_bytes=50)
    sink.write(batch(1))
    sink.close()
    assert [0] == ids(tmp_path / "app.log.1")
    assert [1] == ids(path)


def test_zero_backups_truncates_in_place(tmp_path: Path) -> None:
    """With backups=0, rotation empties the file in place and creates no backup."""
    path = tmp_path / "app.log"
    one = len(batch(0).data)
    sink = FileSink(path, max_bytes=2 * one, backups=0)
    for i in range(5):
        sink.write(batch(i))
    sink.close()
    assert ["app.log"] == [p.name for p in tmp_path.iterdir()]
    assert [4] == ids(path)


# -- external rotation ---------------------------------------------------------------


def test_file_moved_away_makes_the_next_batch_go_to_a_fresh_file(tmp_path: Path) -> None:
    """After logrotate renames the file, the next batch is written to a new file at the path."""
    path = tmp_path / "app.log"
    sink = FileSink(path)
    sink.write(batch(1))
    path.rename(tmp_path / "app.log.old")
    sink.write(batch(2))
    sink.close()
    assert [1] == ids(tmp_path / "app.log.old")
    assert [2] == ids(path)


def test_file_deleted_makes_the_next_batch_recreate_it(tmp_path: Path) -> None:
    """After the file is deleted, the next batch recreates it."""
    path = tmp_path / "app.log"
    sink = FileSink(path)
    sink.write(batch(1))
    path.unlink()
    sink.write(batch(2))
    sink.close()
    assert [2] == ids(path)


def test_file_replaced_makes_the_next_batch_go_to_the_new_file(tmp_path: Path) -> None:
    """When another file takes the path, the sink follows the path."""
    path = tmp_path / "app.log"
    sink = FileSink(path)
    sink.write(batch(1))
    path.rename(tmp_path / "app.log.old")
    path.write_bytes(b'{"i":0}\n')
    sink.write(batch(2))
    sink.close()
    assert [0, 2] == ids(path)


# -- errors --------------------------------------------------------------------------


def test_disk_full_drops_the_batch_without_raising() -> None:
    """ENOSPC is reported as dropped write_error, recorded by name, never raised."""
    sink = FileSink("/dev/full")
    assert Outcome(0, {"write_error": 2}) == sink.write(batch(1, 2))
    assert Outcome(0, {"write_error": 1}) == sink.write(batch(3))
    assert 2 == sink.errors
    assert f"ENOSPC: {os.strerror(errno.ENOSPC)}" == sink.last_error
    sink.close()


def test_partial_write_failure_is_truncated_back_to_whole_lines(tmp_path: Path) -> None:
    """A write that fails halfway is cut back out, so the file never ends with half an event."""
    path = tmp_path / "app.log"
    path.write_bytes(b'{"i":0}\n')
    sink = FileSink(path)
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: a file size limit makes the kernel accept part of the batch only
        status = 1
        try:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
            hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
            resource.setrlimit(resource.RLIMIT_FSIZE, (100, hard))
            outcome = sink.write(batch(1, 2, 3, pad=20))
            os.write(write_fd, repr((outcome, sink.last_error)).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_fd)
    with os.fdopen(read_fd, "rb") as pipe:
        report = pipe.read().decode()
    assert 0 == os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    expected = repr((Outcome(0, {"write_error": 3}), f"EFBIG: {os.strerror(errno.EFBIG)}"))
    assert expected == report
    assert [0] == ids(path)


def test_error_then_recovery_once_the_cause_is_fixed(tmp_path: Path) -> None:
    """A path that cannot be opened (a directory) drops batches; once fixed, writing resumes."""
    path = tmp_path / "app.log"
    path.mkdir()
    sink = FileSink(path)
    assert Outcome(0, {"write_error": 1}) == sink.write(batch(1))
    assert f"EISDIR: {os.strerror(errno.EISDIR)}" == sink.last_error
    path.rmdir()
    assert sink.write(batch(2)) is None
    sink.close()
    assert [2] == ids(path)
    assert 1 == sink.errors


def test_fsync_failure_drops_and_truncates_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With fsync="batch", a batch whose fsync fails is reported dropped and cut from the file."""
    path = tmp_path / "app.log"
    sink = FileSink(path, fsync="batch")
    monkeypatch.setattr(os, "fsync", lambda fd: None)
    sink.write(batch(1))

    def failing(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", failing)
    assert Outcome(0, {"write_error": 1}) == sink.write(batch(2))
    assert f"EIO: {os.strerror(errno.EIO)}" == sink.last_error
    assert [1] == ids(path)


# -- fsync policy --------------------------------------------------------------------


def test_fsync_never_does_not_fsync(tmp_path: Path, fsyncs: list[int]) -> None:
    """The default policy never calls fsync, not even on close."""
    sink = FileSink(tmp_path / "app.log")
    sink.write(batch(1))
    sink.close()
    assert [] == fsyncs


def test_fsync_batch_syncs_every_batch(tmp_path: Path, fsyncs: list[int]) -> None:
    """fsync="batch" syncs after each batch; close adds nothing when all is synced."""
    sink = FileSink(tmp_path / "app.log", fsync="batch")
    for i in range(3):
        sink.write(batch(i))
    sink.close()
    assert 3 == len(fsyncs)


def test_fsync_interval_follows_the_clock_and_close(tmp_path: Path, fsyncs: list[int]) -> None:
    """fsync="interval" syncs once the interval has passed since the last sync, and on close."""
    clock = FakeClock()
    sink = FileSink(tmp_path / "app.log", fsync="interval", fsync_interval=1.0, clock=clock)
    sink.write(batch(1))
    clock.now = 0.5
    sink.write(batch(2))
    assert 0 == len(fsyncs)
    clock.now = 1.0
    sink.write(batch(3))
    assert 1 == len(fsyncs)
    clock.now = 1.9
    sink.write(batch(4))
    assert 1 == len(fsyncs)
    clock.now = 2.0
    sink.write(batch(5))
    assert 2 == len(fsyncs)
    clock.now = 2.1
    sink.write(batch(6))
    sink.close()
    assert 3 == len(fsyncs)


def test_rotation_syncs_the_old_file_first(tmp_path: Path, fsyncs: list[int]) -> None:
    """Unless fsync="never", unsynced data is synced before its file is rotated away."""
    clock = FakeClock()
    one = len(batch(0).data)
    sink = FileSink(tmp_path / "app.log", max_bytes=one, fsync="interval", clock=clock)
    sink.write(batch(1))
    assert 0 == len(fsyncs)
    sink.write(batch(2))
    assert 1 == len(fsyncs)
    sink.close()
    assert 2 == len(fsyncs)


# -- close and threads ---------------------------------------------------------------


def test_close_is_idempotent(tmp_path: Path) -> None:
    """close() may be called any number of times, before or after writing."""
    FileSink(tmp_path / "never.log").close()
    sink = FileSink(tmp_path / "app.log")
    sink.write(batch(1))
    sink.close()
    sink.close()
    assert [1] == ids(tmp_path / "app.log")


def test_write_after_close_is_dropped_not_raised(tmp_path: Path) -> None:
    """A batch written after close is reported dropped as "closed" and the file is untouched."""
    path = tmp_path / "app.log"
    sink = FileSink(path)
    sink.write(batch(1))
    sink.close()
    assert Outcome(0, {"closed": 2}) == sink.write(batch(2, 3))
    assert [1] == ids(path)


def test_close_concurrent_with_writes_does_not_raise(tmp_path: Path) -> None:
    """Closing from another thread while batches are being written never raises in either."""
    path = tmp_path / "app.log"
    sink = FileSink(path, max_bytes=4096, backups=2)
    started = threading.Event()
    outcomes: list[Outcome | None] = []
    failures: list[BaseException] = []

    def worker() -> None:
        try:
            for i in range(2000):
                outcomes.append(sink.write(batch(i, pad=30)))
                started.set()
        except BaseException as exc:
            failures.append(exc)
            started.set()

    thread = threading.Thread(target=worker)
    thread.start()
    assert started.wait(timeout=10)
    sink.close()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert [] == failures
    written = [o for o in outcomes if o is None]
    closed = [o for o in outcomes if o is not None]
    assert all(Outcome(0, {"closed": 1}) == o for o in closed)
    assert outcomes == written + closed  # once closed, it stays closed
    on_disk = sorted(i for p in tmp_path.iterdir() for i in ids(p))
    assert on_disk[-len(written) :] == list(range(len(written)))[-len(on_disk) :]


# -- fork ----------------------------------------------------------------------------


def test_forked_child_and_parent_lines_are_all_present_and_whole(tmp_path: Path) -> None:
    """After after_fork(), a child appends through the inherited descriptor alongside the parent."""
    path = tmp_path / "app.log"
    sink = FileSink(path)
    sink.write(batch(1))
    pid = os.fork()
    if pid == 0:
        status = 1
        try:
            sink.after_fork()
            status = 0 if sink.write(batch(100, 101, pad=5000)) is None else 2
        finally:
            os._exit(status)
    sink.write(batch(2, 3, pad=5000))
    assert 0 == os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    sink.write(batch(4))
    sink.close()
    assert [1, 2, 3, 4, 100, 101] == sorted(ids(path))
    assert all(line.endswith(b'"}') for line in lines(path))


def test_after_fork_resets_the_parents_error_state(tmp_path: Path) -> None:
    """after_fork() clears the error counters that belong to the parent."""
    sink = FileSink("/dev/full")
    sink.write(batch(1))
    sink.after_fork()
    assert (0, None) == (sink.errors, sink.last_error)
    sink.close()


def test_after_fork_works_when_the_parent_held_the_lock_at_fork(tmp_path: Path) -> None:
    """A child forked while a parent thread was inside write() can still write after after_fork()."""
    path = tmp_path / "app.log"
    sink = FileSink(path)
    sink.write(batch(1))
    with sink._lock:  # what a parent worker thread mid-write looks like at fork time
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                signal.alarm(10)  # a regression deadlocks: fail the child instead of hanging
                sink.after_fork()
                status = 0 if sink.write(batch(2)) is None else 2
            finally:
                os._exit(status)
    assert 0 == os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    sink.close()
    assert [1, 2] == ids(path)
