"""On a terminal, log lines and the program's own ``print()`` lines appear in call order.

A stream sink whose stream is a terminal is written on the caller's thread (``console_sync``,
auto: a terminal only), never waiting long and never for its own thread: a signal handler or a
finalizer that logs while its thread is writing, and a terminal that stops draining, send the
event down the queued path, in order, counted once. Each case runs a real Python process on a
real pseudo-terminal (``os.openpty()``) and reads what the terminal got.
"""

from __future__ import annotations

import errno
import io
import json
import os
import select
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

import nglogger
from nglogger.sinks import MemorySink, StreamSink

TIMEOUT = 60.0


def clean_env(**extra: str) -> dict[str, str]:
    names = ("NGLOGGER_", "OTEL_", "NO_COLOR", "FORCE_COLOR", "PYTHONUNBUFFERED")
    env = {k: v for k, v in os.environ.items() if not k.startswith(names)}
    return {**env, "NO_COLOR": "1", **extra}


class Terminal:
    """A child process whose stdout is a fresh pseudo-terminal; stderr is a pipe."""

    def __init__(self, *parts: str, **env: str) -> None:
        script = "".join(textwrap.dedent(part) for part in parts)
        self.master, slave = os.openpty()
        try:
            self.child = subprocess.Popen(
                [sys.executable, "-c", script],
                stdin=subprocess.DEVNULL,
                stdout=slave,
                stderr=subprocess.PIPE,
                env=clean_env(**env),
            )
        finally:
            os.close(slave)
        self.out = bytearray()

    def read_all(self, timeout: float = TIMEOUT) -> str:
        """Everything the terminal gets until the child closes it (killed past ``timeout``)."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.child.kill()
                    pytest.fail(f"the child did not finish within {timeout} s: {self.out[-500:]!r}")
                ready, _, _ = select.select([self.master], [], [], left)
                if not ready:
                    continue
                try:
                    chunk = os.read(self.master, 65536)
                except OSError as exc:  # EIO: the child closed its end of the terminal
                    if exc.errno != errno.EIO:
                        raise
                    break
                if not chunk:
                    break
                self.out += chunk
        finally:
            os.close(self.master)
        stderr = self.child.communicate(timeout=TIMEOUT)[1].decode()
        assert 0 == self.child.returncode, stderr
        self.stderr = stderr
        return self.out.decode().replace("\r\n", "\n")


def lines_of(text: str) -> list[str]:
    """The terminal's lines, log lines reduced to their message and fields (no time, level)."""
    out = []
    for line in text.splitlines():
        head, _, rest = line.partition(" ")
        if len(head) == 12 and head[2] == ":" and head[8] == ".":  # HH:MM:SS.mmm
            out.append(rest.split("] ", 1)[1] if "] " in rest else rest)
        else:
            out.append(line)
    return out


def console_stats(stderr: str) -> dict[str, object]:
    """The child's last stderr line: its console sink's stats, as JSON."""
    return dict(json.loads(stderr.strip().splitlines()[-1]))


STATS = """
    import dataclasses, json
    nglogger.flush(10)
    print(json.dumps(dataclasses.asdict(nglogger.stats().sinks["stdout"])), file=sys.stderr)
"""


def test_print_and_log_lines_appear_in_call_order() -> None:
    """print(), nglogger and stdlib logging (install()) lines reach the terminal in call order."""
    term = Terminal(
        """
        import logging, sys
        import nglogger
        nglogger.install()
        log = nglogger.get_logger("app")
        std = logging.getLogger("std")
        for i in range(300):
            print(f"print {i}")
            log.info("native", i=i)
            std.warning("stdlib %d", i)
        assert nglogger.get_pipeline().direct is None  # the log call goes through emit
        """,
        STATS,
    )
    got = lines_of(term.read_all())
    expected = []
    for i in range(300):
        expected += [f"print {i}", f"native i={i}", f"stdlib {i}"]
    assert expected == got
    stats = console_stats(term.stderr)
    assert (600, 600, {}) == (stats["accepted"], stats["exported"], stats["dropped"])


def test_each_thread_keeps_its_order() -> None:
    """Four threads writing to stdout and logging: each thread's lines in its order, once each.

    ~17 KB in all: well within what a pseudo-terminal holds unread (64 KiB on Linux), so no
    write is cut even if this test's reader lags on a busy machine (a cut line is finished
    by the sink's thread, and a print() may land between its two parts).
    """
    term = Terminal(
        """
        import sys, threading
        import nglogger
        log = nglogger.get_logger("app")
        def run(t):
            for i in range(60):
                # print() writes the text and its newline in two calls: two threads printing
                # can merge their lines in sys.stdout's buffer by themselves. One call each:
                sys.stdout.write(f"t{t} print {i}\\n")
                log.info(f"t{t} log {i}")
        threads = [threading.Thread(target=run, args=(t,)) for t in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        """,
        STATS,
    )
    got = lines_of(term.read_all())
    assert 480 == len(got)
    for t in range(4):
        mine = [line for line in got if line.startswith(f"t{t} ")]
        expected = []
        for i in range(60):
            expected += [f"t{t} print {i}", f"t{t} log {i}"]
        assert expected == mine
    stats = console_stats(term.stderr)
    assert (240, 240, {}) == (stats["accepted"], stats["exported"], stats["dropped"])


