"""Shared fixtures: every test starts and ends with no default pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nglogger
from nglogger import _guard


@pytest.fixture(autouse=True)
def _reset_nglogger() -> Iterator[None]:
    """Tear the default pipeline down and clear request context around each test."""
    nglogger.shutdown(timeout=2.0)
    _guard.CONTEXT.set(None)
    yield
    nglogger.shutdown(timeout=2.0)
    _guard.CONTEXT.set(None)


@pytest.fixture
def memory_sink() -> nglogger.sinks.MemorySink:
    """A fresh in-memory sink."""
    return nglogger.sinks.MemorySink()


@pytest.fixture
def capture(memory_sink: nglogger.sinks.MemorySink) -> nglogger.sinks.MemorySink:
    """The default pipeline configured to record into a MemorySink at DEBUG."""
    nglogger.configure(sinks=[memory_sink], level="debug", flush_interval=0.05)
    return memory_sink
