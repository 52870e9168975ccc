"""A call's fields made safe to serialize, without walking them in Python.

The logger hands a call's fields here only when one of them needs more than the
C-level checks of its hot path (a name not yet known to be safe, a container, a
long string, a NaN). Each field then costs:

* a scalar: its name checked (memo of safe names, the redaction rule for a new one),
  a top-level string longer than ``max_field_length`` cut before orjson would
  reserve ~10x its size, a top-level NaN/Inf counted (``non_finite``; it becomes
  ``null``);
* a nested value: **one** ``orjson.dumps`` (the only walk of it, in C), handed to
  the event as an ``orjson.Fragment`` so the event's own ``dumps`` copies the
  bytes instead of walking the value again. The bytes then decide whether a slow
  path is needed, and only then is the value walked in Python:

  ==========================================  =====================================
  the bytes say                               slow path
  ==========================================  =====================================
  a secret key may be inside (``_keyscan``)    the redactor's walk (a copy)
  a string over max_field_length may be inside the sanitizer's walk (cut, counted)
  orjson refused the value                     redactor then sanitizer (stand-ins)
  ==========================================  =====================================

  A value larger than ``max_event_bytes`` is left to the event-level limit, which
  replaces it by a marker and keeps the small fields. NaN/Inf inside containers
  become ``null`` (orjson's choice) without being counted: counting them would
  need a walk.

The number of Python function calls made here does not depend on the size of a
value (``tests/test_hot_path_calls.py`` counts them), so a 100 KB field costs the
C work on 100 KB, never a Python walk of it.
"""

from __future__ import annotations

from typing import Any

import orjson

from .._core.errors import EncodeError
from .encode import Encoder, type_name
from .keyscan import long_string_check
from .layout import FALLBACK_KEY, TRUNCATED_KEY
from .redact import MARK, SCALARS, Redactor

__all__ = ["FieldPrep"]

_dumps = orjson.dumps
_Fragment = orjson.Fragment
_JSONEncodeError = orjson.JSONEncodeError
_OPTIONS = orjson.OPT_UTC_Z
_LEAVES = SCALARS | {_Fragment}
_type_name = type_name
#: Dicts of at most this many keys, none nested, have their names checked one by one
#: (and remembered) instead of scanned: cheaper for the typical user={...}.
_FLAT = 8


class FieldPrep:
    """Prepares call fields (and stdlib ``extra``) for one pipeline's limits and redaction.

    Worst-case footprint: none of its own (the redactor holds the name memo).
    """

    __slots__ = ("cut", "encoder", "has_long", "max_event_bytes", "max_field_length", "redactor")

    def __init__(self, encoder: Encoder, redactor: Redactor) -> None:
        self.encoder = encoder
        self.redactor = redactor
        encoder.secret_name = redactor.is_secret if redactor.names else None
        limits = encoder.limits
        self.max_field_length = limits.max_field_length
        self.max_event_bytes = limits.max_event_bytes
        #: Cut values over max_event_bytes here (``oversize="truncate"``); with "drop" the
        #: event-level limit drops the whole event.
        self.cut = limits.oversize == "truncate"
        #: ``has_long(json_bytes)``: may they hold a string over max_field_length? Called
        #: for every nested value, so the Python call count never depends on its size.
        self.has_long = long_string_check(self.max_field_length)

    def fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` redacted, cut and counted (a copy when anything changed)."""
        redactor = self.redactor
        names = redactor.names
        safe = redactor.safe_names
        is_secret = redactor.is_secret
        max_field_length = self.max_field_length
        notes: list[str] = []
        out: dict[str, Any] | None = None
        cut: list[str] | None = None
        cut_bytes = 0
        for key, value in fields.items():
            if names and key not in safe and is_secret(key):
                new: Any = MARK
                redactor.count_redacted(1)
            else:
                cls = value.__class__
                if cls is str:
                    if len(value) <= max_field_length:
                        continue
                    new = self.encoder.trim_text(value, notes)
                elif cls in _LEAVES:
                    if cls is float and value - value != 0:
                        notes.append("non_finite")
                    continue
                else:
                    data = self.value_bytes(key, value, notes)
                    if len(data) > self.max_event_bytes and self.cut:
                        # It can never fit: a marker now (the small fields stay), rather
                        # than a copy of it in the event only to be cut there.
                        new = f"<{_type_name(value)} of {len(data)} bytes: over max_event_bytes>"
                        if cut is None:
                            cut = []
                        cut.append(key)
                        cut_bytes += len(data)
                    else:
                        new = _Fragment(data)
            if out is None:
                out = dict(fields)
            out[key] = new
        if notes:
            self.encoder.record(notes)
            if out is None:
                out = dict(fields)
            previous = out.get(FALLBACK_KEY)
            markers = set(notes) | (set(previous) if isinstance(previous, list) else set())
            out[FALLBACK_KEY] = sorted(markers)
        if cut is not None and out is not None:
            self.encoder.count("truncated_event")
            out[TRUNCATED_KEY] = {
                "original_bytes": cut_bytes,
                "max_event_bytes": self.max_event_bytes,
                "fields_dropped": cut,
            }
        return fields if out is None else out

    def value_bytes(self, key: object, value: object, notes: list[str]) -> bytes:
        """One nested value as JSON bytes: redacted, strings cut, stand-ins where needed.

        orjson walks the value once; Python walks it only when the bytes call for
        it (see the module doc). Raises only in strict mode.
        """
        encoder = self.encoder
        try:
            data = _dumps(value, default=encoder.default, option=_OPTIONS)
        except (_JSONEncodeError, RecursionError):
            return self._walked(key, value, notes)
        if len(data) > self.max_event_bytes:
            return data  # never sent as it is: the event is cut or dropped (see ``fields``)
        redactor = self.redactor
        scan = redactor.scan
        if scan is not None and b'"' in data:  # a key needs a quote (memchr)
            if (
                isinstance(value, dict)
                and len(value) <= _FLAT
                and data.count(b'":') == len(value)  # its own keys are all the keys in it
            ):
                # A small flat dict (user={"id": 42, "name": "bob"}): its names are
                # checked one by one (and remembered), as a call's own names are.
                safe = redactor.safe_names
                if not safe.issuperset(value):
                    for name in value:
                        if redactor.is_secret(name):
                            return self._walked(key, value, notes)
            elif scan(data):
                return self._walked(key, value, notes)
        if self.has_long(data):  # a string over max_field_length may be inside
            return self._walked(key, value, notes)
        return data

    def _walked(self, key: object, value: object, notes: list[str]) -> bytes:
        """The slow path: the redactor's walk, then the sanitizer's, then orjson."""
        encoder = self.encoder
        try:
            clean = self.redactor.value(key, value) if self.redactor.names else value
            clean = encoder.sanitize(clean, notes)
            return _dumps(clean, default=encoder.default, option=_OPTIONS)
        except EncodeError:
            raise  # strict mode
        except Exception as exc:  # never fail the call: one stand-in for this value
            notes.append("encode_error")
            return _dumps(f"<unserializable {type(value).__name__}: {type(exc).__name__}>")
