"""The encoder: one orjson call, defined fallbacks, limits, counters."""

from __future__ import annotations

import decimal
import enum
import pathlib
import threading
from collections import namedtuple
from dataclasses import dataclass
from typing import Any

import orjson
import pytest

from nglogger._event.encode import FALLBACK_KEY, Encoder, Limits, compact


def encode(value: Any, **limits: Any) -> tuple[dict[str, Any] | None, dict[str, int]]:
    encoder = Encoder(Limits(**limits))
    data = encoder.encode_event({"message": "m", "v": value})
    if data is None:
        return None, encoder.counts()
    assert data.endswith(b"\n")
    assert data.count(b"\n") == 1
    return orjson.loads(data), encoder.counts()


class Color(enum.Enum):
    RED = "red"


@dataclass
class Point:
    x: int
    y: object


Pair = namedtuple("Pair", "a b")


class Opaque:
    def __repr__(self) -> str:
        return "Opaque()"


class BrokenRepr:
    def __repr__(self) -> str:
        raise ValueError("nope")


@pytest.mark.parametrize(
    ("value", "expected", "counters"),
    [
        ({1, 1}, [1], {}),
        (b"abc\xff", "abc\\xff", {"invalid_utf8": 1}),
        (b"caf\xc3\xa9", "caf\u00e9", {}),
        (decimal.Decimal("1.10"), "1.10", {}),
        (pathlib.PurePosixPath("/a/b"), "/a/b", {}),
        (Pair(1, 2), [1, 2], {}),
        (Color.RED, "red", {}),
        (Point(1, "y"), {"x": 1, "y": "y"}, {}),
        (ValueError("boom"), "ValueError: boom", {}),
        (Opaque(), "<unserializable test_encode.Opaque: Opaque()>", {"repr": 1}),
        (
            BrokenRepr(),
            "<unserializable test_encode.BrokenRepr: repr() raised ValueError>",
            {"repr_error": 1},
        ),
        (float("nan"), None, {}),
        (float("-inf"), None, {}),
        (2**64 - 1, 2**64 - 1, {}),
        (-(2**63), -(2**63), {}),
        (2**64, str(2**64), {"big_int": 1}),
        (-(2**63) - 1, str(-(2**63) - 1), {"big_int": 1}),
        ("a\udc80b", "a\\udc80b", {"surrogate": 1}),
        (
            {1: "int", "1": "str"},
            {"1": "int", "1#2": "str"},
            {"non_str_key": 1, "key_collision": 1},
        ),
        (
            {None: 0, True: 1, 2.5: 2, Color.RED: 3, (1, 2): 4, b"k": 5},
            {"null": 0, "true": 1, "2.5": 2, "red": 3, "<unserializable tuple: (1, 2)>": 4, "k": 5},
            {"non_str_key": 6, "repr": 1},
        ),
        ("ctl \r\n\x1b\x00 \u2028", "ctl \r\n\x1b\x00 \u2028", {}),
    ],
    ids=lambda v: type(v).__name__,
)
def test_fallback_table(value: Any, expected: Any, counters: dict[str, int]) -> None:
    """Each kind of awkward value has one defined JSON result and counter."""
    event, counts = encode(value)
    assert event is not None
    assert event["v"] == expected
    assert counts == counters
    if counters:
        assert set(event[FALLBACK_KEY]) == set(counters)


def test_huge_int_beyond_str_digits_limit() -> None:
    """An integer too large to print in decimal becomes a bit-count marker."""
    event, counts = encode(10**5000)
    assert event is not None
    assert event["v"] == f"<int of {(10**5000).bit_length()} bits>"
    assert counts == {"big_int": 1}


def test_self_and_mutual_cycles() -> None:
    """Self- and mutually-referencing containers become "<cycle>" markers."""
    a: dict[str, Any] = {"name": "a"}
    b: dict[str, Any] = {"name": "b", "a": a}
    a["b"] = b
    a["self"] = a
    event, counts = encode(a)
    assert event is not None
    assert event["v"] == {"name": "a", "b": {"name": "b", "a": "<cycle>"}, "self": "<cycle>"}
    assert counts == {"cycle": 2}  # counters count replaced values


