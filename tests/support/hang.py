"""Run code that could hang in a fresh interpreter, with stacks dumped when it does.

A hang is a failure, not a stuck test run: the child arms ``faulthandler`` to dump
every thread's stack and exit (status 1) after ``hang_after`` seconds, and the parent
kills it a little later should even that not happen. The test then fails with the
stacks in its message.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from .proc import clean_env

#: Prepended to the child's code: the stacks of every thread, then exit 1, on a hang.
_ARM = "import faulthandler as _fh; _fh.dump_traceback_later({after}, exit=True)\n"


class Hung(AssertionError):
    """The child did not finish in time; the message holds its threads' stacks."""


def run_guarded(
    code: str,
    *,
    hang_after: float = 30.0,
    args: Sequence[str] = (),
    env: Mapping[str, str] = {},
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run ``code``; raise :class:`Hung` with the child's stacks if it hangs."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", _ARM.format(after=hang_after) + code, *args],
            capture_output=True,
            text=True,
            env=clean_env(env),
            cwd=cwd,
            timeout=hang_after + 15,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise Hung(f"no exit {hang_after + 15:g} s after start (killed)\n{exc.stderr}") from None
    if "Timeout (" in done.stderr and "most recent call first" in done.stderr:
        raise Hung(f"hung for {hang_after:g} s; stacks:\n{done.stderr[-6000:]}")
    return done
