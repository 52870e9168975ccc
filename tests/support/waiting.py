"""Waiting on a condition, never on a fixed sleep: the one poll loop the tests share."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, tick: float = 0.005) -> bool:
    """Poll ``predicate`` until it holds (True) or ``timeout`` seconds pass (its last answer)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() >= deadline:
            return bool(predicate())
        pause.wait(tick)
    return True


def require(predicate: Callable[[], object], timeout: float = 20.0, tick: float = 0.005) -> None:
    """:func:`wait_for`, failing the test when the condition is not reached in time."""
    assert wait_for(predicate, timeout, tick), f"condition not reached in {timeout:g} s"
