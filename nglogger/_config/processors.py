"""Processors: functions that see, change or drop an event on the caller's thread.

``processors=[fn, ...]``: each ``fn(fields) -> fields | None`` gets one dict, before
anything is serialized::

    {"level": "info", "logger": "app.db", "message": "query done", **call_fields}

(``message`` already ``%``-formatted; for a stdlib record, ``call_fields`` are its
``extra={...}`` fields). It returns the dict to log (the same one changed in place, or
a new one), or None to drop the event (not counted: like a level check). ``message``
may be changed; ``level`` and ``logger`` are there to be read (changing them has no
effect). The bound, static and contextvars context are not in the dict: they were
serialized when bound. Processors run in order; what one returns is the next one's
input. What the last returns is checked like a call's own fields (redaction, limits).

A processor that raises never raises into the caller: its step is skipped (the next
processor gets what it was given, possibly changed in place), the event is logged
with ``nglogger_processor_error: ["name: ExcType: text"]`` and the error is counted
(``stats().processor_errors``). Returning something that is neither None nor a
mapping is such an error too.

Cost: nothing when no processor is configured (the log call reads one attribute);
with processors, one dict and one Python call per processor per enabled event.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, cast

from .._core.errors import ConfigError

__all__ = [
    "PROCESSORS_ACCEPTED",
    "PROCESSORS_TEXT_ACCEPTED",
    "PROCESSOR_ERROR_KEY",
    "Processor",
    "apply",
    "check_processors",
    "import_processors",
]

#: What a processor is: ``fn(fields) -> fields | None``.
Processor = Callable[[dict[str, Any]], "Mapping[str, Any] | None"]

#: The field naming the processors that raised on an event.
PROCESSOR_ERROR_KEY = "nglogger_processor_error"
PROCESSORS_ACCEPTED = "a sequence of callables fn(fields: dict) -> dict | None, or ()"
PROCESSORS_TEXT_ACCEPTED = (
    "comma-separated import paths module:function, e.g. myapp.logs:drop_health_checks"
)
_MAX_TEXT = 200


def check_processors(value: object) -> tuple[Processor, ...]:
    """The processors as a tuple; a ConfigError names a value that is not one."""
    if callable(value) or isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise ConfigError("processors", value, PROCESSORS_ACCEPTED)
    for item in value:
        if not callable(item):
            raise ConfigError("processors", item, PROCESSORS_ACCEPTED, "not callable")
    return tuple(value)


def _name(processor: object) -> str:
    return str(getattr(processor, "__qualname__", None) or type(processor).__name__)


def _describe(processor: object, exc: BaseException) -> str:
    name = _name(processor)
    try:
        text = str(exc)
    except Exception:
        text = "<unprintable>"
    return f"{name}: {type(exc).__name__}: {text[:_MAX_TEXT]}"


class Counts(Protocol):
    """Where processor errors are counted (the pipeline's encoder)."""

    def count(self, kind: str, /) -> None:
        """Count one ``kind``."""


def apply(
    processors: tuple[Processor, ...],
    fields: dict[str, Any],
    counter: Counts,
) -> dict[str, Any] | None:
    """``fields`` through every processor: the dict to log (ours to change) or None (drop).

    ``counter.count("processor_error")`` is called once per processor that failed.
    """
    built = fields
    errors: list[str] | None = None
    for processor in processors:
        error: str | None = None
        try:
            out: object = processor(fields)
            if out is None:
                return None
            if out.__class__ is not dict:
                if isinstance(out, Mapping):
                    out = dict(out)
                else:
                    error = f"{_name(processor)}: returned {type(out).__name__}, not a dict or None"
        except Exception as exc:
            error = _describe(processor, exc)
        if error is None:
            fields = cast("dict[str, Any]", out)
            continue
        if errors is None:
            errors = []
        errors.append(error)
        try:
            counter.count("processor_error")
        except Exception:
            pass
    if fields is not built:  # a dict the processor may keep: log a copy of it
        fields = dict(fields)
    if errors is not None:
        fields[PROCESSOR_ERROR_KEY] = errors
    return fields


def import_processors(text: str) -> tuple[Processor, ...]:
    """``NGLOGGER_PROCESSORS``: ``pkg.mod:fn,pkg.mod:Obj.method`` imported, in order.

    Raises ``ValueError`` naming the entry that cannot be imported or is not callable.
    """
    import importlib  # only when the variable is set

    found: list[Processor] = []
    for number, item in enumerate(text.split(","), start=1):
        entry = item.strip()
        if not entry:
            continue
        module_name, sep, attribute = entry.partition(":")
        if not sep or not module_name.strip() or not attribute.strip():
            raise ValueError(f"entry {number} {entry!r} is not module:function")
        try:
            value: object = importlib.import_module(module_name.strip())
            for part in attribute.strip().split("."):
                value = getattr(value, part)
        except Exception as exc:
            raise ValueError(
                f"entry {number} {entry!r} cannot be imported ({type(exc).__name__}: {exc})"
            ) from None
        if not callable(value):
            raise ValueError(f"entry {number} {entry!r} is not callable")
        found.append(value)
    return tuple(found)