def test_a_signal_handler_or_finalizer_logging_mid_write_takes_the_queued_path() -> None:
    """Re-entry while the console is being written: no deadlock, every event once, in order.

    The child's writer raises a signal or drops an object whose ``__del__`` logs (in turn)
    while it holds the console's lock: the nested call must not wait for its own thread; its
    event is queued. The next log call writes it first, so it lands before that call's line
    (a ``print()`` in between may come before it: the queued event is late, not lost).
    """
    term = Terminal(
        """
        import os, signal, sys
        import nglogger
        from nglogger.sinks import _sync
        log = nglogger.get_logger("app")
        state = {"n": 0, "of": None}
        def on_signal(signum, frame):
            log.info("from the signal handler", of=state["of"])
        signal.signal(signal.SIGUSR1, on_signal)
        class Dies:
            def __del__(self):
                log.info("from a finalizer", of=state["of"])
        real = _sync.SyncWriter.write
        def write(self, data, deadline):
            assert self.lock._is_owned()
            if b"main" in data:
                state["n"] += 1
                state["of"] = int(data.split(b"i=")[1].split()[0])
                if state["n"] % 2:
                    os.kill(os.getpid(), signal.SIGUSR1)  # runs at the next bytecode, lock held
                else:
                    Dies()  # collected at once, lock held
            return real(self, data, deadline)
        _sync.SyncWriter.write = write
        for i in range(200):
            log.info("main", i=i)
            print(f"print {i}")
        print(state["n"], file=sys.stderr)
        """,
        STATS,
    )
    got = lines_of(term.read_all())
    triggers = int(term.stderr.strip().splitlines()[0])
    assert triggers >= 100  # re-entered at (nearly) every line, both ways
    nested = [line for line in got if line.startswith("from ")]
    assert triggers == len(nested)
    assert {"from the signal handler", "from a finalizer"} == {n.split(" of=")[0] for n in nested}
    mains = [got.index(f"main i={i}") for i in range(200)]
    assert sorted(mains) == mains
    for i, start in enumerate(mains):  # between main i and main i+1: its print and its nested
        stop = mains[i + 1] if i + 1 < len(mains) else len(got)
        expected = [f"print {i}", *(n for n in nested if n.endswith(f" of={i}"))]
        assert sorted(expected) == sorted(got[start + 1 : stop]), (i, got[start:stop])
    stats = console_stats(term.stderr)
    total = 200 + triggers
    assert (total, total, {}) == (stats["accepted"], stats["exported"], stats["dropped"])


def test_a_terminal_that_does_not_drain_does_not_block_log_calls() -> None:
    """Nobody reads the terminal: log calls still return at once; later, every line, in order.

    Once the reader is back and the queue written, calls write the terminal themselves
    again, in order with print().
    """
    term = Terminal(
        """
        import sys, time
        import nglogger
        log = nglogger.get_logger("app")
        slowest = 0.0
        start = time.monotonic()
        for i in range(3000):
            t = time.monotonic()
            log.info("line", i=i, pad="x" * 150)
            slowest = max(slowest, time.monotonic() - t)
        print(f"logged {time.monotonic() - start:.3f} {slowest:.3f}", file=sys.stderr, flush=True)
        console = nglogger.get_pipeline()._consoles[0]
        while console.pending or console.worker.busy():  # the reader came back: caught up
            time.sleep(0.01)
        for i in range(50):  # written by the calls again, in order with print()
            print(f"print {i}")
            log.info("after", i=i)
        """,
        STATS,
        NGLOGGER_SINK_QUEUE_EVENTS="100000",
    )
    # Read the child's stderr before reading the terminal at all: the terminal is full by then.
    assert term.child.stderr is not None
    ready, _, _ = select.select([term.child.stderr], [], [], TIMEOUT)
    assert ready, "the log calls blocked on a terminal nobody reads"
    first = term.child.stderr.readline().decode().split()
    assert "logged" == first[0]
    total, slowest = float(first[1]), float(first[2])
    assert slowest < 1.0, first  # one call waited at most its bound; the rest were queued
    assert total < 20.0, first
    got = lines_of(term.read_all())
    expected = [f"line i={i} pad={'x' * 150}" for i in range(3000)]
    for i in range(50):
        expected += [f"print {i}", f"after i={i}"]
    assert expected == got
    stats = console_stats(term.stderr)
    assert (3050, 3050, {}) == (stats["accepted"], stats["exported"], stats["dropped"])


