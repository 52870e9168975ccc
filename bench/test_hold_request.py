"""hold-request: one request's ten calls, inside a hold that discards them, and without one.

What a request that succeeds costs under ``nglogger.hold()`` (the middleware's case): the
hold's entry, ten DEBUG calls (DEBUG disabled globally) kept in its buffer, and its end,
which discards them; the same with an ERROR last, which sends the nine on; against ten
INFO calls delivered without a hold and ten floor calls.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import _scenarios as S
import pytest

import nglogger

pytestmark = pytest.mark.benchmark(group="hold-request")


@contextmanager
def _request(kind: str) -> Iterator[S.Call]:
    """One request's ten calls: ``plain`` at INFO without a hold; ``discarded``: ten DEBUG in a
    hold that ends quietly; ``failed``: nine DEBUG and an ERROR that sends them on."""
    log = S._nglogger(1, None)
    fields = dict(S.OBJECT)

    def plain() -> None:
        for _ in range(10):
            log.info(S.MESSAGE, **fields)

    def discarded() -> None:
        with nglogger.hold():
            for _ in range(10):
                log.debug(S.MESSAGE, **fields)

    def failed() -> None:
        with nglogger.hold():
            for _ in range(9):
                log.debug(S.MESSAGE, **fields)
            log.error(S.MESSAGE, **fields)

    try:
        yield {"plain": plain, "discarded": discarded, "failed": failed}[kind], (), {}
    finally:
        nglogger.shutdown()


def test_floor(benchmark):
    """Floor of the request group: the floor call ten times."""
    floor = S.Floor()

    @contextmanager
    def ten() -> Iterator[S.Call]:
        def calls() -> None:
            for _ in range(10):
                floor.info(S.MESSAGE, **S.OBJECT)

        yield calls, (), {}

    S.run(benchmark, ten)


def test_nglogger_request_without_hold(benchmark):
    """Ten INFO calls, no hold: delivered."""
    S.run(benchmark, partial(_request, "plain"))


def test_nglogger_request_held_and_discarded(benchmark):
    """A hold, ten DEBUG calls kept, the hold's end discarding them (a request that succeeded).

    The discarded events are counted ``held_discarded`` (what a hold is for, not a loss):
    the smoke run's no-drop check looks at every other reason.
    """
    if not getattr(benchmark, "disabled", False):
        S.run(benchmark, partial(_request, "discarded"))
        return
    with _request("discarded") as (function, args, kwargs):
        benchmark(function, *args, **kwargs)
        assert nglogger.flush(5.0)
        dropped = dict(nglogger.stats().dropped)
        assert dropped.pop("held_discarded") == 10
        assert dropped == {}


def test_nglogger_request_held_and_sent(benchmark):
    """A hold, nine DEBUG calls kept, an ERROR sending them on before itself (a failed request)."""
    S.run(benchmark, partial(_request, "failed"))
