"""The pieces an HTTP sink's write is cut into, and what a refusal says.

A write's events travel as *pieces*: the batch itself (its bytes are the body) or a list
of events. A piece the backend finds too large, or refuses, is cut in halves
(:class:`Half`, so the sink knows which requests are bisection's); :func:`size_of` is
what the learned size cap limits.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TypeVar

from .._core.batch import Batch
from .._core.errors import outside_stacklevel
from .._delivery.retry import AttemptResult
from .._delivery.transport import HttpResponse

__all__ = [
    "Half",
    "Piece",
    "as_events",
    "error_text",
    "halves",
    "longest_event_fits",
    "renamed_option",
    "size_of",
]

_REASON_BYTES = 1024
_REASON_CHARS = 200
_T = TypeVar("_T")

#: One request's events: a batch (its bytes are the body) or a list of events.
Piece = list[bytes] | Batch


def longest_event_fits(data: bytes, limit: int) -> bool:
    """Whether every newline-terminated event in ``data`` is at most ``limit`` bytes."""
    if len(data) <= limit + 1:
        return True
    start = 0
    find = data.find
    end = len(data)
    while start < end:
        nl = find(b"\n", start)
        if nl < 0:
            nl = end
        if nl - start > limit:
            return False
        start = nl + 1
    return True


def as_events(events: Piece | Sequence[bytes]) -> list[bytes]:
    return events.events() if isinstance(events, Batch) else list(events)


class Half(list[bytes]):
    """Half of a request that was split or bisected (its successes earn bisect budget)."""

    half = True


def size_of(piece: Piece) -> int:
    """A request's event bytes (what the worker merges and the learned cap limits)."""
    return piece.nbytes if isinstance(piece, Batch) else sum(map(len, piece)) + len(piece)


def halves(piece: Piece) -> list[Piece]:
    items = as_events(piece)
    middle = len(items) // 2
    return [Half(items[:middle]), Half(items[middle:])]


def error_text(response: HttpResponse, result: AttemptResult) -> str:
    """The failure as short text: the status and the backend's reason, if it gave one."""
    if not response.status:
        return result.error or result.kind.value
    reason = reason_of(response.body)
    return f"HTTP {response.status}: {reason}" if reason else f"HTTP {response.status}"


def reason_of(body: bytes) -> str:
    """The start of an error reply's body, on one line (a backend's reason)."""
    text = body[:_REASON_BYTES].decode("utf-8", "replace").strip()
    return " ".join(text.split())[:_REASON_CHARS]


def renamed_option(old: str, new: str, value: _T) -> _T:
    """A keyword argument given under its former name: accepted, with a DeprecationWarning."""
    warnings.warn(
        f"{old}= is now {new}= (the largest event the backend accepts, not nglogger's "
        f"max_event_bytes setting); the old name will be removed",
        DeprecationWarning,
        stacklevel=outside_stacklevel(),
    )
    return value
