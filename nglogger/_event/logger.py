"""The Logger API: levels, bind/new/unbind, exception, contextvars context.

A ``Logger`` is immutable: ``bind`` returns a new one whose extra context was
serialized once, there and then. A log call builds one dict of the reserved
keys, the pre-serialized context fragments and the call's fields, and hands it
to the pipeline, which turns it into bytes with a single ``orjson.dumps``.

Key order and precedence in an event: ``timestamp``, ``level``, ``logger``,
``message``, then the pipeline's static context, the logger's bound context,
the contextvars context and the call's fields; when a name repeats, the later
source wins, so an event never holds a key twice. A field named like a reserved
key is kept with a trailing underscore (``level`` -> ``level_``).
"""

from __future__ import annotations

import os
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

import orjson

from .._config.processors import Processor, apply
from .._core.forks import in_child
from .._core.guard import CONTEXT, DELIVERING, collecting_here, count_recursion
from .._core.levels import CRITICAL, DEBUG, ERROR, INFO, WARNING, level_name, parse_level
from . import target as _target
from .context import FragmentDict, empty_fragments, for_pipeline, fragments
from .encode import OPTIONS, exc_from_info
from .hold import enabled as _hold_enabled
from .layout import FALLBACK_KEY, free_name, renamed_fields, special_names
from .redact import SCALARS
from .storm import StormGuard
from .target import Target
from .timestamp import MICROS_Z, MILLI, refresh_milli

try:  # the C accelerator of the common case (setup.py builds it where it can)
    import nglogger._speedups as _speedups  # noqa: PLR0402 - the layer test reads this form

    _ACCELERATED = os.environ.get("NGLOGGER_PURE_PYTHON", "") in {"", "0"}
except ImportError:  # pragma: no cover - a pure-Python install
    _ACCELERATED = False

__all__ = ["Logger", "get_logger", "relevel"]

_time_ns = time.time_ns
_cv_get = CONTEXT.get
_EXC_INFO = frozenset({"exc_info"})
#: ``log.info(event="login")``: structlog's keyword for the message (read only when the
#: call gives no message; otherwise ``event`` is a field like any other).
_EVENT = "event"
#: Reserved names of every schema in use, exc_info and event (a set ``use_schema`` grows).
_SPECIAL = special_names(_EXC_INFO, frozenset({_EVENT}))
_MILLI = MILLI
_MICROS_Z = MICROS_Z
_milli = refresh_milli
_LEAVES = SCALARS
_EMPTY = empty_fragments()
_dumps = orjson.dumps
_JSONEncodeError = orjson.JSONEncodeError
_EVENT_OPTIONS = OPTIONS
#: How many names a pipeline remembers as plain (as the redactor's memo of safe names).
_PLAIN_LIMIT = 4096
#: Events up to this many bytes with a dict or list count their keys before scanning
#: (counting larger ones would cost more than the scan).
_COUNT_MAX = 4096
#: Dicts of at most this many keys have their names looked up in the memo of safe names.
_FLAT = 8


def _unusual_fields(
    message: object, fields: dict[str, Any], pipeline: Target
) -> tuple[Any, dict[str, Any]]:
    """A call's fields when a name is not yet known to be plain (see ``known_plain``).

    Resolves ``event=`` (structlog's keyword for the message, when no message is given)
    and ``exc_info``, renames reserved names, redacts and checks every value
    (``prepare_fields``), then remembers the names that turned out plain, so the next
    call with them takes the hot path.
    """
    names = list(fields)
    if not _SPECIAL.isdisjoint(fields):
        if message == "" and _EVENT in fields:  # structlog's habit
            message = fields.pop(_EVENT)
        fields = _special_fields(fields)
    fields = pipeline.prepare_fields(fields)
    plain = pipeline.plain_names
    if len(plain) < _PLAIN_LIMIT:
        redactor = pipeline.redactor
        secret = redactor.is_secret if redactor.names else None
        for name in names:
            if name not in _SPECIAL and (secret is None or not secret(name)):
                plain.add(name)
    return message, fields


