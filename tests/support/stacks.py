"""Run a child that could hang; when it does, every process of it dumps its stacks.

The child runs with ``python -X faulthandler`` in a process group of its own. On
timeout the whole group gets SIGABRT: faulthandler in each process (the child, and
the writers it forked or spawned with ``-X faulthandler``) prints every thread's
stack before dying, and the test fails with those stacks in its message.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

#: Variables a child must not inherit from the developer's shell or CI.
_INHERITED = ("NGLOGGER_", "OTEL_", "DD_", "HONEYCOMB_", "LOKI_")


class Hung(AssertionError):
    """The child did not finish in time; the message holds the stacks of its processes."""


def child_env(extra: Mapping[str, str] = {}) -> dict[str, str]:
    """``os.environ`` without nglogger's and exporters' variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED)}
    return {**env, **extra}


def run_dumping(
    args: Sequence[str],
    *,
    timeout: float,
    code: str | None = None,
    env: Mapping[str, str] = {},
    cwd: Path | None = None,
    stdout: int | None = subprocess.PIPE,
) -> subprocess.CompletedProcess[str]:
    """``python -X faulthandler [-c code] args``; raise :class:`Hung` with stacks on timeout."""
    argv = [sys.executable, "-X", "faulthandler"]
    argv += ["-c", code] if code is not None else []
    argv += list(args)
    proc = subprocess.Popen(
        argv,
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        text=True,
        env=child_env(env),
        cwd=cwd,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGABRT)  # every process of the group dumps its stacks
        try:
            out, err = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
        raise Hung(f"no exit within {timeout:g} s; stacks:\n{(err or '')[-12000:]}") from None
    return subprocess.CompletedProcess(argv, proc.returncode, out or "", err or "")
