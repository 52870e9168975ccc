"""basic: ``log.info("hello world")``, no fields, against the floor and other loggers."""

from __future__ import annotations

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="basic")


def test_floor(benchmark):
    """Floor: the basic event dict + orjson.dumps + time.time_ns() + bytearray append."""
    S.run(benchmark, S.floor_info)


def test_nglogger(benchmark):
    """nglogger: ``log.info("hello world")`` through the default pipeline to a NullSink."""
    S.run(benchmark, S.nglogger_info)


def test_structlog(benchmark):
    """structlog (orjson renderer, BytesLogger, filtering bound logger): ``log.info("hello world")``."""
    S.skip_if_missing("structlog")
    S.run(benchmark, S.structlog_info)


def test_stdlib_json(benchmark):
    """stdlib logging + python-json-logger to /dev/null: ``log.info("hello world")``."""
    S.skip_if_missing("pythonjsonlogger")
    S.run(benchmark, S.stdlib_json_info)


def test_loguru(benchmark):
    """loguru (serialize=True) to /dev/null: ``logger.info("hello world")``."""
    S.skip_if_missing("loguru")
    S.run(benchmark, S.loguru_info)
