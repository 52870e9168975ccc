"""The stdlib ``logging`` backend: LoggingHandler, install/uninstall, real setups."""

from __future__ import annotations

import gc
import io
import logging
import logging.config
import os
import subprocess
import sys
import threading
import time
import uuid
import warnings
import weakref
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest

import nglogger
from nglogger._event import target as _target
from nglogger.sinks import MemorySink
from nglogger.stdlib import LoggingHandler, install, uninstall

DEADLINE = 5.0


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the root logger, touched library loggers and warnings capture back as they were."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    level = root.level
    filters = root.filters[:]
    capturing = getattr(logging, "_warnings_showwarning", None) is not None
    showwarning = warnings.showwarning
    yield
    uninstall()
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    root.filters[:] = filters
    logging.captureWarnings(capturing)
    warnings.showwarning = showwarning
    for name in list(logging.Logger.manager.loggerDict):
        if name.startswith(("test_stdlib.", "urllib3", "sink.", "py.warnings")):
            logger = logging.getLogger(name)
            logger.handlers.clear()
            logger.setLevel(logging.NOTSET)
            logger.propagate = True
            logger.disabled = False


@pytest.fixture
def sink() -> MemorySink:
    """The default pipeline recording into a MemorySink at DEBUG."""
    memory = MemorySink()
    nglogger.configure(sinks=[memory], level="debug", flush_interval=0.05)
    return memory


@pytest.fixture
def handler(sink: MemorySink) -> LoggingHandler:
    """A LoggingHandler as the root logger's only handler, root at DEBUG."""
    ng = LoggingHandler()
    logging.basicConfig(handlers=[ng], level=logging.DEBUG, force=True)
    return ng


def _logger() -> logging.Logger:
    """A fresh, uniquely named logger below the ``test_stdlib`` namespace."""
    return logging.getLogger(f"test_stdlib.{uuid.uuid4().hex[:8]}")


def _events(sink: MemorySink) -> list[dict[str, Any]]:
    assert nglogger.flush(timeout=DEADLINE)
    return sink.events()


def _run_with_deadline(target: Any, timeout: float = DEADLINE) -> bool:
    """Run ``target`` on a daemon thread; True if it finished within ``timeout``."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    return not thread.is_alive()


# ---------------------------------------------------------------- real setups


def test_basic_config(sink: MemorySink) -> None:
    """``logging.basicConfig(handlers=[LoggingHandler()])`` sends records to the pipeline."""
    logging.basicConfig(handlers=[LoggingHandler()], level=logging.INFO, force=True)
    log = _logger()
    log.info("hello %s", "world")
    log.debug("not recorded: root is at INFO")

    events = _events(sink)

    assert [(e["level"], e["logger"], e["message"]) for e in events] == [
        ("info", log.name, "hello world")
    ]
    assert list(events[0]) == ["timestamp", "level", "logger", "message"]


def test_dict_config(sink: MemorySink) -> None:
    """``dictConfig`` with a ``()`` factory builds the handler, with options and level."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {
                "ng": {"()": "nglogger.stdlib.LoggingHandler", "source": True, "level": "INFO"}
            },
            "root": {"handlers": ["ng"], "level": "DEBUG"},
        }
    )
    log = _logger()
    log.debug("below the handler level")
    log.warning("configured")

    events = _events(sink)

    assert [e["message"] for e in events] == ["configured"]
    assert events[0]["source"]["function"] == "test_dict_config"


def test_dict_config_class_key(sink: MemorySink) -> None:
    """``dictConfig`` with ``class`` (instead of ``()``) works too."""
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"ng": {"class": "nglogger.stdlib.LoggingHandler"}},
            "root": {"handlers": ["ng"], "level": "INFO"},
        }
    )
    _logger().info("via class")

    assert [e["message"] for e in _events(sink)] == ["via class"]


