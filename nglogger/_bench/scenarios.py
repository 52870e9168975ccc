"""What the benchmark scenarios log, the floor they are measured against, and their pipelines.

Shared by ``nglogger bench`` and the pytest-benchmark suite in ``bench/`` (whose
``_scenarios.py`` imports these), so that a scenario of the same name logs the same
event in both. The FLOOR is the least work any structured logger must do for an
event: build the event dict, one ``orjson.dumps``, one ``time.time_ns()``, append the
bytes to a ``bytearray`` that is emptied past ``ARENA_LIMIT``. It comes in two call
shapes: :class:`Floor` takes the fields per call, as a logger does (the bench suite
calls every subject as ``function(*args, **kwargs)``); :func:`floor_for` has them
fixed (``nglogger bench`` times calls without arguments).

The scenarios of ``nglogger bench`` run on a pipeline installed with :class:`Swap`
(the caller's default pipeline is saved and restored); :class:`Stalled` is a sink
that never returns, for the memory scenarios.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson

from .._config.config import Config
from .._core.batch import Batch
from .._core.sink import Outcome
from .._event import target as _target
from .._event.logger import relevel
from .._pipeline import pipeline as _pipeline

__all__ = [
    "ARENA_LIMIT",
    "MESSAGE",
    "REQUEST_BOUND",
    "REQUEST_CONTEXT",
    "REQUEST_FIELDS",
    "SMALL_NESTED",
    "Call",
    "Floor",
    "Stalled",
    "Swap",
    "big_context",
    "floor_for",
    "nested",
]

#: What a subject yields: the function to call, its positional and keyword arguments.
Call = tuple[Callable[..., object], tuple[Any, ...], dict[str, Any]]

#: The message of the bench suite's scenarios (and of the other loggers' by default).
MESSAGE = "hello world"

#: request-line: an ordinary request log line, a short list among six fields ...
REQUEST_FIELDS: dict[str, Any] = {
    "method": "GET",
    "path": "/api/v1/items",
    "status": 200,
    "duration_ms": 12.5,
    "user": "bob",
    "tags": ["a", "b"],
}
#: ... on a logger bound to two keys.
REQUEST_BOUND: dict[str, Any] = {"service": "checkout", "request_id": "9f0c1e2a"}
#: request-context: the request line with ``context=`` ~10 KB of nested data, as a
#: service logs a request's payload: 50 cart items, the headers, a trace dict.
REQUEST_CONTEXT: dict[str, Any] = {
    "items": [
        {
            "sku": f"SKU-{i:05d}",
            "name": f"Item number {i}: a product with a longer description",
            "price": 9.99 + i,
            "qty": 1 + i % 3,
            "tags": ["sale", "new", "eu-warehouse"],
            "dimensions": {"w": 10 + i, "h": 20 + i, "d": 5},
        }
        for i in range(50)
    ],
    "headers": {
        "accept": "application/json",
        "user-agent": "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/131.0",
        "x-request-id": "9f0c1e2a-4b7d-4c1e-8f00-5a7b3c2d1e0f",
        **{f"x-feature-{i:02d}": f"variant-{i % 4}" for i in range(12)},
    },
    "trace": {"trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "span_id": "00f067aa0ba902b7"},
}
#: small-nested: two small nested dicts.
SMALL_NESTED: dict[str, Any] = {
    "user": {"id": 42, "name": "bob"},
    "http": {"method": "GET", "status": 200},
}


def big_context() -> dict[str, Any]:
    """~10 KB of nested context, as an application might bind per request."""
    return {
        f"key{i}": {"id": i, "name": f"item-{i}", "tags": ["a", "b", "c"], "score": i * 1.5}
        for i in range(120)
    }


def nested(target: int) -> dict[str, Any]:
    """Request-like nested data whose JSON is about ``target`` bytes."""
    return {
        f"item-{i:05d}": {"sku": f"SKU-{i:05d}", "price": 9.99 + i, "qty": 1 + i % 3, "tags": ["a"]}
        for i in range(max(1, target // 70))
    }


#: The floor's bytearray is emptied when it grows past this (a few MB).
ARENA_LIMIT = 4 * 1024 * 1024

_dumps = orjson.dumps
_time_ns = time.time_ns
_NEWLINE = orjson.OPT_APPEND_NEWLINE


class Floor:
    """The least work of a structured log call, as a logger-shaped object.

    ``info`` builds the same keys as an nglogger event (timestamp, level,
    logger, message, context, fields), serializes them with one
    ``orjson.dumps``, and appends the bytes to a ``bytearray``.
    """

    __slots__ = ("arena", "context", "name")

    def __init__(self, name: str = "bench", context: dict[str, Any] | None = None) -> None:
        self.name = name
        self.context = context or {}
        self.arena = bytearray()

    def info(self, message: str, /, **fields: Any) -> None:
        """One event: dict + orjson.dumps + time.time_ns() + bytearray append."""
        event = {
            "timestamp": _time_ns(),
            "level": "info",
            "logger": self.name,
            "message": message,
            **self.context,
            **fields,
        }
        arena = self.arena
        arena += _dumps(event, option=_NEWLINE)
        if len(arena) > ARENA_LIMIT:
            # ``del``, not ``clear()``: on glibc, clear() shrinks the buffer with
            # realloc and every refill then page-faults (~1 us per 2 KB append).
            del arena[:]

    def bind(self, **values: Any) -> bytes:
        """A child's snapshot: the bindings serialized once (dict + orjson.dumps)."""
        return _dumps(values)


def floor_for(fields: dict[str, Any], message: str = "request handled") -> Callable[[], None]:
    """The floor for an event with these fields, as a call without arguments (see Floor)."""
    arena = bytearray()
    dumps = orjson.dumps
    time_ns = time.time_ns

    def floor() -> None:
        arena.extend(
            dumps(
                {
                    "timestamp": time_ns(),
                    "level": "info",
                    "logger": "bench",
                    "message": message,
                    **fields,
                },
                option=_NEWLINE,
            )
        )
        if len(arena) > ARENA_LIMIT:
            # ``del``, not a new bytearray or ``clear()``: the capacity stays, so refills
            # do not pay for realloc and page faults (which would flatter large events).
            del arena[:]

    return floor


class Stalled:
    """A sink that blocks in write() until released (simulates a dead backend)."""

    name = "stalled"

    def __init__(self) -> None:
        self.release = threading.Event()

    def write(self, batch: Batch) -> Outcome | None:  # noqa: ARG002 - the protocol's signature
        self.release.wait()
        return None

    def close(self) -> None:
        self.release.set()


class Swap:
    """Install a pipeline as the default for the duration of a scenario."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.pipeline: _pipeline.Pipeline | None = None

    def __enter__(self) -> _pipeline.Pipeline:
        self.previous = _target.current
        self.pipeline = _pipeline.Pipeline(self.config)
        _target.current = self.pipeline
        relevel()
        return self.pipeline

    def __exit__(self, *exc: object) -> None:
        _target.current = self.previous
        relevel()
        if self.pipeline is not None:
            self.pipeline.shutdown(2.0)
