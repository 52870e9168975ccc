"""A log call walks user data once, in orjson: its Python work does not grow with the data.

The detector counts Python-level function calls (``call`` events of
``sys.setprofile`` on the calling thread) made by one log call. Time is noisy;
this count is exact, so the test cannot flake: a 100 B, a 10 KB and a 100 KB
nested field must cost the same number of calls, and so must a 10,000-element
list. A planted mutant (a Python walk of the call's values, as the first
release had) makes the counts differ.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nglogger
from nglogger._core.levels import INFO
from nglogger._event import keyscan as _keyscan
from nglogger._event import logger as _logger
from nglogger._event.fields import FieldPrep
from nglogger._event.redact import DEFAULT_REDACT_KEYS, MARK
from nglogger._pipeline.buffer import FAST_MAX_BYTES
from nglogger.sinks import MemorySink, NullSink


def nested(n: int) -> dict[str, Any]:
    """About ``n`` x 110 bytes of JSON: ``n`` small dicts (the before-stop hook's shape)."""
    return {f"k{i}": {"v": "x" * 90, "n": [1, 2, 3]} for i in range(n)}


#: ~100 B, ~10 KB, ~100 KB and ~200 KB of nested JSON (within max_event_bytes).
SIZES = {"100B": nested(1), "10KB": nested(90), "100KB": nested(900), "200KB": nested(1800)}


#: Refreshing the cached timestamp prefix once a millisecond: depends on the clock, not the data.
CLOCK = {"refresh_milli", "_milli_entry"}


def python_calls(call: Callable[[], object]) -> int:
    """The number of Python functions entered while ``call()`` runs (this thread).

    The timestamp cache's refresh (once per millisecond, whatever is logged) is
    left out so that the count depends only on what is logged.
    """
    names: list[str] = []

    def profile(frame: FrameType, event: str, _arg: object) -> None:
        if event == "call":
            names.append(frame.f_code.co_name)

    sys.setprofile(profile)
    try:
        call()
    finally:
        sys.setprofile(None)
    return sum(1 for name in names[1:] if name not in CLOCK)  # names[0]: ``call`` itself


#: The log calls of this install: the pure-Python method always, and the C accelerator's
#: (nglogger/_speedups.c) when it is built.
ACCELERATORS = ["python"] + (["c"] if _logger.ACCELERATOR == "c" else [])
_METHODS = ("debug", "info", "warning", "error", "critical", "warn", "fatal", "_error")


def use_python_methods(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``Logger``'s level methods the pure-Python ones for this test."""
    for name in _METHODS:
        method = getattr(_logger.Logger, name)
        monkeypatch.setattr(_logger.Logger, name, getattr(method, "__wrapped__", method))


@pytest.fixture(params=ACCELERATORS)
def null_pipeline(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The default pipeline with every default limit and redaction, writing nowhere.

    Run once with each log call of this install (the value: "python" or "c").
    """
    if request.param == "python":
        use_python_methods(monkeypatch)
    nglogger.configure(sinks=[NullSink()])
    yield request.param
    nglogger.shutdown(5)


@pytest.fixture
def python_pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """``null_pipeline`` with the pure-Python log call: where a planted Python walk shows.

    (The C log call reads the names memo itself: a walk planted in Python cannot reach
    it, and it looks at each top-level value once, as the Python method does; the
    differential tests in tests/test_speedups.py hold it to the Python method's bytes.)
    """
    use_python_methods(monkeypatch)
    nglogger.configure(sinks=[NullSink()])
    yield "python"
    nglogger.shutdown(5)


def calls_for(log_call: Callable[[], object]) -> int:
    """Python calls of one ``log_call()``, after a warm-up call and with an empty buffer."""
    log_call()  # warm the name memo and the caches: the call's names are learned here,
    log_call()  # and the names of its small dicts here (once a scan found no secret)
    assert nglogger.flush(5)
    return python_calls(log_call)


def assert_flat(counts: dict[str, int], accelerator: str = "python") -> None:
    """Python calls per call do not grow with the data: a walk would add one per item.

    Sizes cross a few thresholds (at 4 KiB the key count gives way to the scan and the
    hand-off takes the lock, at 64 KiB the long-string check runs): at most ``STEPS``
    calls between the smallest and the largest, and none at all between two sizes past
    every threshold (100 KB and 200 KB). A Python walk of a 10 KB value adds hundreds.
    """
    values = list(counts.values())
    assert max(values) - min(values) <= STEPS[accelerator], counts
    if "100KB" in counts and "200KB" in counts:
        assert counts["100KB"] == counts["200KB"], counts


#: Constant steps the hot path may take as an event grows past its size thresholds: the
#: scan instead of the key count past 4 KiB (1 call) and the long-string check past
#: max_field_length (1 call). An event over 4 KiB takes the buffer's lock instead of the
#: inbox with the same Python calls; the C log call appends a small event to the inbox
#: itself (no call) and calls the buffer's appender for a larger one (1 call more).
STEPS = {"python": 2, "c": 3}


def test_calls_per_log_call_do_not_grow_with_a_nested_field(null_pipeline: str) -> None:
    """One log call costs the same Python calls for a 100 B ... 200 KB nested field."""
    log = nglogger.get_logger("gate")
    counts = {
        label: calls_for(lambda value=value: log.info("m", request_id="r-1", payload=value))
        for label, value in SIZES.items()
    }
    assert len(orjson.dumps(SIZES["100KB"])) > 64 * 1024  # past max_field_length: the long check
    assert FAST_MAX_BYTES < len(orjson.dumps(SIZES["100KB"]))
    assert_flat(counts, null_pipeline)


def test_calls_do_not_grow_with_a_long_list_or_many_nested_fields(null_pipeline: str) -> None:
    """A 10 element list and a 10,000 element list cost the same; so do 2 and 2 x 10 KB dicts."""
    log = nglogger.get_logger("gate")
    assert_flat(
        {
            "short": calls_for(lambda: log.info("m", tags=list(range(10)))),
            "long": calls_for(lambda: log.info("m", tags=list(range(10_000)))),
            "longer": calls_for(lambda: log.info("m", tags=list(range(30_000)))),
        },
        null_pipeline,
    )
    assert_flat(
        {
            "small": calls_for(lambda: log.info("m", a=nested(1), b=nested(1))),
            "large": calls_for(lambda: log.info("m", a=nested(90), b=nested(90))),
        },
        null_pipeline,
    )


def test_calls_do_not_grow_with_stdlib_extras(null_pipeline: str) -> None:
    """A stdlib record's nested ``extra`` gets the same treatment as a native call's fields."""
    logger = logging.getLogger("gate.stdlib")
    handler = nglogger.LoggingHandler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        counts = {
            label: calls_for(lambda value=value: logger.warning("m %s", 1, extra={"p": value}))
            for label, value in SIZES.items()
        }
    finally:
        logger.removeHandler(handler)
    assert_flat(counts, null_pipeline)


def test_calls_do_not_grow_with_bound_context(null_pipeline: str) -> None:
    """A logger bound to 10 KB of context logs with the calls of one bound to 100 B."""
    small = nglogger.get_logger("gate").bind(ctx=SIZES["100B"])
    large = nglogger.get_logger("gate").bind(ctx=SIZES["10KB"])
    assert_flat(
        {
            "small": calls_for(lambda: small.info("m", tags=["a"])),
            "large": calls_for(lambda: large.info("m", tags=["a"])),
        },
        null_pipeline,
    )


def test_a_memory_limit_without_pressure_costs_nothing_and_a_shed_call_is_a_disabled_one() -> None:
    """memory_limit in force, RSS below it: the calls of no limit; a shed DEBUG call: none."""
    log = nglogger.get_logger("gate.memory")
    counts = {}
    for label, limit in (("off", None), ("limit", "64GiB")):
        nglogger.configure(sinks=[NullSink()], memory_limit=limit, level="debug")
        counts[label] = calls_for(lambda: log.info("m", request_id="r-1", payload=SIZES["100B"]))
        counts[f"{label} debug"] = calls_for(lambda: log.debug("m", request_id="r-1"))
        nglogger.shutdown(5)
    assert counts["off"] == counts["limit"], counts
    assert counts["off debug"] == counts["limit debug"], counts
    nglogger.configure(sinks=[NullSink()], memory_limit=None, level="info")
    try:
        disabled = python_calls(lambda: log.debug("m", request_id="r-1"))
        _logger.shed(1, INFO)  # what the memory guard does above the limit: DEBUG shed
        try:
            shed = python_calls(lambda: log.debug("m", request_id="r-1"))
        finally:
            _logger.shed(1, 0)
    finally:
        nglogger.shutdown(5)
    assert shed == disabled <= 1, (shed, disabled)  # the log method itself at most


def walk(value: object) -> None:
    """The mutant's work: a Python visit of every container, as the first release's NaN count."""
    if isinstance(value, dict):
        for item in value.values():
            walk(item)
    elif isinstance(value, list):
        for item in value:
            walk(item)


def test_planted_python_walk_is_caught(
    python_pipeline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: the first release's walk of the call's values makes 10 KB cost more than 100 B."""
    pipeline = nglogger.get_pipeline()
    real = pipeline.known_plain

    def walking_check(fields: dict[str, Any]) -> bool:
        for value in fields.values():  # the redactor's walk of every call value
            walk(value)
        return real(fields)

    monkeypatch.setattr(pipeline, "known_plain", walking_check)
    log = nglogger.get_logger("gate")
    small = calls_for(lambda: log.info("m", payload=SIZES["100B"]))
    large = calls_for(lambda: log.info("m", payload=SIZES["10KB"]))
    assert large > small + 100, (small, large)


def test_planted_walk_on_the_slow_path_is_caught(
    null_pipeline: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planted: a walk in FieldPrep (the path of stdlib extras) is caught the same way."""
    real = FieldPrep.value_bytes

    def walking(self: FieldPrep, key: object, value: object, notes: list[str]) -> bytes:
        walk(value)
        return real(self, key, value, notes)

    monkeypatch.setattr(FieldPrep, "value_bytes", walking)
    logger = logging.getLogger("gate.planted")
    handler = nglogger.LoggingHandler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        small = calls_for(lambda: logger.warning("m", extra={"p": SIZES["100B"]}))
        large = calls_for(lambda: logger.warning("m", extra={"p": SIZES["10KB"]}))
    finally:
        logger.removeHandler(handler)
    assert large > small + 100, (small, large)


def test_holds_cost_nothing_once_over_and_a_call_outside_one_stays_cheap() -> None:
    """After hold mode ends, the calls of before any hold; in it, a disabled call outside a
    hold costs the method and the gate only, and is not counted as a loss."""
    from support.waiting import require

    nglogger.configure(sinks=[NullSink()], level="info", flush_interval=0.05)
    try:
        log = nglogger.get_logger("gate.hold")
        pipeline = nglogger.get_pipeline()
        enabled = lambda: log.info("m", request_id="r-1", payload=SIZES["100B"])  # noqa: E731
        disabled = lambda: log.debug("m", request_id="r-1")  # noqa: E731
        before = (calls_for(enabled), python_calls(disabled))
        with nglogger.hold():
            pass
        assert pipeline.storm is not None  # hold mode lasts a tick or two
        assert python_calls(disabled) <= before[1] + 2  # the Python method, the gate
        require(lambda: pipeline.storm is None, timeout=10)  # the batcher's tick ended it
        assert (calls_for(enabled), python_calls(disabled)) == before
        assert nglogger.stats().dropped == {}
    finally:
        nglogger.shutdown(5)


# -- the byte checks decide exactly what the walk would -----------------------------------

KEYS = [
    ("password", True),
    ("DB_PASSWORD", True),
    ("x-api-key", True),
    ("X-Api-Key", True),
    ("apiKey", True),
    ("API.KEY", True),
    ("api key", True),
    ("api_key_", True),
    ("client_secret", True),
    ("access_token", True),
    ("Authorization", True),
    ("set-cookie", True),
    ("sessionId", True),
    ("private_key", True),
    ("credit_card_number", True),
    ("TO\u212aEN", True),  # KELVIN SIGN: lower-cases to "k"
    ("token_count", False),
    ("tokens", False),
    ("apikeyring", False),
    ("secretary", False),
    ("user", False),
    ("message", False),
]


@pytest.mark.parametrize("engine", ["hyperscan", "c", "re"])
@pytest.mark.parametrize(("key", "secret"), KEYS)
def test_engines_find_exactly_the_secret_keys(engine: str, key: str, secret: bool) -> None:
    """The scan engines and the name rule agree on a table of keys, at any depth."""
    scan = _keyscan.compile_secret_keys(DEFAULT_REDACT_KEYS, engine)
    if scan is None:
        pytest.skip(f"the {engine} engine is not installed here")
    assert _keyscan.secret_name(DEFAULT_REDACT_KEYS)(key) is secret
    assert scan(orjson.dumps({"a": [{"b": {key: 1}}]})) is secret
    assert scan(orjson.dumps({"a": [key, f"{key}:", {"v": f'{key}":'}]})) is False  # values


@settings(max_examples=300, deadline=None)
@given(key=st.text(alphabet=st.sampled_from('aAbcdeikKnoprstwyvP-_. \u212a"\\:é'), max_size=16))
@pytest.mark.slow
def test_engines_agree_with_the_name_rule_on_any_key(key: str) -> None:
    """For any key, a scan of its JSON says secret exactly when the name rule does."""
    rule = _keyscan.secret_name(DEFAULT_REDACT_KEYS)(key)
    data = orjson.dumps({"outer": [{key: "v"}]})
    for engine in ("hyperscan", "c", "re"):
        scan = _keyscan.compile_secret_keys(DEFAULT_REDACT_KEYS, engine)
        if scan is not None:
            assert scan(data) is rule, (engine, key)


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(
        st.text(alphabet=st.sampled_from('ab"\\\n\u00e9\u20ac'), max_size=40), max_size=6
    ),
    limit=st.integers(min_value=1, max_value=30),
)
def test_long_string_check_never_misses_one(texts: list[str], limit: int) -> None:
    """Any string longer than the limit, escaped or not, nested or not, is found in the bytes."""
    value = {"list": texts, "n": list(range(limit * 3)), "d": dict.fromkeys(texts, 1)}
    longest = max([len(t) for t in texts] or [0])
    found = _keyscan.has_long_string(orjson.dumps(value), limit)
    if longest > limit:
        assert found


def test_long_runs_outside_strings_are_not_long_strings() -> None:
    """A long list of numbers is no long string; a long string after it is."""
    numbers = orjson.dumps({"a": "x", "n": list(range(10_000))})
    assert not _keyscan.has_long_string(numbers, 1000)
    assert _keyscan.has_long_string(
        orjson.dumps({"a": "x", "n": list(range(10_000)), "s": "y" * 1001}), 1000
    )


def test_a_secret_deep_in_a_large_value_is_redacted_and_the_rest_kept() -> None:
    """A secret key 20 levels down in 100 KB of data is redacted; nothing else changes."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink])
    deep: dict[str, Any] = {"token": "t0p-s3cret", "keep": 1}
    for i in range(20):
        deep = {f"level{i}": deep, "n": i}
    payload = {**SIZES["100KB"], "deep": deep}
    nglogger.get_logger("gate").info("m", payload=payload)
    assert nglogger.flush(5)
    event = sink.events()[0]
    inner = event["payload"]["deep"]
    for i in reversed(range(20)):
        inner = inner[f"level{i}"]
    assert inner == {"token": MARK, "keep": 1}
    assert event["payload"]["k0"] == SIZES["100KB"]["k0"]
    assert b"t0p-s3cret" not in b"".join(sink.lines())
    assert nglogger.stats().fallbacks == {"redacted": 1}


def test_oversize_event_keeps_its_small_fields() -> None:
    """A 1,000,000-int list makes the event oversize: it is cut, request_id and seq stay."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink])
    nglogger.get_logger("gate").info("m", request_id="r-7", seq=3, items=list(range(1_000_000)))
    assert nglogger.flush(5)
    event = sink.events()[0]
    assert event["request_id"] == "r-7"
    assert event["seq"] == 3
    assert event["items"].startswith("<list of ")
    assert event["items"].endswith(" bytes: over max_event_bytes>")
    assert event["nglogger_truncated"]["fields_dropped"] == ["items"]
    assert len(sink.lines()[0]) < 2048
    assert nglogger.stats().fallbacks == {"truncated_event": 1}


@settings(max_examples=300, deadline=None)
@given(
    names=st.lists(
        st.sampled_from(
            [
                "api_key",
                "sessionId",
                "contrase\u00f1a",
                "\u017fecret",  # LATIN SMALL LETTER LONG S: upper-cases to "S"
                "mot de passe",
                "\u041a\u043b\u044e\u0447",  # Cyrillic: no ASCII word, no pre-filter
                "cvv",
                "x",
            ]
        ),
        min_size=1,
        max_size=4,
    ),
    key=st.text(
        alphabet=st.sampled_from(
            'aApiIkKeEysScn\u00f1trvxX\u00e9\u041a\u043b\u044e\u0447\u017f_-. \u212a"'
        ),
        max_size=14,
    ),
)
def test_the_pre_filtered_regex_agrees_with_the_rule_for_any_names(
    names: list[str], key: str
) -> None:
    """The regex engine's literal pre-filter never hides a key the name rule calls secret."""
    rule = _keyscan.secret_name(names)(key)
    scan = _keyscan.compile_secret_keys(names, "re")
    assert scan is not None
    assert scan(orjson.dumps({"outer": [{key: "v"}], "ascii": "plain"})) is rule, (names, key)