def test_console_sync_off_keeps_the_background_path_on_a_terminal() -> None:
    """NGLOGGER_CONSOLE_SYNC=false: the log call keeps its fast path, the worker writes."""
    term = Terminal(
        """
        import sys
        import nglogger
        nglogger.configure()
        nglogger.get_logger("app").info("hello")
        print("direct" if nglogger.get_pipeline().direct is not None else "emit", file=sys.stderr)
        """,
        NGLOGGER_CONSOLE_SYNC="false",
    )
    assert ["hello"] == lines_of(term.read_all())
    assert "direct" == term.stderr.strip()


def run_on_pipe(script: str, **env: str) -> subprocess.CompletedProcess[bytes]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=clean_env(**env),
        timeout=TIMEOUT,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    return done


PIPE_SCRIPT = """
    import sys
    import nglogger
    nglogger.configure()
    log = nglogger.get_logger("app")
    for i in range(100):
        print(f"print {i}")
        log.info("log", i=i)
    print("direct" if nglogger.get_pipeline().direct is not None else "emit", file=sys.stderr)
"""


def test_a_pipe_keeps_the_background_path_unless_forced() -> None:
    """On a pipe (auto) the worker writes NDJSON; NGLOGGER_CONSOLE_SYNC=true orders it too."""
    auto = run_on_pipe(PIPE_SCRIPT, PYTHONUNBUFFERED="1")
    assert "direct" == auto.stderr.decode().strip()
    events = [line for line in auto.stdout.splitlines() if line.startswith(b"{")]
    assert list(range(100)) == [orjson.loads(line)["i"] for line in events]

    forced = run_on_pipe(PIPE_SCRIPT, PYTHONUNBUFFERED="1", NGLOGGER_CONSOLE_SYNC="true")
    assert "emit" == forced.stderr.decode().strip()
    expected = []
    for i in range(100):
        expected += [f"print {i}", f"log {i}"]
    got = [
        f"log {orjson.loads(line)['i']}" if line.startswith(b"{") else line.decode()
        for line in forced.stdout.splitlines()
    ]
    assert expected == got


def test_a_sync_file_stream_writes_once_and_the_other_sinks_get_every_event(
    tmp_path: Path,
) -> None:
    """sync=True on a file stream: each event written once by its call; a memory sink gets all."""
    path = tmp_path / "out.log"
    with path.open("w") as stream:
        console = StreamSink(stream, format="json", sync=True, name="console")
        memory = MemorySink()
        pipeline = nglogger.configure(sinks=[console, memory])
        assert pipeline.direct is None
        log = nglogger.get_logger("app")
        for i in range(50):
            log.info("m", i=i)
            assert i + 1 == len(path.read_bytes().splitlines())  # written by the call itself
        assert nglogger.flush(10)
        stats = nglogger.stats()
        nglogger.shutdown(10)
    assert list(range(50)) == [orjson.loads(line)["i"] for line in path.read_bytes().splitlines()]
    assert list(range(50)) == [event["i"] for event in memory.events()]
    assert (50, 50, {}) == (
        stats.sinks["console"].accepted,
        stats.sinks["console"].exported,
        stats.sinks["console"].dropped,
    )
    assert 50 == stats.sinks[memory.name].exported


def test_a_sync_stream_applies_its_level(tmp_path: Path) -> None:
    """A sync stream's level still selects: lower events are counted filtered, not written."""
    path = tmp_path / "out.log"
    with path.open("w") as stream:
        nglogger.configure(
            sinks=[StreamSink(stream, format="json", sync=True, name="c", level="warning")]
        )
        log = nglogger.get_logger("app")
        log.info("low")
        log.warning("high")
        assert nglogger.flush(10)
        stats = nglogger.stats().sinks["c"]
        nglogger.shutdown(10)
    assert ["high"] == [orjson.loads(line)["message"] for line in path.read_bytes().splitlines()]
    assert (1, 1, 1) == (stats.accepted, stats.exported, stats.filtered)


def test_without_a_sync_console_the_log_call_keeps_its_fast_path() -> None:
    """A stream that is not a terminal (auto), or sync=False: ``direct`` is set, no console."""
    stream = io.StringIO()
    pipeline = nglogger.configure(sinks=[StreamSink(stream, format="json")])
    assert pipeline.direct is not None
    assert () == pipeline._consoles
    nglogger.get_logger("app").info("m")
    assert nglogger.flush(10)
    assert ["m"] == [orjson.loads(line)["message"] for line in stream.getvalue().splitlines()]
