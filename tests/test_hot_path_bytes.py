"""The hot path lets the event's bytes decide: it must decide as the checked path would.

A call whose values include dicts or lists puts them into the event as they are;
after the one ``orjson.dumps`` of the event, the count of ``":`` in its bytes (or a
scan for secret keys) says whether anything needs the slow path. These tests hold
that decision to the checked path (``prepare_fields`` on every call, which the
pipeline uses when it cannot encode the event itself): the same bytes for any
values, contexts and overrides, and secrets redacted at any depth.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nglogger
from nglogger.sinks import MemorySink

NAMES = ["id", "name", "password", "Api-Key", "token_count", "user", "tags", "sessionId", "x"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(NAMES), inner, max_size=4)
    ),
    max_leaves=12,
)
plain_names = st.sampled_from(["user", "tags", "x", "id", "name", "payload"])


@pytest.fixture(params=["default", "ecs"])
def pipeline(request: pytest.FixtureRequest) -> Iterator[tuple[nglogger.Logger, MemorySink]]:
    """The default schema, and one whose head the log call swaps in itself."""
    sink = MemorySink()
    config = nglogger.Config(
        sinks=(sink,), context={"svc": {"name": "a"}}, trace_context=False, schema=request.param
    )
    nglogger.configure(config)
    assert nglogger.get_pipeline().direct is not None  # the hot path encodes itself here
    yield nglogger.get_logger("t"), sink
    nglogger.shutdown(5)


def both_ways(
    log: nglogger.Logger, sink: MemorySink, bound: dict[str, Any], fields: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The event as the hot path writes it, and as the checked path writes it."""
    pipeline = nglogger.get_pipeline()
    logger = log.bind(**bound) if bound else log
    logger.info("warm", **dict.fromkeys(fields, 0))  # the names are known plain from here on
    assert pipeline.known_plain(fields)
    assert nglogger.flush(5)
    sink.clear()
    logger.info("m", **fields)
    direct, pipeline.direct = pipeline.direct, None
    try:
        logger.info("m", **fields)
    finally:
        pipeline.direct = direct
    assert nglogger.flush(5)
    fast, checked = (orjson.loads(line) for line in sink.lines())
    stamp = "@timestamp" if "@timestamp" in fast else "timestamp"
    del fast[stamp], checked[stamp]
    return fast, checked


# The pipeline fixture is shared by the examples on purpose: each one clears the sink.
@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    bound=st.dictionaries(plain_names, values, max_size=3),
    fields=st.dictionaries(plain_names, values, max_size=3),
)
def test_the_bytes_decide_as_the_checked_path(
    pipeline: tuple[nglogger.Logger, MemorySink], bound: dict[str, Any], fields: dict[str, Any]
) -> None:
    log, sink = pipeline
    fast, checked = both_ways(log, sink, bound, fields)
    assert fast == checked
    # every "password" key holds the marker (a value may say "password": Hypothesis
    # draws string constants from the code under test)
    assert '"password":' not in orjson.dumps(fast).decode().replace('"password":"[REDACTED]"', "")


def test_a_field_overriding_a_bound_key_is_still_checked(
    pipeline: tuple[nglogger.Logger, MemorySink],
) -> None:
    """The bound value's nested key no longer in the event must not hide the field's."""
    log, sink = pipeline
    fast, _ = both_ways(log, sink, {"user": {"name": "x"}}, {"user": {"password": "p"}})
    assert fast["user"] == {"password": "[REDACTED]"}


def test_secret_keys_deep_in_lists_are_redacted(
    pipeline: tuple[nglogger.Logger, MemorySink],
) -> None:
    log, sink = pipeline
    fields = {"payload": [{"items": [{"Api-Key": "k", "id": 1}]}], "tags": ["a"]}
    fast, checked = both_ways(log, sink, {}, fields)
    assert fast == checked
    assert fast["payload"] == [{"items": [{"Api-Key": "[REDACTED]", "id": 1}]}]


def test_a_quote_colon_inside_a_string_only_costs_a_scan(
    pipeline: tuple[nglogger.Logger, MemorySink],
) -> None:
    log, sink = pipeline
    fast, checked = both_ways(log, sink, {}, {"tags": ['say "password": no'], "x": 'a": b'})
    assert fast == checked
    assert fast["tags"] == ['say "password": no']


def test_a_long_string_inside_a_list_is_cut(pipeline: tuple[nglogger.Logger, MemorySink]) -> None:
    log, sink = pipeline
    limit = nglogger.get_pipeline().max_field_length
    fast, checked = both_ways(log, sink, {}, {"tags": ["x" * (limit + 10)]})
    assert fast == checked
    assert len(fast["tags"][0]) <= limit
    assert "truncated" in fast["nglogger_fallback"]


def test_an_oversize_event_with_a_secret_is_cut_and_redacted(
    pipeline: tuple[nglogger.Logger, MemorySink],
) -> None:
    """Over max_event_bytes, the big value becomes a marker and the small secret is redacted."""
    log, sink = pipeline
    fields = {"payload": list(range(100_000)), "user": {"password": "p"}}
    fast, checked = both_ways(log, sink, {}, fields)
    assert fast == checked
    assert fast["user"] == {"password": "[REDACTED]"}
    assert fast["payload"].startswith("<list of ")


def test_an_unserializable_value_inside_a_list_gets_its_stand_in(
    pipeline: tuple[nglogger.Logger, MemorySink],
) -> None:
    log, sink = pipeline
    fast, checked = both_ways(log, sink, {}, {"tags": [object()], "user": {"password": "p"}})
    assert fast["user"] == checked["user"] == {"password": "[REDACTED]"}
    assert fast["tags"][0].startswith("<unserializable object")
