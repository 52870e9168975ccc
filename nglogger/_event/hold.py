"""Holding a context's events until it fails: the context variable, a hold's buffer, the gate.

``nglogger.hold()`` (``_pipeline/hold.py``) puts a :class:`Held` in the context variable
``HOLDING`` for the duration of a request, a job, a ``with`` block. While it is there, the
events of that context below the hold's *trigger* level (ERROR by default) are encoded as
always (the same bytes, original timestamps included) and kept in the hold's buffer
instead of the pipeline's; an event at or above the trigger *opens* the hold: what it
holds goes to the pipeline's buffer, in order, before that event, and what the context
logs afterwards passes straight through. A hold that ends without opening discards what
it holds (counted ``held_discarded``); one nested in another hands it to the outer one.

Contexts: the variable is copied like any context variable. An asyncio task created
inside a hold shares it (a task copies its creator's context); so does code run through
``contextvars.copy_context().run``, ``asyncio.to_thread`` and ``loop.run_in_executor``
under a copied context. A ``threading.Thread`` started inside a hold does not see it (a
new thread starts with an empty context): it logs as if there were no hold.

Levels: a hold also *keeps* events below the logger's own level, down to its ``floor``
(DEBUG by default): the pipeline lowers the loggers' level cells while holds are in use
and the gate (:func:`make_gate`) re-checks the real level of a call outside any hold,
which ends there (not counted: it is a disabled call). Memory-pressure shedding raises
the cells above all this: a shed level is never captured.

Worst-case footprint of one hold: ``max_bytes`` of event bytes plus ~57 B per held event
(the bytes object's header and the deque's slot); the oldest events go beyond that
(counted ``held_dropped``). The holds of a pipeline share a :class:`HoldBudget`
(``hold_total_bytes``): together they keep at most that many event bytes, whatever the
number of requests held at once (each takes its share ``RESERVE`` bytes at a time while
less than half of the total is taken, so the shared budget's lock is taken once per
~16 KiB of events, and what it needs beyond); a hold that would go over
makes room from its own oldest events, or drops the new one when it holds nothing
(``held_dropped`` too).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from .._core.levels import LEVEL_NAMES

if TYPE_CHECKING:
    from .target import Target

__all__ = [
    "HOLDING",
    "NUMBERS",
    "Held",
    "HoldBudget",
    "current_hold",
    "emit_unheld",
    "enabled",
    "make_gate",
]

#: The innermost hold of this context (None: no hold).
HOLDING: ContextVar[Held | None] = ContextVar("nglogger_hold", default=None)
_get = HOLDING.get
#: What a hold takes of its pipeline's budget at a time (``HoldBudget``): bytes.
RESERVE = 16 * 1024
#: An event's level name (the ``level`` key of the dict before encoding) -> its number.
NUMBERS: dict[object, int] = {name: number for number, name in LEVEL_NAMES.items()}


class HoldBudget:
    """The event bytes every hold of a pipeline keeps, together, and their limit."""

    __slots__ = ("_lock", "limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0
        self._lock = threading.RLock()  # re-entry (a signal handler logging) never waits

    def take(self, need: int, chunk: int = 0) -> int:
        """Count ``chunk`` more bytes kept while the holds use less than half the limit,
        else ``need`` if it fits under it; the bytes counted (0: none fit)."""
        with self._lock:
            used = self.used
            size = chunk if chunk > need and used + chunk <= self.limit >> 1 else need
            if used + size > self.limit:
                return 0
            self.used = used + size
            return size

    def give(self, size: int) -> None:
        """``size`` bytes are no longer kept."""
        with self._lock:
            self.used -= size


class Held:
    """One hold: the events it keeps, its levels, and how it ended (see module docstring).

    Shared by every task and copied context that logs under it; its buffer is guarded by
    a reentrant lock (a signal handler or finalizer logging on a thread inside ``keep``
    never waits for itself).
    """

    __slots__ = (
        "_events",
        "_lock",
        "_reserved",
        "_size",
        "budget",
        "discarded",
        "dropped",
        "ended",
        "floor",
        "max_bytes",
        "merged",
        "opened",
        "parent",
        "target",
        "token",
        "trigger",
    )

    def __init__(  # noqa: PLR0917 - all of them, every time
        self,
        target: Target,
        trigger: int,
        floor: int,
        max_bytes: int,
        parent: Held | None,
        budget: HoldBudget,
    ) -> None:
        #: The pipeline whose events it holds (a hold entered under another is ignored).
        self.target = target
        #: Events at or above this level open the hold.
        self.trigger = trigger
        #: Events down to this level are kept even when their logger's level is higher.
        self.floor = floor
        self.max_bytes = max_bytes
        #: What the pipeline's holds keep together (``hold_total_bytes``).
        self.budget = budget
        #: The hold this one is nested in (what it holds goes there when it ends).
        self.parent = parent
        #: Opened by an event at the trigger level (or ``release()``): passes events through.
        self.opened = False
        #: Its ``with`` block is over; ``merged``: what it held went to ``parent``.
        self.ended = False
        self.merged = False
        #: Events dropped because the buffer was full; events discarded at the end.
        self.dropped = 0
        self.discarded = 0
        self.token: Token[Held | None] | None = None
        self._events: deque[bytes] = deque()
        self._size = 0
        #: Bytes taken from the budget for this hold (at least ``_size``; taken in chunks).
        self._reserved = 0
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        state = "open" if self.opened else "ended" if self.ended else "holding"
        return f"<nglogger hold {state}: {self.held} events, {self._size} bytes>"

    @property
    def held(self) -> int:
        """How many events it holds now."""
        return len(self._events)

    @property
    def held_bytes(self) -> int:
        """How many bytes of events it holds now."""
        return self._size

    def keep(self, data: bytes) -> None:
        """Hold one encoded event; beyond ``max_bytes``, or the pipeline's holds' total,
        the oldest go (counted), or this one when the hold has nothing to give up."""
        dropped = 0
        with self._lock:
            holding = not self.opened and not self.ended
            if holding:
                size = len(data)
                events = self._events
                need = self._size + size - self._reserved
                if need > 0:  # more of the total than this hold has taken so far
                    self._reserve(need)
                    while self._size + size > self._reserved and events:  # its own oldest
                        self._size -= len(events.popleft())
                        dropped += 1
                if self._size + size <= self._reserved:
                    events.append(data)
                    self._size += size
                    while self._size > self.max_bytes and events:
                        self._size -= len(events.popleft())
                        dropped += 1
                else:
                    dropped += 1  # alone over the total: this event goes
        if holding:
            if dropped:
                self.dropped += dropped
                self.target.count_dropped("held_dropped", dropped)
        else:
            self._late(data)

    def _reserve(self, need: int) -> None:
        """Take ``need`` bytes more of the total: ``RESERVE`` at a time while the holds use
        less than half of it (one lock of the shared budget per ~16 KiB of events), just
        what is needed beyond (so that holds taking more than they use cannot starve
        the others)."""
        self._reserved += self.budget.take(need, RESERVE)

    def _late(self, data: bytes) -> None:
        """An event that was on its way in when the hold opened or ended."""
        if self.opened:
            self.target.emit_bytes(data)
        elif self.merged and self.parent is not None:
            self.parent.keep(data)
        else:
            self.discarded += 1
            self.target.count_dropped("held_discarded")

    def open(self) -> None:
        """Open this hold and every hold it is nested in: what they hold goes out, in order.

        Called for an event at the trigger level (before that event is emitted), and by
        :meth:`release`. What the context logs from then on passes through.
        """
        chain = []
        held: Held | None = self
        while held is not None:
            chain.append(held)
            held = held.parent
        for one in reversed(chain):  # the outermost first: its events are the oldest
            one._open_one()

    def _open_one(self) -> None:
        with self._lock:
            if self.opened or self.ended:
                return
            self.opened = True
            events, self._events = self._events, deque()
            self.budget.give(self._reserved)
            self._size = self._reserved = 0
        emit = self.target.emit_bytes
        while events:
            emit(events.popleft())

    def release(self) -> None:
        """Emit what this context holds now and pass the rest through (a failure found by hand)."""
        self.open()

    def abandon(self) -> None:
        """The pipeline stops with this hold still open (a request in flight at exit): what
        it keeps is discarded now, counted ``held_discarded``, so the stop's figures are
        whole; what it keeps afterwards is counted when it ends, as ever."""
        with self._lock:
            if self.ended or self.opened:
                return
            events, self._events = self._events, deque()
            self.budget.give(self._reserved)
            self._size = self._reserved = 0
        if events:
            self.discarded += len(events)
            self.target.count_dropped("held_discarded", len(events))

    def end(self, *, failed: bool) -> None:
        """The hold's block is over: ``failed`` emits what it holds, otherwise it is
        handed to the hold it is nested in, or discarded (counted ``held_discarded``)."""
        if failed:
            self._open_one()  # this hold only: an outer block may still handle the failure
        parent = self.parent
        while parent is not None and parent.ended and not parent.opened:
            parent = parent.parent if parent.merged else None
        with self._lock:
            if self.ended:
                return
            self.ended = True
            if self.opened:
                return
            events, self._events = self._events, deque()
            self.budget.give(self._reserved)
            self._size = self._reserved = 0
            if parent is not None:
                self.merged = True
                self.parent = parent
        if parent is not None:
            while events:
                parent.keep(events.popleft())
        elif events:
            self.discarded += len(events)
            self.target.count_dropped("held_discarded", len(events))


def current_hold() -> Held | None:
    """The hold this context logs into now (an ended one's parent, if it was merged)."""
    held = _get()
    while held is not None and held.ended:
        held = held.parent if held.merged else None
    return held


def _resolve(held: Held) -> Held | None:
    while held is not None and held.ended:
        if not held.merged:
            return None
        held = held.parent  # type: ignore[assignment]
    return held


def emit_unheld(emit: Callable[[dict[str, Any]], None], event: dict[str, Any]) -> None:
    """``emit(event)`` as if no hold were open (the servers' own lines: access lines,
    server errors; a hold must not swallow the record of every request)."""
    token = HOLDING.set(None)
    try:
        emit(event)
    finally:
        HOLDING.reset(token)


def enabled(target: Target, name: str, level: int) -> bool:
    """``Logger.is_enabled_for`` while holds are in use (its level cell said yes): is a call
    at ``level`` kept by this context's hold, or by the logger's real level?"""
    held = current_hold()
    if held is not None and held.target is target and level >= held.floor:
        return True
    rules = target.level_rules
    return level >= (target.min_level if rules is None else rules.level_of(name))


def make_gate(
    target: Target, storm: Callable[[str, object, int, int], bool] | None
) -> Callable[..., bool]:
    """The pipeline's pre-encode hook while holds are in use: does this call end here?

    ``gate(logger, template, level, ns, check=True)``. A call at a level the hold of its
    context keeps passes; any other call is held to its logger's real level (the level
    cell let it through for the holds' sake): below it, it ends here, uncounted (it is a
    disabled call). The stdlib handler passes ``check=False``: its records were leveled by
    ``logging``. Then the storm guard, if configured, as without holds.
    """

    def gate(name: str, template: object, level: int, now: int, check: bool = True) -> bool:
        if check:
            held = _get()
            if held is not None and held.ended:
                held = _resolve(held)
            if held is None or held.target is not target or level < held.floor:
                rules = target.level_rules
                if level < (target.min_level if rules is None else rules.level_of(name)):
                    return True  # disabled outside a hold: dropped, not counted
        return storm is not None and storm(name, template, level, now)

    return gate
