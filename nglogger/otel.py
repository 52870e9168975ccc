"""OpenTelemetry integration: trace correlation for every event, and nglogger's stats as metrics.

Nothing here imports ``opentelemetry`` when this module is imported; each
feature imports it when it is turned on (``pip install 'nglogger[otel]'``).

Trace correlation
-----------------
``correlate``, ``trace_fields`` and ``trace_context_enabled`` live in
``nglogger._event.trace`` (the caller side: they run in the log call) and are re-exported
here: while a span is active each event gets ``trace_id``, ``span_id`` and
``trace_flags``; see that module for the formats and costs.

Self-metrics
------------
:func:`instrument` registers observable instruments on a ``MeterProvider``
whose callbacks read :meth:`Pipeline.stats` (one snapshot shared by the
callbacks of one collection) and the HTTP sinks' counters. Callbacks never
raise and take no lock longer than ``stats()`` does. Counters restart from zero
when ``configure()`` replaces the default pipeline and in a forked child.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from ._core.errors import ConfigError
from ._core.sink import HasBreaker, HasHttpStats
from ._event import target as _target
from ._event.trace import correlate, trace_context_enabled, trace_fields
from ._pipeline import pipeline as _pipeline
from ._version import __version__

if TYPE_CHECKING:
    from ._core.stats import Stats
    from ._pipeline.pipeline import Pipeline

__all__ = [
    "BREAKER_STATES",
    "METRICS",
    "Instrumentation",
    "correlate",
    "instrument",
    "trace_context_enabled",
    "trace_fields",
]

_INSTALL = "pip install 'nglogger[otel]'"


# --------------------------------------------------------------------------- metrics

#: Breaker state -> gauge value.
BREAKER_STATES = {"closed": 0, "half_open": 1, "open": 2}

#: name -> (kind, unit, description) of every instrument :func:`instrument` registers.
METRICS: dict[str, tuple[str, str, str]] = {
    "nglogger.events.accepted": ("counter", "{event}", "Events that entered the buffer."),
    "nglogger.events.dropped": (
        "counter",
        "{event}",
        "Events dropped, by reason (and sink, for drops in a sink).",
    ),
    "nglogger.events.exported": ("counter", "{event}", "Events a sink delivered, by sink."),
    "nglogger.buffer.bytes": ("gauge", "By", "Bytes waiting in the buffer."),
    "nglogger.buffer.events": ("gauge", "{event}", "Events waiting in the buffer."),
    "nglogger.buffer.high_water.bytes": ("gauge", "By", "Most bytes the buffer ever held."),
    "nglogger.buffer.high_water.events": (
        "gauge",
        "{event}",
        "Most events the buffer ever held.",
    ),
    "nglogger.sink.queue.bytes": ("gauge", "By", "Bytes queued for a sink, by sink."),
    "nglogger.sink.retries": ("counter", "{request}", "HTTP retries sent, by sink."),
    "nglogger.sink.breaker.state": (
        "gauge",
        "1",
        "Circuit breaker state by sink: 0 closed, 1 half-open, 2 open.",
    ),
}

_SNAPSHOT_TTL = 0.05  # seconds: the callbacks of one collection share one stats() snapshot


class _Source:
    """Reads one pipeline's counters (or the default pipeline's) for the callbacks."""

    def __init__(self, pipeline: Pipeline | None) -> None:
        self._ref = weakref.ref(pipeline) if pipeline is not None else None
        self._lock = threading.Lock()
        self._cached: tuple[float, Any, Stats | None] = (-1.0, None, None)
        self.stopped = False

    def pipeline(self) -> Pipeline | None:
        if self.stopped:
            return None
        if self._ref is not None:
            return self._ref()
        current = _target.current
        return current if isinstance(current, _pipeline.Pipeline) else None

    def stats(self) -> tuple[Pipeline | None, Stats | None]:
        pipeline = self.pipeline()
        if pipeline is None:
            return None, None
        now = time.monotonic()
        with self._lock:
            taken, owner, stats = self._cached
            if owner is pipeline and stats is not None and now - taken < _SNAPSHOT_TTL:
                return pipeline, stats
        stats = pipeline.stats()
        with self._lock:
            self._cached = (now, pipeline, stats)
        return pipeline, stats


def _observations(
    source: _Source, read: Callable[[Pipeline, Stats], Iterable[tuple[float, dict[str, str]]]]
) -> Callable[[Any], list[Any]]:
    """A metrics callback: ``read``'s values as Observations; [] on any error."""
    from opentelemetry.metrics import Observation

    def callback(_options: Any) -> list[Any]:
        try:
            pipeline, stats = source.stats()
            if pipeline is None or stats is None:
                return []
            return [Observation(value, attributes) for value, attributes in read(pipeline, stats)]
        except Exception:
            return []

    return callback


