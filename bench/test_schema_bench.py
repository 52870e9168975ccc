"""output-schema: ``log.info("hello world", status=200)`` under each output schema.

The schema is applied to the event's head bytes in ``emit`` (a slice, a compare and a
concatenation, no Python call), so every schema should cost within a few tens of ns of
the default. ``python bench/test_schema_bench.py`` prints ns/call per schema with ``timeit``.
"""

from __future__ import annotations

import timeit
from typing import Any

import _scenarios as S
import pytest

pytestmark = pytest.mark.benchmark(group="output-schema")

SCHEMAS = ("default", "ecs", "gcp", "datadog")
FIELDS = {"http_status": 200, "path": "/charge"}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_schema(benchmark: Any, schema: str) -> None:
    """One log call with two fields under ``schema``."""
    S.run(benchmark, lambda: S.nglogger_info(FIELDS, schema=schema))


def _timeit(schema: str, number: int = 200_000, repeat: int = 7) -> float:
    """Best mean seconds per call under ``schema``, measured with ``timeit``."""
    with S.nglogger_info(FIELDS, schema=schema) as (function, args, kwargs):
        for _ in range(S.WARMUP_CALLS):
            function(*args, **kwargs)
        timer = timeit.Timer(lambda: function(*args, **kwargs))
        return min(timer.repeat(repeat=repeat, number=number)) / number


def main() -> None:
    """Print ns/call per schema and the difference to the default."""
    base = _timeit("default")
    for schema in SCHEMAS:
        seconds = base if schema == "default" else _timeit(schema)
        print(f"{schema:8} {seconds * 1e9:7.0f} ns/call  {(seconds - base) * 1e9:+6.0f} ns")


if __name__ == "__main__":
    main()
