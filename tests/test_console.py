"""Specification of the console renderer: exact layout, escaping, colours and robustness."""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from nglogger.sinks._console import ConsoleStyle, render_batch, render_event

PLAIN = ConsoleStyle()
COLOR = ConsoleStyle(colors=True)
TS = "2026-11-26T13:47:50.800619Z"

# Every character the renderer must never emit raw (except LF between lines and its own SGR codes).
FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
OWN_SGR = re.compile(r"\x1b\[(?:0|1|2|3[1-6]|1;31)m")

INJECTIONS = [
    "a\rb",
    "a\nb",
    "a\r\nb",
    "\x1b[2J",
    "\x1b]0;title\x07",
    "\x1b[31mred",
    "nul\x00byte",
    "tab\there",
    "del\x7f",
    "sep\u2028line",
    "para\u2029graph",
    "rlo\u202ereversed",
    "isolate\u2066x\u2069",
    "csi\x9b2J",
    "nel\x85x",
    "lone\ud800surrogate",
]


def batch(*events: dict[str, Any]) -> bytes:
    return b"".join(orjson.dumps(event) + b"\n" for event in events)


def event(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"timestamp": TS, "level": "info", "logger": "app", "message": "hi"}
    base.update(fields)
    return base


def raw_controls(text: str) -> list[str]:
    """The control characters left once LF line breaks and the renderer's own SGR are removed."""
    return FORBIDDEN.findall(OWN_SGR.sub("", text).replace("\n", ""))


def test_basic_event_renders_exactly() -> None:
    """A plain event renders as time, padded level, bracketed logger, message and fields."""
    data = batch(event(message="request handled", status=200, path="/api/users"))

    assert (
        b"13:47:50.800 INFO     [app] request handled status=200 path=/api/users\n"
        == render_batch(data, PLAIN)
    )


def test_iso_time_format_shows_the_full_timestamp() -> None:
    """With time_format="iso" the serialized RFC 3339 timestamp is shown unchanged."""
    style = ConsoleStyle(time_format="iso")

    assert f"{TS} INFO     [app] hi" == render_event(event(), style)


def test_short_fraction_is_padded_to_milliseconds() -> None:
    """The "time" format always shows three fractional digits, truncating or zero-padding."""
    assert "13:47:50.800 INFO     [app] hi" == render_event(
        event(timestamp="2026-11-26T13:47:50.8Z"), PLAIN
    )
    assert "13:47:50.000 INFO     [app] hi" == render_event(
        event(timestamp="2026-11-26T13:47:50Z"), PLAIN
    )


def test_unrecognised_timestamp_is_shown_escaped() -> None:
    """A timestamp that is not RFC 3339 is shown as-is, escaped."""
    assert "yesterday\\n INFO     [app] hi" == render_event(event(timestamp="yesterday\n"), PLAIN)


def test_logger_column_is_omitted_when_hidden_or_empty() -> None:
    """show_logger=False or an empty logger name leaves no brackets behind."""
    assert "13:47:50.800 INFO     hi" == render_event(event(), ConsoleStyle(show_logger=False))
    assert "13:47:50.800 INFO     hi" == render_event(event(logger=""), PLAIN)


def test_missing_head_keys_do_not_raise() -> None:
    """An event with only a level renders the bare level, without trailing padding."""
    assert "WARNING" == render_event({"level": "warning"}, PLAIN)
    assert "?" == render_event({}, PLAIN)


def test_fields_keep_their_order_and_strings_are_quoted_when_needed() -> None:
    """Fields follow in original order; strings with spaces, quotes, "=" or number looks are quoted."""
    rendered = render_event(
        event(
            z="bare",
            a="two words",
            m='say "hi"',
            b="back\\slash",
            eq="k=v",
            empty="",
            num="200",
            flt="1.5e3",
            t="true",
            n="null",
            uni="héllo",
        ),
        PLAIN,
    )

    assert (
        '13:47:50.800 INFO     [app] hi z=bare a="two words" m="say \\"hi\\"" '
        'b="back\\\\slash" eq="k=v" empty="" num="200" flt="1.5e3" t="true" n="null" uni=héllo'
    ) == rendered


