"""A process killed with SIGKILL in the middle of an outage loses nothing that it spooled.

The issue's proof: the endpoint answers 503; a child process configured by environment
(``NGLOGGER_SPOOL_DIR``) logs 3,000 events and is killed with SIGKILL 2 s after its
last call (the child waits until its stats say the events are on disk, then for the rest
of the 2 s, and says so: the kill never races a fixed sleep). The endpoint recovers, a
new process starts on the same spool directory: every event arrives, none twice. A
second process on a directory in use is refused with a clear error.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support.http import LoopbackServer, Request

from nglogger import Config
from nglogger._pipeline.pipeline import Pipeline
from nglogger._spool.lock import SpoolLockedError
from nglogger._spool.store import Spool

EVENTS = 3000

LOGGER = """
import json, sys, time
import nglogger.auto  # configured from the environment, spool included
import nglogger
log = nglogger.get_logger("app")
for i in range({events}):
    log.info("request handled", i=i, path="/api/v1/items", status=200)
last = time.monotonic()
stats = None
while time.monotonic() < last + 60:  # until the stats say every event is on disk
    stats = next(iter(nglogger.stats().sinks.values()))
    if stats.spooled_events >= {events}:
        break
    time.sleep(0.01)
on_disk = time.monotonic() - last
time.sleep(max(0.0, last + 2.0 - time.monotonic()))  # the rest of the 2 s after the last call
print(json.dumps({{"on_disk_after": on_disk, "since_last": time.monotonic() - last,
    "spooled": stats.spooled_events, "exported": stats.exported}}), flush=True)
time.sleep(3600)  # killed here
"""

REPLAYER = """
import json, time
import nglogger.auto
import nglogger
start = time.monotonic()
ok = nglogger.flush(timeout=120)
took = time.monotonic() - start
s = next(iter(nglogger.stats().sinks.values()))
print(json.dumps({"flushed": ok, "replayed": s.replayed, "exported": s.exported,
    "last_error": s.last_error, "active": s.spool_active, "error": s.spool_error, "took": took,
    "corrupt": s.spool_corrupt_records,
    "accepted": s.accepted, "dropped": dict(s.dropped), "queued": s.queued_events,
    "spooled": s.spooled_events}), flush=True)
"""

HOLDER = """
import sys, time
import nglogger.auto
import nglogger
nglogger.get_logger("app").info("hello")
while not next(iter(nglogger.stats().sinks.values())).spool_active:
    time.sleep(0.01)
print("holding", flush=True)
sys.stdin.read()  # until the test closes our stdin
"""


class Endpoint:
    """503 while ``down``; afterwards 200, recording the ``i`` of every event delivered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.down = True
        self.refused = 0
        self.delivered: list[int] = []

    def __call__(self, request: Request) -> tuple[int, dict[str, str], bytes]:
        with self.lock:
            if self.down:
                self.refused += 1
                return 503, {}, b""
            self.delivered.extend(event["i"] for event in request.ndjson())
            return 200, {}, b""


def child_env(url: str, spool_dir: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NGLOGGER_", "OTEL_", "DD_", "HONEYCOMB_"))
    }
    env.update(
        NGLOGGER_SINKS=f"{url}/ingest",
        NGLOGGER_SPOOL_DIR=str(spool_dir),
        NGLOGGER_FLUSH_INTERVAL="100ms",
        PYTHONPATH=os.pathsep.join(sys.path),
    )
    return env


