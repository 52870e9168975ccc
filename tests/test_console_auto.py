"""format="auto", the default of stdout/stderr: console text on a terminal, NDJSON on a pipe.

Each case runs a real Python process whose stdout is either a pseudo-terminal
(``os.openpty()``) or a pipe, and reads what it wrote. Files and HTTP sinks have no
format: they always get NDJSON.
"""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

SCRIPT_ZERO_CONFIG = """
import nglogger
nglogger.get_logger("app").info("hello", n=1)
nglogger.shutdown(5)
"""

SCRIPT_FROM_ENV = """
import nglogger
nglogger.configure()  # the environment: NGLOGGER_FORMAT, NO_COLOR, FORCE_COLOR
nglogger.get_logger("app").warning("hello", n=1)
nglogger.shutdown(5)
"""


def clean_env(**extra: str) -> dict[str, str]:
    names = ("NGLOGGER_", "OTEL_", "NO_COLOR", "FORCE_COLOR")
    env = {k: v for k, v in os.environ.items() if not k.startswith(names)}
    return {**env, **extra}


def run_on_tty(script: str, **env: str) -> bytes:
    """Run ``script`` with stdout on a fresh pseudo-terminal; return what the terminal got."""
    master, slave = os.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, "-c", script],
            stdin=subprocess.DEVNULL,
            stdout=slave,
            stderr=subprocess.PIPE,
            env=clean_env(**env),
        )
    finally:
        os.close(slave)
    out = bytearray()
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError as exc:  # EIO: the child closed its end of the terminal
                if exc.errno != errno.EIO:
                    raise
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(master)
        _, stderr = child.communicate(timeout=60)
    assert 0 == child.returncode, stderr
    return bytes(out)


def run_on_pipe(script: str, **env: str) -> bytes:
    """Run ``script`` with stdout on a pipe; return its stdout."""
    done = subprocess.run(
        [sys.executable, "-c", script],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        env=clean_env(**env),
        timeout=60,
        check=False,
    )
    assert 0 == done.returncode, done.stderr
    return done.stdout


def test_zero_config_on_a_terminal_is_coloured_console_text() -> None:
    """No configuration, stdout a terminal: one coloured console line, no JSON."""
    text = run_on_tty(SCRIPT_ZERO_CONFIG).decode()
    [line] = text.splitlines()  # the terminal turns LF into CRLF; splitlines takes both
    assert "\x1b[32mINFO\x1b[0m" in line  # the level in green
    assert "hello" in line
    assert "\x1b[36mn\x1b[0m=1" in line  # the key in cyan
    assert "{" not in line


def test_zero_config_on_a_pipe_is_ndjson() -> None:
    """No configuration, stdout a pipe: NDJSON, exactly the default event."""
    [line] = run_on_pipe(SCRIPT_ZERO_CONFIG).splitlines()
    event = orjson.loads(line)
    assert ["timestamp", "level", "logger", "message", "n"] == list(event)
    assert ("info", "app", "hello", 1) == (
        event["level"],
        event["logger"],
        event["message"],
        event["n"],
    )


def test_no_color_on_a_terminal_is_plain_console_text() -> None:
    """NO_COLOR (read by configure()): console text on the terminal, no escape codes."""
    text = run_on_tty(SCRIPT_FROM_ENV, NO_COLOR="1").decode()
    [line] = text.splitlines()
    assert "\x1b" not in line
    assert "WARNING  [app] hello n=1" == line.split(" ", 1)[1]


def test_no_color_holds_without_any_configuration() -> None:
    """NO_COLOR with nothing configured: the terminal still gets console text, uncoloured."""
    text = run_on_tty(SCRIPT_ZERO_CONFIG, NO_COLOR="1").decode()
    [line] = text.splitlines()
    assert "\x1b" not in line
    assert "INFO     [app] hello n=1" == line.split(" ", 1)[1]


def test_force_color_on_a_pipe_stays_json() -> None:
    """FORCE_COLOR colours console text; it does not turn a pipe's NDJSON into console."""
    [line] = run_on_pipe(SCRIPT_FROM_ENV, FORCE_COLOR="1").splitlines()
    assert "hello" == orjson.loads(line)["message"]


def test_forced_console_on_a_pipe_follows_force_color() -> None:
    """NGLOGGER_FORMAT=console on a pipe: console text, coloured only with FORCE_COLOR."""
    plain = run_on_pipe(SCRIPT_FROM_ENV, NGLOGGER_FORMAT="console").decode()
    coloured = run_on_pipe(SCRIPT_FROM_ENV, NGLOGGER_FORMAT="console", FORCE_COLOR="1").decode()
    assert "\x1b" not in plain
    assert "WARNING  [app] hello n=1" in plain
    assert "\x1b[33mWARNING\x1b[0m" in coloured


def test_json_format_on_a_terminal_stays_json() -> None:
    """NGLOGGER_FORMAT=json on a terminal: NDJSON even there."""
    [line] = run_on_tty(SCRIPT_FROM_ENV, NGLOGGER_FORMAT="json").splitlines()
    assert "hello" == orjson.loads(line)["message"]


@pytest.mark.parametrize("uri_of", ["file"])
def test_files_get_json_even_from_a_terminal(tmp_path: Path, uri_of: str) -> None:
    """A file sink is NDJSON whatever stdout is (format applies to stdout/stderr only)."""
    out = tmp_path / "app.ndjson"
    text = run_on_tty(SCRIPT_FROM_ENV, NGLOGGER_SINKS=f"{uri_of}://{out},stdout").decode()
    assert "WARNING" in text
    assert "{" not in text
    [line] = out.read_bytes().splitlines()
    assert "hello" == orjson.loads(line)["message"]  # the file: JSON
