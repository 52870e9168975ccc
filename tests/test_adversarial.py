"""Adversarial input through the real API: loggers, bind, contextvars and the stdlib handler.

Every test drives a configured pipeline (``MemorySink``, level debug) and checks the same four
things: the log call never raises, every recorded event is one line of valid JSON (no raw control
byte in it), the serializable part of the event is kept, and ``nglogger.stats()`` counts what was
done (``fallbacks`` for substitutions, ``dropped`` for events lost). The encoder's own table lives in
``test_encode.py``; here the same inputs arrive through every entry point. Known bugs are pinned
with ``xfail(strict=True)`` tests whose reason starts with ``bug:``.
"""

from __future__ import annotations

import datetime
import enum
import gc
import logging
import math
import os
import re
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import nglogger
from nglogger._event.encode import FALLBACK_KEY, RESERVED
from nglogger._event.keyscan import words
from nglogger._event.redact import DEFAULT_REDACT_KEYS, MARK
from nglogger.sinks import MemorySink
from nglogger.sinks._console import ConsoleStyle, render_batch

MiB = 1024 * 1024
DEFAULTS = nglogger.Config()
MAX_FIELD = DEFAULTS.max_field_length
MAX_REPR = DEFAULTS.max_repr_length
MAX_DEPTH = DEFAULTS.max_depth
MAX_TRACEBACK = DEFAULTS.max_traceback_bytes
I64_MIN = -(2**63)
U64_MAX = 2**64 - 1
STDLIB_NAME = "nglogger.adversarial"
#: Bytes JSON forbids raw inside a string; orjson escapes them, so none may appear in a line.
RAW_CONTROL = re.compile(rb"[\x00-\x1f]")
#: Characters the console renderer must never emit raw (besides LF between lines and its SGR).
CONSOLE_UNSAFE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")
OWN_SGR = re.compile(r"\x1b\[[0-9;]*m")
#: CR, LF, ESC, NUL, an OSC title sequence, a CSI colour, NEL, DEL and the Unicode separators.
CONTROL = "a\rb\nc\x1b]0;pwned\x07d\x00e\x1b[31mf\x85g\x7fh\u2028i\u2029j\u202ek"


# ------------------------------------------------------------------------------- helpers


@dataclass
class Logged:
    """What one action left behind: its NDJSON lines, parsed events and counter deltas."""

    lines: list[bytes]
    events: list[dict[str, Any]]
    fallbacks: dict[str, int]
    dropped: dict[str, int]
    seconds: float

    @property
    def event(self) -> dict[str, Any]:
        """The single event the action logged."""
        assert len(self.events) == 1, self.lines
        return self.events[0]


