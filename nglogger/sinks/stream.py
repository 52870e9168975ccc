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
happens here, on the sink's worker thread, never on the caller's, unless the
stream is written on the caller's thread (``sync``: on a terminal by default, so
log lines and ``print()`` lines appear in the order they were written; see
``_sync`` and ``nglogger._pipeline.console``).
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
from ._sync import SyncWriter, Written, open_sync

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
        sync: bool | None = None,
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
        if sync not in (None, True, False):
            raise ValueError(
                f"sync={sync!r} is invalid; accepted: None (on a terminal), True, False"
            )
        #: Written on the caller's thread? None: when the stream is a terminal (``_sync``).
        self.sync = sync
        self._writer: SyncWriter | None = None
        self.name = name or (stream if isinstance(stream, str) else f"stream:{id(stream):x}")
        self.errors = 0
        self.last_error: str | None = None

    def target(self) -> IO[str] | None:
        """The stream written now (``sys.stdout``/``sys.stderr`` as they are at this moment)."""
        return self._target()

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

    def render(self, data: bytes, stream: IO[str]) -> bytes:
        """``data`` (NDJSON) as this sink writes it to ``stream``: console text or as is."""
        if self._format != "json":
            console, colors = self._console(stream)
            if console:
                from ._console import render_batch, style_for_schema

                return render_batch(data, style_for_schema(self._schema, colors=colors))
        return data

    def sync_writer(self) -> SyncWriter | None:
        """The writer for the caller's thread (``sync``), opened once; None: the worker writes."""
        if self._writer is None:
            stream = self._target()
            self._writer = None if stream is None else open_sync(stream, self.sync)
        return self._writer

    def write(self, batch: Batch) -> Outcome | None:
        """Write one batch; a closed or broken stream drops it (``write_error``).

        A :class:`Written` batch (the rest of an event a caller's deadline cut) is written
        as it is, to the stream that was current when it was cut.
        """
        stream = self._target()
        writer = self._writer
        if type(batch) is Written and writer is not None:
            stream = writer.stream
        if stream is None:
            return Outcome(0, {"write_error": batch.count})
        data = batch.data if type(batch) is Written else self.render(batch.data, stream)
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
        """Close the caller's-thread writer's descriptor; the process owns stdout and stderr."""
        writer = self._writer
        if writer is not None:
            writer.close()

    def __repr__(self) -> str:
        return f"StreamSink({self.name!r}, format={self._format!r})"