@pytest.mark.skipif(
    not hasattr(nglogger, "LoggingHandler"), reason="not yet exported from nglogger/__init__.py"
)
def test_public_names_from_the_package(sink: MemorySink) -> None:
    """The documented forms work: ``nglogger.LoggingHandler`` in dictConfig, ``nglogger.install``."""
    assert nglogger.install is install
    assert nglogger.uninstall is uninstall
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"ng": {"()": "nglogger.LoggingHandler"}},
            "root": {"handlers": ["ng"], "level": "INFO"},
        }
    )
    _logger().info("via the package name")

    assert [e["message"] for e in _events(sink)] == ["via the package name"]


def test_third_party_library_logger(handler: LoggingHandler, sink: MemorySink) -> None:
    """A library's logger (no handlers of its own) propagates to the root handler."""
    library = logging.getLogger("urllib3.connectionpool")
    library.setLevel(logging.DEBUG)
    library.debug("Starting new HTTPS connection (%d): %s:%s", 1, "example.com", 443)

    assert [(e["logger"], e["level"], e["message"]) for e in _events(sink)] == [
        ("urllib3.connectionpool", "debug", "Starting new HTTPS connection (1): example.com:443")
    ]


# ------------------------------------------------------------- event content


def test_extra_fields_are_top_level(handler: LoggingHandler, sink: MemorySink) -> None:
    """``extra={...}`` fields become top-level keys, in order; reserved names get ``_``."""
    _logger().info(
        "request", extra={"status": 200, "path": "/x", "level": "custom", "message_id": 7}
    )

    event = _events(sink)[0]

    assert event["status"] == 200
    assert event["path"] == "/x"
    assert event["level"] == "info"
    assert event["level_"] == "custom"
    assert event["message_id"] == 7
    assert list(event)[4:] == ["status", "path", "level_", "message_id"]


def test_unusual_extra_values_take_the_encoder_fallbacks(
    handler: LoggingHandler, sink: MemorySink
) -> None:
    """Extras orjson refuses (non-str keys, huge ints) are sanitized, never dropped."""
    _logger().info("odd", extra={1: "int key", "big": 2**70})

    event = _events(sink)[0]

    assert event["1"] == "int key"
    assert event["big"] == str(2**70)


def test_extra_fields_after_a_formatter_ran(sink: MemorySink) -> None:
    """Attributes a Formatter adds to the record (``message``, ``asctime``) are not extras."""
    stream = logging.StreamHandler(io.StringIO())
    stream.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logging.basicConfig(handlers=[stream, LoggingHandler()], level=logging.INFO, force=True)
    _logger().info("twice %d", 2, extra={"user": "ada"})

    event = _events(sink)[0]

    assert event["message"] == "twice 2"
    assert event["user"] == "ada"
    assert "asctime" not in event
    assert "message_" not in event


def test_percent_args_formatted_once(handler: LoggingHandler, sink: MemorySink) -> None:
    """``%``-args are formatted once, including a single mapping argument."""
    log = _logger()
    log.info("%s has %d items", "cart", 3)
    log.info("%(user)s logged in", {"user": "ada"})
    log.info("100% literal")

    assert [e["message"] for e in _events(sink)] == [
        "cart has 3 items",
        "ada logged in",
        "100% literal",
    ]


def test_bad_format_string_never_raises(
    sink: MemorySink, capsys: pytest.CaptureFixture[str]
) -> None:
    """A format string that does not match its args keeps the raw text and args, counted."""
    # basicConfig here (not in a fixture) also removes pytest's capturing handler,
    # which would format the record itself and fail the test.
    logging.basicConfig(handlers=[LoggingHandler()], level=logging.INFO, force=True)
    log = _logger()
    log.info("expected %d", "text")
    log.info("too few %s %s", "one")  # noqa: PLE1206 - the mistake under test
    log.info("no placeholders", "extra")  # noqa: PLE1205 - the mistake under test

    events = _events(sink)

    assert [e["message"] for e in events] == [
        "expected %d ('text',)",
        "too few %s %s ('one',)",
        "no placeholders ('extra',)",
    ]
    assert all(e["nglogger_fallback"] == ["format_error"] for e in events)
    assert nglogger.stats().fallbacks["format_error"] == 3
    assert capsys.readouterr().err == ""


