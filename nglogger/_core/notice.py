"""nglogger's own warnings about its sinks: a few lines on stderr, never through a sink.

A sink that starts failing, whose breaker opens, or that recovers says so once
(:func:`warn`), and a pipeline's shutdown prints one line per sink that left
events undelivered (:func:`summary`). Lines go to ``sys.stderr`` directly (not
through nglogger's stream sink, which may be the failing one) and to the
stdlib logger ``"nglogger"`` when the application configured a handler for it
(nglogger's own ``LoggingHandler`` excepted: that would route the warning into
the pipeline whose sink is failing).

Rate limit: a bucket of :data:`BURST` lines refilled at one line per
:data:`REFILL` seconds, for the whole process; lines over it are counted and
the next line that goes out says how many were suppressed. Summaries at
shutdown are not limited (one line per sink, once). Thread-safe.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["BURST", "REFILL", "NoticeLimiter", "state", "summary", "warn"]

BURST = 3
"""Lines that may go out at once."""
REFILL = 20.0
"""Seconds per line after the burst: at most ~3 lines a minute in steady state."""


class NoticeLimiter:
    """A token bucket for warning lines (clock injectable)."""

    def __init__(
        self,
        burst: int = BURST,
        refill: float = REFILL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._burst = float(burst)
        self._refill = float(refill)
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self._lock = threading.RLock()  # a warning from a signal handler never waits
        self.suppressed = 0

    def take(self) -> int | None:
        """Lines suppressed since the last one that went out, or None to suppress this one."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._at) / self._refill)
            self._at = now
            if self._tokens < 1.0:
                self.suppressed += 1
                return None
            self._tokens -= 1.0
            suppressed, self.suppressed = self.suppressed, 0
            return suppressed


_limiter = NoticeLimiter()


def warn(text: str) -> bool:
    """Print ``nglogger: <text>`` (rate-limited); True if it went out."""
    suppressed = _limiter.take()
    if suppressed is None:
        return False
    if suppressed:
        text = f"{text} ({suppressed} earlier warning(s) suppressed)"
    _emit(text)
    return True


#: Nesting depth of ``muted()``: while above zero, notices are not printed.
_MUTED = [0]


@contextmanager
def muted() -> Iterator[None]:
    """Print no notice inside the block (``nglogger bench``: its own scenarios drop on purpose)."""
    _MUTED[0] += 1
    try:
        yield
    finally:
        _MUTED[0] -= 1


def state(text: str) -> None:
    """Print a change of state said once per change (memory shedding starts, ends): not
    rate-limited, so that the end of an episode is never left unsaid."""
    _emit(text)


def summary(text: str) -> None:
    """Print a shutdown summary line (not rate-limited: once per sink)."""
    _emit(text)


def _emit(text: str) -> None:
    if _MUTED[0]:
        return
    line = f"nglogger: {text}"
    try:
        stream = sys.stderr
        if stream is not None:
            stream.write(line + "\n")
            stream.flush()
    except Exception:  # a closed or broken stderr must not break delivery
        pass
    _to_logging(text)


def _to_logging(text: str) -> None:
    logging = sys.modules.get("logging")
    if logging is None:  # the application does not use the stdlib logging: nothing to do
        return
    try:
        logger = logging.getLogger("nglogger")
        if not _has_foreign_handler(logger):
            return
        logger.warning("%s", text)
    except Exception:
        pass


def _has_foreign_handler(logger: object) -> bool:
    """Whether a handler other than nglogger's own would receive the logger's records."""
    current = logger
    while current is not None:
        for handler in getattr(current, "handlers", ()):
            if not type(handler).__module__.startswith("nglogger"):
                return True
        if not getattr(current, "propagate", False):
            break
        current = getattr(current, "parent", None)
    return False
