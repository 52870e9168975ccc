"""Flush on SIGTERM: what every container stop sends, and what ``atexit`` never sees.

Without a handler, SIGTERM kills the process at once: neither ``atexit`` nor
``threading``'s exit hooks run, and whatever was buffered is lost.
:func:`handle_signals` installs a handler (opt-in; ``NGLOGGER_HANDLE_SIGTERM=1``, or
``handle_sigterm=True``, makes ``configure()`` install it) that delivers what the default
pipeline holds within ``shutdown_timeout`` and then lets the signal do what it would
have done:

* the handler installed before is called after a *flush*: the application (gunicorn,
  uvicorn, a graceful-stop handler) goes on shutting down and its last lines still go
  to the same pipeline, flushed again at exit;
* the default action: the pipeline is shut down, the default restored and the signal
  sent again, so the process ends with the same status (``-SIGTERM``) as without nglogger;
* an ignored signal stays ignored (after the flush).

The handler never waits for a lock its own thread may hold. A signal runs its handler
on the main thread between two bytecodes of whatever that thread was doing, a log
call holding the buffer lock included; so the work runs on a helper thread, and the
handler waits for it only when the interrupted frames are not nglogger's own (when
they are, it returns at once and the interrupted call finishes first):

* when the signal is to end the process, the helper flushes, then *freezes* the
  buffer (a log call on another thread now waits instead of returning with an event
  that would be lost), hands the rest to the sinks, waits for them within
  ``shutdown_timeout``, and sends the signal again with the default action restored:
  the process ends with the signal's status, and every log call that returned before
  it ended was delivered;
* when a handler installed before is to be called, it is called after the flush
  (skipped when the signal interrupted nglogger itself: that handler then runs at
  once, and the exit hook delivers).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from types import FrameType
from typing import Any

from .._core.guard import enter_delivery
from .._event import target as _target
from .pipeline import Pipeline

__all__ = ["handle_signals"]

_Handler = Callable[[int, FrameType | None], Any] | int | None
_previous: dict[int, _Handler] = {}


def handle_signals(signals: Iterable[int] = (signal.SIGTERM,)) -> bool:
    """Flush the default pipeline when one of ``signals`` arrives (default: SIGTERM).

    Chains to the handler installed before. Returns False (and installs nothing) when
    not called from the main thread, where Python allows no signal handler. Idempotent.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    for number in signals:
        current = signal.getsignal(number)
        if current is _on_signal:
            continue
        _previous[number] = current
        signal.signal(number, _on_signal)
    return True


def _on_signal(number: int, frame: FrameType | None) -> None:
    previous = _previous.get(number, signal.SIG_DFL)
    dies = previous == signal.SIG_DFL
    pipeline = _target.current
    inside = _in_nglogger(frame)  # the signal interrupted nglogger: do not wait here
    if isinstance(pipeline, Pipeline):
        timeout = pipeline.config.shutdown_timeout
        if dies:
            signal.signal(number, signal.SIG_DFL)  # a second signal ends it at once
            ender = threading.Thread(
                target=_end, args=(pipeline, number), name="nglogger-signal-end", daemon=True
            )
            ender.start()
            if not inside:
                ender.join(timeout + 1.0)  # the process normally ends before this returns
            return
        if not inside:
            flusher = threading.Thread(
                target=_flush, args=(pipeline,), name="nglogger-signal-flush", daemon=True
            )
            flusher.start()
            flusher.join(timeout + 0.5)
    if callable(previous):
        previous(number, frame)
    elif dies:
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    # SIG_IGN (or None: installed outside Python): the signal stays ignored


def _flush(pipeline: Pipeline) -> None:
    enter_delivery(pipeline.count_dropped)  # what a sink logs meanwhile must not loop
    pipeline.flush()


def _end(pipeline: Pipeline, number: int) -> None:
    """Deliver everything, then end the process with ``number`` (its default action)."""
    enter_delivery(pipeline.count_dropped)
    deadline = time.monotonic() + pipeline.config.shutdown_timeout
    try:
        pipeline.flush(pipeline.config.shutdown_timeout / 2)  # most of it, while logging goes on
        pipeline.shutdown(max(0.0, deadline - time.monotonic()), mode="freeze")
    finally:
        os.kill(os.getpid(), number)
        # Still here a second later (the signal blocked, or its action changed meanwhile):
        # the process goes on, so log calls must not wait on the frozen buffer any more.
        threading.Event().wait(1.0)
        pipeline.buffer.thaw()


_PACKAGE = str(Path(__file__).parent.parent) + os.sep  # nglogger/, this file is in _pipeline/


def _in_nglogger(frame: FrameType | None) -> bool:
    """True if ``frame`` or a frame below it runs nglogger's code (a log call, a flush)."""
    while frame is not None:
        if frame.f_code.co_filename.startswith(_PACKAGE):
            return True
        frame = frame.f_back
    return False
