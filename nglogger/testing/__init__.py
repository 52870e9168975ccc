"""Test helpers for code that logs through nglogger: log capture and memory budgets.

Importable without pytest; :mod:`nglogger.pytest_plugin` turns both into fixtures.
``nglogger.testing.capture`` holds the capture, ``nglogger.testing.memory`` the
budgets; every name is importable from here.

Capture what a code path logs, parsed::

    from nglogger.testing import capture_logs

    with capture_logs() as logs:
        handle_request()
    logs.assert_logged("request handled", level="info", status=200)
    assert logs.count(level="error") == 0

Fail when a code path's logging costs more memory than budgeted::

    from nglogger.testing import check_budget

    check_budget(handle_request, per_call_bytes=16_384, retained_bytes=65_536)

The memory measures, exactly (tracemalloc traces every thread, so the
pipeline's background work done meanwhile counts too):

* ``per_call_peak``: the mean, over the measured calls, of
  ``peak_i - before_i``, where ``before_i`` is the traced memory just before
  call ``i`` and ``peak_i`` its high-water mark during the call
  (``tracemalloc.reset_peak()`` before each call): the memory one call needs
  on top of what was live, transient allocations and whatever it keeps.
  ``per_call_peak_max`` is the largest ``peak_i - before_i``.
* ``retained``: the traced memory after the run minus the traced memory
  before it (after the warm-up), each read after ``flush()`` of the default
  pipeline and ``gc.collect()``, less the growth of the pipeline's own
  storage (buffer arenas, sink queues, sinks that keep events: bounded by
  ``Config.memory_budget``, reported as ``pipeline_bytes``) and of these
  helpers' bookkeeping. Storage is told apart by the innermost frame of each
  allocation outside the standard library. ``retained_per_call`` is
  ``retained / calls``.

Both are measured on the default pipeline as configured; ``isolated=True``
swaps in, for the run, a copy of its configuration whose only sink discards
everything. pytest's capture of stdlib ``logging`` records (which keeps every
record of a test) is paused while measuring.

When a budget is exceeded, the code path is run again (up to 50 calls, with
deep tracebacks) to name the lines that allocated what was kept and what was
live at the peak of a call.
"""

from __future__ import annotations

from ..sinks.memory import MemorySink, NullSink
from .capture import LogCapture, capture_logs
from .memory import (
    AllocationSite,
    MemoryBudget,
    MemoryBudgetExceeded,
    MemoryReport,
    check_budget,
    locate,
    measure,
    memory_budget,
)

__all__ = [
    "AllocationSite",
    "LogCapture",
    "MemoryBudget",
    "MemoryBudgetExceeded",
    "MemoryReport",
    "MemorySink",
    "NullSink",
    "capture_logs",
    "check_budget",
    "locate",
    "measure",
    "memory_budget",
]
