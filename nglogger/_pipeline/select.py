"""Per-sink selection: the part of a shared batch a sink with a ``level`` or ``filter`` gets.

Events are serialized once, into the batch every sink shares. A sink with a
``level`` (``?level=error`` on its URI, ``level="error"`` on a sink object) gets a
new batch holding only its events, cut from the shared one with byte operations:
every event starts with the same layout (``{"timestamp":"<27 bytes>","level":"<name>"``,
see ``_layout``), so the level name sits at a known offset and its first byte tells
the five names apart; the batch is split at its newlines, the events below the level
are left out and the rest joined (no event is parsed). An event whose head does not
have that layout is kept. Under an output schema (``Config.schema``) the same test
reads the schema's head (``{"@timestamp":"<27 bytes>","log.level":"...``, the
severity's first byte for ``gcp``): the offsets come from ``Schema.level_probe``.
The level compared is the event's level name (a level between two names, such as 35,
is written as the lower name, ``warning``).

A sink ``filter`` (objects only) is ``fn(event: bytes) -> bool``, called with each
event's JSON (no newline) that passed the level: a Python call per event on the
batcher thread (plus whatever it does; ``orjson.loads`` of a small event is about
1 us). A filter that raises keeps the event (a broken filter loses no logs) and is
counted ``filter_errors``.

This runs on the batcher thread (or the thread calling ``flush``/``shutdown``),
never in a log call. Memory: while one batch is cut, its events as separate ``bytes``
and the result (each at most the batch's size, plus ``_sink.SELECTION_EVENT_OVERHEAD`` per event)
exist besides it; selection runs one sink at a time, so ``Config.memory_budget``
counts that once when any sink selects.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

from .._core.batch import Batch
from .._core.levels import LEVEL_NAMES, level_name
from .._core.sink import selection_of
from .._event.layout import DEFAULT_SCHEMA, Schema

__all__ = ["Selected", "Selector", "selector_for"]


class Selected(NamedTuple):
    """What a selector kept of a batch: the batch (None if nothing), counts."""

    batch: Batch | None
    filtered: int
    filter_errors: int


def _below(level: int, schema: Schema) -> frozenset[bytes]:
    """``","level":"`` plus the first byte of each level name below ``level``.

    The five names start with five different bytes, so these 12 bytes at the
    event's ``TIMESTAMP_END`` say both "the layout" and "below the level"
    (the schema's level key and spelling under an output schema).
    """
    return frozenset(
        schema.level_prefix(name) for number, name in LEVEL_NAMES.items() if number < level
    )


class Selector:
    """Cuts a sink's events out of shared batches (see the module docstring)."""

    __slots__ = ("_below", "_end", "_filter", "_start", "level")

    def __init__(
        self,
        level: int | None,
        keep: Callable[[bytes], object] | None,
        schema: Schema = DEFAULT_SCHEMA,
    ) -> None:
        self.level = level
        self._below = _below(level, schema) if level is not None else frozenset()
        self._start, self._end = schema.level_probe()
        self._filter = keep

    @property
    def active(self) -> bool:
        """False when it would keep every event (no level above debug, no filter)."""
        return bool(self._below) or self._filter is not None

    def __call__(self, batch: Batch) -> Selected:
        events = batch.data.split(b"\n")
        events.pop()  # after the last newline
        below = self._below
        if below:
            # One 12-byte slice per event: ``","level":"`` at its place and the first
            # byte of a name below the level. Anything else (another head) is kept.
            start, end = self._start, self._end
            events = [e for e in events if e[start:end] not in below]
        errors = 0
        keep = self._filter
        if keep is not None:
            kept = []
            for event in events:
                try:
                    wanted = keep(event)
                except Exception:
                    wanted = True
                    errors += 1
                if wanted:
                    kept.append(event)
            events = kept
        count = len(events)
        filtered = batch.count - count
        if not filtered:
            return Selected(batch, 0, errors)
        if not count:
            return Selected(None, filtered, errors)
        events.append(b"")  # the last event's newline
        return Selected(Batch(b"\n".join(events), count, batch.seq), filtered, errors)

    def __repr__(self) -> str:
        level = "any" if self.level is None else level_name(self.level)
        return f"<Selector level={level} filter={self._filter is not None}>"


def selector_for(sink: object, schema: Schema = DEFAULT_SCHEMA) -> Selector | None:
    """The sink's selector (reading ``schema``'s head); None when it takes every event."""
    level, keep = selection_of(sink)
    selector = Selector(level, keep, schema)
    return selector if selector.active else None