def test_unprintable_message_never_raises(sink: MemorySink) -> None:
    """A message object whose ``__str__`` raises gives a placeholder text, counted."""
    logging.basicConfig(handlers=[LoggingHandler()], level=logging.INFO, force=True)

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __repr__(self) -> str:
            raise RuntimeError("no")

    _logger().info(Unprintable())

    (event,) = _events(sink)
    assert event["message"].startswith("<unprintable Unprintable message>")
    assert nglogger.stats().fallbacks["format_error"] == 1


def test_timestamp_from_record_created(sink: MemorySink) -> None:
    """``timestamp`` is the record's creation time, RFC 3339 UTC with microseconds."""
    records: list[logging.LogRecord] = []
    ng = LoggingHandler()

    def remember(record: logging.LogRecord) -> bool:
        records.append(record)
        return True

    ng.addFilter(remember)
    logging.basicConfig(handlers=[ng], level=logging.INFO, force=True)
    _logger().info("when")

    event = _events(sink)[0]

    stamp = event["timestamp"]
    assert stamp.endswith("Z")
    assert len(stamp) == len("2026-01-01T00:00:00.000000Z")
    parsed = datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    assert abs(parsed.timestamp() - records[0].created) < 2e-6


def test_exc_info_is_structured(handler: LoggingHandler, sink: MemorySink) -> None:
    """``exc_info`` becomes the structured ``exception`` field (type, message, stack trace)."""
    log = _logger()
    try:
        raise ValueError("bad input")
    except ValueError:
        log.exception("failed")
    log.error("explicit", exc_info=KeyError("k"))
    log.error("outside an except block", exc_info=True)

    failed, explicit, outside = _events(sink)

    assert failed["level"] == "error"
    assert failed["exception"]["type"] == "ValueError"
    assert failed["exception"]["message"] == "bad input"
    assert "raise ValueError" in failed["exception"]["stacktrace"]
    assert explicit["exception"]["type"] == "KeyError"
    assert "exception" not in outside


def test_stack_info_is_bounded_text(handler: LoggingHandler, sink: MemorySink) -> None:
    """``stack_info=True`` gives a ``stack`` text, cut to ``max_traceback_bytes``."""
    _logger().info("here", stack_info=True)
    (full,) = _events(sink)
    small = MemorySink()
    nglogger.configure(sinks=[small], level="debug", flush_interval=0.05, max_traceback_bytes=200)

    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        else:
            _logger().info("deep", stack_info=True)

    deep(30)
    (cut,) = _events(small)

    assert full["stack"].startswith("Stack (most recent call last):")
    assert "test_stack_info_is_bounded_text" in full["stack"]
    assert "chars elided" in cut["stack"]
    assert len(cut["stack"]) < 300


def test_derived_fields_keep_colliding_extras(sink: MemorySink) -> None:
    """An extra named like a derived field (``source``, ``exception``) is kept as ``name_``."""
    logging.basicConfig(handlers=[LoggingHandler(source=True)], level=logging.INFO, force=True)
    try:
        raise OSError("disk")
    except OSError:
        _logger().exception("io", extra={"source": "db", "exception": "mine"})

    event = _events(sink)[0]

    assert event["source_"] == "db"
    assert event["exception_"] == "mine"
    assert event["source"]["function"] == "test_derived_fields_keep_colliding_extras"
    assert event["exception"]["type"] == "OSError"


def test_source_location_is_optional(sink: MemorySink) -> None:
    """``source=True`` adds module, function, line and file; off by default."""
    logging.basicConfig(
        handlers=[LoggingHandler(), LoggingHandler(source=True)], level=logging.INFO, force=True
    )
    line = sys._getframe().f_lineno + 1
    _logger().info("where")

    plain, located = _events(sink)

    assert "source" not in plain
    assert located["source"] == {
        "module": "test_stdlib",
        "function": "test_source_location_is_optional",
        "line": line,
        "file": __file__,
    }


def test_context_and_static_fields(sink: MemorySink) -> None:
    """Static context and contextvars context are spliced in; extras win on a clash."""
    memory = MemorySink()
    nglogger.configure(
        sinks=[memory], level="debug", flush_interval=0.05, context={"service": "api"}
    )
    logging.basicConfig(handlers=[LoggingHandler()], level=logging.INFO, force=True)
    with nglogger.bound_contextvars(request_id="r-1", user="ctx"):
        _logger().info("in request", extra={"user": "extra"})

    event = _events(memory)[0]

    assert event["service"] == "api"
    assert event["request_id"] == "r-1"
    assert event["user"] == "extra"


