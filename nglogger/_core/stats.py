"""Snapshots of the pipeline's counters, as plain immutable values.

Invariants (tested):

* ``submitted == dispatched + buffered_events + sum(dropped.values())``
* per sink: ``accepted + replayed == exported + sum(dropped.values()) + queued_events``
  (``replayed``: events a previous process left in the sink's spool; 0 without one)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["SinkStats", "Stats"]


@dataclass(frozen=True, slots=True)
class SinkStats:
    """One sink's counters.

    ``accepted``: events handed to this sink's queue (dropped ones included);
    ``exported``: events the sink reported delivered; ``dropped``: by reason
    (``sink_queue_full``, ``sink_error``, ``write_error``, ``shutdown_deadline``,
    and the HTTP reasons); ``queued_events``: in the queue or being written;
    ``filtered``: events its ``level``/``filter`` left out (never handed to it, so
    not in ``accepted``); ``filter_errors``: events its ``filter`` raised on (kept).
    Declared once: the sink's worker fills it (``SinkWorker.snapshot``), the pipeline
    adds the two selection counters it keeps itself.
    """

    accepted: int = 0
    exported: int = 0
    dropped: Mapping[str, int] = field(default_factory=dict)
    queued_events: int = 0
    queued_bytes: int = 0
    high_water_events: int = 0
    high_water_bytes: int = 0
    batches: int = 0
    errors: int = 0
    last_error: str | None = None
    filtered: int = 0
    filter_errors: int = 0
    replayed: int = 0
    spooled_events: int = 0
    spooled_bytes: int = 0
    spool_high_water_bytes: int = 0
    spool_written_events: int = 0
    spool_corrupt_records: int = 0
    spool_active: bool = False
    spool_error: str | None = None


@dataclass(frozen=True, slots=True)
class Stats:
    """The pipeline's counters at one moment.

    ``submitted``: events that passed the level check; ``accepted``: events that
    entered the buffer; ``dispatched``: events handed to the sinks (once each,
    whatever the number of sinks); ``dropped``: events lost before the sinks, by
    reason (``buffer_full``, ``too_large``, ``encode_error``, ``recursion``,
    ``after_shutdown``, ``fork``); ``fallbacks``: values the encoder replaced,
    by kind (see ``nglogger._event.encode``); ``processor_errors``: times a processor
    raised (the event was logged with ``nglogger_processor_error``); ``sinks``:
    per-sink counters.
    """

    submitted: int = 0
    accepted: int = 0
    dispatched: int = 0
    dropped: Mapping[str, int] = field(default_factory=dict)
    buffered_events: int = 0
    buffered_bytes: int = 0
    high_water_events: int = 0
    high_water_bytes: int = 0
    batches: int = 0
    fallbacks: Mapping[str, int] = field(default_factory=dict)
    processor_errors: int = 0
    sinks: Mapping[str, SinkStats] = field(default_factory=dict)
    #: ``memory_limit`` in force (empty when off): ``limit_bytes``, ``rss_bytes`` (the
    #: last sample), ``peak_rss_bytes``, ``samples``, ``shed_level`` (0; 20: DEBUG shed;
    #: 30: INFO too) and ``episodes`` (times shedding started).
    memory: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> Stats:
        """All zeros (nothing was logged yet)."""
        return cls()

    @property
    def total_dropped(self) -> int:
        """Events dropped before the sinks plus every sink's drops."""
        return sum(self.dropped.values()) + sum(
            sum(s.dropped.values()) for s in self.sinks.values()
        )

    def as_dict(self) -> dict[str, Any]:
        """The snapshot as plain dicts (JSON-ready)."""
        return asdict(self)
