"""The outage, replayed: worker processes log through nglogger while the backend fails and recovers.

``python scripts/outage_replay.py [--quick] [--report docs/]`` starts a telemetry endpoint
(a threaded HTTP server on 127.0.0.1 in this process) and N worker processes (spawned,
default 8). Each worker configures nglogger with a small memory budget and one generic
HTTP sink (gzip NDJSON) pointed at the endpoint, then logs at a steady rate: every event
carries the worker's number ``w``, a per-process request id ``rid`` (0, 1, 2, ...) and the
monotonic time ``t`` it was logged (CLOCK_MONOTONIC is system-wide on Linux), so the
endpoint can check delivery event by event. The endpoint goes through four phases:

==============  ======================================================================
``healthy``     answers 200 and records every event
``503``         answers 503 Service Unavailable to everything
``black hole``  accepts and reads each request, never answers (the connection is
                closed unanswered when the phase ends); nothing is recorded
``recovery``    healthy again
==============  ======================================================================

Measured every second: requests arriving at the endpoint (by outcome), each worker's
memory (tracemalloc current and peak inside the worker, sent over a pipe; VmRSS and
VmHWM read from ``/proc/<pid>/status`` here), nglogger's counters (accepted, exported,
dropped by reason, queued) and the longest log call. Checked at the end (exit status 1
if any check fails, 2 on bad usage):

1. memory: each worker's tracemalloc peak <= ``Config.memory_budget`` x (1 + slack)
   + a fixed allowance (interpreter objects, threads, the urllib3 pool, the sampler);
2. outage load: requests/s during the 503 and black-hole phases <= 10% of the healthy rate;
3. liveness: every worker exits 0 and reports, keeps its logging rate, and no log call
   takes longer than ``--max-call-ms``;
4. delivery: no event reaches the endpoint twice; each worker's delivered events equal
   its sink's ``exported`` count; every event delivered after recovery arrives within
   two flush intervals plus one backoff cap of ``max(logged, recovery start)``;
5. accounting: per worker, logged == exported + dropped (by reason) + still queued,
   exactly, and logged - delivered == dropped + queued (the endpoint's view).

``--report DIR`` writes ``outage.json`` (every figure), ``outage.md`` (the tables) and
``outage.png`` (request rate and memory over time; matplotlib is imported for it only,
``--no-chart`` skips it). ``--quick`` runs a ~20 s version (short phases, time constants
scaled down) used by ``tests/test_outage.py``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gzip
import importlib
import itertools
import json
import math
import multiprocessing
import os
import platform
import shlex
import socket
import sys
import threading
import time
import tracemalloc
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

import orjson

KiB = 1024
MiB = 1024 * KiB
LOOPBACK = "127.0.0.1"
WORKER_HEADER = "X-Replay-Worker"
OUTCOMES = ("ok", "503", "held")  # how the endpoint treated a request
MODES = ("healthy", "503", "black_hole")


# ------------------------------------------------------------------ settings
@dataclass(frozen=True)
class Settings:
    """Everything a replay depends on (the defaults are the full-length run)."""

    workers: int = 8
    rate: float = 200.0  # events per second per worker
    event_bytes: int = 1024  # approximate size of one NDJSON event
    healthy: float = 20.0  # phase lengths, seconds
    http_503: float = 60.0
    black_hole: float = 60.0
    recovery: float = 60.0
    # nglogger pipeline (Config)
    flush_interval: float = 0.2
    batch_max_events: int = 1000
    batch_max_bytes: int = 256 * KiB
    buffer_max_events: int = 20_000
    buffer_max_bytes: int = 4 * MiB
    sink_queue_max_events: int = 20_000
    sink_queue_max_bytes: int = 4 * MiB
    shutdown_timeout: float = 5.0
    # HTTP sink: timeouts, RetryPolicy, CircuitBreaker (RetryBudget: library defaults)
    timeout: float = 2.0
    connect_timeout: float = 1.0
    batch_deadline: float = 30.0
    backoff_base: float = 0.5
    backoff_cap: float = 6.0
    max_attempts: int = 6
    breaker_failures: int = 5
    breaker_open: float = 3.0
    breaker_max_open: float = 4.0
    # checks
    memory_slack: float = 0.2
    memory_allowance: int = 1 * MiB
    max_call_ms: float = 50.0
    max_outage_ratio: float = 0.10
    min_rate_ratio: float = 0.95

    @property
    def delivery_bound(self) -> float:
        """The issue's bound: two flush intervals plus one backoff cap (seconds)."""
        return 2 * self.flush_interval + self.backoff_cap

    def phases(self) -> list[tuple[str, str, float]]:
        """(name, endpoint mode, seconds) in order."""
        return [
            ("healthy", "healthy", self.healthy),
            ("503", "503", self.http_503),
            ("black hole", "black_hole", self.black_hole),
            ("recovery", "healthy", self.recovery),
        ]


#: ``--quick``: the same scenario in ~20 s; every time constant is scaled down with the
#: phases so the outage still spans many breaker periods (see docs/outage.md).
QUICK = {
    "rate": 200.0,
    "healthy": 3.0,
    "http_503": 4.0,
    "black_hole": 4.0,
    "recovery": 5.0,
    "flush_interval": 0.05,
    "batch_max_bytes": 64 * KiB,
    "buffer_max_bytes": 512 * KiB,
    "sink_queue_max_bytes": 256 * KiB,
    "timeout": 1.0,
    "connect_timeout": 0.5,
    "batch_deadline": 5.0,
    "backoff_base": 0.1,
    "backoff_cap": 3.0,
    "breaker_open": 1.0,
    "breaker_max_open": 1.5,
}


def check_settings(s: Settings) -> list[str]:
    """Problems with ``s`` that would make the replay meaningless (empty when fine)."""
    problems = []
    if s.workers < 1 or s.rate <= 0 or s.event_bytes < 200:
        problems.append("need --workers >= 1, --rate > 0 and --event-bytes >= 200")
    if min(s.healthy, s.http_503, s.black_hole, s.recovery) <= 0:
        problems.append("every phase must last > 0 s")
    if s.breaker_max_open > s.backoff_cap:
        problems.append(
            "--breaker-max-open must not exceed --backoff-cap: the delivery bound "
            "(2 flush intervals + 1 backoff cap) assumes no wait is longer than the cap"
        )
    if s.recovery <= s.delivery_bound:
        problems.append(f"--recovery must be longer than the delivery bound ({s.delivery_bound} s)")
    return problems


