"""Which part of the program allocated a traced block (the memory budgets' attribution).

Each traced allocation is put in one category by the innermost frame that is not the
standard library or pytest: the user's code, nglogger's call side (bound context,
encoding), nglogger's pipeline storage (bounded by ``Config.memory_budget``: buffer
arenas, sink queues, everything in ``sinks/``), these helpers, or other. :func:`diff`
sums what two snapshots hold per category and place; :func:`short` makes a path
readable. Source files are classified once (``_Places``). Memory: the cache of
classified file names, and the snapshots' statistics while a diff is made.
"""

from __future__ import annotations

import linecache
import os
import sys
import sysconfig
import threading
import tracemalloc
from pathlib import Path

__all__ = [
    "HARNESS",
    "NGLOGGER",
    "OTHER",
    "STORAGE",
    "USER",
    "Diff",
    "Key",
    "Loc",
    "diff",
    "short",
]

#: A place in the source: ``(filename, lineno)``.
Loc = tuple[str, int]

#: Categories of traced memory, from the innermost frame that is not the
#: standard library or pytest: the user's code, nglogger's call side (bound
#: context, encoding), nglogger's pipeline storage, these helpers, or unknown.
USER, NGLOGGER, STORAGE, HARNESS, OTHER = "user", "nglogger", "storage", "harness", "other"
#: nglogger modules holding the pipeline's bounded storage (plus everything in sinks/).
_STORAGE_MODULES = frozenset(
    {
        "_core/batch.py",
        "_core/guard.py",
        "_core/stats.py",
        "_delivery/decision.py",
        "_delivery/http.py",
        "_delivery/retry.py",
        "_delivery/breaker.py",
        "_delivery/window.py",
        "_pipeline/buffer.py",
        "_pipeline/late.py",
        "_pipeline/lifecycle.py",
        "_pipeline/pipeline.py",
        "_pipeline/worker.py",
        "_spool/feed.py",
    }
)

Key = tuple[str, Loc | None, Loc | None]
Diff = dict[Key, tuple[int, int]]


class _Places:
    """Classifies source files (computed once)."""

    _lock = threading.Lock()
    _instance: _Places | None = None

    def __init__(self) -> None:
        here = Path(__file__).absolute().parent.parent  # the nglogger package
        self.nglogger = f"{here}{os.sep}"
        self.harness = frozenset(
            {
                *(str(path) for path in Path(__file__).absolute().parent.glob("*.py")),
                str(here / "pytest_plugin.py"),
            }
        )
        self.storage = frozenset(str(here / name) for name in _STORAGE_MODULES)
        self.sinks = f"{here / 'sinks'}{os.sep}"
        paths = sysconfig.get_paths()
        self.stdlib = tuple({paths[k] + os.sep for k in ("stdlib", "platstdlib") if k in paths})
        self.site = tuple({paths[k] + os.sep for k in ("purelib", "platlib") if k in paths})
        tools = []
        for name in ("_pytest", "pytest", "pluggy"):
            location = getattr(sys.modules.get(name), "__file__", None)
            if location:
                tools.append(f"{Path(location).absolute().parent}{os.sep}")
        self.tools = tuple(tools)
        self.cache: dict[str, str] = {}

    @classmethod
    def get(cls) -> _Places:
        with cls._lock:
            if cls._instance is None:
                cls._instance = cls()
            return cls._instance

    def kind(self, filename: str) -> str:
        """user, nglogger, storage, harness (these helpers, pytest), or other (stdlib, frozen)."""
        kind = self.cache.get(filename)
        if kind is None:
            kind = self.cache[filename] = self._kind(filename)
        return kind

    def _kind(self, filename: str) -> str:
        if filename in self.harness:
            return HARNESS
        if filename.startswith(self.nglogger):
            if filename in self.storage or filename.startswith(self.sinks):
                return STORAGE
            return NGLOGGER
        if self.tools and filename.startswith(self.tools):
            return HARNESS
        if filename.startswith("<frozen "):
            return OTHER
        if filename.startswith(self.stdlib) and not filename.startswith(self.site):
            return OTHER
        return USER


def _attribute(traceback: tracemalloc.Traceback, places: _Places) -> Key:
    """``(category, innermost user frame, innermost nglogger frame)`` of one allocation.

    The category is decided by the innermost frame outside the standard library
    and pytest; the walk outwards stops at these helpers, so nothing is blamed
    on the line that called ``measure``.
    """
    category: str | None = None
    inside: Loc | None = None
    for frame in reversed(traceback):  # innermost first
        kind = places.kind(frame.filename)
        if kind == OTHER:
            continue
        if kind == HARNESS:
            category = category or HARNESS
            break
        here = (frame.filename, frame.lineno)
        if kind == USER:
            return category or USER, here, inside
        category = category or kind
        inside = inside or here
    return category or OTHER, None, inside


def _grouped(
    snapshot: tracemalloc.Snapshot, places: _Places, *, hooked: bool = False
) -> dict[Key, list[int]]:
    out: dict[Key, list[int]] = {}
    for stat in snapshot.statistics("traceback"):
        if hooked and _is_frame_object(stat.traceback[-1]):
            continue
        entry = out.setdefault(_attribute(stat.traceback, places), [0, 0])
        entry[0] += stat.size
        entry[1] += stat.count
    return out


def _is_frame_object(frame: tracemalloc.Frame) -> bool:
    """True for an allocation made as a function was entered: a frame object.

    A profile hook makes the interpreter create a frame object for every call;
    at that moment the frame's line is the ``def`` line (or its first decorator).
    """
    line = linecache.getline(frame.filename, frame.lineno).lstrip()
    return line.startswith(("def ", "async def ", "@"))


def diff(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, *, hooked: bool = False
) -> Diff:
    """Bytes and blocks held after minus before, per attribution.

    ``hooked``: the snapshots were taken under a profile hook; frame objects it
    made the interpreter create are left out.
    """
    places = _Places.get()
    old = _grouped(before, places, hooked=hooked)
    new = _grouped(after, places, hooked=hooked)
    out: Diff = {}
    for key in old.keys() | new.keys():
        size, count = new.get(key, (0, 0))
        was_size, was_count = old.get(key, (0, 0))
        if size != was_size or count != was_count:
            out[key] = (size - was_size, count - was_count)
    return out


def short(filename: str) -> str:
    """A readable path: ``nglogger/...`` inside nglogger, relative under the working directory."""
    places = _Places.get()
    if filename.startswith(places.nglogger):
        return "nglogger/" + filename[len(places.nglogger) :]
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive (Windows)
        return filename
    return filename if relative.startswith("..") else relative
