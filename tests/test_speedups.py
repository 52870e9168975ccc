"""The C log call (nglogger/_speedups.c) writes exactly what the pure-Python one writes.

``Logger.info`` and friends are ``nglogger._speedups.LogMethod`` objects when the
extension is built; ``Logger.info.__wrapped__`` is the Python method, the one a pure
install runs and the one the C call hands every unusual call to. Hypothesis drives both
with the same calls (names secret, reserved, plain or new; values of every kind, nested,
long, NaN, refused by orjson; bound and contextvars context; output schemas; small
limits) on the same pipeline and compares the bytes the sink receives, timestamps aside.
The timestamp and the key count, which the C call computes itself, are compared with the
Python functions they replace.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import TracerProvider

import nglogger
from nglogger._event import logger as _logger
from nglogger._event.timestamp import timestamp
from nglogger.sinks import MemorySink

TRACER = TracerProvider().get_tracer("tests.test_speedups")

BUILT = _logger.ACCELERATOR == "c"
needs_c = pytest.mark.skipif(not BUILT, reason="the C accelerator is not built here")
if BUILT:
    import nglogger._speedups as speedups

#: One timestamp: the event's own comes first in its bytes (user strings alike in both).
TIMESTAMP = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
LEVELS = ("debug", "info", "warning", "error", "critical")


def test_the_accelerator_is_built_wherever_it_can_be() -> None:
    """A CPython with a C compiler and no NGLOGGER_BUILD_PURE builds it (setup.py)."""
    compiler = (sysconfig.get_config_var("CC") or "cc").split()[0]
    buildable = (
        sys.implementation.name == "cpython"
        and shutil.which(compiler) is not None
        and os.environ.get("NGLOGGER_BUILD_PURE", "") in {"", "0"}
        and os.environ.get("NGLOGGER_PURE_PYTHON", "") in {"", "0"}
    )
    if buildable:
        assert BUILT, "nglogger._speedups did not build: see the pip install output"
    assert _logger.ACCELERATOR in {"c", "python"}


@needs_c
def test_pure_python_is_one_variable_away() -> None:
    """NGLOGGER_PURE_PYTHON=1 runs the Python method (and writes the same line)."""
    code = (
        "import nglogger; from nglogger._event import logger as L; "
        "nglogger.configure(sinks=['stdout']); print(L.ACCELERATOR, flush=True); "
        "nglogger.get_logger('p').info('hi', n=1); nglogger.shutdown()"
    )
    lines = {}
    for value in ("1", "0"):
        env = {**os.environ, "NGLOGGER_PURE_PYTHON": value}
        out = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, timeout=60, check=True
        ).stdout.splitlines()
        lines[value] = out
    assert lines["1"][0] == b"python"
    assert lines["0"][0] == b"c"
    assert TIMESTAMP.sub(b"T", lines["1"][1]) == TIMESTAMP.sub(b"T", lines["0"][1])


@needs_c
@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_timestamps_are_the_python_ones(ns: int) -> None:
    """Any time a 64-bit clock gives (to 2262), in any order (the millisecond cache refreshes)."""
    assert speedups.timestamp(ns) == timestamp(ns)


@needs_c
def test_timestamps_at_millisecond_and_second_edges() -> None:
    base = 1_765_000_000 * 10**9
    for ns in (base, base - 1, base + 999_999, base + 1_000_000, base + 999, base + 1000):
        assert speedups.timestamp(ns) == timestamp(ns)


@needs_c
@given(st.binary(max_size=200) | st.text(alphabet='":a\\', max_size=60).map(str.encode))
def test_key_count_is_bytes_count(data: bytes) -> None:
    assert speedups.count_key_ends(data) == data.count(b'":')


# -- the differential test ----------------------------------------------------------------


class Custom:
    """A value orjson refuses (the pipeline's ``default`` hook decides)."""

    def __repr__(self) -> str:
        return "<Custom>"


NAMES = st.sampled_from(
    [
        "a",
        "user",
        "status",
        "path",
        "tags",
        "http",
        "password",
        "api_key",
        "Authorization",
        "level",
        "message",
        "timestamp",
        "logger",
        "event",
        "exc_info",
        "service",
        "ctx_key",
    ]
) | st.text(min_size=1, max_size=12)
SCALAR = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.text(alphabet="xy", min_size=60, max_size=90)  # past the small max_field_length
    | st.binary(max_size=8)
    | st.just(Custom())
)
VALUE = st.recursive(
    SCALAR,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(NAMES, inner, max_size=4)
        | st.tuples(inner)
        | st.frozensets(st.integers(), max_size=2)
    ),
    max_leaves=12,
)
CALL = st.tuples(
    st.sampled_from(LEVELS),
    st.one_of(st.text(max_size=20), st.text(alphabet="m", min_size=70, max_size=80), st.just(3)),
    st.lists(st.text(max_size=5), max_size=2),  # stdlib-style arguments
    st.dictionaries(NAMES, VALUE, max_size=5),
)
CONTEXT = st.dictionaries(st.sampled_from(["service", "ctx_key", "password", "region"]), SCALAR)