# ------------------------------------------------------------------ endpoint
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real ingest service
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.endpoint.connected(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.endpoint.disconnected(self.connection)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the replay reads counters, not access logs."""

    def do_POST(self) -> None:
        endpoint = self.server.endpoint
        length = int(self.headers.get("Content-Length") or 0)
        try:
            raw = self.rfile.read(length)
        except OSError:
            raw = b""
        if len(raw) < length:  # the client gave up while sending
            endpoint.count("incomplete")
            self.close_connection = True
            return
        try:
            worker = int(self.headers.get(WORKER_HEADER, "-1"))
        except ValueError:
            worker = -1
        mode, hole = endpoint.arrive(worker, len(raw))
        if mode == "black_hole":
            hole.wait()  # set when the phase ends or the endpoint closes
            endpoint.leave_hole()
            self.close_connection = True  # closed without an answer
            return
        status = 503
        try:
            if mode == "healthy":
                body = raw
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(raw)
                status = endpoint.deliver(body)
        finally:
            endpoint.answering(worker)
        try:
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.wfile.flush()
        except OSError:  # the client timed out first
            endpoint.count("answer_lost")
            self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = False  # handler threads are joined by server_close()
    block_on_close = True
    endpoint: Endpoint

    def handle_error(self, request: Any, client_address: Any) -> None:  # noqa: ARG002
        """Count instead of printing a traceback."""
        self.endpoint.count("handler_errors")


@dataclass
class _WorkerView:
    """What the endpoint saw of one worker's events."""

    seen: bytearray = field(default_factory=bytearray)  # receipts per rid (saturating)
    received: int = 0
    duplicates: int = 0
    max_rid: int = -1
    inflight: int = 0
    max_inflight: int = 0
    first_after_recovery: float | None = None  # seconds after recovery started
    backlog_drained: float | None = None  # last arrival of an event logged before recovery
    max_lag: float = 0.0  # max over arrivals after recovery of arrival - max(t, recovery)


class Endpoint:
    """The loopback telemetry endpoint: healthy, 503 or black hole; records every event id."""

    def __init__(self, workers: int) -> None:
        self._lock = threading.Lock()
        self._mode = "healthy"
        self._phase = "healthy"
        self._hole = threading.Event()
        self._t0: float | None = None
        self._recovered: float | None = None
        self.workers = [_WorkerView() for _ in range(workers)]
        self.series: dict[int, dict[str, int]] = {}  # second -> counters
        self.phases: dict[str, dict[str, float]] = {}
        self.counters: dict[str, int] = {}
        self._live: set[socket.socket] = set()
        self.held = 0
        self.max_held = 0
        self.connections = 0
        self._server = _Server((LOOPBACK, 0), _Handler)
        self._server.endpoint = self
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), name="endpoint", daemon=True
        )
        self._thread.start()
        self.threads_left = -1
        self.sockets_left = -1

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}/ingest"

    def start(self, t0: float) -> None:
        with self._lock:
            self._t0 = t0

    def enter(self, phase: str, mode: str, now: float) -> None:
        """Switch phase; leaving a black hole closes the requests it held, unanswered."""
        with self._lock:
            previous = self._mode
            self._mode, self._phase = mode, phase
            hole = self._hole
            if mode == "black_hole":
                self._hole = threading.Event()
            if phase == "recovery":
                self._recovered = now
            self.phases.setdefault(phase, {})
        if previous == "black_hole":
            hole.set()

    # -- called by handler threads
    def connected(self, sock: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self._live.add(sock)

    def disconnected(self, sock: socket.socket) -> None:
        with self._lock:
            self._live.discard(sock)

    def count(self, name: str) -> None:
        with self._lock:
            self.counters[name] = self.counters.get(name, 0) + 1

    def _bump(self, now: float, key: str, n: float = 1) -> None:
        """Add to this second's and this phase's counters (lock held)."""
        second = int(now - self._t0) if self._t0 is not None else -1
        row = self.series.setdefault(second, {})
        row[key] = row.get(key, 0) + int(n)
        phase = self.phases.setdefault(self._phase, {})
        phase[key] = phase.get(key, 0) + n

    def arrive(self, worker: int, wire_bytes: int) -> tuple[str, threading.Event]:
        """Count a complete request; return the mode it meets (and the hole to wait on)."""
        now = time.monotonic()
        with self._lock:
            mode = self._mode if self._mode in MODES else "503"  # closing: turn it away
            outcome = {"healthy": "ok", "503": "503", "black_hole": "held"}[mode]
            self._bump(now, outcome)
            self._bump(now, "wire_bytes", wire_bytes)
            if mode == "black_hole":
                self.held += 1
                self.max_held = max(self.max_held, self.held)
            elif 0 <= worker < len(self.workers):
                view = self.workers[worker]
                view.inflight += 1
                view.max_inflight = max(view.max_inflight, view.inflight)
            return mode, self._hole

    def leave_hole(self) -> None:
        with self._lock:
            self.held -= 1

    def answering(self, worker: int) -> None:
        """The answer is about to be written: the request is no longer in flight."""
        with self._lock:
            if 0 <= worker < len(self.workers):
                self.workers[worker].inflight -= 1

    def deliver(self, body: bytes) -> int:
        """Record the events of a request answered 200; the status to answer."""
        try:
            events = [orjson.loads(line) for line in body.split(b"\n") if line]
            ids = [(int(e["w"]), int(e["rid"]), float(e["t"])) for e in events]
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            self.count("bad_requests")
            return 400
        now = time.monotonic()
        with self._lock:
            recovered = self._recovered
            phase = self.phases.setdefault(self._phase, {})
            for w, rid, t in ids:
                if not 0 <= w < len(self.workers) or rid < 0:
                    self.counters["foreign_events"] = self.counters.get("foreign_events", 0) + 1
                    continue
                view = self.workers[w]
                seen = view.seen
                if rid >= len(seen):
                    seen.extend(bytes(rid + 1 - len(seen) + 4096))
                if seen[rid]:
                    view.duplicates += 1
                    seen[rid] = min(255, seen[rid] + 1)
                else:
                    seen[rid] = 1
                    view.received += 1
                view.max_rid = max(view.max_rid, rid)
                latency = now - t
                phase["max_latency"] = max(phase.get("max_latency", 0.0), latency)
                if recovered is not None and now >= recovered:
                    since = now - recovered
                    if view.first_after_recovery is None:
                        view.first_after_recovery = since
                    view.max_lag = max(view.max_lag, now - max(t, recovered))
                    if t < recovered:
                        view.backlog_drained = max(view.backlog_drained or 0.0, since)
            self._bump(now, "events", len(ids))
        return 200

    # -- end
    def close(self) -> None:
        """Release held requests, stop serving, close every socket and join every thread."""
        with self._lock:
            self._mode = "closing"
            hole = self._hole
            live = list(self._live)
        hole.set()
        self._server.shutdown()
        for sock in live:  # wake handlers parked on idle keep-alive connections
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        self._server.server_close()  # joins the handler threads
        self._thread.join(5)
        with self._lock:
            self.sockets_left = len(self._live)
        self.threads_left = sum(
            1
            for t in threading.enumerate()
            if "process_request" in t.name or (t is self._thread and t.is_alive())
        )


# ------------------------------------------------------------------- workers
def _worker(
    *, index: int, spec: dict[str, Any], url: str, conn: Connection, go: Any, stop: Any
) -> None:
    """One application process: configure nglogger, log steadily, report every second."""
    # Code is loaded before tracemalloc starts: modules are the interpreter's, not the
    # pipeline's memory (the sink imports urllib3 and http.client lazily otherwise).
    for module in ("http.client", "urllib3", "nglogger.otel"):
        importlib.import_module(module)
    import nglogger
    from nglogger._retry import CircuitBreaker, RetryPolicy
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
        )
    )
    log = nglogger.get_logger("replay")
    payload = os.urandom(max(1, (s.event_bytes - 160) // 2)).hex()

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


def _rss(pid: int) -> tuple[int, int]:
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


class _Receiver(threading.Thread):
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


# -------------------------------------------------------------------- parent
def run(s: Settings, echo: Any = sys.stdout.write) -> dict[str, Any]:
    """Run one replay and return its raw results (``analyse`` turns them into figures)."""
    provenance = _provenance()  # the library the workers are about to import
    ctx = multiprocessing.get_context("spawn")  # never fork a process running server threads
    endpoint = Endpoint(s.workers)
    go, stop = ctx.Event(), ctx.Event()
    procs = []
    conns = []
    for index in range(s.workers):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=_worker,
            kwargs={
                "index": index,
                "spec": dataclasses.asdict(s),
                "url": endpoint.url,
                "conn": send,
                "go": go,
                "stop": stop,
            },
            name=f"replay-worker-{index}",
            daemon=True,
        )
        proc.start()
        send.close()
        procs.append(proc)
        conns.append(receive)
    receiver = _Receiver(conns)
    receiver.start()
    rss: list[list[tuple[float, int, int]]] = [[] for _ in procs]
    crashed: dict[int, int | None] = {}
    transitions: list[tuple[str, float]] = []
    t0 = time.monotonic()
    try:
        if not receiver.wait_for("ready", s.workers, 120.0, procs):
            raise RuntimeError(f"only {len(receiver.ready)} of {s.workers} workers started")
        rss_start = [_rss(p.pid or 0)[0] for p in procs]
        tick = threading.Event()  # never set: an interruptible wait
        t0 = time.monotonic()
        endpoint.start(t0)
        go.set()
        echo(f"replay: {s.workers} workers at {s.rate:g} events/s each -> {endpoint.url}\n")
        phase_start = t0
        next_tick = t0 + 1.0
        for name, mode, seconds in s.phases():
            endpoint.enter(name, mode, time.monotonic())
            transitions.append((name, time.monotonic() - t0))
            echo(f"  t={time.monotonic() - t0:6.1f}s  phase {name!r} for {seconds:g} s\n")
            phase_end = phase_start + seconds
            while (now := time.monotonic()) < phase_end:
                tick.wait(max(0.0, min(next_tick, phase_end) - now))
                now = time.monotonic()
                if now >= next_tick:
                    next_tick += 1.0
                    for i, proc in enumerate(procs):
                        rss[i].append((now - t0, *_rss(proc.pid or 0)))
                        if proc.exitcode is not None and i not in crashed:
                            crashed[i] = proc.exitcode
            phase_start = phase_end
        stopped = time.monotonic() - t0
        stop.set()
        receiver.wait_for("final", s.workers, s.delivery_bound + 3 * s.shutdown_timeout + 10, procs)
        for proc in procs:
            proc.join(10)
    finally:
        stop.set()
        go.set()
        for proc in procs:
            if proc.is_alive():
                proc.join(5)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
        receiver.stop()
        endpoint.close()
    return {
        "settings": dataclasses.asdict(s),
        "provenance": provenance,
        "url": endpoint.url,
        "transitions": transitions,
        "stopped": stopped,
        "ended": time.monotonic() - t0,
        "exitcodes": [p.exitcode for p in procs],
        "crashed_during_run": crashed,
        "pids": [p.pid for p in procs],
        "budgets": [receiver.ready[i]["budget"] for i in range(s.workers)],
        "rss_start": rss_start,
        "rss": rss,
        "samples": [[{**m, "t": m["t"] - t0} for m in per] for per in receiver.samples],
        "final": {i: receiver.final.get(i) for i in range(s.workers)},
        "endpoint": {
            "series": endpoint.series,
            "phases": endpoint.phases,
            "counters": endpoint.counters,
            "connections": endpoint.connections,
            "max_held": endpoint.max_held,
            "threads_left": endpoint.threads_left,
            "sockets_left": endpoint.sockets_left,
            "workers": [
                {
                    "received": v.received,
                    "duplicates": v.duplicates,
                    "max_rid": v.max_rid,
                    "max_inflight": v.max_inflight,
                    "first_after_recovery": v.first_after_recovery,
                    "backlog_drained": v.backlog_drained,
                    "max_lag": v.max_lag,
                }
                for v in endpoint.workers
            ],
        },
    }


# ------------------------------------------------------------------ analysis
def _dropped(counters: dict[str, Any]) -> dict[str, int]:
    """Drops by reason, before the buffer and in the sink, as one mapping."""
    total: dict[str, int] = {}
    for part in (counters["pre_dropped"], counters["sink_dropped"]):
        for reason, n in part.items():
            total[reason] = total.get(reason, 0) + n
    return total


def _at(samples: list[dict[str, Any]], t: float) -> dict[str, Any]:
    """The last sample taken at or before ``t`` (an empty one before the first)."""
    best: dict[str, Any] = {"logged": 0, "exported": 0, "pre_dropped": {}, "sink_dropped": {}}
    for sample in samples:
        if sample["t"] <= t:
            best = sample
    return best


def _cumulative(
    samples: list[dict[str, Any]], final: dict[str, Any]
) -> list[tuple[float, dict[str, int]]]:
    """(time, counters) points of one worker: logged, exported and each drop reason."""

    def point(m: dict[str, Any]) -> dict[str, int]:
        return {"logged": m["logged"], "exported": m["exported"], **_dropped(m)}

    points = [(0.0, {"logged": 0, "exported": 0})]
    points += [(m["t"], point(m)) for m in samples]
    points.append((math.inf, point(final)))
    return points


def _interpolate(points: list[tuple[float, dict[str, int]]], t: float) -> dict[str, float]:
    """Counters at time ``t``, linear between the two samples around it (exact at the end)."""
    for (t1, v1), (t2, v2) in itertools.pairwise(points):
        if t1 <= t <= t2:
            if math.isinf(t2) or t2 == t1:
                return dict(v1 if not math.isinf(t) else v2)
            share = (t - t1) / (t2 - t1)
            keys = set(v1) | set(v2)
            return {k: v1.get(k, 0) + share * (v2.get(k, 0) - v1.get(k, 0)) for k in keys}
    return dict(points[-1][1])


def _percentile_us(hist: list[int], q: float) -> float:
    """Upper edge (microseconds) of the histogram bucket holding quantile ``q``."""
    total = sum(hist)
    if not total:
        return 0.0
    rank = q * total
    seen = 0
    for k, n in enumerate(hist):
        seen += n
        if seen >= rank:
            return float(2**k)
    return float(2 ** (len(hist) - 1))


def analyse(raw: dict[str, Any]) -> dict[str, Any]:
    """Figures per phase and per worker, and every check with its verdict."""
    s = Settings(**raw["settings"])
    ep = raw["endpoint"]
    finals: dict[int, dict[str, Any] | None] = {int(k): v for k, v in raw["final"].items()}
    budgets = raw["budgets"]
    limit = [b * (1 + s.memory_slack) + s.memory_allowance for b in budgets]
    bounds = []
    start = 0.0
    for name, _mode, seconds in s.phases():
        bounds.append((name, start, start + seconds))
        start += seconds

    # ---- per phase
    phases = []
    healthy_rate = 0.0
    for name, begin, end in bounds:
        counts = ep["phases"].get(name, {})
        requests = {o: int(counts.get(o, 0)) for o in OUTCOMES}
        total = sum(requests.values())
        rate = total / (end - begin)
        if name == "healthy":
            healthy_rate = rate
        logged = delivered_by_workers = 0.0
        drops: dict[str, float] = {}
        tm_peak = 0
        call_ns = blocked_ns = 0
        for i in range(s.workers):
            samples = raw["samples"][i]
            final = finals[i]
            if final is not None:
                points = _cumulative(samples, final)
                a = _interpolate(points, begin)
                b = _interpolate(points, end if name != "recovery" else math.inf)
                logged += b["logged"] - a["logged"]
                delivered_by_workers += b["exported"] - a["exported"]
                for reason in set(a) | set(b):
                    if reason not in ("logged", "exported"):
                        drops[reason] = drops.get(reason, 0) + b.get(reason, 0) - a.get(reason, 0)
            for sample in samples:
                if begin < sample["t"] - 0.5 <= end:
                    tm_peak = max(tm_peak, sample["tm_peak"])
                    call_ns = max(call_ns, sample["max_call_ns"])
                    blocked_ns = max(blocked_ns, sample["max_blocked_ns"])
        rss_max = max(
            (r for per in raw["rss"] for (t, r, _hwm) in per if begin < t <= end), default=0
        )
        phases.append(
            {
                "phase": name,
                "start": begin,
                "seconds": end - begin,
                "requests": requests,
                "requests_per_s": rate,
                "events_logged": round(logged),
                "events_received": int(counts.get("events", 0)),
                "exported_by_workers": round(delivered_by_workers),
                "dropped": {r: round(n) for r, n in sorted(drops.items()) if round(n)},
                "max_latency_s": counts.get("max_latency"),
                "wire_mib": counts.get("wire_bytes", 0) / MiB,
                "tracemalloc_peak_max": tm_peak,
                "rss_max": rss_max,
                "max_call_ms": call_ns / 1e6,
                "max_blocked_ms": blocked_ns / 1e6,
            }
        )
    for p in phases:
        p["rate_vs_healthy"] = p["requests_per_s"] / healthy_rate if healthy_rate else math.inf
    outage = [p for p in phases if p["phase"] in ("503", "black hole")]
    outage_requests = sum(sum(p["requests"].values()) for p in outage)
    outage_seconds = sum(p["seconds"] for p in outage)
    outage_rate = outage_requests / outage_seconds
    recovery_series = [
        sum(row.get(o, 0) for o in OUTCOMES)
        for sec, row in ep["series"].items()
        if bounds[3][1] <= int(sec) < bounds[3][2]
    ]

    # ---- per worker
    workers = []
    for i in range(s.workers):
        fin = finals[i]
        view = ep["workers"][i]
        rss_series = raw["rss"][i]
        rss_peak = max((hwm for (_t, _r, hwm) in rss_series), default=0)
        row: dict[str, Any] = {
            "worker": i,
            "pid": raw["pids"][i],
            "exitcode": raw["exitcodes"][i],
            "reported": fin is not None,
            "budget": budgets[i],
            "memory_limit": limit[i],
            "rss_start": raw["rss_start"][i],
            "rss_peak": rss_peak,
            "received": view["received"],
            "duplicates": view["duplicates"],
            "max_inflight": view["max_inflight"],
            "first_after_recovery": view["first_after_recovery"],
            "backlog_drained": view["backlog_drained"],
            "max_lag": view["max_lag"],
        }
        if fin is not None:
            dropped = _dropped(fin)
            expected = s.rate * fin["elapsed"]
            row.update(
                {
                    "logged": fin["logged"],
                    "rate_achieved": fin["logged"] / expected if expected else 0.0,
                    "submitted": fin["submitted"],
                    "exported": fin["exported"],
                    "dropped": dict(sorted(dropped.items())),
                    "dropped_total": sum(dropped.values()),
                    "queued": fin["queued"] + fin["buffered"],
                    "tracemalloc_peak": fin["tm_peak"],
                    "queue_high_water_bytes": fin["queue_high_water_bytes"],
                    "buffer_high_water_bytes": fin["buffer_high_water_bytes"],
                    "max_call_ms": fin["max_call_ns"] / 1e6,
                    "max_blocked_ms": fin["max_blocked_ns"] / 1e6,
                    "schedstat": fin["schedstat"],
                    "p99_call_us": _percentile_us(fin["hist"], 0.99),
                    "p999_call_us": _percentile_us(fin["hist"], 0.999),
                    "slow_calls": fin["slow_calls"],
                    "late_max": fin["late_max"],
                    "flushed": fin["flushed"],
                    "sink_errors": fin["sink_errors"],
                    "requests": fin["http"].get("requests", 0),
                    "retries": fin["http"].get("retries", 0),
                    "budget_denied": fin["http"].get("budget_denied", 0),
                    "breaker": fin["http"]["breaker"],
                    "retry_budget": fin["http"]["budget"],
                    "pipeline_identity": fin["submitted"]
                    == fin["dispatched"] + fin["buffered"] + sum(fin["pre_dropped"].values()),
                    "sink_identity": fin["sink_accepted"]
                    == fin["exported"] + sum(fin["sink_dropped"].values()) + fin["queued"],
                }
            )
        workers.append(row)

    # ---- checks
    checks = []

    def check(name: str, ok: bool, measured: str, limit_text: str) -> None:
        checks.append({"check": name, "ok": bool(ok), "measured": measured, "limit": limit_text})

    done = [w for w in workers if w["reported"]]
    silent = [w["worker"] for w in workers if not w["reported"]]
    unreported = f"; workers {silent} did not report" if silent else ""
    everyone = not silent

    def worst(key: str, pick: Any = max, default: float = 0.0) -> float:
        return float(pick((w[key] for w in done), default=default))

    check(
        "memory within budget (tracemalloc peak, every worker)",
        everyone and all(w["tracemalloc_peak"] <= w["memory_limit"] for w in done),
        f"max {worst('tracemalloc_peak') / MiB:.2f} MiB{unreported}",
        f"{budgets[0] / MiB:.2f} MiB x {1 + s.memory_slack:g} + "
        f"{s.memory_allowance / MiB:g} MiB = {limit[0] / MiB:.2f} MiB",
    )
    ratio = outage_rate / healthy_rate if healthy_rate else math.inf
    check(
        "request rate during the outage <= 10% of healthy",
        ratio <= s.max_outage_ratio and healthy_rate > 0,
        f"{outage_rate:.2f}/s vs {healthy_rate:.2f}/s = {100 * ratio:.1f}%",
        f"<= {100 * s.max_outage_ratio:g}%",
    )
    check(
        "no worker crashed (exit 0, final report)",
        everyone and all(w["exitcode"] == 0 for w in workers) and not raw["crashed_during_run"],
        f"exit codes {sorted({w['exitcode'] for w in workers}, key=str)}{unreported}",
        "all 0",
    )
    check(
        "no log call blocked",
        everyone and worst("max_blocked_ms") <= s.max_call_ms,
        f"longest call {worst('max_call_ms'):.2f} ms; without waiting for a CPU "
        f"{worst('max_blocked_ms'):.2f} ms{unreported}",
        f"<= {s.max_call_ms:g} ms",
    )
    lowest = worst("rate_achieved", min, 0.0)
    check(
        "every worker kept its logging rate",
        everyone and lowest >= s.min_rate_ratio,
        f"lowest {100 * lowest:.1f}% of {s.rate:g}/s{unreported}",
        f">= {100 * s.min_rate_ratio:g}%",
    )
    dups = sum(w["duplicates"] for w in workers)
    check("no event delivered twice", dups == 0, f"{dups} duplicates", "0")
    mismatched = [
        w["worker"] for w in done if w["received"] != w["exported"] or w["received"] > w["logged"]
    ]
    check(
        "endpoint received == sink exported (every worker)",
        everyone and not mismatched,
        (f"mismatch in workers {mismatched}" if mismatched else "equal") + unreported,
        "equal",
    )
    missing_unexplained = [
        w["worker"] for w in done if w["logged"] - w["received"] != w["dropped_total"] + w["queued"]
    ]
    check(
        "every event not counted dropped was received",
        everyone and not missing_unexplained,
        (
            f"unexplained in workers {missing_unexplained}"
            if missing_unexplained
            else "logged - received == dropped + queued"
        )
        + unreported,
        "exact",
    )
    worst_lag = max((w["max_lag"] for w in workers), default=math.inf)
    late = [w["worker"] for w in workers if w["first_after_recovery"] is None]
    check(
        "delivered within 2 flush intervals + 1 backoff cap after recovery",
        worst_lag <= s.delivery_bound and not late,
        f"max lag {worst_lag:.2f} s" + (f"; nothing from workers {late}" if late else ""),
        f"<= {s.delivery_bound:g} s",
    )
    broken = [
        w["worker"]
        for w in done
        if not (w["pipeline_identity"] and w["sink_identity"] and w["logged"] == w["submitted"])
    ]
    check(
        "accounting exact (logged = exported + dropped + queued)",
        everyone and not broken,
        (f"broken in workers {broken}" if broken else "exact") + unreported,
        "exact",
    )
    anomalies = {
        k: v
        for k, v in ep["counters"].items()
        if k in ("answer_lost", "bad_requests", "foreign_events", "handler_errors") and v
    }
    check(
        "endpoint: every 200 reached its client, every request well-formed",
        not anomalies,
        _reasons(anomalies) if anomalies else "no anomaly",
        "none",
    )
    check(
        "endpoint cleaned up (threads, sockets)",
        ep["threads_left"] == 0 and ep["sockets_left"] == 0,
        f"{ep['threads_left']} threads, {ep['sockets_left']} sockets left",
        "0, 0",
    )
    return {
        "healthy_rate": healthy_rate,
        "outage_rate": outage_rate,
        "outage_ratio": ratio,
        "recovery_peak_rate": max(recovery_series, default=0),
        "delivery_bound": s.delivery_bound,
        "phases": phases,
        "workers": workers,
        "checks": checks,
        "ok": all(c["ok"] for c in checks),
    }


# -------------------------------------------------------------------- report
def timeline(raw: dict[str, Any]) -> dict[str, Any]:
    """The 1 s time series in columns (compact enough to keep next to the report)."""
    ep = raw["endpoint"]
    seconds = sorted(int(k) for k in ep["series"])
    requests = {o: [ep["series"][k].get(o, 0) for k in seconds] for o in OUTCOMES}
    workers = []
    for i, samples in enumerate(raw["samples"]):
        columns: dict[str, list[Any]] = {
            "t": [round(m["t"], 3) for m in samples],
            "dropped": [_dropped(m) for m in samples],
            "breaker": [m["breaker"]["state"] for m in samples],
        }
        for key in (
            "logged",
            "exported",
            "queued",
            "buffered",
            "tm_current",
            "tm_peak",
            "max_call_ns",
            "max_blocked_ns",
            "requests",
        ):
            columns[key] = [m[key] for m in samples]
        columns["rss"] = [[round(t, 1), r, hwm] for t, r, hwm in raw["rss"][i]]
        workers.append(columns)
    return {
        "transitions": raw["transitions"],
        "endpoint": {"second": seconds, **requests},
        "workers": workers,
    }


def _mib(n: float) -> str:
    return f"{n / MiB:.2f}"


def _reasons(drops: dict[str, int]) -> str:
    return ", ".join(f"{r} {n}" for r, n in sorted(drops.items())) or "-"


def summary_table(figures: dict[str, Any]) -> str:
    """The plain-text summary printed at the end of a run."""
    lines = [
        (
            f"{'phase':<11} {'req/s':>7} {'vs healthy':>10} {'logged':>8} {'received':>9} "
            f"{'tm peak MiB':>11} {'call ms*':>8}  dropped"
        ),
    ]
    lines += [
        f"{p['phase']:<11} {p['requests_per_s']:>7.2f} {100 * p['rate_vs_healthy']:>9.1f}% "
        f"{p['events_logged']:>8} {p['events_received']:>9} "
        f"{_mib(p['tracemalloc_peak_max']):>11} {p['max_blocked_ms']:>8.2f}  "
        f"{_reasons(p['dropped'])}"
        for p in figures["phases"]
    ]
    lines.append("* longest log call, minus the time its thread waited for a CPU\n")
    width = max(len(c["check"]) for c in figures["checks"])
    for c in figures["checks"]:
        mark = "PASS" if c["ok"] else "FAIL"
        lines.append(f"{mark}  {c['check']:<{width}}  {c['measured']}  (limit {c['limit']})")
    return "\n".join(lines) + "\n"


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out)


