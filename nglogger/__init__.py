"""nglogger: memory-safe structured logging.

Serialize once, copy never: every event becomes immutable JSON bytes on the
calling thread; bounded buffers and per-sink queues hold those bytes; sinks
share them. ``import nglogger; nglogger.get_logger().info("hi")`` writes to stdout
at INFO with no configuration at all (NDJSON, or console text on a terminal).
"""

from __future__ import annotations

import sys
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
from ._event import target as _target
from ._event.context import (
    bind_contextvars,
    bound_contextvars,
    clear_contextvars,
    get_contextvars,
    reset_contextvars,
    unbind_contextvars,
)
from ._event.hold import Held
from ._event.logger import Logger, get_logger
from ._pipeline.default import configure, flush, get_pipeline, set_levels, shutdown, stats
from ._pipeline.hold import Hold, hold
from ._pipeline.levels_file import follow_levels as _follow_levels
from ._pipeline.pipeline import Pipeline
from ._version import __version__
from .sinks import Outcome, Sink

if TYPE_CHECKING:
    from ._delivery.retry import CircuitBreaker, RetryBudget, RetryPolicy
    from ._delivery.transport import HttpResponse, MockTransport, Transport
    from ._pipeline.signals import handle_signals
    from .middleware import ASGIHoldMiddleware, WSGIHoldMiddleware
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
    "ASGIHoldMiddleware": "middleware",
    "WSGIHoldMiddleware": "middleware",
}


def _stdlib_follows(previous_base: int) -> None:
    """After ``set_levels`` or a levels file change: the stdlib loggers ``install()`` set.

    The same step as ``install()`` (per-logger levels set, those no longer named put
    back), handlers untouched; the root logger follows a new base level when it was at
    the previous one. Nothing when ``install()`` was not called (then ``nglogger.stdlib``
    may not even be imported).
    """
    stdlib = sys.modules.get(f"{__name__}.stdlib")
    if stdlib is None:
        return
    with stdlib._install_lock:
        state = stdlib._installed
        if state is None:
            return
        pipeline = _target.current
        root = stdlib.logging.getLogger()
        if root.level == previous_base and pipeline.min_level != previous_base:
            root.setLevel(pipeline.min_level)
        stdlib._apply_logger_levels(state, pipeline.level_rules)


_follow_levels(_stdlib_follows)


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
    "ASGIHoldMiddleware",
    "Batch",
    "CircuitBreaker",
    "Config",
    "ConfigError",
    "ConfigWarning",
    "EncodeError",
    "Held",
    "Hold",
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
    "WSGIHoldMiddleware",
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
    "hold",
    "install",
    "reset_contextvars",
    "set_levels",
    "shutdown",
    "stats",
    "unbind_contextvars",
    "uninstall",
]
