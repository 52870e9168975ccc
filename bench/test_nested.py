"""nested-*: one nested field of ~1 KB, ~10 KB and ~100 KB of JSON, and a 10,000-int list.

Each size is its own group, with ``orjson.dumps`` of the same fields beside the floor:
the one walk of the data every logger must make. nglogger walks it once, in orjson,
and never in Python (``tests/test_hot_path_calls.py`` holds the call count constant).
"""

from __future__ import annotations

from functools import partial
from typing import Any

import _scenarios as S
import pytest

CASES: dict[str, dict[str, Any]] = {
    **{f"nested-{size}": {"payload": value} for size, value in S.NESTED.items()},
    "list-10k": {"items": S.LIST_10K},
}


def _group(name: str) -> Any:
    return pytest.param(CASES[name], id=name, marks=pytest.mark.benchmark(group=name))


PARAMS = [_group(name) for name in CASES]


@pytest.mark.parametrize("fields", PARAMS)
def test_floor(benchmark, fields):
    """Floor: the event dict with the nested field + orjson.dumps + time_ns + bytearray append."""
    S.run(benchmark, partial(S.floor_info, fields))


@pytest.mark.parametrize("fields", PARAMS)
def test_orjson_dumps(benchmark, fields):
    """``orjson.dumps`` of the same fields alone."""
    S.run(benchmark, partial(S.dumps_only, fields))


@pytest.mark.parametrize("fields", PARAMS)
def test_nglogger(benchmark, fields):
    """nglogger: ``log.info`` with the nested field, default redaction and limits, NullSink."""
    S.run(benchmark, partial(S.nglogger_info, fields))


@pytest.mark.parametrize("fields", PARAMS)
def test_structlog(benchmark, fields):
    """structlog (orjson renderer, BytesLogger): ``log.info`` with the nested field."""
    S.skip_if_missing("structlog")
    S.run(benchmark, partial(S.structlog_info, fields))
