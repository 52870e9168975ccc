"""The Protocols and types you implement or receive when you extend nglogger.

As structlog's ``structlog.typing``: one place to import from when writing a sink, a
transport or a processor, and for type checkers::

    from nglogger.typing import Batch, Outcome, Sink

    class PrinterSink:  # a Sink: name, write, close
        name = "printer"

        def write(self, batch: Batch) -> Outcome | None:
            print(batch.data.decode(), end="")
            return None  # everything delivered

        def close(self) -> None:
            pass

* :class:`Sink` (``name``, ``write(batch) -> Outcome | None``, ``close()``) and the
  optional capabilities a sink may add, each a one-member Protocol the worker checks
  with ``isinstance`` (see ``SinkBase`` for their defaults);
* :class:`Transport` (``send(url, body, headers) -> HttpResponse``, ``close()``,
  ``after_fork()``), what an HTTP sink sends through;
* :data:`Processor`: ``fn(fields) -> fields | None``, run on the caller's thread before
  an event is serialized;
* :data:`DropReason`: the reasons ``stats()`` counts dropped events under.

Importing this module loads nothing heavy (no urllib3, no OpenTelemetry).
"""

from __future__ import annotations

from ._config.processors import Processor
from ._core.batch import Batch
from ._core.reasons import DropReason
from ._core.sink import (
    Coalesces,
    Concurrent,
    CopiesBatches,
    DescribesErrors,
    Expires,
    Filters,
    ForkAware,
    HasBreaker,
    HasHttpStats,
    Leveled,
    NamesQueueFull,
    Outcome,
    Paced,
    Sink,
    WritesLate,
)
from ._delivery.transport import HttpResponse, Transport

__all__ = [
    "Batch",
    "Coalesces",
    "Concurrent",
    "CopiesBatches",
    "DescribesErrors",
    "DropReason",
    "Expires",
    "Filters",
    "ForkAware",
    "HasBreaker",
    "HasHttpStats",
    "HttpResponse",
    "Leveled",
    "NamesQueueFull",
    "Outcome",
    "Paced",
    "Processor",
    "Sink",
    "Transport",
    "WritesLate",
]
