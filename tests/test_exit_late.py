"""Events logged after nglogger's exit hook are still written, or said on stderr.

``atexit`` runs its handlers last-registered first: one registered before ``import
nglogger`` runs after nglogger's; a daemon thread can log while the interpreter
exits; a ``__del__`` runs at teardown. On the first release all of these were
counted ``after_shutdown`` silently. Now the exit shutdown leaves the sinks that can
take it (streams, files, memory) open and writes such events on the caller's thread
until the shutdown deadline; other sinks count them and say so on stderr.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from tests.support.hang import run_guarded

LATE = r"""
import atexit, sys, threading, time

def late_atexit():  # registered before nglogger's hook: runs after it
    for i in range(100):
        log.info("from an earlier atexit handler", i=i)

atexit.register(late_atexit)

import nglogger
nglogger.configure(sinks=[sys.argv[1]], shutdown_timeout=5)
log = nglogger.get_logger("late")

class AtTeardown:
    def __del__(self):
        log.info("from __del__ at teardown")

keep = [AtTeardown() for _ in range(6)]  # module globals: finalized at teardown
log.info("before exit")
"""


def _messages(path: Path) -> list[str]:
    return [orjson.loads(line)["message"] for line in path.read_bytes().splitlines()]


def test_events_after_the_exit_hook_reach_a_file(tmp_path: Path) -> None:
    out = tmp_path / "late.jsonl"
    done = run_guarded(LATE, args=[f"file://{out}"])
    assert done.returncode == 0, done.stderr
    messages = _messages(out)
    assert messages.count("before exit") == 1
    assert messages.count("from an earlier atexit handler") == 100, done.stderr
    assert messages.count("from __del__ at teardown") == 6, done.stderr
    assert "after_shutdown" not in done.stderr, done.stderr


def test_events_after_the_exit_hook_reach_stdout(tmp_path: Path) -> None:
    done = run_guarded(LATE, args=["stdout"])
    assert done.returncode == 0, done.stderr
    messages = [orjson.loads(line)["message"] for line in done.stdout.splitlines()]
    assert messages.count("from an earlier atexit handler") == 100, done.stderr
    assert messages.count("from __del__ at teardown") == 6, done.stderr


LATE_NETWORK = r"""
import atexit, sys
def late_atexit():
    for i in range(10):
        log.info("late", i=i)
atexit.register(late_atexit)
import nglogger
# Nothing listens there: the point is what happens to events logged after the exit hook.
nglogger.configure(sinks=["http://127.0.0.1:9/logs", "null"], shutdown_timeout=1)
log = nglogger.get_logger("late")
"""


def test_events_a_network_sink_cannot_take_after_exit_are_said(tmp_path: Path) -> None:
    done = run_guarded(LATE_NETWORK, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    # named once on stderr (not once per event), with the reason it is counted under
    said = [line for line in done.stderr.splitlines() if "after nglogger's exit shutdown" in line]
    assert len(said) == 1, done.stderr
    assert "http://127.0.0.1:9/logs" in said[0]
    assert "after_shutdown" in said[0]


DAEMON = r"""
import sys, threading, time
import nglogger
nglogger.configure(sinks=[sys.argv[1]], shutdown_timeout=5)
log = nglogger.get_logger("daemon")
started = threading.Event()
def chatter():
    i = 0
    while True:
        log.info("daemon", i=i)
        i += 1
        started.set()
        time.sleep(0.001)
threading.Thread(target=chatter, daemon=True).start()
started.wait(10)
"""


@pytest.mark.slow
def test_a_daemon_thread_logging_through_exit_neither_hangs_nor_loses_silently(
    tmp_path: Path,
) -> None:
    out = tmp_path / "daemon.jsonl"
    for _ in range(5):
        done = run_guarded(DAEMON, args=[f"file://{out}"])
        assert done.returncode == 0, done.stderr
        numbers = [orjson.loads(line)["i"] for line in out.read_bytes().splitlines()]
        # whatever the thread logged until the interpreter stopped it: in order, no gap
        assert numbers == list(range(len(numbers))), numbers[-5:]
        out.unlink()
