"""memory: the object event with memory_limit in force (no pressure) and off; one RSS sample.

With a limit far above the process's RSS, the log call is the one without a limit: the
guard lives on the batcher thread (one ``pread`` of ``/proc/self/statm`` every 100 ms),
and a shed call is a disabled one (the level cell check). The sampler's own cost per
sample is measured beside the same floor, so its ratio reads as "log calls' worth".
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Any

import _scenarios as S
import pytest

import nglogger
from nglogger._core.levels import INFO
from nglogger._event import logger as _logger
from nglogger._pipeline.memory import MemoryGuard, RssReader

pytestmark = pytest.mark.benchmark(group="memory")

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="/proc/self/statm")


def test_floor(benchmark):
    """Floor: the object event (3 fields)."""
    S.run(benchmark, partial(S.floor_info, S.OBJECT))


def test_nglogger_limit_off(benchmark):
    """nglogger with memory_limit off."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT, memory_limit=None))


def test_nglogger_limit_no_pressure(benchmark):
    """nglogger with memory_limit far above RSS: sampled every 100 ms, nothing shed."""
    S.run(benchmark, partial(S.nglogger_info, S.OBJECT, memory_limit="64GiB"))


@contextmanager
def _shed_debug() -> Iterator[tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    """``log.debug`` at level debug while DEBUG is shed (what the guard does over the limit)."""
    nglogger.configure(sinks=["null"], level="debug", memory_limit=None)
    log = nglogger.get_logger("bench")
    _logger.shed(0, INFO)
    try:
        yield log.debug, (S.MESSAGE,), dict(S.OBJECT)
    finally:
        _logger.shed(0, 0)
        nglogger.shutdown()


def test_nglogger_shed_debug_call(benchmark):
    """A shed DEBUG call: the level cell check, as a disabled call."""
    S.run(benchmark, _shed_debug)


@contextmanager
def _disabled_debug() -> Iterator[tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    """``log.debug`` at level info: the disabled call a shed call should match."""
    nglogger.configure(sinks=["null"], level="info", memory_limit=None)
    try:
        yield nglogger.get_logger("bench").debug, (S.MESSAGE,), dict(S.OBJECT)
    finally:
        nglogger.shutdown()


def test_nglogger_disabled_debug_call(benchmark):
    """A disabled DEBUG call (level info), the shed call's reference."""
    S.run(benchmark, _disabled_debug)


@contextmanager
def _sample() -> Iterator[tuple[Any, tuple[Any, ...], dict[str, Any]]]:
    """One sample as the batcher takes it: read RSS, observe it (no pressure)."""
    reader = RssReader()
    guard = MemoryGuard(1 << 40, "bench")

    def sample() -> None:
        size = reader.read()
        guard.observe(size or 0, 0.0)

    try:
        yield sample, (), {}
    finally:
        reader.close()


@linux_only
def test_sampler_one_sample(benchmark):
    """The sampler's cost per sample (every 100 ms on the batcher thread)."""
    S.run(benchmark, _sample)
