"""Why an event was not delivered: the one list of drop reasons.

``stats().dropped`` (events lost before the sinks) and ``stats().sinks[name].dropped``
(a sink's) are counted under these names. ``DropReason`` types every place nglogger
counts one, so a misspelt reason is a type error; ``DROP_REASONS`` says where each is
counted and what it means, and the documentation's table is generated from it. A sink
of your own may report other names in its ``Outcome``: they are counted as given.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["DROP_REASONS", "DropReason", "Where"]

DropReason = Literal[
    "buffer_full",
    "too_large",
    "encode_error",
    "memory_error",
    "recursion",
    "after_shutdown",
    "reentrant",
    "fork",
    "sampled",
    "rate_limited",
    "storm_suppressed",
    "memory_pressure",
    "batcher_error",
    "sink_queue_full",
    "breaker_open",
    "expired",
    "rejected",
    "write_error",
    "sink_error",
    "shutdown_deadline",
    "spool_full",
    "spool_corrupt",
    "spool_error",
    "closed",
    "filter_error",
    "held_dropped",
    "held_discarded",
]

#: ``pipeline``: in ``stats().dropped``; ``sink``: in a sink's; ``both``.
Where = Literal["pipeline", "sink", "both"]

DROP_REASONS: Final[dict[DropReason, tuple[Where, str]]] = {
    "buffer_full": (
        "pipeline",
        (
            "the buffer was full: its overflow policy rejected the incoming event or evicted "
            "the oldest (a `block` wait that timed out too)"
        ),
    ),
    "too_large": (
        "both",
        (
            "one event over `max_event_bytes` with `oversize=drop`; or, at a sink, one event "
            "over the sink's per-event or per-request limit"
        ),
    ),
    "encode_error": (
        "both",
        (
            "an event that could not be serialized (outside strict mode); or a sink that could "
            "not encode a batch for its wire format"
        ),
    ),
    "memory_error": (
        "pipeline",
        (
            "a `MemoryError` inside the log call (every lock released, logging goes on), or the "
            "events of a buffer arena whose growth failed"
        ),
    ),
    "recursion": (
        "pipeline",
        (
            "logged on one of nglogger's own threads (a sink, or a library a sink uses): "
            "dropped so that it cannot loop"
        ),
    ),
    "after_shutdown": (
        "both",
        (
            "logged after `shutdown()`; after the exit shutdown, to a sink that cannot take "
            "late writes or past the shutdown deadline"
        ),
    ),
    "reentrant": (
        "sink",
        (
            "logged after the exit shutdown by a call that re-entered a late write on its own "
            "thread (a finalizer run inside it)"
        ),
    ),
    "fork": (
        "pipeline",
        (
            "buffered by a forked child before it noticed the fork (a fork that bypassed "
            "`os.register_at_fork`)"
        ),
    ),
    "sampled": ("pipeline", "left out by `sample=` (a level's probability)"),
    "rate_limited": ("pipeline", "over the rate limit of `sample=`"),
    "storm_suppressed": (
        "pipeline",
        "a call site over `storm_limit`: folded into one summary event per site and period",
    ),
    "memory_pressure": (
        "sink",
        (
            "the process was over `memory_limit`: the oldest queued events beyond a quarter "
            "of the queue's limits were dropped (a sink without a spool)"
        ),
    ),
    "batcher_error": (
        "pipeline",
        "the batcher thread caught an unexpected exception (counted once per error)",
    ),
    "sink_queue_full": ("sink", "the sink's queue was full (its overflow policy)"),
    "breaker_open": (
        "sink",
        "the queue was full while the sink's circuit breaker was open (an HTTP sink)",
    ),
    "expired": ("sink", "waited in the queue longer than the sink's `max_age`"),
    "rejected": ("sink", "refused by the backend for good (a non-retryable answer)"),
    "write_error": ("sink", "the sink could not write (disk full, read-only, broken stream)"),
    "sink_error": (
        "sink",
        "the sink's `write()` raised, or its `Outcome` did not account for every event",
    ),
    "shutdown_deadline": (
        "sink",
        (
            "still queued or in flight when `shutdown_timeout` ran out (what a spool could take "
            "is kept there instead)"
        ),
    ),
    "spool_full": ("sink", "the spool directory was at `spool_max_bytes`"),
    "spool_corrupt": ("sink", "a spool record failed its checksum when read back"),
    "spool_error": ("sink", "the spool could not write a batch (the disk failed)"),
    "closed": ("sink", "written to a file sink after its `close()`"),
    "filter_error": ("pipeline", "a stdlib `logging.Filter` on nglogger's handler raised"),
    "held_dropped": (
        "pipeline",
        "held by `nglogger.hold()` when its buffer was full (`hold_bytes`): the oldest go",
    ),
    "held_discarded": (
        "pipeline",
        (
            "held by `nglogger.hold()` in a context that ended without an event at its "
            "trigger level (a request that did not fail): discarded, as asked"
        ),
    ),
}

assert set(DROP_REASONS) == set(get_args(DropReason))  # one list, two spellings

#: Reasons that are the configured behaviour working, not a loss: counted in ``stats()``
#: like every reason, left out of the periodic "nglogger dropped N events" warning and
#: of the loss report (a server using the hold middleware discards the debug lines of
#: every request that did not fail; saying so every minute would be noise).
AS_ASKED: frozenset[str] = frozenset({"held_discarded"})