# --------------------------------------------------------------------- levels


def test_standard_levels_map_to_lower_case_names(handler: LoggingHandler, sink: MemorySink) -> None:
    """DEBUG..CRITICAL map to nglogger's lower-case names, with no ``level_number``."""
    log = _logger()
    for level in (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR, logging.CRITICAL):
        log.log(level, "x")

    events = _events(sink)

    assert [e["level"] for e in events] == ["debug", "info", "warning", "error", "critical"]
    assert not any("level_number" in e for e in events)


def test_custom_levels_round_down_and_keep_their_number(
    handler: LoggingHandler, sink: MemorySink
) -> None:
    """A custom level gets the nearest lower name and its number as ``level_number``."""
    logging.addLevelName(25, "NOTICE")
    logging.addLevelName(5, "TRACE")
    try:
        log = _logger()
        log.setLevel(1)
        log.log(25, "notice")
        log.log(5, "trace")
        log.log(45, "between error and critical")
    finally:
        logging.addLevelName(25, "Level 25")
        logging.addLevelName(5, "Level 5")

    assert [(e["level"], e["level_number"]) for e in _events(sink)] == [
        ("info", 25),
        ("debug", 5),
        ("error", 45),
    ]


def test_handler_level_and_names(sink: MemorySink) -> None:
    """The handler's level filters; it accepts nglogger and stdlib level names."""
    assert LoggingHandler("warning").level == logging.WARNING
    assert LoggingHandler("ERROR").level == logging.ERROR
    assert LoggingHandler(15).level == 15
    with pytest.raises(nglogger.ConfigError, match="level='loud'"):
        LoggingHandler("loud")
    logging.basicConfig(handlers=[LoggingHandler("warning")], level=logging.DEBUG, force=True)
    log = _logger()
    log.info("dropped")
    log.warning("kept")

    assert [e["message"] for e in _events(sink)] == ["kept"]


def test_pipeline_level_does_not_filter_stdlib_records() -> None:
    """Logger and handler levels decide for stdlib records, not the pipeline level."""
    memory = MemorySink()
    nglogger.configure(sinks=[memory], level="error", flush_interval=0.05)
    logging.basicConfig(handlers=[LoggingHandler()], level=logging.INFO, force=True)
    _logger().info("asked for by logging's own levels")

    assert [e["message"] for e in _events(memory)] == ["asked for by logging's own levels"]


# -------------------------------------------------------------------- filters


def test_filters_veto_and_enrich(handler: LoggingHandler, sink: MemorySink) -> None:
    """Handler filters can drop records and add attributes (which become fields)."""

    def enrich(record: logging.LogRecord) -> bool:
        record.tenant = "acme"
        return "secret" not in record.getMessage()

    handler.addFilter(enrich)
    log = _logger()
    log.info("public")
    log.info("secret stuff")

    events = _events(sink)

    assert [(e["message"], e["tenant"]) for e in events] == [("public", "acme")]


def test_raising_filter_is_contained(
    handler: LoggingHandler, sink: MemorySink, capsys: pytest.CaptureFixture[str]
) -> None:
    """A filter that raises drops the record, counted ``filter_error``; the caller is unhurt."""

    def broken(record: logging.LogRecord) -> bool:
        raise RuntimeError("filter bug")

    handler.addFilter(broken)
    _logger().info("lost")

    assert _events(sink) == []
    assert nglogger.stats().dropped["filter_error"] == 1
    assert capsys.readouterr().err == ""


def test_logger_filters_and_propagation(handler: LoggingHandler, sink: MemorySink) -> None:
    """Logger-level filters and ``propagate=False`` work as in plain logging."""
    noisy = _logger()
    noisy.addFilter(lambda record: record.levelno >= logging.WARNING)
    private = _logger()
    private.propagate = False
    noisy.info("filtered by the logger")
    noisy.warning("passes")
    private.error("not propagated")

    assert [e["message"] for e in _events(sink)] == ["passes"]


