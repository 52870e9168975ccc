"""The sink seam: what the pipeline asks of every destination.

A sink receives whole :class:`~nglogger.Batch` objects on its own worker thread.
It encodes them for its wire format from the batch bytes (never re-serializing
events) and reports what happened as a value. Exceptions raised by ``write`` are
contained by the worker: the batch is counted as dropped with reason
``sink_error`` and the sink keeps receiving later batches.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from .._batch import Batch

__all__ = ["Outcome", "Sink"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a sink did with one batch: events exported and events dropped by reason.

    ``exported + sum(dropped.values())`` must equal the batch's ``count``; the
    worker enforces it (any shortfall is counted as ``sink_error``).
    """

    exported: int
    dropped: Mapping[str, int] = field(default_factory=dict)


@runtime_checkable
class Sink(Protocol):
    """A destination for batches. Implementations live in ``nglogger.sinks``.

    ``write`` runs on the sink's own worker thread, one batch at a time; it
    returns ``None`` when every event was delivered, or an :class:`Outcome`.
    ``close`` may be called from another thread while ``write`` is running and
    must make it return promptly (interrupt waits, give up retries).
    """

    name: str

    def write(self, batch: Batch) -> Outcome | None:
        """Deliver one batch."""
        ...

    def close(self) -> None:
        """Release resources; interrupt a ``write`` in progress."""
        ...
