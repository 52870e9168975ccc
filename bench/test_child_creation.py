"""child-creation: ``log.bind(request_id=..., user=...)``, the per-request child logger."""

from __future__ import annotations

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="child-creation")


def test_floor(benchmark):
    """Floor: serialize the two bindings once (dict + orjson.dumps)."""
    S.run(benchmark, S.floor_child_creation)


def test_nglogger(benchmark):
    """nglogger: ``log.bind(request_id=..., user=...)`` (each value serialized once)."""
    S.run(benchmark, S.nglogger_child_creation)
