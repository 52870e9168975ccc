"""Redaction: secrets never leave the process, applied once per event.

A field is redacted when its name ends with the words of a configured name, in
order, ignoring case, with ``-``, ``_``, ``.``, a space or nothing between them
(``_keyscan`` has the rule): so ``password``, ``DB_PASSWORD``, ``X-Api-Key``,
``apiKey`` and ``client_secret`` are redacted, ``token_count`` is not. Names are
matched at any depth (dicts inside lists inside dicts...). Its value becomes
``"[REDACTED]"``.

Where it happens:

* top-level names of call fields, stdlib ``extra`` and context: a memo of names
  already known to be safe (C-level set operations), the rule for new names;
* nested values: orjson serializes them once (``_fields``), and the bytes are
  scanned for a secret key (``_keyscan``: Hyperscan or ``re``, in C). Only a value
  whose bytes hold one is walked here (and re-serialized);
* bound, contextvars and static context: the same, once, when bound;
* optional value patterns (``redact_values=True``): Bearer tokens, JWTs, AWS
  access key ids and ``user:password@`` in URLs are replaced inside the
  serialized bytes with one regex pass.

Worst-case footprint: the memo of safe names (at most 4096 strings) and one
compiled scanner.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from .._config.secrets import DEFAULT_REDACT_KEYS, REDACTED, normalize, secret_name
from .keyscan import compile_secret_keys

__all__ = ["DEFAULT_REDACT_KEYS", "MARK", "SCALARS", "Redactor"]

MARK = REDACTED

_MEMO_LIMIT = 4096
#: How deep the redactor looks: past orjson's own limit (254), so nothing it can write
#: goes out unchecked.
_WALK_LIMIT = 256
#: Values with nothing inside to redact (fragments were redacted when bound).
#: Values with nothing inside to redact (shared by the logger, bind and stdlib checks).
SCALARS = frozenset({str, int, float, bool, type(None), bytes})
_LEAVES = SCALARS | {orjson.Fragment}  # fragments were redacted when bound

_VALUE_PATTERNS = re.compile(
    rb"(?i:bearer)\s+[A-Za-z0-9\-._~+/]{8,}=*"  # Authorization: Bearer <token>
    rb"|eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{6,}"  # JWT
    rb"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # AWS access key id
    rb"|(?<=://)[^/\s:@\"\\]{1,256}:[^/\s@\"\\]{1,256}(?=@)"  # user:password@ in URLs
)


def _is_dataclass(value: object) -> bool:
    return dataclasses.is_dataclass(value) and not isinstance(value, type)


def _key_text(key: object) -> str | None:
    """The JSON name a non-string key will get (as the encoder names it), or None."""
    try:
        if isinstance(key, (bytes, bytearray)):
            return bytes(key).decode("utf-8", "backslashreplace")
        value = getattr(key, "value", None)
        if value is not None and isinstance(value, (str, bytes)):
            return _key_text(value) if isinstance(value, bytes) else value
        return str(key)
    except Exception:
        return None


class Redactor:
    """Decides which field names are secret and rewrites values that are."""

    __slots__ = ("_names", "_safe", "_secret", "count", "max_depth", "names", "scan", "values")

    def __init__(
        self,
        keys: Iterable[str],
        *,
        values: bool = False,
        max_depth: int = 32,
        count: Any = None,
    ) -> None:
        keys = tuple(keys)
        self._names = tuple(sorted({normalize(k) for k in keys if normalize(k)}))
        self._secret = secret_name(keys)
        #: ``scan(json_bytes)``: may the bytes hold a secret key? (None: no names)
        self.scan = compile_secret_keys(keys)
        self._safe: set[str] = set()
        #: True when any field name is redacted (a plain attribute: read on hot paths).
        self.names = bool(self._names)
        self.values = values
        self.max_depth = max_depth
        self.count = count

    @property
    def safe_names(self) -> set[str]:
        """The memo of names known not to be secret (grows to at most 4096)."""
        return self._safe

    def fields(self, fields: dict[str, Any]) -> dict[str, Any]:
        """``fields`` with secrets redacted (a copy when something changed)."""
        clean = self.event(fields)
        return fields if clean is None else clean

    @property
    def enabled(self) -> bool:
        """True when any name or pattern is configured."""
        return bool(self._names) or self.values

    def is_secret(self, name: object) -> bool:
        """Whether a field called ``name`` holds a secret.

        A key that is not a string is judged by the name it will have in the JSON
        (bytes decoded, an enum by its value, anything else by ``str()``), so
        ``{b"password": ...}`` is redacted like ``{"password": ...}``.
        """
        if not isinstance(name, str):
            return self._secret_text(_key_text(name))
        if name in self._safe:
            return False
        secret = self._secret(name)
        if not secret and len(self._safe) < _MEMO_LIMIT:
            self._safe.add(name)
        return secret

    def _secret_text(self, text: str | None) -> bool:
        return text is not None and self._secret(text)

    # ------------------------------------------------------------------ values
    def value(self, key: object, value: Any, depth: int = 0, path: set[int] | None = None) -> Any:
        """``value`` with secrets inside it redacted (containers copied only if changed)."""
        if self.is_secret(key):
            self.count_redacted(1)
            return MARK
        return self._inner(value, depth, set() if path is None else path)

    def _inner(self, value: Any, depth: int, path: set[int]) -> Any:
        cls = value.__class__
        if cls in _LEAVES:
            return value
        if depth >= _WALK_LIMIT:
            # deeper than orjson itself writes (254): the encoder's sanitizer will cut it
            # at max_depth; never let anything below go out unchecked
            if isinstance(value, (Mapping, list, tuple, set, frozenset)) or _is_dataclass(value):
                return "<max depth exceeded>"  # counted as "depth" by the encoder's cut above
            return value
        ident = id(value)
        if ident in path:  # a cycle: the encoder marks it "<cycle>"
            return value
        path.add(ident)
        try:
            return self._container(value, cls, depth, path)
        finally:
            path.discard(ident)

    def _container(self, value: Any, cls: type, depth: int, path: set[int]) -> Any:
        if _is_dataclass(value):  # orjson writes its fields by name: redact them by name
            try:
                pairs = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
            except Exception:
                self.count_redacted(1)
                return f"<unreadable {type(value).__name__}>"
            return {k: self.value(k, v, depth + 1, path) for k, v in pairs}
        names = getattr(value, "_fields", None) if isinstance(value, tuple) else None
        if isinstance(names, tuple):  # a namedtuple: its items have names
            try:
                return [
                    self.value(name, item, depth + 1, path)
                    for name, item in zip(names, value, strict=False)
                ]
            except Exception:
                self.count_redacted(1)
                return f"<unreadable {type(value).__name__}>"
        try:
            if cls is dict or (cls is not list and isinstance(value, Mapping)):
                pairs = list(value.items())  # a snapshot: another thread may mutate it
                changed = False
                out = {}
                for k, v in pairs:
                    new = self.value(k, v, depth + 1, path)
                    changed = changed or new is not v
                    out[k] = new
                return out if changed else value
            if cls is list or cls is tuple or isinstance(value, (list, tuple, set, frozenset)):
                items = list(value)
                changed = False
                for i, v in enumerate(items):
                    new = self._inner(v, depth + 1, path)
                    if new is not v:
                        items[i] = new
                        changed = True
                return items if changed else value
        except Exception as exc:  # unreadable (mutated, raising __iter__): never leak it
            self.count_redacted(1)
            return f"<unreadable {type(value).__name__}: {type(exc).__name__}>"
        return value

    def count_redacted(self, n: int) -> None:
        """Count ``n`` redacted values (fallbacks["redacted"])."""
        if self.count is not None:
            self.count("redacted", n)

    # ------------------------------------------------------------------ events

    def event(self, event: dict[str, Any]) -> dict[str, Any] | None:
        """A redacted copy of ``event``, or None when nothing in it is secret.

        Fragments (context serialized at bind time) were redacted then and are
        not re-walked; scalar values need only their name checked.
        """
        out = None
        safe = self._safe
        for key, value in event.items():
            if key in safe and value.__class__ in _LEAVES:
                continue
            new = self.value(key, value)
            if new is not value:
                if out is None:
                    out = dict(event)
                out[key] = new
        return out

    def scrub_bytes(self, payload: bytes) -> bytes:
        """Replace secret-looking values (tokens, keys, URL passwords) in serialized JSON."""
        if not self.values:
            return payload
        scrubbed, n = _VALUE_PATTERNS.subn(MARK.encode(), payload)
        if n:
            self.count_redacted(n)
            return scrubbed
        return payload
