"""The sink seam: what the pipeline asks of every destination, and what a sink may offer.

A sink receives whole :class:`~nglogger.Batch` objects on its own worker thread.
It encodes them for its wire format from the batch bytes (never re-serializing
events) and reports what happened as a value. Exceptions raised by ``write`` are
contained by the worker: the batch is counted as dropped with reason
``sink_error`` and the sink keeps receiving later batches.

``Sink`` is the required part (``name``, ``write``, ``close``). The optional
capabilities are declared here too, each as a one-member Protocol the worker
checks with ``isinstance`` (a plain object that has the member has the
capability); :class:`SinkBase` implements the first seven with their defaults, for
sinks that want to state them explicitly (not the last three: having one changes how
the worker feeds the sink):

======================  ===============  ==================================================
capability              default          used by
======================  ===============  ==================================================
``concurrency: int``    1                worker threads (requests in flight)
``memory_copies: int``  1                ``Config.memory_budget`` (copies of a batch held
                                         while writing: 3 for HTTP sinks)
``last_error``          None             ``stats().sinks[name].last_error`` after drops
``queue_full_reason()`` sink_queue_full  the drop reason when the sink's queue is full
``after_fork()``        nothing          the forked child, before the worker restarts
``http_stats()``        none             self-metrics (``nglogger.otel``): HTTP counters
``breaker_state()``     none             self-metrics: circuit breaker state
``request_limits()``    none             the worker coalesces queued batches into one
                                         ``write`` up to ``(events, bytes)``; the batches
                                         it holds count against the queue's limits
``ready_in()``          0                seconds the worker waits before the next ``write``
                                         (an open breaker, a backoff), batches stay queued
``max_age``             none             seconds a batch may wait in the queue before it
                                         is dropped as ``expired``
``level``               None             the pipeline hands the sink only events at or
                                         above it (``_select``; counted ``filtered``)
``filter``              None             ``fn(event_bytes) -> bool``: the pipeline keeps
                                         the events it is true for (``_select``)
======================  ===============  ==================================================

A ``write`` may hand events back: ``Outcome.requeue`` is a batch of the events it
could not deliver *yet* (a retryable failure); the worker puts it back at the head
of the queue, where it waits for ``ready_in()``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .batch import Batch
from .errors import ConfigError
from .levels import optional_level

__all__ = [
    "SELECTION_EVENT_OVERHEAD",
    "Coalesces",
    "Concurrent",
    "CopiesBatches",
    "DescribesErrors",
    "Expires",
    "Filters",
    "ForkAware",
    "HasBreaker",
    "HasHttpStats",
    "Leveled",
    "NamesQueueFull",
    "Outcome",
    "Paced",
    "Sink",
    "SinkBase",
    "WritesLate",
    "concurrency_of",
    "memory_copies_of",
    "request_bytes_of",
    "selection_of",
    "sink_filter",
    "sink_name",
]


@dataclass(frozen=True, slots=True, repr=False)
class Outcome:
    """What a sink did with one batch: events exported and events dropped by reason.

    ``exported + sum(dropped.values()) + requeue.count`` must equal the batch's
    ``count``; the worker enforces it (any shortfall is counted as ``sink_error``).
    ``requeue``: the events not delivered yet, to be written again later (they go
    back to the head of the sink's queue and stay counted as queued).
    """

    exported: int
    dropped: Mapping[str, int] = field(default_factory=dict)
    requeue: Batch | None = None

    def __repr__(self) -> str:
        back = "" if self.requeue is None else f", requeue={self.requeue!r}"
        return f"Outcome(exported={self.exported!r}, dropped={self.dropped!r}{back})"


@runtime_checkable
class Sink(Protocol):
    """A destination for batches. Implementations live in ``nglogger.sinks``.

    ``write`` runs on the sink's own worker thread, one batch at a time (or
    ``concurrency`` at a time); it returns ``None`` when every event was
    delivered, or an :class:`Outcome`. ``close`` may be called from another
    thread while ``write`` is running and must make it return promptly
    (interrupt waits, give up retries).
    """

    name: str

    def write(self, batch: Batch) -> Outcome | None:
        """Deliver one batch."""
        ...

    def close(self) -> None:
        """Release resources; interrupt a ``write`` in progress."""
        ...


@runtime_checkable
class Concurrent(Protocol):
    """A sink that takes ``concurrency`` batches at once (one worker thread each)."""

    concurrency: int


@runtime_checkable
class CopiesBatches(Protocol):
    """A sink that holds ``memory_copies`` batch-sized buffers per batch being written."""

    memory_copies: int


@runtime_checkable
class DescribesErrors(Protocol):
    """A sink that describes its latest failure (a short text, never an exception object)."""

    @property
    def last_error(self) -> str | None:
        """The latest failure, or None."""
        ...


@runtime_checkable
class NamesQueueFull(Protocol):
    """A sink that names why its queue is full (an HTTP sink: ``breaker_open``)."""

    def queue_full_reason(self) -> str:
        """The drop reason for a batch its full queue cannot take."""
        ...


@runtime_checkable
class ForkAware(Protocol):
    """A sink that rebuilds its state (locks, connections) in a forked child."""

    def after_fork(self) -> None:
        """Called in the child, before its worker thread starts."""
        ...


@runtime_checkable
class HasHttpStats(Protocol):
    """A sink that counts requests, retries and statuses (HTTP sinks)."""

    def http_stats(self) -> Mapping[str, object]:
        """The counters, a fresh mapping."""
        ...


@runtime_checkable
class HasBreaker(Protocol):
    """A sink guarded by a circuit breaker (HTTP sinks)."""

    def breaker_state(self) -> str:
        """``closed``, ``open`` or ``half_open``."""
        ...


@runtime_checkable
class Coalesces(Protocol):
    """A sink whose worker merges queued batches into one write, up to its request limits."""

    def request_limits(self) -> tuple[int, int]:
        """``(events, bytes)`` one write may carry (one request, for an HTTP sink)."""
        ...


@runtime_checkable
class Paced(Protocol):
    """A sink that says how long its worker should wait before the next write."""

    def ready_in(self) -> float:
        """Seconds until a write may be sent (0: now)."""
        ...


@runtime_checkable
class WritesLate(Protocol):
    """A sink that takes ``write`` on any thread after its worker is gone, until exit.

    Local sinks (streams, files, memory) say so with ``writes_late = True``: the
    pipeline's exit shutdown leaves them open, and events logged after it (an
    ``atexit`` handler that runs after nglogger's, a daemon thread, a finalizer at
    teardown) are written to them synchronously while the shutdown deadline
    allows. Other sinks are closed at exit and count such events ``after_shutdown``.
    """

    writes_late: bool


@runtime_checkable
class Expires(Protocol):
    """A sink whose queued batches expire: dropped as ``expired`` past ``max_age`` seconds."""

    max_age: float | None


@runtime_checkable
class Leveled(Protocol):
    """A sink taking only events at or above ``level`` (None: every event)."""

    level: int | None


@runtime_checkable
class Filters(Protocol):
    """A sink taking only the events ``filter(event_json_bytes)`` is true for."""

    filter: Callable[[bytes], object] | None


#: Bytes each event of a batch costs besides its own while a sink's part is cut from it
#: (a list slot and a ``bytes`` header; see ``_select``), for ``Config.memory_budget``.
SELECTION_EVENT_OVERHEAD = 64


def selection_of(sink: object) -> tuple[int | None, Callable[[bytes], object] | None]:
    """The sink's ``(level, filter)``, checked (ConfigError names the sink)."""
    level = optional_level(
        sink.level if isinstance(sink, Leveled) else None, f"level of sink {sink_name(sink)}"
    )
    keep = sink.filter if isinstance(sink, Filters) else None
    if keep is not None and not callable(keep):
        raise ConfigError(f"filter of sink {sink_name(sink)}", keep, "None or fn(bytes) -> bool")
    return level, keep