def _provenance() -> str:
    """nglogger's version and, in a git checkout, the commit (and whether nglogger/ was edited)."""
    import subprocess

    import nglogger

    root = Path(__file__).resolve().parent.parent
    text = f"nglogger {nglogger.__version__}"
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607 - git from PATH
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "nglogger"],  # noqa: S607
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return text
    return f"{text} at commit {sha}" + (" with uncommitted changes in nglogger/" if dirty else "")


def markdown(raw: dict[str, Any], figures: dict[str, Any], command: str, chart: bool) -> str:
    """docs/outage.md: what was run, the settings, the figures and the checks."""
    s = Settings(**raw["settings"])
    d = Settings()
    budget = raw["budgets"][0]
    phases = figures["phases"]
    workers = figures["workers"]
    done = [w for w in workers if w["reported"]]
    lines = [
        "# The outage, replayed",
        "",
        "<!-- Generated by scripts/outage_replay.py --report; do not edit by hand. -->",
        "",
        (
            f"**Verdict: {'all checks passed' if figures['ok'] else 'SOME CHECKS FAILED'}.** "
            f"{s.workers} processes logged {sum(w.get('logged', 0) for w in workers):,} events "
            "through nglogger's generic HTTP sink to a loopback endpoint that was healthy, "
            f"answered 503 for {s.http_503:g} s, black-holed requests for {s.black_hole:g} s and "
            f"recovered. During the outage the endpoint saw "
            f"{100 * figures['outage_ratio']:.1f}% of its healthy request rate; no event was "
            "delivered twice; every event not counted as dropped arrived, the last of them "
            f"{max(w['max_lag'] for w in workers):.2f} s after recovery (bound "
            f"{s.delivery_bound:g} s); the largest tracemalloc peak was "
            f"{max(w.get('tracemalloc_peak', 0) for w in workers) / MiB:.2f} MiB for a "
            f"{budget / MiB:.2f} MiB budget."
        ),
        "",
        (
            f"Command: `{command}`, on {platform.python_implementation()} "
            f"{platform.python_version()}, {os.cpu_count()} CPUs, {platform.system()} "
            f"{platform.machine()}; {raw['provenance']}; "
            f"run at {time.strftime('%Y-%m-%d %H:%M %Z')}."
        ),
        "",
        "## What runs",
        "",
        (
            "* **Endpoint**: a `ThreadingHTTPServer` on 127.0.0.1 in the parent process "
            "(keep-alive). Healthy: reads, gunzips and parses each request, records every "
            "`(w, rid)` and answers 200. 503: answers `503` (no `Retry-After`). Black hole: "
            "reads the request and never answers; the held connections are closed unanswered "
            "when the phase ends (nothing they carried is recorded, like packets lost in a "
            "partition). Requests are counted when they arrive, per second and per phase."
        ),
        (
            f"* **Workers**: {s.workers} spawned processes. Each runs "
            "`nglogger.configure(...)` with the settings below and one `HttpSink` "
            "(gzip NDJSON), then logs "
            f'`log.info("request handled", rid=n, t=monotonic(), payload=...)` at '
            f"{s.rate:g} events/s (events of ~{s.event_bytes} B), timing every call. "
            "tracemalloc runs from before `configure` (after the imports) to the end; once a "
            "second each worker sends its traced memory (current, and the peak since the last "
            "sample), `nglogger.stats()` and its longest log call over a pipe. The parent reads "
            "`VmRSS`/`VmHWM` from `/proc/<pid>/status` every second."
        ),
        (
            "* **End**: when the recovery phase ends the workers stop logging, "
            "`nglogger.flush()`, `nglogger.shutdown()` and report their final counters; the "
            "endpoint then closes (held requests released, every socket shut, every handler "
            "thread joined)."
        ),
        "",
        "## Settings",
        "",
        _table(
            ["setting", "value", "why"],
            [
                [
                    "phases",
                    (
                        f"healthy {s.healthy:g} s, 503 {s.http_503:g} s, black hole "
                        f"{s.black_hole:g} s, recovery {s.recovery:g} s"
                    ),
                    "the issue's 60 s outages"
                    if min(s.http_503, s.black_hole) >= 60
                    else "shortened",
                ],
                [
                    "`flush_interval`",
                    f"{s.flush_interval:g} s",
                    "healthy: one request per interval per worker",
                ],
                [
                    "`batch_max_events` / `batch_max_bytes`",
                    f"{s.batch_max_events} / {s.batch_max_bytes // KiB} KiB",
                    "",
                ],
                [
                    "`buffer_max_events` / `buffer_max_bytes`",
                    f"{s.buffer_max_events} / {_mib(s.buffer_max_bytes)} MiB",
                    "small limits",
                ],
                [
                    "`sink_queue_max_events` / `sink_queue_max_bytes`",
                    f"{s.sink_queue_max_events} / {_mib(s.sink_queue_max_bytes)} MiB",
                    "the backlog an outage may build",
                ],
                [
                    "`Config.memory_budget`",
                    f"{_mib(budget)} MiB",
                    "buffer + 3 x batch + (sink queue + batch)",
                ],
                [
                    "HTTP timeouts",
                    (
                        f"connect {s.connect_timeout:g} s, read {s.timeout:g} s, "
                        f"batch deadline {s.batch_deadline:g} s"
                    ),
                    "",
                ],
                [
                    "`RetryPolicy`",
                    (
                        f"base {s.backoff_base:g} s, cap {s.backoff_cap:g} s, "
                        f"{s.max_attempts} attempts, statuses 408/429/500/502/503/504"
                    ),
                    "full jitter",
                ],
                [
                    "`RetryBudget`",
                    "library default: 10% of first attempts + 0.1/s, 10 s window",
                    "",
                ],
                [
                    "`CircuitBreaker`",
                    (
                        f"opens after {s.breaker_failures} consecutive failures; "
                        f"open {s.breaker_open:g} s, then U({s.breaker_open:g}, "
                        f"{s.breaker_max_open:g}) s"
                    ),
                    "max open <= backoff cap",
                ],
                [
                    "memory check",
                    f"peak <= budget x {1 + s.memory_slack:g} + {_mib(s.memory_allowance)} MiB",
                    "see below",
                ],
            ],
        ),
        "",
        "## The delivery bound",
        "",
        (
            f"The issue asks for delivery within two flush intervals plus one backoff cap: "
            f"2 x {s.flush_interval:g} s + {s.backoff_cap:g} s = **{s.delivery_bound:g} s**, "
            "measured for every event that arrives after recovery as arrival - max(time logged, "
            "recovery start). Why it holds: at recovery a sink is waiting either for its "
            "breaker (the open period is at most `max_open_duration`, "
            f"{s.breaker_max_open:g} s here) or for a backoff (at most the cap); a request held "
            "by the black hole fails at once when the endpoint recovers (its connection is "
            "closed), which reopens the breaker for at most `max_open_duration`. So the first "
            f"probe succeeds within {s.backoff_cap:g} s; the breaker closes and the queued "
            "backlog (bounded by the sink queue: "
            f"{_mib(s.sink_queue_max_bytes)} MiB, about "
            f"{s.sink_queue_max_bytes // max(1, int(s.rate * s.flush_interval * s.event_bytes))} "
            "batches) drains at one request in flight; an event logged meanwhile waits at most "
            "one interval to be batched and one more behind the batch in flight. With "
            f"`max_open_duration` = {s.breaker_max_open:g} s the drain has "
            f"{s.delivery_bound - s.breaker_max_open:g} s in the common case. The breaker's "
            "open periods are also what keeps the outage load low: one probe per "
            f"{s.breaker_open:g}-{s.breaker_max_open:g} s per worker against "
            f"{1 / s.flush_interval:g} requests/s when healthy."
        ),
        "",
        "## Per phase",
        "",
        (
            "Requests and received events are counted at the endpoint, by arrival. Events "
            "logged and dropped come from each worker's 1 s samples, interpolated at the phase "
            "boundaries (the recovery row ends with the final counters, after the last flush). "
            "Memory is the largest per-second tracemalloc peak of any worker. Latency is "
            "arrival - time logged: events delivered in the recovery phase include the "
            "backlog logged during the outage."
        ),
        "",
        _table(
            [
                "phase",
                "s",
                "requests (200/503/held)",
                "req/s",
                "vs healthy",
                "events logged",
                "events received",
                "dropped (by reason)",
                f"tracemalloc peak MiB (budget {_mib(budget)})",
                "RSS max MiB",
                "longest log call ms (without CPU wait)",
                "max latency s",
            ],
            [
                [
                    p["phase"],
                    f"{p['seconds']:g}",
                    "/".join(str(p["requests"][o]) for o in OUTCOMES),
                    f"{p['requests_per_s']:.2f}",
                    f"{100 * p['rate_vs_healthy']:.1f}%",
                    f"{p['events_logged']:,}",
                    f"{p['events_received']:,}",
                    _reasons(p["dropped"]),
                    _mib(p["tracemalloc_peak_max"]),
                    _mib(p["rss_max"]),
                    f"{p['max_call_ms']:.2f} ({p['max_blocked_ms']:.2f})",
                    "-" if p["max_latency_s"] is None else f"{p['max_latency_s']:.2f}",
                ]
                for p in phases
            ],
        ),
        "",
        (
            f"Outage (503 + black hole): **{figures['outage_rate']:.2f} requests/s = "
            f"{100 * figures['outage_ratio']:.1f}% of the healthy "
            f"{figures['healthy_rate']:.2f}/s**. "
            f"Busiest second of the recovery: {figures['recovery_peak_rate']} requests "
            "(the backlog draining; the most requests the endpoint had in flight from one "
            f"worker at once: {max(w['max_inflight'] for w in workers)})."
        ),
        "",
        "## Delivery after recovery",
        "",
        (
            "First delivery after recovery (the first successful probe) came after at most "
            f"{max(w['first_after_recovery'] or 0 for w in workers):.2f} s (the longest "
            f"breaker period is {s.breaker_max_open:g} s); each worker's backlog was drained "
            f"at most {max(w['backlog_drained'] or 0 for w in workers):.2f} s after recovery; "
            "every event that arrived after recovery did so within "
            f"{max(w['max_lag'] for w in workers):.2f} s of max(logged, recovery start) "
            f"(bound {s.delivery_bound:g} s). The workers stop logging at their first "
            "once-a-second sample after the recovery phase ends, so a few logged up to one "
            "second more than others."
        ),
        "",
        _table(
            [
                "worker",
                "logged",
                "received",
                "duplicates",
                "dropped (by reason)",
                "queued at end",
                "first delivery after recovery s",
                "backlog drained after s",
                "max lag s",
            ],
            [
                [
                    w["worker"],
                    f"{w.get('logged', 0):,}",
                    f"{w['received']:,}",
                    w["duplicates"],
                    _reasons(w.get("dropped", {})),
                    w.get("queued", "-"),
                    "-"
                    if w["first_after_recovery"] is None
                    else f"{w['first_after_recovery']:.2f}",
                    "-" if w["backlog_drained"] is None else f"{w['backlog_drained']:.2f}",
                    f"{w['max_lag']:.2f}",
                ]
                for w in workers
            ],
        ),
        "",
        "## Memory and liveness per worker",
        "",
        _table(
            [
                "worker",
                "tracemalloc peak MiB",
                "limit MiB",
                "queue high water MiB",
                "RSS start MiB",
                "RSS peak MiB",
                "longest call ms (without CPU wait)",
                "p99.9 call us (bucket)",
                "calls > 1 ms",
                "rate kept",
                "requests",
                "retries",
                "breaker opened / probes",
            ],
            [
                [
                    w["worker"],
                    _mib(w.get("tracemalloc_peak", 0)),
                    _mib(w["memory_limit"]),
                    _mib(w.get("queue_high_water_bytes", 0)),
                    _mib(w["rss_start"]),
                    _mib(w["rss_peak"]),
                    f"{w.get('max_call_ms', 0):.2f} ({w.get('max_blocked_ms', 0):.2f})",
                    f"<= {w.get('p999_call_us', 0):g}",
                    w.get("slow_calls", "-"),
                    f"{100 * w.get('rate_achieved', 0):.1f}%",
                    w.get("requests", "-"),
                    w.get("retries", "-"),
                    f"{w['breaker']['opened']} / {w['breaker']['probes']}"
                    if "breaker" in w
                    else "-",
                ]
                for w in workers
            ],
        ),
        "",
        (
            "Log calls are timed with `perf_counter_ns` around each call. On a machine with "
            "more runnable threads than CPUs a call can be descheduled half-way; the kernel's "
            "per-thread `run_delay` (`/proc/thread-self/schedstat`) says how long the thread "
            "waited for a CPU, so the check subtracts it from calls over 1 ms: what remains is "
            "time the call itself waited (a lock, the GIL, I/O). Both figures are shown; where "
            "the kernel has no schedstat the wall time is checked."
        ),
        "",
        (
            "The memory allowance: tracemalloc counts every Python allocation of the process "
            "after the imports, not only the pipeline's buffers. Besides the budgeted bytes it "
            "sees the threads' frames and objects, the urllib3 pool and connection, the HTTP "
            "sink's working copies of the batch in flight (the per-event list, the request body "
            "and its gzip copy: a few times one batch, which `memory_budget` counts once), "
            "`stats()` snapshots and the sampler's own objects. The healthy phase, where the "
            f"queues stay nearly empty, shows that fixed part: "
            f"{_mib(phases[0]['tracemalloc_peak_max'])} MiB. RSS also holds the interpreter, "
            "the imported modules and tracemalloc's own tables; its growth from start to peak "
            f"was at most {_mib(max(w['rss_peak'] - w['rss_start'] for w in workers))} MiB."
        ),
        "",
        "## Observations",
        "",
        *_observations(s, figures),
        "## Checks",
        "",
        _table(
            ["check", "result", "measured", "limit"],
            [
                [c["check"], "pass" if c["ok"] else "**FAIL**", c["measured"], c["limit"]]
                for c in figures["checks"]
            ],
        ),
        "",
    ]
    if done:
        lines += [
            (
                "Accounting, per worker at the end: `logged == submitted == exported + "
                "sum(dropped) + queued` and `logged - received == sum(dropped) + queued`, both "
                "exact; `received == exported` (the endpoint and the sink agree on every "
                "request's fate)."
            ),
            "",
        ]
    if chart:
        lines += [
            "## Over time",
            "",
            "![Request rate, memory and queues over time](outage.png)",
            "",
            (
                "From the top: requests per second at the endpoint by outcome (symmetric log "
                "scale; dotted: the healthy rate and 10% of it); each worker's tracemalloc "
                "current and per-second peak against `memory_budget` and the checked limit; each "
                "worker's VmRSS; events queued (buffer + sink queue) and events dropped so far, "
                "summed over the workers. Shaded: the 503 (red) and black-hole (purple) phases."
            ),
            "",
        ]
    lines += [
        (
            "Every figure, and the 1 s time series behind the chart, are in `outage.json`. "
            "Re-run with "
            "`python scripts/outage_replay.py --report docs/` (about "
            f"{math.ceil((d.healthy + d.http_503 + d.black_hole + d.recovery + 20) / 60)} min), "
            "or `--quick` for a short version (what `tests/test_outage.py` runs)."
        ),
        "",
    ]
    return "\n".join(lines)


