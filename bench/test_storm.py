"""storm: the object event with the storm guard on (under its limit) and off.

The guard's cost for a call under its site's limit (one Python call, a dict lookup and
two integer updates) against the same call without it; the limit is high enough that
nothing is suppressed while measuring.
"""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="storm")


def test_floor(benchmark):
    """Floor: the object event (3 fields)."""
    S.run(benchmark, partial(S.floor_info, S.OBJECT))


def test_nglogger_guard_off(benchmark):
    """nglogger without storm_limit (the default): the guard costs one attribute read."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT))


def test_nglogger_guard_on(benchmark):
    """nglogger with storm_limit far above the call rate: every call is checked, none cut."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT, storm_limit="100000000/s"))
