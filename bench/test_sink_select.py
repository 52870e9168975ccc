"""sink-select: cutting an errors-only sink's part out of a shared 1,000-event batch.

The batcher does this once per batch for each sink with a ``level`` (never in a log
call). The floor is the least a cut can do: split the batch at its newlines and join
the lines again (``bytes.split`` + ``bytes.join``); the candidate also looks at each
event's level byte and leaves the ones below ``error`` out (~10% are kept).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import _scenarios as S
import orjson
import pytest

from nglogger import Batch
from nglogger._core.levels import ERROR
from nglogger._event.timestamp import timestamp
from nglogger._pipeline.select import Selector

pytestmark = pytest.mark.benchmark(group="sink-select")

LEVELS = ["info"] * 8 + ["warning", "error"]


def _batch() -> Batch:
    events = [
        orjson.dumps(
            {
                "timestamp": timestamp(),
                "level": LEVELS[i % 10],
                "logger": "app",
                "message": S.MESSAGE,
                **S.OBJECT,
            }
        )
        for i in range(1000)
    ]
    return Batch.from_events(events)


def _split_join(batch: Batch) -> bytes:
    return b"\n".join(batch.data.split(b"\n"))


@contextmanager
def floor() -> Iterator[S.Call]:
    """Split a 1,000-event batch at its newlines and join it again."""
    yield _split_join, (_batch(),), {}


@contextmanager
def errors_only() -> Iterator[S.Call]:
    """The part of a 1,000-event batch an errors-only sink gets."""
    yield Selector(ERROR, None), (_batch(),), {}


def test_floor(benchmark):
    """Floor: split + join of the batch."""
    S.run(benchmark, floor)


def test_nglogger(benchmark):
    """nglogger: ``Selector(ERROR)(batch)``."""
    S.run(benchmark, errors_only)
