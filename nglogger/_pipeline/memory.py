"""Memory-pressure shedding: the process's RSS against ``memory_limit``.

The batcher thread reads the process's resident set size about every
``SAMPLE_INTERVAL`` (Linux: one ``pread`` of ``/proc/self/statm`` on a descriptor
kept open, reopened in a forked child; other platforms are not supported: ``auto``
is off there and an explicit limit is a ``ConfigWarning`` when the pipeline is
built). ``MemoryGuard.observe`` is the decision, a pure state machine on the
samples:

* above the limit: step 1, DEBUG is shed (every logger's level cell raised to INFO,
  ``_logger.shed``); still above ``ESCALATE_AFTER`` samples later: step 2, INFO is
  shed too (cells at WARNING). WARNING and above are never shed;
* below ``RECOVER_FRACTION`` of the limit (hysteresis: between the two nothing
  changes): the levels in force before come back at once.

A shed call costs what a disabled call costs (the level cell check at the top of
the log call, also in the C accelerator, which reads the same cell), so it is not
counted one by one. While shedding, every sample also shrinks what the pipeline
holds (``Pipeline._relieve``): the buffer is sealed and dispatched, and each sink's
queue keeps at most a quarter of its limits: the excess goes to the sink's spool
when it has one (and order allows), else the oldest are dropped, counted
``memory_pressure``. One line on stderr says when shedding starts, one when it ends.

Worst-case footprint: one open descriptor and a few integers per pipeline.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass

from .._config.memory import CGROUP_ROOT, PROC_CGROUP, resolve_memory_limit
from .._core.errors import ConfigWarning, outside_stacklevel
from .._core.levels import INFO, WARNING

__all__ = [
    "ESCALATE_AFTER",
    "FLOORS",
    "RECOVER_FRACTION",
    "SAMPLE_INTERVAL",
    "MemoryGuard",
    "RssReader",
    "build_guard",
]

#: Seconds between two RSS samples (the batcher wakes for them).
SAMPLE_INTERVAL = 0.1
#: Shedding ends once RSS is below this fraction of the limit.
RECOVER_FRACTION = 0.9
#: Samples still above the limit after a step before the next step (INFO shed too).
ESCALATE_AFTER = 3
#: The level cells' floor per step: 0 (nothing shed), INFO (DEBUG shed), WARNING.
FLOORS = (0, INFO, WARNING)
#: What each step sheds, for the notices.
SHED_NAMES = ("nothing", "DEBUG", "DEBUG and INFO")

STATM = "/proc/self/statm"


class RssReader:
    """The process's resident set size from ``/proc/self/statm`` (one small read).

    The descriptor is opened on first use and again in a forked child (the parent's
    would describe the parent). ``read()`` returns None where it cannot be read.
    """

    __slots__ = ("_fd", "_page", "_path", "_pid")

    def __init__(self, path: str = STATM) -> None:
        self._path = path
        self._fd = -1
        self._pid = 0
        try:
            self._page = os.sysconf("SC_PAGE_SIZE")
        except (AttributeError, ValueError, OSError):
            self._page = 4096

    def _open(self) -> int:
        if self._fd >= 0:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = -1
        self._fd = os.open(self._path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
        self._pid = os.getpid()
        return self._fd

    def read(self) -> int | None:
        """RSS in bytes, or None (unsupported, or the file is gone)."""
        try:
            fd = self._fd if self._pid == os.getpid() and self._fd >= 0 else self._open()
            data = os.pread(fd, 128, 0)
            return int(data.split(None, 2)[1]) * self._page
        except (OSError, ValueError, IndexError):
            return None

    def available(self) -> bool:
        """Whether a sample can be read here."""
        return self.read() is not None

    def close(self) -> None:
        if self._fd >= 0 and self._pid == os.getpid():
            try:
                os.close(self._fd)
            except OSError:
                pass
        self._fd = -1


@dataclass(slots=True)
class MemoryGuard:
    """One pipeline's memory limit and the state of its shedding (see the module docstring).

    ``observe(rss, now)`` moves the state and returns ``(step before, step after)``;
    nothing else changes it. The counters are read by ``stats()``.
    """

    limit: int
    source: str
    #: Monotonic seconds of the next sample (read by the batcher's wait).
    due: float = 0.0
    step: int = 0
    samples: int = 0
    rss: int = 0
    peak: int = 0
    episodes: int = 0
    #: Samples above the limit since the last step.
    above: int = 0
    #: When the current episode started (monotonic seconds).
    started: float = 0.0
    #: The highest step of the current (or last) episode.
    highest: int = 0

    @property
    def recover_below(self) -> int:
        return int(self.limit * RECOVER_FRACTION)

    def observe(self, rss: int, now: float) -> tuple[int, int]:
        """Take one sample; the step before and after it."""
        before = self.step
        self.samples += 1
        self.rss = rss
        self.peak = max(self.peak, rss)
        if rss > self.limit:
            if before == 0:
                self.step = self.highest = 1
                self.above = 0
                self.episodes += 1
                self.started = now
            elif before < len(FLOORS) - 1:
                self.above += 1
                if self.above >= ESCALATE_AFTER:
                    self.step = self.highest = before + 1
                    self.above = 0
        elif before and rss < self.recover_below:
            self.step = 0
            self.above = 0
        return before, self.step

    def figures(self) -> dict[str, int]:
        """For ``stats().memory``."""
        return {
            "limit_bytes": self.limit,
            "rss_bytes": self.rss,
            "peak_rss_bytes": self.peak,
            "samples": self.samples,
            "shed_level": FLOORS[self.step],
            "episodes": self.episodes,
        }

    def started_text(self) -> str:
        return (
            f"memory: RSS {_mib(self.rss)} is over memory_limit {_mib(self.limit)} "
            f"({self.source}): shedding DEBUG (then INFO if it stays over; never WARNING "
            f"and above) and shrinking queues until RSS is below {_mib(self.recover_below)}"
        )

    def ended_text(self, now: float, dropped: int, *, shutdown: bool = False) -> str:
        why = (
            "the pipeline shut down"
            if shutdown
            else f"RSS is back to {_mib(self.rss)} (below {_mib(self.recover_below)})"
        )
        return (
            f"memory: {why}: shedding ended after {max(0.0, now - self.started):.1f} s "
            f"(shed: {SHED_NAMES[self.highest]}; peak RSS {_mib(self.peak)}; "
            f"{dropped} queued events dropped, memory_pressure); levels restored"
        )


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


def build_guard(
    value: object,
    *,
    statm: str = STATM,
    proc_cgroup: str = PROC_CGROUP,
    cgroup_root: str = CGROUP_ROOT,
) -> tuple[MemoryGuard, RssReader] | None:
    """The guard of ``memory_limit``'s value, and its RSS reader; None when off.

    ``auto`` without a cgroup limit is off. An explicit limit where RSS cannot be read
    (not Linux) is off too, with a ``ConfigWarning`` saying so: never a boot failure.
    The paths are arguments for the tests.
    """
    resolved = resolve_memory_limit(value, proc_cgroup=proc_cgroup, cgroup_root=cgroup_root)
    if resolved.limit is None:
        return None
    reader = RssReader(statm)
    if not reader.available():
        if not resolved.source.startswith("auto"):
            warnings.warn(
                f"memory_limit {resolved.limit} is ignored: the process's RSS cannot be read "
                f"here ({statm} is Linux's; memory-pressure shedding is supported on Linux only)",
                ConfigWarning,
                stacklevel=outside_stacklevel(),
            )
        return None
    return MemoryGuard(resolved.limit, resolved.source), reader
