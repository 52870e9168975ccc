"""The other loggers nglogger is compared with, each set up as its users would run it fast.

structlog in its documented performance setup (orjson renderer, ``BytesLoggerFactory``
on /dev/null, filtering bound logger, cached), stdlib ``logging`` with
python-json-logger on a ``StreamHandler`` to /dev/null, and loguru with
``serialize=True`` to a /dev/null stream. Each is a context manager that sets the
logger up, yields the call to measure as ``(function, args, kwargs)`` (a
``scenarios.Call``) and tears it down. They are optional
(``pip install 'nglogger[bench]'``): :func:`missing` says whether one is installed,
and nothing here imports them before a subject is entered.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from .scenarios import MESSAGE, Call

__all__ = [
    "json_formatter",
    "loguru_info",
    "missing",
    "picologging_info",
    "quiet_logger",
    "stdlib_json_info",
    "structlog_info",
]


def missing(module: str) -> bool:
    """True if ``module`` is not installed (third-party comparisons then skip)."""
    return importlib.util.find_spec(module) is None


@contextmanager
def structlog_info(
    fields: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    *,
    message: str = MESSAGE,
) -> Iterator[Call]:
    """structlog's performance configuration: orjson renderer, BytesLogger on /dev/null.

    The logger is a concrete bound logger (``get_logger().bind(logger=...)``),
    the fastest way to call structlog; the event carries the same keys as the
    others (timestamp, level, logger, event).
    """
    import structlog

    out = Path(os.devnull).open("wb")  # noqa: SIM115 - closed in the finally below
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.format_exc_info,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(serializer=orjson.dumps),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.BytesLoggerFactory(file=out),
        cache_logger_on_first_use=True,
    )
    try:
        log = structlog.get_logger().bind(logger="bench", **(context or {}))
        yield log.info, (message,), dict(fields or {})
    finally:
        structlog.reset_defaults()
        out.close()


def quiet_logger(name: str, handler: logging.Handler) -> logging.Logger:
    """A non-propagating stdlib logger at INFO whose only handler is ``handler``."""
    log = logging.getLogger(name)
    log.propagate = False
    log.setLevel(logging.INFO)
    log.handlers[:] = [handler]
    return log


def json_formatter() -> logging.Formatter:
    """python-json-logger with the keys nglogger writes (timestamp, level, logger, message)."""
    try:
        from pythonjsonlogger.json import JsonFormatter
    except ImportError:  # python-json-logger < 3.1
        from pythonjsonlogger.jsonlogger import (  # type: ignore[no-redef, attr-defined, unused-ignore]
            JsonFormatter,
        )
    formatter: logging.Formatter = JsonFormatter(
        "%(levelname)s %(name)s %(message)s", timestamp=True
    )
    return formatter


@contextmanager
def stdlib_json_info(
    fields: dict[str, Any] | None = None, *, message: str = MESSAGE
) -> Iterator[Call]:
    """stdlib ``logging`` + python-json-logger, StreamHandler on /dev/null; fields as ``extra``."""
    out = Path(os.devnull).open("w")  # noqa: SIM115 - closed in the finally below
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_formatter())
    log = quiet_logger("bench.stdlib_json", handler)
    try:
        kwargs = {"extra": dict(fields)} if fields else {}
        yield log.info, (message,), kwargs
    finally:
        log.handlers[:] = []
        handler.close()
        out.close()


@contextmanager
def loguru_info(fields: dict[str, Any] | None = None, *, message: str = MESSAGE) -> Iterator[Call]:
    """loguru with ``serialize=True`` to a /dev/null stream; fields captured into ``extra``."""
    from loguru import logger

    out = Path(os.devnull).open("w")  # noqa: SIM115 - closed in the finally below
    logger.remove()
    handler = logger.add(out, serialize=True, level="INFO")
    try:
        yield logger.info, (message,), dict(fields or {})
    finally:
        logger.remove(handler)
        logger.add(sys.stderr)
        out.close()


@contextmanager
def picologging_info(
    fields: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    *,
    message: str = MESSAGE,
) -> Iterator[Call]:
    """picologging (stdlib's API in C) with an orjson formatter, to /dev/null.

    picologging ignores ``extra``: the fields travel as the record's one mapping
    argument (``log.info(message, fields)``; the message has no ``%`` so it is left
    as it is), and the formatter writes the same keys as the others, the bound
    context included, with one ``orjson.dumps``.
    """
    import picologging

    bound = dict(context or {})

    class OrjsonFormatter(picologging.Formatter):  # type: ignore[misc, name-defined, unused-ignore]
        def format(self, record: Any) -> str:
            args = record.args
            return orjson.dumps(
                {
                    "timestamp": record.created,
                    "level": record.levelname,
                    "logger": record.name,
                    "message": record.getMessage(),
                    **bound,
                    **(args if isinstance(args, dict) else {}),
                }
            ).decode()

    out = Path(os.devnull).open("w")  # noqa: SIM115 - closed in the finally below
    handler = picologging.StreamHandler(out)
    handler.setFormatter(OrjsonFormatter())
    log = picologging.Logger("bench", picologging.INFO)
    log.addHandler(handler)
    try:
        yield log.info, (message, dict(fields or {})), {}
    finally:
        log.removeHandler(handler)
        handler.close()
        out.close()