SETUPS: dict[str, dict[str, Any]] = {
    "default": {},
    "trace": {"trace_context": True},
    "small-limits": {"max_field_length": 64, "max_event_bytes": 600},
    "ecs": {"schema": "ecs"},
    "static": {"context": {"service": "svc", "nested": {"a": 1}}},
    "storm": {"storm_limit": "1000000/s"},  # the guard asked on every call, none cut
}


@pytest.fixture(params=sorted(SETUPS))
def sink(request: pytest.FixtureRequest) -> Iterator[MemorySink]:
    memory = MemorySink(name="memory", max_events=100_000)
    setup = {"trace_context": False, **SETUPS[request.param]}
    nglogger.configure(nglogger.Config(sinks=(memory,), level="debug", **setup))
    yield memory
    nglogger.shutdown(5)


def both(
    sink: MemorySink, log: nglogger.Logger, call: Callable[[Callable[..., None]], None]
) -> None:
    """``call`` with the C method and with the Python method: the same bytes.

    The Python method runs twice first, so that both start from the same learned names
    (the memo of plain names only decides which path runs, but the slow paths' markers
    may come in another order on a call that learns).
    """
    python = lambda name: getattr(type(log), name).__wrapped__.__get__(log)  # noqa: E731
    call(python)
    call(python)
    assert nglogger.flush(10)
    sink.clear()
    call(lambda name: getattr(log, name))  # the C method, bound
    call(python)
    call(lambda name: getattr(log, name))
    assert nglogger.flush(10)
    lines = [TIMESTAMP.sub(b"T", line, count=1) for line in sink.lines()]
    assert len(lines) == 3, lines
    assert lines[0] == lines[1], (lines[0], lines[1])
    assert lines[1] == lines[2], (lines[1], lines[2])


@needs_c
@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(call=CALL, bound=CONTEXT, cvars=CONTEXT)
def test_c_and_python_write_the_same_bytes(
    sink: MemorySink,
    request: pytest.FixtureRequest,
    call: tuple[str, Any, list[str], dict[str, Any]],
    bound: dict[str, Any],
    cvars: dict[str, Any],
) -> None:
    level, message, args, fields = call
    log = nglogger.get_logger("diff").bind(**bound)
    if isinstance(message, str) and args:
        message += " %s" * len(args)
    nglogger.clear_contextvars()
    nglogger.bind_contextvars(**cvars)
    span = contextlib.nullcontext()
    if request.node.callspec.params["sink"] == "trace":  # the active span's ids are added
        span = TRACER.start_as_current_span("diff")
    try:
        with span:
            both(sink, log, lambda method: method(level)(message, *args, **fields))
    finally:
        nglogger.clear_contextvars()


