"""``nglogger bench``'s throughput scenarios: events per second to a file, the spool's MB/s.

Disk and scheduler speed: shown, never gated. The spool's figures are measured in
``spool.py``.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from .._config.config import Config
from .._event.logger import Logger
from .report import Report, Result
from .scenarios import Swap
from .spool import spool_figures

__all__ = ["file_throughput", "spool_throughput"]


def file_throughput(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """Sustained events per second to a file sink, until everything is on disk."""
    events = 50_000 if quick else 200_000
    progress(f"throughput: {events} events to a file")
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "bench.jsonl")
        with Swap(Config(sinks=[f"file://{path}"])) as pipeline:
            log = Logger("bench")
            start = time.perf_counter()
            for i in range(events):
                log.info("request handled", status=200, i=i)
            pipeline.flush(60.0)
            elapsed = time.perf_counter() - start
            exported = pipeline.stats().sinks[f"file:{path}"].exported
    report.add(
        Result(
            "file",
            "events_per_second",
            round(exported / elapsed),
            "ev/s",
            None,
            f"{exported} of {events} events written",
            gate="none",  # disk and scheduler speed: shown, not gated
        )
    )


def spool_throughput(report: Report, *, quick: bool, progress: Callable[[str], None]) -> None:
    """MB/s into the spool against a plain file sink, and the caller's rate meanwhile."""
    for metric, value, unit, ratio, note in spool_figures(
        quick=quick, progress=progress, swap=Swap
    ):
        report.add(Result("spool", metric, value, unit, ratio, note, gate="none"))