# ------------------------------------------------------------ install/uninstall


def test_install_replaces_root_handlers_and_uninstall_restores(sink: MemorySink) -> None:
    """install() makes one LoggingHandler the root's only handler; uninstall() undoes it."""
    root = logging.getLogger()
    previous = logging.StreamHandler(io.StringIO())
    root.handlers[:] = [previous]
    root.setLevel(logging.ERROR)
    logging.captureWarnings(False)

    first = install()
    second = install()

    assert first is second
    assert root.handlers == [first]
    assert root.level == logging.DEBUG  # the configured pipeline's level
    assert getattr(logging, "_warnings_showwarning", None) is not None

    _logger().debug("through nglogger")
    assert [e["message"] for e in _events(sink)] == ["through nglogger"]

    assert uninstall() is True
    assert uninstall() is False
    assert root.handlers == [previous]
    assert root.level == logging.ERROR
    assert getattr(logging, "_warnings_showwarning", None) is None


def test_install_again_takes_over_handlers_added_meanwhile(sink: MemorySink) -> None:
    """Handlers added to the root between two installs are removed, then restored too."""
    root = logging.getLogger()
    root.handlers[:] = []
    handler = install(logging.INFO)
    stray = logging.StreamHandler(io.StringIO())
    root.addHandler(stray)

    assert install(logging.WARNING) is handler
    assert root.handlers == [handler]
    assert root.level == logging.WARNING

    uninstall()
    assert root.handlers == [stray]


def test_uninstall_keeps_handlers_added_after_install(sink: MemorySink) -> None:
    """A handler added after install() survives uninstall(), after the restored ones."""
    root = logging.getLogger()
    before = logging.StreamHandler(io.StringIO())
    root.handlers[:] = [before]
    install()
    after = logging.StreamHandler(io.StringIO())
    root.addHandler(after)

    uninstall()

    assert root.handlers == [before, after]


class _OtelLikeHandler(logging.Handler):
    """Stands for an OpenTelemetry SDK ``LoggingHandler``: not a console handler."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_install_keeps_non_console_handlers_by_default(sink: MemorySink, tmp_path: Path) -> None:
    """An OTel-style handler and a FileHandler keep their records; the console handler goes."""
    root = logging.getLogger()
    console = logging.StreamHandler(io.StringIO())
    other = _OtelLikeHandler()
    path = tmp_path / "app.log"
    file_handler = logging.FileHandler(path)
    stale = LoggingHandler()  # a second nglogger handler would emit every record twice
    root.handlers[:] = [console, other, file_handler, stale]

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the default keeps them: nothing to warn about
        handler = install()

    assert root.handlers == [other, file_handler, handler]
    _logger().warning("to everyone")
    assert [e["message"] for e in _events(sink)] == ["to everyone"]
    assert [r.getMessage() for r in other.records] == ["to everyone"]
    file_handler.flush()
    assert path.read_text().splitlines() == ["to everyone"]
    assert console.stream.getvalue() == ""  # type: ignore[attr-defined]

    uninstall()
    assert root.handlers == [console, other, file_handler, stale]  # the original order
    file_handler.close()


def test_install_keep_handlers_false_removes_all_and_names_them(sink: MemorySink) -> None:
    """keep_handlers=False removes every handler; a ConfigWarning names the non-console ones."""
    root = logging.getLogger()
    console = logging.StreamHandler(io.StringIO())
    other = _OtelLikeHandler()
    other.set_name("otel")
    root.handlers[:] = [console, other]

    with pytest.warns(nglogger.ConfigWarning, match=r"_OtelLikeHandler\('otel'\)") as caught:
        handler = install(keep_handlers=False, capture_warnings=False)

    assert root.handlers == [handler]
    assert "StreamHandler" not in str(caught[0].message)  # console handlers are expected to go
    _logger().warning("only nglogger")
    assert other.records == []
    uninstall()
    assert root.handlers == [console, other]


def test_install_warning_reaches_the_log_when_warnings_are_captured(sink: MemorySink) -> None:
    """With warnings captured (the default), the removal warning is itself a log event."""
    root = logging.getLogger()
    root.handlers[:] = [_OtelLikeHandler()]

    with warnings.catch_warnings():
        warnings.simplefilter("always")  # the suite turns warnings into errors
        install(keep_handlers=False)

    (event,) = _events(sink)
    assert event["logger"] == "py.warnings"
    assert event["level"] == "warning"
    assert "ConfigWarning: nglogger.install(keep_handlers=False) removed" in event["message"]


def test_install_keep_handlers_true_keeps_even_console_handlers(sink: MemorySink) -> None:
    """keep_handlers=True adds nglogger's handler and removes nothing."""
    root = logging.getLogger()
    console = logging.StreamHandler(io.StringIO())
    root.handlers[:] = [console]

    handler = install(keep_handlers=True)

    assert root.handlers == [console, handler]
    _logger().warning("twice")
    assert console.stream.getvalue() == "twice\n"  # type: ignore[attr-defined]
    assert [e["message"] for e in _events(sink)] == ["twice"]


