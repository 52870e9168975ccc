"""A pipeline's hold mode: the switches in and out of it, and ``emit`` while in it.

The first ``nglogger.hold()`` entered (``_pipeline/hold.py``) switches its pipeline into
hold mode; the batcher's tick switches it back once no hold has been open for a whole
tick. In hold mode the log call's pre-encode hook (``Pipeline.storm``) is the hold gate
(``_event.hold.make_gate``, the storm guard inside it), ``Pipeline.direct`` is None (the
log call encodes through ``emit``), ``emit`` diverts the encoded bytes of a held event
into its hold (the same encoding: schema, trace ids, sampling; another hand-off), and
``Pipeline.hold_floor`` lowers the loggers' level cells to the lowest level a hold keeps
(``_logger.relevel``; shedding still raises them above it). Switching back takes two
ticks: the cells are raised first, the hook and ``direct`` restored one tick later, so a
call that read a lowered cell still finds the gate. Out of hold mode the log call makes
exactly the Python calls it makes without the feature.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Literal, Protocol

import orjson

from .._config.config import Config
from .._event import target as _target
from .._event.encode import OPTIONS
from .._event.hold import HOLDING, NUMBERS, Held, HoldBudget, current_hold, make_gate
from .._event.logger import relevel
from .._event.storm import StormGuard
from .._event.target import Direct, Target

__all__ = ["Holder", "Holds"]

Emit = Callable[[dict[str, Any]], None]


class Holder(Target, Protocol):
    """What hold mode changes of a pipeline (``Pipeline`` implements it)."""

    config: Config
    storm: Callable[..., bool] | None
    direct: Direct | None
    emit: Emit
    hold_floor: int | None
    _storm_guard: StormGuard | None

    def _make_emit(
        self, offer: Callable[[bytes], int], after_offer: Callable[[int], None], /
    ) -> Emit: ...


_get = HOLDING.get
_dumps = orjson.dumps
_JSONEncodeError = orjson.JSONEncodeError

Mode = Literal["off", "on", "draining"]


class Holds:
    """A pipeline's hold mode: how many holds are open, and the switches in and out of it."""

    def __init__(self, pipeline: Holder) -> None:
        self._pipeline = pipeline
        #: What this pipeline's holds keep, together, at most (``hold_total_bytes``).
        self.budget = HoldBudget(int(pipeline.config.hold_total_bytes))
        self._lock = threading.RLock()
        self.mode: Mode = "off"
        self.active = 0
        #: The holds open now (``id`` -> hold): counted if the pipeline stops under them.
        self._open: dict[int, Held] = {}
        self._entries = 0
        self._seen = 0
        #: What hold mode replaced: the hook, ``direct``, and ``emit`` (and ours).
        self._hook: Any = None
        self._direct: Any = None
        self._emit: Any = None
        self._ours: Any = None

    def enter(self, floor: int, held: Held | None = None) -> None:
        """A hold opens on this pipeline: hold mode on, its floor in the level cells."""
        with self._lock:
            self.active += 1
            if held is not None:
                self._open[id(held)] = held
            self._entries += 1
            pipeline = self._pipeline
            current = pipeline.hold_floor
            if self.mode != "on" or current is None or floor < current:
                if self.mode == "off":
                    self._switch_on()
                self.mode = "on"
                pipeline.hold_floor = floor if current is None else min(floor, current)
                self._relevel()

    def exit(self, held: Held | None = None) -> None:
        """A hold of this pipeline is over."""
        with self._lock:
            self.active -= 1
            if held is not None:
                self._open.pop(id(held), None)

    def abandon_open(self) -> None:
        """The pipeline is stopping: what its open holds keep is discarded, counted."""
        with self._lock:
            holds = list(self._open.values())
        for held in holds:
            held.abandon()

    def settle(self) -> None:
        """The batcher's tick: step out of hold mode after a tick with no hold at all."""
        if self.mode == "off":
            return
        with self._lock:
            if self.active or self._entries != self._seen:
                self._seen = self._entries
                return
            if self.mode == "on":  # cells first: a call that read a low cell finds the gate
                self.mode = "draining"
                self._pipeline.hold_floor = None
                self._relevel()
            elif self.mode == "draining":
                self._switch_off()
                self.mode = "off"

    def _relevel(self) -> None:
        current: object = _target.current
        if current is self._pipeline:
            relevel()

    def _switch_on(self) -> None:
        pipeline = self._pipeline
        self._hook = pipeline.storm
        self._direct = pipeline.direct
        self._emit = pipeline.emit
        pipeline.storm = make_gate(pipeline, pipeline._storm_guard)
        pipeline.direct = None
        self._ours = pipeline.emit = self._held_emit(self._emit)

    def _switch_off(self) -> None:
        pipeline = self._pipeline
        pipeline.storm = self._hook
        if pipeline.emit is self._ours:  # not replaced by a shutdown or the late writer
            pipeline.emit = self._emit
            pipeline.direct = self._direct
        self._hook = self._direct = self._emit = self._ours = None

    def rebuilt(self) -> None:
        """The pipeline's runtime was rebuilt (a forked child): hold mode applies again."""
        self._lock = threading.RLock()
        if self.mode != "off":
            self._pipeline.storm = self._pipeline._storm_guard
            self._switch_on()

    def _held_emit(
        self, inner: Callable[[dict[str, Any]], None]
    ) -> Callable[[dict[str, Any]], None]:
        """``emit`` in hold mode: an event its context holds is encoded into its hold."""
        pipeline = self._pipeline
        capture = pipeline._make_emit(_keep, _nothing)  # the same encoding, another hand-off
        # What the log call would have done itself (``direct``: default schema, no trace
        # ids): one dumps here, kept as it is; anything else (oversize, refused) by capture.
        direct = self._direct
        plain = direct is not None and direct[4] is None and direct[5] is None
        default = direct[0] if direct is not None else None
        max_event_bytes = direct[1] if direct is not None else 0

        def emit(event: dict[str, Any]) -> None:
            held = _get()
            if held is not None:
                if held.ended:
                    held = current_hold()
                if held is not None and held.target is pipeline and not held.opened:
                    if NUMBERS.get(event.get("level"), 0) < held.trigger:
                        if plain:
                            try:
                                data = _dumps(event, default=default, option=OPTIONS)
                            except (_JSONEncodeError, RecursionError):
                                capture(event)
                                return
                            if len(data) <= max_event_bytes:
                                held.keep(data)
                                return
                        capture(event)
                        return
                    held.open()  # what it holds goes first, then this event
            inner(event)

        return emit


def _keep(data: bytes) -> int:
    """The hand-off of a held event: into the hold of this context."""
    held = current_hold()
    if held is not None:
        held.keep(data)
    return 0


def _nothing(_result: int) -> None:
    """Nothing to wake: a held event is not in the buffer."""
