"""request-context: the request line with ``context=`` ~10 KB of nested data (50 items, headers, a trace dict)."""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="request-context")

FIELDS = {**S.REQUEST_FIELDS, "context": S.REQUEST_CONTEXT}


def test_floor(benchmark):
    """Floor: the event dict (2 bound + 7 fields, one ~10 KB nested) + orjson.dumps + ..."""
    S.run(benchmark, partial(S.floor_info, FIELDS, S.REQUEST_BOUND))


def test_nglogger(benchmark):
    """nglogger: the nested value goes into the event as it is; one scan of the event's bytes."""
    S.run(benchmark, partial(S.nglogger_info, FIELDS, S.REQUEST_BOUND))


def test_structlog(benchmark):
    """structlog (orjson renderer, BytesLogger): the same event."""
    S.skip_if_missing("structlog")
    S.run(benchmark, partial(S.structlog_info, FIELDS, S.REQUEST_BOUND))


def test_picologging(benchmark):
    """picologging with an orjson formatter: the same event."""
    S.skip_if_missing("picologging")
    S.run(benchmark, partial(S.picologging_info, FIELDS, S.REQUEST_BOUND))
