"""Fresh interpreters for the tests: a clean environment and one way to run code in it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

#: Variables a test's child must not inherit from the developer's shell or CI.
INHERITED = ("NGLOGGER_", "OTEL_", "DD_")


def clean_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """``os.environ`` without nglogger's, OTel's and Datadog's variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(INHERITED)}
    return {**env, **extra}


def run_python(
    code: str, env: Mapping[str, str], cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter with ``clean_env(env)``; never raises on failure."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=clean_env(env),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server started from its command line)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command(name: str) -> list[str]:
    """How to run console script ``name`` of this interpreter (its script, else ``-m``)."""
    script = Path(sys.executable).parent / name
    if script.exists():
        return [str(script)]
    found = shutil.which(name)
    return [found] if found else [sys.executable, "-m", name]
