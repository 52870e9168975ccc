"""The benchmark scenarios of the pytest-benchmark files and ``ratios.py``.

Every scenario is measured against a FLOOR taken in the same run: the least work
any structured logger must do for the same event (``nglogger._bench.scenarios.Floor``:
build the event dict, one ``orjson.dumps``, one ``time.time_ns()``, append the bytes
to a ``bytearray`` that is emptied past ``ARENA_LIMIT``). A subject is a context
manager that sets a logger up, yields the call to measure as ``(function, args,
kwargs)`` and tears the logger down; both runners call ``function(*args, **kwargs)``
in a loop, so the argument-passing overhead is the same for every subject.

What ``nglogger bench`` measures too is defined once, in ``nglogger._bench``, and
imported here: the floor, the request line and small nested events, and the other
loggers (``nglogger._bench.competitors``: structlog, stdlib + python-json-logger and
loguru, optional: ``pip install nglogger[bench]``; ``missing()`` says whether one is
installed). What is this suite's own stays here: its events, the nglogger subjects
and the pytest-benchmark runner.

nglogger runs through the default pipeline configured with ``NullSink``s (from
an explicit ``Config``, so the environment does not change what is measured): the
batcher and sink threads do their work while the caller logs, and on CPython
that work competes for the GIL, so it lands in the measured time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson

import nglogger
from nglogger._bench.competitors import (
    loguru_info,
    missing,
    picologging_info,
    stdlib_json_info,
    structlog_info,
)
from nglogger._bench.scenarios import (
    ARENA_LIMIT,
    MESSAGE,
    REQUEST_BOUND,
    REQUEST_CONTEXT,
    REQUEST_FIELDS,
    SMALL_NESTED,
    Call,
    Floor,
)

__all__ = [
    "ARENA_LIMIT",
    "BOUND",
    "CALL_FIELDS",
    "CHILD",
    "DEEP",
    "LARGE_QUEUES",
    "LIST_1M",
    "LIST_10K",
    "LONG",
    "MESSAGE",
    "NESTED",
    "OBJECT",
    "REQUEST_BOUND",
    "REQUEST_CONTEXT",
    "REQUEST_FIELDS",
    "SMALL_NESTED",
    "WARMUP_CALLS",
    "Call",
    "Floor",
    "dumps_only",
    "floor_child_creation",
    "floor_info",
    "loguru_info",
    "missing",
    "nglogger_child_creation",
    "nglogger_counts",
    "nglogger_debug",
    "nglogger_info",
    "picologging_info",
    "run",
    "skip_if_missing",
    "stdlib_json_info",
    "structlog_info",
]

#: object: a few small fields.
OBJECT: dict[str, Any] = {"status": 200, "path": "/x", "user": "bob"}
#: child: the context bound once (about 5 fields) ...
BOUND: dict[str, Any] = {
    "service": "checkout",
    "env": "prod",
    "region": "eu-west-1",
    "version": "1.4.2",
    "host": "web-7",
}
#: ... and the two fields of each call.
CALL_FIELDS: dict[str, Any] = {"status": 200, "path": "/x"}
#: child-creation: what a request handler binds.
CHILD: dict[str, Any] = {"request_id": "9f0c1e2a-4b7d-4c1e-8f00-5a7b3c2d1e0f", "user": "bob"}
#: long-string: a 2 KB string field.
LONG = ("lorem ipsum dolor sit amet, consectetur adipiscing elit " * 40)[:2048]


def _deep_context() -> dict[str, Any]:
    """A nested request/user/cart context whose JSON is about 10 KB."""
    return {
        "request": {
            "method": "POST",
            "path": "/api/v1/cart/checkout",
            "headers": {f"x-header-{i:02d}": f"value-{i:02d}-" + "abcdef" * 4 for i in range(20)},
            "query": {"page": 3, "per_page": 50, "sort": ["-created", "name"]},
        },
        "user": {
            "id": 421337,
            "name": "Bob Example",
            "roles": ["buyer", "beta", "support"],
            "preferences": {"currency": "EUR", "locale": "fr-FR", "newsletter": False},
        },
        "cart": {
            "items": [
                {
                    "sku": f"SKU-{i:05d}",
                    "name": f"Item number {i}",
                    "price": 9.99 + i,
                    "quantity": 1 + i % 3,
                    "tags": ["tag-a", "tag-b", "tag-c"],
                    "dimensions": {"w": 10 + i, "h": 20 + i, "d": 5},
                }
                for i in range(62)
            ],
            "total": 1234.5,
        },
    }


#: deep-object: bound once with ``bind(**DEEP)``; ~10 KB of JSON.
DEEP: dict[str, Any] = _deep_context()


def nested_payload(target: int) -> dict[str, Any]:
    """Request-like nested data whose JSON is about ``target`` bytes (dicts of small dicts)."""
    items = max(1, target // 160)
    return {
        f"item-{i:05d}": {
            "sku": f"SKU-{i:05d}",
            "price": 9.99 + i,
            "qty": 1 + i % 3,
            "tags": ["a", "b"],
        }
        for i in range(items)
    }


#: nested-*: one nested field of about 1 KB, 10 KB and 100 KB of JSON.
NESTED: dict[str, dict[str, Any]] = {
    "1KB": nested_payload(1_000),
    "10KB": nested_payload(10_000),
    "100KB": nested_payload(100_000),
}
#: list-10k: a 10,000-element list of ints.
LIST_10K: list[int] = list(range(10_000))
#: list-1M: a 1,000,000-element list of ints (over max_event_bytes: the event is cut).
LIST_1M: list[int] = list(range(1_000_000))


#: Limits large enough that the deep-object loop drops nothing: at ~10 KB per
#: event a tight loop produces GB/s, more than the default 16 MiB sink queue
#: absorbs while the background threads wait for the GIL (5 ms switch interval).
LARGE_QUEUES: dict[str, Any] = {"buffer_max_bytes": 128 << 20, "sink_queue_max_bytes": 128 << 20}

#: Calls made before measuring (see ``run``).
WARMUP_CALLS = 2_000


def skip_if_missing(module: str) -> None:
    """Skip the calling pytest test if the optional ``module`` is not installed."""
    if missing(module):
        import pytest

        pytest.skip(f"{module} is not installed (pip install 'nglogger[bench]')")


def run(benchmark: Any, subject: Callable[[], Any]) -> None:
    """Measure ``subject`` with a pytest-benchmark ``benchmark`` fixture.

    The call is warmed up first (unless benchmarks are disabled). When nglogger
    was measured, its event counts go to ``extra_info`` (``nglogger_submitted``,
    ``nglogger_dropped``) before the pipeline is shut down; in smoke mode
    (``--benchmark-disable``) a dropped event fails the test.
    """
    with subject() as (function, args, kwargs):
        if not getattr(benchmark, "disabled", False):
            # Warm caches, lazy setup and background threads, so that calibration
            # does not see a cold first call and settle on one call per round.
            for _ in range(WARMUP_CALLS):
                function(*args, **kwargs)
        benchmark(function, *args, **kwargs)
        submitted, dropped = nglogger_counts()
        if dropped and getattr(benchmark, "disabled", False):  # smoke mode: one call each
            raise AssertionError(f"nglogger dropped {dropped} of {submitted} events")
        if submitted:
            benchmark.extra_info["nglogger_submitted"] = submitted
            benchmark.extra_info["nglogger_dropped"] = dropped


# --------------------------------------------------------------------- floor
@contextmanager
def floor_info(
    fields: dict[str, Any] | None = None, context: dict[str, Any] | None = None
) -> Iterator[Call]:
    """The floor for ``info(MESSAGE, **fields)`` on a logger bound to ``context``."""
    yield Floor(context=context).info, (MESSAGE,), dict(fields or {})


@contextmanager
def dumps_only(fields: dict[str, Any]) -> Iterator[Call]:
    """``orjson.dumps`` of the same fields: the cost of the one walk every logger must make."""
    yield orjson.dumps, (fields,), {}


@contextmanager
def floor_child_creation() -> Iterator[Call]:
    """The floor for ``bind(**CHILD)``: serialize the bindings once."""
    yield Floor().bind, (), dict(CHILD)


# ------------------------------------------------------------------ nglogger
def _nglogger(sinks: int, context: dict[str, Any] | None, **settings: Any) -> nglogger.Logger:
    """Configure the default pipeline with ``sinks`` NullSinks; a logger bound to ``context``."""
    nulls = [nglogger.sinks.NullSink(name=f"null-{i}") for i in range(sinks)]
    # An explicit Config: the same pipeline as ``configure(sinks=...)`` but
    # without NGLOGGER_* / OTEL_* variables changing what is measured.
    nglogger.configure(nglogger.Config(sinks=tuple(nulls), **settings))
    log = nglogger.get_logger("bench")
    return log.bind(**context) if context else log


@contextmanager
def nglogger_info(
    fields: dict[str, Any] | None = None,
    context: dict[str, Any] | None = None,
    sinks: int = 1,
    **settings: Any,
) -> Iterator[Call]:
    """nglogger ``log.info(MESSAGE, **fields)``, background batching and fan-out included.

    ``settings`` go to ``nglogger.configure`` (none: the default limits).
    """
    log = _nglogger(sinks, context, **settings)
    try:
        yield log.info, (MESSAGE,), dict(fields or {})
    finally:
        nglogger.shutdown()


@contextmanager
def nglogger_debug(**settings: Any) -> Iterator[Call]:
    """nglogger ``log.debug(MESSAGE)`` while the level is INFO (a disabled call).

    ``settings`` go to ``nglogger.configure`` (e.g. per-logger ``levels``).
    """
    log = _nglogger(1, None, **settings)
    try:
        yield log.debug, (MESSAGE,), {}
    finally:
        nglogger.shutdown()


@contextmanager
def nglogger_child_creation() -> Iterator[Call]:
    """nglogger ``log.bind(**CHILD)``: a child logger whose bindings are serialized once."""
    log = _nglogger(1, None)
    try:
        yield log.bind, (), dict(CHILD)
    finally:
        nglogger.shutdown()


def nglogger_counts() -> tuple[int, int]:
    """(events submitted, events dropped) by the default pipeline, after a flush."""
    if not nglogger.stats().submitted:
        return 0, 0
    nglogger.flush(5.0)
    stats = nglogger.stats()
    return stats.submitted, stats.total_dropped