def test_shared_references_are_not_cycles() -> None:
    """The same object twice (not nested in itself) is serialized twice, not marked."""
    shared = [1, 2]
    event, counts = encode({"x": shared, "y": shared, "z": [shared, shared]})
    assert event is not None
    assert event["v"] == {"x": [1, 2], "y": [1, 2], "z": [[1, 2], [1, 2]]}
    assert counts == {}


@pytest.mark.parametrize("depth", [31, 254, 255, 10_000])
def test_deep_nesting_is_cut_at_max_depth(depth: int) -> None:
    """Nesting deeper than orjson accepts is cut at max_depth with a marker."""
    value: Any = "leaf"
    for _ in range(depth):
        value = [value]
    event, counts = encode(value, max_depth=32)
    assert event is not None
    node = event["v"]
    levels = 0
    while isinstance(node, list):
        node = node[0]
        levels += 1
    if depth < 254:  # orjson handles it on the fast path
        assert node == "leaf"
        assert levels == depth
    else:
        assert node == "<max depth exceeded>"
        assert counts == {"depth": 1}


def test_long_strings_are_truncated_with_marker() -> None:
    """A string over max_field_length is cut and says how much was cut."""
    event, counts = encode("x" * 1000, max_field_length=100)
    assert event is not None
    assert event["v"] == "x" * 60 + "...[truncated 940 chars]"  # marker within the limit
    assert counts == {"truncated": 1}


def test_oversize_event_is_truncated_to_a_stand_in() -> None:
    """An event over max_event_bytes becomes a small stand-in naming what was cut."""
    encoder = Encoder(Limits(max_event_bytes=1024, max_field_length=100_000))
    data = encoder.encode_event({"message": "big", "level": "info", "blob": list(range(5000))})
    assert data is not None
    event = orjson.loads(data)
    assert event["message"] == "big"
    assert event["nglogger_truncated"]["fields_dropped"] == ["blob"]
    assert event["nglogger_truncated"]["original_bytes"] > 1024
    assert encoder.counts() == {"truncated_event": 1}


def test_oversize_event_dropped_when_configured() -> None:
    """With oversize="drop" an event over max_event_bytes is dropped (None)."""
    encoder = Encoder(Limits(max_event_bytes=1024, oversize="drop"))
    assert encoder.encode_event({"message": "big", "blob": "y" * 5000}) is None


def test_dict_mutated_by_another_thread_never_raises() -> None:
    """A dict changed concurrently while logged still yields valid JSON."""
    shared: dict[str, int] = {str(i): i for i in range(1000)}
    stop = threading.Event()

    def mutate() -> None:
        i = 0
        while not stop.is_set():
            shared[f"k{i % 5000}"] = i
            shared.pop(f"k{(i + 2500) % 5000}", None)
            i += 1

    thread = threading.Thread(target=mutate)
    thread.start()
    try:
        encoder = Encoder(Limits())
        for _ in range(200):
            data = encoder.encode_event({"message": "m", "v": shared})
            assert data is not None
            orjson.loads(data)
    finally:
        stop.set()
        thread.join(5)


def test_exception_with_cyclic_context() -> None:
    """Exceptions whose __context__ chain loops still format, bounded."""
    first = ValueError("first")
    second = KeyError("second")
    first.__context__ = second
    second.__context__ = first
    fields = Encoder(Limits()).exception_fields(first)
    assert fields["type"] == "ValueError"
    assert "ValueError: first" in fields["stacktrace"]


def test_encode_value_is_right_sized() -> None:
    """Values kept for later (bound context) are right-sized copies, not orjson's 4 KiB buffers."""
    import sys

    data = Encoder(Limits()).encode_value({"a": 1})
    assert data == b'{"a":1}'
    assert sys.getsizeof(data) < 64 + len(data)
    assert compact(b"xyz") == b"xyz"


def test_strict_mode_raises_instead_of_falling_back() -> None:
    """Limits(strict=True) makes unknown types raise."""
    encoder = Encoder(Limits(strict=True))
    with pytest.raises(orjson.JSONEncodeError):
        encoder.encode_event({"v": object()})