def _delta(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def parse_line(line: bytes) -> dict[str, Any]:
    """One recorded event: no raw control byte (JSON escapes them all), a JSON object."""
    assert RAW_CONTROL.search(line) is None, line[:200]
    event = orjson.loads(line)
    assert type(event) is dict
    return event


def detach_pytest_handlers() -> None:
    """Remove pytest's capture handlers from loggers that feed nglogger.

    pytest attaches its own handlers to non-propagating loggers for each test call; they format
    records themselves (and fail the test on a bad %-format), so they are not what is tested here.
    """
    for logger in logging.root.manager.loggerDict.values():
        if not isinstance(logger, logging.Logger):
            continue
        if any(isinstance(h, nglogger.LoggingHandler) for h in logger.handlers):
            for handler in list(logger.handlers):
                if type(handler).__module__.startswith("_pytest."):
                    logger.removeHandler(handler)


def logged(sink: MemorySink, action: Callable[[], object], expected: int = 1) -> Logged:
    """Run ``action`` (which must not raise), flush, and return what reached ``sink``."""
    detach_pytest_handlers()
    before = nglogger.stats()
    start = sink.received
    began = time.perf_counter()
    action()
    seconds = time.perf_counter() - began
    assert nglogger.flush(timeout=10.0)
    after = nglogger.stats()
    lines = sink.lines()[start:]
    # MemorySink splits batches on LF: a raw newline inside an event would add a line.
    assert sink.received - start == len(lines) == expected, lines[:3]
    return Logged(
        lines,
        [parse_line(line) for line in lines],
        _delta(before.fallbacks, after.fallbacks),
        _delta(before.dropped, after.dropped),
        seconds,
    )


def nested_lists(depth: int) -> Any:
    """``depth`` lists, one inside the other, around a string."""
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    return value


def nested_dicts(depth: int) -> Any:
    """``depth`` dicts, one inside the other, around a string."""
    value: Any = "leaf"
    for _ in range(depth):
        value = {"k": value}
    return value


def levels(value: Any) -> tuple[int, Any]:
    """How many containers deep the first path goes, and what is at its end."""
    count = 0
    while isinstance(value, (list, dict)):
        value = value[0] if isinstance(value, list) else next(iter(value.values()))
        count += 1
    return count, value


def escaped(text: str) -> str:
    """A string as the encoder keeps it: lone surrogates become backslash escapes."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def has_surrogate(text: str) -> bool:
    """True if ``text`` cannot be encoded as UTF-8 (it holds a lone surrogate)."""
    return any(0xD800 <= ord(ch) <= 0xDFFF for ch in text)


_SECRET_WORDS = tuple({words(name) for name in DEFAULT_REDACT_KEYS})
_SEPARATORS = "-_. "


def _ends_with_words(key: str, name: tuple[str, ...]) -> bool:
    """Does ``key`` end with ``name``'s words in order, separators between and after?"""
    rest = key.lower().rstrip(_SEPARATORS)
    for word in reversed(name):
        if not rest.endswith(word):
            return False
        rest = rest[: len(rest) - len(word)].rstrip(_SEPARATORS)
    return True


def is_secret(name: object) -> bool:
    """The documented redaction rule for string field names (default key list), spelled out."""
    if not isinstance(name, str):
        return False
    return any(_ends_with_words(name, words) for words in _SECRET_WORDS)


@contextmanager
def traced() -> Iterator[Callable[[], tuple[int, int]]]:
    """tracemalloc on for the block; yields ``() -> (current, peak)`` relative to the start."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]

        def measure() -> tuple[int, int]:
            current, peak = tracemalloc.get_traced_memory()
            return current - base, peak - base

        yield measure
    finally:
        tracemalloc.stop()


class Color(enum.Enum):
    RED = "red"


class Secret(enum.Enum):
    PASSWORD = "password"


class Opaque:
    """No JSON form; a plain repr."""

    def __repr__(self) -> str:
        return "Opaque()"


class BrokenRepr:
    """repr() raises."""

    def __repr__(self) -> str:
        raise ValueError("repr is broken")


class RecursiveRepr:
    """repr() recurses until RecursionError."""

    def __repr__(self) -> str:
        return repr(self)


class BrokenStr:
    """str() raises, repr() works."""

    def __str__(self) -> str:
        raise ValueError("str is broken")

    def __repr__(self) -> str:
        return "BrokenStr()"


class SlowRepr:
    """repr() burns 50 ms of CPU and returns 5,000 characters; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __repr__(self) -> str:
        self.calls += 1
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:
            pass
        return "S" * 5000


class HugeRepr:
    """repr() returns 10 MB."""

    def __repr__(self) -> str:
        return "H" * (10 * MiB)


class HugeStr:
    """str() returns 10 MB."""

    def __str__(self) -> str:
        return "H" * (10 * MiB)


class BrokenStrError(Exception):
    """An exception whose str() raises."""

    def __str__(self) -> str:
        raise RuntimeError("no message for you")


class HugeError(Exception):
    """An exception whose str() is 10 MB."""

    def __str__(self) -> str:
        return "E" * (10 * MiB)


# ------------------------------------------------------------------------------ fixtures


@pytest.fixture
def std_logger() -> Iterator[logging.Logger]:
    """A stdlib logger with nglogger's LoggingHandler, isolated from the root logger."""
    logger = logging.getLogger(STDLIB_NAME)
    handler = nglogger.LoggingHandler()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    yield logger
    logger.removeHandler(handler)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True


ROUTES = ("call", "bind", "contextvars", "extra")


def make_route(name: str, std: logging.Logger) -> Callable[[dict[str, Any]], None]:
    """A function logging message "m" with ``fields`` through one entry point."""
    log = nglogger.get_logger("adversarial")

    def call(fields: dict[str, Any]) -> None:
        log.info("m", **fields)

    def bind(fields: dict[str, Any]) -> None:
        log.bind(**fields).info("m")

    def contextvars(fields: dict[str, Any]) -> None:
        with nglogger.bound_contextvars(**fields):
            log.info("m")

    def extra(fields: dict[str, Any]) -> None:
        std.info("m", extra=fields)

    return {"call": call, "bind": bind, "contextvars": contextvars, "extra": extra}[name]


@pytest.fixture(params=ROUTES)
def route(
    request: pytest.FixtureRequest, capture: MemorySink, std_logger: logging.Logger
) -> Callable[[dict[str, Any]], None]:
    """Each entry point in turn: call fields, bind, contextvars, stdlib ``extra``."""
    return make_route(request.param, std_logger)


# ------------------------------------------------------------ non-serializable objects


@pytest.mark.parametrize(
    ("value", "expected", "counter"),
    [
        (Opaque(), "<unserializable test_adversarial.Opaque: Opaque()>", "repr"),
        (
            BrokenRepr(),
            "<unserializable test_adversarial.BrokenRepr: repr() raised ValueError>",
            "repr_error",
        ),
        (
            RecursiveRepr(),
            "<unserializable test_adversarial.RecursiveRepr: repr() raised RecursionError>",
            "repr_error",
        ),
        (BrokenStr(), "<unserializable test_adversarial.BrokenStr: BrokenStr()>", "repr"),
    ],
    ids=["opaque", "repr-raises", "repr-recurses", "str-raises"],
)
def test_unserializable_values_become_counted_stand_ins(
    capture: MemorySink,
    route: Callable[[dict[str, Any]], None],
    value: Any,
    expected: str,
    counter: str,
) -> None:
    """An object orjson cannot take becomes its bounded repr (or a marker if repr raises), counted."""
    out = logged(capture, lambda: route({"obj": value, "keep": "ok", "n": 1}))
    assert out.event["obj"] == expected
    assert (out.event["keep"], out.event["n"], out.event["message"]) == ("ok", 1, "m")
    assert out.fallbacks == {counter: 1}
    assert out.dropped == {}


def test_unserializable_values_nested_in_containers(capture: MemorySink) -> None:
    """Stand-ins replace only the offending leaves; the containers around them are kept."""
    lock = threading.Lock()
    value = {"list": [1, Opaque(), "x"], "deep": {"gen": (i for i in range(3)), "lock": lock}}
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info("m", v=value))
    v = out.event["v"]
    assert v["list"][0::2] == [1, "x"]
    assert v["list"][1] == "<unserializable test_adversarial.Opaque: Opaque()>"
    assert v["deep"]["gen"].startswith("<unserializable generator: <generator object")
    assert v["deep"]["lock"].startswith("<unserializable _thread.lock: <unlocked _thread.lock")
    assert out.fallbacks == {"repr": 3}


def test_slow_repr_completes_and_is_bounded(capture: MemorySink) -> None:
    """A repr that takes 50 ms is called once; the call completes and the text is cut to max_repr_length."""
    log = nglogger.get_logger("adversarial")
    slow = SlowRepr()
    out = logged(capture, lambda: log.info("m", slow=slow, keep=1))
    assert slow.calls == 1
    text = out.event["slow"]
    assert text.startswith("<unserializable test_adversarial.SlowRepr: " + "S" * 100)
    assert text.endswith(f"...[truncated {5000 - MAX_REPR} chars]>")
    assert len(text) < MAX_REPR + 100
    assert out.event["keep"] == 1
    assert out.fallbacks == {"repr": 1}
    assert out.seconds < 2.0  # one 50 ms repr, not a retry loop


