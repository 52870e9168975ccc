"""request-line: an ordinary request log line, six fields with ``tags=[...]``, two bound keys."""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="request-line")


def test_floor(benchmark):
    """Floor: the event dict (2 bound + 6 fields) + orjson.dumps + time_ns + bytearray append."""
    S.run(benchmark, partial(S.floor_info, S.REQUEST_FIELDS, S.REQUEST_BOUND))


def test_nglogger(benchmark):
    """nglogger: a logger bound to two keys logs the six fields."""
    S.run(benchmark, partial(S.nglogger_info, S.REQUEST_FIELDS, S.REQUEST_BOUND))


def test_structlog(benchmark):
    """structlog (orjson renderer, BytesLogger): the same event."""
    S.skip_if_missing("structlog")
    S.run(benchmark, partial(S.structlog_info, S.REQUEST_FIELDS, S.REQUEST_BOUND))


def test_picologging(benchmark):
    """picologging with an orjson formatter: the same event."""
    S.skip_if_missing("picologging")
    S.run(benchmark, partial(S.picologging_info, S.REQUEST_FIELDS, S.REQUEST_BOUND))
