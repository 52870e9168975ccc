"""Event -> JSON bytes: the one place where user objects are read.

The fast path is a single ``orjson.dumps`` call on the caller's thread; bound
and contextvars context arrive as pre-serialized ``orjson.Fragment`` values and
are copied byte-for-byte, never re-walked. Everything orjson refuses, and every
event larger than the field-length limit, takes the slow path: a sanitizing walk
that returns plain JSON data with defined, counted substitutions:

=====================  ==================================================  ===========
input                  result                                              counter
=====================  ==================================================  ===========
unknown type           ``"<unserializable T: repr>"`` (repr bounded)       repr
repr that raises       ``"<unserializable T: repr() raised E>"``           repr_error
cycle                  ``"<cycle>"``                                        cycle
nesting > max_depth    ``"<max depth exceeded>"``                           depth
non-str key            ``str``-like key (``1`` -> ``"1"``, None -> "null")  non_str_key
key collision          later key gets ``#2``, ``#3``...                    key_collision
lone surrogate         backslash escape (``"\\udc80"``)                    surrogate
int beyond 64 bits     decimal string, or ``"<int of N bits>"``             big_int
string too long        cut, ``"...[truncated N chars]"`` appended          truncated
NaN / +-Inf            ``null`` (orjson's JSON-safe choice; not counted)   -
=====================  ==================================================  ===========

An event touched by the slow path carries ``"nglogger_fallback": [counter names]``.
Nothing returned here references a caller object.
"""

from __future__ import annotations

import dataclasses
import enum
import os
import sys
import threading
from collections.abc import Mapping
from datetime import date, datetime, time
from typing import Any

import orjson

from .._core.errors import EncodeError
from .layout import DEFAULT_SCHEMA, FALLBACK_KEY, RESERVED, TRUNCATED_KEY, Schema

__all__ = ["FALLBACK_KEY", "RESERVED", "TRUNCATED_KEY", "Encoder", "Limits", "compact"]

_dumps = orjson.dumps
_Fragment = orjson.Fragment
_JSONEncodeError = orjson.JSONEncodeError
OPTIONS = orjson.OPT_APPEND_NEWLINE | orjson.OPT_UTC_Z
_VALUE_OPTIONS = orjson.OPT_UTC_Z

_I64_MIN = -(2**63)
_U64_MAX = 2**64 - 1

#: Room kept for "...[truncated N chars]" so a cut string stays within max_field_length.
_MARKER_ROOM = 40
_JSON_KINDS = {b"{": "object", b"[": "array", b'"': "string"}
_KEEP_MESSAGE = 1024
#: Room for nglogger_truncated and the markers when cutting an oversize event.
_TRUNCATED_ROOM = 1024


def compact(data: bytes) -> bytes:
    """A right-sized copy of ``data``.

    orjson's result keeps a ~4 KiB allocation whatever its length; anything held
    for longer than a call (bound context, buffered events) is copied first.
    """
    return b"".join((data, b""))  # a new, exactly sized object (2x faster than bytes(memoryview))


@dataclasses.dataclass(frozen=True, slots=True)
class Limits:
    """The limits the encoder enforces (see ``Config`` for their meaning)."""

    max_event_bytes: int = 256 * 1024
    oversize: str = "truncate"
    max_field_length: int = 64 * 1024
    max_depth: int = 32
    max_repr_length: int = 1000
    max_traceback_bytes: int = 16 * 1024
    strict: bool = False