def test_huge_repr_is_cut_to_max_repr_length(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """A 10 MB repr ends up as max_repr_length characters plus a marker, whatever the entry point."""
    out = logged(capture, lambda: route({"huge": HugeRepr(), "keep": "ok"}))
    text = out.event["huge"]
    assert text.endswith(f"...[truncated {10 * MiB - MAX_REPR} chars]>")
    assert len(text) < MAX_REPR + 100
    assert len(out.lines[0]) < MAX_REPR + 400
    assert out.event["keep"] == "ok"
    assert out.fallbacks == {"repr": 1}


def test_huge_str_message_is_truncated(capture: MemorySink) -> None:
    """A message object whose str() is 10 MB is cut to max_field_length and counted."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info(HugeStr(), keep="ok"))
    kept = MAX_FIELD - 40  # the marker fits within max_field_length
    assert out.event["message"] == "H" * kept + f"...[truncated {10 * MiB - kept} chars]"
    assert out.event["keep"] == "ok"
    assert out.fallbacks == {"truncated": 1}
    assert out.event[FALLBACK_KEY] == ["truncated"]


def test_message_whose_str_raises_is_replaced(capture: MemorySink) -> None:
    """A message object whose str() raises becomes a marker; the fields are kept."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info(BrokenStr(), keep="ok"))  # type: ignore[arg-type]
    assert out.event["message"] == "<unprintable BrokenStr message>"
    assert out.event["keep"] == "ok"
    assert out.dropped == {}


@pytest.mark.parametrize("where", ["message", "exception", "exception-field"])
def test_str_fallbacks_are_counted(capture: MemorySink, where: str) -> None:
    """A message or exception whose str() raises is replaced and the replacement is counted."""
    log = nglogger.get_logger("adversarial")

    def action() -> None:
        if where == "message":
            log.info(BrokenStr())  # type: ignore[arg-type]
        elif where == "exception":
            log.error("m", exc_info=BrokenStrError())
        else:
            log.info("m", err=BrokenStrError())

    out = logged(capture, action)
    assert out.fallbacks != {}


# --------------------------------------------------------------------------------- cycles


def _self_dict() -> dict[str, Any]:
    d: dict[str, Any] = {"name": "d"}
    d["self"] = d
    return d


def _self_list() -> list[Any]:
    items: list[Any] = [1]
    items.append(items)
    return items


def _mutual() -> dict[str, Any]:
    a: dict[str, Any] = {"name": "a"}
    b: list[Any] = ["b", a]
    a["b"] = b
    return a


@pytest.mark.parametrize(
    ("make", "expected", "cycles"),
    [
        (_self_dict, {"name": "d", "self": "<cycle>"}, 1),
        (_self_list, [1, "<cycle>"], 1),
        (_mutual, {"name": "a", "b": ["b", "<cycle>"]}, 1),
    ],
    ids=["self-dict", "self-list", "mutual"],
)
def test_cycles_become_markers(
    capture: MemorySink,
    route: Callable[[dict[str, Any]], None],
    make: Callable[[], Any],
    expected: Any,
    cycles: int,
) -> None:
    """Self- and mutually-referencing containers are kept up to the back-reference, marked "<cycle>"."""
    out = logged(capture, lambda: route({"v": make(), "keep": "ok"}))
    assert out.event["v"] == expected
    assert out.event["keep"] == "ok"
    assert out.fallbacks == {"cycle": cycles}


# -------------------------------------------------------------------------------- nesting


@pytest.mark.parametrize("depth", [254, 255, 10_000])
@pytest.mark.parametrize("make", [nested_lists, nested_dicts], ids=["lists", "dicts"])
def test_deep_nesting_is_cut_and_counted(
    capture: MemorySink,
    route: Callable[[dict[str, Any]], None],
    make: Callable[[int], Any],
    depth: int,
) -> None:
    """Nesting beyond what orjson accepts is cut at max_depth with a marker and counted "depth"."""
    out = logged(capture, lambda: route({"v": make(depth), "keep": "ok"}))
    assert out.event["keep"] == "ok"
    count, leaf = levels(out.event["v"])
    if leaf == "leaf":  # a bound value of 254 levels is still within orjson's limit
        assert count == depth == 254
        assert out.fallbacks == {}
    else:
        assert leaf == "<max depth exceeded>"
        assert MAX_DEPTH - 1 <= count <= MAX_DEPTH
        assert out.fallbacks == {"depth": 1}


def test_nesting_within_orjson_limit_is_kept_whole(capture: MemorySink) -> None:
    """Up to orjson's own limit the fast path keeps every level (max_depth applies on the slow path only)."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info("m", v=nested_lists(253)))
    assert levels(out.event["v"]) == (253, "leaf")
    assert out.fallbacks == {}


# ------------------------------------------------------------------------- non-str keys


def test_non_str_keys_become_strings(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """int, None, tuple, bytes, enum and datetime keys become their string form, each counted."""
    when = datetime.datetime(2020, 1, 2, 3, 4, 5)
    value = {1: "int", None: "none", (1, 2): "tuple", b"k": "bytes", Color.RED: "enum", when: "dt"}
    out = logged(capture, lambda: route({"v": value, "keep": "ok"}))
    assert out.event["v"] == {
        "1": "int",
        "null": "none",
        "<unserializable tuple: (1, 2)>": "tuple",
        "k": "bytes",
        "red": "enum",
        "2020-01-02T03:04:05": "dt",
    }
    assert out.event["keep"] == "ok"
    assert out.fallbacks == {"non_str_key": 6, "repr": 1}


def test_colliding_keys_are_all_kept(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """Keys whose string forms collide (1 and "1", None and "null") are all kept, later ones renamed."""
    value = {1: "int", "1": "str", None: "none", "null": "str-null", "1#2": "literal"}
    out = logged(capture, lambda: route({"v": value}))
    assert out.event["v"] == {
        "1": "int",
        "1#2": "str",
        "null": "none",
        "null#2": "str-null",
        "1#2#2": "literal",
    }
    assert out.fallbacks == {"non_str_key": 2, "key_collision": 3}


def test_non_str_keys_in_stdlib_extra(capture: MemorySink, std_logger: logging.Logger) -> None:
    """Non-str keys at the top level of stdlib ``extra`` become string fields, counted."""
    out = logged(capture, lambda: std_logger.info("m", extra={1: "int", "1": "str", None: "n"}))
    assert {k: out.event[k] for k in ("1", "1#2", "null")} == {
        "1": "int",
        "1#2": "str",
        "null": "n",
    }
    assert out.event["message"] == "m"
    assert out.fallbacks == {"non_str_key": 2, "key_collision": 1}


@pytest.mark.parametrize("key", [b"password", Secret.PASSWORD], ids=["bytes", "enum"])
def test_secret_named_non_str_keys_are_redacted(
    capture: MemorySink, route: Callable[[dict[str, Any]], None], key: object
) -> None:
    """A key that becomes a secret field name once stringified is redacted like the str key."""
    out = logged(capture, lambda: route({"v": {key: "hunter2"}}))
    assert b"hunter2" not in out.lines[0]
    assert out.event["v"] == {"password": MARK}


# ------------------------------------------------------------ surrogates and invalid UTF-8


def test_lone_surrogates_everywhere_are_escaped(capture: MemorySink) -> None:
    """Lone surrogates in message, logger name, keys and values become backslash escapes, counted."""
    log = nglogger.get_logger("log\udc80")
    out = logged(capture, lambda: log.info("msg\ud800", **{"key\udfff": "val\udc80", "keep": "ok"}))
    assert out.event["message"] == "msg\\ud800"
    assert out.event["logger"] == "log\\udc80"
    assert out.event["key\\udfff"] == "val\\udc80"
    assert out.event["keep"] == "ok"
    assert out.fallbacks == {"surrogate": 4}
    assert out.event[FALLBACK_KEY] == ["surrogate"]


def test_surrogates_through_every_route(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """A surrogateescape-decoded path (invalid UTF-8 from the OS) is kept as an escape, counted."""
    path = os.fsdecode(b"/tmp/\xff\xfe.log")
    out = logged(capture, lambda: route({"path": path, "nested": {"k\udc80": [path]}}))
    assert out.event["path"] == "/tmp/\\udcff\\udcfe.log"
    assert out.event["nested"] == {"k\\udc80": ["/tmp/\\udcff\\udcfe.log"]}
    assert out.fallbacks == {"surrogate": 3}


def test_surrogates_in_stdlib_records(capture: MemorySink) -> None:
    """Surrogates in a stdlib logger name, message and extra are escaped and counted."""
    std = logging.getLogger("std\udc80")
    handler = nglogger.LoggingHandler()
    std.addHandler(handler)
    std.setLevel(logging.DEBUG)
    std.propagate = False
    try:
        out = logged(capture, lambda: std.warning("m\udc80 %s", "a\ud800", extra={"k": "\udfff"}))
    finally:
        std.removeHandler(handler)
    assert (out.event["logger"], out.event["message"]) == ("std\\udc80", "m\\udc80 a\\ud800")
    assert out.event["k"] == "\\udfff"
    assert out.fallbacks == {"surrogate": 3}


def test_invalid_utf8_bytes_are_escaped(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """Bytes that are not UTF-8 are kept with their bad bytes backslash-escaped."""
    out = logged(capture, lambda: route({"raw": b"ok\xff\xfe", "nested": [b"\xc3\x28"]}))
    assert out.event["raw"] == "ok\\xff\\xfe"
    assert out.event["nested"] == ["\\xc3("]


def test_invalid_utf8_bytes_are_counted(capture: MemorySink) -> None:
    """Escaping invalid UTF-8 bytes is counted in stats().fallbacks."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info("m", raw=b"ok\xff"))
    assert out.fallbacks != {}


# --------------------------------------------------------------------- NaN and big numbers


def test_nan_and_infinities_become_null(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """NaN, +Inf and -Inf become null (valid JSON); finite floats beside them are kept exactly."""
    fields = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "f": 0.1, "nested": [math.nan]}
    out = logged(capture, lambda: route(fields))
    expected = {"nan": None, "inf": None, "ninf": None, "f": 0.1, "nested": [None]}
    assert {k: out.event[k] for k in fields} == expected
    assert b"NaN" not in out.lines[0]
    assert b"Infinity" not in out.lines[0]


def test_nan_and_infinities_are_counted(capture: MemorySink) -> None:
    """Replacing NaN and infinities by null is counted in stats().fallbacks."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info("m", nan=math.nan, inf=math.inf))
    assert out.fallbacks != {}


def test_integers_beyond_64_bits(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """64-bit integers stay numbers; wider ones become decimal strings, or a bit count past str's limit."""
    huge = 10**5000
    assert sys.int_info.default_max_str_digits < 5001  # str(huge) raises ValueError
    fields = {"u64": U64_MAX, "i64": I64_MIN, "over": 2**64, "under": I64_MIN - 1, "huge": huge}
    out = logged(capture, lambda: route(fields))
    event = out.event
    assert (event["u64"], event["i64"]) == (U64_MAX, I64_MIN)
    assert (event["over"], event["under"]) == (str(2**64), str(I64_MIN - 1))
    assert event["huge"] == f"<int of {huge.bit_length()} bits>"
    assert out.fallbacks == {"big_int": 3}


def test_integer_keys_beyond_64_bits(capture: MemorySink) -> None:
    """A key wider than 64 bits becomes its decimal string (or bit count), counted."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info("m", v={2**70: "a", -(10**5000): "b"}))
    assert out.event["v"] == {str(2**70): "a", f"<int of {(10**5000).bit_length()} bits>": "b"}
    assert out.fallbacks == {"non_str_key": 2, "big_int": 2}


# ------------------------------------------------------------------- huge strings and lists


@pytest.mark.parametrize("where", ["field", "message", "bind"])
def test_100_mib_string_is_truncated_and_not_retained(capture: MemorySink, where: str) -> None:
    """A 100 MiB string becomes a max_field_length prefix; nothing of its size outlives the call."""
    big = "x" * (100 * MiB)
    log = nglogger.get_logger("adversarial")
    actions = {
        "field": lambda: log.info("m", blob=big, keep="ok"),
        "message": lambda: log.info(big, blob=big, keep="ok"),
        "bind": lambda: log.bind(blob=big).info("m", keep="ok"),
    }
    with traced() as measure:
        out = logged(capture, actions[where])
        retained, _peak = measure()
    assert retained < 2 * MiB  # the truncated event, in the sink
    kept = MAX_FIELD - 40  # the marker fits within max_field_length
    marker = f"...[truncated {100 * MiB - kept} chars]"
    assert out.event["blob"] == "x" * kept + marker
    assert out.event["keep"] == "ok"
    if where == "message":
        assert out.event["message"] == "x" * kept + marker
    assert len(out.lines[0]) < DEFAULTS.max_event_bytes
    assert out.fallbacks == {"truncated": 2 if where == "message" else 1}
    if where != "bind":  # a bound value was cut (and counted) when bound
        assert out.event[FALLBACK_KEY] == ["truncated"]


def _resident_high_water() -> int:
    with Path("/proc/self/status").open() as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self")
def test_100_mib_string_resident_peak_is_a_small_multiple(capture: MemorySink) -> None:
    """Logging a 100 MiB string raises the resident high-water mark by at most 3x its size."""
    big = "x" * (100 * MiB)
    log = nglogger.get_logger("adversarial")
    log.info("warm-up", keep=1)
    gc.collect()
    try:
        Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    except OSError:
        pytest.skip("cannot reset the resident high-water mark here")
    base = _resident_high_water()
    log.info("m", blob=big)
    assert _resident_high_water() - base <= 3 * len(big)


def test_100_mib_string_tracemalloc_peak_is_a_small_multiple(capture: MemorySink) -> None:
    """tracemalloc's peak while logging a 100 MiB string stays within 4x the string's size."""
    big = "x" * (100 * MiB)
    log = nglogger.get_logger("adversarial")
    with traced() as measure:
        log.info("m", blob=big)
        _retained, peak = measure()
    assert peak <= 4 * len(big)


_ADDRESS_LIMIT_CHILD = textwrap.dedent(
    """
    import resource, nglogger, orjson
    from nglogger.sinks import MemorySink
    MiB = 1024 * 1024
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    sink = MemorySink()
    nglogger.configure(sinks=[sink], level="debug")
    log = nglogger.get_logger("child")
    log.info("warm-up")
    nglogger.flush()
    big = "x" * (100 * MiB)
    with open("/proc/self/status") as status:
        size = next(int(l.split()[1]) * 1024 for l in status if l.startswith("VmSize:"))
    # 600 MiB of headroom: six times the string, plenty for a bounded encoder.
    resource.setrlimit(resource.RLIMIT_AS, (size + 600 * MiB, resource.RLIM_INFINITY))
    log.info("m", blob=big, keep="ok")
    nglogger.flush()
    event = orjson.loads(sink.lines()[-1])
    print(orjson.dumps({"keep": event.get("keep"), "len": len(event.get("blob", ""))}).decode())
    """
)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="RLIMIT_AS and /proc")
def test_100_mib_string_under_an_address_space_limit() -> None:
    """With 6x the string's size of address space left, logging it neither crashes nor drops it."""
    proc = subprocess.run(
        [sys.executable, "-c", _ADDRESS_LIMIT_CHILD],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, (proc.returncode, proc.stderr[-2000:])
    kept = MAX_FIELD - 40  # the marker fits within max_field_length
    marker = f"...[truncated {100 * MiB - kept} chars]"
    assert orjson.loads(proc.stdout) == {"keep": "ok", "len": kept + len(marker)}


def test_million_element_list_becomes_a_stand_in(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """A 1M-element list makes the event oversize: a small stand-in names the fields it lost."""
    out = logged(capture, lambda: route({"items": list(range(1_000_000)), "keep": "ok"}))
    event = out.event
    assert event["message"] == "m"
    assert event["level"] == "info"
    assert "items" in event["nglogger_truncated"]["fields_dropped"]
    assert event["nglogger_truncated"]["original_bytes"] > DEFAULTS.max_event_bytes
    assert len(out.lines[0]) < 4096
    assert out.fallbacks == {"truncated_event": 1}


def test_million_element_list_dropped_when_configured() -> None:
    """With oversize="drop" the oversize event is dropped and counted too_large."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink], level="debug", oversize="drop")
    log = nglogger.get_logger("adversarial")
    out = logged(sink, lambda: log.info("m", items=list(range(1_000_000))), expected=0)
    assert out.dropped == {"too_large": 1}


# ------------------------------------------------------------------------ control characters


def test_control_characters_are_escaped_in_json(capture: MemorySink) -> None:
    """CR, LF, ESC, NUL, OSC and Unicode separators in any position are kept exactly, JSON-escaped."""
    log = nglogger.get_logger(f"logger {CONTROL}")
    out = logged(
        capture, lambda: log.info(f"msg {CONTROL}", **{f"key {CONTROL}": f"val {CONTROL}"})
    )
    event = out.event
    assert event["message"] == f"msg {CONTROL}"
    assert event["logger"] == f"logger {CONTROL}"
    assert event[f"key {CONTROL}"] == f"val {CONTROL}"
    assert b"\\u001b]0;pwned\\u0007" in out.lines[0]
    assert out.fallbacks == {}


def test_control_characters_from_every_route(
    capture: MemorySink, route: Callable[[dict[str, Any]], None]
) -> None:
    """Control characters in field names and nested values survive each entry point as one line."""
    out = logged(capture, lambda: route({f"k{CONTROL}": {CONTROL: [CONTROL]}}))
    assert out.event[f"k{CONTROL}"] == {CONTROL: [CONTROL]}


@pytest.mark.parametrize("colors", [False, True], ids=["plain", "colors"])
def test_console_rendering_shows_control_characters_escaped(
    capture: MemorySink, std_logger: logging.Logger, colors: bool
) -> None:
    """The console renderer shows every control character as a visible escape: no forged lines, no OSC."""
    native = nglogger.get_logger(f"native {CONTROL}")
    std = logging.getLogger(f"{STDLIB_NAME}.{CONTROL}")

    def action() -> None:
        native.info(f"msg {CONTROL}", **{f"key {CONTROL}": f"val {CONTROL}", "n": [CONTROL]})
        std.error("std %s", CONTROL, extra={f"x{CONTROL}": CONTROL})
        try:
            raise ValueError(CONTROL)
        except ValueError:
            native.exception(CONTROL)

    out = logged(capture, action, expected=3)
    batch = b"".join(line + b"\n" for line in out.lines)
    text = render_batch(batch, ConsoleStyle(colors=colors)).decode("utf-8")
    assert text.endswith("\n")
    if colors:
        text = OWN_SGR.sub("", text)
    assert CONSOLE_UNSAFE.search(text) is None, repr(text[:300])
    assert "\x1b" not in text
    heads = [line for line in text.split("\n") if line and not line.startswith("    ")]
    assert len(heads) == 3  # one head line per event; only the traceback block is indented
    for visible in ("\\r", "\\n", "\\x1b]0;pwned\\x07", "\\x00", "\\x85", "\\u2028", "\\u202e"):
        assert visible in text


# ----------------------------------------------------------------------- reserved field names


def test_reserved_names_are_renamed_not_overwritten(
    capture: MemorySink, request: pytest.FixtureRequest, route: Callable[[dict[str, Any]], None]
) -> None:
    """Fields named timestamp/level/logger/message never replace the event's own; they get a "_"."""
    names = ["timestamp", "level", "logger", "message"]
    if request.node.callspec.params["route"] == "extra":
        names.remove("message")  # logging.makeRecord itself refuses it (see the next test)
    out = logged(capture, lambda: route({name: f"fake {name}" for name in names}))
    event = out.event
    assert event["level"] == "info"
    assert event["message"] == "m"
    assert event["logger"] in ("adversarial", STDLIB_NAME)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", event["timestamp"])
    for name in names:
        assert event[f"{name}_"] == f"fake {name}"


def test_stdlib_refuses_extra_named_message_before_nglogger(
    capture: MemorySink, std_logger: logging.Logger
) -> None:
    """``extra={"message": ...}`` raises KeyError in logging.makeRecord: stdlib's rule, not nglogger's."""
    with pytest.raises(KeyError, match="Attempt to overwrite 'message'"):
        std_logger.info("m", extra={"message": "fake"})
    assert nglogger.stats().submitted == 0


def test_reserved_names_in_nested_values_are_plain_keys(capture: MemorySink) -> None:
    """Reserved names matter only at the top level; nested ones are ordinary keys."""
    log = nglogger.get_logger("adversarial")
    inner = {"timestamp": 1, "level": 2, "logger": 3, "message": 4}
    out = logged(capture, lambda: log.info("m", v=inner))
    assert out.event["v"] == inner


def test_field_named_exception_survives_log_exception(capture: MemorySink) -> None:
    """log.exception keeps a caller's own "exception" field (renamed), like the stdlib handler does."""
    log = nglogger.get_logger("adversarial")

    def action() -> None:
        try:
            raise ValueError("boom")
        except ValueError:
            log.exception("m", exception="mine")

    out = logged(capture, action)
    assert out.event["exception"]["type"] == "ValueError"
    assert "mine" in out.event.values()


@pytest.mark.parametrize("via", ["call", "extra"])
def test_reserved_name_and_its_renamed_twin_are_both_kept(
    capture: MemorySink, std_logger: logging.Logger, via: str
) -> None:
    """``level=`` and ``level_=`` in one call both reach the event."""
    out = logged(capture, lambda: make_route(via, std_logger)({"level": "a", "level_": "b"}))
    assert {"a", "b"} <= set(out.event.values())


def test_caller_field_named_like_the_fallback_marker_creates_no_counter(
    capture: MemorySink,
) -> None:
    """A caller's own "nglogger_fallback" field cannot add names to stats().fallbacks."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info("m", nglogger_fallback=["made-up"], wide=2**70))
    assert out.fallbacks == {"big_int": 1}


def test_stdlib_format_error_counted_once(capture: MemorySink, std_logger: logging.Logger) -> None:
    """One bad %-format on a record that also needs a fallback counts format_error once."""
    out = logged(capture, lambda: std_logger.info("%d", "x", extra={"wide": 2**70}))
    assert out.fallbacks == {"format_error": 1, "big_int": 1}


def test_stand_in_counted_once_when_event_takes_slow_path(capture: MemorySink) -> None:
    """An unserializable value beside one that forces the sanitizer is counted, and repr()d, once."""
    log = nglogger.get_logger("adversarial")
    slow = SlowRepr()
    out = logged(capture, lambda: log.info("m", obj=slow, wide=2**70))
    assert out.fallbacks == {"repr": 1, "big_int": 1}
    assert slow.calls == 1  # today 2: a 50 ms repr costs 100 ms


def test_stdlib_arguments_whose_repr_raises(
    capture: MemorySink, std_logger: logging.Logger
) -> None:
    """A record whose %-args neither format nor repr keeps its raw message, counted format_error."""
    out = logged(capture, lambda: std_logger.info("value %d", BrokenRepr(), extra={"keep": "ok"}))
    assert out.event["message"] == "value %d <unprintable tuple args>"
    assert out.event["keep"] == "ok"
    assert out.event[FALLBACK_KEY] == ["format_error"]
    assert out.fallbacks == {"format_error": 1}


# ---------------------------------------------------------------- concurrent mutation


@pytest.mark.slow
def test_dict_mutated_by_another_thread_while_logged(capture: MemorySink) -> None:
    """Thousands of calls logging a dict another thread mutates: never raise, every line parses, exact accounting."""
    shared: dict[str, Any] = {f"s{i}": i for i in range(200)}
    items: list[int] = list(range(100))
    stop = threading.Event()
    running = threading.Event()

    def mutate() -> None:
        i = 0
        running.set()
        while not stop.is_set():
            shared[f"k{i % 500}"] = i
            shared.pop(f"k{(i + 250) % 500}", None)
            items.append(i)
            del items[0]
            i += 1

    log = nglogger.get_logger("adversarial")
    calls = 3000
    interval = sys.getswitchinterval()
    thread = threading.Thread(target=mutate, name="mutator")

    def action() -> None:
        for n in range(calls):
            log.info("m", d=shared, nested={"items": items, "d": shared}, n=n)

    sys.setswitchinterval(1e-4)  # interleave more often than the default 5 ms
    thread.start()
    try:
        assert running.wait(5.0)
        before = nglogger.stats()
        start = capture.received
        action()
    finally:
        stop.set()
        thread.join(10.0)
        sys.setswitchinterval(interval)
    assert not thread.is_alive()
    assert nglogger.flush(timeout=10.0)
    dropped = _delta(before.dropped, nglogger.stats().dropped)
    lines = capture.lines()[start:]
    seen = [parse_line(line)["n"] for line in lines]
    assert set(dropped) <= {"encode_error"}
    assert len(seen) + dropped.get("encode_error", 0) == calls
    assert seen == sorted(seen)


class _Meddler(Mapping[str, int]):
    """A mapping whose iteration adds a key to its parent: a concurrent writer, made deterministic."""

    def __init__(self, parent: dict[str, Any]) -> None:
        self.parent = parent

    def __getitem__(self, key: str) -> int:
        return 1

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[str]:
        self.parent[f"added{len(self.parent)}"] = 0
        return iter(["a"])


def test_dict_changed_while_redacting_is_still_logged(capture: MemorySink) -> None:
    """A dict that changes while it is walked is still logged (the encoder's "mutated" fallback)."""
    parent: dict[str, Any] = {"a": 1, "z": 2}
    parent["m"] = _Meddler(parent)
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info("m", d=parent, keep="ok"))
    assert out.event["keep"] == "ok"
    assert out.dropped == {}


class _BrokenMapping(Mapping[str, int]):
    """A mapping whose iteration raises (a broken lazy view, a closed cursor...)."""

    def __getitem__(self, key: str) -> int:
        raise KeyError(key)

    def __len__(self) -> int:
        return 1

    def __iter__(self) -> Iterator[str]:
        raise ValueError("cannot iterate")


def _hostile(kind: str) -> dict[str, Any]:
    if kind == "broken":
        return {"v": _BrokenMapping()}
    parent: dict[str, Any] = {"a": 1}
    parent["m"] = _Meddler(parent)
    return {"v": parent}


@pytest.mark.parametrize("kind", ["changed", "broken"])
@pytest.mark.parametrize("how", ["bind", "new", "get_logger", "bind_contextvars"])
def test_binding_hostile_values_never_raises(capture: MemorySink, how: str, kind: str) -> None:
    """bind, new, get_logger(**context) and bind_contextvars never raise, whatever the value does."""
    log = nglogger.get_logger("adversarial")
    fields = _hostile(kind)
    binders: dict[str, Callable[[], object]] = {
        "bind": lambda: log.bind(**fields),
        "new": lambda: log.new(**fields),
        "get_logger": lambda: nglogger.get_logger("adversarial", **fields),
        "bind_contextvars": lambda: nglogger.bind_contextvars(**fields),
    }
    binders[how]()


def test_value_whose_iteration_raises_becomes_a_stand_in(capture: MemorySink) -> None:
    """A container that raises when iterated is replaced by a marker; the rest of the event is kept."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.info("m", v=_BrokenMapping(), keep="ok"))
    assert out.event["keep"] == "ok"


def test_value_whose_iteration_raises_never_raises(capture: MemorySink) -> None:
    """A container that raises when iterated never reaches the caller: the event is kept or counted dropped."""
    log = nglogger.get_logger("adversarial")
    start = capture.received
    log.info("m", v=_BrokenMapping(), keep="ok")
    assert nglogger.flush(timeout=10.0)
    kept = [parse_line(line) for line in capture.lines()[start:]]
    dropped = dict(nglogger.stats().dropped)
    assert (len(kept), dropped) in ((1, {}), (0, {"encode_error": 1}))
    assert all(event["keep"] == "ok" for event in kept)


# ------------------------------------------------------------------------------ exceptions


def _cyclic_error() -> ValueError:
    first = ValueError("a")
    second = KeyError("b")
    first.__context__ = second
    second.__context__ = first
    first.__cause__ = second
    second.__cause__ = first
    return first


@pytest.mark.parametrize("via", ["native", "stdlib"])
def test_exceptions_with_cyclic_context_and_cause(
    capture: MemorySink, std_logger: logging.Logger, via: str
) -> None:
    """log.exception on an exception whose __context__ and __cause__ loop completes with a bounded trace."""
    log = nglogger.get_logger("adversarial")

    def action() -> None:
        try:
            raise _cyclic_error()
        except ValueError:
            if via == "native":
                log.exception("cyclic", keep="ok")
            else:
                std_logger.exception("cyclic", extra={"keep": "ok"})

    out = logged(capture, action)
    exc = out.event["exception"]
    assert (exc["type"], exc["message"]) == ("ValueError", "a")
    assert "KeyError: 'b'" in exc["stacktrace"]
    assert exc["stacktrace"].rstrip().endswith("ValueError: a")
    assert out.event["keep"] == "ok"
    assert out.event["level"] == "error"


def test_long_exception_chain_is_bounded(capture: MemorySink) -> None:
    """A 5,000-long __context__ chain yields a stack trace bounded by max_traceback_bytes."""
    error: BaseException | None = None
    for i in range(5000):
        link = ValueError(i)
        link.__context__ = error
        error = link
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.error("chain", exc_info=error))
    stack = out.event["exception"]["stacktrace"]
    assert len(stack) <= MAX_TRACEBACK + 100
    assert "chars elided" in stack
    assert stack.rstrip().endswith("ValueError: 4999")


@pytest.mark.parametrize("via", ["native", "stdlib", "field"])
def test_exceptions_whose_str_raises(
    capture: MemorySink, std_logger: logging.Logger, via: str
) -> None:
    """An exception whose __str__ raises is logged with a marker message; nothing raises."""
    log = nglogger.get_logger("adversarial")

    def action() -> None:
        try:
            raise BrokenStrError
        except BrokenStrError as err:
            if via == "native":
                log.exception("m", keep="ok")
            elif via == "stdlib":
                std_logger.exception("m", extra={"keep": "ok"})
            else:
                log.info("m", err=err, keep="ok")

    out = logged(capture, action)
    assert out.event["keep"] == "ok"
    if via == "field":
        assert out.event["err"] == "test_adversarial.BrokenStrError: <str() raised RuntimeError>"
    else:
        exc = out.event["exception"]
        assert exc["type"] == "test_adversarial.BrokenStrError"
        assert exc["message"] == "<str() raised RuntimeError>"
        assert "<exception str() failed>" in exc["stacktrace"]


def test_exception_with_huge_message_is_bounded(capture: MemorySink) -> None:
    """A 10 MB exception message is cut to max_field_length; the trace to max_traceback_bytes."""
    log = nglogger.get_logger("adversarial")

    def action() -> None:
        try:
            raise HugeError
        except HugeError:
            log.exception("m")

    out = logged(capture, action)
    exc = out.event["exception"]
    # cut once, marker included within the limit
    assert exc["message"].startswith("E" * (MAX_FIELD - 40) + "...[truncated ")
    assert len(exc["message"]) <= MAX_FIELD
    assert exc["message"].count("[truncated") == 1
    assert len(exc["stacktrace"]) <= MAX_TRACEBACK + 100
    assert len(out.lines[0]) < DEFAULTS.max_event_bytes


def test_exception_message_truncation_marker_is_accurate(capture: MemorySink) -> None:
    """The truncation marker of an exception message states how many characters were removed."""
    log = nglogger.get_logger("adversarial")
    out = logged(capture, lambda: log.error("m", exc_info=HugeError()))
    kept = MAX_FIELD - 40  # the marker fits within max_field_length
    expected = "E" * kept + f"...[truncated {10 * MiB - kept} chars]"
    assert out.event["exception"]["message"] == expected


# ------------------------------------------------------------------- property-based tests

#: Characters that stress escaping: controls, separators, bidi, DEL/NEL and lone surrogates.
_AWKWARD = '\x00\x07\x1b\r\n\t\x7f\x85\u2028\u2029\u202e\ud800\udc80\udfff\\"'
_CHARS = st.one_of(st.characters(exclude_categories=()), st.sampled_from(_AWKWARD))
TEXT = st.text(_CHARS, max_size=12)
INTS = st.one_of(
    st.integers(min_value=I64_MIN, max_value=U64_MAX),
    st.integers(min_value=U64_MAX - 2, max_value=2**300),
    st.integers(min_value=-(2**300), max_value=I64_MIN + 2),
    st.integers(min_value=4301, max_value=5000).map(lambda digits: 10**digits),
    st.integers(min_value=4301, max_value=5000).map(lambda digits: -(10**digits)),
)
LEAVES = st.one_of(TEXT, INTS, st.floats(), st.booleans(), st.none(), st.binary(max_size=12))
KEYS = st.one_of(TEXT, st.integers(min_value=I64_MIN, max_value=U64_MAX), st.none())
TREES = st.recursive(
    LEAVES,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(KEYS, children, max_size=4)
    ),
    max_leaves=25,
)
PROPERTY_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def key_names(keys: list[Any]) -> list[str]:
    """The field names the documented key rules give, in order (str form, then ``#2``, ``#3``)."""
    names: list[str] = []
    for key in keys:
        if key is None:
            name = "null"
        elif isinstance(key, int):
            name = str(key)
        else:
            name = escaped(key)
        if name in names:
            n = 2
            while f"{name}#{n}" in names:
                n += 1
            name = f"{name}#{n}"
        names.append(name)
    return names


def assert_kept(value: Any, out: Any, nesting: int = 1) -> None:
    """``out`` is ``value``'s serializable part, exactly; other leaves are their documented stand-ins.

    Serializable part: str keys and valid UTF-8 strings, 64-bit ints, finite floats, bools and
    None decode to themselves; lists keep their length and order, dicts every entry in order.
    Stand-ins: surrogates escaped, bytes decoded with backslash escapes, wider ints as decimal
    strings (or a bit count), NaN/Inf as null, secret-named fields "[REDACTED]", containers
    at max_depth "<max depth exceeded>".
    """
    if isinstance(value, (list, dict)) and out == "<max depth exceeded>":
        assert nesting >= MAX_DEPTH
        return
    if value is None or isinstance(value, bool):
        assert out is value
    elif isinstance(value, int):
        if I64_MIN <= value <= U64_MAX:
            assert type(out) is int
            assert out == value
        else:
            try:
                text = str(value)
            except ValueError:
                text = f"<int of {value.bit_length()} bits>"
            assert out == text
    elif isinstance(value, float):
        if math.isfinite(value):
            assert type(out) is float
            assert out == value
        else:
            assert out is None
    elif isinstance(value, str):
        assert out == escaped(value)
    elif isinstance(value, bytes):
        assert out == value.decode("utf-8", "backslashreplace")
    elif isinstance(value, list):
        assert type(out) is list
        assert len(out) == len(value)
        for item, got in zip(value, out):
            assert_kept(item, got, nesting + 1)
    else:
        assert type(out) is dict
        names = key_names(list(value))
        assert list(out) == names
        for (key, item), name in zip(value.items(), names):
            if is_secret(key):
                assert out[name] == MARK
            else:
                assert_kept(item, out[name], nesting + 1)


def expected_counters(value: Any) -> set[str]:
    """The fallback counters a tree must raise (NaN/Inf are not counted by design)."""
    found: set[str] = set()

    def visit(node: Any, secret: bool) -> None:
        if secret:
            return
        if isinstance(node, str) and has_surrogate(node):
            found.add("surrogate")
        elif isinstance(node, int) and not isinstance(node, bool):
            if not I64_MIN <= node <= U64_MAX:
                found.add("big_int")
        elif isinstance(node, list):
            for item in node:
                visit(item, False)
        elif isinstance(node, dict):
            for key, item in node.items():
                if not isinstance(key, str):
                    found.add("non_str_key")
                elif has_surrogate(key):
                    found.add("surrogate")
                visit(item, is_secret(key))

    visit(value, False)
    return found


@pytest.mark.parametrize("via", ROUTES)
@pytest.mark.slow
def test_property_nested_values_keep_their_serializable_part(
    capture: MemorySink, std_logger: logging.Logger, via: str
) -> None:
    """For any nested dict/list value, the event is one line of valid JSON that keeps the serializable part."""
    send = make_route(via, std_logger)

    @PROPERTY_SETTINGS
    @given(value=TREES)
    def check(value: Any) -> None:
        out = logged(capture, lambda: send({"v": value}))
        assert out.event["message"] == "m"
        assert out.dropped == {}
        assert_kept(value, out.event["v"])
        assert expected_counters(value) <= set(out.fallbacks)

    check()


def test_property_messages_names_and_top_level_fields(capture: MemorySink) -> None:
    """Any message, logger name and top-level fields give one JSON line with each of them kept."""

    @PROPERTY_SETTINGS
    @given(
        message=TEXT,
        name=TEXT,
        fields=st.dictionaries(st.text(_CHARS, min_size=1, max_size=12), LEAVES, max_size=6),
    )
    def check(message: str, name: str, fields: dict[str, Any]) -> None:
        renamed = [f"{k}_" if k in RESERVED else k for k in fields]
        # Known collisions are pinned by their own xfail tests; keep them out of the property.
        assume("exc_info" not in fields and FALLBACK_KEY not in fields)
        assume(len(set(renamed)) == len(renamed))
        out = logged(capture, lambda: nglogger.get_logger(name).info(message, **fields))
        event = out.event
        head = (event["message"], event["logger"], event["level"])
        assert head == (escaped(message), escaped(name), "info")
        names = [k for k in event if k not in RESERVED and k != FALLBACK_KEY]
        assert names == key_names(renamed)
        for original, field_name in zip(fields, names):
            if is_secret(field_name):
                assert event[field_name] == MARK
            else:
                assert_kept(fields[original], event[field_name])
        assert expected_counters(fields) <= set(out.fallbacks)

    check()
