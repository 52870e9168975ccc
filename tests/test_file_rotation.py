"""The file sink's dated rotation: daily/hourly periods on a fake clock, gzip, retention.

Real files in ``tmp_path``; the clock is injected (``now=``), so crossing midnight or
an hour is one assignment. Exact file names and contents are asserted.
"""

from __future__ import annotations

import calendar
import gzip
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from nglogger._config.sinkuri import parse_sink_uri
from nglogger._core.batch import Batch
from nglogger._core.errors import ConfigError
from nglogger.sinks import resolve_sink
from nglogger.sinks._rotation import CHUNK
from nglogger.sinks.file import FileSink

WAIT = 30.0


class Clock:
    """A settable wall clock (epoch seconds)."""

    def __init__(self, t: float) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def utc(text: str) -> float:
    """``"2026-12-01 23:59:59"`` (UTC) as epoch seconds."""
    return float(calendar.timegm(time.strptime(text, "%Y-%m-%d %H:%M:%S")))


def batch(*ids: int) -> Batch:
    return Batch.from_events([b'{"i":%d}' % i for i in ids])


def content(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.name.endswith(".gz") else data


def names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def local_tz(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local time is US Eastern (POSIX rule: no tz database needed), restored afterwards."""
    monkeypatch.setenv("TZ", "EST5EDT,M3.2.0,M11.1.0")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_daily_rotation_at_utc_midnight(tmp_path: Path) -> None:
    """utc=True: a batch after midnight goes to a new file; the old one is named by its date."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-01 23:59:58"))
    sink = FileSink(path, rotate="daily", utc=True, now=clock)
    assert sink.write(batch(1, 2)) is None
    clock.t = utc("2026-12-01 23:59:59")
    assert sink.write(batch(3)) is None
    clock.t = utc("2026-12-02 00:00:00")
    assert sink.write(batch(4)) is None
    clock.t = utc("2026-12-02 13:00:00")
    assert sink.write(batch(5)) is None
    sink.close()
    assert ["app.ndjson", "app.ndjson.2026-12-01"] == names(tmp_path)
    assert b'{"i":1}\n{"i":2}\n{"i":3}\n' == (tmp_path / "app.ndjson.2026-12-01").read_bytes()
    assert b'{"i":4}\n{"i":5}\n' == path.read_bytes()


def test_hourly_rotation_names_each_hour(tmp_path: Path) -> None:
    """rotate="hourly": one file per hour written, named YYYY-MM-DD_HH; idle hours make none."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-01 22:10:00"))
    sink = FileSink(path, rotate="hourly", utc=True, now=clock)
    sink.write(batch(1))
    clock.t = utc("2026-12-01 23:00:00")
    sink.write(batch(2))
    clock.t = utc("2026-12-02 02:30:00")  # two idle hours
    sink.write(batch(3))
    sink.close()
    assert ["app.ndjson", "app.ndjson.2026-12-01_22", "app.ndjson.2026-12-01_23"] == names(tmp_path)
    assert b'{"i":1}\n' == (tmp_path / "app.ndjson.2026-12-01_22").read_bytes()
    assert b'{"i":2}\n' == (tmp_path / "app.ndjson.2026-12-01_23").read_bytes()
    assert b'{"i":3}\n' == path.read_bytes()


def test_local_time_is_the_default_like_timed_rotating_file_handler(
    tmp_path: Path, local_tz: None
) -> None:
    """Without utc=True the day ends at local midnight (05:00 UTC in EST), named locally."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-02 04:59:59"))  # 23:59:59 EST on Dec 1
    sink = FileSink(path, rotate="daily", now=clock)
    sink.write(batch(1))
    clock.t = utc("2026-12-02 05:00:00")  # local midnight
    sink.write(batch(2))
    sink.close()
    assert ["app.ndjson", "app.ndjson.2026-12-01"] == names(tmp_path)
    assert b'{"i":2}\n' == path.read_bytes()