def test_install_with_configure_kwargs() -> None:
    """install(level, **kwargs) configures the default pipeline first, at that level."""
    memory = MemorySink()

    install("debug", sinks=[memory], flush_interval=0.05)
    _logger().debug("configured by install")
    nglogger.get_logger("native").debug("native too")

    assert [e["message"] for e in _events(memory)] == ["configured by install", "native too"]
    assert logging.getLogger().level == logging.DEBUG


def test_install_without_capture_warnings(sink: MemorySink) -> None:
    """``capture_warnings=False`` leaves warnings where they were."""
    logging.captureWarnings(False)
    install(capture_warnings=False)

    assert getattr(logging, "_warnings_showwarning", None) is None


def test_capture_warnings_produces_an_event(sink: MemorySink) -> None:
    """With install(), ``warnings.warn`` becomes a ``py.warnings`` event at WARNING."""
    install()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("old API", DeprecationWarning, stacklevel=1)

    (event,) = _events(sink)
    assert event["logger"] == "py.warnings"
    assert event["level"] == "warning"
    assert "DeprecationWarning: old API" in event["message"]


# ---------------------------------------------------------- recursion and locks


class _LoggingSink:
    """A sink whose ``write`` logs through stdlib logging (like an HTTP client would)."""

    name = "chatty"

    def __init__(self, *, fail: bool = False) -> None:
        self.fail = fail
        self.memory = MemorySink()
        self.writes = 0

    def write(self, batch: nglogger.Batch) -> None:
        self.writes += 1
        log = logging.getLogger("sink.http")
        log.debug("POST /logs with %d events", batch.count)
        if self.fail:
            try:
                raise ConnectionError("backend down")
            except ConnectionError:
                log.exception("delivery failed")
                raise
        self.memory.write(batch)

    def close(self) -> None:
        """Nothing to release."""


def test_records_logged_while_delivering_do_not_loop(handler: LoggingHandler) -> None:
    """A sink that logs via stdlib logging: those records are dropped, counted ``recursion``."""
    chatty = _LoggingSink()
    nglogger.configure(sinks=[chatty], level="debug", flush_interval=0.05)
    log = _logger()
    for i in range(5):
        log.info("app %d", i)
        assert nglogger.flush(timeout=DEADLINE)

    stats = nglogger.stats()

    assert [e["message"] for e in chatty.memory.events()] == [f"app {i}" for i in range(5)]
    assert stats.dropped["recursion"] == chatty.writes
    assert stats.sinks["chatty"].exported == 5


def test_sink_that_logs_its_own_failure_does_not_recurse(handler: LoggingHandler) -> None:
    """A failing sink that logs its failure (with traceback) neither loops nor hurts the app."""
    chatty = _LoggingSink(fail=True)
    good = MemorySink()
    nglogger.configure(sinks=[chatty, good], level="debug", flush_interval=0.05)
    log = _logger()
    for i in range(3):
        log.warning("app %d", i)
        assert nglogger.flush(timeout=DEADLINE)

    stats = nglogger.stats()

    assert [e["message"] for e in good.events()] == ["app 0", "app 1", "app 2"]
    assert stats.sinks["chatty"].dropped == {"sink_error": 3}
    assert stats.dropped["recursion"] == 2 * chatty.writes


