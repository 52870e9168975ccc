"""HTTP sink concurrency: at most ``concurrency`` requests in flight, every event once."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from support.http import RecordingServer

import nglogger
from nglogger import ConfigError
from nglogger.sinks.http import HttpSink


class InFlight:
    """A responder that records how many requests are being answered at once."""

    def __init__(self, server: RecordingServer) -> None:
        self.server = server
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.release = threading.Event()
        self.two_waiting = threading.Event()

    def __call__(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            if self.now >= 2:
                self.two_waiting.set()
        self.release.wait(10)
        with self.lock:
            self.now -= 1
        return 200, {}, b""


@pytest.mark.parametrize("concurrency", [1, 3])
def test_requests_in_flight_never_exceed_concurrency(concurrency: int) -> None:
    """A sink with concurrency N has at most N requests in flight and delivers every event once."""
    with RecordingServer() as server:
        gate = InFlight(server)
        server.set_responder(gate)
        # one batch per request (queued batches would otherwise merge into one request)
        sink = HttpSink(
            f"{server.url}/ingest",
            concurrency=concurrency,
            compress=False,
            max_request_events=5,
        )
        pipeline = nglogger.Pipeline(
            nglogger.Config(sinks=[sink], batch_max_events=5, flush_interval=0.01)
        )
        for i in range(60):
            pipeline.emit({"message": "m", "i": i})
        pipeline.flush(0)
        if concurrency > 1:
            assert gate.two_waiting.wait(10)  # several requests really overlap
        gate.release.set()
        assert pipeline.flush(20)
        stats = pipeline.stats().sinks[sink.name]
        pipeline.shutdown(2)
        ids = sorted(
            int(line.split(b'"i":')[1].split(b"}")[0])
            for request in server.requests
            for line in request.body.splitlines()
            if line
        )
    assert gate.peak <= concurrency
    if concurrency > 1:
        assert gate.peak >= 2
    assert ids == list(range(60))
    assert stats.exported == 60


@pytest.mark.parametrize("bad", [0, 17, True, "2"])
def test_concurrency_is_validated(bad: object) -> None:
    """concurrency outside 1..16 is a clear configuration error."""
    with pytest.raises(ConfigError, match="concurrency"):
        HttpSink("http://127.0.0.1:9/x", concurrency=bad)  # type: ignore[arg-type]