def _observations(s: Settings, figures: dict[str, Any]) -> list[str]:
    """Bullet points read off the figures (what the numbers say beyond pass/fail)."""
    phases = {p["phase"]: p for p in figures["phases"]}
    done = [w for w in figures["workers"] if w["reported"]]
    if not done:
        return ["No worker reported: nothing to observe.", ""]
    recovery = phases["recovery"]
    lost_after = sum(recovery["dropped"].values())
    healthy = figures["healthy_rate"]
    drained = max(w["backlog_drained"] or 0.0 for w in done)
    first = max(w["first_after_recovery"] or 0.0 for w in done)
    queue_hw = max(w["queue_high_water_bytes"] for w in done)
    buffer_hw = max(w["buffer_high_water_bytes"] for w in done)
    requests = sum(w["requests"] for w in done)
    retries = sum(w["retries"] for w in done)
    batches = s.sink_queue_max_bytes // max(1, int(s.rate * s.flush_interval * s.event_bytes))
    burst = figures["recovery_peak_rate"] / max(healthy, 1e-9)
    return [
        (
            f"* **Where the outage's cost lands.** The sink queues filled to their byte limit "
            f"({_mib(queue_hw)} of {_mib(s.sink_queue_max_bytes)} MiB) and from then on each new "
            "batch was dropped and counted (`breaker_open` while the breaker was open, "
            "`retries_exhausted` for the batch of each failed probe once the retry budget said "
            f"no). The buffer never held more than {buffer_hw / KiB:.0f} KiB: the batcher keeps "
            "moving events to the sink queue, so the buffer limit is not what bounds an outage."
        ),
        (
            f"* **Recovery is not free.** The first request after recovery succeeded only when "
            f"the breaker's open period ended ({first:.2f} s at worst); until then the full "
            f"queue kept dropping new events: {lost_after:,} events logged after the endpoint "
            f"had recovered were lost ({_reasons(recovery['dropped'])}). The queue keeps the "
            "oldest events (`sink_queue_overflow='drop_newest'`); `drop_oldest` would keep the "
            "freshest instead."
        ),
        (
            "* **The drain is a burst, one request at a time.** Each worker's backlog "
            f"(about {batches} batches, one request each) went out back to back within "
            f"{drained:.2f} s of recovery: {figures['recovery_peak_rate']} requests in the "
            f"busiest second against {healthy:.1f}/s when healthy ({burst:.1f}x), never more "
            "than one in flight per worker. Queued batches are not merged into larger requests."
        ),
        (
            f"* **Retries stayed within the budget.** {retries} retries for {requests} requests "
            f"({100 * retries / max(1, requests):.1f}%) over the whole run."
        ),
        "",
    ]


