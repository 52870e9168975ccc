"""In-memory sinks: a bounded recorder for tests and a discarding sink.

``MemorySink`` keeps at most ``max_events`` event documents (oldest dropped
first, counted) and can be waited on. Worst-case footprint: ``max_events``
right-sized event payloads. ``NullSink`` accepts and forgets every batch (used
by benchmarks to measure the pipeline without I/O).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson

from .._core.batch import Batch
from .._core.levels import optional_level
from .._core.sink import sink_filter
from ._base import Outcome

__all__ = ["MemorySink", "NullSink"]


class MemorySink:
    """Records events in memory, bounded; thread-safe; waitable."""

    writes_late = True  # see nglogger._core.sink.WritesLate

    def __init__(
        self,
        max_events: int = 100_000,
        *,
        name: str = "memory",
        level: int | str | None = None,
        filter: Callable[[bytes], object] | None = None,  # noqa: A002 - the option's name
    ) -> None:
        self.level = optional_level(level)
        self.filter = sink_filter(filter)
        if isinstance(max_events, bool) or not isinstance(max_events, int) or max_events < 1:
            raise ValueError(f"max_events={max_events!r} is invalid; accepted: an integer >= 1")
        self.name = name
        self._max = max_events
        self._cond = threading.Condition()
        self._events: deque[bytes] = deque()
        self._batches = 0
        self._received = 0
        self.overwritten = 0

    def write(self, batch: Batch) -> Outcome | None:
        """Keep the batch's events (evicting the oldest beyond ``max_events``)."""
        events = batch.events()
        with self._cond:
            for event in events:
                if len(self._events) >= self._max:
                    self._events.popleft()
                    self.overwritten += 1
                self._events.append(event)
            self._batches += 1
            self._received += len(events)
            self._cond.notify_all()
        return None

    def lines(self) -> list[bytes]:
        """The recorded events as JSON documents, oldest first."""
        with self._cond:
            return list(self._events)

    def events(self) -> list[dict[str, Any]]:
        """The recorded events parsed."""
        return [orjson.loads(line) for line in self.lines()]

    @property
    def received(self) -> int:
        """Events received since creation or ``clear()``."""
        with self._cond:
            return self._received

    @property
    def batches(self) -> int:
        """Batches received since creation or ``clear()``."""
        with self._cond:
            return self._batches

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        """Wait until at least ``count`` events were received."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._received < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def clear(self) -> None:
        """Forget everything recorded."""
        with self._cond:
            self._events.clear()
            self._received = 0
            self._batches = 0
            self.overwritten = 0

    def after_fork(self) -> None:
        """In a forked child: a fresh lock and no parent events."""
        self._cond = threading.Condition()
        self._events = deque()
        self._received = 0
        self._batches = 0

    def close(self) -> None:
        """Nothing to release."""


class NullSink:
    """Accepts every batch and keeps nothing but counts."""

    writes_late = True  # see nglogger._core.sink.WritesLate

    def __init__(
        self,
        *,
        name: str = "null",
        level: int | str | None = None,
        filter: Callable[[bytes], object] | None = None,  # noqa: A002 - the option's name
    ) -> None:
        self.level = optional_level(level)
        self.filter = sink_filter(filter)
        self.name = name
        self.events = 0
        self.bytes = 0

    def write(self, batch: Batch) -> Outcome | None:
        """Count and forget."""
        self.events += batch.count
        self.bytes += batch.nbytes
        return None

    def close(self) -> None:
        """Nothing to release."""
