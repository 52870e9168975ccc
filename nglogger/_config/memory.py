"""The memory-pressure setting: ``memory_limit`` (``"512MiB"``, ``"auto"``, ``"off"``).

``auto`` (the default) is 90% of the cgroup v2 ``memory.max`` the process runs under,
when it has one: ``/proc/self/cgroup``'s ``0::<path>`` line names the cgroup, and the
lowest ``memory.max`` of it and its ancestors under ``/sys/fs/cgroup`` is the limit
(``max`` everywhere: no limit, so off). The shedding itself is
``nglogger._pipeline.memory``; this module parses the setting and resolves ``auto``
(a few small file reads, when a pipeline is built and for ``nglogger config``).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

from .._core.units import parse_size

__all__ = [
    "AUTO_FRACTION",
    "MEMORY_LIMIT_ACCEPTED",
    "MIN_LIMIT",
    "ResolvedLimit",
    "cgroup_memory_max",
    "parse_memory_limit",
    "resolve_memory_limit",
    "rss_supported",
]

#: What ``NGLOGGER_MEMORY_LIMIT`` and ``memory_limit=`` accept.
MEMORY_LIMIT_ACCEPTED = (
    "a size such as 512MiB or 2GB (at least 1MiB), auto (90% of the cgroup v2 memory.max, "
    "off without one), or off"
)
#: ``auto``: this fraction of the cgroup's ``memory.max``.
AUTO_FRACTION = 0.9
#: A smaller limit is a mistake (the interpreter alone is larger).
MIN_LIMIT = 1024 * 1024

_OFF = ("off", "none", "0", "false", "no")

PROC_CGROUP = "/proc/self/cgroup"
CGROUP_ROOT = "/sys/fs/cgroup"


def parse_memory_limit(text: str) -> int | str | None:
    """``"512MiB"`` -> bytes; ``"auto"`` -> ``"auto"``; ``"off"`` -> None.

    Raises ``ValueError`` saying what is wrong (the environment's parser and the
    argument's check both use it).
    """
    stripped = text.strip().lower()
    if stripped == "auto":
        return "auto"
    if stripped in _OFF:
        return None
    try:
        size = parse_size(stripped)
    except ValueError:
        raise ValueError(f"{text!r} is not a size, auto or off") from None
    if size < MIN_LIMIT:
        raise ValueError(f"{text!r} is below 1MiB")
    return size


def rss_supported() -> bool:
    """Whether this platform's RSS can be read (Linux: ``/proc/self/statm``)."""
    return sys.platform.startswith("linux")


def cgroup_memory_max(
    proc_cgroup: str = PROC_CGROUP, cgroup_root: str = CGROUP_ROOT
) -> tuple[int, str] | None:
    """The lowest cgroup v2 ``memory.max`` over the process's cgroup and its ancestors.

    Returns ``(bytes, file)`` or None (no v2 line, no file, or ``max`` everywhere).
    The paths are arguments so that tests can give a fake tree.
    """
    try:
        text = Path(proc_cgroup).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    path = None
    for line in text.splitlines():
        if line.startswith("0::"):
            path = line[3:].strip()
            break
    if path is None or not path.startswith("/"):
        return None
    root = Path(cgroup_root)
    parts = [p for p in path.split("/") if p and p not in (".", "..")]
    best: tuple[int, str] | None = None
    for depth in range(len(parts), -1, -1):
        file = root.joinpath(*parts[:depth], "memory.max")
        try:
            value = file.read_text(encoding="ascii", errors="replace").strip()
        except OSError:
            continue
        if not value.isdigit():  # "max": no limit at this level
            continue
        limit = int(value)
        if best is None or limit < best[0]:
            best = (limit, str(file))
    return best


@dataclass(frozen=True, slots=True)
class ResolvedLimit:
    """The limit in force (``None``: off) and where it came from."""

    limit: int | None
    source: str


def resolve_memory_limit(
    value: object, *, proc_cgroup: str = PROC_CGROUP, cgroup_root: str = CGROUP_ROOT
) -> ResolvedLimit:
    """``memory_limit``'s value (bytes, text, ``"auto"`` or None) as the limit in force."""
    if isinstance(value, str):
        value = parse_memory_limit(value)
    if value is None:
        return ResolvedLimit(None, "off")
    if isinstance(value, int):
        return ResolvedLimit(value, "memory_limit")
    found = cgroup_memory_max(proc_cgroup, cgroup_root)
    if found is None:
        return ResolvedLimit(None, "auto: no cgroup v2 memory.max")
    limit, file = found
    return ResolvedLimit(int(limit * AUTO_FRACTION), f"auto: 90% of {limit} in {file}")
