"""What a forked child must make anew, in one registry run by one ``os.register_at_fork`` hook.

A child inherits every lock in the state some thread of the parent held it, and none of
the parent's threads. Each module that owns process-wide state registers, once, the
function that resets it (:func:`in_child`); they run in registration order, so the
locks of the lower layers are new before the pipelines are rebuilt on top of them (the
pipelines' hook is registered when the first one starts, after every module's).
"""

from __future__ import annotations

import os
from collections.abc import Callable

__all__ = ["in_child"]

_CHILD: list[Callable[[], None]] = []


def in_child(reset: Callable[[], None]) -> Callable[[], None]:
    """Run ``reset`` in every forked child (after those registered before it)."""
    _CHILD.append(reset)
    return reset


def _run_in_child() -> None:
    """Every registered reset, even when one fails (the first failure is raised after)."""
    first: BaseException | None = None
    for reset in tuple(_CHILD):
        try:
            reset()
        except BaseException as exc:  # noqa: PERF203 - a failing reset must not skip the rest
            first = first or exc
    if first is not None:
        raise first  # os.register_at_fork reports it (sys.unraisablehook)


os.register_at_fork(after_in_child=_run_in_child)
