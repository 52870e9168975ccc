"""A log call never waits for a lock its own thread holds, and no exception leaves one held.

The faults production brings, each in a fresh interpreter that would hang for ever
on the first release (a hang dumps every thread's stack and fails, see
``support/hang.py``):

* a signal handler that logs, run between two bytecodes of a log call (SIGALRM every
  millisecond while the main thread and another thread log flat out), directly and
  through the stdlib after ``install()``;
* a ``__del__`` that logs, run by the garbage collector inside a log call (a low
  collection threshold makes it run inside the buffer's sections);
* ``flush()``, ``stats()`` and ``shutdown()`` from a signal handler that interrupted a
  log call;
* a ``MemoryError`` inside a log call, in a process under ``RLIMIT_AS``.

Each child ends by printing its counters; the tests assert the exact accounting
(every event submitted is delivered or counted) and that the events logged by the
handlers and finalizers were kept.
"""

from __future__ import annotations

import subprocess

import orjson
import pytest

from tests.support.hang import run_guarded

#: Every child: a memory sink that keeps everything, limits no storm reaches (nothing may be
#: dropped however loaded the machine) and small batches (the buffer's sections run often).
PIPELINE = r"""
import gc, logging, signal, sys, threading, time, orjson
import nglogger, nglogger.stdlib
from nglogger.sinks import MemorySink
mem = MemorySink(max_events=10_000_000)
nglogger.configure(sinks=[mem], batch_max_events=50, buffer_max_events=10_000_000,
                   buffer_max_bytes=1 << 31, sink_queue_max_events=10_000_000,
                   sink_queue_max_bytes=1 << 31, overflow="block", block_timeout=30,
                   flush_interval=0.05)
log = nglogger.get_logger("storm")
nested = [0]  # events logged by the fault (a handler, a finalizer); their message is "nested"
"""

#: The main thread and another one log flat out for argv[1] seconds (FAULT_ON / FAULT_OFF
#: around the main thread's part), then the child prints its counters.
TWO_THREADS = r"""
called = [0, 0]
def run(slot, until):
    while time.monotonic() < until:
        CALL
        called[slot] += 1
until = time.monotonic() + float(sys.argv[1])
other = threading.Thread(target=run, args=(1, until))
other.start()
FAULT_ON
run(0, until)
FAULT_OFF
other.join()
gc.collect()
assert nglogger.flush(10)
s = nglogger.stats()
print(orjson.dumps({"called": sum(called), "nested": nested[0],
    "from_nested": sum(1 for e in mem.events() if e["message"].startswith("nested")),
    "submitted": s.submitted, "exported": s.sinks["memory"].exported,
    "dropped": s.dropped, "sink_dropped": s.sinks["memory"].dropped}).decode())
nglogger.shutdown(5)
"""


def _last_json(stdout: str) -> dict:
    """The child's counters: its last line that is not an event (late events may follow)."""
    for line in reversed(stdout.strip().splitlines()):
        got = orjson.loads(line)
        if "message" not in got:
            return got
    raise AssertionError(f"no counters in {stdout[-2000:]!r}")


def _child(setup: str, call: str, on: str = "", off: str = "") -> str:
    body = TWO_THREADS.replace("CALL", call).replace("FAULT_ON", on).replace("FAULT_OFF", off)
    return PIPELINE + setup + body


_SIGALRM_ON = "signal.setitimer(signal.ITIMER_REAL, 0.001, 0.001)"
_SIGALRM_OFF = "signal.setitimer(signal.ITIMER_REAL, 0)"

STORM = _child(
    r"""
def handler(number, frame):
    nested[0] += 1
    log.info("nested: from a signal handler", n=nested[0])
signal.signal(signal.SIGALRM, handler)
""",
    'log.info("flat out", slot=slot, payload={"k": [1, 2, 3]})',
    _SIGALRM_ON,
    _SIGALRM_OFF,
)

STDLIB_STORM = _child(
    r"""
nglogger.stdlib.install(level=logging.INFO)
std = logging.getLogger("storm")
def handler(number, frame):
    nested[0] += 1
    std.info("nested: from a signal handler %d", nested[0])
signal.signal(signal.SIGALRM, handler)
""",
    'std.info("flat out %s", slot, extra={"payload": {"k": [1, 2, 3]}})',
    _SIGALRM_ON,
    _SIGALRM_OFF,
)

FINALIZERS = _child(
    r"""
class Cycle:
    def __del__(self):
        nested[0] += 1
        log.info("nested: from a finalizer")
gc.set_threshold(50, 1, 1)   # collections (and so finalizers) inside log calls
""",
    'a = Cycle(); b = Cycle(); a.o = b; b.o = a; del a, b; log.info("main", payload={"k": [1]})',
)


def _every_event_kept(done: subprocess.CompletedProcess[str], least_nested: int) -> None:
    assert done.returncode == 0, done.stderr
    got = _last_json(done.stdout)
    assert got["nested"] > least_nested, got  # the fault did hit the log calls
    assert got["dropped"] == {}, got
    assert got["sink_dropped"] == {}, got
    assert got["from_nested"] == got["nested"], got
    assert got["submitted"] == got["exported"] == got["called"] + got["nested"], got


