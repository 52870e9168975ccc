"""loss-report and levels-file: the object event with each of them on and off.

Both work on the batcher's thread (a stats snapshot per ``loss_report`` interval; a stat
of the levels file about every second), never in the log call, so on and off should cost
the same per call; measured here so that a change which moves either onto the hot path
shows. A third subject logs after ``nglogger.set_levels`` lowered nothing: the level cells
it rewrote are what every call reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import _scenarios as S
import pytest

import nglogger

pytestmark = pytest.mark.benchmark(group="runtime-features")


def test_floor(benchmark):
    """Floor: the object event (3 fields)."""
    S.run(benchmark, partial(S.floor_info, S.OBJECT))


def test_nglogger_both_off(benchmark):
    """nglogger with neither loss_report nor levels_file (the defaults)."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT))


def test_nglogger_loss_report_on(benchmark):
    """nglogger with loss_report every second: a snapshot on the batcher's tick, not per call."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT, loss_report=1.0))


def test_nglogger_levels_file_on(benchmark, tmp_path: Path):
    """nglogger watching a levels file (the batcher re-reads it when it changes)."""
    levels = tmp_path / "levels"
    levels.write_text("bench=info\n")
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT, levels_file=str(levels)))


@contextmanager
def _after_set_levels() -> Iterator[S.Call]:
    with S.nglogger_info(S.OBJECT) as call:
        nglogger.set_levels({"bench": "info", "other": "debug"})
        yield call


def test_nglogger_after_set_levels(benchmark):
    """nglogger after set_levels rewrote every level cell (the call reads its cell as ever)."""
    S.run(benchmark, _after_set_levels)
