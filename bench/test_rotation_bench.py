"""file-rotation: gzip of a rotated file on the helper thread, in MB/s of input.

The rotated file is streamed through ``gzip`` in 64 KiB chunks (``_rotation.CHUNK``).
``python bench/test_rotation_bench.py`` prints the throughput of compressing a 64 MiB
NDJSON file and of a dated rotation (rename + reopen) itself.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from nglogger._core.batch import Batch
from nglogger.sinks._rotation import Rotated
from nglogger.sinks.file import FileSink

pytestmark = pytest.mark.benchmark(group="file-rotation")

LINE = b'{"timestamp":"2026-12-01T12:00:00.000000Z","level":"info","logger":"app","message":"request handled","status":200,"path":"/charge","request_id":"%08d"}\n'


def make_file(path: Path, size: int) -> int:
    """An NDJSON file of about ``size`` bytes; its exact size."""
    with path.open("wb") as out:
        written = 0
        i = 0
        while written < size:
            line = LINE % i
            out.write(line)
            written += len(line)
            i += 1
    return written


def compress_once(directory: Path, size: int) -> float:
    """Seconds to gzip one rotated file of ``size`` bytes."""
    source = directory / "app.ndjson.2026-12-01"
    make_file(source, size)
    rotated = Rotated(
        directory / "app.ndjson",
        period="daily",
        compress=True,
        backups=None,
        max_age=None,
        utc=True,
        now=time.time,
    )
    start = time.perf_counter()
    rotated._compress(source)
    elapsed = time.perf_counter() - start
    (directory / "app.ndjson.2026-12-01.gz").unlink()
    return elapsed


def test_gzip_one_mebibyte(benchmark: Any, tmp_path: Path) -> None:
    """Compress a 1 MiB rotated file (smoke mode: once)."""
    benchmark(compress_once, tmp_path, 1 << 20)


def test_dated_rotation(benchmark: Any, tmp_path: Path) -> None:
    """A size-triggered dated rotation: rename, reopen, retention scan."""
    sink = FileSink(tmp_path / "app.ndjson", max_bytes=1, backups=3, utc=True, max_age=86400)
    data = Batch.from_events([LINE.rstrip(b"\n") % 1])
    benchmark(sink.write, data)
    sink.close()


def main() -> None:
    """Print gzip throughput (MB/s of input) and the cost of a dated rotation."""
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        size = 64 << 20
        best = min(compress_once(directory, size) for _ in range(3))
        print(f"gzip of a 64 MiB rotated file: {best:.2f} s, {size / best / 1e6:.0f} MB/s")
        sink = FileSink(directory / "r.ndjson", max_bytes=1, backups=3, utc=True, max_age=86400)
        data = Batch.from_events([LINE.rstrip(b"\n") % 1])
        n = 2000
        start = time.perf_counter()
        for _ in range(n):
            sink.write(data)
        per = (time.perf_counter() - start) / n
        sink.close()
        print(f"dated rotation (rename + reopen + retention): {per * 1e6:.0f} us each")


if __name__ == "__main__":
    main()
