"""A stream sink's writes on the caller's thread (``sync``): a terminal in order with ``print()``.

``SyncWriter`` writes a stream sink's rendered events from the log call itself, so a line
reaches the terminal before the call returns, between the program's own ``print()`` lines.
It never waits past a deadline: it writes through an open file description of its own, in
non-blocking mode (``os.open`` of the terminal's name; ``O_NONBLOCK`` belongs to the
description, so the program's ``sys.stdout`` stays blocking), and waits for room with
``poll`` only until the deadline. A terminal that does not drain (flow control, a stopped
reader) therefore answers "written in part" or "not at all", and the caller hands the rest to
the sink's worker (see ``nglogger._pipeline.console``).

Which streams: a terminal (the default, ``sync=None``); with ``sync=True`` also a pipe or
FIFO (reopened through ``/proc/self/fd``) and a regular file (its own descriptor: a file never
blocks for long, and a description of our own would keep an offset of its own). Anything
else, or a reopen that fails, leaves the sink on its worker thread.

:class:`Written` is the part of an event a deadline cut: console bytes ready as they are,
counting no event (the event was counted when its first bytes were written).

Worst-case footprint: one descriptor and the rendered text of one event.
"""

from __future__ import annotations

import os
import select
import stat
import threading
import time
from dataclasses import dataclass
from typing import IO

from .._core.batch import Batch

__all__ = ["SyncWriter", "Written", "open_sync"]

_NONBLOCK_FLAGS = (
    os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
)


@dataclass(frozen=True, slots=True, eq=False)
class Written(Batch):
    """Bytes for the stream as they are (the rest of an event cut by a deadline): no event."""


class SyncWriter:
    """One stream's writes on the caller's thread, bounded by a deadline (module docstring)."""

    def __init__(self, fd: int, stream: IO[str], *, owned: bool) -> None:
        #: The descriptor written (-1 once closed); ``owned``: ours to close.
        self.fd = fd
        #: The stream object it was opened for: a replaced ``sys.stdout`` is not written here.
        self.stream = stream
        self._owned = owned
        #: Held while writing. An RLock, so a call re-entering on its thread (a signal
        #: handler, a finalizer) sees ``_is_owned()`` and takes the queued path instead.
        self.lock = threading.RLock()

    def write(self, data: bytes, deadline: float) -> int:
        """Write ``data`` until done or ``deadline`` (monotonic); how many bytes were written.

        Never waits past the deadline. Raises ``OSError`` for anything but a full device
        (a closed terminal: ``EIO``). Call with ``lock`` held.
        """
        fd = self.fd
        if fd < 0:
            return 0
        size = len(data)
        view = memoryview(data)
        done = 0
        poller: select.poll | None = None
        while True:
            try:
                done += os.write(fd, view[done:])
            except BlockingIOError:
                pass
            except InterruptedError:
                continue
            if done >= size:
                return done
            left = deadline - time.monotonic()
            if left <= 0:
                return done
            if poller is None:
                poller = select.poll()
                poller.register(fd, select.POLLOUT)
            poller.poll(max(1, int(left * 1000)))

    def close(self, timeout: float = 0.5) -> None:
        """Close the descriptor, once no call is writing (within ``timeout``; else leave it)."""
        if not self.lock.acquire(timeout=timeout):
            return  # a write is stuck past every deadline: leaving the fd open is the safe side
        try:
            fd, self.fd = self.fd, -1
            if fd >= 0 and self._owned:
                try:
                    os.close(fd)
                except OSError:
                    pass
        finally:
            self.lock.release()


def open_sync(stream: IO[str], sync: bool | None) -> SyncWriter | None:
    """A writer for ``stream`` on the caller's thread, or None (module docstring: which)."""
    if sync is False:
        return None
    try:
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
        if os.isatty(fd):
            return SyncWriter(os.open(os.ttyname(fd), _NONBLOCK_FLAGS), stream, owned=True)
        if sync is None:
            return None
        if stat.S_ISFIFO(mode):
            path = f"/proc/self/fd/{fd}"
            return SyncWriter(os.open(path, _NONBLOCK_FLAGS), stream, owned=True)
        if stat.S_ISREG(mode):
            return SyncWriter(fd, stream, owned=False)
    except (AttributeError, ValueError, OSError):
        return None
    return None