@needs_c
def test_the_common_cases_take_the_c_path(sink: MemorySink, request: pytest.FixtureRequest) -> None:
    """Plain calls make no Python call at all; they still reach the sink.

    (With max_field_length 64, an event with a nested value longer than that gets the
    long-string check, as in the Python method.)
    """
    log = nglogger.get_logger("c").bind(request_id="r-1")
    calls = [
        lambda: log.info("message only"),
        # (names no schema reserves: a schema used by another test may reserve "status")
        lambda: log.info("request", verb="GET", route="/", code=200, ms=1.5, ok=True),
        lambda: log.warning("nested", account={"id": 42, "name": "bob"}, labels=["a", "b"]),
    ]
    for call in calls:
        call()
        call()  # the names are learned now
    counted: list[str] = []

    def profile(frame: Any, event: str, _arg: object) -> None:
        if event == "call":
            counted.append(frame.f_code.co_name)

    for call in calls:
        sys.setprofile(profile)
        try:
            call()
        finally:
            sys.setprofile(None)
    expected = ["<lambda>"] * len(calls)  # each lambda itself, nothing more
    setup = request.node.callspec.params["sink"]
    if setup == "small-limits":
        expected = [*expected, "check"]  # the nested call's event is longer than 64
    elif setup == "trace":
        expected = ["<lambda>", "add_ids"] * len(calls)  # the span ids' lookup, in Python
    assert counted == expected, counted
    assert nglogger.flush(10)
    assert len(sink.lines()) == 9


@needs_c
def test_a_secret_inside_a_nested_value_is_redacted_by_both(sink: MemorySink) -> None:
    log = nglogger.get_logger("secret")
    value = {"user": {"id": 1, "password": "hunter2"}, "items": [{"token": "t"}]}
    both(sink, log, lambda method: method("info")("login", data=value))
    assert b"hunter2" not in b"".join(sink.lines())
    assert b'"t"' not in b"".join(sink.lines())


@needs_c
def test_non_finite_floats_and_refused_values_agree(sink: MemorySink) -> None:
    log = nglogger.get_logger("odd")
    both(sink, log, lambda method: method("info")("m", x=math.nan, y=[math.inf], z=b"\xff"))
    both(sink, log, lambda method: method("info")("m", big=2**80, obj=Custom()))


@needs_c
def test_a_configured_processor_hands_calls_to_python() -> None:
    memory = MemorySink(name="memory")

    def tag(event: dict[str, Any]) -> dict[str, Any]:
        return {**event, "tagged": True}

    nglogger.configure(nglogger.Config(sinks=(memory,), processors=(tag,)))
    try:
        nglogger.get_logger("p").info("m", a=1)
        assert nglogger.flush(10)
        (event,) = [orjson.loads(line) for line in memory.lines()]
        assert (event["message"], event["tagged"]) == ("m", True)
    finally:
        nglogger.shutdown(5)


@needs_c
def test_the_storm_guard_applies_to_the_c_path() -> None:
    """storm_limit: the C call asks the guard (and nothing else in Python); over the rate,
    calls end there, counted."""
    memory = MemorySink(name="memory")
    nglogger.configure(nglogger.Config(sinks=(memory,), storm_limit="5/s", trace_context=False))
    try:
        pipeline = nglogger.get_pipeline()
        log = nglogger.get_logger("storm")
        log.info("warm", n=0)  # the name is learned
        counted: list[str] = []

        def profile(frame: Any, event: str, _arg: object) -> None:
            if event == "call":
                counted.append(frame.f_code.co_name)

        sys.setprofile(profile)
        try:
            for i in range(20):
                log.info("flood", n=i)
        finally:
            sys.setprofile(None)
        assert "method" not in counted  # never the Python method
        # The guard's own call: for the site's first call (it learns the site) and for the
        # 15 over the limit (it counts them); the 4 between, under the limit, are counted
        # by the C call itself (the guard's common case, inline).
        assert counted.count("__call__") == 1 + 15, counted
        assert pipeline.stats().dropped.get("storm_suppressed") == 20 - 5  # 5/s per site
        assert nglogger.flush(10)
        floods = [e for e in map(orjson.loads, memory.lines()) if e["message"] == "flood"]
        assert [e["n"] for e in floods] == [0, 1, 2, 3, 4]
    finally:
        nglogger.shutdown(5)


