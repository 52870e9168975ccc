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

The flush runs on a helper thread that the handler waits for, bounded by the deadline:
a signal can arrive while the main thread is inside a log call holding a buffer lock,
and a flush on the main thread itself could then wait for that lock forever.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

from . import _target
from ._pipeline import Pipeline

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
    if isinstance(pipeline, Pipeline):
        timeout = pipeline.config.shutdown_timeout
        work = pipeline.shutdown if dies else pipeline.flush
        flusher = threading.Thread(
            target=work, args=(timeout,), name="nglogger-signal-flush", daemon=True
        )
        flusher.start()
        flusher.join(timeout + 0.5)
    if callable(previous):
        previous(number, frame)
    elif dies:
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    # SIG_IGN (or None: installed outside Python): the signal stays ignored