def run(code: str, env: dict[str, str], timeout: float = 150) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
def test_sigkill_during_an_outage_then_a_restart_delivers_every_event_once(
    tmp_path: Path,
) -> None:
    endpoint = Endpoint()
    with LoopbackServer(endpoint) as server:
        env = child_env(server.url, tmp_path / "spool")
        with subprocess.Popen(
            [sys.executable, "-c", LOGGER.format(events=EVENTS)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as child:
            try:
                assert child.stdout is not None
                line = child.stdout.readline()  # written 2 s after the last log call
                assert line, child.stderr.read() if child.stderr else ""
                report = json.loads(line)
                child.send_signal(signal.SIGKILL)
                child.wait(timeout=30)
            finally:
                if child.poll() is None:
                    child.kill()
                    child.wait()
        assert child.returncode == -signal.SIGKILL
        assert report["spooled"] == EVENTS
        assert report["exported"] == 0
        assert report["since_last"] >= 2.0
        assert endpoint.refused >= 1
        assert endpoint.delivered == []

        with endpoint.lock:
            endpoint.down = False
        stats = run(REPLAYER, env)

    assert stats["flushed"] is True, (stats, len(endpoint.delivered), len(set(endpoint.delivered)))
    assert sorted(endpoint.delivered) == list(range(EVENTS))  # all of them, none twice
    assert stats["replayed"] == EVENTS
    assert stats["exported"] == EVENTS
    assert stats["dropped"] == {}
    assert stats["queued"] == 0
    assert stats["spooled"] == 0
    segments = list((tmp_path / "spool").rglob("*.seg"))
    assert segments == []  # everything delivered: the segments are gone


def test_a_second_process_gets_its_own_slot_and_a_held_slot_is_refused_clearly(
    tmp_path: Path,
) -> None:
    """Two processes on one spool_dir (two gunicorn workers): the second takes slot 1.

    A slot itself is never shared: opening the held directory directly is a clear error.
    """
    with LoopbackServer() as server:
        env = child_env(server.url, tmp_path / "spool")
        config = Config(sinks=(f"{server.url}/ingest",), spool_dir=str(tmp_path / "spool"))
        with subprocess.Popen(
            [sys.executable, "-c", HOLDER],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        ) as holder:
            try:
                assert holder.stdout is not None
                assert holder.stdout.readline().strip() == "holding"
                (held,) = (tmp_path / "spool").iterdir()  # the holder's slot 0
                with pytest.raises(SpoolLockedError) as error:
                    Spool(str(held), max_bytes=1 << 20)
                assert f"locked by pid {holder.pid}" in str(error.value)
                assert "spool_dir" in str(error.value)
                assert "each process needs its own spool_dir" in str(error.value)
                second = Pipeline(config)  # not refused: the next slot
                try:
                    spool = second.workers[0]._spool
                    assert spool is not None
                    assert spool.directory == f"{held}.1"
                finally:
                    second.shutdown(5)
            finally:
                if holder.stdin is not None:
                    holder.stdin.close()
                holder.wait(timeout=30)
        assert holder.returncode == 0
        # once the holder is gone, the directory can be used
        pipeline = Pipeline(config)
        try:
            assert pipeline.flush(10)
        finally:
            pipeline.shutdown(5)


SHORT_SCRIPT = """
import nglogger.auto
import nglogger
log = nglogger.get_logger("cron")
for i in range(500):
    log.info("row imported", i=i)
"""


@pytest.mark.slow
def test_a_short_script_leaves_its_events_to_the_spool_and_exits_at_once(tmp_path: Path) -> None:
    """The backend is down: the script does not wait out its 30 s shutdown deadline.

    Every event is on disk when it exits (said on stderr), and the next start delivers
    them all, once each.
    """
    endpoint = Endpoint()
    with LoopbackServer(endpoint) as server:
        env = child_env(server.url, tmp_path / "spool")
        env["NGLOGGER_SHUTDOWN_TIMEOUT"] = "30s"
        script = subprocess.run(
            [sys.executable, "-c", SHORT_SCRIPT],
            env=env,
            capture_output=True,
            text=True,
            timeout=20,  # far below the 30 s deadline it no longer waits out
            check=False,
        )
        assert script.returncode == 0, script.stderr
        assert "500 events kept in the spool" in script.stderr, script.stderr
        assert endpoint.refused >= 1
        assert endpoint.delivered == []
        with endpoint.lock:
            endpoint.down = False
        replay = run(REPLAYER, env)
    assert replay["flushed"] is True
    assert sorted(endpoint.delivered) == list(range(500))  # each once
