"""The stdlib ``logging`` backend: ``LoggingHandler``, ``install`` and ``uninstall``.

``LoggingHandler`` turns a ``LogRecord`` straight into an nglogger event dict
(no ``Formatter`` round trip) and hands it to the pipeline, which serializes it
once on the calling thread like any native event. Keys, in order: ``timestamp``
(from ``record.created``), ``level``, ``logger``, ``message`` (``%``-args
formatted once), the pipeline's static context, the contextvars context, the
record's ``extra={...}`` fields, then the fields derived from the record:
``level_number`` (levels without an nglogger name), ``exception``, ``stack`` and
``source`` (when enabled). Extra fields named like a reserved key, or like a
derived field present on that record, keep a trailing underscore.

Locks: the export path (``handle`` -> ``emit``) takes neither ``logging``'s
module lock nor the handler's own I/O lock. The pipeline is thread-safe, so the
handler lock would only serialize every logging thread behind one lock and
create lock-order cycles with ``logging.shutdown``/``dictConfig`` (which hold
the module lock, then take each handler's lock, then call ``flush``). For the
same reason ``flush`` never waits for delivery: it hands buffered events to the
sink queues and returns (``nglogger.flush()`` is the call that waits).

Recursion: records emitted on nglogger's own delivery threads (a sink's HTTP
client debug logs, a sink logging its own failure) are dropped and counted
``recursion``. The handler never calls ``handleError`` for its own failures: a
record that cannot be turned into an event is counted (``encode_error``,
``filter_error``), a message whose format string does not match its arguments is
kept unformatted and counted (``format_error``).

Memory: nothing here outlives a call except the handler's options; the event
dict references the record's values only until ``emit`` returns.
"""

from __future__ import annotations

import logging
import logging.config
import re
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from itertools import islice as _islice
from typing import Any, cast

from ._config.processors import apply
from ._core.errors import ConfigError, ConfigWarning
from ._core.guard import CONTEXT, DELIVERING, collecting_here, count_recursion
from ._core.levels import ACCEPTED_LEVELS, LEVEL_NAMES, LevelRules, level_name, parse_level
from ._core.reasons import DropReason
from ._event import target as _target
from ._event.context import bind_contextvars, for_pipeline, unbind_contextvars
from ._event.encode import exc_from_info
from ._event.hold import emit_unheld as _emit_unheld
from ._event.layout import FALLBACK_KEY, free_name, renamed_fields, special_names
from ._event.logger import SHED as _SHED
from ._event.redact import SCALARS
from ._event.target import Target
from ._event.timestamp import timestamp_formatter
from ._pipeline import default as _default
from ._pipeline.pipeline import Pipeline

__all__ = ["LoggingHandler", "install", "uninstall"]

_cv_get = CONTEXT.get
_LogRecord = logging.LogRecord
_LEVEL_NAMES = LEVEL_NAMES

#: Attributes every LogRecord has (taken from a blank one, so new Python
#: versions' additions such as ``taskName`` are included) plus those that
#: formatters add later. Anything else in ``record.__dict__`` is an extra.
_STANDARD = frozenset(_LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}
#: Keys that need a second look: formatter-added attributes, reserved names.
_SPECIAL = special_names(_STANDARD)
_BASE_LEN = len(_LogRecord("", 0, "", 0, "", None, None).__dict__)
_MAX_ARGS_REPR = 1000
#: Shared empty mapping (only ever read).
_NO_FIELDS: dict[str, Any] = {}

#: The servers' own loggers that ``install()`` takes over (see its docstring):
#: uvicorn, gunicorn, Celery and Django's ``runserver``.
SERVER_LOGGERS: tuple[str, ...] = (
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "gunicorn.error",
    "gunicorn.access",
    "celery",
    "celery.app.trace",
    "celery.worker",
    "celery.task",
    "celery.redirected",
    "django.server",
    "django.request",
    "django.security",
)
#: Record names normalized by ``LoggingHandler`` (one set lookup per record).
_SERVER_NAMES = frozenset(SERVER_LOGGERS)
#: uvicorn's last line in a server process (each ``--workers`` process, or the only one):
#: after a SIGTERM it restores the default action and raises the signal again, so the
#: process ends without exit hooks. nglogger delivers what it holds when it sees this line.
_UVICORN_FINISHED = "Finished server process [%d]"
_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")


