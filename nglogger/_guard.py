"""The recursion guard: events emitted while delivering never re-enter.

nglogger's own threads (batcher, sink workers) mark their context as
"delivering". The context-variable lookup that every log call already makes for
request context doubles as the check, so the guard costs nothing extra on the
hot path: when the variable holds the ``DELIVERING`` sentinel the event is
counted (``recursion``) and dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

__all__ = ["CONTEXT", "DELIVERING", "count_recursion", "enter_delivery"]

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
_OWNER: ContextVar[Callable[[str], None] | None] = ContextVar("nglogger_owner", default=None)


def enter_delivery(count: Callable[[str], None] | None = None) -> None:
    """Mark the current thread's context as delivering (call at thread start).

    ``count`` (the owning pipeline's drop counter) receives ``"recursion"`` for
    every event dropped by the guard on this thread.
    """
    CONTEXT.set(DELIVERING)
    _OWNER.set(count)


def count_recursion() -> None:
    """Count one event dropped by the guard on the pipeline that owns this thread."""
    count = _OWNER.get()
    if count is not None:
        try:
            count("recursion")
        except Exception:
            pass
