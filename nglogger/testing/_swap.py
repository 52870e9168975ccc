"""Swapping the default pipeline for a block (shared by capture and memory budgets)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .._event import target as _target
from .._event.logger import relevel
from .._pipeline import default as _default
from .._pipeline.pipeline import Pipeline

__all__ = ["FLUSH_TIMEOUT", "installed"]

#: How long a flush done by these helpers may take, in seconds.
FLUSH_TIMEOUT = 5.0


# --------------------------------------------------------------------------
# The default pipeline, swapped for the duration of a block.


@contextmanager
def installed(pipeline: Pipeline) -> Iterator[None]:
    """Make ``pipeline`` the default for the block, then put the previous one back as it was.

    The previous default (a pipeline or the lazy stand-in) is not shut down. If
    code inside the block configured another default, that one is shut down at
    the end, as ``configure()`` would have done when replacing it.
    """
    with _default._configure_lock:
        previous = _target.current
        _target.current = pipeline
        relevel()
    try:
        yield
    finally:
        with _default._configure_lock:
            replaced = _target.current
            _target.current = previous
            relevel()
        pipeline.shutdown(FLUSH_TIMEOUT)
        if replaced is not pipeline and isinstance(replaced, Pipeline):
            replaced.shutdown()
