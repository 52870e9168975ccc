"""fan-out: the basic event with 1 and with 4 NullSinks (one shared batch per sink queue)."""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="fan-out")


def test_floor(benchmark):
    """Floor: the basic event dict + orjson.dumps + time.time_ns() + bytearray append."""
    S.run(benchmark, S.floor_info)


@pytest.mark.parametrize("sinks", [1, 4], ids=["1-sink", "4-sinks"])
def test_nglogger(benchmark, sinks):
    """nglogger: ``log.info("hello world")`` fanned out to ``sinks`` NullSinks."""
    S.run(benchmark, partial(S.nglogger_info, sinks=sinks))
