"""The recursion guard: events emitted while delivering never re-enter.

nglogger's own threads (batcher, sink workers) mark their context as
"delivering". The context-variable lookup that every log call already makes for
request context doubles as the check, so the guard costs nothing extra on the
hot path: when the variable holds the ``DELIVERING`` sentinel the event is
counted (``recursion``) and dropped.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable
from contextvars import ContextVar
from queue import Empty, SimpleQueue
from typing import Any

from .reasons import DropReason

__all__ = [
    "CONTEXT",
    "DELIVERING",
    "Waker",
    "collecting_here",
    "count_recursion",
    "enter_delivery",
]

#: Request-scoped context: a dict of pre-serialized fragments, or the sentinel.
CONTEXT: ContextVar[Any] = ContextVar("nglogger_context", default=None)


class _Delivering:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<nglogger delivering>"

    def __bool__(self) -> bool:
        return True


DELIVERING: Any = _Delivering()


#: Who to tell about a dropped recursive event: the pipeline owning this thread.
_OWNER: ContextVar[Callable[[DropReason], None] | None] = ContextVar("nglogger_owner", default=None)


def enter_delivery(count: Callable[[DropReason], None] | None = None) -> None:
    """Mark the current thread's context as delivering (call at thread start).

    ``count`` (the owning pipeline's drop counter) receives ``"recursion"`` for
    every event dropped by the guard on this thread.
    """
    CONTEXT.set(DELIVERING)
    _OWNER.set(count)


_get_ident = threading.get_ident
#: The thread the garbage collector is running on (0: none): see collecting_here.
_COLLECTING = [0]


def _gc_phase(phase: str, _info: dict[str, int]) -> None:
    _COLLECTING[0] = _get_ident() if phase == "start" else 0


gc.callbacks.append(_gc_phase)


def collecting_here() -> bool:
    """True inside a garbage collection on this thread: a ``__del__`` is running.

    The collector runs finalizers on whatever thread triggered it, nglogger's own
    included: an event a finalizer logs there is the application's, not one that
    delivering caused, and is kept rather than dropped by the recursion guard.
    """
    return _COLLECTING[0] == _get_ident()


def count_recursion() -> None:
    """Count one event dropped by the guard on the pipeline that owns this thread."""
    count = _OWNER.get()
    if count is not None:
        try:
            count("recursion")
        except Exception:
            pass


class Waker:
    """Wakes the thread waiting in :meth:`wait`; safe from a signal handler or a finalizer.

    ``threading.Event.set`` takes a lock in Python code: a signal handler (or a
    ``__del__``) that runs while its own thread is inside ``set`` and logs would
    wait for that lock forever. ``queue.SimpleQueue.put`` is implemented in C and
    documented as reentrant, so :meth:`set` never waits. At most one wake-up is
    queued at a time (``_armed``): a storm of calls costs one token.
    """

    __slots__ = ("_armed", "_queue")

    def __init__(self) -> None:
        self._queue: SimpleQueue[None] = SimpleQueue()
        self._armed = False

    def set(self) -> None:
        """Wake the waiter (or the next ``wait`` returns at once)."""
        if not self._armed:
            self._armed = True
            self._queue.put(None)

    def wait(self, timeout: float) -> None:
        """Return when woken, or after ``timeout`` seconds."""
        queue = self._queue
        try:
            queue.get(True, max(0.0, timeout))
        except Empty:
            pass
        self._armed = False  # before draining: a set() from now on queues a new token
        for _ in range(queue.qsize()):  # tokens queued meanwhile; one waiter: get never waits
            queue.get(False)
