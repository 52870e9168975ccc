"""The recursion guard: events emitted while delivering never re-enter.

nglogger's own threads (batcher, sink workers) mark their context as
"delivering". The context-variable lookup that every log call already makes for
request context doubles as the check, so the guard costs nothing extra on the
hot path: when the variable holds the ``DELIVERING`` sentinel the event is
counted (``recursion``) and dropped.
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

__all__ = ["CONTEXT", "DELIVERING", "enter_delivery"]

#: Request-scoped context: a dict of pre-serialized fragments, or the sentinel.
CONTEXT: ContextVar[Any] = ContextVar("nglogger_context", default=None)


class _Delivering:
    __slots__ = ()

    def __repr__(self) -> str:
        return "<nglogger delivering>"

    def __bool__(self) -> bool:
        return True


DELIVERING: Any = _Delivering()


def enter_delivery() -> None:
    """Mark the current thread's context as delivering (call at thread start)."""
    CONTEXT.set(DELIVERING)