def test_local_daily_rotation_across_a_dst_change(tmp_path: Path, local_tz: None) -> None:
    """The day DST ends has 25 hours: the boundary is still the next local midnight."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-11-01 04:30:00"))  # 00:30 EDT, the day clocks go back
    sink = FileSink(path, rotate="daily", now=clock)
    sink.write(batch(1))
    clock.t = utc("2026-11-02 04:59:59")  # 23:59:59 EST, 25 h later: still Nov 1
    sink.write(batch(2))
    clock.t = utc("2026-11-02 05:00:00")  # midnight EST
    sink.write(batch(3))
    sink.close()
    assert b'{"i":1}\n{"i":2}\n' == (tmp_path / "app.ndjson.2026-11-01").read_bytes()
    assert b'{"i":3}\n' == path.read_bytes()


def test_size_rotation_within_a_period_numbers_the_files(tmp_path: Path) -> None:
    """max_bytes with rotate: the period's files are .YYYY-MM-DD, then .1, .2 in order."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-01 10:00:00"))
    one = len(b'{"i":1}\n')
    sink = FileSink(path, rotate="daily", utc=True, max_bytes=2 * one, now=clock)
    for i in range(1, 8):
        sink.write(batch(i))
    clock.t = utc("2026-12-02 00:00:01")
    sink.write(batch(8))
    sink.close()
    day = "app.ndjson.2026-12-01"
    assert ["app.ndjson", day, f"{day}.1", f"{day}.2", f"{day}.3"] == names(tmp_path)
    chunks = [content(tmp_path / n) for n in (day, f"{day}.1", f"{day}.2", f"{day}.3")]
    assert [b'{"i":1}\n{"i":2}\n', b'{"i":3}\n{"i":4}\n', b'{"i":5}\n{"i":6}\n', b'{"i":7}\n'] == (
        chunks
    )
    assert b'{"i":8}\n' == path.read_bytes()


def test_gzip_compresses_rotated_files_off_the_writer(tmp_path: Path) -> None:
    """compress="gzip": the rotated file becomes .gz (valid gzip, same bytes), the original goes."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-01 12:00:00"))
    sink = FileSink(path, rotate="daily", utc=True, compress="gzip", now=clock)
    payload = [b'{"i":%d,"pad":"%s"}' % (i, b"y" * 500) for i in range(2000)]
    sink.write(Batch.from_events(payload))
    clock.t = utc("2026-12-02 00:00:00")
    sink.write(batch(-1))
    assert sink.wait_compressed(WAIT)
    sink.close()
    assert ["app.ndjson", "app.ndjson.2026-12-01.gz"] == names(tmp_path)
    packed = tmp_path / "app.ndjson.2026-12-01.gz"
    assert b"".join(line + b"\n" for line in payload) == gzip.decompress(packed.read_bytes())
    assert packed.stat().st_size < len(payload) * 500 // 10  # it did compress
    assert b'{"i":-1}\n' == path.read_bytes()


def test_backups_keeps_the_newest_rotated_files(tmp_path: Path) -> None:
    """backups=2: after five days only the two newest rotated files remain (compressed too)."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-01 12:00:00"))
    sink = FileSink(path, rotate="daily", utc=True, compress="gzip", backups=2, now=clock)
    for day in range(1, 6):
        clock.t = utc(f"2026-12-0{day} 12:00:00")
        sink.write(batch(day))
        assert sink.wait_compressed(WAIT)
    sink.close()
    assert ["app.ndjson", "app.ndjson.2026-12-03.gz", "app.ndjson.2026-12-04.gz"] == names(tmp_path)
    assert b'{"i":4}\n' == content(tmp_path / "app.ndjson.2026-12-04.gz")
    assert b'{"i":5}\n' == path.read_bytes()


