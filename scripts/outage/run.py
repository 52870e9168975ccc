"""The parent: starts the endpoint and the workers, drives the phases, collects the samples."""

from __future__ import annotations

import dataclasses
import multiprocessing
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .endpoint import Endpoint
from .report import describe_provenance
from .settings import Settings
from .workers import Receiver, read_rss, worker_main


def run(s: Settings, echo: Any = sys.stdout.write) -> dict[str, Any]:
    """Run one replay and return its raw results (``analyse`` turns them into figures)."""
    provenance = describe_provenance()  # the library the workers are about to import
    ctx = multiprocessing.get_context("spawn")  # never fork a process running server threads
    endpoint = Endpoint(s.workers, s.body_limit)
    # one spool directory per run, shared: each worker process takes a slot of the sink's spool
    spool_dir = tempfile.mkdtemp(prefix="nglogger-outage-spool-") if s.spool else None
    go, stop = ctx.Event(), ctx.Event()
    procs = []
    conns = []
    for index in range(s.workers):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(
            target=worker_main,
            kwargs={
                "index": index,
                "spec": dataclasses.asdict(s),
                "url": endpoint.url,
                "conn": send,
                "go": go,
                "stop": stop,
                "spool_dir": spool_dir,
            },
            name=f"replay-worker-{index}",
            daemon=True,
        )
        proc.start()
        send.close()
        procs.append(proc)
        conns.append(receive)
    receiver = Receiver(conns)
    receiver.start()
    rss: list[list[tuple[float, int, int]]] = [[] for _ in procs]
    crashed: dict[int, int | None] = {}
    transitions: list[tuple[str, float]] = []
    t0 = time.monotonic()
    try:
        if not receiver.wait_for("ready", s.workers, 120.0, procs):
            raise RuntimeError(f"only {len(receiver.ready)} of {s.workers} workers started")
        rss_start = [read_rss(p.pid or 0)[0] for p in procs]
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
                        rss[i].append((now - t0, *read_rss(proc.pid or 0)))
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
        spool = _spool_left(spool_dir) if spool_dir is not None else None
        if spool_dir is not None:
            shutil.rmtree(spool_dir, ignore_errors=True)
    return {
        "settings": dataclasses.asdict(s),
        "provenance": provenance,
        "url": endpoint.url,
        "transitions": transitions,
        "stopped": stopped,
        "ended": time.monotonic() - t0,
        "exitcodes": [p.exitcode for p in procs],
        "finished_at": time.strftime("%Y-%m-%d %H:%M %Z"),
        "spool": spool,
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
                    "too_large": v.too_large,
                    "first_after_recovery": v.first_after_recovery,
                    "backlog_drained": v.backlog_drained,
                    "max_lag": v.max_lag,
                    "last_before_recovery": v.last_before,
                    "received_after_recovery": v.received_after(),
                    "missing": v.missing((receiver.final.get(i) or {}).get("logged", 0)),
                }
                for i, v in enumerate(endpoint.workers)
            ],
        },
    }


def _spool_left(spool_dir: str) -> dict[str, Any]:
    """What the run's spool directory holds once every worker has shut down: one slot per
    process that took one, and the files left in them (names and bytes)."""
    root = Path(spool_dir)
    slots = sorted(p.name for p in root.iterdir() if p.is_dir())
    files = sorted(f for f in root.rglob("*") if f.is_file())
    return {
        "slots": slots,
        "files": len(files),
        "names": sorted({f.name for f in files}),
        "bytes": sum(f.stat().st_size for f in files),
    }