def test_sink_logging_during_shutdown_does_not_revive_a_pipeline(
    handler: LoggingHandler,
) -> None:
    """A sink that logs via stdlib while ``nglogger.shutdown()`` drains it builds no new pipeline."""
    writing = threading.Event()

    class Draining:
        name = "draining"

        def write(self, batch: nglogger.Batch) -> None:
            writing.set()
            time.sleep(0.2)
            logging.getLogger("sink.http").warning("still delivering")

        def close(self) -> None:
            """Nothing to release."""

    nglogger.configure(sinks=[Draining()], level="debug", flush_interval=0.05)
    _logger().info("last words")
    assert writing.wait(DEADLINE)

    assert nglogger.shutdown(timeout=DEADLINE)

    assert not isinstance(_target.current, nglogger.Pipeline)


def test_no_reference_to_record_values_survives(sink: MemorySink) -> None:
    """After the call returns, nothing nglogger holds keeps the record's values alive."""
    # Configured here so pytest's capturing handler (which keeps records) is removed.
    logging.basicConfig(handlers=[LoggingHandler()], level=logging.INFO, force=True)

    class Payload:
        def __repr__(self) -> str:
            return "<payload>"

    payload = Payload()
    ref = weakref.ref(payload)
    _logger().info("with %s", payload, extra={"obj": payload})
    del payload
    gc.collect()

    assert ref() is None
    assert _events(sink)[0]["obj"].endswith("Payload: <payload>>")


def test_handler_counts_its_own_failures_instead_of_logging_them(
    sink: MemorySink, capsys: pytest.CaptureFixture[str]
) -> None:
    """A record the handler cannot turn into an event is counted; handleError is never called."""
    calls: list[logging.LogRecord] = []

    class Watched(LoggingHandler):
        def handleError(self, record: logging.LogRecord) -> None:
            calls.append(record)

    ng = Watched()
    logging.basicConfig(handlers=[ng], level=logging.INFO, force=True)
    broken = logging.makeLogRecord({"name": "x", "levelno": 20, "msg": "m", "created": "never"})
    ng.handle(broken)
    _logger().info("still works")

    assert [e["message"] for e in _events(sink)] == ["still works"]
    assert nglogger.stats().dropped["encode_error"] == 1
    assert calls == []
    assert capsys.readouterr().err == ""


def test_export_path_ignores_the_handler_lock(handler: LoggingHandler, sink: MemorySink) -> None:
    """Logging proceeds while another thread holds the handler's own lock."""
    log = _logger()
    log.info("warm")
    handler.acquire()
    try:
        assert _run_with_deadline(lambda: log.info("while locked"))
    finally:
        handler.release()

    assert [e["message"] for e in _events(sink)] == ["warm", "while locked"]


def test_export_path_never_takes_the_logging_module_lock(
    handler: LoggingHandler, sink: MemorySink
) -> None:
    """A record passes through the handler while another thread holds ``logging``'s lock."""
    log = _logger()
    log.info("warm the level cache %s", "first")
    held = threading.Event()
    release = threading.Event()

    def hold_module_lock() -> None:
        with logging._lock:  # type: ignore[attr-defined]
            held.set()
            release.wait(DEADLINE)

    holder = threading.Thread(target=hold_module_lock, daemon=True)
    holder.start()
    try:
        assert held.wait(DEADLINE)
        assert _run_with_deadline(lambda: log.info("during %s", "lock", extra={"k": 1}))
    finally:
        release.set()
        holder.join(DEADLINE)

    assert [e["message"] for e in _events(sink)][-1] == "during lock"


