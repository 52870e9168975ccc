"""The event's byte layout and the reserved-key rule: one home for both.

Every event nglogger writes starts with the same four keys, in this order, holding
the logger's own values::

    {"timestamp":"2026-11-26T13:47:50.800619Z","level":"info","logger":"app","message":"..."

then the static context, the bound context, the contextvars context and the call's
fields. The timestamp is always RFC 3339 UTC with six fraction digits (27 bytes), so
sinks can read it and the level straight from the bytes (``TIMESTAMP_OPEN`` ...).

A field named like a reserved key is kept with a trailing underscore (``level`` ->
``level_``), and a renamed field never overwrites another one (``level`` and
``level_`` given together become ``level_`` and ``level__``): :func:`rename_reserved`
for one name, :func:`renamed_fields` for a call's fields.

**Output schemas** (``Config.schema``) give the same event the key names a backend
expects. They are applied to the event's template, not to each event: the caller
side keeps building the default head above (its dict keys are constants), and the
pipeline swaps the head's bytes (``{"timestamp":"`` ... ``","logger":"``, a fixed
layout whose only variable parts are the 27 timestamp bytes and the level word) for
the schema's, with a table indexed by the level's first byte: a slice, a compare
and a concatenation, no Python call. Names that are not in the head are chosen when
the pipeline is built: the exception fields (:meth:`Schema.exception_event`), the
trace fields (``_trace``), the static context (``service`` -> ``service.name`` for
ECS) and the reserved names a caller's field is renamed away from.

Nested names are written as dotted keys (``"log.level"``, ``"error.type"``), never as
nested objects: Elasticsearch (and so ECS), Datadog and Cloud Logging read a dotted
key as the same field as the nested path, ecs-logging itself writes ``log.level``
that way, and a dotted key in the head costs nothing more than the default one
(a nested ``log`` object could not hold both the level and the logger name in a
fixed head without a per-event merge).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Final

__all__ = [
    "DEFAULT_SCHEMA",
    "ECS_VERSION",
    "FALLBACK_KEY",
    "LEVEL_OPEN",
    "LEVEL_START",
    "RESERVED",
    "SCHEMAS",
    "TIMESTAMP_END",
    "TIMESTAMP_OPEN",
    "TRUNCATED_KEY",
    "Schema",
    "free_name",
    "rename_reserved",
    "renamed_fields",
    "special_names",
    "use_schema",
]

#: Markers of the fallbacks an event went through (see ``_encode``).
FALLBACK_KEY = "nglogger_fallback"
#: What an oversize event says about the values it lost.
TRUNCATED_KEY = "nglogger_truncated"
#: Keys only nglogger writes; a caller's field of that name is renamed.
RESERVED = frozenset({"timestamp", "level", "logger", "message", FALLBACK_KEY})

#: ``{"timestamp":"`` then 27 bytes of RFC 3339 UTC, then ``","level":"``.
TIMESTAMP_OPEN = b'{"timestamp":"'
TIMESTAMP_END = len(TIMESTAMP_OPEN) + 27
LEVEL_OPEN = b'","level":"'
LEVEL_START = TIMESTAMP_END + len(LEVEL_OPEN)


def rename_reserved(key: str, reserved: frozenset[str] = RESERVED) -> str:
    """``"level"`` -> ``"level_"``; any other name as it is."""
    return f"{key}_" if key in reserved else key


def free_name(name: str, *taken: Mapping[str, Any]) -> str:
    """``name`` with underscores appended until none of ``taken`` uses it."""
    while any(name in names for names in taken):
        name = f"{name}_"
    return name


def renamed_fields(
    fields: Mapping[str, Any],
    skip: frozenset[str] = frozenset(),
    schema: Schema | None = None,
) -> dict[str, Any]:
    """``fields`` with reserved names renamed, never overwriting another field.

    Names in ``skip`` are left out (the stdlib handler's standard record attributes);
    ``schema`` is the pipeline's (its reserved names and aliases; default: the default).
    """
    reserved = RESERVED if schema is None else schema.reserved
    aliases = _NO_ALIASES if schema is None else schema.aliases
    out: dict[str, Any] = {}
    for key, value in fields.items():
        if key in skip:
            continue
        name = aliases.get(key, key)
        if name in reserved or name in out:
            out[free_name(f"{name}_", out, fields)] = value
        else:
            out[name] = value
    return out


_NO_ALIASES: Mapping[str, str] = {}


# ------------------------------------------------------------------------------ schemas

#: The levels of the fixed head, by their first byte (each level's first byte differs).
_HEAD_LEVELS: Final = ("debug", "info", "warning", "error", "critical")
_LOGGER_OPEN: Final = b'","logger":"'
#: Where the head's timestamp value ends and the level key begins.
_TS_START: Final = len(TIMESTAMP_OPEN)


@dataclasses.dataclass(frozen=True, slots=True)
class Schema:
    """The key names (and level spellings) of one output schema.

    ``reserved``: every name nglogger itself writes under this schema, and the
    default head's four names (the event dict is built with them); a caller's field
    of such a name is renamed (``status`` -> ``status_`` with ``datadog``), so it can
    never clobber the level, the time or the exception fields.
    ``aliases``: context and field names written under the backend's own name
    (ECS: ``service`` -> ``service.name``), decided when context is bound or the
    pipeline is built.
    """

    name: str
    timestamp: str = "timestamp"
    level: str = "level"
    logger: str = "logger"
    message: str = "message"
    #: nglogger level name -> this schema's spelling (missing: as it is).
    levels: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: None: ``exception: {type, message, stacktrace}``; else the three dotted keys.
    error_keys: tuple[str, str, str] | None = None
    #: Trace correlation keys: trace id, span id, flags/sampled (None: not written).
    trace_keys: tuple[str, str, str | None] = ("trace_id", "span_id", "trace_flags")
    #: How ids are written: ``hex`` (W3C), ``datadog`` (lower 64 bits, decimal), ``gcp``.
    trace_format: str = "hex"
    #: The stdlib handler's ``source`` object: its key and shape (see :meth:`source`).
    source_key: str = "source"
    aliases: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Fields every event of this schema carries (static context, serialized once).
    static: Mapping[str, str] = dataclasses.field(default_factory=dict)
    #: Names reserved besides the head, the error keys and ``nglogger_fallback``.
    extra_reserved: frozenset[str] = frozenset()

    @property
    def default(self) -> bool:
        """True for the default schema (nothing is rewritten)."""
        return self.name == "default"

    @property
    def reserved(self) -> frozenset[str]:
        """Every name this schema's events hold that a caller's field may not take."""
        return _reserved(self)

    def rename(self, key: str) -> str:
        """A context or field name as this schema writes it (reserved: ``key_``)."""
        key = self.aliases.get(key, key)
        return f"{key}_" if key in self.reserved else key

    def level_text(self, level: str) -> str:
        """``level`` as this schema spells it (GCP: ``INFO``)."""
        return self.levels.get(level, level)

    def exception_event(self, fields: dict[str, str]) -> dict[str, Any]:
        """The exception fields (``type``, ``message``, ``stacktrace``) as event keys."""
        keys = self.error_keys
        if keys is None:
            return {"exception": fields}
        return {keys[0]: fields["type"], keys[1]: fields["message"], keys[2]: fields["stacktrace"]}

    def source(self, module: str, function: str, line: int, file: str) -> dict[str, Any]:
        """Where a stdlib record was logged, in this schema's shape."""
        if self.name == "ecs":  # log.origin: {file: {name, line}, function}
            return {"file": {"name": file, "line": line}, "function": function}
        if self.name == "gcp":  # LogEntrySourceLocation (line: int64, a string in JSON)
            return {"file": file, "line": str(line), "function": function}
        return {"module": module, "function": function, "line": line, "file": file}

    @property
    def exception_names(self) -> tuple[str, ...]:
        """The keys :meth:`exception_event` writes."""
        return ("exception",) if self.error_keys is None else self.error_keys

    def head(self, timestamp: bytes, level: str) -> bytes:
        """This schema's event head up to the logger's value (``{"@timestamp":...`` )."""
        return b"".join(
            (
                b'{"',
                self.timestamp.encode(),
                b'":"',
                timestamp,
                b'","',
                self.level.encode(),
                b'":',
                _json_text(self.level_text(level)),
                b',"',
                self.logger.encode(),
                b'":"',
            )
        )

    def head_table(self) -> list[tuple[bytes, int, bytes, bytes] | None]:
        """For each first byte of a level: (default bytes 41..end, end, open, middle).

        ``event[41:end] == default bytes`` confirms the layout; the schema's head is
        ``open + event[14:41] + middle`` and the rest of the event is ``event[end:]``.
        """
        table: list[tuple[bytes, int, bytes, bytes] | None] = [None] * 256
        open_bytes = b'{"' + self.timestamp.encode() + b'":"'
        for level in _HEAD_LEVELS:
            old = LEVEL_OPEN + level.encode() + _LOGGER_OPEN
            middle = self.head(b"", level)[len(open_bytes) :]
            table[ord(level[0])] = (old, TIMESTAMP_END + len(old), open_bytes, middle)
        return table

    def level_probe(self) -> tuple[int, int]:
        """``(start, end)``: the bytes of this schema's head from the level key's opening
        quote-comma to the first byte of the level's name (``event[start:end]``)."""
        start = len(b'{"":"') + len(self.timestamp.encode()) + 27
        return start, start + len(b'","":"') + len(self.level.encode()) + 1

    def level_prefix(self, level: str) -> bytes:
        """What ``event[start:end]`` of :meth:`level_probe` holds for ``level``."""
        return b'","' + self.level.encode() + b'":"' + self.level_text(level).encode()[:1]

    def rewrite(self, event: bytes) -> bytes:
        """``event`` (default head) with this schema's head; anything else as it is.

        The slow form of the inline rewrite in the pipeline's ``emit`` (levels outside
        the table, events built elsewhere).
        """
        if self.default or event[:_TS_START] != TIMESTAMP_OPEN:
            return event
        if event[TIMESTAMP_END:LEVEL_START] != LEVEL_OPEN:
            return event
        end = event.find(b'"', LEVEL_START)
        if end < 0 or event[end : end + len(_LOGGER_OPEN)] != _LOGGER_OPEN:
            return event
        level = event[LEVEL_START:end].decode("utf-8", "replace")
        return self.head(event[_TS_START:TIMESTAMP_END], level) + event[end + len(_LOGGER_OPEN) :]


def _json_text(text: str) -> bytes:
    """``text`` as a JSON string (level names are plain words)."""
    return b'"' + text.replace("\\", "\\\\").replace('"', '\\"').encode() + b'"'


def _reserved(schema: Schema) -> frozenset[str]:
    # The default names stay reserved under every schema: the caller side builds its
    # event dict with them before the head is rewritten, so a field of that name would
    # replace the level itself.
    names = {*RESERVED, schema.timestamp, schema.level, schema.logger, schema.message}
    if schema.error_keys is not None:
        names.update(schema.error_keys)
    names.update(schema.extra_reserved)
    names.update(schema.static)
    return frozenset(names)


_UPPER: Final = {level: level.upper() for level in _HEAD_LEVELS}
#: The ECS version the ``ecs`` schema's names follow (the one ecs-logging declares).
ECS_VERSION: Final = "1.6.0"

#: The schemas by name (``Config.schema``).
SCHEMAS: Final[Mapping[str, Schema]] = {
    "default": Schema("default"),
    # Elastic Common Schema: the names ecs-logging writes (log.level lower-case).
    "ecs": Schema(
        "ecs",
        timestamp="@timestamp",
        level="log.level",
        logger="log.logger",
        error_keys=("error.type", "error.message", "error.stack_trace"),
        trace_keys=("trace.id", "span.id", None),
        source_key="log.origin",
        aliases={"service": "service.name"},
        static={"ecs.version": ECS_VERSION},
        # ECS objects: a plain value under one of these names makes Elasticsearch
        # reject the document (object mapping vs concrete value).
        extra_reserved=frozenset({"log", "error", "trace", "span", "service", "log.origin"}),
    ),
    # Cloud Logging's special fields of structured (JSON) logs.
    "gcp": Schema(
        "gcp",
        timestamp="time",
        level="severity",
        levels=_UPPER,
        trace_keys=(
            "logging.googleapis.com/trace",
            "logging.googleapis.com/spanId",
            "logging.googleapis.com/trace_sampled",
        ),
        trace_format="gcp",
        source_key="logging.googleapis.com/sourceLocation",
        extra_reserved=frozenset(
            {
                "timestamp",  # Cloud Logging would take it as the entry's time
                "timestampSeconds",
                "timestampNanos",
                "logging.googleapis.com/trace",
                "logging.googleapis.com/spanId",
                "logging.googleapis.com/trace_sampled",
                "logging.googleapis.com/sourceLocation",
                "logging.googleapis.com/insertId",
            }
        ),
    ),
    # Datadog's reserved and standard attributes.
    "datadog": Schema(
        "datadog",
        level="status",
        logger="logger.name",
        error_keys=("error.kind", "error.message", "error.stack"),
        trace_keys=("dd.trace_id", "dd.span_id", None),
        trace_format="datadog",
        extra_reserved=frozenset({"dd.trace_id", "dd.span_id"}),
    ),
}
DEFAULT_SCHEMA: Final = SCHEMAS["default"]

#: The sets the caller side checks a call's names against with one ``isdisjoint``
#: (see :func:`special_names`); grown by :func:`use_schema`.
_SPECIAL_SETS: list[set[str]] = []
_SEEN: set[str] = set(RESERVED)


def special_names(*extra: frozenset[str]) -> set[str]:
    """A set of names that send a call's fields to the renaming slow path.

    It holds :data:`RESERVED`, ``extra`` and the reserved names of every schema a
    pipeline of this process was built with (:func:`use_schema` adds them), so the
    hot path's one ``isdisjoint`` covers any configured schema at no extra cost;
    the slow path renames by the current pipeline's own schema.
    """
    names = set(_SEEN)
    for more in extra:
        names.update(more)
    _SPECIAL_SETS.append(names)
    return names


def use_schema(schema: Schema) -> None:
    """Make the caller side's checks (:func:`special_names`) cover ``schema``."""
    new = schema.reserved - _SEEN
    if not new:
        return
    _SEEN.update(new)
    for names in _SPECIAL_SETS:
        names.update(new)
