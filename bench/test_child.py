"""child: a logger bound to five context fields logs an event with two more fields."""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="child")


def test_floor(benchmark):
    """Floor: the event dict with 5 context + 2 call fields + orjson.dumps + clock + append."""
    S.run(benchmark, partial(S.floor_info, S.CALL_FIELDS, S.BOUND))


def test_nglogger(benchmark):
    """nglogger: ``log.bind(**5 fields).info("hello world", status=200, path="/x")``, info only."""
    S.run(benchmark, partial(S.nglogger_info, S.CALL_FIELDS, S.BOUND))