def test_dict_config_during_a_flush_does_not_deadlock() -> None:
    """dictConfig (module lock held, handlers flushed) while a sink that logs is mid-write."""
    started = threading.Event()
    release = threading.Event()
    memory = MemorySink()

    class SlowSink:
        name = "slow"

        def write(self, batch: nglogger.Batch) -> None:
            started.set()
            release.wait(DEADLINE)
            # A new logger: getLogger needs logging's module lock.
            logging.getLogger(f"sink.http.{uuid.uuid4().hex[:8]}").debug("sent")
            memory.write(batch)

        def close(self) -> None:
            release.set()

    class Probe(LoggingHandler):
        def flush(self) -> None:
            release.set()  # the sink now wants the module lock that dictConfig holds
            super().flush()

    nglogger.configure(sinks=[SlowSink()], level="debug", flush_interval=0.05, shutdown_timeout=30)
    logging.basicConfig(handlers=[Probe()], level=logging.INFO, force=True)
    _logger().info("in flight")
    assert started.wait(DEADLINE)

    flushed: list[bool] = []
    flusher = threading.Thread(target=lambda: flushed.append(nglogger.flush(timeout=30)))
    flusher.start()
    config = {
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"ng": {"()": "nglogger.stdlib.LoggingHandler"}},
        "root": {"handlers": ["ng"], "level": "INFO"},
    }
    try:
        assert _run_with_deadline(lambda: logging.config.dictConfig(config))
        flusher.join(DEADLINE)
        assert not flusher.is_alive()
    finally:
        release.set()
        flusher.join(DEADLINE)

    assert flushed == [True]
    _logger().info("after reconfiguration")
    assert [e["message"] for e in _events(memory)] == ["in flight", "after reconfiguration"]


def test_logging_shutdown_closes_handler_but_not_pipeline(
    handler: LoggingHandler, sink: MemorySink
) -> None:
    """``logging.shutdown`` flushes and closes the handler without waiting or stopping nglogger."""
    _logger().info("before")
    started = time.monotonic()
    logging.shutdown([lambda: handler])
    assert time.monotonic() - started < 1.0
    nglogger.get_logger("native").info("pipeline still running")

    assert [e["message"] for e in _events(sink)] == ["before", "pipeline still running"]


def test_many_threads_log_concurrently(handler: LoggingHandler, sink: MemorySink) -> None:
    """Without the handler lock, concurrent records from many threads all arrive intact."""
    log = _logger()

    def work(n: int) -> None:
        for i in range(200):
            log.info("t%d e%d", n, i, extra={"n": n})

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(DEADLINE)

    events = _events(sink)

    assert len(events) == 1600
    assert {(e["n"], e["message"]) for e in events} == {
        (n, f"t{n} e{i}") for n in range(8) for i in range(200)
    }


def test_explicit_pipeline(sink: MemorySink) -> None:
    """``pipeline=`` sends to that pipeline, not the default one."""
    own = MemorySink(name="own")
    pipeline = nglogger.Pipeline(nglogger.Config(sinks=(own,), flush_interval=0.05))
    try:
        logging.basicConfig(
            handlers=[LoggingHandler(pipeline=pipeline)], level=logging.INFO, force=True
        )
        _logger().info("to my pipeline")
        assert pipeline.flush(DEADLINE)

        assert [e["message"] for e in own.events()] == ["to my pipeline"]
        assert _events(sink) == []
    finally:
        pipeline.shutdown(DEADLINE)


def test_install_configures_from_the_environment(tmp_path: Path) -> None:
    """In a fresh process, install() alone honours NGLOGGER_SINKS and NGLOGGER_CONTEXT."""
    out = tmp_path / "app.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_"))}
    env.update({"NGLOGGER_SINKS": f"file://{out}", "NGLOGGER_CONTEXT": "service=checkout"})
    code = (
        "import logging, nglogger\n"
        "nglogger.install()\n"
        "logging.getLogger('app').warning('hello %s', 'world')\n"
        "nglogger.shutdown(5)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""  # nothing went to stdout: the configured file sink got it
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(e["message"], e["service"], e["logger"]) for e in events] == [
        ("hello world", "checkout", "app")
    ]


def test_install_keeps_an_explicitly_configured_pipeline(sink: MemorySink) -> None:
    """install() after configure() does not reconfigure: the configured sink still gets events."""
    install()
    _logger().warning("kept")
    assert [e["message"] for e in _events(sink)] == ["kept"]
