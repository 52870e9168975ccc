"""Several processes writing one rotated file: the writers, and the count of what is on disk.

Run as a script (``python -X faulthandler tests/support/sharedfile.py SPEC_JSON``) it
is the *runner*: for each of ``runs`` runs it starts ``procs`` writers on a fresh
directory, lets them all start at once (each has configured its pipeline and waits on
a pipe), waits for them, and prints one JSON line per run: what every writer's
pipeline counted (accepted, exported, dropped) and what the files hold.

Writers are started three ways (``start``):

* ``"fork"``: forked from the runner, each configures its own pipeline (as separately
  started workers do: their own descriptors);
* ``"inherit"``: the runner configures the pipeline and writes first (the file is
  open), then forks; the children log through the inherited pipeline and descriptor
  (``after_fork``), as preloaded gunicorn workers do;
* ``"spawn"``: fresh interpreters (``python sharedfile.py writer ...``).

``clock="hourly"`` runs hourly rotation on a fast clock shared by every process: the
real clock, sped up ``speed`` times from a common origin (so all processes agree on
the time, as on a real host), injected through ``FileSink(now=...)``.

Each event is ``{"w": writer, "i": n}`` plus padding; :func:`count_events` reads the
path and every rotated file beside it (numbered or dated, gzip too) and reports
events missing, duplicated and torn lines.
"""

from __future__ import annotations

import faulthandler
import gzip
import json
import os
import re
import select
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: Seconds after which a stuck runner or writer dumps every thread's stack and exits.
DUMP_AFTER = 50.0
#: Padding: an event is about 130 bytes.
PAD = "x" * 40
#: Events the runner logs before forking in the ``inherit`` start (the file is then open).
BEFORE_FORK = 50


# ---------------------------------------------------------------------------- counting
def rotated_files(path: Path) -> list[Path]:
    """The path and every file rotated from it (``path.N``, ``path.<stamp>[.N][.gz]``)."""
    pattern = re.compile(re.escape(path.name) + r"(\.[0-9][0-9_-]*)*(\.gz)?")
    return sorted(
        entry
        for entry in path.parent.iterdir()
        if entry.is_file() and pattern.fullmatch(entry.name) is not None
    )


def count_events(path: Path, writers: int, events: int) -> dict[str, Any]:
    """Every event of ``writers`` x ``events`` counted across the files: lost, duplicated, torn."""
    seen: Counter[tuple[int, int]] = Counter()
    torn = 0
    files = rotated_files(path)
    for file in files:
        data = file.read_bytes()
        if file.name.endswith(".gz"):
            data = gzip.decompress(data)
        if data and not data.endswith(b"\n"):
            torn += 1
        for line in data.splitlines():
            try:
                event = json.loads(line)
                seen[(event["w"], event["i"])] += 1
            except (ValueError, KeyError, TypeError):
                torn += 1
    expected = {(w, i) for w in range(writers) for i in range(events)}
    return {
        "files": len(files),
        "names": [f.name for f in files],
        "present": sum(seen.values()),
        "lost": len(expected - set(seen)),
        "duplicated": sum(n - 1 for n in seen.values() if n > 1),
        "foreign": len(set(seen) - expected),
        "torn": torn,
    }


# ---------------------------------------------------------------------------- writers
def fast_clock(origin: float, speed: float) -> Callable[[], float]:
    """The wall clock sped up ``speed`` times from ``origin`` (the same in every process)."""

    def now() -> float:
        return origin + (time.time() - origin) * speed

    return now


def build_sink(spec: dict[str, Any], path: Path) -> Any:
    """The sink a writer logs to: ``file://path?<query>``, or a FileSink on the fast clock."""
    if spec.get("clock") == "hourly":
        from nglogger.sinks.file import FileSink

        return FileSink(
            path,
            rotate="hourly",
            utc=True,
            max_bytes=spec.get("max_bytes", 0),
            backups=spec.get("backups"),
            compress=spec.get("compress"),
            now=fast_clock(spec["origin"], spec["speed"]),
        )
    return f"file://{path}?{spec['query']}"


_pipeline: Any = None


def configure(spec: dict[str, Any], path: Path) -> None:
    """Configure this process's pipeline (kept for :func:`finish`; a forked child inherits it)."""
    global _pipeline
    import nglogger

    _pipeline = nglogger.configure(
        sinks=[build_sink(spec, path)],
        batch_max_events=spec.get("batch", 20),
        flush_interval=0.005,
        report_interval=0,
        shutdown_timeout=20.0,
    )