def test_scalars_render_as_json_literals() -> None:
    """Numbers, booleans and null render as their JSON spelling, unquoted."""
    rendered = render_event(event(i=-3, f=0.25, yes=True, no=False, none=None), PLAIN)

    assert "13:47:50.800 INFO     [app] hi i=-3 f=0.25 yes=true no=false none=null" == rendered


def test_keys_that_need_it_are_quoted() -> None:
    """A key with a space, "=" or quote is quoted so key=value stays unambiguous."""
    rendered = render_event(event(**{"a key": 1, "k=v": 2, "": 3}), PLAIN)

    assert '13:47:50.800 INFO     [app] hi "a key"=1 "k=v"=2 ""=3' == rendered


def test_nested_values_render_as_compact_json() -> None:
    """Dicts and lists render as compact JSON that parses back to the same value."""
    nested = {"user": {"id": 7, "roles": ["admin", "dev"]}, "empty": [], "s": "a b"}
    rendered = render_batch(batch(event(ctx=nested, items=[1, [2, {"x": None}]])), PLAIN)

    expected = (
        '13:47:50.800 INFO     [app] hi ctx={"user":{"id":7,"roles":["admin","dev"]},'
        '"empty":[],"s":"a b"} items=[1,[2,{"x":null}]]\n'
    )
    assert expected.encode() == rendered


def test_unsafe_characters_inside_nested_values_keep_it_valid_json() -> None:
    """Control and separator characters inside nested values become \\uXXXX escapes, still JSON."""
    nested = {"k\u2028": ["\x1b[2J", "\x9b", "\u202e"]}
    line = render_event(event(ctx=nested), PLAIN)
    value = line.split(" ctx=", 1)[1]

    assert nested == json.loads(value)
    assert [] == raw_controls(line)


@pytest.mark.parametrize(
    ("level", "label"),
    [
        ("debug", "DEBUG   "),
        ("info", "INFO    "),
        ("warning", "WARNING "),
        ("error", "ERROR   "),
        ("critical", "CRITICAL"),
    ],
)
def test_level_names_are_upper_case_and_padded_to_eight(level: str, label: str) -> None:
    """Each known level renders upper-case, padded to the width of CRITICAL."""
    assert f"13:47:50.800 {label} [app] hi" == render_event(event(level=level), PLAIN)


def test_messages_align_across_levels() -> None:
    """The logger column starts at the same offset whatever the level."""
    levels = ["debug", "info", "warning", "error", "critical", "warn", "fatal"]
    lines = render_batch(batch(*(event(level=level) for level in levels)), PLAIN)

    offsets = {line.index(b"[app]") for line in lines.splitlines()}
    assert {22} == offsets


def test_unknown_level_is_upper_cased_escaped_and_padded() -> None:
    """A level outside the known set is shown upper-case, escaped and padded."""
    assert "13:47:50.800 NOTICE   [app] hi" == render_event(event(level="notice"), PLAIN)
    assert "13:47:50.800 X\\x1b[2J [app] hi" == render_event(event(level="x\x1b[2J"), PLAIN)


TRACEBACK = (
    "Traceback (most recent call last):\n"
    '  File "app.py", line 3, in <module>\n'
    "    main()\n"
    "ValueError: bad input\n"
)


def test_exception_renders_as_indented_traceback_after_the_line() -> None:
    """An exception field becomes indented traceback lines under its event, not a key=value."""
    exc = {"type": "ValueError", "message": "bad input", "stacktrace": TRACEBACK}
    data = batch(event(level="error", message="failed", exception=exc, request_id="r1"))

    expected = (
        "13:47:50.800 ERROR    [app] failed request_id=r1\n"
        "    Traceback (most recent call last):\n"
        '      File "app.py", line 3, in <module>\n'
        "        main()\n"
        "    ValueError: bad input\n"
    )
    assert expected.encode() == render_batch(data, PLAIN)


