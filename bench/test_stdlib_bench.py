"""stdlib-handler: ``logging.getLogger(...).info("msg %s", a, extra={...})`` by backend.

The same stdlib call three ways: to a ``NullHandler`` (the floor: what stdlib
itself costs to build and dispatch the record), to nglogger's ``LoggingHandler``
(default pipeline, NullSink, background work included), and to python-json-logger
on a ``StreamHandler`` writing to /dev/null. ``python bench/test_stdlib_bench.py``
prints the same comparison measured with ``timeit``.
"""

from __future__ import annotations

import logging
import os
import timeit
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import _scenarios as S
import pytest

import nglogger
from nglogger._bench.competitors import json_formatter, quiet_logger
from nglogger.stdlib import LoggingHandler

pytestmark = pytest.mark.benchmark(group="stdlib-handler")

MESSAGE = "request %s handled"
ARG = "GET /api/v1/items"
EXTRA: dict[str, Any] = {"status": 200, "user": "bob", "duration_ms": 12.5}


@contextmanager
def _stdlib_logger(handler: logging.Handler) -> Iterator[S.Call]:
    """A non-propagating stdlib logger at INFO whose only handler is ``handler``."""
    log = quiet_logger("nglogger.bench.stdlib_handler", handler)
    try:
        yield log.info, (MESSAGE, ARG), {"extra": EXTRA}
    finally:
        log.handlers[:] = []
        handler.close()


@contextmanager
def floor_stdlib() -> Iterator[S.Call]:
    """The stdlib call to a ``NullHandler``: record creation and dispatch only."""
    with _stdlib_logger(logging.NullHandler()) as call:
        yield call


@contextmanager
def nglogger_handler() -> Iterator[S.Call]:
    """The stdlib call to ``LoggingHandler`` on the default pipeline with one NullSink."""
    nglogger.configure(sinks=[nglogger.sinks.NullSink()])
    try:
        with _stdlib_logger(LoggingHandler()) as call:
            yield call
    finally:
        nglogger.shutdown()


@contextmanager
def stdlib_json() -> Iterator[S.Call]:
    """The stdlib call to python-json-logger on a ``StreamHandler`` writing to /dev/null."""
    out = open(os.devnull, "w")  # noqa: SIM115 (closed in the finally below)
    handler = logging.StreamHandler(out)
    handler.setFormatter(json_formatter())
    try:
        with _stdlib_logger(handler) as call:
            yield call
    finally:
        out.close()


def test_floor(benchmark: Any) -> None:
    """Floor: stdlib builds and dispatches the record to a NullHandler."""
    S.run(benchmark, floor_stdlib)


def test_nglogger(benchmark: Any) -> None:
    """nglogger LoggingHandler: the record becomes an event on the default pipeline."""
    S.run(benchmark, nglogger_handler)


def test_stdlib_json(benchmark: Any) -> None:
    """python-json-logger JsonFormatter on a StreamHandler to /dev/null."""
    S.skip_if_missing("pythonjsonlogger")
    S.run(benchmark, stdlib_json)


def _timeit(subject: Any, number: int = 100_000, repeat: int = 7) -> float:
    """Best mean seconds per call of ``subject``'s call, measured with ``timeit``."""
    with subject() as (function, args, kwargs):
        timer = timeit.Timer(lambda: function(*args, **kwargs))
        return min(timer.repeat(repeat=repeat, number=number)) / number


def main() -> None:
    """Print us/call for each backend and python-json-logger's cost relative to nglogger's."""
    floor = _timeit(floor_stdlib)
    ours = _timeit(nglogger_handler)
    rows = [("stdlib + NullHandler (floor)", floor), ("stdlib + nglogger", ours)]
    if not S.missing("pythonjsonlogger"):
        theirs = _timeit(stdlib_json)
        rows.append(("stdlib + python-json-logger", theirs))
    for name, seconds in rows:
        print(f"{name:32} {seconds * 1e6:6.2f} us/call")
    if not S.missing("pythonjsonlogger"):
        print(f"python-json-logger / nglogger: {theirs / ours:.2f}x per call")
        print(
            "handler cost above the floor:"
            f" python-json-logger {(theirs - floor) * 1e6:.2f} us,"
            f" nglogger {(ours - floor) * 1e6:.2f} us"
            f" ({(theirs - floor) / (ours - floor):.2f}x)"
        )


if __name__ == "__main__":
    main()
