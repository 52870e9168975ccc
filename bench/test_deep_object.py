"""deep-object: a logger bound once to a ~10 KB nested context logs ``"hello world"``.

The floor re-serializes the nested context on every call (what a logger that
snapshots by serializing must do at least); nglogger splices the fragments it
serialized at ``bind`` time, so it can come in under this floor. With the
default limits a tight loop of 10 KB events outruns the background threads and
some events are dropped (the summary table counts them), so the scenario is
also measured with queues large enough to drop nothing.
"""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="deep-object")


def test_floor(benchmark):
    """Floor: the event dict with the ~10 KB nested context + orjson.dumps + clock + append."""
    S.run(benchmark, partial(S.floor_info, None, S.DEEP))


def test_nglogger(benchmark):
    """nglogger: ``info("hello world")`` on a logger bound once to the ~10 KB nested context."""
    S.run(benchmark, partial(S.nglogger_info, None, S.DEEP))


def test_nglogger_large_queues(benchmark):
    """nglogger: the same call with 128 MiB buffer and sink queue, so nothing is dropped."""
    S.run(benchmark, partial(S.nglogger_info, None, S.DEEP, **S.LARGE_QUEUES))