def test_chained_traceback_keeps_blank_lines_without_trailing_spaces() -> None:
    """Blank lines inside a chained traceback stay blank lines, not indented whitespace."""
    stack = "Traceback:\nKeyError: 'a'\n\nDuring handling...:\n\nValueError: b"
    rendered = render_event(event(exception={"type": "ValueError", "stacktrace": stack}), PLAIN)

    expected = [
        "13:47:50.800 INFO     [app] hi",
        "    Traceback:",
        "    KeyError: 'a'",
        "",
        "    During handling...:",
        "",
        "    ValueError: b",
    ]
    assert expected == rendered.split("\n")


def test_exception_without_stacktrace_renders_type_and_message() -> None:
    """Without a stacktrace the block is one "Type: message" line; extra keys follow as fields."""
    exc = {"type": "TimeoutError", "message": "took too long", "notes": ["retry 3"]}
    rendered = render_event(event(exception=exc), PLAIN)

    expected = (
        '13:47:50.800 INFO     [app] hi\n    TimeoutError: took too long\n    notes=["retry 3"]'
    )
    assert expected == rendered


def test_exception_given_as_text_renders_as_a_block() -> None:
    """A string exception field is rendered line by line like a traceback."""
    rendered = render_event(event(exception="line one\nline two"), PLAIN)

    assert "13:47:50.800 INFO     [app] hi\n    line one\n    line two" == rendered


def test_exception_of_another_shape_renders_as_a_field() -> None:
    """An exception field that is neither text nor an exception object stays a key=value."""
    assert "13:47:50.800 INFO     [app] hi exception=5" == render_event(event(exception=5), PLAIN)
    assert "13:47:50.800 INFO     [app] hi exception={}" == render_event(event(exception={}), PLAIN)


def test_colors_wrap_each_part_and_reset_after_it() -> None:
    """With colours the level, time, logger, message and keys are coloured and each part is reset."""
    rendered = render_event(event(level="error", message="boom", status=500), COLOR)

    expected = (
        "\x1b[2m13:47:50.800\x1b[0m \x1b[31mERROR\x1b[0m    \x1b[35m[app]\x1b[0m "
        "\x1b[1mboom\x1b[0m \x1b[36mstatus\x1b[0m=500"
    )
    assert expected == rendered


@pytest.mark.parametrize(
    ("level", "code"),
    [
        ("debug", "\x1b[34m"),
        ("info", "\x1b[32m"),
        ("warning", "\x1b[33m"),
        ("error", "\x1b[31m"),
        ("critical", "\x1b[1;31m"),
    ],
)
def test_each_level_has_its_colour(level: str, code: str) -> None:
    """Each level is coloured by severity: blue, green, yellow, red, bold red."""
    rendered = render_event(event(level=level), COLOR)

    assert f"{code}{level.upper()}\x1b[0m" in rendered


def test_colored_levels_still_align() -> None:
    """With colours, the visible text (codes removed) aligns like the plain output."""
    levels = ["debug", "info", "warning", "error", "critical"]
    data = batch(*(event(level=level, exception="trace") for level in levels))

    assert render_batch(data, PLAIN).decode() == OWN_SGR.sub("", render_batch(data, COLOR).decode())


def test_no_escape_codes_without_colors() -> None:
    """With colors=False the output contains no ESC byte at all."""
    exc = {"type": "E", "message": "m", "stacktrace": TRACEBACK, "extra": 1}
    data = batch(*(event(level=level, exception=exc, k="v") for level in ("debug", "critical")))

    assert b"\x1b" not in render_batch(data, PLAIN)


def test_style_is_frozen_with_documented_defaults() -> None:
    """ConsoleStyle defaults to no colours, logger shown, short time; it cannot be mutated."""
    assert ConsoleStyle(colors=False, show_logger=True, time_format="time") == ConsoleStyle()
    with pytest.raises(dataclasses.FrozenInstanceError):
        PLAIN.colors = True  # type: ignore[misc]