class LoggingHandler(logging.Handler):
    """A ``logging.Handler`` that sends records to an nglogger pipeline.

    ``pipeline`` defaults to the default pipeline as it is at each record (so
    ``nglogger.configure()`` after the handler was built takes effect).
    ``source=True`` adds ``source={"module", "function", "line", "file"}``.
    A ``Formatter`` set on this handler is ignored: events are structured.
    The handler's level and filters apply as usual; the pipeline's own level
    does not filter stdlib records (logger and handler levels decide), but its
    per-logger ``levels`` do: a record whose logger name a rule covers is dropped
    below that rule's level (``install`` also sets those loggers' stdlib levels,
    so ``isEnabledFor`` agrees). The pipeline's ``processors`` run on each record
    (on its message, level, logger name and ``extra`` fields).
    """

    def __init__(
        self,
        level: int | str = logging.NOTSET,
        *,
        source: bool = False,
        pipeline: Pipeline | None = None,
    ) -> None:
        super().__init__(_to_level(level))
        self.source = bool(source)
        self.pipeline = pipeline
        _follow_celery()

    def setLevel(self, level: int | str) -> None:  # noqa: N802 - stdlib's name
        """Set the handler's level (a number, or an nglogger or stdlib level name)."""
        super().setLevel(_to_level(level))

    def handle(self, record: logging.LogRecord) -> bool:
        """Apply filters, then emit; without taking the handler lock (see module doc)."""
        if self.filters:
            try:
                rv: object = self.filter(record)
            except Exception:
                pipeline = self.pipeline or _target.current
                if pipeline.strict:
                    raise
                _count(pipeline, "filter_error")
                return False
            if not rv:
                return False
            if isinstance(rv, _LogRecord):  # Python 3.12+: a filter may replace the record
                record = rv
        self.emit(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        """Turn ``record`` into an event and hand it to the pipeline. Never raises."""
        pipeline = self.pipeline or _target.current
        try:
            cv = _cv_get()
            if cv is DELIVERING:
                if not collecting_here():
                    count_recursion()  # on the pipeline whose thread is delivering
                    return
                cv = None  # a __del__ the collector ran on a delivery thread: kept
            levelno = record.levelno
            if levelno < _SHED[0]:  # memory pressure: DEBUG (then INFO) is shed, as natively
                return
            rules = pipeline.level_rules
            if rules is not None:  # per-logger levels: a rule covering this name decides
                floor = rules.matched(record.name)
                if floor is not None and levelno < floor:
                    return
            storm = pipeline.storm  # None unless storm_limit is set or holds are in use
            # check=False: no level check by the hold gate (logging leveled the record itself)
            if storm is not None and storm(
                record.name, record.msg, levelno, time.time_ns(), check=False
            ):
                return  # over its call site's rate: counted, summarized
            try:
                message = record.getMessage()
                unformatted = False
            except Exception:
                message = _unformatted(record, pipeline)
                unformatted = True
            lname = _LEVEL_NAMES.get(levelno)
            processors = pipeline.processors
            d = record.__dict__
            server = record.name in _SERVER_NAMES
            if len(d) <= _BASE_LEN:
                extras = _NO_FIELDS
            else:
                if record.__class__ is _LogRecord:
                    # LogRecord.__init__ sets the standard attributes first;
                    # extras (makeRecord, factories, filters) come after them.
                    extras = dict(_islice(d.items(), _BASE_LEN, None))
                else:
                    extras = {k: v for k, v in d.items() if k not in _STANDARD}
                if not _SPECIAL.isdisjoint(extras):
                    extras = _clean_extras(extras, pipeline)
                if processors is None and not server:
                    extras = _prepared(extras, pipeline)
            if server:  # a server's own line: structured fields
                message, extras = self._server_record(record, message, extras, pipeline)
            if processors is not None:
                done = _processed(pipeline, lname or level_name(levelno), record, message, extras)
                if done is None:
                    return
                text, extras = done
                if not _SPECIAL.isdisjoint(extras):
                    extras = _clean_extras(extras, pipeline)
                extras = _prepared(extras, pipeline)
                message = text if text.__class__ is str else _message_str(text, pipeline)
            if len(message) > pipeline.max_field_length:  # cut before orjson reserves ~10x of it
                message = pipeline.encoder.trim(message)
                extras = {**extras, FALLBACK_KEY: ["truncated"]}
            if cv and cv.rid is not pipeline.redactor:  # bound under another configuration
                cv = for_pipeline(cv, pipeline)
            event = {
                "timestamp": _timestamp(round(record.created * 1_000_000) * 1000),
                "level": lname or level_name(levelno),
                "logger": record.name,
                "message": message,
                **pipeline.static,
                **(cv or _NO_FIELDS),
                **extras,
            }
            if lname is None or record.exc_info or record.stack_info or self.source:
                self._derived(event, extras, record, pipeline, lname is None)
            if unformatted:
                event[FALLBACK_KEY] = ["format_error"]
            if server and pipeline.hold_floor is not None:  # holds in use: never held
                _emit_unheld(pipeline.emit, event)
            else:
                pipeline.emit(event)
            if server and record.msg == _UVICORN_FINISHED:
                _before_the_end(pipeline)
        except MemoryError:  # every lock taken is released (with statements): count, go on
            if pipeline.strict:
                raise
            _count(pipeline, "memory_error")
        except Exception:
            if pipeline.strict:
                raise
            _count(pipeline, "encode_error")

    def _server_record(
        self,
        record: logging.LogRecord,
        message: str,
        extras: dict[str, Any],
        pipeline: Target,
    ) -> tuple[str, dict[str, Any]]:
        """A server logger's record: no ANSI codes, no ``color_message``, access fields."""
        if self is _taking_over:  # a server may have re-added a console handler since
            _retake_servers(record.name)
        if "\x1b" in message:
            message = _ANSI.sub("", message)
        fields = _access_fields(record)
        if fields or not _SERVER_EXTRAS.isdisjoint(extras):
            if "request" in extras:  # Django's: an HttpRequest, or runserver's socket
                fields = {**_django_request(extras["request"]), **fields}
            if "status_code" in extras and "status" not in fields:
                fields["status"] = extras["status_code"]
            extras = {k: v for k, v in extras.items() if k not in _SERVER_EXTRAS}
            for key, value in fields.items():
                extras.setdefault(key, value)
        if pipeline.processors is None and extras:
            extras = _prepared(extras, pipeline)
        return message, extras

    def _derived(
        self,
        event: dict[str, Any],
        extras: dict[str, Any],
        record: logging.LogRecord,
        pipeline: Target,
        custom_level: bool,
    ) -> None:
        """Add level_number, exception, stack and source (the rarer fields)."""
        values: dict[str, Any] = {}
        if custom_level:
            values["level_number"] = record.levelno
        if record.exc_info:
            exc = exc_from_info(record.exc_info)
            if exc is not None:
                values.update(pipeline.encoder.exception_event(exc))  # the schema's names
        if record.stack_info:
            limit = pipeline.encoder.limits.max_traceback_bytes
            values["stack"] = _bounded(str(record.stack_info), limit)
        if self.source:
            schema = pipeline.encoder.schema
            values[schema.source_key] = schema.source(
                record.module, record.funcName, record.lineno, record.pathname
            )
        for key, value in values.items():
            if key in extras:  # keep the caller's field, renamed like a reserved key
                event[free_name(f"{key}_", event)] = event.pop(key)
            event[key] = value

    def flush(self) -> None:
        """Hand buffered events to the sinks' queues; never waits for delivery.

        ``logging.shutdown`` and ``dictConfig`` call this while holding
        ``logging``'s module lock; waiting here for a sink that itself logs
        (and so needs that lock) would deadlock. ``nglogger.flush()`` waits.
        """
        try:
            if self.pipeline is not None:
                self.pipeline.flush(0)
            else:
                _default.flush(0)
        except Exception:
            pass

    def close(self) -> None:
        """Detach from ``logging``; the pipeline keeps running (it is not the handler's)."""
        try:
            super().close()
        except Exception:
            pass

    def __repr__(self) -> str:
        level = logging.getLevelName(self.level)
        target = "default pipeline" if self.pipeline is None else repr(self.pipeline)
        return f"<LoggingHandler {target} ({level})>"


def _access_fields(record: logging.LogRecord) -> dict[str, Any]:
    """``method``, ``path``, ``status``, ``client``... of a uvicorn or gunicorn access line."""
    args = record.args
    try:
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            return {
                "method": _plain(method),
                "path": _plain(path),
                "status": _status(status),
                "client": _plain(client),
                "http_version": _plain(http_version),
            }
        if record.name == "django.server" and isinstance(args, tuple) and len(args) >= 2:
            # runserver: '"%s" %s %s' % (request line, status, size)
            method, _, rest = str(args[0]).partition(" ")
            path, _, version = rest.rpartition(" ")
            out: dict[str, Any] = {"status": _status(args[1])}
            if method and path:
                out.update(method=_plain(method), path=_plain(path))
                if version.startswith("HTTP/"):
                    out["http_version"] = version[5:]
            return out
        if record.name == "gunicorn.access" and isinstance(args, dict):
            # gunicorn's atoms ("-" when unknown): h, m, U, q, s, H, a...
            raw = {
                "method": args.get("m"),
                "path": args.get("U"),
                "status": args.get("s"),
                "client": args.get("h"),
                "http_version": args.get("H"),
                "user_agent": args.get("a"),
            }
            query = args.get("q")
            if raw["path"] not in (None, "-") and query not in (None, "", "-"):
                raw["path"] = f"{raw['path']}?{query}"
            fields: dict[str, Any] = {}
            for key, value in raw.items():
                if value is None or value in ("-", ""):
                    continue
                fields[key] = _status(value) if key == "status" else _plain(value)
            return fields
    except Exception:
        pass
    return _NO_FIELDS


#: Extras of the servers' records that are not fields of their own: uvicorn's coloured
#: copy of the message, Django's request object (its method and path become fields),
#: runserver's time of day (the event has its timestamp) and status code (``status``).
_SERVER_EXTRAS = frozenset({"color_message", "request", "server_time", "status_code"})


def _django_request(request: object) -> dict[str, Any]:
    """``method`` and ``path`` of a Django ``HttpRequest`` (nothing for another object)."""
    try:
        method = getattr(request, "method", None)
        full_path = getattr(request, "get_full_path", None)
        if isinstance(method, str) and callable(full_path):
            return {"method": method, "path": str(full_path())}
    except Exception:
        pass
    return {}


def _plain(value: object) -> str:
    """A server's value as text without ANSI codes."""
    text = value if isinstance(value, str) else str(value)
    return _ANSI.sub("", text) if "\x1b" in text else text


def _status(value: object) -> int | str:
    """An HTTP status as an int (gunicorn's is text such as ``"200"`` or ``"200 OK"``)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = _plain(value).strip()
    head = text.split(" ", 1)[0]
    return int(head) if head.isdigit() else text


def _clean_extras(extras: dict[str, Any], pipeline: Target) -> dict[str, Any]:
    """Drop standard attributes, rename reserved keys (``level`` -> ``level_``, see ``_layout``)."""
    return renamed_fields(extras, _STANDARD, pipeline.encoder.schema)


def _count(pipeline: Target, reason: DropReason) -> None:
    try:
        pipeline.count_dropped(reason)
    except Exception:
        pass


_timestamp = timestamp_formatter()
_LEAVES = SCALARS


def _prepared(extras: dict[str, Any], pipeline: Target) -> dict[str, Any]:
    """``extras`` after the same checks as a native call's fields (see ``Logger``)."""
    known_safe = pipeline.redact_known
    if known_safe is not None and not known_safe(extras):
        return pipeline.prepare_fields(extras)
    max_field_length = pipeline.max_field_length
    for value in extras.values():
        cls = value.__class__
        if (cls is str and len(value) > max_field_length) or (
            cls is not str and (cls not in _LEAVES or (cls is float and value - value != 0))
        ):
            return pipeline.prepare_fields(extras)
    return extras


def _processed(
    pipeline: Target,
    lname: str,
    record: logging.LogRecord,
    message: str,
    extras: dict[str, Any],
) -> tuple[object, dict[str, Any]] | None:
    """``(message, extras)`` after the processors (see ``_processors``); None: dropped."""
    out = apply(
        pipeline.processors or (),
        {"level": lname, "logger": record.name, "message": message, **extras},
        pipeline.encoder,
    )
    if out is None:
        return None
    out.pop("level", None)  # to be read: the event keeps the record's level and name
    out.pop("logger", None)
    return out.pop("message", message), out


def _message_str(message: object, pipeline: Target) -> str:
    """A processor's non-str message as text (never raises)."""
    try:
        return str(message)
    except Exception:
        try:
            pipeline.encoder.count("str_error")
        except Exception:
            pass
        return f"<unprintable {type(message).__name__} message>"


def _unformatted(record: logging.LogRecord, pipeline: Target) -> str:
    """The message when ``msg % args`` failed: the raw text and the args' repr."""
    try:
        text = str(record.msg)
    except Exception:
        text = f"<unprintable {type(record.msg).__name__} message>"
    try:
        args = _bounded(repr(record.args), _MAX_ARGS_REPR)
    except Exception:
        args = f"<unprintable {type(record.args).__name__} args>"
    try:
        pipeline.encoder.count("format_error")
    except Exception:
        pass
    return f"{text} {args}"


def _bounded(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters: its head and tail, the middle elided."""
    if len(text) <= limit:
        return text
    head = limit // 4
    tail = limit - head
    return f"{text[:head]}\n... [{len(text) - limit} chars elided] ...\n{text[-tail:]}"


def _to_level(level: int | str) -> int:
    """A level number from a number, an nglogger name or a registered stdlib name."""
    if isinstance(level, str):
        registered = logging.getLevelName(level.strip().upper())
        if isinstance(registered, int):
            return registered
    try:
        return parse_level(level)
    except ValueError:
        raise ConfigError(
            "level", level, f"{ACCEPTED_LEVELS}, or a registered logging level name"
        ) from None


# ---------------------------------------------------------------------------
# install / uninstall: nglogger as the backend of the root logger.


@dataclass
class _Installed:
    """What ``install`` changed, to put back on ``uninstall``."""

    handler: LoggingHandler
    level: int
    capturing: bool
    handlers: list[logging.Handler] = field(default_factory=list)  # removed by install
    order: list[logging.Handler] = field(default_factory=list)  # every handler seen, in order
    #: Loggers whose level install() set from ``levels``: their level before it.
    loggers: dict[str, int] = field(default_factory=dict)
    #: Server loggers taken over (``servers=True``): what they were before.
    servers: dict[str, _ServerLogger] = field(default_factory=dict)
    #: ``logging.config.dictConfigClass`` before install() wrapped it (None: not wrapped).
    configurator: type[logging.config.DictConfigurator] | None = None
    hook: type[logging.config.DictConfigurator] | None = None  # the wrapper install() set


@dataclass
class _ServerLogger:
    """A server logger before ``install`` took it over, for ``uninstall``."""

    order: list[logging.Handler]  # every handler seen, in order
    propagate: bool
    level: int
    removed: list[logging.Handler] = field(default_factory=list)


#: Each server logger name: itself and its server-logger ancestors (``uvicorn.error``: ``uvicorn``).
_SERVER_CHAIN = {
    name: tuple(m for m in SERVER_LOGGERS if name == m or name.startswith(m + "."))
    for name in SERVER_LOGGERS
}


def _take_server(state: _Installed, name: str) -> None:
    """Remove a server logger's console handlers and make it propagate (caller holds the lock).

    A logger with no console handler is left as it is (uvicorn's ``--no-access-log``:
    no handler, not propagating, stays off).
    """
    logger = logging.getLogger(name)
    console = [h for h in logger.handlers if _duplicates_console(h)]
    if not console:
        return
    kept = state.servers.get(name)
    if kept is None:
        kept = _ServerLogger(list(logger.handlers), logger.propagate, logger.level)
        state.servers[name] = kept
    for handler in console:
        logger.removeHandler(handler)
        if handler is state.handler:
            continue
        if handler not in kept.order:
            kept.order.append(handler)
        if handler not in kept.removed:
            kept.removed.append(handler)
    logger.propagate = True


def _restore_servers(state: _Installed) -> None:
    """Put the server loggers back as they were (caller holds the lock)."""
    for name, kept in state.servers.items():
        logger = logging.getLogger(name)
        present = logger.handlers[:]
        restored = [h for h in kept.order if h in kept.removed or h in present]
        restored += [h for h in present if h not in restored]
        for handler in present:
            logger.removeHandler(handler)
        for handler in restored:
            logger.addHandler(handler)
        logger.propagate = kept.propagate
        logger.setLevel(kept.level)
    state.servers.clear()


def _retake_servers(name: str) -> None:
    """From the root handler: a server re-added a console handler (gunicorn's reload)."""
    loggers = logging.Logger.manager.loggerDict
    for candidate in _SERVER_CHAIN.get(name, ()):
        logger = loggers.get(candidate)
        if (
            isinstance(logger, logging.Logger)
            and logger.handlers
            and any(_duplicates_console(h) for h in logger.handlers)
        ):
            break
    else:
        return
    if not _install_lock.acquire(blocking=False):
        return
    try:
        state = _installed
        if state is not None and _taking_over is state.handler:
            for candidate in _SERVER_CHAIN.get(name, ()):
                _take_server(state, candidate)
    finally:
        _install_lock.release()


#: gunicorn's ``glogging.Logger.setup`` and the wrapper put in its place (``_follow_gunicorn``).
_gunicorn_setup: tuple[Any, Any] | None = None


def _follow_gunicorn(*, take: bool) -> None:
    """Under gunicorn: take its loggers over again each time it sets them up (``take``).

    gunicorn's ``glogging.Logger.setup`` gives ``gunicorn.error`` and ``gunicorn.access``
    console handlers and turns their propagation off when the arbiter starts (after a
    ``gunicorn.conf.py`` ran) and again on a reload (SIGHUP). That is no ``dictConfig``
    (unless ``logconfig_dict``), and a logger that does not propagate never shows nglogger's
    handler a record to notice it by. Wrapped while gunicorn runs (``gunicorn.arbiter``
    imported: nglogger imports none of it otherwise), so ``install()`` in
    ``gunicorn.conf.py`` covers the master's own lines too; put back by
    ``install(servers=False)`` and ``uninstall()``.
    """
    global _gunicorn_setup
    if take == (_gunicorn_setup is not None) or "gunicorn.arbiter" not in sys.modules:
        return
    try:
        from gunicorn import glogging  # type: ignore[import-untyped]  # gunicorn is running
    except Exception:
        return
    if _gunicorn_setup is not None:  # not take: put gunicorn's own back
        original, wrapper = _gunicorn_setup
        if glogging.Logger.setup is wrapper:
            glogging.Logger.setup = original
        _gunicorn_setup = None
        return
    original = glogging.Logger.setup

    def setup(self: Any, cfg: Any) -> None:
        original(self, cfg)
        for name in ("gunicorn.error", "gunicorn.access"):
            _retake_servers(name)

    setup.__wrapped__ = original  # type: ignore[attr-defined]
    glogging.Logger.setup = setup
    _gunicorn_setup = (original, setup)


def _after_dict_config(config: Any) -> None:
    """After a ``dictConfig`` (a server configuring logging after the app's install())."""
    with _install_lock:
        state = _installed
        if state is None or _taking_over is not state.handler:
            return
        try:
            named = set(config.get("loggers") or ())
        except Exception:
            named = set()
        for name in SERVER_LOGGERS:
            if name in named:  # configured anew: uninstall() restores that configuration
                state.servers.pop(name, None)
            _take_server(state, name)


def _configurator(
    previous: type[logging.config.DictConfigurator],
) -> type[logging.config.DictConfigurator]:
    """``previous`` whose ``configure`` then takes the server loggers over again."""

    def configure(self: logging.config.DictConfigurator) -> None:
        previous.configure(self)
        _after_dict_config(self.config)

    made = type("NgloggerDictConfigurator", (previous,), {"configure": configure})
    return cast("type[logging.config.DictConfigurator]", made)


def _apply_logger_levels(state: _Installed, rules: LevelRules | None) -> None:
    """Set each ``levels`` prefix's stdlib logger level; put back those no longer named."""
    wanted = rules.rules if rules is not None else {}
    for name in [n for n in state.loggers if n not in wanted]:
        logging.getLogger(name).setLevel(state.loggers.pop(name))
    for name, number in wanted.items():
        logger = logging.getLogger(name)
        state.loggers.setdefault(name, logger.level)
        logger.setLevel(number)


_install_lock = threading.Lock()
_installed: _Installed | None = None
#: The installed root handler while it takes the server loggers over (``servers=True``).
_taking_over: LoggingHandler | None = None


def _capturing_warnings() -> bool:
    """True if ``logging.captureWarnings(True)`` is in effect."""
    return getattr(logging, "_warnings_showwarning", None) is not None


_celery_followed = False


def _celery_signals() -> Any:
    """``celery.signals`` when the application imported celery; None otherwise (never imported)."""
    if "celery" not in sys.modules:
        return None
    try:
        from celery import signals  # type: ignore[import-untyped]  # the app imported it
    except Exception:
        return None
    return signals


def _follow_celery() -> None:
    """In a Celery worker, deliver in each pool process before it exits.

    Celery's prefork pool ends its processes with ``os._exit`` (no exit hooks) after
    sending ``worker_process_shutdown``: connected here, once, when celery is imported
    (a handler made in the worker's setup, or ``install()`` in the app; the pool's
    processes, forked later, inherit the connection).
    """
    global _celery_followed
    signals = None if _celery_followed else _celery_signals()
    if signals is None:
        return
    signals.worker_process_shutdown.connect(_pool_process_exits, weak=False)
    _celery_followed = True


def _take_celery_logging(*, take: bool) -> None:
    """Under Celery: leave logging as ``install()`` made it (``take``), or give it back.

    Celery's worker configures logging itself unless a ``setup_logging`` receiver is
    connected: with ``worker_hijack_root_logger`` (its default) it removes every root
    handler (nglogger's too) and adds its own plain-text one. ``install()`` connects
    one (``_celery_logging``) when celery is imported (``celery -A app worker`` imports it
    before the app module; nglogger never imports it itself), so the two-line quick start
    in the app module is enough; ``install(servers=False)`` and ``uninstall()``
    disconnect it. The root level stays nglogger's (``LOG_LEVEL``, ``NGLOGGER_LEVEL``).
    ``task_prerun``/``task_postrun`` bind the running task's ``task_id`` and ``task_name``
    as context, as Celery's task log format shows them.
    """
    global _celery_logging_taken
    signals = None if take == _celery_logging_taken else _celery_signals()
    if signals is None:
        return
    receivers = (
        (signals.setup_logging, _celery_logging),
        (signals.task_prerun, _celery_task_starts),
        (signals.task_postrun, _celery_task_ends),
    )
    for signal, receiver in receivers:
        if take:
            signal.connect(receiver, weak=False)
        else:
            signal.disconnect(receiver)
    _celery_logging_taken = take


_celery_logging_taken = False


def _celery_logging(**_: object) -> None:
    """Celery's ``setup_logging``: a receiver is enough, logging stays ``install()``'s."""


def _celery_task_starts(task_id: object = None, task: object = None, **_: object) -> None:
    """``task_prerun``: every event logged while the task runs carries its id and name."""
    bind_contextvars(task_id=task_id, task_name=getattr(task, "name", None))


def _celery_task_ends(**_: object) -> None:
    """``task_postrun``: the task's id and name are unbound."""
    unbind_contextvars("task_id", "task_name")


def _pool_process_exits(**_: object) -> None:
    """``worker_process_shutdown``: the process ends next, without exit hooks."""
    _before_the_end(_target.current)


def _before_the_end(pipeline: Target) -> None:
    """Deliver what is buffered now: the process may end next without running exit hooks.

    Within ``shutdown_timeout``; a sink that is down with its events on disk is not
    waited for (they are the next start's). Never raises.
    """
    if isinstance(pipeline, Pipeline):
        try:
            pipeline.flush(leave_to_spool=True)
        except Exception:
            pass


def install(
    level: int | str | None = None,
    *,
    capture_warnings: bool = True,
    keep_handlers: bool | None = None,
    servers: bool = True,
    **configure_kwargs: Any,
) -> LoggingHandler:
    """Make nglogger the backend of the root logger; return its handler.

    With ``configure_kwargs``, ``nglogger.configure(**configure_kwargs)`` runs
    first (``level`` is passed on too); without them, if no pipeline was configured
    yet, ``nglogger.configure()`` reads the environment, exactly as it does when
    called directly (a pipeline configured explicitly before is kept). One
    :class:`LoggingHandler` is added to the root logger, the root level is set to
    ``level`` (default: the pipeline's level), each prefix of the pipeline's
    per-logger ``levels`` gets its level on its stdlib logger
    (``logging.getLogger("urllib3").setLevel(WARNING)``: ``isEnabledFor`` agrees
    with nglogger; call ``install()`` again after a ``configure()`` that changes
    them) and ``warnings`` are routed to ``logging`` (``capture_warnings=False``
    leaves them as they were before the first ``install``).

    The root's existing handlers (remembered for :func:`uninstall`):

    * ``keep_handlers=None`` (default): console handlers (a ``StreamHandler``
      that is not a ``FileHandler``, such as ``logging.basicConfig``'s) and other
      nglogger handlers are removed, since nglogger writes the console now and
      they would print every record twice; every other handler (an
      OpenTelemetry ``LoggingHandler``, a ``FileHandler``, Sentry's, a
      ``QueueHandler``...) is kept and keeps receiving every record;
    * ``keep_handlers=False``: all are removed, and a :class:`~nglogger.ConfigWarning`
      names those that were not console handlers (their records stop);
    * ``keep_handlers=True``: all are kept.

    The servers' own loggers (``servers=True``, the default; the names are in
    ``nglogger.stdlib.SERVER_LOGGERS``: ``uvicorn``, ``uvicorn.error``,
    ``uvicorn.access``, ``gunicorn.error``, ``gunicorn.access``, ``celery`` and
    its ``app.trace``, ``worker``, ``task``, ``redirected`` loggers, ``django.server``,
    ``django.request``, ``django.security``): each one with a console handler (the
    same rule as the root's) loses those handlers and is set to propagate, so its
    lines (access lines, unhandled exceptions) reach the root's handler and every
    nglogger sink once; a server logger without a console handler is left as it is
    (uvicorn's ``--no-access-log``, gunicorn without ``--access-logfile``, a
    ``FileHandler``). Levels are not changed. A ``logging.config.dictConfig`` run
    later (uvicorn started by ``uvicorn.run()`` after ``install()``, Django's
    ``LOGGING``) is followed by the same takeover (``install`` wraps
    ``logging.config.dictConfigClass``), and a console handler a server adds again
    without ``dictConfig`` (gunicorn's reload) is removed at that logger's next
    record. Under Celery (imported by the application), Celery's ``setup_logging``
    signal is connected, so its worker leaves logging as it is (no root logger
    hijack), and ``task_prerun``/``task_postrun`` bind ``task_id`` and ``task_name``
    (see ``_take_celery_logging``); under gunicorn, its ``glogging.Logger.setup`` is
    followed (``_follow_gunicorn``: ``install()`` in ``gunicorn.conf.py`` covers the
    master). ``servers=False`` leaves them alone (and, on a
    later call, puts back those taken over before). :func:`uninstall` restores their
    handlers, propagate flag and level.

    Idempotent: calling it again keeps one handler (applying the same rules to
    root and server handlers added meanwhile) and updates the level.
    """
    global _installed, _taking_over
    if configure_kwargs:
        if level is not None:
            configure_kwargs["level"] = level
        _default.configure(**configure_kwargs)
    elif not isinstance(_target.current, Pipeline):
        # Nothing configured yet: configure from the environment, as configure() does
        # (NGLOGGER_SINKS, NGLOGGER_CONTEXT, LOG_LEVEL...); an explicit pipeline is kept.
        _default.configure()
    number = _target.current.min_level if level is None else _to_level(level)
    root = logging.getLogger()
    removed_others: list[logging.Handler] = []
    with _install_lock:
        state = _installed
        if state is None:
            state = _Installed(LoggingHandler(), root.level, _capturing_warnings())
            _installed = state
        for handler in list(root.handlers):
            if handler is state.handler:
                continue
            if handler not in state.order:
                state.order.append(handler)
            replaced = _duplicates_console(handler)
            if keep_handlers or (keep_handlers is None and not replaced):
                continue
            root.removeHandler(handler)
            if handler not in state.handlers:
                state.handlers.append(handler)
            if not replaced:
                removed_others.append(handler)
        root.addHandler(state.handler)
        root.setLevel(number)
        _apply_logger_levels(state, _target.current.level_rules)
        if servers:
            for name in SERVER_LOGGERS:
                _take_server(state, name)
            _taking_over = state.handler
            if state.hook is None:
                state.configurator = logging.config.dictConfigClass
                state.hook = _configurator(state.configurator)
                logging.config.dictConfigClass = state.hook
        else:
            _release_servers(state)
        _take_celery_logging(take=servers)
        _follow_gunicorn(take=servers)
        logging.captureWarnings(capture_warnings or state.capturing)
    if removed_others:
        names = ", ".join(_handler_name(h) for h in removed_others)
        warnings.warn(
            f"nglogger.install(keep_handlers=False) removed the root handler(s) {names}: "
            "their records now go only to nglogger (uninstall() restores them)",
            ConfigWarning,
            stacklevel=2,
        )
    return state.handler


def _release_servers(state: _Installed) -> None:
    """Stop taking the server loggers over; restore them (caller holds the lock)."""
    global _taking_over
    _taking_over = None
    _restore_servers(state)
    if state.hook is not None:
        if logging.config.dictConfigClass is state.hook and state.configurator is not None:
            logging.config.dictConfigClass = state.configurator
        state.hook = state.configurator = None


def _duplicates_console(handler: logging.Handler) -> bool:
    """True for a handler that would print what nglogger already prints (removed by default)."""
    if isinstance(handler, LoggingHandler):
        return True
    return isinstance(handler, logging.StreamHandler) and not isinstance(
        handler, logging.FileHandler
    )


def _handler_name(handler: logging.Handler) -> str:
    kind = type(handler)
    name = f"{kind.__module__}.{kind.__qualname__}"
    return f"{name}({handler.name!r})" if handler.name else name


def uninstall() -> bool:
    """Undo :func:`install`: previous root handlers, level and warnings capture, server loggers.

    The root's handlers come back in their original order; handlers added since
    ``install`` are kept (last). Returns False if nglogger was not installed.
    """
    global _installed
    root = logging.getLogger()
    with _install_lock:
        state = _installed
        if state is None:
            return False
        _installed = None
        root.removeHandler(state.handler)
        present = root.handlers[:]
        restored = [h for h in state.order if h in state.handlers or h in present]
        restored += [h for h in present if h not in restored]
        for handler in present:
            root.removeHandler(handler)
        for handler in restored:  # in their original order, later additions last
            root.addHandler(handler)
        root.setLevel(state.level)
        _release_servers(state)
        _take_celery_logging(take=False)
        _follow_gunicorn(take=False)
        _apply_logger_levels(state, None)
        logging.captureWarnings(state.capturing)
    state.handler.close()
    return True
