"""One traced run of the memory budgets: the setting it is measured in, its baseline, its result.

A :class:`Session` swaps in an isolated pipeline when asked (a copy of the default
pipeline's configuration whose only sink discards everything), pauses pytest's
capture of stdlib ``logging`` records, starts tracemalloc unless it is tracing, and
reads the traced memory after ``flush()`` of the default pipeline and
``gc.collect()``, before and after the run. Memory: one tracemalloc snapshot, held
from the baseline to the end of the run.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager

from .._config.config import Config
from .._event import target as _target
from .._pipeline.pipeline import Pipeline
from ..sinks.memory import NullSink
from ._attribution import HARNESS, STORAGE, Diff, diff
from ._swap import FLUSH_TIMEOUT, installed

__all__ = ["Session"]


class Session:
    """One traced run: optional isolated pipeline, tracing started if needed, baseline, result."""

    def __init__(self, isolated: bool, frames: int) -> None:
        self._stack = ExitStack()
        self._isolated = isolated
        self._frames = frames
        self._started = False
        self.before = 0
        self._snapshot: tracemalloc.Snapshot | None = None

    def open(self) -> None:
        try:
            if self._isolated:
                current = _target.current
                base = current.config if isinstance(current, Pipeline) else Config()
                sink = NullSink(name="nglogger-budget")
                self._stack.enter_context(installed(Pipeline(base.replace(sinks=(sink,)))))
            self._stack.enter_context(_pytest_log_capture_paused())
            if not tracemalloc.is_tracing():
                tracemalloc.start(self._frames)
                self._started = True
        except BaseException:
            self.close()
            raise

    def baseline(self) -> None:
        _settle()
        self._snapshot = tracemalloc.take_snapshot()
        self.before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()

    def finish(self) -> tuple[int, int, Diff]:
        """``(retained, pipeline storage growth, snapshot diff)`` since the baseline."""
        _settle()
        after = tracemalloc.get_traced_memory()[0]
        snapshot = tracemalloc.take_snapshot()
        assert self._snapshot is not None
        grown = diff(self._snapshot, snapshot)
        self._snapshot = None
        storage = sum(size for (category, _, _), (size, _) in grown.items() if category == STORAGE)
        harness = sum(size for (category, _, _), (size, _) in grown.items() if category == HARNESS)
        return after - self.before - storage - harness, storage, grown

    def close(self) -> None:
        self._snapshot = None
        if self._started:
            tracemalloc.stop()
            self._started = False
        self._stack.close()


@contextmanager
def _pytest_log_capture_paused() -> Iterator[None]:
    """Detach pytest's log-capturing handlers from the root logger for the block.

    pytest keeps every stdlib ``logging`` record of a test for its report; a
    code path that logs through ``logging`` would otherwise show that as
    retained memory, which it is not outside pytest.
    """
    logging = sys.modules.get("logging")
    if logging is None:
        yield
        return
    root = logging.getLogger()
    paused = [h for h in root.handlers if type(h).__module__.startswith("_pytest.")]
    for handler in paused:
        root.removeHandler(handler)
    try:
        yield
    finally:
        for handler in paused:
            root.addHandler(handler)


def _settle() -> None:
    """Deliver what the default pipeline buffered, then collect garbage."""
    current = _target.current
    if isinstance(current, Pipeline):
        current.flush(FLUSH_TIMEOUT)
    del current
    gc.collect()