@pytest.mark.parametrize("style", [PLAIN, COLOR], ids=["plain", "color"])
@pytest.mark.parametrize("payload", INJECTIONS)
@pytest.mark.parametrize("where", ["message", "key", "value", "logger", "nested", "level"])
def test_injection_in_a_line_never_forges_lines_or_escapes(
    where: str, payload: str, style: ConsoleStyle
) -> None:
    """A hostile message, key, value, logger, nested value or level stays on one inert line."""
    if where == "message":
        ev = event(message=payload)
    elif where == "key":
        ev = event(**{payload: 1})
    elif where == "value":
        ev = event(v=payload)
    elif where == "logger":
        ev = event(logger=payload)
    elif where == "nested":
        ev = event(v={payload: [payload]})
    else:
        ev = event(level=payload)

    rendered = render_event(ev, style)

    assert 1 == len(rendered.split("\n"))
    assert [] == raw_controls(rendered)
    rendered.encode("utf-8")  # escaped surrogates cannot break the encoding


@pytest.mark.parametrize("style", [PLAIN, COLOR], ids=["plain", "color"])
@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_in_a_traceback_stays_inside_its_indented_lines(
    payload: str, style: ConsoleStyle
) -> None:
    """A hostile traceback renders one indented line per LF-separated line, with nothing raw."""
    stack = (
        f'Traceback (most recent call last):\n  File "{payload}", line 1\nValueError: {payload}\n'
    )
    exc = {"type": payload, "message": payload, "stacktrace": stack}

    lines = render_event(event(exception=exc), style).split("\n")

    assert 1 + stack.count("\n") == len(lines)
    assert all(line.startswith("    ") for line in lines[1:])
    assert [] == raw_controls("\n".join(lines))


@pytest.mark.parametrize("payload", INJECTIONS)
def test_injection_through_a_batch_gives_one_line_per_event(payload: str) -> None:
    """Round-tripped through NDJSON, each hostile event still renders to exactly one line."""
    events = [event(message=payload), event(logger=payload, v=[payload])]
    events[0][payload] = payload
    data = b"".join(json.dumps(ev).encode() + b"\n" for ev in events)

    rendered = render_batch(data, COLOR).decode("utf-8")

    assert 2 == rendered.count("\n")
    assert [] == raw_controls(rendered)


@pytest.mark.parametrize(
    ("payload", "shown"),
    [
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
        ("\x00", "\\x00"),
        ("\x1b[2J", "\\x1b[2J"),
        ("\x1b]0;title\x07", "\\x1b]0;title\\x07"),
        ("\x7f", "\\x7f"),
        ("\x9b", "\\x9b"),
        ("\u2028", "\\u2028"),
        ("\u2029", "\\u2029"),
        ("\u202e", "\\u202e"),
        ("\u2066", "\\u2066"),
        ("\ud800", "\\ud800"),
    ],
)
def test_unsafe_characters_are_shown_as_visible_escapes(payload: str, shown: str) -> None:
    """Each unsafe character appears as its escape sequence in free text."""
    assert f"13:47:50.800 INFO     [app] x{shown}y" == render_event(
        event(message=f"x{payload}y"), PLAIN
    )


def test_quoted_values_escape_like_repr() -> None:
    """A value holding control characters is quoted with backslash escapes."""
    rendered = render_event(event(v='a\n"b"\\\x1b'), PLAIN)

    assert '13:47:50.800 INFO     [app] hi v="a\\n\\"b\\"\\\\\\x1b"' == rendered


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"not json", b"<unparsed> not json\n"),
        (b'{"level": "info"', b'<unparsed> {"level": "info"\n'),
        (b"[1, 2]", b"<unparsed> [1, 2]\n"),
        (b'"just a string"', b'<unparsed> "just a string"\n'),
        (b"42", b"<unparsed> 42\n"),
        (b"\xff\xfe bad utf-8 \x1b[2J", b"<unparsed> \\xff\\xfe bad utf-8 \\x1b[2J\n"),
        (b'{"message": "\xff"}', b'<unparsed> {"message": "\\xff"}\n'),
        (b"tab\there\r", b"<unparsed> tab\\there\\r\n"),
        (b"\xc2\x9b2J", b"<unparsed> \\x9b2J\n"),
    ],
)
def test_malformed_lines_render_escaped_with_a_marker(line: bytes, expected: bytes) -> None:
    """A line that is not a JSON object is shown escaped behind "<unparsed>" instead of raising."""
    assert expected == render_batch(line + b"\n", PLAIN)