def test_max_age_deletes_files_whose_period_ended_too_long_ago(tmp_path: Path) -> None:
    """max_age=2d: a day's file goes once its day ended more than two days ago."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-01 12:00:00"))
    sink = FileSink(path, rotate="daily", utc=True, max_age=2 * 86400, now=clock)
    sink.write(batch(1))
    clock.t = utc("2026-12-02 12:00:00")
    sink.write(batch(2))  # rotates Dec 1 (ended Dec 2 00:00, 12 h ago)
    clock.t = utc("2026-12-04 00:00:00")
    sink.write(batch(3))  # rotates Dec 2; Dec 1 ended exactly 2 days ago: kept
    assert ["app.ndjson", "app.ndjson.2026-12-01", "app.ndjson.2026-12-02"] == names(tmp_path)
    clock.t = utc("2026-12-05 00:00:01")
    sink.write(batch(4))  # rotates Dec 4; Dec 1 and Dec 2 ended over 2 days ago: deleted
    sink.close()
    assert ["app.ndjson", "app.ndjson.2026-12-04"] == names(tmp_path)
    assert b'{"i":3}\n' == (tmp_path / "app.ndjson.2026-12-04").read_bytes()


def test_a_file_from_an_earlier_period_is_rotated_at_the_first_write(tmp_path: Path) -> None:
    """A restart on a later day: yesterday's file is rotated under yesterday's date first."""
    path = tmp_path / "app.ndjson"
    path.write_bytes(b'{"i":0}\n')
    old = utc("2026-11-30 18:00:00")
    os.utime(path, (old, old))
    sink = FileSink(path, rotate="daily", utc=True, now=Clock(utc("2026-12-01 08:00:00")))
    sink.write(batch(1))
    sink.close()
    assert b'{"i":0}\n' == (tmp_path / "app.ndjson.2026-11-30").read_bytes()
    assert b'{"i":1}\n' == path.read_bytes()


def test_a_crash_before_compression_is_finished_at_the_next_start(tmp_path: Path) -> None:
    """Rotated-but-uncompressed files and a partial .gz.tmp left by a crash: fixed at start."""
    path = tmp_path / "app.ndjson"
    (tmp_path / "app.ndjson.2026-11-29").write_bytes(b'{"i":29}\n')
    (tmp_path / "app.ndjson.2026-11-30").write_bytes(b'{"i":30}\n')
    (tmp_path / "app.ndjson.2026-11-30.gz.tmp").write_bytes(b"\x1f\x8b partial")
    (tmp_path / "other.log.2026-11-30").write_bytes(b"not ours\n")
    sink = FileSink(
        path, rotate="daily", utc=True, compress="gzip", now=Clock(utc("2026-12-01 08:00:00"))
    )
    sink.write(batch(1))
    assert sink.wait_compressed(WAIT)
    sink.close()
    assert [
        "app.ndjson",
        "app.ndjson.2026-11-29.gz",
        "app.ndjson.2026-11-30.gz",
        "other.log.2026-11-30",
    ] == names(tmp_path)
    assert b'{"i":29}\n' == content(tmp_path / "app.ndjson.2026-11-29.gz")
    assert b'{"i":30}\n' == content(tmp_path / "app.ndjson.2026-11-30.gz")


def test_a_process_killed_while_compressing_leaves_every_line_readable(tmp_path: Path) -> None:
    """SIGKILL during gzip: the rotated file is intact; the next sink compresses it whole."""
    path = tmp_path / "app.ndjson"
    script = f"""
import os, signal, gzip
from pathlib import Path
from nglogger._core.batch import Batch
from nglogger.sinks.file import FileSink
from nglogger.sinks import _rotation
real = _rotation.gzip.GzipFile
class Dying(real):
    def write(self, data):
        n = super().write(data)
        os.kill(os.getpid(), signal.SIGKILL)  # mid-compression, after the first chunk
        return n
