"""The scenarios behind ``nglogger bench``: speed as ratios to a floor, memory in bytes.

Speed is reported relative to a floor measured in the same run (build the event dict,
``orjson.dumps`` it, ``time.time_ns()``, append to a ``bytearray``), so results compare
across machines (``speed.py``). Memory is measured with tracemalloc (``memory.py``),
throughput to a file and into the spool is shown (``throughput.py``). Every scenario
builds its own pipeline and shuts it down; the default pipeline of the calling process
is saved and restored. :func:`run` runs them all, the speed scenarios in fresh
interpreters; ``gate.py`` compares the report with a saved one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import orjson

from .._core.notice import muted
from .._event.keyscan import engine
from .._event.logger import ACCELERATOR
from .memory import deep_clone, memory, stalled_sink
from .report import Report, combined
from .speed import fan_out, scan_cost, speed
from .throughput import file_throughput, spool_throughput

__all__ = ["SPEED_PROCESSES", "run", "speed_worker"]

#: Speed is measured in this many fresh interpreters: a process's memory layout and hash
#: seed move some ratios by 10-20% from one run to the next, more than the noise within a run.
SPEED_PROCESSES = 3


def run(
    *,
    quick: bool = False,
    progress: Callable[[str], None] = lambda _: None,
    processes: int = SPEED_PROCESSES,
) -> Report:
    """Run every scenario and return the report.

    The speed scenarios run in ``processes`` fresh interpreters one after the other (0:
    in this process); each figure is then the median over the processes, and its band
    spans every process's quartiles of its rounds (from the lowest lower quartile to the
    highest upper one): the noise within and between processes.
    """
    import platform
    import sys

    report = Report(
        environment={
            "python": sys.version.split()[0],
            "implementation": platform.python_implementation(),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "orjson": orjson.__version__,
            "redaction_scan": engine(),
            "redaction_scan_ns_per_byte": scan_cost(),
            "log_call": ACCELERATOR,
            "quick": quick,
            "speed_processes": processes,
        }
    )
    # The scenarios stall sinks and fill queues on purpose: their drops are figures of the
    # report ("19004 of 20000 events dropped (counted)"), not warnings for the reader.
    with muted():
        if processes:
            _speed_in_processes(report, quick=quick, progress=progress, processes=processes)
        else:
            speed(report, quick=quick, progress=progress)
            fan_out(report, quick=quick, progress=progress)
        for scenario in (memory, stalled_sink, deep_clone, file_throughput, spool_throughput):
            scenario(report, quick=quick, progress=progress)
    return report


def speed_worker(quick: bool) -> None:
    """Entry point of one speed process: the results as JSON on stdout."""
    import sys

    report = Report()
    with muted():
        speed(report, quick=quick, progress=lambda _text: None)
        fan_out(report, quick=quick, progress=lambda _text: None)
    sys.stdout.write(orjson.dumps([asdict(r) for r in report.results]).decode())


def _speed_in_processes(
    report: Report, *, quick: bool, progress: Callable[[str], None], processes: int
) -> None:
    import subprocess
    import sys

    package_root = str(Path(__file__).resolve().parents[2])  # the directory holding nglogger/
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH")) if p)
    code = f"from nglogger._bench.harness import speed_worker; speed_worker({quick!r})"
    runs: list[list[dict[str, Any]]] = []
    for i in range(processes):
        progress(f"speed: process {i + 1} of {processes}")
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-c", code],
            capture_output=True,
            env=env,
            check=False,
            timeout=1800,
        )
        if done.returncode != 0:
            raise RuntimeError(f"speed process failed: {done.stderr.decode()[-2000:]}")
        runs.append(orjson.loads(done.stdout))
    for first in runs[0]:
        key = (first["scenario"], first["metric"])
        same = [r for run in runs for r in run if (r["scenario"], r["metric"]) == key]
        report.add(combined(first, same))