@needs_c
def test_strict_mode_raises_from_the_c_path_too() -> None:
    memory = MemorySink(name="memory")
    nglogger.configure(nglogger.Config(sinks=(memory,), strict=True))
    try:
        pipeline = nglogger.get_pipeline()

        def broken(_data: bytes) -> bool:
            raise ValueError("scan broke")

        direct = pipeline.direct
        assert direct is not None
        assert direct[7] is not None
        consts = list(direct[7])
        consts[5] = broken  # scan_keys
        pipeline.direct = (*direct[:7], tuple(consts))  # type: ignore[assignment]
        log = nglogger.get_logger("s")
        log.info("m", value=1)  # the name is learned: the next call takes the C path
        with pytest.raises(ValueError, match="scan broke"):
            log.info("m", value={"password": 1, "x": 2, "y": 3, "z": 4, "w": 5, "v": 6})
    finally:
        nglogger.shutdown(5)


@needs_c
def test_an_exception_inside_the_c_path_is_counted_not_raised() -> None:
    memory = MemorySink(name="memory")
    nglogger.configure(nglogger.Config(sinks=(memory,)))
    try:
        pipeline = nglogger.get_pipeline()
        direct = pipeline.direct
        assert direct is not None
        assert direct[7] is not None

        def broken(_data: bytes) -> bool:
            raise ValueError("scan broke")

        consts = list(direct[7])
        consts[5] = broken
        pipeline.direct = (*direct[:7], tuple(consts))  # type: ignore[assignment]
        log = nglogger.get_logger("s")
        log.info("m", value=1)  # the name is learned: the next call takes the C path
        log.info("m", value={"k": {"password": 1}})  # nested: the scan runs, and raises
        assert pipeline.stats().dropped.get("encode_error") == 1
        pipeline.direct = direct
    finally:
        nglogger.shutdown(5)


@needs_c
def test_the_method_looks_like_the_python_one() -> None:
    info = nglogger.Logger.info
    assert info.__name__ == "info"
    assert info.__qualname__ == "Logger.info"
    assert "INFO" in (info.__doc__ or "")
    assert callable(info.__wrapped__)
    assert nglogger.Logger.warn is nglogger.Logger.warning
    log = nglogger.get_logger("x")
    assert log.info.__self__ is log  # a bound method, as a Python one is


# -- the secret-key scan without Hyperscan ----------------------------------------------

KEY_ALPHABET = 'aApiIkKeEysStTn_-. "\\:\u212a\u00e9'


@needs_c
@settings(max_examples=400, deadline=None)
@given(
    names=st.lists(st.text(alphabet="aApiIkKeEysStTn_-. ", min_size=1, max_size=10), max_size=4),
    data=st.one_of(
        st.binary(max_size=60),
        st.dictionaries(
            st.text(alphabet=KEY_ALPHABET, max_size=12),
            st.one_of(st.text(alphabet=KEY_ALPHABET, max_size=12), st.integers(0, 99)),
            max_size=4,
        ).map(lambda d: orjson.dumps({"outer": [d]})),
    ),
)
def test_the_c_key_scan_answers_as_the_regex(names: list[str], data: bytes) -> None:
    """Any ASCII names, any bytes (JSON or not): the C scan says what the regex says."""
    from nglogger._event import keyscan

    regex = keyscan.compile_secret_keys(names, "re")
    scan = keyscan.compile_secret_keys(names, "c")
    if regex is None:  # no name with a word
        assert scan is None
        return
    assert scan is not None
    assert scan(data) is regex(data), (names, data)


@needs_c
def test_the_c_key_scan_leaves_non_ascii_names_to_the_regex() -> None:
    from nglogger._event import keyscan

    assert keyscan.compile_secret_keys(["пароль"], "c") is None
    assert keyscan.compile_secret_keys(["пароль", "token"], "auto") is not None