@pytest.mark.slow
def test_signal_handler_that_logs_never_hangs_and_every_event_is_kept() -> None:
    _every_event_kept(run_guarded(STORM, args=["2.5"]), least_nested=100)


@pytest.mark.slow
def test_signal_handler_logging_through_the_stdlib_never_hangs() -> None:
    _every_event_kept(run_guarded(STDLIB_STORM, args=["2.5"]), least_nested=100)


@pytest.mark.slow
def test_finalizer_that_logs_inside_a_log_call_never_hangs_and_is_kept() -> None:
    # finalizers the collector ran on nglogger's own threads are kept too (not "recursion")
    _every_event_kept(run_guarded(FINALIZERS, args=["2.5"]), least_nested=1000)


NESTED_CONTROL = r"""
import signal, sys, threading, time, orjson
import nglogger
from nglogger.sinks import MemorySink
mem = MemorySink(max_events=10_000_000)
nglogger.configure(sinks=[mem], batch_max_events=50, flush_interval=0.05)
log = nglogger.get_logger("ctl")
answers = {"flush": [], "stats": []}
def handler(number, frame):
    # control calls from a handler that may have interrupted a log call: they never
    # wait for their own thread (flush(0): not for the sinks either, so handlers do
    # not pile up on each other at this rate)
    answers["flush"].append(nglogger.flush(0))
    answers["stats"].append(nglogger.stats().submitted)
signal.signal(signal.SIGALRM, handler)
signal.setitimer(signal.ITIMER_REAL, 0.002, 0.002)
until = time.monotonic() + float(sys.argv[1])
n = 0
while time.monotonic() < until:
    log.info("event", n=n)
    n += 1
signal.setitimer(signal.ITIMER_REAL, 0)
assert nglogger.flush(10)
s = nglogger.stats()
print(orjson.dumps({"called": n, "flushes": len(answers["flush"]),
    "refused": answers["flush"].count(False), "stats": len(answers["stats"]),
    "submitted": s.submitted, "exported": s.sinks["memory"].exported}).decode())
nglogger.shutdown(5)
"""


@pytest.mark.slow
def test_flush_and_stats_from_a_signal_handler_never_wait_for_their_own_thread() -> None:
    done = run_guarded(NESTED_CONTROL, args=["2.0"])
    assert done.returncode == 0, done.stderr
    got = _last_json(done.stdout)
    assert got["flushes"] > 50, got
    assert got["stats"] == got["flushes"], got
    # some flushes landed inside a log call's section: those returned False at once
    assert got["submitted"] == got["exported"] == got["called"], got


MEMORY = r"""
import resource, sys, threading, orjson
import nglogger
# One open arena that grows until the process runs out (no seal, no batcher pass).
nglogger.configure(sinks=["null"], batch_max_bytes=256 * 1024 * 1024,
                   batch_max_events=1_000_000, buffer_max_events=1_000_000,
                   sink_queue_max_bytes=1024 * 1024 * 1024, sink_queue_max_events=1_000_000,
                   buffer_max_bytes=1024 * 1024 * 1024, flush_interval=3600)
log = nglogger.get_logger("oom")
log.info("warm up")
assert nglogger.flush(5)
blob = ["x" * 1000] * 64  # 64 KiB once serialized: orjson's own allocations stay small

def vm_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError

# From here on the process may map ~64 MiB more: the buffer's arena, growing by
# reallocation, is what runs out first (inside the log call's locked section).
limit = vm_bytes() + 64 * 1024 * 1024
hard = resource.getrlimit(resource.RLIMIT_AS)[1]
resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
calls = 0
for _ in range(4000):
    try:
        log.info("big", blob=blob)
        calls += 1
    except MemoryError:  # raised by this loop itself, not by the log call
        pass
    if nglogger.stats().dropped.get("memory_error", 0) >= 3:
        break
resource.setrlimit(resource.RLIMIT_AS, (hard, hard))
memory_errors = nglogger.stats().dropped.get("memory_error", 0)
# logging works again, from this thread and another one (no lock was left held)
log.info("after")
t = threading.Thread(target=lambda: log.info("after, another thread"))
t.start(); t.join(10)
assert not t.is_alive()
assert nglogger.flush(30)
s = nglogger.stats()
print(orjson.dumps({"memory_errors": memory_errors, "calls": calls, "submitted": s.submitted,
    "exported": s.sinks["null"].exported, "dropped": s.dropped}).decode())
nglogger.shutdown(5)
"""


def test_memory_error_inside_a_log_call_releases_every_lock_and_is_counted() -> None:
    done = run_guarded(MEMORY)
    assert done.returncode == 0, done.stderr
    got = _last_json(done.stdout)
    assert got["memory_errors"] >= 1, got
    dropped = sum(got["dropped"].values())
    assert got["submitted"] == got["exported"] + dropped, got
    assert set(got["dropped"]) <= {"memory_error", "too_large", "encode_error"}, got
