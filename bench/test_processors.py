"""processors: the basic event with no processor and with one trivial processor.

A processor runs on the caller's thread on a dict of the call (level, logger,
message, fields) before serialization; this measures what one costs per call.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="processors")


def identity(fields: dict[str, Any]) -> dict[str, Any]:
    """The trivial processor: returns what it was given."""
    return fields


def test_floor(benchmark):
    """Floor: the object event dict + orjson.dumps + time.time_ns() + bytearray append."""
    S.run(benchmark, partial(S.floor_info, S.OBJECT))


def test_nglogger(benchmark):
    """nglogger: ``log.info("hello world", **OBJECT)`` without processors."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT))


def test_nglogger_one_processor(benchmark):
    """nglogger: the same call through one processor that returns its fields."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT, processors=(identity,)))
