"""The one frozen configuration object, validated once.

``Config`` holds every setting of a pipeline: its fields, each setting's one
declaration, are ``nglogger._config.fields.ConfigFields``; here are the checks that
span settings, the repr that masks secrets, ``memory_budget`` and the construction
from the environment (:func:`resolve`, ``Config.from_env``). It is built from keyword
arguments (``nglogger.configure(**kwargs)``) or from what the environment parser read.
Every value is checked in ``__post_init__`` and a bad one raises
:class:`~nglogger.ConfigError` naming the setting, the value and what is
accepted. Nothing here reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypedDict

from .._core.errors import ConfigError
from .._core.levels import ACCEPTED_LEVELS, check_logger_levels, parse_level
from .._core.sink import (
    SELECTION_EVENT_OVERHEAD,
    concurrency_of,
    memory_copies_of,
    request_bytes_of,
    selection_of,
)
from .declare import positive_seconds, spec_of
from .fields import (
    ConfigErrors,
    ConfigFields,
    Format,
    Overflow,
    Oversize,
    Schema,
    SinkOverflow,
    SpoolFsync,
)
from .processors import Processor, check_processors
from .sampling import Sampling
from .secrets import shown_setting
from .sinkuri import check_sink_uri, parse_sink_uri, uri_memory_copies
from .storm import StormLimit

REDACT_ACCEPTED = "a sequence of field names such as ('password', 'authorization'), or ()"

SAMPLE_ACCEPTED = (
    "None, a Sampling such as Sampling.parse('debug=0.1,1000/s'), or that string "
    "(the NGLOGGER_SAMPLE form)"
)

__all__ = ["Config", "Settings", "resolve"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Config(ConfigFields):
    """Every setting of a pipeline, with its default.

    Each field is the one declaration of its setting (``nglogger._config.fields``, written
    with ``nglogger._config.declare``): default, docs line, environment variables and the
    check of its value.

    Memory worst case held by a pipeline built from this config::

        buffer_max_bytes                      (events waiting for the batcher)
      + 3 * batch_max_bytes                   (open arena, recycled arena, batch being copied)
      + len(sinks) * sink_queue_max_bytes     (each sink's queue)
      + len(sinks) * sink_queue_max_bytes     (with spool_dir: batches on their way to disk)
      + sum over sinks of concurrency * copies * size   (batches being written)
      + 2 * batch_max_bytes + 64 * batch_max_events   (if a sink has a level or filter:
                                             its part of a batch being cut, see _select)

    where ``copies`` is what each sink declares as ``memory_copies`` (for a URI:
    ``nglogger._config.sinkuri.MEMORY_COPIES``, measured with tracemalloc): 1 for stream, file
    and memory sinks, 3 for generic HTTP (the batch, its encoded body, its gzip copy),
    5 for Datadog, Elasticsearch, Loki and OTLP/protobuf, 6 for OTLP/gRPC and 10 for
    OTLP/JSON (their encodings hold the events as a list and re-encoded); and ``size``
    is ``batch_max_bytes`` for local sinks and ``max(batch_max_bytes,
    max_request_bytes)`` for HTTP sinks (they merge queued batches into full
    requests; 5 MiB for a sink named by URI).

    A batch shared by several sinks is counted in each queue but held once.
    """

    def __post_init__(self) -> None:
        try:
            level = parse_level(self.level)
        except ValueError:
            raise ConfigError("level", self.level, ACCEPTED_LEVELS) from None
        object.__setattr__(self, "level", level)
        object.__setattr__(self, "levels", MappingProxyType(check_logger_levels(self.levels)))
        object.__setattr__(self, "processors", check_processors(self.processors))
        sinks: object = self.sinks
        if isinstance(sinks, str) or callable(getattr(sinks, "write", None)):
            sinks = (sinks,)
        if not isinstance(sinks, (tuple, list)):
            raise ConfigError("sinks", sinks, "a sink, a sink URI or a sequence of them")
        for spec in sinks:
            if isinstance(spec, str):
                check_sink_uri(spec)
            elif not callable(getattr(spec, "write", None)):
                raise ConfigError(
                    "sinks", spec, "a sink URI or an object with write(batch) and close()"
                )
        object.__setattr__(self, "sinks", tuple(sinks))
        if not isinstance(self.context, Mapping):
            raise ConfigError("context", self.context, "a mapping of field names to values")
        for key in self.context:
            if not isinstance(key, str):
                raise ConfigError("context", key, "string keys")
        object.__setattr__(self, "context", MappingProxyType(dict(self.context)))
        if not isinstance(self.sink_env, Mapping):
            raise ConfigError("sink_env", "<mapping>", "a mapping of variable names to values")
        object.__setattr__(self, "sink_env", MappingProxyType(dict(self.sink_env)))
        spool_dir: object = self.spool_dir
        if isinstance(spool_dir, os.PathLike):  # a pathlib.Path: kept as its text
            object.__setattr__(self, "spool_dir", os.fspath(spool_dir))
        levels_file: object = self.levels_file
        if isinstance(levels_file, os.PathLike):  # a pathlib.Path: kept as its text
            object.__setattr__(self, "levels_file", os.fspath(levels_file))
        for name, check in _CHECKS:  # the checks declared with each setting
            check(name, getattr(self, name))
        sample: object = self.sample
        if isinstance(sample, str):  # the NGLOGGER_SAMPLE form: "debug=0.1,1000/s"
            try:
                object.__setattr__(self, "sample", Sampling.parse(sample))
            except ValueError as exc:
                hint = str(exc.args[0]) if exc.args and not isinstance(exc, ConfigError) else ""
                raise ConfigError("sample", sample, SAMPLE_ACCEPTED, hint) from None
        if self.sample is not None and not isinstance(self.sample, Sampling):
            raise ConfigError("sample", self.sample, SAMPLE_ACCEPTED)
        keys = self.redact_keys
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            raise ConfigError("redact_keys", keys, REDACT_ACCEPTED)
        for key in keys:
            if not isinstance(key, str) or not key.strip():
                raise ConfigError("redact_keys", key, REDACT_ACCEPTED)
        object.__setattr__(self, "redact_keys", tuple(dict.fromkeys(k.strip() for k in keys)))
        if self.report_interval != 0:
            positive_seconds("report_interval", self.report_interval)
        object.__setattr__(self, "hold_trigger", parse_level(self.hold_trigger))
        object.__setattr__(self, "hold_level", parse_level(self.hold_level))
        if self.hold_level >= self.hold_trigger:  # type: ignore[operator]
            raise ConfigError(
                "hold_level", self.hold_level, f"a level below hold_trigger ({self.hold_trigger})"
            )
        if self.max_depth > 250:
            raise ConfigError("max_depth", self.max_depth, "an integer from 1 to 250")
        _not_above("max_event_bytes", self.max_event_bytes, "batch_max_bytes", self.batch_max_bytes)
        _not_above(
            "batch_max_bytes", self.batch_max_bytes, "buffer_max_bytes", self.buffer_max_bytes
        )
        _not_above(
            "batch_max_bytes",
            self.batch_max_bytes,
            "sink_queue_max_bytes",
            self.sink_queue_max_bytes,
        )
        _not_above(
            "batch_max_events",
            self.batch_max_events,
            "buffer_max_events",
            self.buffer_max_events,
        )
        _not_above(
            "batch_max_events",
            self.batch_max_events,
            "sink_queue_max_events",
            self.sink_queue_max_events,
        )

    def __repr__(self) -> str:
        """Every setting, with secrets masked (URIs' passwords, secret-named context keys)."""
        parts = [
            f"{f.name}={shown_setting(f.name, getattr(self, f.name))!r}"
            for f in dataclasses.fields(self)
            if f.repr
        ]
        return f"Config({', '.join(parts)})"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **explicit: Any) -> Config:
        """Settings from explicit arguments > environment (``os.environ`` if None) > defaults.

        Pass only the arguments the caller actually gave: ``colors=None`` is a value.
        """
        config, _ = resolve(environ, **explicit)
        return config

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def memory_budget(self) -> int:
        """Worst-case bytes held by a pipeline built from this config (see class doc)."""
        arenas = 3 * self.batch_max_bytes  # open arena, recycled arena, batch being copied
        sinks = self.sinks or ("stdout",)
        in_flight = sum(_in_flight_bytes(s, self.batch_max_bytes, self.sink_env) for s in sinks)
        # A sink with a level or filter gets its part cut from each batch, one at a time:
        # the pieces and the result, each up to a batch (see nglogger._pipeline.select).
        selecting = (
            2 * self.batch_max_bytes + SELECTION_EVENT_OVERHEAD * self.batch_max_events
            if any(_selects(s) for s in sinks)
            else 0
        )
        # with a spool, each sink also holds up to a queue's worth on its way to disk
        per_sink = 2 if self.spool_dir is not None else 1
        queues = per_sink * len(sinks) * self.sink_queue_max_bytes
        return self.buffer_max_bytes + arenas + queues + in_flight + selecting


#: (setting, check) for every setting declared with a check, in declaration order.
_CHECKS = tuple(
    (f.name, check) for f in dataclasses.fields(Config) if (check := spec_of(f).check) is not None
)


def resolve(
    environ: Mapping[str, str] | None, /, **explicit: Any
) -> tuple[Config, dict[str, tuple[object, str]]]:
    """The Config from arguments > environment > defaults, and per setting ``(value, source)``.

    The environment parser (``nglogger._config.environ``, loaded on first use) reads the
    variables and says where each value came from; ``Config`` checks the values. A value
    Config refuses that came from a variable is the parser's to judge: it raises the error
    restated in terms of that variable or, with ``config_errors="warn"``, sets the variable
    aside (its setting keeps its default) and Config is built again.
    """
    from .environ import Resolution  # the environment parser loads when it is first needed

    resolution = Resolution(environ, explicit)
    while True:
        try:
            config = Config(**resolution.values)
            break
        except ConfigError as refused:
            resolution.set_aside(refused)  # or raises it, restated
    return config, resolution.finish(config)


def _not_above(name: str, value: int, other: str, limit: int) -> None:
    if value > limit:
        raise ConfigError(name, value, f"at most {other} ({limit})")


_LOCAL_SINKS = ("stdout", "stderr", "null", "file:")


#: The largest request any HTTP sink named by URI sends (its ``max_request_bytes``,
#: 5 MiB for the generic sink; every vendor's is at most this; tested).
HTTP_REQUEST_BYTES = 5 * 1024 * 1024


def _selects(spec: object) -> bool:
    """True if the sink ``spec`` names takes only some events (``level``, ``filter``)."""
    if isinstance(spec, str):
        return parse_sink_uri(spec).level is not None
    try:
        return selection_of(spec) != (None, None)
    except ConfigError:
        return False


def _in_flight_bytes(spec: object, batch_max_bytes: int, env: Mapping[str, str]) -> int:
    """Bytes a sink can hold while writing, besides its queue (see memory_budget).

    An HTTP sink merges queued batches into one request of up to its
    ``max_request_bytes``: each of its ``concurrency`` writes holds ``copies``
    buffers of that size (``memory_copies``; for a URI ``_sinkuri.MEMORY_COPIES``).
    """
    if isinstance(spec, str):
        text = spec.strip()
        if text.startswith(_LOCAL_SINKS):
            return batch_max_bytes
        return uri_memory_copies(spec, env) * max(batch_max_bytes, HTTP_REQUEST_BYTES)
    size = max(batch_max_bytes, request_bytes_of(spec))
    return concurrency_of(spec) * memory_copies_of(spec) * size


class Settings(TypedDict, total=False):
    """The keyword arguments of ``configure()`` and ``install()``: one per :class:`Config` field.

    Declared for type checkers and IDE completion (``**settings: Unpack[Settings]``); the
    values are checked by ``Config`` itself. tests/test_api.py keeps it equal to Config's
    fields (``sample`` also takes its ``NGLOGGER_SAMPLE`` text).
    """

    level: int | str
    levels: Mapping[str, int | str]
    levels_file: str | None
    processors: Sequence[Processor]
    sinks: Sequence[Any]
    format: Format
    colors: bool | None
    console_sync: bool | None
    schema: Schema
    gcp_project: str | None
    context: Mapping[str, object]
    buffer_max_events: int
    buffer_max_bytes: int
    overflow: Overflow
    block_timeout: float
    batch_max_events: int
    batch_max_bytes: int
    flush_interval: float
    sink_queue_max_events: int
    sink_queue_max_bytes: int
    sink_queue_overflow: SinkOverflow
    sink_max_age: float
    sink_timeout: float
    spool_dir: str | None
    spool_max_bytes: int
    spool_fsync: SpoolFsync
    shutdown_timeout: float
    report_interval: float
    loss_report: float | None
    hold_bytes: int
    hold_trigger: int | str
    hold_level: int | str
    hold_total_bytes: int
    max_event_bytes: int
    oversize: Oversize
    max_field_length: int
    max_depth: int
    max_repr_length: int
    max_traceback_bytes: int
    sample: Sampling | str | None
    storm_limit: StormLimit | str | None
    storm_levels: Sequence[str] | None
    memory_limit: int | str | None
    redact_keys: Sequence[str]
    redact_values: bool
    strict: bool
    handle_sigterm: bool
    config_errors: ConfigErrors
    trace_context: bool | None
    sink_env: Mapping[str, str]
