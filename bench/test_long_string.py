"""long-string: ``log.info("hello world", text=<2 KB string>)``."""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="long-string")


def test_floor(benchmark):
    """Floor: the event dict with a 2 KB string field + orjson.dumps + clock + append."""
    S.run(benchmark, partial(S.floor_info, {"text": S.LONG}))


def test_nglogger(benchmark):
    """nglogger: ``log.info("hello world", text=<2 KB string>)`` to a NullSink."""
    S.run(benchmark, partial(S.nglogger_info, {"text": S.LONG}))
