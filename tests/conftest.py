"""Shared fixtures: every test starts and ends with no default pipeline."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import nglogger
from nglogger._core import guard as _guard

_ENV_PREFIXES = ("NGLOGGER_", "OTEL_", "DD_", "HONEYCOMB_", "LOKI_")
_ENV_NAMES = ("LOG_LEVEL", "NO_COLOR", "FORCE_COLOR")


@pytest.fixture(autouse=True)
def _reset_nglogger(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tear the default pipeline down, clear request context and nglogger's env variables."""
    import os

    for name in list(os.environ):
        if name.startswith(_ENV_PREFIXES) or name in _ENV_NAMES:
            monkeypatch.delenv(name)
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