def sink_filter(value: object) -> Callable[[bytes], object] | None:
    """A sink's ``filter=``: None or a callable, checked."""
    if value is not None and not callable(value):
        raise ConfigError("filter", value, "None or a callable fn(event: bytes) -> bool")
    return value


class SinkBase:
    """A base class stating every optional capability with its default.

    Subclasses implement ``write`` and usually ``close``; they override what
    they offer (``concurrency``, ``memory_copies``, ``last_error``,
    ``queue_full_reason``, ``after_fork``).
    """

    __slots__ = ()

    name: str = "sink"
    concurrency: int = 1
    memory_copies: int = 1
    last_error: str | None = None
    level: int | None = None
    filter: Callable[[bytes], object] | None = None

    def write(self, batch: Batch) -> Outcome | None:
        """Deliver one batch."""
        raise NotImplementedError

    def close(self) -> None:
        """Release resources (nothing by default)."""

    def queue_full_reason(self) -> str:
        """The drop reason when the queue is full."""
        return "sink_queue_full"

    def after_fork(self) -> None:
        """Nothing to rebuild by default."""


@runtime_checkable
class _Named(Protocol):
    name: str


def sink_name(sink: object) -> str:
    """The sink's ``name``, or its type's name for an object without one."""
    return str(sink.name) if isinstance(sink, _Named) else type(sink).__name__


def concurrency_of(sink: object) -> int:
    """Batches the sink takes at once (1 unless it declares a valid ``concurrency``)."""
    value = sink.concurrency if isinstance(sink, Concurrent) else 1
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 1 else 1


def memory_copies_of(sink: object) -> int:
    """Batch-sized buffers per batch being written (1 unless declared)."""
    value = sink.memory_copies if isinstance(sink, CopiesBatches) else 1
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 1


def request_bytes_of(sink: object) -> int:
    """Bytes of one coalesced write (0 for a sink that does not coalesce)."""
    if not isinstance(sink, Coalesces):
        return 0
    try:
        value = sink.request_limits()[1]
    except Exception:
        return 0
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
