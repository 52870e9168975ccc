"""object: ``log.info("hello world", status=200, path="/x", user="bob")``, three small fields."""

from __future__ import annotations

from functools import partial

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="object")


def test_floor(benchmark):
    """Floor: the event dict with three fields + orjson.dumps + time.time_ns() + bytearray append."""
    S.run(benchmark, partial(S.floor_info, S.OBJECT))


def test_nglogger(benchmark):
    """nglogger: ``log.info`` with three fields through the default pipeline to a NullSink."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT))


def test_structlog(benchmark):
    """structlog (orjson renderer, BytesLogger, filtering bound logger): ``log.info`` with three fields."""
    S.skip_if_missing("structlog")
    S.run(benchmark, partial(S.structlog_info, S.OBJECT))


def test_stdlib_json(benchmark):
    """stdlib logging + python-json-logger to /dev/null: three fields passed as ``extra``."""
    S.skip_if_missing("pythonjsonlogger")
    S.run(benchmark, partial(S.stdlib_json_info, S.OBJECT))


def test_loguru(benchmark):
    """loguru (serialize=True) to /dev/null: three fields captured into ``extra``."""
    S.skip_if_missing("loguru")
    S.run(benchmark, partial(S.loguru_info, S.OBJECT))
