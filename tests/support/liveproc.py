"""A child process whose stdout and stderr are read line by line while it runs.

``LiveProcess`` starts a command (stdin, stdout and stderr piped, text mode); one thread
per output stream moves lines into a list as they arrive, so a test can wait for a
line on stderr *before* the process exits (:meth:`wait_line`), then let it go
(:meth:`send`) and collect the exit status (:meth:`finish`). Every wait has a deadline;
leaving the ``with`` block kills the process if it is still running.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import IO

__all__ = ["LiveProcess"]


class LiveProcess:
    """A running child; ``lines["stdout"]`` and ``lines["stderr"]`` fill as it writes."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            list(args),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=dict(env),
            cwd=cwd,
        )
        self.lines: dict[str, list[tuple[float, str]]] = {"stdout": [], "stderr": []}
        self._cond = threading.Condition()
        self._readers = [
            threading.Thread(target=self._pump, args=(name, stream), daemon=True)
            for name, stream in (("stdout", self.process.stdout), ("stderr", self.process.stderr))
        ]
        for reader in self._readers:
            reader.start()

    def _pump(self, name: str, stream: IO[str] | None) -> None:
        assert stream is not None
        for line in stream:
            with self._cond:
                self.lines[name].append((time.monotonic(), line.rstrip("\n")))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def wait_line(
        self, stream: str, predicate: Callable[[str], bool], timeout: float
    ) -> tuple[float, str] | None:
        """The first line of ``stream`` matching ``predicate`` (and when it arrived), or None."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for at, line in self.lines[stream]:
                    if predicate(line):
                        return at, line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return None
                self._cond.wait(min(remaining, 0.1))

    def text(self, stream: str) -> str:
        with self._cond:
            return "\n".join(line for _, line in self.lines[stream])

    def running(self) -> bool:
        return self.process.poll() is None

    def send(self, line: str) -> None:
        """Write a line to the child's stdin (an exited child is a failure, with its stderr)."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            self.process.wait(timeout=30)
            self._close_pipes()
            raise AssertionError(
                f"the child exited ({self.process.returncode}) before reading its stdin:\n"
                + self.text("stderr")[-4000:]
            ) from None

    def finish(self, timeout: float) -> int:
        """Close stdin, wait for the exit (killed after ``timeout``), join the readers."""
        assert self.process.stdin is not None
        try:
            self.process.stdin.close()
        except OSError:
            pass
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)
            raise
        self._close_pipes()
        return code

    def _close_pipes(self) -> None:
        for reader in self._readers:
            reader.join(timeout=10)
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except OSError:
                    pass

    def __enter__(self) -> LiveProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)
        self._close_pipes()