_rotation.gzip.GzipFile = Dying
t = [{utc("2026-12-01 12:00:00")}]
sink = FileSink({str(path)!r}, rotate="daily", utc=True, compress="gzip", now=lambda: t[0])
sink.write(Batch.from_events([b'{{"i":%d,"p":"%s"}}' % (i, b"z" * 300) for i in range(1000)]))
t[0] = {utc("2026-12-02 00:00:00")}
sink.write(Batch.from_events([b'{{"i":-1}}']))
sink.wait_compressed(60)
"""
    done = subprocess.run([sys.executable, "-c", script], timeout=120, check=False)
    assert -9 == done.returncode
    rotated = tmp_path / "app.ndjson.2026-12-01"
    assert 1000 == len(rotated.read_bytes().splitlines())  # the uncompressed file, whole
    sink = FileSink(
        path, rotate="daily", utc=True, compress="gzip", now=Clock(utc("2026-12-02 01:00:00"))
    )
    sink.write(batch(-2))
    assert sink.wait_compressed(WAIT)
    sink.close()
    assert ["app.ndjson", "app.ndjson.2026-12-01.gz"] == names(tmp_path)
    assert 1000 == len(content(tmp_path / "app.ndjson.2026-12-01.gz").splitlines())
    assert b'{"i":-1}\n{"i":-2}\n' == path.read_bytes()


def test_compression_streams_in_chunks(tmp_path: Path) -> None:
    """Compressing a 20 MB file holds about one chunk: tracemalloc peak well under its size."""
    import tracemalloc

    from nglogger.sinks._rotation import Rotated

    source = tmp_path / "big.ndjson.2026-12-01"
    with source.open("wb") as out:
        line = b'{"i":1,"pad":"' + os.urandom(600).hex().encode() + b'"}\n'
        for _ in range(20 * 1024 * 1024 // len(line)):
            out.write(line)
    size = source.stat().st_size
    rotated = Rotated(
        tmp_path / "big.ndjson",
        period="daily",
        compress=True,
        backups=None,
        max_age=None,
        utc=True,
        now=time.time,
    )
    tracemalloc.start()
    try:
        rotated._compress(source)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * CHUNK, peak  # a few chunks, not the 20 MB file
    assert size == len(gzip.decompress((tmp_path / "big.ndjson.2026-12-01.gz").read_bytes()))


def test_uri_options_build_the_same_sink(tmp_path: Path) -> None:
    """?rotate=daily&compress=gzip&backups=7&max_age=14d&utc=true: the keyword form's options."""
    uri = f"file://{tmp_path}/app.ndjson?rotate=daily&compress=gzip&backups=7&max_age=14d&utc=true"
    parsed = parse_sink_uri(uri)
    assert {
        "rotate": "daily",
        "compress": "gzip",
        "backups": 7,
        "max_age": 14 * 86400.0,
        "utc": True,
    } == parsed.file
    from nglogger import Config

    sink = resolve_sink(uri, Config(sinks=(uri,)))
    assert isinstance(sink, FileSink)
    assert f"FileSink('{tmp_path}/app.ndjson', max_bytes=0, rotate='daily', fsync='never')" == repr(
        sink
    )
    assert 12 * 3600.0 == parse_sink_uri(f"file://{tmp_path}/a?max_age=12h").file["max_age"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("rotate=weekly", "bad value for rotate: 'weekly'; accepted: rotate=daily or hourly"),
        ("compress=zstd", "bad value for compress: 'zstd'; accepted: compress=gzip"),
        ("utc=maybe", "bad value for utc: 'maybe'; accepted: utc=true or false"),
        ("max_age=soon", "bad value for max_age: 'soon'; accepted: max_age=a duration > 0"),
        ("max_age=0d", "bad value for max_age: '0d'"),
        ("rotation=daily", "unknown file option 'rotation'; accepted: file options max_bytes"),
    ],
)
def test_bad_uri_options_name_option_value_and_accepted(query: str, expected: str) -> None:
    """A bad file option's error names the option, the value and what is accepted."""
    with pytest.raises(ConfigError) as caught:
        parse_sink_uri(f"file:///var/log/app.ndjson?{query}")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("kwargs", "setting"),
    [
        ({"rotate": "weekly"}, "rotate"),
        ({"compress": "bz2"}, "compress"),
        ({"max_age": 0}, "max_age"),
        ({"max_age": float("inf")}, "max_age"),
        ({"utc": "yes"}, "utc"),
        ({"now": 5}, "now"),
    ],
)
def test_bad_keyword_options_raise_config_error(
    tmp_path: Path, kwargs: dict[str, object], setting: str
) -> None:
    """FileSink(path, rotate="weekly") etc.: ConfigError naming the argument."""
    with pytest.raises(ConfigError) as caught:
        FileSink(tmp_path / "a", **kwargs)  # type: ignore[arg-type]
    assert caught.value.setting == setting


def test_numbered_size_rotation_is_unchanged_without_the_new_options(tmp_path: Path) -> None:
    """max_bytes alone keeps the numbered scheme (path.1, path.2) and its default of 5 backups."""
    path = tmp_path / "app.ndjson"
    one = len(b'{"i":1}\n')
    sink = FileSink(path, max_bytes=one)
    for i in range(1, 9):
        sink.write(batch(i))
    sink.close()
    assert ["app.ndjson", *(f"app.ndjson.{n}" for n in range(1, 6))] == names(tmp_path)
    assert b'{"i":7}\n' == (tmp_path / "app.ndjson.1").read_bytes()