def _accepted(_p: Pipeline, s: Stats) -> Iterable[tuple[float, dict[str, str]]]:
    return [(s.accepted, {})]


def _dropped(_p: Pipeline, s: Stats) -> Iterable[tuple[float, dict[str, str]]]:
    rows: list[tuple[float, dict[str, str]]] = [
        (n, {"reason": reason}) for reason, n in s.dropped.items()
    ]
    for sink, sink_stats in s.sinks.items():
        rows.extend((n, {"reason": r, "sink": sink}) for r, n in sink_stats.dropped.items())
    return rows


def _exported(_p: Pipeline, s: Stats) -> Iterable[tuple[float, dict[str, str]]]:
    return [(st.exported, {"sink": sink}) for sink, st in s.sinks.items()]


def _queue_bytes(_p: Pipeline, s: Stats) -> Iterable[tuple[float, dict[str, str]]]:
    return [(st.queued_bytes, {"sink": sink}) for sink, st in s.sinks.items()]


def _gauge(attribute: str) -> Callable[[Pipeline, Stats], Iterable[tuple[float, dict[str, str]]]]:
    def read(_p: Pipeline, s: Stats) -> Iterable[tuple[float, dict[str, str]]]:
        return [(getattr(s, attribute), {})]

    return read


def _retries(p: Pipeline, _s: Stats) -> Iterable[tuple[float, dict[str, str]]]:
    rows = []
    for worker in p.workers:
        if isinstance(worker.sink, HasHttpStats):
            retries = worker.sink.http_stats().get("retries", 0)
            rows.append((int(retries) if isinstance(retries, int) else 0, {"sink": worker.name}))
    return rows


def _breakers(p: Pipeline, _s: Stats) -> Iterable[tuple[float, dict[str, str]]]:
    rows = []
    for worker in p.workers:
        state = worker.sink.breaker_state() if isinstance(worker.sink, HasBreaker) else None
        if state in BREAKER_STATES:
            rows.append((BREAKER_STATES[state], {"sink": worker.name}))
    return rows


_READERS: dict[str, Callable[[Pipeline, Stats], Iterable[tuple[float, dict[str, str]]]]] = {
    "nglogger.events.accepted": _accepted,
    "nglogger.events.dropped": _dropped,
    "nglogger.events.exported": _exported,
    "nglogger.buffer.bytes": _gauge("buffered_bytes"),
    "nglogger.buffer.events": _gauge("buffered_events"),
    "nglogger.buffer.high_water.bytes": _gauge("high_water_bytes"),
    "nglogger.buffer.high_water.events": _gauge("high_water_events"),
    "nglogger.sink.queue.bytes": _queue_bytes,
    "nglogger.sink.retries": _retries,
    "nglogger.sink.breaker.state": _breakers,
}


class Instrumentation:
    """What :func:`instrument` registered; :meth:`stop` makes every callback report nothing."""

    def __init__(self, source: _Source, instruments: list[Any]) -> None:
        self._source = source
        self.instruments = instruments

    def stop(self) -> None:
        """Stop reporting (OTel has no way to unregister an observable instrument)."""
        self._source.stopped = True


def instrument(meter_provider: Any = None, pipeline: Pipeline | None = None) -> Instrumentation:
    """Register nglogger's counters as observable OTel instruments (see :data:`METRICS`).

    ``meter_provider`` defaults to the global one; ``pipeline`` to the default
    pipeline as it is at each collection (so ``configure()`` later is followed).
    An explicit pipeline is held weakly. Raises ConfigError without
    ``opentelemetry-api``.
    """
    try:
        from opentelemetry import metrics
    except ImportError:
        raise ConfigError(
            "meter_provider", meter_provider, "opentelemetry installed", _INSTALL
        ) from None
    provider = meter_provider if meter_provider is not None else metrics.get_meter_provider()
    meter = provider.get_meter("nglogger", __version__)
    source = _Source(pipeline)
    instruments = []
    for name, (kind, unit, description) in METRICS.items():
        create = (
            meter.create_observable_counter if kind == "counter" else meter.create_observable_gauge
        )
        callback = _observations(source, _READERS[name])
        instruments.append(create(name, callbacks=[callback], unit=unit, description=description))
    return Instrumentation(source, instruments)