def chart(raw: dict[str, Any], figures: dict[str, Any], path: Path) -> None:
    """Request rate, memory and queues over time, phases shaded (matplotlib, imported here)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = Settings(**raw["settings"])
    ep = raw["endpoint"]
    fig, (ax_req, ax_mem, ax_rss, ax_q) = plt.subplots(
        4, 1, figsize=(11, 11), sharex=True, gridspec_kw={"height_ratios": [3, 3, 2, 2]}
    )
    seconds = sorted(int(k) for k in ep["series"] if int(k) >= 0)
    span = range((max(seconds) + 1) if seconds else 1)
    bottom = [0.0] * len(span)
    colors = {"ok": "tab:green", "503": "tab:red", "held": "tab:purple"}
    labels = {"ok": "200", "503": "503", "held": "black-holed (never answered)"}
    for outcome in OUTCOMES:
        values = [
            float(ep["series"].get(k, ep["series"].get(str(k), {})).get(outcome, 0)) for k in span
        ]
        ax_req.bar(
            [k + 0.5 for k in span],
            values,
            width=1.0,
            bottom=bottom,
            color=colors[outcome],
            label=labels[outcome],
            linewidth=0,
        )
        bottom = [b + v for b, v in zip(bottom, values, strict=True)]
    ax_req.set_yscale("symlog", linthresh=1.0)
    ax_req.set_ylabel("requests / s at the endpoint")
    ax_req.axhline(figures["healthy_rate"], color="grey", linestyle=":", linewidth=1)
    ax_req.axhline(
        figures["healthy_rate"] * s.max_outage_ratio,
        color="tab:red",
        linestyle=":",
        linewidth=1,
        label=f"{100 * s.max_outage_ratio:g}% of healthy",
    )
    ax_req.legend(loc="lower left", fontsize=8, ncols=2)
    for i, samples in enumerate(raw["samples"]):
        ax_mem.plot(
            [m["t"] for m in samples],
            [m["tm_current"] / MiB for m in samples],
            linewidth=0.8,
            label="tracemalloc current, per worker" if i == 0 else None,
            color="tab:blue",
            alpha=0.6,
        )
        ax_mem.plot(
            [m["t"] for m in samples],
            [m["tm_peak"] / MiB for m in samples],
            linewidth=0.5,
            label="tracemalloc peak per second" if i == 0 else None,
            color="tab:cyan",
            alpha=0.6,
        )
    budget = raw["budgets"][0]
    ax_mem.axhline(budget / MiB, color="black", linestyle="--", linewidth=1, label="memory_budget")
    ax_mem.axhline(
        (budget * (1 + s.memory_slack) + s.memory_allowance) / MiB,
        color="tab:red",
        linestyle="--",
        linewidth=1,
        label="checked limit",
    )
    ax_mem.set_ylabel("traced MiB per worker")
    ax_mem.set_ylim(bottom=0)
    ax_mem.legend(loc="center right", fontsize=8, ncols=2)
    for i, per in enumerate(raw["rss"]):
        ax_rss.plot(
            [r[0] for r in per],
            [r[1] / MiB for r in per],
            linewidth=0.8,
            color="tab:brown",
            alpha=0.6,
            label="VmRSS, per worker" if i == 0 else None,
        )
    ax_rss.set_ylabel("RSS MiB")
    ax_rss.legend(loc="center right", fontsize=8)
    times = sorted({round(m["t"]) for per in raw["samples"] for m in per})
    queued = []
    dropped = []
    for t in times:
        q = d = 0
        for per in raw["samples"]:
            m = _at(per, t + 0.5)
            if "queued" in m:
                q += m["queued"] + m["buffered"]
                d += sum(_dropped(m).values())
        queued.append(q)
        dropped.append(d)
    ax_q.plot(times, queued, color="tab:orange", label="events queued (sum)")
    ax_q.plot(times, dropped, color="tab:red", label="events dropped so far (sum)")
    ax_q.set_ylabel("events")
    ax_q.set_xlabel("seconds since the workers started logging")
    ax_q.legend(loc="upper left", fontsize=8)
    start = 0.0
    for name, mode, length in s.phases():
        for ax in (ax_req, ax_mem, ax_rss, ax_q):
            if mode != "healthy":
                ax.axvspan(
                    start,
                    start + length,
                    color="tab:red" if mode == "503" else "tab:purple",
                    alpha=0.08,
                )
        ax_req.text(
            start + length / 2,
            1.02,
            name,
            transform=ax_req.get_xaxis_transform(),
            ha="center",
            fontsize=9,
        )
        start += length
    fig.suptitle(
        f"nglogger outage replay: {s.workers} workers x {s.rate:g} events/s", y=0.995, fontsize=11
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ----------------------------------------------------------------------- CLI
def _size(text: str) -> int:
    from nglogger._units import parse_size

    try:
        return parse_size(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 4MiB, 262144)") from None


def build_parser() -> argparse.ArgumentParser:
    """The command line (every Settings field has an option)."""
    d = Settings()
    parser = argparse.ArgumentParser(
        prog="outage_replay.py",
        description="Replay a backend outage (healthy -> 503 -> black hole -> recovered) "
        "against N processes logging through nglogger, measure request rate, memory, drops "
        "and delivery, and check them. Exit status: 0 all checks passed, 1 a check failed, "
        "2 bad usage.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        allow_abbrev=False,
    )
    g = parser.add_argument_group("scenario")
    g.add_argument(
        "--quick",
        action="store_true",
        help="short phases and scaled-down time constants (~20 s); other options override it",
    )
    g.add_argument("--workers", type=int, default=d.workers, help="worker processes")
    g.add_argument("--rate", type=float, default=d.rate, help="events per second per worker")
    g.add_argument("--event-bytes", type=int, default=d.event_bytes, help="approximate event size")
    g.add_argument(
        "--phase-seconds",
        type=float,
        default=None,
        help="length of each of the 503, black-hole and recovery phases (each overridable)",
    )
    g.add_argument("--healthy", type=float, default=d.healthy, help="healthy phase, s")
    g.add_argument(
        "--http-503", type=float, default=None, help=f"503 phase, s (default {d.http_503:g})"
    )
    g.add_argument(
        "--black-hole",
        type=float,
        default=None,
        help=f"black-hole phase, s (default {d.black_hole:g})",
    )
    g.add_argument(
        "--recovery", type=float, default=None, help=f"recovery phase, s (default {d.recovery:g})"
    )
    g = parser.add_argument_group("nglogger pipeline (Config)")
    g.add_argument("--flush-interval", type=float, default=d.flush_interval)
    g.add_argument("--batch-max-events", type=int, default=d.batch_max_events)
    g.add_argument("--batch-max-bytes", type=_size, default=d.batch_max_bytes)
    g.add_argument("--buffer-max-events", type=int, default=d.buffer_max_events)
    g.add_argument("--buffer-max-bytes", type=_size, default=d.buffer_max_bytes)
    g.add_argument("--sink-queue-max-events", type=int, default=d.sink_queue_max_events)
    g.add_argument("--sink-queue-max-bytes", type=_size, default=d.sink_queue_max_bytes)
    g.add_argument("--shutdown-timeout", type=float, default=d.shutdown_timeout)
    g = parser.add_argument_group("HTTP sink (timeouts, RetryPolicy, CircuitBreaker)")
    g.add_argument("--timeout", type=float, default=d.timeout, help="read timeout, s")
    g.add_argument("--connect-timeout", type=float, default=d.connect_timeout)
    g.add_argument("--batch-deadline", type=float, default=d.batch_deadline)
    g.add_argument("--backoff-base", type=float, default=d.backoff_base)
    g.add_argument("--backoff-cap", type=float, default=d.backoff_cap)
    g.add_argument("--max-attempts", type=int, default=d.max_attempts)
    g.add_argument(
        "--breaker-failures",
        type=int,
        default=d.breaker_failures,
        help="consecutive failures that open the breaker",
    )
    g.add_argument(
        "--breaker-open", type=float, default=d.breaker_open, help="first open period, s"
    )
    g.add_argument(
        "--breaker-max-open",
        type=float,
        default=d.breaker_max_open,
        help="longest open period, s (<= backoff cap)",
    )
    g = parser.add_argument_group("checks")
    g.add_argument(
        "--memory-slack",
        type=float,
        default=d.memory_slack,
        help="peak may exceed memory_budget by this fraction",
    )
    g.add_argument(
        "--memory-allowance",
        type=_size,
        default=d.memory_allowance,
        help="plus this fixed amount (interpreter objects, threads, urllib3)",
    )
    g.add_argument(
        "--max-call-ms", type=float, default=d.max_call_ms, help="longest acceptable log call"
    )
    g.add_argument(
        "--max-outage-ratio",
        type=float,
        default=d.max_outage_ratio,
        help="outage request rate / healthy rate",
    )
    g = parser.add_argument_group("output")
    g.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="write outage.json, outage.md and outage.png into DIR",
    )
    g.add_argument(
        "--json", type=Path, metavar="FILE", help="write the raw results and figures to FILE"
    )
    g.add_argument("--no-chart", action="store_true", help="skip outage.png (no matplotlib needed)")
    g.add_argument("--quiet", action="store_true", help="print only the summary")
    return parser


def settings_from_args(args: argparse.Namespace, argv: Sequence[str]) -> Settings:
    """Settings from the parsed options: explicit options > ``--quick`` > defaults."""
    given = {a.split("=", 1)[0] for a in argv if a.startswith("--")}
    values: dict[str, Any] = {}
    if args.quick:
        values.update(QUICK)
    if args.phase_seconds is not None:
        values.update(
            http_503=args.phase_seconds, black_hole=args.phase_seconds, recovery=args.phase_seconds
        )
    for f in dataclasses.fields(Settings):
        option = "--" + f.name.replace("_", "-")
        value = getattr(args, f.name, None)
        if value is None:
            continue
        if option in given or f.name not in values:
            values[f.name] = value
    return Settings(**values)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the replay from the command line; the exit status says whether every check passed."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    s = settings_from_args(args, argv)
    problems = check_settings(s)
    if problems:
        for problem in problems:
            sys.stderr.write(f"outage_replay.py: {problem}\n")
        return 2
    echo = (lambda _text: None) if args.quiet else sys.stdout.write
    raw = run(s, echo)
    figures = analyse(raw)
    sys.stdout.write("\n" + summary_table(figures))
    command = ("python scripts/outage_replay.py " + shlex.join(argv)).strip()
    if args.json:
        full = {"command": command, "raw": raw, "figures": figures}
        args.json.write_text(json.dumps(full, indent=1, default=str))
    if args.report:
        args.report.mkdir(parents=True, exist_ok=True)
        report = {
            "command": command,
            "settings": raw["settings"],
            "figures": figures,
            "timeline": timeline(raw),
        }
        (args.report / "outage.json").write_text(
            json.dumps(report, separators=(",", ":"), default=str) + "\n"
        )
        drawn = False
        if not args.no_chart:
            chart(raw, figures, args.report / "outage.png")
            drawn = True
        (args.report / "outage.md").write_text(markdown(raw, figures, command, drawn))
        sys.stdout.write(
            f"report written to {args.report}/outage.{{md,json{',png' if drawn else ''}}}\n"
        )
    return 0 if figures["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
