"""Request-scoped context in a ``ContextVar``, serialized once at bind time.

The variable holds a dict of field name -> ``orjson.Fragment``; binding makes a
new dict (the old one is never mutated), so every thread and asyncio task sees
exactly the context it inherited or bound itself. Each value is serialized once,
when bound; log calls splice the fragments in.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import Token
from typing import Any

import orjson

from .._core.errors import EncodeError
from .._core.guard import CONTEXT, DELIVERING
from . import target as _target
from .encode import compact
from .redact import MARK, SCALARS
from .target import Target

__all__ = [
    "bind_contextvars",
    "bound_contextvars",
    "clear_contextvars",
    "get_contextvars",
    "reset_contextvars",
    "unbind_contextvars",
]


def _current() -> FragmentDict | None:
    value = CONTEXT.get()
    if isinstance(value, FragmentDict):
        return value
    return None


class FragmentDict(dict[str, orjson.Fragment]):
    """Field name -> fragment, remembering each fragment's JSON bytes in ``raw``.

    ``rid`` is the redactor that checked the values; a pipeline with another
    redactor (configured after the bind) re-checks them once, through
    :func:`for_pipeline`, and ``rebound`` caches that result.
    """

    __slots__ = ("keys_in", "raw", "rebound", "rid")

    raw: dict[str, bytes]
    rid: object
    rebound: tuple[object, FragmentDict] | None
    #: How many ``":`` its values' bytes hold (nested keys): what a log call expects
    #: to find in an event's bytes besides its own top-level keys (see ``Logger``).
    keys_in: int

    def copy_without(self, names: set[str]) -> FragmentDict:
        """A new FragmentDict without ``names``."""
        out = FragmentDict({k: v for k, v in self.items() if k not in names})
        out.raw = {k: v for k, v in self.raw.items() if k not in names}
        out.rid = self.rid
        out.rebound = None
        out.keys_in = keys_in(out.raw.values())
        return out

    def decoded(self) -> dict[str, Any]:
        """The fields as Python values (fresh objects)."""
        return {key: orjson.loads(data) for key, data in self.raw.items()}


def empty_fragments() -> FragmentDict:
    """An empty FragmentDict."""
    out = FragmentDict()
    out.raw = {}
    out.rid = None
    out.rebound = None
    out.keys_in = 0
    return out


def keys_in(values: Iterable[bytes]) -> int:
    """How many ``":`` (a key's end, or an escaped quote before a colon) the bytes hold."""
    return sum(data.count(b'":') for data in values)


def for_pipeline(ctx: FragmentDict, pipeline: Target) -> FragmentDict:
    """``ctx`` as checked by ``pipeline``'s redactor (re-redacted once, then cached)."""
    redactor = pipeline.redactor
    cached = ctx.rebound
    if cached is not None and cached[0] is redactor:
        return cached[1]
    try:
        fresh = fragments(ctx.decoded(), None, pipeline)
    except Exception:  # never fail a log call over this: keep what was bound
        return ctx
    ctx.rebound = (redactor, fresh)
    return fresh


def fragments(
    values: dict[str, Any], base: FragmentDict | None = None, pipeline: Target | None = None
) -> FragmentDict:
    """``base`` plus ``values`` serialized once each (reserved names renamed, secrets redacted)."""
    current = pipeline if pipeline is not None else _target.current
    encoder = current.encoder
    encode = encoder.encode_value
    redactor = current.redactor
    safe = redactor.safe_names
    redact = redactor.value
    nested = current.field_prep.value_bytes
    max_field_length = current.max_field_length
    rename = encoder.schema.rename  # reserved names (and the schema's aliases)
    if base and base.rid is not redactor:  # bound under another configuration: re-check
        base = for_pipeline(base, current)
    if base:
        frags: dict[str, orjson.Fragment] = dict(base)
        raw = dict(base.raw)
    else:
        frags = {}
        raw = {}
    for key, given in values.items():
        name = rename(key)
        try:
            if given.__class__ in _LEAVES:
                value = given if key in safe else redact(key, given)  # a name check, no walk
                if (
                    value.__class__ is str and len(value) > max_field_length
                ):  # cut before orjson sees it
                    value = encoder.trim(value)
                data = encode(value)
            elif redactor.names and key not in safe and redactor.is_secret(key):
                redactor.count_redacted(1)
                data = encode(MARK)
            else:  # serialized once by orjson; walked only if its bytes say so (_fields)
                notes: list[str] = []
                data = compact(nested(key, given, notes))
                encoder.record(notes)
        except EncodeError:
            raise  # strict mode only
        except Exception as exc:  # binding never raises into the caller
            encoder.count("encode_error")
            data = encode(f"<unserializable {type(given).__name__}: {type(exc).__name__}>")
        if name in raw:  # a re-bound key moves to the end, like a fresh bind
            del frags[name]
            del raw[name]
        frags[name] = Fragment(data)
        raw[name] = data
    out = FragmentDict(frags)
    out.raw = raw
    out.rid = redactor
    out.rebound = None
    out.keys_in = keys_in(raw.values())
    return out


_LEAVES = SCALARS
Fragment = orjson.Fragment


def bind_contextvars(**values: Any) -> Token[Any]:
    """Add fields to the current context (thread / asyncio task); later binds win.

    Returns a token for :func:`reset_contextvars`.
    """
    if CONTEXT.get() is DELIVERING:
        return CONTEXT.set(DELIVERING)
    merged = fragments(values, _current())
    return CONTEXT.set(merged or None)


def unbind_contextvars(*keys: str) -> None:
    """Remove fields from the current context (missing keys are ignored)."""
    if CONTEXT.get() is DELIVERING:
        return
    current = _current()
    rename = _target.current.encoder.schema.rename
    names = {rename(key) for key in keys}
    if current is None or not names.intersection(current):
        return
    remaining = current.copy_without(names)
    CONTEXT.set(remaining or None)


def clear_contextvars() -> None:
    """Remove every field from the current context."""
    if CONTEXT.get() is DELIVERING:
        return
    CONTEXT.set(None)


def reset_contextvars(token: Token[Any]) -> None:
    """Restore the context as it was before the bind that returned ``token``."""
    CONTEXT.reset(token)


def get_contextvars() -> dict[str, Any]:
    """The current context, decoded (a copy: changing it changes nothing)."""
    current = _current()
    return current.decoded() if current else {}


@contextmanager
def bound_contextvars(**values: Any) -> Iterator[None]:
    """Bind fields for the duration of a ``with`` block, then restore."""
    token = bind_contextvars(**values)
    try:
        yield
    finally:
        try:
            CONTEXT.reset(token)
        except ValueError:  # token from another Context (e.g. async generator)
            pass
