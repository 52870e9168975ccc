"""Opening the file sink's path, and telling a regular file from a stream.

The path is opened with ``O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC`` and, for the
open only, ``O_NONBLOCK``: opening a FIFO nobody reads fails at once (``ENXIO``, said
as such) instead of blocking the worker until a reader comes; writes block as usual.
FIFOs, character devices, sockets and paths that reach one of the process's own
descriptors (``/dev/stdout``, ``/dev/fd/N``) are streams (:func:`is_stream`): the sink
never seeks, truncates, fsyncs, rotates or reopens them. Memory: a constant.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Final

__all__ = ["is_stream", "open_path", "stream_notice"]

# O_NONBLOCK: opening a FIFO nobody reads fails at once (ENXIO) instead of blocking the
# worker until a reader comes; it is cleared right after the open (writes block as usual).
_OPEN_FLAGS: Final = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC | os.O_NONBLOCK


def open_path(fspath: str, mode: int, exclusive: bool) -> tuple[int, os.stat_result, bool]:
    """Open (creating) ``fspath``: ``(descriptor, its stat, whether this call created it)``.

    ``exclusive``: try ``O_EXCL`` first, so the caller knows it created the file (and
    records its period); an existing file is then opened as it is.
    """
    created = False
    try:
        if exclusive:
            try:
                fd = os.open(fspath, _OPEN_FLAGS | os.O_EXCL, mode)
                created = True
            except FileExistsError:
                fd = os.open(fspath, _OPEN_FLAGS, mode)
        else:
            fd = os.open(fspath, _OPEN_FLAGS, mode)
    except OSError as exc:
        if exc.errno == errno.ENXIO and _is_fifo(Path(fspath)):
            raise OSError(errno.ENXIO, "no process has the FIFO open for reading") from None
        raise
    try:
        os.set_blocking(fd, True)
        st = os.fstat(fd)
    except OSError:
        os.close(fd)
        raise
    return fd, st, created


def is_stream(path: Path, st: os.stat_result) -> bool:
    """Whether the file opened at ``path`` is written as a stream (not a regular file of ours)."""
    return not stat.S_ISREG(st.st_mode) or _names_a_descriptor(path)


def stream_notice(who: str, fspath: str, mode: int) -> str:
    """The warning that rotation options asked for a stream do not apply to it."""
    return (
        f"sink {who}: {fspath} is {_kind(mode)}, written as a stream; "
        "rotation (max_bytes, rotate, compress, max_age) does not apply to it"
    )


def _is_fifo(path: Path) -> bool:
    try:
        return stat.S_ISFIFO(path.stat().st_mode)
    except OSError:
        return False


def _names_a_descriptor(path: Path) -> bool:
    """Whether ``path`` is, through symlinks, one of the process's descriptors.

    ``/dev/stdout`` -> ``/proc/self/fd/1``, ``/dev/fd/2``: whatever file they reach, it
    is shared with the process's own writes and must never be renamed or truncated.
    """
    for _ in range(40):  # the kernel's own symlink limit
        text = str(path)
        if text.startswith(("/dev/fd/", "/proc/")) and "/fd/" in text:
            return True
        try:
            target = path.readlink()
        except OSError:
            return False
        path = path.parent / target
    return False


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "one of the process's descriptors"