def test_size_rotation_does_not_leak_descriptors(tmp_path: Path) -> None:
    """Each rotation closes the old descriptor: open fds stay constant over 50 rotations."""
    path = tmp_path / "app.ndjson"
    sink = FileSink(path, max_bytes=1, backups=2)
    sink.write(batch(0))
    before = len(os.listdir("/proc/self/fd"))
    for i in range(50):
        sink.write(batch(i))
    after = len(os.listdir("/proc/self/fd"))
    sink.close()
    assert before == after


def test_rotations_within_one_second_keep_their_order_under_retention(tmp_path: Path) -> None:
    """Size rotations stamped the same second: numbered after the highest, newest kept."""
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-01 12:00:00"))
    sink = FileSink(path, max_bytes=1, backups=2, utc=True, max_age=86400, now=clock)
    for i in range(6):
        sink.write(batch(i))
    sink.close()
    stamp = "app.ndjson.2026-12-01_12-00-00"
    assert ["app.ndjson", f"{stamp}.3", f"{stamp}.4"] == names(tmp_path)
    assert [b'{"i":3}\n', b'{"i":4}\n', b'{"i":5}\n'] == [
        (tmp_path / n).read_bytes() for n in (f"{stamp}.3", f"{stamp}.4", "app.ndjson")
    ]


def test_compression_never_blocks_the_writer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While a rotated file's gzip is held up, writes and rotations go on; it finishes after."""
    import threading

    from nglogger.sinks import _rotation

    release = threading.Event()
    entered = threading.Event()
    threads: list[str] = []
    real = _rotation.gzip.GzipFile

    class Held(real):  # type: ignore[misc, valid-type]
        def write(self, data: object) -> int:
            threads.append(threading.current_thread().name)
            entered.set()
            assert release.wait(WAIT)
            return int(super().write(data))

    monkeypatch.setattr(_rotation.gzip, "GzipFile", Held)
    path = tmp_path / "app.ndjson"
    clock = Clock(utc("2026-12-01 23:00:00"))
    sink = FileSink(path, rotate="hourly", utc=True, compress="gzip", now=clock)
    sink.write(batch(1))
    clock.t = utc("2026-12-02 00:00:00")
    sink.write(batch(2))  # rotates 23:00, whose compression is now held
    assert entered.wait(WAIT)
    clock.t = utc("2026-12-02 01:00:00")
    assert sink.write(batch(3)) is None  # the writer is not waiting for gzip
    assert not sink.wait_compressed(0)
    release.set()
    assert sink.wait_compressed(WAIT)
    sink.close()
    assert {"nglogger-gzip"} == set(threads)
    assert [
        "app.ndjson",
        "app.ndjson.2026-12-01_23.gz",
        "app.ndjson.2026-12-02_00.gz",
    ] == names(tmp_path)
    assert b'{"i":1}\n' == content(tmp_path / "app.ndjson.2026-12-01_23.gz")
    assert b'{"i":2}\n' == content(tmp_path / "app.ndjson.2026-12-02_00.gz")
    assert b'{"i":3}\n' == path.read_bytes()


SHORT_JOB = """
import sys, nglogger
nglogger.configure(sinks=[sys.argv[1]])
nglogger.get_logger("job").info("done")
"""


def test_a_short_job_that_rotates_at_its_first_write_leaves_a_gzip(tmp_path: Path) -> None:
    """A process that rotates yesterday's file and exits at once: the .gz is finished."""
    path = tmp_path / "app.ndjson"
    lines = b"".join(b'{"i":%d,"pad":"%s"}\n' % (i, b"x" * 40 * (i % 7)) for i in range(40_000))
    path.write_bytes(lines)  # ~5 MB: compression takes a while
    yesterday = time.time() - 36 * 3600
    os.utime(path, (yesterday, yesterday))
    uri = f"file://{path}?rotate=daily&compress=gzip&utc=true"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGLOGGER_")}
    subprocess.run([sys.executable, "-c", SHORT_JOB, uri], env=env, check=True, timeout=120)
    day = time.strftime("%Y-%m-%d", time.gmtime(yesterday))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.ndjson", f"app.ndjson.{day}.gz"]
    assert gzip.decompress((tmp_path / f"app.ndjson.{day}.gz").read_bytes()) == lines
    assert b'"message":"done"' in path.read_bytes()
