"""What every live pipeline of the process shares: fork and exit hooks, closing in time.

A started pipeline is :func:`register`-ed: held weakly in ``LIVE``, it is rebuilt in a
forked child (``nglogger._core.forks.in_child``) and flushed, then shut down, at exit
in two phases:

1. ``threading``'s exit hook (before non-daemon threads are joined): every pipeline
   is flushed within the largest ``shutdown_timeout``, while the daemon sink threads
   still run;
2. ``atexit`` (after them): every pipeline shuts down in ``"late"`` mode, so that
   what later ``atexit`` handlers, daemon threads and finalizers at teardown log is
   still written, on their own thread. With a sink already stuck in phase 1, phase 2
   gets a short grace period only: exit takes at most ``shutdown_timeout`` + ~0.2 s.

After phase 2 began, :func:`exiting` is True: a pipeline built from then on starts no
thread (it writes on the caller's thread from the start).
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Literal, Protocol

from .._core.forks import in_child
from .._core.guard import enter_delivery
from .._core.reasons import DropReason
from .._core.sink import Sink

__all__ = [
    "LIVE",
    "Hooked",
    "ShutdownMode",
    "close_all_within",
    "exiting",
    "register",
    "stop_quietly",
]

_monotonic = time.monotonic

ShutdownMode = Literal["close", "late", "freeze"]


class Hooked(Protocol):
    """What the process hooks ask of a pipeline (``Pipeline`` implements it)."""

    @property
    def shutdown_timeout(self) -> float: ...

    def running_in(self, pid: int) -> bool:
        """Started by process ``pid`` and not shut down."""
        ...

    def flush(self, timeout: float | None = None, *, leave_to_spool: bool = False) -> bool: ...

    def shutdown(self, timeout: float | None = None, *, mode: ShutdownMode = "close") -> bool: ...

    def after_fork_child(self) -> None: ...


class _Stoppable(Protocol):
    def stop(self, deadline: float) -> bool: ...


#: Every started pipeline that is still referenced (for fork and exit hooks).
LIVE: weakref.WeakSet[Hooked] = weakref.WeakSet()
_hooks_registered = False
_at_exit_done = False
#: Set by the exit hook: a pipeline built from now on starts no thread.
_exiting = False
#: None: the first exit phase did not run; True/False: whether it delivered everything.
_exit_flushed: bool | None = None


def exiting() -> bool:
    """The exit shutdown began: no thread can be relied on any more."""
    return _exiting


def register(pipeline: Hooked) -> None:
    """Hold ``pipeline`` (weakly) for the fork and exit hooks, installed once."""
    global _hooks_registered
    LIVE.add(pipeline)
    if _hooks_registered:
        return
    _hooks_registered = True
    in_child(_after_fork_in_child)  # last: after every module's locks are new
    # threading joins non-daemon threads before ``atexit`` handlers run; its
    # own exit hooks run first, while our daemon workers are still alive.
    register_early = getattr(threading, "_register_atexit", None)
    if register_early is not None:
        try:
            register_early(_exit_flush)
        except RuntimeError:  # interpreter already shutting down
            pass
    import atexit

    atexit.register(_at_exit)


def _after_fork_in_child() -> None:
    for pipeline in list(LIVE):
        pipeline.after_fork_child()


def _ours() -> list[Hooked]:
    pid = os.getpid()
    return [p for p in list(LIVE) if p.running_in(pid)]


def _exit_flush() -> None:
    """First exit phase: flush every live pipeline within the largest ``shutdown_timeout``."""
    global _exit_flushed
    pipelines = _ours()
    if not pipelines:
        _exit_flushed = True
        return
    deadline = _monotonic() + max(p.shutdown_timeout for p in pipelines)
    ok = True
    for pipeline in pipelines:
        # A sink that is down with every event left on disk is not waited for: the
        # process exits at once and the next start delivers them.
        ok = pipeline.flush(max(0.0, deadline - _monotonic()), leave_to_spool=True) and ok
    _exit_flushed = ok


def _at_exit() -> None:
    """Second exit phase: shut down, each pipeline in ``"late"`` mode.

    If the first phase delivered everything, each pipeline gets its full
    ``shutdown_timeout`` again for what late threads logged; if a sink was already
    stuck, only a short grace period.
    """
    global _at_exit_done, _exiting
    if _at_exit_done:
        return
    _at_exit_done = _exiting = True
    pipelines = _ours()
    if not pipelines:
        return
    budget = max(p.shutdown_timeout for p in pipelines)
    if _exit_flushed is False:
        budget = 0.2
    deadline = _monotonic() + budget
    for pipeline in pipelines:
        pipeline.shutdown(max(0.0, deadline - _monotonic()), mode="late")


def stop_quietly(workers: list[_Stoppable]) -> None:
    """Let sink threads finish their queues and exit (an abandoned pipeline's finalizer)."""
    for worker in workers:
        _stop_one(worker)


def _stop_one(worker: _Stoppable) -> None:
    try:
        worker.stop(_monotonic())
    except Exception:  # e.g. called on that worker's own thread: it ends by itself
        pass


def close_all_within(
    sinks: list[Sink], deadline: float, count: Callable[[DropReason], None]
) -> None:
    """Call every ``sink.close()`` concurrently; return by ``deadline`` whatever they do."""
    threads = []
    for sink in sinks:

        def run(sink: Sink = sink) -> None:
            enter_delivery(count)  # a sink logging from close() must not loop either
            try:
                sink.close()
            except BaseException:  # including a duck-typed sink without close()
                pass

        thread = threading.Thread(target=run, name="nglogger-close", daemon=True)
        thread.start()
        threads.append(thread)
    for thread in threads:
        thread.join(max(0.0, deadline - _monotonic()))