def _learn_flat(fields: dict[str, Any], pipeline: Target) -> None:
    """Remember the names of a call's small dicts once a scan found no secret in the event.

    From then on, an event whose only nested keys are theirs is cleared by its key count,
    without a scan (``is_secret`` memoizes a name that is not secret).
    """
    is_secret = pipeline.redactor.is_secret
    for value in fields.values():
        if value.__class__ is dict and len(value) <= _FLAT:
            for name in value:
                is_secret(name)


def _special_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Resolve ``exc_info`` and rename fields that collide with reserved keys.

    A renamed field never overwrites another (see ``_layout``), and a caller's own
    ``exception`` field survives ``log.exception()`` as ``exception_``.
    """
    exc = exc_from_info(fields["exc_info"]) if "exc_info" in fields else None
    encoder = _target.current.encoder
    out = renamed_fields(fields, _EXC_INFO, encoder.schema)
    if exc is not None:
        for key, value in encoder.exception_event(exc).items():  # the schema's names
            if key in out:
                out[free_name(f"{key}_", out, fields)] = out.pop(key)
            out[key] = value
    return out


def _formatted(
    message: object, args: tuple[object, ...], pipeline: Target
) -> tuple[str, str | None]:
    """``message % args`` as ``logging`` does it (one mapping argument: named fields).

    A mismatch never raises: the message stays as given and the note ``format_error``
    says so (the arguments are logged as ``message_args``), counted in the fallbacks.
    """
    values: object = args
    if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
        values = args[0]
    try:
        return str(message) % values, None
    except Exception:
        try:
            pipeline.encoder.count("format_error")
        except Exception:
            pass
        return _message_text(message, pipeline), "format_error"


def _note_args(args: tuple[object, ...]) -> list[str]:
    """The arguments of a message that could not be formatted, as bounded reprs."""
    out = []
    for arg in args[:16]:
        try:
            text = repr(arg)
        except Exception as exc:
            text = f"<repr() raised {type(exc).__name__}>"
        out.append(text[:1000])
    return out


def _message_text(message: object, pipeline: Target) -> str:
    try:
        return str(message)
    except BaseException:
        try:
            pipeline.encoder.count("str_error")
        except Exception:
            pass
        return f"<unprintable {type(message).__name__} message>"


def _processed(  # noqa: PLR0917 - the call's locals, passed as they are (no kwargs dict)
    processors: tuple[Processor, ...],
    lname: str,
    name: str,
    message: object,
    args: tuple[object, ...],
    fields: dict[str, Any],
    pipeline: Target,
) -> tuple[Any, tuple[object, ...], dict[str, Any]] | None:
    """``(message, args, fields)`` after the processors (see ``_processors``); None: dropped.

    The processors see the message formatted (when its arguments fit; otherwise
    unformatted, and the call notes the mismatch after them as usual) and the
    call's fields with ``exc_info`` resolved and reserved names renamed.
    """
    if fields and not _SPECIAL.isdisjoint(fields):
        if message == "" and _EVENT in fields:
            message = fields.pop(_EVENT)
        fields = _special_fields(fields)
    if args:
        values: object = args
        if len(args) == 1 and isinstance(args[0], Mapping) and args[0]:
            values = args[0]
        try:
            message = str(message) % values
            args = ()
        except Exception:
            pass  # formatted (and the mismatch noted) by the call, after the processors
    # The call's kwargs dict (or _special_fields' copy) is ours: no second dict.
    fields["level"] = lname
    fields["logger"] = name
    fields["message"] = message
    out = apply(processors, fields, pipeline.encoder)
    if out is None:
        return None
    out.pop("level", None)  # to be read: the event keeps its own level and logger
    out.pop("logger", None)
    message = out.pop("message", message)
    return message, args, out


# The hot-path contract: what a log call reads of the pipeline (``_target.current``),
# and the values that mean "nothing unusual" (an accelerated call may do the common case
# itself only while all of these hold, and must hand every other call to this method):
#   self._lv.value     the level cell: a call below it returns at once. Holds in use
#                      lower it (to their floor), memory-pressure shedding raises it.
#   pipeline.storm     the pre-encode hook; None. Not None: storm_limit (the storm
#                      guard), or holds in use (the hold gate, the guard inside it), which
#                      re-checks the real level and may end the call. The C call
#                      (nglogger/_speedups.c) calls it itself, with these arguments, once
#                      it knows the call is its own (never twice for one call).
#   pipeline.processors  None (then ``direct``'s last item, the C call's constants, is
#                      None too).
#   pipeline.direct    not None (the log call's own encode + hand-off). None: a schema
#                      rewrite it cannot do, sampling, value patterns, after shutdown or
#                      exit, and while holds are in use (``emit`` diverts held bytes).
# Holds not in use (hold mode off: ``_pipeline/holdmode.py``) leave all of these as they
# are without the feature: the call makes exactly the same Python calls
# (tests/test_hot_path_calls.py).
def _make_method(level: int, lname: str) -> Any:
    def method(self: Logger, message: str = "", /, *args: object, **fields: Any) -> None:
        # The hot path: kept inline (no helper calls) on purpose; see bench/.
        if level < self._lv.value:  # this logger's level, resolved when it was made
            return
        pipeline = _target.current
        try:
            ns = _time_ns()  # the event's time: taken first, the storm guard reads it too
            storm = pipeline.storm  # None unless storm_limit is set: one attribute read
            if storm is not None and storm(self._name, message, level, ns):
                return  # over its call site's rate: counted, summarized (_event/storm)
            processors = pipeline.processors
            if processors is not None:  # None unless configured: one attribute read
                done = _processed(processors, lname, self._name, message, args, fields, pipeline)
                if done is None:
                    return
                message, args, fields = done
            nested = False  # a dict or list among the values: the event's bytes decide
            flat = 0  # keys of small dicts whose names are all known to be safe
            learn = False  # a small dict with a name not known yet
            if fields:
                if not pipeline.known_plain(fields):  # one C call: no name secret or reserved
                    message, fields = _unusual_fields(message, fields, pipeline)
                else:
                    # One look at each value (context was checked when bound). Short
                    # scalars need nothing more; dicts and lists go into the event as they
                    # are, and the event's bytes say whether they need the slow path (a
                    # secret key, a long string: see below). A long top-level string
                    # (orjson would reserve ~13x its size before any limit applies), a
                    # NaN/Inf (counted) or another type: prepare_fields, which serializes
                    # each nested value once (_fields).
                    max_field_length = pipeline.max_field_length
                    for value in fields.values():
                        cls = value.__class__
                        if cls is str:
                            if len(value) <= max_field_length:
                                continue
                        elif cls in _LEAVES:
                            if cls is not float or not value - value:  # NaN - NaN is NaN
                                continue
                        elif (cls is dict or cls is list) and (
                            # Each item takes 2 bytes at least: one with more items than
                            # half of max_event_bytes cannot fit, and prepare_fields makes
                            # it a marker after one dumps of it (not two).
                            len(value) <= pipeline.max_event_bytes >> 1
                        ):
                            nested = True
                            if cls is dict and len(value) <= _FLAT:  # user={"id": 42, ...}
                                known = pipeline.redact_known
                                if known is not None and known(value):
                                    flat += len(value)  # counted as known keys below
                                else:
                                    learn = True
                            continue
                        fields = pipeline.prepare_fields(fields)
                        nested = False
                        break
            if args:  # stdlib style: "user %s logged in", name (formatted once, enabled only)
                message, note = _formatted(message, args, pipeline)
                if note is not None:
                    fields = {**fields, FALLBACK_KEY: [note], "message_args": _note_args(args)}
            if message.__class__ is not str:
                message = _message_text(message, pipeline)
            if len(message) > pipeline.max_field_length:
                message = pipeline.encoder.trim(message)
                fields = {**fields, FALLBACK_KEY: ["truncated"]}
            milli = _MILLI[0]  # one tuple read: the prefix always matches its base
            offset = ns - milli[0]
            if offset >= 1_000_000 or offset < 0:
                milli = _milli(ns // 1000)
                offset = ns - milli[0]
            now = milli[1] + _MICROS_Z[offset // 1000]
            ctx = self._ctx
            if ctx and ctx.rid is not pipeline.redactor:  # bound under another configuration
                ctx = for_pipeline(ctx, pipeline)
            cv = _cv_get()
            if cv is None:
                event = {
                    "timestamp": now,
                    "level": lname,
                    "logger": self._name,
                    "message": message,
                    **pipeline.static,
                    **ctx,
                    **fields,
                }
            elif cv is DELIVERING:
                if not collecting_here():  # a sink logging: dropped, or it would loop
                    count_recursion()
                    return
                event = {  # a __del__ the collector ran on a delivery thread: kept
                    "timestamp": now,
                    "level": lname,
                    "logger": self._name,
                    "message": message,
                    **pipeline.static,
                    **ctx,
                    **fields,
                }
            else:
                if cv.rid is not pipeline.redactor:
                    cv = for_pipeline(cv, pipeline)
                event = {
                    "timestamp": now,
                    "level": lname,
                    "logger": self._name,
                    "message": message,
                    **pipeline.static,
                    **ctx,
                    **cv,
                    **fields,
                }
            direct = pipeline.direct
            if direct is None:  # a schema, trace ids, sampling, value patterns, after exit
                if nested:
                    event.update(pipeline.prepare_fields(fields))
                pipeline.emit(event)
                return
            add_ids = direct[4]
            if add_ids is not None:  # trace correlation: the active span's ids
                before = len(event)
                add_ids(event)
                added = len(event) - before
            else:
                added = 0
            try:
                data = _dumps(event, default=direct[0], option=_EVENT_OPTIONS)
            except (_JSONEncodeError, RecursionError):  # the pipeline's slow path
                if nested:
                    event.update(pipeline.prepare_fields(fields))
                pipeline.emit(event)
                return
            size = len(data)
            if nested:
                # The bytes decide, with one scan at most: every ``":`` in them is the
                # end of a key (a quote inside a string is escaped). When no source
                # overrode another's key (every key counted once) and the bytes hold as
                # many as the event has top-level keys plus those its context brought
                # (checked when bound), there is no key inside the dicts and lists:
                # nothing to redact. Otherwise the scan for secret keys reads the whole
                # event once. A long string or an event over max_event_bytes: the slow
                # path too.
                scan = pipeline.scan_keys
                static = pipeline.static
                keys = len(event)
                if cv is None or cv is DELIVERING:
                    own = sources = 0
                else:
                    own, sources = cv.keys_in, len(cv)
                slow = size > direct[1] or (
                    size > pipeline.max_field_length and pipeline.long_string_in(data)
                )
                if (
                    not slow
                    and scan is not None
                    and (
                        size > _COUNT_MAX
                        or keys != 4 + len(static) + len(ctx) + sources + len(fields) + added
                        or data.count(b'":')
                        != keys + pipeline.static_keys + ctx.keys_in + own + flat
                    )
                ):
                    slow = scan(data)
                    if learn and not slow:  # no secret: remember the small dicts' names
                        _learn_flat(fields, pipeline)
                if slow:
                    event.update(pipeline.prepare_fields(fields))  # same keys, same order
                    pipeline.emit(event)
                    return
            elif size > direct[1]:  # over max_event_bytes: the pipeline cuts it
                pipeline.emit(event)
                return
            heads = direct[5]
            if heads is not None:  # an output schema: its head's bytes swapped in (_layout)
                # Literal offsets (cheaper than cell reads): 52 LEVEL_START, 41 TIMESTAMP_END,
                # 14 len(TIMESTAMP_OPEN); tests/test_schema.py checks them against _layout.
                head = heads[data[52]]
                if head is not None and data[41 : head[1]] == head[0]:
                    data = head[2] + data[14:41] + head[3] + data[head[1] :]
                else:  # a level outside the table
                    data = direct[6](data)  # type: ignore[misc]
            result = direct[2](data)  # the buffer's hand-off
            if result:  # the inbox moved, a batch sealed or the event dropped
                direct[3](result)
        except MemoryError:  # every lock taken is released (with statements): count, go on
            if pipeline.strict:
                raise
            try:
                pipeline.count_dropped("memory_error")
            except Exception:
                pass
        except Exception:
            if pipeline.strict:
                raise
            try:
                pipeline.count_dropped("encode_error")
            except Exception:
                pass

    method.__name__ = lname
    method.__qualname__ = f"Logger.{lname}"
    method.__doc__ = f"Log ``message`` with structured ``fields`` at {lname.upper()} level."
    if _ACCELERATED:
        # The same method with its common case in C: it hands every other call to this
        # one, unchanged, before doing anything observable; both write the same bytes
        # (tests/test_speedups.py). ``Logger.info.__wrapped__`` is the Python method.
        return _speedups.LogMethod(level, lname, method)
    return method


class _Level:
    """The effective level of every logger of one name, under the default pipeline.

    Shared by the loggers of that name (``bind`` and friends pass it on), held weakly
    by ``_LEVELS``: it goes away with the last logger of its name. ``relevel``
    rewrites every live one when the default pipeline is replaced, so a log call
    reads its level with two attribute loads and never resolves it.
    """

    __slots__ = ("__weakref__", "name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name = name
        self.value = value

    def __repr__(self) -> str:
        return f"<level of {self.name!r}: {level_name(self.value)}>"


_LEVELS: weakref.WeakValueDictionary[str, _Level] = weakref.WeakValueDictionary()
_levels_lock = threading.RLock()  # get_logger() from a signal handler never waits


def _level_cell(name: str) -> _Level:
    """The level cell of logger ``name`` (created, resolved once, on first use)."""
    cell = _LEVELS.get(name)
    if cell is None:
        with _levels_lock:
            cell = _LEVELS.get(name)
            if cell is None:
                cell = _Level(name, _floored(_target.current.level_of(name)))
                _LEVELS[name] = cell
    return cell


def relevel() -> None:
    """Resolve every live logger's level again against the default pipeline.

    Called by whatever replaces ``_target.current`` (``configure``, ``shutdown``,
    the test and benchmark helpers that swap it), after the swap.
    """
    with _levels_lock:
        target = _target.current
        for cell in list(_LEVELS.values()):
            cell.value = _floored(target.level_of(cell.name))


#: Memory-pressure shedding: the level every logger is raised to (0: none). It is the
#: last word on a level cell's value (a hold that lets DEBUG through does not lower it),
#: so a shed call costs what a disabled one costs: the cell check at the top of the call.
#: Read by the stdlib handler too. Written only by ``shed``.
SHED: list[int] = [0]
#: Who asked for which floor (owner -> floor): the highest is in force.
_SHEDDERS: dict[int, int] = {}


def _floored(level: int) -> int:
    floor = SHED[0]
    return floor if level < floor else level


def shed(owner: int, floor: int) -> None:
    """Raise every logger's level to at least ``floor`` for ``owner`` (0: ``owner`` stops).

    ``owner`` is a key (a pipeline's ``id``). Several owners (pipelines under one
    process's memory limit) may shed at once: the highest floor is in force. Every live
    level cell is rewritten (``relevel``).
    """
    with _levels_lock:
        if floor > 0:
            _SHEDDERS[owner] = floor
        else:
            _SHEDDERS.pop(owner, None)
        SHED[0] = max(_SHEDDERS.values(), default=0)
        relevel()


@in_child
def _reset_lock_in_child() -> None:
    global _levels_lock
    _levels_lock = threading.RLock()


class Logger:
    """A structured logger. Immutable: ``bind`` and friends return new loggers.

    Log calls never raise into the caller (unless ``strict`` is configured) and
    keep no reference to any object passed to them once they return.
    """

    __slots__ = ("__weakref__", "_ctx", "_lv", "_name")

    def __init__(
        self, name: str = "root", context: FragmentDict | None = None, _lv: _Level | None = None
    ) -> None:
        self._name = name
        self._ctx = context if context is not None else _EMPTY
        self._lv = _lv if _lv is not None else _level_cell(name)

    debug = _make_method(DEBUG, "debug")
    info = _make_method(INFO, "info")
    warning = _make_method(WARNING, "warning")
    error = _make_method(ERROR, "error")
    critical = _make_method(CRITICAL, "critical")
    warn = warning
    fatal = critical
    _error = error

    def exception(self, message: str = "", /, *args: object, **fields: Any) -> None:
        """Log at ERROR with the active exception as structured fields.

        The ``exception`` field holds ``type``, ``message`` and a bounded
        ``stacktrace`` (no local variables). Pass ``exc_info=exc`` to log
        another exception.
        """
        fields.setdefault("exc_info", True)
        self._error(message, *args, **fields)

    def log(self, level: int | str, message: str = "", /, *args: object, **fields: Any) -> None:
        """Log at a level given by number or name."""
        try:
            number = parse_level(level)
        except ValueError:
            number = INFO
            fields.setdefault("level_", level)
        if number < self._lv.value:
            return
        name = level_name(number)
        _BY_NAME[name](self, message, *args, **fields)

    def is_enabled_for(self, level: int | str) -> bool:
        """True if an event at ``level`` would be recorded (or held, inside a hold)."""
        number = parse_level(level)
        if number < self._lv.value:
            return False
        pipeline = _target.current
        return pipeline.hold_floor is None or _hold_enabled(pipeline, self._name, number)

    def bind(self, **values: Any) -> Logger:
        """A new logger with more context (serialized now, once)."""
        return Logger(self._name, fragments(values, self._ctx), self._lv)

    def new(self, **values: Any) -> Logger:
        """A new logger with only ``values`` as context."""
        return Logger(self._name, fragments(values), self._lv)

    def unbind(self, *keys: str) -> Logger:
        """A new logger without ``keys`` in its context (missing keys are ignored)."""
        rename = _target.current.encoder.schema.rename
        names = {rename(key) for key in keys}
        return Logger(self._name, self._ctx.copy_without(names), self._lv)

    @property
    def name(self) -> str:
        """The logger's name (the ``logger`` key of its events)."""
        return self._name

    @property
    def context(self) -> dict[str, Any]:
        """The bound context, decoded (a fresh copy)."""
        return self._ctx.decoded()

    def __repr__(self) -> str:
        return f"<Logger {self._name!r} context={sorted(self._ctx.raw)}>"


if _ACCELERATED:
    _speedups.setup(
        logger_type=Logger,
        level_type=_Level,
        fragments_type=FragmentDict,
        storm_type=StormGuard,
        target_dict=vars(_target),
        context_var=CONTEXT,
        delivering=DELIVERING,
        leaves=_LEAVES,
        dumps=_dumps,
        encode_error=_JSONEncodeError,
        options=_EVENT_OPTIONS,
        learn_flat=_learn_flat,
        count_max=_COUNT_MAX,
        flat=_FLAT,
    )
#: Which log call this process runs: "c" (nglogger._speedups) or "python".
ACCELERATOR = "c" if _ACCELERATED else "python"

_BY_NAME = {
    "debug": Logger.debug,
    "info": Logger.info,
    "warning": Logger.warning,
    "error": Logger.error,
    "critical": Logger.critical,
}


def get_logger(name: str | None = None, /, **context: Any) -> Logger:
    """A logger named ``name`` (default: the calling module) with bound context."""
    if name is None:
        try:
            name = str(sys._getframe(1).f_globals.get("__name__") or "root")
        except (AttributeError, ValueError):
            name = "root"
    return Logger(name, fragments(context) if context else None)
