"""After the exit shutdown: events written on the caller's thread, and what cannot be.

The exit hook shuts every pipeline down in ``"late"`` mode (``nglogger._pipeline.lifecycle``):
the sink threads are gone, but an ``atexit`` handler that runs after nglogger's, a daemon
thread or a finalizer at teardown may still log. :class:`LateWriter` writes those events
on the caller's thread to the sinks that take it (``WritesLate``: stream, file, memory,
null) until the shutdown deadline; for the others, after the deadline, or on a call that
re-enters a late write on its own thread (a finalizer run inside ``write``), the events
are counted per sink and said once on stderr.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence

from .._core import notice as _notice
from .._core.batch import Batch
from .._core.reasons import DropReason
from .._core.sink import Sink, WritesLate
from .worker import SinkWorker

__all__ = ["LateWriter", "writes_late"]


def writes_late(sink: Sink) -> bool:
    """Whether ``sink`` takes writes on the caller's thread after the exit shutdown."""
    return isinstance(sink, WritesLate) and sink.writes_late is True


class LateWriter:
    """The late writes of one pipeline (see the module docstring)."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        #: Until when events are still written (None: the pipeline is not in late mode).
        self.until: float | None = None
        self.events = 0  # events that reached the pipeline in late mode (stats)
        self._said: set[tuple[str, str]] = set()

    def write(
        self,
        workers: Sequence[SinkWorker],
        data: bytes,
        count: int,
        next_seq: Callable[[], int],
    ) -> None:
        """Write ``count`` events to every sink that takes late writes, within the deadline."""
        lock = self.lock
        until = self.until
        reason: DropReason | None
        if lock._is_owned():  # type: ignore[attr-defined]
            reason = "reentrant"
        elif until is None or time.monotonic() > until:
            reason = "after_shutdown"
        else:
            reason = None
        with lock:
            batch = Batch(data, count, next_seq())
            for worker in workers:
                if not reason and writes_late(worker.sink):
                    worker.write_late(batch)
                    continue
                why = reason or "after_shutdown"
                worker.count_late(count, why)
                if (worker.name, why) not in self._said:
                    self._said.add((worker.name, why))
                    _notice.summary(
                        f"sink {worker.name}: events logged after nglogger's exit shutdown "
                        f"(by an atexit handler that ran after it, a daemon thread or a "
                        f"finalizer) are not delivered: counted {why} in stats()"
                    )
