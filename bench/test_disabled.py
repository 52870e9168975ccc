"""disabled: ``log.debug("hello world")`` while the level is INFO.

The floor here is the basic enabled event, so the ratio reads as the share of
a real log call that a disabled one still costs.
"""

from __future__ import annotations

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="disabled")


def test_floor(benchmark):
    """Floor: the basic enabled event (dict + orjson.dumps + clock + append)."""
    S.run(benchmark, S.floor_info)


def test_nglogger(benchmark):
    """nglogger: ``log.debug("hello world")`` at level INFO (returns after the level check)."""
    S.run(benchmark, S.nglogger_debug)
