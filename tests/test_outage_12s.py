"""The issue's outage, as a user meets it: an app configured by environment, 12 s of 503.

A child process (``NGLOGGER_SINKS=http://127.0.0.1:PORT/ingest``,
``NGLOGGER_FLUSH_INTERVAL=1s``, everything else default) logs about 100 events/s
of ~100 B for 16 s. The loopback endpoint answers 503 from its first request
until 12 s later, then 200. The child then flushes (a service keeps running)
and prints its sink's stats. Every event must arrive exactly once, nothing be
dropped, the outage cost at most 24 requests, and stderr say the sink failed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from support.http import LoopbackServer, Request

OUTAGE = 12.0
SECONDS = 16.0
RATE = 100

CHILD = """
import json, sys, time
import nglogger.auto  # configure from the environment, as the README says
import nglogger
log = nglogger.get_logger("app")
start = time.monotonic()
i = 0
while True:
    due = int((time.monotonic() - start) * {rate})
    while i < min(due, {total}):
        log.info("request handled", i=i, path="/api/v1/items", status=200)
        i += 1
    if i >= {total}:
        break
    time.sleep(0.01)  # the app's own pace: about {rate} events/s
ok = nglogger.flush(timeout=90)
stats = nglogger.stats().sinks
print(json.dumps({{"flushed": ok, "sinks": {{k: {{"accepted": v.accepted,
    "exported": v.exported, "dropped": dict(v.dropped)}} for k, v in stats.items()}}}}))
"""


class Endpoint:
    """503 from the first request until OUTAGE seconds later, then 200; counts ids delivered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.first: float | None = None
        self.during = 0  # requests answered 503
        self.delivered: list[int] = []

    def __call__(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        now = time.monotonic()
        with self.lock:
            if self.first is None:
                self.first = now
            if now - self.first < OUTAGE:
                self.during += 1
                return 503, {}, b""
            self.delivered.extend(event["i"] for event in request.ndjson())
            return 200, {}, b""


@pytest.mark.slow
def test_a_12_second_503_outage_loses_nothing_costs_few_requests_and_warns() -> None:
    endpoint = Endpoint()
    with LoopbackServer(endpoint) as server:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("NGLOGGER_", "OTEL_", "DD_", "HONEYCOMB_"))
        }
        env.update(
            NGLOGGER_SINKS=f"{server.url}/ingest",
            NGLOGGER_FLUSH_INTERVAL="1s",
            PYTHONPATH=str(Path(__file__).resolve().parent.parent),
        )
        total = int(SECONDS * RATE)
        code = CHILD.format(rate=RATE, total=total)
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=150,
            check=False,
        )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["flushed"] is True
    (sink,) = report["sinks"].values()
    assert sink["accepted"] == total
    assert sink["dropped"] == {}
    assert sink["exported"] == total
    assert server.handler_errors == 0
    assert sorted(endpoint.delivered) == list(range(total))  # every event exactly once
    assert 1 <= endpoint.during <= 24
    warnings = [line for line in result.stderr.splitlines() if line.startswith("nglogger: ")]
    assert any("is failing (HTTP 503)" in line for line in warnings), result.stderr
    assert any("recovered" in line for line in warnings), result.stderr
    assert len(warnings) <= 4, warnings  # a few lines, not one per retry
    print(f"\n[12 s outage] requests during outage={endpoint.during} warnings={warnings}")
