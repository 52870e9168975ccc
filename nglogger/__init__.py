"""nglogger: memory-safe structured logging.

Serialize once, copy never: every event becomes immutable JSON bytes on the
calling thread; bounded buffers and per-sink queues hold those bytes; sinks
share them. ``import nglogger; nglogger.get_logger().info("hi")`` writes to stdout
at INFO with no configuration at all (NDJSON, or console text on a terminal).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._config.config import Config, Settings
from ._config.sampling import Sampling
from ._core.batch import Batch
from ._core.errors import (
    ConfigError,
    ConfigWarning,
    EncodeError,
    NgloggerError,
    PipelineClosedError,
)
from ._core.levels import CRITICAL, DEBUG, ERROR, INFO, WARNING
from ._core.sink import SinkBase
from ._core.stats import SinkStats, Stats
from ._event.context import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
    reset_contextvars,
    unbind_contextvars,
)
from ._event.logger import Logger, get_logger
from ._pipeline.default import configure, flush, get_pipeline, shutdown, stats
from ._pipeline.pipeline import Pipeline
from ._version import __version__
from .sinks import Outcome, Sink

if TYPE_CHECKING:
    from ._delivery.retry import CircuitBreaker, RetryBudget, RetryPolicy
    from ._delivery.transport import HttpResponse, MockTransport, Transport
    from ._pipeline.signals import handle_signals
    from .stdlib import LoggingHandler, install, uninstall


#: Names loaded on first use, by module (keeps ``import nglogger`` light: the stdlib
#: ``logging`` integration, and the HTTP sinks' retry and transport types).
_LAZY = {
    "LoggingHandler": "stdlib",
    "install": "stdlib",
    "uninstall": "stdlib",
    "handle_signals": "_pipeline.signals",
    "CircuitBreaker": "_delivery.retry",
    "RetryBudget": "_delivery.retry",
    "RetryPolicy": "_delivery.retry",
    "HttpResponse": "_delivery.transport",
    "MockTransport": "_delivery.transport",
    "Transport": "_delivery.transport",
}


def __getattr__(name: str) -> Any:
    """Load a lazily exported name on first use."""
    module = _LAZY.get(name)
    if module is not None:
        import importlib

        value = getattr(importlib.import_module(f".{module}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nglogger' has no attribute {name!r}")


__all__ = [
    "CRITICAL",
    "DEBUG",
    "ERROR",
    "INFO",
    "WARNING",
    "Batch",
    "CircuitBreaker",
    "Config",
    "ConfigError",
    "ConfigWarning",
    "EncodeError",
    "HttpResponse",
    "Logger",
    "LoggingHandler",
    "MockTransport",
    "NgloggerError",
    "Outcome",
    "Pipeline",
    "PipelineClosedError",
    "RetryBudget",
    "RetryPolicy",
    "Sampling",
    "Settings",
    "Sink",
    "SinkBase",
    "SinkStats",
    "Stats",
    "Transport",
    "__version__",
    "bind_contextvars",
    "bound_contextvars",
    "clear_contextvars",
    "configure",
    "flush",
    "get_contextvars",
    "get_logger",
    "get_pipeline",
    "handle_signals",
    "install",
    "reset_contextvars",
    "shutdown",
    "stats",
    "unbind_contextvars",
    "uninstall",
]
