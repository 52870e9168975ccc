"""A real pre-fork server: gunicorn (sync workers, ``--preload``) logging through nglogger.

gunicorn runs ``tests/support/gunicorn_app.py`` with 4 sync workers bound to 127.0.0.1
only, ``--max-requests 5`` and no jitter, so each worker exits after five
requests and the master forks a replacement: 600 requests cause about 116
worker restarts. The app is imported once, in the master (``--preload``), where
it configures nglogger with a file sink and logs one ``import`` event while the
master's pipeline threads are running; every worker is a fork of that master.
Four client threads drive the requests with ``http.client``; then the master
gets SIGTERM and the test waits for it.

Asserted: no deadlock (every request answered within its timeout, the master
exits within its own), no duplicated event (each ``(pid, n)`` once; the
master's ``import`` event exactly once although it was still buffered when the
workers were forked), and every worker's events exported: each request a
client saw answered is in the file, including those of the workers that exited
at ``--max-requests`` and of the last four, stopped by the master's SIGTERM.

What users need to do: nothing. A gunicorn worker leaves through ``sys.exit``
on every graceful path (``--max-requests``, SIGTERM from the master, SIGQUIT,
SIGINT, and SIGABRT on a worker timeout), so the interpreter's normal exit runs
nglogger's exit flush; no ``post_worker_init`` or ``worker_exit`` hook calling
``nglogger.shutdown()`` is needed (``worker_exit`` runs in the worker just
before that same exit, so it would add nothing). A hook that ends the worker
with ``os._exit`` does lose every event still buffered: checked by hand with
``def worker_exit(server, worker): os._exit(0)`` in the config, which makes this
test fail with no request event in the file. A worker killed with SIGKILL (the
master's last resort after ``--graceful-timeout``, or the OOM killer) loses up
to one ``flush_interval`` of events; no hook runs then.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

pytest.importorskip("gunicorn")

TESTS = Path(__file__).parent
WORKERS = 4
MAX_REQUESTS = 5
REQUESTS = 600
CLIENTS = 4
REQUEST_TIMEOUT = 10.0  # seconds per request: longer means a deadlock
START_TIMEOUT = 20.0
STOP_TIMEOUT = 20.0
LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")
BOOTING = re.compile(r"Booting worker with pid: (\d+)")


def wait_for_port(errors: Path, server: subprocess.Popen[bytes]) -> int:
    """The port gunicorn bound (it logs it), polled with a deadline."""
    deadline = time.monotonic() + START_TIMEOUT
    tick = threading.Event()
    while time.monotonic() < deadline:
        match = LISTENING.search(errors.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        assert server.poll() is None, errors.read_text(errors="replace")
        tick.wait(0.02)
    raise AssertionError(f"gunicorn did not listen within {START_TIMEOUT} s")


def request(port: int) -> tuple[int, int]:
    """One GET; the worker's ``(pid, n)`` from the body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=REQUEST_TIMEOUT)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        body = response.read()
        assert response.status == 200, (response.status, body)
    finally:
        conn.close()
    pid, n = body.split()
    return int(pid), int(n)


@pytest.mark.slow
def test_gunicorn_preload_workers_over_100_restarts_export_every_event_once(
    tmp_path: Path,
) -> None:
    """Under gunicorn --preload with ~100 worker restarts, no request hangs and every event is written once."""
    log = tmp_path / "app.jsonl"
    errors = tmp_path / "gunicorn.log"
    config = tmp_path / "gunicorn.conf.py"
    # gunicorn >= 27 opens a control socket under $HOME by default; older versions ignore this
    config.write_text("control_socket_disable = True\n")
    env = {
        **os.environ,
        "GUNICORN_APP_LOG": str(log),
        "PYTHONPATH": os.pathsep.join([str(TESTS), *sys.path]),
    }
    argv = [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        str(config),
        "--preload",
        "--workers",
        str(WORKERS),
        "--worker-class",
        "sync",
        "--max-requests",
        str(MAX_REQUESTS),
        "--max-requests-jitter",
        "0",
        "--bind",
        "127.0.0.1:0",
        "--graceful-timeout",
        "10",
        "support.gunicorn_app:app",
    ]
    started = time.monotonic()
    with errors.open("wb") as out:
        server = subprocess.Popen(
            argv, stdout=out, stderr=out, env=env, cwd=tmp_path, start_new_session=True
        )
    try:
        port = wait_for_port(errors, server)
        with ThreadPoolExecutor(CLIENTS) as clients:
            answers = list(clients.map(lambda _: request(port), range(REQUESTS)))
        driven = time.monotonic() - started
        server.send_signal(signal.SIGTERM)
        code = server.wait(STOP_TIMEOUT)
    finally:
        if server.poll() is None:  # only on failure: the master and its workers
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
    elapsed = time.monotonic() - started
    gunicorn_log = errors.read_text(errors="replace")
    assert code == 0, gunicorn_log[-3000:]

    data = log.read_bytes()
    assert data.endswith(b"\n")
    events = [json.loads(line) for line in data.splitlines()]
    imports = [e for e in events if e.get("kind") == "import"]
    requests = Counter((e["pid"], e["n"]) for e in events if e.get("kind") == "request")
    served = Counter(answers)
    booted = {int(pid) for pid in BOOTING.findall(gunicorn_log)}
    serving = {pid for pid, _ in served}

    assert len(events) == len(imports) + sum(requests.values())  # nothing else was logged
    assert [e["pid"] for e in imports] == [server.pid]  # the master's event, exactly once
    assert max(served.values()) == 1  # no (pid, n) was answered twice
    assert max(requests.values(), default=1) == 1, [k for k, v in requests.items() if v > 1]
    lost = set(served) - set(requests)
    assert not lost, f"{len(lost)} answered requests have no event, e.g. {sorted(lost)[:5]}"
    assert set(requests) == set(served)  # and no event without a request
    assert serving <= booted
    assert server.pid not in serving
    for pid in serving:  # each worker served n = 1..k, at most --max-requests
        ns = sorted(n for p, n in served if p == pid)
        assert ns == list(range(1, len(ns) + 1))
        assert len(ns) <= MAX_REQUESTS
    restarts = len(booted) - WORKERS
    assert restarts >= 100
    assert elapsed < 90
    print(
        f"\n[gunicorn] {REQUESTS} requests by {CLIENTS} clients in {driven:.1f} s, "
        f"{len(booted)} workers booted ({restarts} restarts), {len(serving)} served; "
        f"{len(events)} events in the file; total {elapsed:.1f} s"
    )
