"""The periodic drop report: one warning event per interval, only when events were dropped."""

from __future__ import annotations

import time

import nglogger
from nglogger.sinks import MemorySink


def _reports(sink: MemorySink) -> list[dict[str, object]]:
    return [e for e in sink.events() if e.get("logger") == "nglogger"]


def test_drops_are_reported_with_counts_per_reason() -> None:
    """After drops, a warning event says how many were dropped and why."""
    sink = MemorySink()
    nglogger.configure(
        sinks=[sink],
        buffer_max_events=10,
        batch_max_events=10,
        sink_queue_max_events=10,
        flush_interval=0.02,
        report_interval=0.1,
    )
    log = nglogger.get_logger("app")
    for i in range(100):  # far more than the buffer holds between ticks
        log.info("burst", i=i)
    dropped = nglogger.stats().dropped.get("buffer_full", 0)
    assert dropped > 0
    deadline = time.monotonic() + 10
    while not _reports(sink) and time.monotonic() < deadline:
        nglogger.flush(1)
    (report,) = _reports(sink)[:1]
    assert report["level"] == "warning"
    assert report["dropped"] == {"buffer_full": dropped}
    assert str(report["message"]).startswith(
        f"nglogger dropped {dropped} events ({dropped} buffer_full)"
    )


def test_no_report_without_drops() -> None:
    """Nothing is reported when nothing was dropped."""
    sink = MemorySink()
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=[sink], report_interval=0.05))
    pipeline.emit({"message": "fine"})
    pipeline._report_drops(time.monotonic() + 1)
    assert pipeline.flush(5)
    assert _reports(sink) == []
    pipeline.shutdown(2)


def test_report_can_be_disabled() -> None:
    """report_interval=0 turns the report off."""
    sink = MemorySink()
    pipeline = nglogger.Pipeline(
        nglogger.Config(sinks=[sink], buffer_max_events=1, batch_max_events=1, report_interval=0)
    )
    for _ in range(5):
        pipeline.emit({"message": "x"})
    pipeline._report_drops(time.monotonic() + 3600)
    assert pipeline.flush(5)
    assert _reports(sink) == []
    pipeline.shutdown(2)
