"""The worker processes: each logs through nglogger and reports its memory and counters."""

from __future__ import annotations

import importlib
import os
import threading
import time
import tracemalloc
from collections.abc import Sequence
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from .settings import WORKER_HEADER, KiB, Settings


def worker_main(
    *,
    index: int,
    spec: dict[str, Any],
    url: str,
    conn: Connection,
    go: Any,
    stop: Any,
    spool_dir: str | None = None,
) -> None:
    """One application process: configure nglogger, log steadily, report every second."""
    # Code is loaded before tracemalloc starts: modules are the interpreter's, not the
    # pipeline's memory (the sink imports urllib3 and http.client lazily otherwise).
    for module in ("http.client", "urllib3", "nglogger.otel"):
        importlib.import_module(module)
    import nglogger
    from nglogger._delivery.retry import CircuitBreaker, RetryPolicy
    from nglogger.sinks.http import GENERIC_RETRYABLE, HttpSink

    s = Settings(**spec)
    tracemalloc.start()
    sink = HttpSink(
        url,
        name="endpoint",
        headers={WORKER_HEADER: str(index)},
        timeout=s.timeout,
        connect_timeout=s.connect_timeout,
        batch_deadline=s.batch_deadline,
        retry=RetryPolicy(
            base=s.backoff_base,
            cap=s.backoff_cap,
            max_attempts=s.max_attempts,
            retryable_statuses=GENERIC_RETRYABLE,
        ),
        breaker=CircuitBreaker(
            failure_threshold=s.breaker_failures,
            open_duration=s.breaker_open,
            max_open_duration=s.breaker_max_open,
        ),
    )
    pipeline = nglogger.configure(
        nglogger.Config(
            sinks=[sink],
            context={"w": index},
            flush_interval=s.flush_interval,
            batch_max_events=s.batch_max_events,
            batch_max_bytes=s.batch_max_bytes,
            buffer_max_events=s.buffer_max_events,
            buffer_max_bytes=s.buffer_max_bytes,
            sink_queue_max_events=s.sink_queue_max_events,
            sink_queue_max_bytes=s.sink_queue_max_bytes,
            shutdown_timeout=s.shutdown_timeout,
            max_event_bytes=min(256 * KiB, s.batch_max_bytes),
            report_interval=0,  # a drop warning would be an event without a request id
            spool_dir=spool_dir,  # None: memory queue only
        )
    )
    log = nglogger.get_logger("replay")
    payload_bytes = max(1, (s.event_bytes - 160) // 2)
    fresh = s.payload == "random"
    urandom = os.urandom
    payload = urandom(payload_bytes).hex()

    def counters() -> dict[str, Any]:
        st = pipeline.stats()
        sk = st.sinks[sink.name]
        http = sink.http_stats()
        return {
            "submitted": st.submitted,
            "accepted": st.accepted,
            "dispatched": st.dispatched,
            "buffered": st.buffered_events,
            "buffered_bytes": st.buffered_bytes,
            "pre_dropped": dict(st.dropped),
            "sink_accepted": sk.accepted,
            "exported": sk.exported,
            "sink_dropped": dict(sk.dropped),
            "queued": sk.queued_events,
            "queued_bytes": sk.queued_bytes,
            "queue_high_water_bytes": sk.high_water_bytes,
            "buffer_high_water_bytes": st.high_water_bytes,
            "sink_errors": sk.errors,
            "last_error": sk.last_error,
            "requests": http.get("requests", 0),
            "breaker": http["breaker"],
            "learned_cap": sink.delivery.learned_cap,
            "replayed": sk.replayed,
            "spooled_events": sk.spooled_events,
            "spooled_bytes": sk.spooled_bytes,
            "spool_high_water_bytes": sk.spool_high_water_bytes,
            "spool_written_events": sk.spool_written_events,
            "spool_corrupt_records": sk.spool_corrupt_records,
            "spool_active": sk.spool_active,
            "spool_error": sk.spool_error,
        }

    conn.send(
        {
            "kind": "ready",
            "worker": index,
            "pid": os.getpid(),
            "budget": pipeline.config.memory_budget,
        }
    )
    parent = os.getppid()
    while not go.wait(1.0):
        if os.getppid() != parent:  # the parent died before the start: nothing to replay
            return
    mono = time.monotonic
    perf = time.perf_counter_ns
    interval = 1.0 / s.rate
    started = mono()
    next_event = started
    next_sample = started + 1.0
    rid = 0
    hist = [0] * 32  # log-call durations: bucket k holds [2**(k-1), 2**k) microseconds
    slow_calls = 0  # calls over 1 ms
    worst_ns = window_ns = 0  # longest call, wall clock
    # Longest call minus the time its thread waited for a CPU (schedstat's run_delay): what
    # the call itself waited for (a lock, the GIL, I/O), not how busy the machine was.
    worst_blocked = window_blocked = 0
    sched = _open_schedstat()
    pread = os.pread
    peak = 0
    late = 0.0  # how far the loop fell behind its schedule (a blocked loop shows here)
    while True:
        now = mono()
        if now >= next_sample:
            current, window_peak = tracemalloc.get_traced_memory()
            tracemalloc.reset_peak()
            peak = max(peak, window_peak)
            sample = {
                "kind": "sample",
                "worker": index,
                "t": now,
                "logged": rid,
                "tm_current": current,
                "tm_peak": window_peak,
                "max_call_ns": window_ns,
                "max_blocked_ns": window_blocked,
                **counters(),
            }
            window_ns = window_blocked = 0
            conn.send(sample)
            next_sample += 1.0
            if stop.is_set():
                break
            continue
        if now < next_event:
            time.sleep(min(next_event, next_sample) - now)
            continue
        late = max(late, now - next_event)
        if now - next_event > 1.0:  # never burst to catch up a long pause
            next_event = now
        if fresh:  # made before the timed call: the log call is what is measured
            payload = urandom(payload_bytes).hex()
        before = pread(sched, 64, 0) if sched is not None else b""
        t0 = perf()
        log.info("request handled", rid=rid, t=mono(), payload=payload)
        took = perf() - t0
        rid += 1
        next_event += interval
        hist[min(31, (took // 1000).bit_length())] += 1
        blocked = took
        if took > 1_000_000:
            slow_calls += 1
            if sched is not None:  # minus the time this thread was runnable but not running
                after = pread(sched, 64, 0)
                blocked -= int(after.split()[1]) - int(before.split()[1])
        if took > window_ns:
            window_ns = took
            worst_ns = max(worst_ns, took)
        if blocked > window_blocked:
            window_blocked = blocked
            worst_blocked = max(worst_blocked, blocked)
    elapsed = mono() - started
    flushed = nglogger.flush(s.delivery_bound + s.shutdown_timeout)
    shut = nglogger.shutdown(s.shutdown_timeout)
    _, last_peak = tracemalloc.get_traced_memory()
    conn.send(
        {
            "kind": "final",
            "worker": index,
            "logged": rid,
            "elapsed": elapsed,
            "flushed": flushed,
            "shutdown_clean": shut,
            "tm_peak": max(peak, last_peak),
            "max_call_ns": worst_ns,
            "max_blocked_ns": worst_blocked,
            "schedstat": sched is not None,
            "slow_calls": slow_calls,
            "late_max": late,
            "hist": hist,
            "http": sink.http_stats(),
            **counters(),
        }
    )
    conn.close()


def _open_schedstat() -> int | None:
    """A descriptor on this thread's /proc schedstat (None where the kernel has none)."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
        int(os.pread(fd, 64, 0).split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return fd


def read_rss(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) of a process in bytes, from /proc/<pid>/status; (0, 0) if gone."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0, 0
    values = {}
    for line in text.splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            name, rest = line.split(":", 1)
            values[name] = int(rest.split()[0]) * 1024
    return values.get("VmRSS", 0), values.get("VmHWM", 0)


class Receiver(threading.Thread):
    """Reads every worker's pipe into per-worker lists (samples) and dicts (ready/final)."""

    def __init__(self, conns: list[Connection]) -> None:
        super().__init__(name="receiver", daemon=True)
        self._conns = {c: i for i, c in enumerate(conns)}
        self.samples: list[list[dict[str, Any]]] = [[] for _ in conns]
        self.ready: dict[int, dict[str, Any]] = {}
        self.final: dict[int, dict[str, Any]] = {}
        self.arrived = threading.Condition()
        self._halt = threading.Event()

    def run(self) -> None:
        open_conns = list(self._conns)
        while open_conns and not self._halt.is_set():
            for conn in wait(open_conns, timeout=0.2):
                assert isinstance(conn, Connection)
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    open_conns.remove(conn)
                    continue
                index = self._conns[conn]
                with self.arrived:
                    kind = message["kind"]
                    if kind == "sample":
                        self.samples[index].append(message)
                    elif kind == "ready":
                        self.ready[index] = message
                    else:
                        self.final[index] = message
                    self.arrived.notify_all()

    def wait_for(self, what: str, n: int, timeout: float, procs: Sequence[Any] = ()) -> bool:
        """Wait for ``n`` messages of a kind; False at the deadline or when a process died."""
        deadline = time.monotonic() + timeout
        with self.arrived:
            while len(getattr(self, what)) < n:
                left = deadline - time.monotonic()
                if left <= 0 or any(p.exitcode not in (None, 0) for p in procs):
                    return False
                self.arrived.wait(min(left, 0.5))
            return True

    def stop(self) -> None:
        self._halt.set()
        self.join(2)