def log_events(spec: dict[str, Any], writer: int, events: int, first: int = 0) -> None:
    """Log events ``first..events-1``; on the fast clock, spread over ``spec["hours"]`` hours."""
    import nglogger

    log = nglogger.get_logger("w")
    now = fast_clock(spec["origin"], spec["speed"]) if spec.get("clock") == "hourly" else None
    step = spec.get("hours", 0) * 3600.0 / events
    start = now() - first * step if now is not None else 0.0
    for i in range(first, events):
        while now is not None and now() < start + i * step:  # event i is due at that time
            time.sleep(0.0002)
        log.info("e", w=writer, i=i, pad=PAD)


def sink_counts() -> dict[str, Any]:
    (stats,) = _pipeline.stats().sinks.values()
    return {"accepted": stats.accepted, "exported": stats.exported, "dropped": dict(stats.dropped)}


def finish(writer: int, result_fd: int) -> None:
    """Shut the pipeline down and report its counts on ``result_fd`` as one JSON line."""
    done = _pipeline.shutdown(20.0)
    line = json.dumps({"writer": writer, "shutdown": done, **sink_counts()}) + "\n"
    os.write(result_fd, line.encode())


def wait_go(go_fd: int) -> None:
    ready, _, _ = select.select([go_fd], [], [], DUMP_AFTER)
    assert ready, "no start signal"
    os.read(go_fd, 1)


def writer_main(spec: dict[str, Any], path: Path, writer: int, go_fd: int, result_fd: int) -> None:
    """One writer: its own pipeline, wait for the start, log, shut down, report."""
    configure(spec, path)
    os.write(result_fd, b"ready\n")
    wait_go(go_fd)
    log_events(spec, writer, spec["events"])
    finish(writer, result_fd)


# ---------------------------------------------------------------------------- the runner
def one_run(spec: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Start the writers, release them together, collect their counts and the files' count."""
    directory.mkdir()
    path = directory / "app.jsonl"
    procs = spec["procs"]
    start = spec["start"]
    go_read, go_write = os.pipe()
    res_read, res_write = os.pipe()
    children: list[int] = []
    popens: list[subprocess.Popen[bytes]] = []
    if start == "inherit":  # the runner is writer `procs`; the file is open before forking
        configure(spec, path)
        log_events(spec, procs, BEFORE_FORK)
        _pipeline.flush(10.0)
    for writer in range(procs):
        if start == "spawn":
            popens.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-X",
                        "faulthandler",
                        __file__,
                        "writer",
                        json.dumps(spec),
                        str(path),
                        str(writer),
                        str(go_read),
                        str(res_write),
                    ],
                    pass_fds=(go_read, res_write),
                )
            )
            continue
        pid = os.fork()
        if pid == 0:
            status = 1
            try:  # (no dump_traceback_later here: it waits for the runner's watchdog thread)
                os.close(go_write)
                os.close(res_read)
                if start == "inherit":
                    os.write(res_write, b"ready\n")
                    wait_go(go_read)
                    log_events(spec, writer, spec["events"])
                    finish(writer, res_write)
                else:
                    writer_main(spec, path, writer, go_read, res_write)
                status = 0
            finally:
                os._exit(status)
        children.append(pid)
    os.close(res_write)
    os.close(go_read)
    reader = os.fdopen(res_read, "rb")
    for _ in range(procs):
        assert reader.readline() == b"ready\n"
    os.write(go_write, b"g" * procs)  # all at once
    if start == "inherit":
        log_events(spec, procs, spec["events"], first=BEFORE_FORK)
    results = [json.loads(reader.readline()) for _ in range(procs)]
    codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
    codes += [p.wait() for p in popens]
    os.close(go_write)
    reader.close()
    writers = procs
    if start == "inherit":
        _pipeline.shutdown(20.0)
        results.append({"writer": procs, **sink_counts()})
        writers += 1
    report: dict[str, Any] = {"codes": codes, "writers": results}
    report.update(count_events(path, writers, spec["events"]))
    report["exported"] = sum(r["exported"] for r in results)
    report["dropped"] = sum(sum(r["dropped"].values()) for r in results)
    return report


def runner_main(spec: dict[str, Any]) -> None:
    faulthandler.dump_traceback_later(DUMP_AFTER * max(1, spec.get("runs", 1)), exit=True)
    import nglogger.sinks.file  # noqa: F401 - once, before forking: the writers start at once

    base = Path(spec["dir"])
    for run in range(spec.get("runs", 1)):
        report = one_run(spec, base / f"run{run}")
        print(json.dumps(report), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "writer":
        faulthandler.dump_traceback_later(DUMP_AFTER, exit=True)
        writer_main(
            json.loads(sys.argv[2]),
            Path(sys.argv[3]),
            int(sys.argv[4]),
            int(sys.argv[5]),
            int(sys.argv[6]),
        )
    else:
        runner_main(json.loads(sys.argv[1]))