def test_malformed_lines_do_not_disturb_their_neighbours() -> None:
    """Good events around a malformed line render normally and in order."""
    data = batch(event(message="one")) + b"garbage\n" + batch(event(message="two"))

    expected = (
        b"13:47:50.800 INFO     [app] one\n<unparsed> garbage\n13:47:50.800 INFO     [app] two\n"
    )
    assert expected == render_batch(data, PLAIN)


def test_empty_and_blank_input_render_nothing() -> None:
    """An empty batch and blank lines produce no output."""
    assert b"" == render_batch(b"", PLAIN)
    assert b"" == render_batch(b"\n\n  \n", COLOR)


def test_final_line_without_newline_is_rendered() -> None:
    """A batch whose last event lacks the trailing newline still renders it."""
    assert b"13:47:50.800 INFO     [app] hi\n" == render_batch(orjson.dumps(event()), PLAIN)


class _Hostile:
    def __str__(self) -> str:
        return "\x1b[2Jforged\nline"


class _Broken:
    def __str__(self) -> str:
        raise RuntimeError("no")

    def __repr__(self) -> str:
        raise RuntimeError("no")


def test_live_python_objects_render_safely() -> None:
    """render_event handed non-JSON Python objects still renders one safe line and never raises."""
    ev: dict[str, Any] = event(
        obj=_Hostile(),
        broken=_Broken(),
        tup=(1, "a"),
        big=10**5000,
        deep=_deep_list(100_000),
        nested_obj={"k": _Hostile()},
    )

    rendered = render_event(ev, PLAIN)

    assert 1 == len(rendered.split("\n"))
    assert [] == raw_controls(rendered)
    assert 'obj="\\x1b[2Jforged\\nline"' in rendered
    assert "broken=<unrenderable _Broken>" in rendered
    assert 'tup=[1,"a"]' in rendered
    assert "big=<unrenderable int>" in rendered


def _deep_list(depth: int) -> list[Any]:
    root: list[Any] = []
    node = root
    for _ in range(depth):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


def test_an_unrenderable_mapping_never_raises() -> None:
    """Even a mapping whose access raises renders a marker instead of raising."""

    class Exploding(dict[str, object]):
        def items(self) -> Any:
            raise RuntimeError("boom")

        def __repr__(self) -> str:
            return "Exploding(\x1b[2J)"

    assert "<unrenderable> Exploding(\\x1b[2J)" == render_event(Exploding(level="info"), PLAIN)


TEXT = st.text()
FIELD_KEY = st.text().filter(lambda key: key != "exception")


@given(message=TEXT, logger=TEXT, key=FIELD_KEY, value=TEXT, level=TEXT, ts=TEXT)
def test_any_text_renders_to_one_line_without_control_characters(
    message: str, logger: str, key: str, value: str, level: str, ts: str
) -> None:
    """Whatever text an event holds, without an exception it renders to one control-free line."""
    ev: dict[str, object] = {
        "timestamp": ts,
        "level": level,
        "logger": logger,
        "message": message,
        key: value,
    }
    if key not in ("timestamp", "level", "logger", "message"):
        ev["nested"] = {key: [value]}

    rendered = render_event(ev, PLAIN)

    assert 1 == len(rendered.split("\n"))
    assert [] == FORBIDDEN.findall(rendered)


@given(message=TEXT, key=FIELD_KEY, value=TEXT)
def test_any_text_through_a_batch_renders_to_one_line(message: str, key: str, value: str) -> None:
    """An NDJSON event carrying arbitrary text renders to exactly one control-free line."""
    ev = event(message=message)
    ev[key] = value
    data = json.dumps(ev).encode() + b"\n"

    rendered = render_batch(data, PLAIN).decode("utf-8")

    assert 1 == rendered.count("\n")
    assert [] == FORBIDDEN.findall(rendered.removesuffix("\n"))


@given(data=st.binary())
def test_any_bytes_render_without_raising_or_raw_controls(data: bytes) -> None:
    """Arbitrary bytes never raise and never produce raw control characters besides LF."""
    rendered = render_batch(data, COLOR).decode("utf-8")

    assert [] == raw_controls(rendered)
