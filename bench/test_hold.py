"""hold: the object event with holds not in use, in hold mode outside a hold, and in an opened one.

``nglogger.hold()`` switches the pipeline into hold mode while any hold is open (the log
call then goes through the hold gate and ``emit``); out of it the call is the one of
``test_nglogger_holds_off``. Measured, each against the same run's floor:

* holds off: the default call;
* in hold mode, outside a hold (a hold open on another thread): what every other
  request's calls pay while some request holds;
* inside a hold that opened (an ERROR was logged): the call passes through;
* a disabled DEBUG call outside a hold, without holds and in hold mode.

A call kept in a hold is measured per request (``test_hold_request.py``): a hold kept for
the whole run would only measure its buffer's growth, or its drops once full.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial

import _scenarios as S
import pytest

import nglogger

pytestmark = pytest.mark.benchmark(group="hold")


@contextmanager
def _hold_elsewhere() -> Iterator[None]:
    """Hold mode on: a hold open on another thread for as long as the block runs."""
    entered, leave = threading.Event(), threading.Event()

    def request() -> None:
        with nglogger.hold():
            entered.set()
            leave.wait(600)

    thread = threading.Thread(target=request, daemon=True)
    thread.start()
    entered.wait(10)
    try:
        yield
    finally:
        leave.set()
        thread.join(10)


@contextmanager
def _subject(level: str, where: str) -> Iterator[S.Call]:
    """``log.<level>(MESSAGE, **OBJECT)`` at INFO: ``where`` is off, elsewhere, held, opened."""
    log = S._nglogger(1, None)
    method = getattr(log, level)
    try:
        if where == "off":
            yield method, (S.MESSAGE,), dict(S.OBJECT)
        elif where == "elsewhere":
            with _hold_elsewhere():
                yield method, (S.MESSAGE,), dict(S.OBJECT)
        else:
            with nglogger.hold():
                if where == "opened":
                    log.error("the request failed")
                yield method, (S.MESSAGE,), dict(S.OBJECT)
    finally:
        nglogger.shutdown()


def test_floor(benchmark):
    """Floor: the object event (3 fields)."""
    S.run(benchmark, partial(S.floor_info, S.OBJECT))


def test_nglogger_holds_off(benchmark):
    """No hold in the process: the default call (one attribute read for the hook)."""
    S.run(benchmark, partial(_subject, "info", "off"))


def test_nglogger_outside_a_hold_in_hold_mode(benchmark):
    """INFO outside any hold while another thread holds: the gate, then ``emit``."""
    S.run(benchmark, partial(_subject, "info", "elsewhere"))


def test_nglogger_inside_an_opened_hold(benchmark):
    """INFO inside a hold that an ERROR opened: passes through to the pipeline."""
    S.run(benchmark, partial(_subject, "info", "opened"))


def test_nglogger_disabled_holds_off(benchmark):
    """DEBUG while the level is INFO, no hold in the process: the level cell's check."""
    S.run(benchmark, partial(_subject, "debug", "off"))


def test_nglogger_disabled_in_hold_mode(benchmark):
    """DEBUG outside any hold while another thread holds: the gate drops it (uncounted)."""
    S.run(benchmark, partial(_subject, "debug", "elsewhere"))
