"""``nglogger bench``'s spool scenario: MB/s into the spool against a plain file sink.

Both write the same 1,000-event batches (~190 KB each) on one thread, as a sink's
threads do: the spool with its default ``interval`` fsync (record framing, checksum,
``writev``), the file sink with its default (no fsync). Reading back (replay: read,
verify, acknowledge) is measured too, and so is what a caller sees: log calls per
second while the sink is down and every batch goes to the spool, against the same
calls into a null sink (the disk work happens on the sink's spool thread, not the
caller's). Disk and scheduler speed: shown, never gated.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path

import orjson

from .._config.config import Config
from .._core.batch import Batch
from .._core.sink import Outcome
from .._event.logger import Logger
from .._pipeline.pipeline import Pipeline
from .._spool.records import Corrupt
from .._spool.store import Spool
from ..sinks.file import FileSink
from ..sinks.memory import NullSink

__all__ = ["Figure", "spool_figures"]

#: (metric, value, unit, ratio, note)
Figure = tuple[str, float, str, "float | None", str]
Swap = Callable[[Config], AbstractContextManager[Pipeline]]

_MiB = 1024 * 1024


class _Down:
    """A sink whose backend is down: never ready (every batch stays in the spool)."""

    name = "down"

    def write(self, batch: Batch) -> Outcome:
        return Outcome(0, {}, batch)

    def ready_in(self) -> float:
        return 3600.0

    def close(self) -> None:
        pass


def _batch(seq: int) -> Batch:
    events = [
        orjson.dumps(
            {
                "timestamp": "2026-12-02T01:02:03.456Z",
                "level": "info",
                "logger": "app",
                "message": "request handled",
                "i": seq * 1000 + i,
                "path": "/api/v1/items",
                "status": 200,
                "duration_ms": 12.5,
            }
        )
        for i in range(1000)
    ]
    return Batch.from_events(events, seq)


def spool_figures(*, quick: bool, progress: Callable[[str], None], swap: Swap) -> list[Figure]:
    """MB/s written to and replayed from the spool, vs a file sink; the caller's rate.

    ``swap(config)`` installs a pipeline as the default one for a ``with`` block.
    """
    total = (16 if quick else 128) * _MiB
    batch = _batch(1)
    rounds = max(1, total // batch.nbytes)
    mb = rounds * batch.nbytes / _MiB
    progress(f"spool: {mb:.0f} MB of batches to the spool and to a file sink")
    with tempfile.TemporaryDirectory() as tmp:
        spool = Spool(str(Path(tmp) / "spool"), max_bytes=4 * total)
        spool.open()
        start = time.perf_counter()
        for _ in range(rounds):
            spool.append(batch.data, batch.count, loaded=False)
        spool.sync()
        write_s = time.perf_counter() - start
        start = time.perf_counter()
        while (record := spool.read()) is not None:
            if not isinstance(record, Corrupt):
                spool.ack([record[0]])
        read_s = time.perf_counter() - start
        spool.close()
        sink = FileSink(Path(tmp) / "plain.jsonl")
        start = time.perf_counter()
        for _ in range(rounds):
            sink.write(batch)
        sink.close()
        file_s = time.perf_counter() - start
    spool_rate = mb / write_s
    file_rate = mb / file_s
    caller, ratio, kept, absorbed = _caller_rate(quick=quick, swap=swap)
    return [
        (
            "write_mb_per_second",
            round(spool_rate, 1),
            "MB/s",
            round(spool_rate / file_rate, 3),
            "1000-event batches, fsync every 1 s; ratio: /file sink",
        ),
        ("file_sink_mb_per_second", round(file_rate, 1), "MB/s", None, "the same batches"),
        ("replay_mb_per_second", round(mb / read_s, 1), "MB/s", None, "read, verified, acked"),
        (
            "caller_events_per_second",
            round(caller),
            "ev/s",
            round(ratio, 3),
            "1 KB log calls while every batch goes to the spool; ratio: /null sink",
        ),
        (
            "caller_spooled_fraction",
            round(kept, 4),
            "",
            None,
            "of those events, the part the spool took (the rest: sink_queue_full)",
        ),
        (
            "caller_spooled_mb_per_second",
            round(absorbed, 1),
            "MB/s",
            None,
            "what the spool thread wrote while the caller logged flat out",
        ),
    ]


def _caller_rate(*, quick: bool, swap: Swap) -> tuple[float, float, float, float]:
    """1 KB log calls per second with every batch going to the spool, against a null sink.

    Returns the rate, its ratio to the null sink's, the fraction of the events the spool
    took, and the MB/s it wrote meanwhile (the application and the spool thread share
    the interpreter).
    """
    events = 50_000 if quick else 200_000
    body = "x" * 1000
    rates: dict[str, float] = {}
    kept = absorbed = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for label, config in (
            ("null", Config(sinks=[NullSink()])),
            ("spool", Config(sinks=[_Down()], spool_dir=tmp)),
        ):
            with swap(config) as pipeline:
                log = Logger("bench")
                start = time.perf_counter()
                for i in range(events):
                    log.info("request handled", status=200, i=i, body=body)
                rates[label] = events / (time.perf_counter() - start)
                pipeline.flush(0.2)
                if label == "spool":
                    sink = next(iter(pipeline.stats().sinks.values()))
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:
                        sink = next(iter(pipeline.stats().sinks.values()))
                        if sink.spooled_events + sum(sink.dropped.values()) >= sink.accepted:
                            break
                        time.sleep(0.01)
                    elapsed = time.perf_counter() - start
                    kept = sink.spooled_events / events
                    absorbed = sink.spooled_bytes / _MiB / elapsed
    return rates["spool"], rates["spool"] / rates["null"], kept, absorbed
