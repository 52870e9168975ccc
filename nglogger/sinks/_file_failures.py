"""The file sink's failures: counters that hold no exception, and the warning episodes.

An ``OSError`` is kept as its errno name and message only (keeping the exception would
pin its frames). Warnings are said once per episode, not per batch: the first failed
batch says "sink file:/x/app.jsonl cannot write (ENOSPC: ...); batches are dropped
(write_error) until it can", the first batch written after failures says "... writes
again (N events dropped as write_error while it could not)". The texts are queued in
:attr:`Failures.notices`, for the sink to print once its lock is released. Memory: the
queued texts (one per change of state, taken after every batch) plus a constant.
"""

from __future__ import annotations

import errno

__all__ = ["Failures", "describe"]


def describe(exc: OSError) -> str:
    """Errno name and message only: keeping the exception would pin its frames."""
    if exc.errno is None:
        return f"{type(exc).__name__}: {exc}"
    name = errno.errorcode.get(exc.errno, f"errno {exc.errno}")
    return f"{name}: {exc.strerror}"


class Failures:
    """One process's failure record of one file sink (a forked child starts a new one).

    ``errors``: batches (and closes) that failed; ``last_error``: the latest as
    ``"ENAME: message"``; ``failing``: whether batches are failing now (its warning
    went out); ``episode``: events dropped meanwhile; ``notices``: warnings to print
    (the sink queues its other warnings there too).
    """

    __slots__ = ("episode", "errors", "failing", "last_error", "notices")

    def __init__(self) -> None:
        self.errors = 0
        self.last_error: str | None = None
        self.failing = False
        self.episode = 0
        self.notices: list[str] = []

    def record(self, exc: OSError) -> None:
        """Count a failure (a close's, or a batch's through :meth:`failed`)."""
        self.errors += 1
        self.last_error = describe(exc)

    def failed(self, exc: OSError, dropped: int, who: str) -> None:
        """A batch failed, ``dropped`` of its events lost: the first of an episode says so."""
        self.record(exc)
        self.episode += dropped
        if not self.failing:
            self.failing = True
            self.notices.append(
                f"sink {who} cannot write ({self.last_error}); "
                "batches are dropped (write_error) until it can"
            )

    def recovered(self, who: str) -> None:
        """A batch was written while :attr:`failing`: the episode ends, and says so."""
        self.failing = False
        self.notices.append(
            f"sink {who} writes again ({self.episode} events dropped as "
            "write_error while it could not)"
        )
        self.episode = 0

    def take(self) -> list[str]:
        """The queued warnings, removed."""
        notices = self.notices
        if notices:
            self.notices = []
        return notices
