"""SIGTERM flushes what was buffered, then ends the process as the signal would have.

Each test runs a real interpreter that logs to a file sink, is stopped with a real
SIGTERM while its events are still buffered (a long flush interval keeps them in the
buffer), and is inspected afterwards: the file and the exit status.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

CHILD = """
import os, signal, sys, time
import nglogger
nglogger.configure(sinks=[sys.argv[1]], flush_interval=3600, batch_max_events=10_000)
mode = sys.argv[2]
if mode == "chained":
    def previous(number, frame):
        print("previous handler ran", flush=True)
        sys.exit(3)
    signal.signal(signal.SIGTERM, previous)
if mode not in ("unhandled", "env"):
    assert nglogger.handle_signals()
log = nglogger.get_logger("svc")
for i in range(1000):
    log.info("event", i=i)
print("ready", flush=True)
time.sleep(60)
"""


def stopped(
    tmp_path: Path, mode: str, **extra: str
) -> tuple[subprocess.CompletedProcess[str], list[int]]:
    """Run the child until it has logged 1000 events, SIGTERM it, return its end and events."""
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGLOGGER_")}
    env.update(extra)
    with subprocess.Popen(
        [sys.executable, "-c", CHILD, f"file://{out}", mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        stdout, stderr = child.communicate(timeout=60)
        done = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    lines = out.read_bytes().splitlines() if out.exists() else []
    return done, [orjson.loads(line)["i"] for line in lines]


def test_sigterm_without_a_handler_loses_the_buffer(tmp_path: Path) -> None:
    """The baseline: SIGTERM with no handler kills the process with nothing written."""
    done, events = stopped(tmp_path, "unhandled")
    assert done.returncode == -signal.SIGTERM
    assert events == []


def test_handle_signals_flushes_then_dies_by_the_signal(tmp_path: Path) -> None:
    """With handle_signals(), all 1000 events are written and the status is still -SIGTERM."""
    done, events = stopped(tmp_path, "handled")
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert events == list(range(1000))


def test_nglogger_handle_sigterm_makes_configure_install_the_handler(tmp_path: Path) -> None:
    """NGLOGGER_HANDLE_SIGTERM=1: configure() alone installs it; 1000 of 1000 written."""
    done, events = stopped(tmp_path, "env", NGLOGGER_HANDLE_SIGTERM="1")
    assert done.returncode == -signal.SIGTERM, done.stderr
    assert events == list(range(1000))


def test_handle_signals_chains_to_the_previous_handler(tmp_path: Path) -> None:
    """An application's own SIGTERM handler still runs, after the flush."""
    done, events = stopped(tmp_path, "chained")
    assert done.returncode == 3, done.stderr
    assert "previous handler ran" in done.stdout
    assert events == list(range(1000))


CHAINED_THEN_LOGS = """
import signal, sys, time
import nglogger
nglogger.configure(sinks=[sys.argv[1]], flush_interval=3600, batch_max_events=10_000)
stopping = []
signal.signal(signal.SIGTERM, lambda number, frame: stopping.append(number))
assert nglogger.handle_signals()
log = nglogger.get_logger("svc")
log.info("before")
print("ready", flush=True)
while not stopping:
    time.sleep(0.01)
log.info("graceful stop")  # after the signal: the same pipeline, flushed at exit
"""


def test_a_graceful_stop_after_the_signal_still_logs_to_the_same_pipeline(tmp_path: Path) -> None:
    """When the previous handler lets the application go on, its last lines are not lost."""
    out = tmp_path / "out.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith("NGLOGGER_")}
    with subprocess.Popen(
        [sys.executable, "-c", CHAINED_THEN_LOGS, f"file://{out}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        child.send_signal(signal.SIGTERM)
        _, stderr = child.communicate(timeout=60)
    assert child.returncode == 0, stderr
    messages = [orjson.loads(line)["message"] for line in out.read_bytes().splitlines()]
    assert messages == ["before", "graceful stop"]


def test_handle_signals_outside_the_main_thread_installs_nothing() -> None:
    """Python allows signal handlers in the main thread only: elsewhere it returns False."""
    import threading

    import nglogger

    result: list[bool] = []
    before = signal.getsignal(signal.SIGTERM)
    thread = threading.Thread(target=lambda: result.append(nglogger.handle_signals()))
    thread.start()
    thread.join(10)
    assert result == [False]
    assert signal.getsignal(signal.SIGTERM) is before


SURVIVES = r"""
import signal, sys, threading
import nglogger
from nglogger._pipeline import signals
from nglogger.sinks import MemorySink
mem = MemorySink()
nglogger.configure(sinks=[mem], shutdown_timeout=1)
assert nglogger.handle_signals()
log = nglogger.get_logger("svc")
log.info("before")
# SIGTERM blocked in every thread: the signal the helper sends again stays pending, so the
# process goes on after its last flush (as when an application changed the action meanwhile).
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
signals._on_signal(signal.SIGTERM, None)
# The main thread (its id is not the helper's, which a new thread could reuse): it must not
# wait for ever on the buffer the last flush held (a hang dumps the stacks and fails).
log.info("after")
print("ok", [e["message"] for e in mem.events()])
"""


@pytest.mark.slow
def test_a_process_that_survives_its_sigterm_can_log_again(tmp_path: Path) -> None:
    from tests.support.hang import run_guarded

    done = run_guarded(SURVIVES, hang_after=15)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok ['before']"), done.stdout