class Encoder:
    """Encodes events and context values; owns the fallback counters.

    Worst-case footprint: the counters dict (one int per counter name).
    """

    __slots__ = ("_counts", "_lock", "default", "limits", "schema", "secret_name")

    def __init__(self, limits: Limits, schema: Schema = DEFAULT_SCHEMA) -> None:
        self.limits = limits
        #: The output schema: the names of the exception fields, reserved names, the head.
        self.schema = schema
        self._counts: dict[str, int] = {}
        self._lock = threading.RLock()  # counted from log calls: re-entry never waits
        self.default = self._default
        #: Set by the pipeline to its redactor's rule: a namedtuple with a secret field
        #: name is sent to the slow path (orjson writes it as a list: no key to scan).
        self.secret_name: Any = None

    @property
    def check_threshold(self) -> int:
        """Events longer than this may break a limit and get the slow check."""
        return min(self.limits.max_field_length, self.limits.max_event_bytes)

    # ----------------------------------------------------------------- counters
    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` to the fallback counter ``name``."""
        with self._lock:
            self._counts[name] = self._counts.get(name, 0) + n

    def counts(self) -> dict[str, int]:
        """A snapshot of the fallback counters."""
        with self._lock:
            return dict(self._counts)

    # ------------------------------------------------------------- orjson hook
    def _default(self, obj: Any) -> Any:
        """orjson's hook: exact conversions of well-known types, nothing else.

        Anything that needs a stand-in (an unknown type, bytes that are not UTF-8,
        an exception whose ``str()`` fails) makes the hook raise, so the event goes
        to the sanitizer, which produces the stand-in and counts it exactly once
        (``repr()`` is called once, there).
        """
        if isinstance(obj, (set, frozenset)):
            return list(obj)
        if isinstance(obj, (bytes, bytearray, memoryview)):
            return bytes(obj).decode("utf-8")  # invalid UTF-8 raises: sanitizer escapes it
        if _is_a(obj, "decimal", "Decimal"):
            return str(obj)
        if isinstance(obj, os.PathLike):
            return os.fspath(obj)
        if isinstance(obj, tuple):  # namedtuple and other tuple subclasses
            names = getattr(obj, "_fields", None)
            secret = self.secret_name
            if secret is not None and isinstance(names, tuple) and any(map(secret, names)):
                raise _NeedsStandInError  # the slow path redacts it by field name
            return list(obj)
        if isinstance(obj, Mapping):
            return dict(obj)
        if isinstance(obj, BaseException):
            return f"{_type_name(obj)}: {obj}"  # a raising __str__ goes to the sanitizer
        if self.limits.strict:
            raise EncodeError(f"cannot serialize {_type_name(obj)}")
        raise _NeedsStandInError

    def _stand_in(self, obj: Any, notes: list[str]) -> Any:
        """The sanitizer's version of the hook: always returns something JSON-safe."""
        if isinstance(obj, (bytes, bytearray, memoryview)):
            raw = bytes(obj)
            try:
                return raw.decode("utf-8")
            except UnicodeDecodeError:
                notes.append("invalid_utf8")
                return raw.decode("utf-8", "backslashreplace")
        if isinstance(obj, BaseException):
            return f"{_type_name(obj)}: {_safe_str(obj, self.limits.max_repr_length, notes)}"
        try:
            return self._default(obj)
        except _NeedsStandInError:
            return self._repr(obj, notes)
        except EncodeError:
            raise
        except Exception:  # a conversion that failed (a Mapping whose items() raises...)
            return self._repr(obj, notes)

    def _repr(self, obj: object, notes: list[str]) -> str:
        try:
            text = repr(obj)
        except BaseException as exc:  # user code: contain everything
            notes.append("repr_error")
            return f"<unserializable {_type_name(obj)}: repr() raised {type(exc).__name__}>"
        notes.append("repr")
        limit = self.limits.max_repr_length
        if len(text) > limit:
            text = f"{text[:limit]}...[truncated {len(text) - limit} chars]"
        return f"<unserializable {_type_name(obj)}: {text}>"

    # ------------------------------------------------------------------ values
    def encode_value(self, value: object) -> bytes:
        """One value as right-sized JSON bytes (used at ``bind`` time)."""
        try:
            data = _dumps(value, default=self.default, option=_VALUE_OPTIONS)
        except (_JSONEncodeError, RecursionError):
            if self.limits.strict:
                raise
            notes: list[str] = []
            data = _dumps(self.sanitize(value, notes), default=self.default, option=_VALUE_OPTIONS)
            self.record(notes)
        else:
            if len(data) > self.limits.max_field_length:
                notes = []
                clean = self.sanitize(value, notes)
                if notes:
                    self.record(notes)
                    data = _dumps(clean, default=self.default, option=_VALUE_OPTIONS)
        return compact(data)

    def fragment(self, value: object) -> orjson.Fragment:
        """A value serialized once, to be embedded in every later event."""
        return _Fragment(self.encode_value(value))

    # ------------------------------------------------------------------ events
    def encode_event(self, event: dict[str, Any]) -> bytes | None:
        """The whole event as NDJSON bytes (with newline), or None if dropped."""
        try:
            data = _dumps(event, default=self.default, option=OPTIONS)
        except (_JSONEncodeError, RecursionError):
            if self.limits.strict:
                raise
            return self.slow_encode(event)
        if len(data) > self.check_threshold:
            return self.check_large(event, data)
        return data

    def slow_encode(self, event: dict[str, Any]) -> bytes | None:
        """Sanitize then encode an event orjson refused."""
        notes: list[str] = []
        clean = self.sanitize(event, notes)
        return self._finish(clean, notes)

    def cut_oversize(self, event: dict[str, Any], size: int) -> bytes | None:
        """An event of ``size`` bytes over max_event_bytes, cut to fit (see ``_oversize``)."""
        return self._oversize(event, size)

    def check_large(self, event: dict[str, Any], data: bytes) -> bytes | None:
        """Apply field and event limits to an event that may exceed them."""
        notes: list[str] = []
        clean = self.sanitize(event, notes)
        if not notes:
            if len(data) <= self.limits.max_event_bytes:
                return data
            return self._oversize(clean, len(data))
        return self._finish(clean, notes)

    def _finish(self, clean: Any, notes: list[str]) -> bytes | None:
        self.record(notes)  # only what the encoder did (a caller's markers count elsewhere)
        if notes and isinstance(clean, dict):
            previous = clean.get(FALLBACK_KEY)
            markers = set(notes)
            if isinstance(previous, list):  # e.g. the stdlib handler's format_error
                markers.update(str(p) for p in previous)
            clean[FALLBACK_KEY] = sorted(markers)
        try:
            data = _dumps(clean, default=self.default, option=OPTIONS)
        except (_JSONEncodeError, RecursionError):  # should not happen: clean is plain data
            self.count("encode_error")
            data = _dumps(
                {k: clean[k] for k in RESERVED if isinstance(clean, dict) and k in clean}
                | {FALLBACK_KEY: ["encode_error"]},
                default=str,
                option=OPTIONS,
            )
        if len(data) > self.limits.max_event_bytes:
            return self._oversize(clean, len(data))
        return data

    def _oversize(self, clean: Any, size: int) -> bytes | None:
        """An event over max_event_bytes: its large values cut, or None (``oversize="drop"``).

        The reserved keys and every small field stay (``request_id`` still correlates
        the event); the largest values, biggest first, become markers naming their JSON
        type and size until the event fits. ``nglogger_truncated`` says what was cut.
        Work here grows with the number of fields, not their size (each is serialized
        once more, in C). If cutting values cannot make it fit (thousands of small
        fields), only the reserved keys and the list of field names remain.
        """
        if self.limits.oversize == "drop" or not isinstance(clean, dict):
            return None
        self.count("truncated_event")
        limit = self.limits.max_event_bytes
        previous = clean.get(TRUNCATED_KEY)
        cut: list[str] = []
        if isinstance(previous, dict) and isinstance(previous.get("fields_dropped"), list):
            cut = [str(k) for k in previous["fields_dropped"]]
        sizes: list[tuple[int, str, str]] = []
        for key, value in clean.items():
            if key in RESERVED or key == TRUNCATED_KEY:
                continue
            try:
                data = _dumps(value, default=self.default, option=_VALUE_OPTIONS)
            except Exception:  # cannot tell: cut it
                sizes.append((limit, key, "value"))
                continue
            sizes.append((len(data), key, _JSON_KINDS.get(data[:1], "value")))
        sizes.sort(reverse=True)
        out = dict(clean)
        message = out.get("message", "")
        if isinstance(message, str) and len(message) > _KEEP_MESSAGE:
            excess_message = len(message) - _KEEP_MESSAGE
            out["message"] = f"{message[:_KEEP_MESSAGE]}...[truncated {excess_message} chars]"
            size -= excess_message
        excess = size - limit + _TRUNCATED_ROOM
        for n, key, kind in sizes:
            if excess <= 0:
                break
            marker = f"<{kind} of {n} bytes: over max_event_bytes>"
            out[key] = marker
            cut.append(key)
            excess -= n - len(marker) - 2
        info = {"original_bytes": size, "max_event_bytes": limit, "fields_dropped": cut[:32]}
        out[TRUNCATED_KEY] = info
        data = _dumps(out, default=str, option=OPTIONS)
        if len(data) <= limit:
            return data
        stand_in: dict[str, Any] = {k: out.get(k) for k in ("timestamp", "level", "logger")}
        stand_in["message"] = out.get("message", "")
        info["fields_dropped"] = [k for k in clean if k not in RESERVED][:32]
        stand_in[TRUNCATED_KEY] = info
        return _dumps(stand_in, default=str, option=OPTIONS)

    def trim_text(self, text: str, notes: list[str]) -> str:
        """``text`` cut to max_field_length with a marker (surrogates escaped)."""
        limit = self.limits.max_field_length
        if len(text) > limit:
            notes.append("truncated")
            keep = max(0, limit - _MARKER_ROOM)  # the result, marker included, fits the limit
            text = f"{text[:keep]}...[truncated {len(text) - keep} chars]"
        if _has_surrogate(text):
            notes.append("surrogate")
            text = text.encode("utf-8", "backslashreplace").decode("utf-8")
        return text

    def trim(self, text: str) -> str:
        """``trim_text`` with the counters recorded (for a huge message)."""
        notes: list[str] = []
        out = self.trim_text(text, notes)
        self.record(notes)
        return out

    def record(self, notes: list[str]) -> None:
        """Count each fallback noted in ``notes``."""
        if not notes:
            return
        with self._lock:
            counts = self._counts
            for note in notes:
                counts[note] = counts.get(note, 0) + 1

    # ---------------------------------------------------------------- sanitize
    def sanitize(self, obj: Any, notes: list[str]) -> Any:
        """Plain JSON data equivalent to ``obj`` within the limits (see module doc)."""
        return self._walk(obj, 0, set(), notes)

    def _walk(self, obj: Any, depth: int, path: set[int], notes: list[str]) -> Any:
        limits = self.limits
        if obj is None or obj is True or obj is False:
            return obj
        kind = type(obj)
        if kind is str:
            return self._str(obj, notes)
        if kind is int:
            return self._int(obj, notes)
        if kind is float or kind is _Fragment:
            return obj
        if isinstance(obj, enum.Enum):
            return self._walk(obj.value, depth, path, notes)
        if isinstance(obj, (datetime, date, time)) or _is_a(obj, "uuid", "UUID"):
            return obj
        if isinstance(obj, str):
            return self._str(str.__str__(obj), notes)
        if isinstance(obj, int):
            return self._int(int(obj), notes)
        if isinstance(obj, float):
            return float(obj)
        container = isinstance(obj, (dict, list, tuple, set, frozenset, Mapping))
        is_dc = not container and dataclasses.is_dataclass(obj) and not isinstance(obj, type)
        if container or is_dc:
            if depth >= limits.max_depth:
                notes.append("depth")
                return "<max depth exceeded>"
            ident = id(obj)
            if ident in path:
                notes.append("cycle")
                return "<cycle>"
            path.add(ident)
            try:
                if is_dc:
                    items: Any = [(f.name, getattr(obj, f.name)) for f in dataclasses.fields(obj)]
                    return self._mapping(items, depth, path, notes)
                if isinstance(obj, (dict, Mapping)):
                    return self._mapping(list(obj.items()), depth, path, notes)
                return [self._walk(item, depth + 1, path, notes) for item in list(obj)]
            except RuntimeError:  # mutated by another thread while we iterate
                notes.append("mutated")
                return "<changed during logging>"
            except EncodeError:
                raise
            except Exception as exc:  # iterating it raised: stand in for this value only
                notes.append("unreadable")
                return f"<unreadable {_type_name(obj)}: {type(exc).__name__}>"
            finally:
                path.discard(ident)
        stand_in = self._stand_in(obj, notes)
        if isinstance(stand_in, str):
            return self._str(stand_in, notes)
        return self._walk(stand_in, depth, path, notes)

    def _mapping(
        self, items: list[tuple[Any, Any]], depth: int, path: set[int], notes: list[str]
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if type(key) is str:
                name = self._str(key, notes) if _has_surrogate(key) else key
            else:
                notes.append("non_str_key")
                name = self._key(key, notes)
            if name in out:
                notes.append("key_collision")
                n = 2
                while f"{name}#{n}" in out:
                    n += 1
                name = f"{name}#{n}"
            out[name] = self._walk(value, depth + 1, path, notes)
        return out

    def _key(self, key: object, notes: list[str]) -> str:
        if key is None:
            return "null"
        if key is True:
            return "true"
        if key is False:
            return "false"
        if isinstance(key, enum.Enum):
            return self._key(key.value, notes)
        if isinstance(key, str):
            return self._str(str.__str__(key), notes)
        if isinstance(key, int):
            value = self._int(int(key), notes)
            return value if isinstance(value, str) else str(value)
        if isinstance(key, float):
            return repr(key)
        if isinstance(key, (datetime, date, time)):
            return key.isoformat()
        if _is_a(key, "uuid", "UUID"):
            return str(key)
        if isinstance(key, (bytes, bytearray)):
            return self._str(bytes(key).decode("utf-8", "backslashreplace"), notes)
        return self._str(self._repr(key, notes), notes)

    def _str(self, text: str, notes: list[str]) -> str:
        return self.trim_text(text, notes)

    def _int(self, value: int, notes: list[str]) -> int | str:
        if _I64_MIN <= value <= _U64_MAX:
            return value
        notes.append("big_int")
        try:
            text = str(value)
        except ValueError:  # beyond sys.int_info.str_digits_check_threshold
            return f"<int of {value.bit_length()} bits>"
        if len(text) > self.limits.max_field_length:
            return f"<int of {value.bit_length()} bits>"
        return text

    # -------------------------------------------------------------- exceptions
    def exception_fields(self, exc: BaseException) -> dict[str, str]:
        """The exception as structured fields: type, message, bounded stack trace."""
        notes: list[str] = []
        fields = self._exception_fields(exc, notes)
        self.record(notes)
        return fields

    def exception_event(self, exc: BaseException) -> dict[str, Any]:
        """The exception as the event keys of the schema (``exception`` or ``error.*``)."""
        return self.schema.exception_event(self.exception_fields(exc))

    def _exception_fields(self, exc: BaseException, notes: list[str]) -> dict[str, str]:
        import traceback

        limit = self.limits.max_traceback_bytes
        try:
            text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        except BaseException as err:  # a broken __str__ inside the chain, etc.
            text = f"<traceback unavailable: {type(err).__name__}>"
        if len(text) > limit:
            head = limit // 4
            tail = limit - head
            text = f"{text[:head]}\n... [{len(text) - limit} chars elided] ...\n{text[-tail:]}"
        return {
            "type": _type_name(exc),
            "message": _safe_str(exc, self.limits.max_field_length, notes),
            "stacktrace": text,
        }


def _is_a(obj: object, module: str, name: str) -> bool:
    """isinstance against a class of a module only if that module is loaded.

    An object cannot be a ``decimal.Decimal`` unless ``decimal`` was imported,
    so nglogger need not import it (``import nglogger`` stays light).
    """
    loaded = sys.modules.get(module)
    return loaded is not None and isinstance(obj, getattr(loaded, name))


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def type_name(obj: object) -> str:
    """``"list"``, ``"app.models.User"``: how fallbacks name a value's type."""
    return _type_name(obj)


def _type_name(obj: object) -> str:
    kind = type(obj)
    module = kind.__module__
    if module in ("builtins", "__main__"):
        return kind.__qualname__
    return f"{module}.{kind.__qualname__}"


def _safe_str(obj: object, limit: int, notes: list[str] | None = None) -> str:
    try:
        text = str(obj)
    except BaseException as exc:
        if notes is not None:
            notes.append("str_error")
        return f"<str() raised {type(exc).__name__}>"
    if len(text) > limit:
        keep = max(0, limit - _MARKER_ROOM)  # "...[truncated N chars]" stays within the limit
        text = f"{text[:keep]}...[truncated {len(text) - keep} chars]"
    return text


class _NeedsStandInError(Exception):
    """Raised by the orjson hook to send an event to the sanitizer."""


def exc_from_info(exc_info: object) -> BaseException | None:
    """Resolve an ``exc_info`` argument (True, exception, or a sys.exc_info() tuple)."""
    if exc_info is True:
        return sys.exc_info()[1]
    if isinstance(exc_info, BaseException):
        return exc_info
    if isinstance(exc_info, tuple) and len(exc_info) == 3:
        value = exc_info[1]
        return value if isinstance(value, BaseException) else None
    return None
