"""The one frozen configuration object, validated once.

``Config`` holds every setting of a pipeline. It is built from keyword
arguments (``nglogger.configure(**kwargs)``); the environment parser builds the
same object. Every value is checked in ``__post_init__`` and a bad one raises
:class:`~nglogger.ConfigError` naming the setting, the value and what is
accepted. Nothing here reads ``os.environ``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

from ._environ import resolve
from ._errors import ConfigError
from ._levels import ACCEPTED_LEVELS, INFO, parse_level
from ._sampling import Sampling
from ._secrets import DEFAULT_REDACT_KEYS, shown_setting
from ._sink import concurrency_of, memory_copies_of
from ._sinkuri import check_sink_uri

REDACT_ACCEPTED = "a sequence of field names such as ('password', 'authorization'), or ()"

SAMPLE_ACCEPTED = "None or a Sampling, e.g. Sampling.parse('debug=0.1,1000/s')"

__all__ = ["Config"]

KiB = 1024
MiB = 1024 * KiB

Overflow = Literal["drop_newest", "drop_oldest", "block"]
SinkOverflow = Literal["drop_newest", "drop_oldest"]
Oversize = Literal["truncate", "drop"]
Format = Literal["json", "console", "auto"]

_OVERFLOWS = ("drop_newest", "drop_oldest", "block")
_SINK_OVERFLOWS = ("drop_newest", "drop_oldest")
_OVERSIZES = ("truncate", "drop")
_FORMATS = ("json", "console", "auto")


def _empty_context() -> Mapping[str, Any]:
    return MappingProxyType({})


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    """Every setting of a pipeline, with its default.

    Memory worst case held by a pipeline built from this config::

        buffer_max_bytes                      (events waiting for the batcher)
      + 3 * batch_max_bytes                   (open arena, recycled arena, batch being copied)
      + len(sinks) * sink_queue_max_bytes     (each sink's queue)
      + sum over sinks of concurrency * copies * batch_max_bytes   (batches being written)

    where ``copies`` is 1 for stream, file and memory sinks and 3 for HTTP sinks
    (the batch, its encoded body, its gzip copy).

    A batch shared by several sinks is counted in each queue but held once.
    """

    level: int | str = INFO
    sinks: Sequence[Any] = ("stdout",)
    format: Format = "json"
    colors: bool | None = None
    context: Mapping[str, object] = field(default_factory=_empty_context)

    buffer_max_events: int = 100_000
    buffer_max_bytes: int = 32 * MiB
    overflow: Overflow = "drop_newest"
    block_timeout: float = 0.1

    batch_max_events: int = 1_000
    batch_max_bytes: int = 1 * MiB
    flush_interval: float = 0.2

    sink_queue_max_events: int = 50_000
    sink_queue_max_bytes: int = 16 * MiB
    sink_queue_overflow: SinkOverflow = "drop_newest"

    shutdown_timeout: float = 5.0
    report_interval: float = 60.0

    max_event_bytes: int = 256 * KiB
    oversize: Oversize = "truncate"
    max_field_length: int = 64 * KiB
    max_depth: int = 32
    max_repr_length: int = 1_000
    max_traceback_bytes: int = 16 * KiB

    sample: Sampling | None = None
    redact_keys: Sequence[str] = DEFAULT_REDACT_KEYS
    redact_values: bool = False
    strict: bool = False
    #: Add trace_id/span_id/trace_flags of the active OpenTelemetry span to events.
    #: None (auto): on when the application has already imported opentelemetry.trace.
    trace_context: bool | None = None
    #: Ecosystem variables the sinks read (DD_*, HONEYCOMB_*, OTEL_EXPORTER_OTLP_*,
    #: NGLOGGER_HTTP_*), captured by the environment parser. May hold secrets:
    #: never shown in reprs.
    sink_env: Mapping[str, str] = field(default_factory=_empty_context, repr=False)

    def __post_init__(self) -> None:
        try:
            level = parse_level(self.level)
        except ValueError:
            raise ConfigError("level", self.level, ACCEPTED_LEVELS) from None
        object.__setattr__(self, "level", level)
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
        _choice("format", self.format, _FORMATS)
        _choice("overflow", self.overflow, _OVERFLOWS)
        _choice("sink_queue_overflow", self.sink_queue_overflow, _SINK_OVERFLOWS)
        _choice("oversize", self.oversize, _OVERSIZES)
        if self.colors is not None and not isinstance(self.colors, bool):
            raise ConfigError("colors", self.colors, "True, False or None (auto)")
        if self.sample is not None and not isinstance(self.sample, Sampling):
            raise ConfigError("sample", self.sample, SAMPLE_ACCEPTED)
        keys = self.redact_keys
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Sequence):
            raise ConfigError("redact_keys", keys, REDACT_ACCEPTED)
        for key in keys:
            if not isinstance(key, str) or not key.strip():
                raise ConfigError("redact_keys", key, REDACT_ACCEPTED)
        object.__setattr__(self, "redact_keys", tuple(dict.fromkeys(k.strip() for k in keys)))
        if not isinstance(self.redact_values, bool):
            raise ConfigError("redact_values", self.redact_values, "True or False")
        if not isinstance(self.strict, bool):
            raise ConfigError("strict", self.strict, "True or False")
        if self.trace_context is not None and not isinstance(self.trace_context, bool):
            raise ConfigError("trace_context", self.trace_context, "True, False or None (auto)")
        for name in (
            "buffer_max_events",
            "batch_max_events",
            "sink_queue_max_events",
            "max_depth",
        ):
            _positive_int(name, getattr(self, name))
        for name in (
            "buffer_max_bytes",
            "batch_max_bytes",
            "sink_queue_max_bytes",
            "max_event_bytes",
            "max_field_length",
            "max_repr_length",
            "max_traceback_bytes",
        ):
            _positive_int(name, getattr(self, name), minimum=64)
        for name in ("flush_interval", "shutdown_timeout", "block_timeout"):
            _positive_float(name, getattr(self, name))
        if self.report_interval != 0:
            _positive_float("report_interval", self.report_interval)
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
        config, _ = resolve(cls, environ, **explicit)
        return config

    def replace(self, **changes: Any) -> Config:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def memory_budget(self) -> int:
        """Worst-case bytes held by a pipeline built from this config (see class doc)."""
        arenas = 3 * self.batch_max_bytes  # open arena, recycled arena, batch being copied
        sinks = self.sinks or ("stdout",)
        in_flight = sum(_in_flight_batches(spec) for spec in sinks) * self.batch_max_bytes
        return self.buffer_max_bytes + arenas + len(sinks) * self.sink_queue_max_bytes + in_flight


def _choice(name: str, value: object, accepted: tuple[str, ...]) -> None:
    if value not in accepted:
        raise ConfigError(name, value, ", ".join(accepted))


def _positive_int(name: str, value: object, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(name, value, f"an integer >= {minimum}")


def _positive_float(name: str, value: object) -> None:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ConfigError(name, value, "a finite number of seconds > 0")


def _not_above(name: str, value: int, other: str, limit: int) -> None:
    if value > limit:
        raise ConfigError(name, value, f"at most {other} ({limit})")


_LOCAL_SINKS = ("stdout", "stderr", "null", "file:")


def _in_flight_batches(spec: object) -> int:
    """How many batch-sized buffers a sink can hold while writing (see memory_budget)."""
    if isinstance(spec, str):
        text = spec.strip()
        return 1 if text.startswith(_LOCAL_SINKS) else 3
    return concurrency_of(spec) * memory_copies_of(spec)
