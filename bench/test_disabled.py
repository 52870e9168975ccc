"""disabled: ``log.debug("hello world")`` while the level is INFO.

The floor here is the basic enabled event, so the ratio reads as the share of
a real log call that a disabled one still costs.
"""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

#: 50 per-logger rules, none covering the measured logger ("bench"): it stays at INFO.
RULES = {f"lib{i}.part": "warning" for i in range(48)} | {"app": "info", "app.db": "debug"}

pytestmark = pytest.mark.benchmark(group="disabled")


def test_floor(benchmark):
    """Floor: the basic enabled event (dict + orjson.dumps + clock + append)."""
    S.run(benchmark, S.floor_info)


def test_nglogger(benchmark):
    """nglogger: ``log.debug("hello world")`` at level INFO (returns after the level check)."""
    S.run(benchmark, S.nglogger_debug)


def test_nglogger_with_levels(benchmark):
    """nglogger: the same disabled call with 50 per-logger rules configured (resolved once)."""
    S.run(benchmark, partial(S.nglogger_debug, levels=RULES))
