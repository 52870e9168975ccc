"""Human console rendering of NDJSON batches, safe against line forging and terminal injection.

This module owns the "console" output format: a pure function from one NDJSON batch (the bytes
the pipeline already holds) to UTF-8 text, one line per event plus an indented traceback block
when the event carries an ``exception``. It runs on a sink's worker thread, never on the
application's, so it parses with ``orjson.loads``. Every piece of logged text (message, logger,
keys, values, traceback lines, even unparsable input) passes through one escaper that shows C0/C1
controls, DEL, U+2028/U+2029, bidi overrides and isolates and lone surrogates as visible escapes
(``\\n``, ``\\x1b``, ``\\u202e``), so no logged value can start a line or send a control sequence
to a terminal: the only control characters in the output are the newlines between rendered lines
and, when colours are on, the SGR codes emitted here. Rendering never raises; malformed lines come
out escaped behind an ``<unparsed>`` marker.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

import orjson

from .._event.layout import SCHEMAS

__all__ = ["ConsoleStyle", "render_batch", "render_event", "style_for_schema"]


@dataclass(frozen=True, slots=True)
class ConsoleStyle:
    """How console lines look: ANSI colours, the logger column and the time column format.

    ``time_format="time"`` shows ``HH:MM:SS.mmm`` (UTC, truncated to milliseconds); ``"iso"``
    shows the full RFC 3339 timestamp as serialized. ``keys`` are the names of the time,
    level, logger and message fields and ``error_keys`` those of the exception's type,
    message and stack trace when they are top-level keys: an output schema's
    (:func:`style_for_schema`).
    """

    colors: bool = False
    show_logger: bool = True
    time_format: Literal["iso", "time"] = "time"
    keys: tuple[str, str, str, str] = ("timestamp", "level", "logger", "message")
    error_keys: tuple[str, str, str] | None = None


def style_for_schema(schema: str, *, colors: bool = False) -> ConsoleStyle:
    """The console style that reads events written with the output schema ``schema``."""
    found = SCHEMAS[schema]
    keys = (found.timestamp, found.level, found.logger, found.message)
    return ConsoleStyle(colors=colors, keys=keys, error_keys=found.error_keys)


# --- escaping -------------------------------------------------------------------------------------

# Everything that could break a line, move the cursor, start an escape sequence or reorder the
# text visually: C0 controls, DEL, C1 controls, line/paragraph separators, bidi embeddings,
# overrides and isolates, and lone surrogates (which could not be encoded to UTF-8 anyway).
_UNSAFE_CLASS: Final = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE_RANGES: Final = (
    (0x00, 0x1F),
    (0x7F, 0x9F),
    (0x2028, 0x2029),
    (0x202A, 0x202E),
    (0x2066, 0x2069),
    (0xD800, 0xDFFF),
)
_UNSAFE: Final = re.compile(f"[{_UNSAFE_CLASS}]")
_UNSAFE_OR_QUOTE: Final = re.compile(f'[{_UNSAFE_CLASS}"\\\\]')
# A value may stay unquoted if it has no whitespace, quote, backslash, "=" or unsafe character...
_BARE: Final = re.compile(f'[^\\s"\\\\={_UNSAFE_CLASS}]+')
# ...and does not read like a JSON literal, so the string "200" stays distinct from the number 200.
_LITERAL: Final = re.compile(
    r"true|false|null|-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII
)


def _build_tables() -> tuple[dict[int, str], dict[int, str], dict[int, str]]:
    named = {0x09: "\\t", 0x0A: "\\n", 0x0D: "\\r"}
    plain: dict[int, str] = {}
    as_json: dict[int, str] = {}
    for low, high in _UNSAFE_RANGES:
        for code in range(low, high + 1):
            if code in named:
                plain[code] = named[code]
            elif code < 0x100:
                plain[code] = f"\\x{code:02x}"
            else:
                plain[code] = f"\\u{code:04x}"
            as_json[code] = f"\\u{code:04x}"
    quoted = {**plain, ord('"'): '\\"', ord("\\"): "\\\\"}
    return plain, quoted, as_json


_PLAIN_TABLE, _QUOTED_TABLE, _JSON_TABLE = _build_tables()


def _escape(text: str) -> str:
    """Return ``text`` with every unsafe character shown as a visible escape (no quoting)."""
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_PLAIN_TABLE)


def _quote(text: str) -> str:
    """Return ``text`` in double quotes, with quotes, backslashes and unsafe characters escaped."""
    if _UNSAFE_OR_QUOTE.search(text) is None:
        return f'"{text}"'
    return f'"{text.translate(_QUOTED_TABLE)}"'


def _format_str(text: str) -> str:
    if _BARE.fullmatch(text) is None or _LITERAL.fullmatch(text) is not None:
        return _quote(text)
    return text


def _format_key(key: object) -> str:
    text = key if isinstance(key, str) else str(key)
    return text if _BARE.fullmatch(text) is not None else _quote(text)


def _format_json(value: object) -> str:
    """Compact JSON for a nested value; unsafe characters become ``\\uXXXX``, so it stays JSON."""
    try:
        text = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except Exception:  # lone surrogates, exotic objects, too deep: the slow, lenient encoder
        try:
            text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=repr)
        except Exception:
            return f"<unrenderable {_escape(type(value).__name__)}>"
    if _UNSAFE.search(text) is None:
        return text
    return text.translate(_JSON_TABLE)


def _format_value(value: object) -> str:
    if isinstance(value, str):
        return _format_str(value)
    kind = type(value)
    if kind is int or kind is float:  # exact types: subclasses (enums) may have any repr
        try:
            return repr(value)
        except ValueError:  # int beyond sys.get_int_max_str_digits()
            return "<unrenderable int>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if kind is dict or kind is list or isinstance(value, (Mapping, list, tuple)):
        return _format_json(value)
    # Only reachable when render_event is handed live Python objects rather than parsed JSON.
    try:
        return _format_str(str(value))
    except Exception:
        return f"<unrenderable {_escape(type(value).__name__)}>"


def _format_text(value: object) -> str:
    """Free text (message, logger, exception type): escaped but never quoted."""
    return _escape(value) if isinstance(value, str) else _format_value(value)


# --- layout ---------------------------------------------------------------------------------------

_LEVEL_WIDTH: Final = 8  # len("CRITICAL")
_INDENT: Final = "    "
_EXCEPTION_KEYS: Final = frozenset(("type", "message", "stacktrace"))
_TIME: Final = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:[.,]([0-9]+))?", re.ASCII
)
_LEVEL_NAMES: Final = {
    "debug": "DEBUG",
    "info": "INFO",
    "warning": "WARNING",
    "warn": "WARNING",
    "error": "ERROR",
    "critical": "CRITICAL",
    "fatal": "CRITICAL",
    # Cloud Logging's severities (schema="gcp")
    "DEBUG": "DEBUG",
    "INFO": "INFO",
    "WARNING": "WARNING",
    "ERROR": "ERROR",
    "CRITICAL": "CRITICAL",
}

_RESET: Final = "\x1b[0m"
_BOLD: Final = "\x1b[1m"
_DIM: Final = "\x1b[2m"
_RED: Final = "\x1b[31m"
_GREEN: Final = "\x1b[32m"
_YELLOW: Final = "\x1b[33m"
_BLUE: Final = "\x1b[34m"
_MAGENTA: Final = "\x1b[35m"
_CYAN: Final = "\x1b[36m"
_BOLD_RED: Final = "\x1b[1;31m"
_LEVEL_COLORS: Final = {
    "DEBUG": _BLUE,
    "INFO": _GREEN,
    "WARNING": _YELLOW,
    "ERROR": _RED,
    "CRITICAL": _BOLD_RED,
}


@dataclass(frozen=True, slots=True)
class _Palette:
    """Opening codes per column (all empty without colours) and the prebuilt level labels."""

    levels: Mapping[str, tuple[str, str]]  # level as serialized -> (padded label, bare label)
    time: str
    logger: str
    message: str
    key: str
    exception: str
    reset: str


def _palette(colors: bool) -> _Palette:
    levels: dict[str, tuple[str, str]] = {}
    for level, name in _LEVEL_NAMES.items():
        pad = " " * (_LEVEL_WIDTH - len(name))
        if colors:
            bare = f"{_LEVEL_COLORS[name]}{name}{_RESET}"
            levels[level] = (bare + pad, bare)
        else:
            levels[level] = (name + pad, name)
    if not colors:
        return _Palette(levels, "", "", "", "", "", "")
    return _Palette(levels, _DIM, _MAGENTA, _BOLD, _CYAN, _RED, _RESET)


_PALETTES: Final = {False: _palette(colors=False), True: _palette(colors=True)}


def _format_time(value: object, style: ConsoleStyle) -> str:
    if not isinstance(value, str):
        return _format_value(value)
    if style.time_format == "time":
        match = _TIME.match(value)
        if match is not None:
            millis = (match.group(2) or "")[:3].ljust(3, "0")
            return f"{match.group(1)}.{millis}"
    return _escape(value)


def _level_label(value: object, palette: _Palette) -> tuple[str, str]:
    if isinstance(value, str):
        known = palette.levels.get(value)
        if known is not None:
            return known
        name = _escape(value.upper())
    elif value is None:
        name = "?"
    else:
        name = _format_value(value).upper()
    return name.ljust(_LEVEL_WIDTH), name


def _text_block(text: str) -> list[str]:
    """Indented lines of a multi-line text: split only on real LF, each line escaped on its own."""
    return [f"{_INDENT}{_escape(line)}" if line else "" for line in text.rstrip("\n").split("\n")]


def _exception_block(value: object, palette: _Palette) -> list[str] | None:
    """The traceback lines for an ``exception`` field, or None if it should render as a field."""
    if isinstance(value, str):
        return _text_block(value) if value else None
    if not isinstance(value, Mapping):
        return None
    stacktrace = value.get("stacktrace")
    if isinstance(stacktrace, str) and stacktrace.strip():
        lines = _text_block(stacktrace)
    elif "type" in value or "message" in value:
        kind_text = _format_text(value.get("type"))
        message_text = _format_text(value.get("message"))
        lines = [f"{_INDENT}{palette.exception}{kind_text}: {message_text}{palette.reset}"]
    else:
        return None
    extras = [
        f"{palette.key}{_format_key(key)}{palette.reset}={_format_value(item)}"
        for key, item in value.items()
        if key not in _EXCEPTION_KEYS
    ]
    if extras:
        lines.append(_INDENT + " ".join(extras))
    return lines


def _render(event: Mapping[str, object], style: ConsoleStyle) -> str:
    palette = _PALETTES[bool(style.colors)]
    reset = palette.reset
    time_key, level_key, logger_key, message_key = style.keys
    parts: list[str] = []
    if time_key in event:
        parts.append(f"{palette.time}{_format_time(event[time_key], style)}{reset}")
    padded, bare = _level_label(event.get(level_key), palette)
    parts.append(padded)
    if style.show_logger:
        logger = event.get(logger_key)
        if logger is not None and logger != "":
            parts.append(f"{palette.logger}[{_format_text(logger)}]{reset}")
    message = event.get(message_key)
    if message is not None and message != "":
        parts.append(f"{palette.message}{_format_text(message)}{reset}")

    block: list[str] | None = None
    shown: frozenset[str] = frozenset(style.keys)
    errors = style.error_keys
    if errors is not None and any(key in event for key in errors):
        block = _exception_block(
            {
                "type": event.get(errors[0]),
                "message": event.get(errors[1]),
                "stacktrace": event.get(errors[2]),
            },
            palette,
        )
        if block is not None:
            shown = shown | frozenset(errors)
    elif "exception" in event:
        block = _exception_block(event["exception"], palette)
        if block is not None:
            shown = shown | {"exception"}
    for key, value in event.items():
        if key in shown:
            continue
        parts.append(f"{palette.key}{_format_key(key)}{reset}={_format_value(value)}")

    if parts[-1] is padded:  # nothing follows the level: no trailing padding
        parts[-1] = bare
    line = " ".join(parts)
    if block:
        return "\n".join((line, *block))
    return line


def render_event(event: Mapping[str, object], style: ConsoleStyle) -> str:
    """Render one parsed event as console text without a trailing newline; never raises.

    The first line is ``<time> <LEVEL padded to 8> [<logger>] <message> key=value ...``; an
    ``exception`` field follows as indented traceback lines. All logged text is escaped.
    """
    try:
        return _render(event, style)
    except Exception:
        try:
            return f"<unrenderable> {_escape(repr(event))}"
        except Exception:
            return "<unrenderable>"


def render_batch(data: bytes, style: ConsoleStyle) -> bytes:
    """Render an NDJSON batch as UTF-8 console text, each rendered line ending in LF; never raises.

    Blank input lines are skipped; a line that is not a JSON object (invalid UTF-8 included) comes
    out escaped as ``<unparsed> <line>``.
    """
    rendered: list[str] = []
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            event = orjson.loads(raw)
        except Exception:
            event = None
        if type(event) is dict:
            rendered.append(render_event(event, style))
        else:
            rendered.append(f"<unparsed> {_escape(raw.decode('utf-8', 'backslashreplace'))}")
    if not rendered:
        return b""
    rendered.append("")
    return "\n".join(rendered).encode("utf-8", "backslashreplace")
