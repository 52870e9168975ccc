"""Per-logger levels: the longest dotted prefix rule of a logger's name decides, else ``level``.

Native loggers resolve their level once (when made, and again when the default
pipeline is replaced), so a disabled call costs the same Python calls with rules
configured as without; stdlib records follow the same rules through the handler,
and ``install()`` sets the stdlib loggers' levels so ``isEnabledFor`` agrees.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from support.proc import run_python
from test_hot_path_calls import python_calls

import nglogger
from nglogger import Config, ConfigError
from nglogger._core.levels import DEBUG, ERROR, INFO, WARNING, LevelRules, parse_logger_levels
from nglogger.sinks import MemorySink, NullSink

RULES = {"urllib3": "warning", "app.db": "debug", "app": "error"}


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("app", ERROR),
        ("app.web", ERROR),
        ("app.db", DEBUG),
        ("app.db.pool", DEBUG),
        ("app.dbx", ERROR),  # a dotted prefix: app.db does not cover app.dbx
        ("apple", INFO),  # nor does app cover apple
        ("urllib3", WARNING),
        ("urllib3.connectionpool", WARNING),
        ("urllib", INFO),
        ("root", INFO),
        ("", INFO),
    ],
)
def test_the_longest_dotted_prefix_wins(name: str, expected: int) -> None:
    """``app`` covers ``app`` and ``app.x`` but not ``apple``; the longest rule wins."""
    rules = LevelRules({"urllib3": WARNING, "app.db": DEBUG, "app": ERROR}, INFO)
    assert rules.level_of(name) == expected
    assert rules.level_of(name) == expected  # memoized: the same answer


def test_native_loggers_log_at_their_own_level(memory_sink: MemorySink) -> None:
    """Each logger keeps exactly the events its rule (or the global level) allows."""
    nglogger.configure(sinks=[memory_sink], level="info", levels=RULES)
    for name in ("app.db.pool", "app.web", "apple", "urllib3.connectionpool"):
        log = nglogger.get_logger(name)
        for level in ("debug", "info", "warning", "error"):
            getattr(log, level)(level)
    assert nglogger.flush(5)
    got = [(e["logger"], e["message"]) for e in memory_sink.events()]
    assert got == [
        ("app.db.pool", "debug"),
        ("app.db.pool", "info"),
        ("app.db.pool", "warning"),
        ("app.db.pool", "error"),
        ("app.web", "error"),
        ("apple", "info"),
        ("apple", "warning"),
        ("apple", "error"),
        ("urllib3.connectionpool", "warning"),
        ("urllib3.connectionpool", "error"),
    ]


def test_bound_children_keep_their_loggers_level(memory_sink: MemorySink) -> None:
    """bind/new/unbind keep the name, so the level; log() and is_enabled_for agree."""
    nglogger.configure(sinks=[memory_sink], level="info", levels={"app.db": "debug"})
    db = nglogger.get_logger("app.db", component="pool")
    other = nglogger.get_logger("other")
    for child in (db.bind(a=1), db.new(b=2), db.bind(c=3).unbind("c")):
        assert child.is_enabled_for("debug")
        child.debug("child debug")
        child.log("debug", "child log debug")
    assert not other.bind(x=1).is_enabled_for("debug")
    other.bind(x=1).debug("dropped")
    other.log(DEBUG, "dropped too")
    assert nglogger.flush(5)
    assert [e["message"] for e in memory_sink.events()] == ["child debug", "child log debug"] * 3


def test_existing_loggers_follow_a_reconfigure(memory_sink: MemorySink) -> None:
    """A logger made before configure() gets the new rules, and loses them on the next one."""
    log = nglogger.get_logger("app.db")
    child = log.bind(k=1)
    assert not log.is_enabled_for("debug")
    nglogger.configure(sinks=[memory_sink], levels={"app.db": "debug"})
    assert log.is_enabled_for("debug")
    child.debug("one")
    nglogger.configure(sinks=[memory_sink], levels={"app": "error"})
    child.debug("not this")
    child.warning("nor this")
    child.error("two")
    nglogger.configure(sinks=[memory_sink])
    child.info("three")
    assert nglogger.flush(5)
    assert [e["message"] for e in memory_sink.events()] == ["one", "two", "three"]
    nglogger.shutdown(2)  # back to the stand-in: the default level again
    assert not log.is_enabled_for("debug")
    assert log.is_enabled_for("info")


def test_capture_and_level_cells_follow_a_swapped_pipeline() -> None:
    """nglogger.testing.capture installs a DEBUG pipeline: existing loggers see it, then not."""
    from nglogger.testing import capture_logs

    log = nglogger.get_logger("app.x")
    with capture_logs(level="debug") as logs:
        log.debug("seen")
    assert [e["message"] for e in logs.events] == ["seen"]
    assert not log.is_enabled_for("debug")


def _disabled_calls(**settings: object) -> int:
    nglogger.configure(sinks=[NullSink()], level="info", **settings)
    log = nglogger.get_logger("app.web")
    log.debug("warm")
    count = python_calls(lambda: log.debug("m", request_id="r-1"))
    nglogger.shutdown(2)
    return count


def test_a_disabled_call_costs_no_more_python_calls_with_rules() -> None:
    """With 50 per-logger rules, a disabled call makes exactly the calls it makes without."""
    without = _disabled_calls()
    rules = {f"lib{i}.part": "warning" for i in range(48)} | {"app": "info", "app.db": "debug"}
    with_rules = _disabled_calls(levels=rules)
    assert with_rules == without
    assert without <= 1, without  # the method itself, nothing it calls


def test_bad_levels_are_config_errors() -> None:
    """A bad prefix or level names the setting, the value and what is accepted."""
    with pytest.raises(ConfigError, match=r"levels='loud' is invalid; accepted: debug, info"):
        Config(levels={"app": "loud"})
    with pytest.raises(ConfigError, match=r"levels='app\.\.db' is invalid"):
        Config(levels={"app..db": "info"})
    with pytest.raises(ConfigError, match=r"levels=\['app'\] is invalid; accepted: a mapping"):
        Config(levels=["app"])  # type: ignore[arg-type]
    assert parse_logger_levels(" urllib3=WARNING, app.db=10 ,") == {"urllib3": 30, "app.db": 10}
    with pytest.raises(ValueError, match=r"entry 2 'app' is not prefix=level"):
        parse_logger_levels("urllib3=warning,app")
    with pytest.raises(ValueError, match=r"entry 1 'x=loud': 'loud' is not a level"):
        parse_logger_levels("x=loud")


def test_nglogger_levels_in_a_real_process(tmp_path: Path) -> None:
    """NGLOGGER_LEVELS in the environment of a real process decides what reaches the file."""
    out = tmp_path / "all.ndjson"
    code = (
        "import logging, nglogger\n"
        "nglogger.install()\n"
        "for name in ('urllib3.connectionpool', 'app.db', 'app.web'):\n"
        "    log = nglogger.get_logger(name)\n"
        "    log.debug('native debug'); log.info('native info'); log.warning('native warning')\n"
        "    std = logging.getLogger(name)\n"
        "    std.debug('std debug'); std.info('std info'); std.warning('std warning')\n"
        "print(logging.getLogger('urllib3.connectionpool').isEnabledFor(logging.INFO),"
        " logging.getLogger('app.db').isEnabledFor(logging.DEBUG))\n"
    )
    result = run_python(
        code,
        {
            "NGLOGGER_SINKS": f"file://{out}",
            "NGLOGGER_LEVEL": "info",
            "NGLOGGER_LEVELS": "urllib3=warning, app.db=debug",
        },
        tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True"]
    got = [(e["logger"], e["message"]) for e in map(orjson.loads, out.read_bytes().splitlines())]
    assert got == [
        ("urllib3.connectionpool", "native warning"),
        ("urllib3.connectionpool", "std warning"),
        ("app.db", "native debug"),
        ("app.db", "native info"),
        ("app.db", "native warning"),
        ("app.db", "std debug"),
        ("app.db", "std info"),
        ("app.db", "std warning"),
        ("app.web", "native info"),
        ("app.web", "native warning"),
        ("app.web", "std info"),
        ("app.web", "std warning"),
    ]


def test_a_bad_nglogger_levels_names_the_variable(tmp_path: Path) -> None:
    """A malformed NGLOGGER_LEVELS names the variable, the entry and why (raise, or warn)."""
    bad = {"NGLOGGER_LEVELS": "urllib3=warning,app.db=verbose"}
    code = "import nglogger\nprint(dict(nglogger.configure(sinks=['null']).config.levels))\n"
    result = run_python(code, {**bad, "NGLOGGER_CONFIG_ERRORS": "raise"}, tmp_path)
    assert result.returncode == 1
    assert "NGLOGGER_LEVELS" in result.stderr
    assert "entry 2 'app.db=verbose': 'verbose' is not a level" in result.stderr
    warned = run_python(code, bad, tmp_path)  # the default: a ConfigWarning, no per-logger levels
    assert warned.returncode == 0, warned.stderr
    assert warned.stdout.strip() == "{}"
    assert "ConfigWarning" in warned.stderr
    assert "entry 2 'app.db=verbose': 'verbose' is not a level" in warned.stderr


@pytest.fixture
def root_restored() -> Iterator[None]:
    yield
    nglogger.uninstall()


def test_install_sets_and_restores_stdlib_logger_levels(
    memory_sink: MemorySink, root_restored: None
) -> None:
    """install() sets each prefix's stdlib level (isEnabledFor agrees); uninstall() undoes it."""
    logging.getLogger("app.db").setLevel(logging.ERROR)  # the application's own setting
    nglogger.install(sinks=[memory_sink], level="info", levels={"urllib3": "warning", "app.db": 10})
    assert logging.getLogger("urllib3").level == logging.WARNING
    assert not logging.getLogger("urllib3.connectionpool").isEnabledFor(logging.INFO)
    assert logging.getLogger("app.db.pool").isEnabledFor(logging.DEBUG)
    assert not logging.getLogger("app.web").isEnabledFor(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").info("no")
    logging.getLogger("urllib3.connectionpool").warning("urllib3 warning")
    logging.getLogger("app.db.pool").debug("db debug")
    logging.getLogger("app.web").debug("no")
    # install again with other rules: the prefix no longer named gets its level back
    nglogger.install(sinks=[memory_sink], levels={"app.db": "debug"})
    assert logging.getLogger("urllib3").level == logging.NOTSET
    assert nglogger.uninstall()
    assert logging.getLogger("app.db").level == logging.ERROR
    logging.getLogger("app.db").setLevel(logging.NOTSET)
    events = memory_sink.events()
    assert [(e["logger"], e["message"]) for e in events] == [
        ("urllib3.connectionpool", "urllib3 warning"),
        ("app.db.pool", "db debug"),
    ]


def test_the_handler_applies_the_rules_without_install(memory_sink: MemorySink) -> None:
    """A LoggingHandler on a DEBUG logger drops records below the rule covering their name."""
    nglogger.configure(sinks=[memory_sink], level="info", levels={"noisy": "error"})
    logger = logging.getLogger("noisy.lib")
    logger.setLevel(logging.DEBUG)
    handler = nglogger.LoggingHandler()
    logger.addHandler(handler)
    logger.propagate = False
    quiet = logging.getLogger("quiet")
    quiet.setLevel(logging.DEBUG)
    quiet.addHandler(handler)
    quiet.propagate = False
    try:
        logger.warning("dropped by the rule")
        logger.error("kept")
        quiet.debug("no rule covers it: the logger's own level decides")
    finally:
        logger.removeHandler(handler)
        quiet.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
        quiet.setLevel(logging.NOTSET)
    assert nglogger.flush(5)
    assert [e["message"] for e in memory_sink.events()] == [
        "kept",
        "no rule covers it: the logger's own level decides",
    ]
