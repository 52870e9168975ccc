"""Standard output and standard error: NDJSON, or console text for humans.

``format="auto"`` (the default, as in structlog and loguru) renders console text
when the stream is a terminal and writes NDJSON otherwise (a pipe, a file, a log
collector), decided at every write; ``"json"`` and ``"console"`` force one.
Colours follow ``colors`` (``None``: on a terminal; ``Config.colors`` reads
``NO_COLOR``/``FORCE_COLOR``).

The stream is looked up at every write (``sys.stdout`` may be replaced, for
instance by pytest). Writes go straight to the file descriptor with
``os.write`` when there is one, so no Python-level io lock is held that a
forked child could inherit; otherwise to the text stream. Console rendering
happens here, on the sink's worker thread, never on the caller's.
Worst-case footprint: the rendered text of one batch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import IO, Literal

from .._core.batch import Batch
from .._core.levels import optional_level
from .._core.sink import sink_filter
from .._event.layout import SCHEMAS
from ._base import Outcome

__all__ = ["StreamSink"]


class StreamSink:
    """Writes batches to stdout/stderr (by name) or to any text stream."""

    #: Writes after the exit shutdown go straight to the stream (see ``WritesLate``).
    writes_late = True
    #: A local write: a spool on disk would not outlast what makes it fail (no spool slot).
    spooled = False

    def __init__(
        self,
        stream: Literal["stdout", "stderr"] | IO[str] = "stdout",
        *,
        format: Literal["json", "console", "auto"] = "auto",  # noqa: A002 - the setting's name
        colors: bool | None = None,
        name: str | None = None,
        level: int | str | None = None,
        filter: Callable[[bytes], object] | None = None,  # noqa: A002 - the option's name
        schema: str = "default",
    ) -> None:
        self.level = optional_level(level)
        self.filter = sink_filter(filter)
        if isinstance(stream, str) and stream not in ("stdout", "stderr"):
            raise ValueError(
                f"stream={stream!r} is invalid; accepted: 'stdout', 'stderr' or a stream"
            )
        if format not in ("json", "console", "auto"):
            raise ValueError(f"format={format!r} is invalid; accepted: json, console, auto")
        if schema not in SCHEMAS:
            raise ValueError(f"schema={schema!r} is invalid; accepted: {', '.join(SCHEMAS)}")
        self._schema = schema
        self._stream = stream
        self._format = format
        self._colors = colors
        self.name = name or (stream if isinstance(stream, str) else f"stream:{id(stream):x}")
        self.errors = 0
        self.last_error: str | None = None

    def _target(self) -> IO[str] | None:
        if self._stream == "stdout":
            return sys.stdout
        if self._stream == "stderr":
            return sys.stderr
        return self._stream

    def _console(self, stream: IO[str]) -> tuple[bool, bool]:
        """(render as console text?, with colours?) for this stream."""
        try:
            tty = bool(stream.isatty())
        except (AttributeError, ValueError, OSError):
            tty = False
        console = self._format == "console" or (self._format == "auto" and tty)
        colors = tty if self._colors is None else self._colors
        return console, console and colors

    def write(self, batch: Batch) -> Outcome | None:
        """Write one batch; a closed or broken stream drops it (``write_error``)."""
        stream = self._target()
        if stream is None:
            return Outcome(0, {"write_error": batch.count})
        data = batch.data
        if self._format != "json":
            console, colors = self._console(stream)
            if console:
                from ._console import render_batch, style_for_schema

                data = render_batch(data, style_for_schema(self._schema, colors=colors))
        try:
            fd = stream.fileno()
        except (AttributeError, ValueError, OSError):
            fd = -1
        try:
            if fd >= 0:
                view = memoryview(data)
                while view:
                    written = os.write(fd, view)
                    view = view[written:]
            else:
                stream.write(data.decode("utf-8", "replace"))
                stream.flush()
        except (OSError, ValueError) as exc:
            self.errors += 1
            self.last_error = f"{type(exc).__name__}: {exc}"[:300]
            return Outcome(0, {"write_error": batch.count})
        return None

    def close(self) -> None:
        """Nothing to release: the process owns stdout and stderr."""

    def __repr__(self) -> str:
        return f"StreamSink({self.name!r}, format={self._format!r})"
