"""Log capture: what a code path logged, parsed, with assertions that explain a miss."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson

from .._config.config import Config
from .._core.levels import level_name, parse_level
from .._pipeline.pipeline import Pipeline
from ..sinks.memory import MemorySink
from ..stdlib import LoggingHandler
from ._swap import FLUSH_TIMEOUT as _FLUSH_TIMEOUT
from ._swap import installed as _installed

__all__ = ["LogCapture", "capture_logs"]

#: How many non-matching events an assertion report lists.
_CLOSEST = 5
_MISSING: Any = object()


# --------------------------------------------------------------------------
# Capture


class LogCapture:
    """The events logged while a :func:`capture_logs` block runs.

    Reading ``events`` or ``lines`` first flushes the pipeline, so everything
    logged before the read is there; both stay readable after the block ends.
    Worst-case footprint: ``max_events`` event documents.
    """

    __slots__ = ("_active", "_pipeline", "_sink")

    def __init__(self, pipeline: Pipeline, sink: MemorySink) -> None:
        self._pipeline = pipeline
        self._sink = sink
        self._active = True

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline recording the events (for ``stats()``)."""
        return self._pipeline

    @property
    def lines(self) -> list[bytes]:
        """The events as raw JSON documents (bytes, no newline), oldest first."""
        self._sync()
        return self._sink.lines()

    @property
    def events(self) -> list[dict[str, Any]]:
        """The events parsed, oldest first."""
        self._sync()
        return self._sink.events()

    def clear(self) -> None:
        """Forget every event logged so far (buffered ones included)."""
        self._sync()
        self._sink.clear()

    def count(
        self,
        message: str | re.Pattern[str] | None = None,
        *,
        level: int | str | None = None,
        logger: str | re.Pattern[str] | None = None,
        **fields: Any,
    ) -> int:
        """How many events match (same criteria as :meth:`assert_logged`)."""
        criteria = _criteria(message, level, logger, fields)
        return sum(1 for event in self.events if not _mismatches(event, criteria))

    def assert_logged(
        self,
        message: str | re.Pattern[str] | None = None,
        *,
        level: int | str | None = None,
        logger: str | re.Pattern[str] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Return the first event matching every criterion given, or raise ``AssertionError``.

        ``message`` and ``logger`` match by equality, or by ``search`` when given
        a compiled ``re.Pattern``; ``level`` takes a name or number; every other
        keyword names a field, compared with the logged JSON value (expected
        values are passed through JSON first, so tuples equal lists and datetimes
        their RFC 3339 text; ``unittest.mock.ANY`` matches anything present). A
        field named like a parameter is logged with a trailing underscore:
        ``message_=...``. The error lists the closest events and what differs.
        """
        __tracebackhide__ = True
        criteria = _criteria(message, level, logger, fields)
        events = self.events
        for event in events:
            if not _mismatches(event, criteria):
                return event
        raise AssertionError(self._missing_report(events, criteria))

    def assert_not_logged(
        self,
        message: str | re.Pattern[str] | None = None,
        *,
        level: int | str | None = None,
        logger: str | re.Pattern[str] | None = None,
        **fields: Any,
    ) -> None:
        """Raise ``AssertionError`` listing the events that match, if any do."""
        __tracebackhide__ = True
        criteria = _criteria(message, level, logger, fields)
        found = [
            (i, event) for i, event in enumerate(self.events, 1) if not _mismatches(event, criteria)
        ]
        if found:
            lines = [
                (
                    f"assert_not_logged({_describe(criteria)}): "
                    f"{len(found)} captured event{'s' if len(found) != 1 else ''} match:"
                )
            ]
            lines += [f"  #{i} {_show(event)}" for i, event in found[:_CLOSEST]]
            if len(found) > _CLOSEST:
                lines.append(f"  ... and {len(found) - _CLOSEST} more")
            raise AssertionError("\n".join(lines))

    def _sync(self) -> None:
        if self._active:
            self._pipeline.flush(_FLUSH_TIMEOUT)

    def _close(self) -> None:
        self._active = False

    def _missing_report(self, events: list[dict[str, Any]], criteria: _Criteria) -> str:
        head = f"assert_logged({_describe(criteria)}): no captured event matches."
        notes = self._loss_notes()
        if not events:
            level = level_name(self._pipeline.min_level)
            return "\n".join(
                [
                    head,
                    (
                        f"No events were captured (capture level: {level}; events below it, "
                        "or logged before the capture started, are not seen)."
                    ),
                    *notes,
                ]
            )
        ranked = sorted(
            ((_mismatches(event, criteria), i, event) for i, event in enumerate(events, 1)),
            key=lambda item: (len(item[0]), item[1]),
        )
        plural = "s" if len(events) != 1 else ""
        lines = [head, f"{len(events)} event{plural} captured; closest first:"]
        for differences, i, event in ranked[:_CLOSEST]:
            lines.append(f"  #{i} {_show(event)}")
            lines += [f"      {difference}" for difference in differences]
        if len(events) > _CLOSEST:
            lines.append(f"  ... and {len(events) - _CLOSEST} more")
        lines += notes
        return "\n".join(lines)

    def _loss_notes(self) -> list[str]:
        notes = []
        if self._sink.overwritten:
            notes.append(
                f"Note: the {self._sink.overwritten} oldest events were evicted "
                "(capture_logs(max_events=...) keeps more)."
            )
        dropped = self._pipeline.stats().total_dropped
        if dropped:
            notes.append(f"Note: the pipeline dropped {dropped} events (see .pipeline.stats()).")
        return notes


@contextmanager
def capture_logs(
    level: int | str = "debug", *, max_events: int = 100_000, **config: Any
) -> Iterator[LogCapture]:
    """Record every event logged in the block (any thread) into a :class:`LogCapture`.

    A pipeline writing to a bounded :class:`~nglogger.sinks.MemorySink` becomes
    the default for the block; the previous default (configured pipeline or
    none) is put back exactly as it was afterwards, without being shut down.
    The capture pipeline is built from the defaults and ``config`` (any
    :class:`~nglogger.Config` setting except ``sinks``); the environment is not
    read, so tests behave the same everywhere. Records of the stdlib ``logging``
    propagating to the root logger are captured too, with or without
    ``nglogger.install()``. Loggers bound before the block
    keep the context they serialized then.
    """
    if "sinks" in config:
        raise TypeError("capture_logs() records into its own MemorySink; 'sinks' is not accepted")
    sink = MemorySink(max_events, name="nglogger-capture")
    settings: dict[str, Any] = {"flush_interval": 0.05, **config}
    pipeline = Pipeline(Config(level=level, sinks=(sink,), **settings))
    capture = LogCapture(pipeline, sink)
    try:
        with _installed(pipeline), _stdlib_routed(pipeline.min_level):
            yield capture
    finally:
        capture._close()


@contextmanager
def _stdlib_routed(level: int) -> Iterator[None]:
    """Records of the stdlib ``logging`` reach the capture too, ``install()`` or not.

    Unless a :class:`~nglogger.LoggingHandler` is on the root logger already, one is
    added for the block and the root level lowered to ``level`` if it is higher;
    both are put back afterwards.
    """
    root = logging.getLogger()
    if any(isinstance(handler, LoggingHandler) for handler in root.handlers):
        yield
        return
    handler = LoggingHandler()
    previous = root.level
    root.addHandler(handler)
    if previous == logging.NOTSET or previous > level:
        root.setLevel(max(level, 1))
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


# --------------------------------------------------------------------------
# Matching and reports for the capture assertions.

_Criteria = list[tuple[str, Any]]


def _criteria(
    message: object, level: int | str | None, logger: object, fields: dict[str, Any]
) -> _Criteria:
    out: _Criteria = []
    if message is not None:
        out.append(("message", _expected(message)))
    if level is not None:
        out.append(("level", level_name(parse_level(level))))
    if logger is not None:
        out.append(("logger", _expected(logger)))
    out += [(key, _expected(value)) for key, value in fields.items()]
    return out


def _expected(value: object) -> object:
    """The value as it reads back from JSON, when it is JSON data; otherwise itself."""
    if isinstance(value, (str, int, float, bool, re.Pattern)) or value is None:
        return value
    try:
        return orjson.loads(orjson.dumps(value, option=orjson.OPT_UTC_Z))
    except TypeError:  # a matcher such as mock.ANY, or a type JSON has no form for
        return value


def _mismatches(event: dict[str, Any], criteria: _Criteria) -> list[str]:
    out = []
    for key, expected in criteria:
        actual = event.get(key, _MISSING)
        if actual is _MISSING:
            out.append(f"{key}: missing")
        elif isinstance(expected, re.Pattern):
            if not (isinstance(actual, str) and expected.search(actual)):
                out.append(f"{key}: expected a match for {expected.pattern!r}, got {actual!r}")
        elif not expected == actual:  # noqa: SIM201 - the expected value's __eq__ decides (ANY)
            out.append(f"{key}: expected {expected!r}, got {actual!r}")
    return out


def _describe(criteria: _Criteria) -> str:
    return ", ".join(
        f"{key}=re.compile({expected.pattern!r})"
        if isinstance(expected, re.Pattern)
        else f"{key}={expected!r}"
        for key, expected in criteria
    )


def _show(event: dict[str, Any], limit: int = 300) -> str:
    text = orjson.dumps(event).decode()
    return text if len(text) <= limit else f"{text[:limit]}...({len(text) - limit} more chars)"
