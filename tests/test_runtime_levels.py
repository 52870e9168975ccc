"""Levels changed at runtime: ``nglogger.set_levels`` and the levels file (``NGLOGGER_LEVELS_FILE``).

``set_levels`` rewrites every live logger's level cell at once (loggers made before
it, their ``bind()``-ed children) and the stdlib loggers ``install()`` set; bad input
changes nothing. The levels file is read at start and re-read by the batcher when it
changes (a symlink swap included, as a Kubernetes ConfigMap update does it); a bad
file keeps the levels in force entirely and says so on stderr.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.proc import clean_env

import nglogger
from nglogger import ConfigError, ConfigWarning
from nglogger._core import notice as _notice
from nglogger._core.levels import DEBUG, INFO, WARNING, parse_levels_file
from nglogger._pipeline import levels_file as _levels_file
from nglogger.sinks import MemorySink

DEADLINE = 20.0  # seconds any wait may take before the test fails


def wait_for(check: Callable[[], Any], what: str, timeout: float = DEADLINE) -> Any:
    """Poll ``check`` until it returns something truthy; fail after ``timeout``."""
    end = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > end:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.02)


def messages(sink: MemorySink) -> list[tuple[str, str]]:
    assert nglogger.flush(5)
    return [(e["logger"], e["message"]) for e in sink.events()]


def replace_file(path: Path, text: str) -> None:
    """Write ``path`` atomically (never seen half-written): a temporary file renamed over it."""
    staging = path.with_name(f".{path.name}.new")
    staging.write_text(text)
    os.replace(staging, path)


@pytest.fixture
def fast_poll(monkeypatch: pytest.MonkeyPatch) -> None:
    """The levels file is looked at on every tick instead of once a second, and the
    warnings' rate limit starts full (earlier tests in this process may have used it)."""
    monkeypatch.setattr(_levels_file, "POLL", 0.0)
    monkeypatch.setattr(_notice, "_limiter", _notice.NoticeLimiter())


# --------------------------------------------------------------------------- set_levels


def test_loggers_made_before_obey_at_once(memory_sink: MemorySink) -> None:
    """A logger made before set_levels, and its bind()-ed child, follow the new levels."""
    nglogger.configure(sinks=[memory_sink], level="info", flush_interval=0.05)
    db = nglogger.get_logger("app.db")
    child = db.bind(request_id="r1")
    web = nglogger.get_logger("app.web")
    db.debug("before")
    nglogger.set_levels({"app.db": "debug"})
    db.debug("db debug")
    child.debug("child debug")
    web.debug("web debug")  # no rule covers it: the base level (info)
    web.info("web info")
    assert child.is_enabled_for("debug")
    assert messages(memory_sink) == [
        ("app.db", "db debug"),
        ("app.db", "child debug"),
        ("app.web", "web info"),
    ]
    memory_sink.clear()
    # the rules are replaced, not merged; the base level changes too
    nglogger.set_levels({"app.web": "debug"}, level="warning")
    db.info("db info")  # its rule is gone: the new base level (warning)
    child.warning("child warning")
    web.debug("web debug")
    assert messages(memory_sink) == [("app.db", "child warning"), ("app.web", "web debug")]
    assert nglogger.get_pipeline().min_level == WARNING
    # the base level is kept when not given
    nglogger.set_levels({})
    assert not web.is_enabled_for("info")
    assert db.is_enabled_for("warning")
    assert nglogger.get_pipeline().level_rules is None


@pytest.mark.parametrize(
    ("levels", "level", "named"),
    [
        ({"app.db": "loud"}, None, ["app.db", "loud"]),
        ({"app.db": "debug", "urllib3": 1000}, None, ["urllib3", "1000"]),
        ({"app.db": True}, None, ["app.db", "True"]),
        ({"app..db": "debug"}, None, ["app..db"]),
        ({"": "debug"}, None, ["''"]),
        ({3: "debug"}, None, ["3"]),
        ("app.db=debug", None, ["app.db=debug"]),
        ({"app.db": "debug"}, "loud", ["level", "loud"]),
    ],
)
def test_bad_input_raises_and_changes_nothing(
    memory_sink: MemorySink, levels: Any, level: Any, named: list[str]
) -> None:
    """Everything is checked before anything changes; the error names the logger and value."""
    nglogger.configure(sinks=[memory_sink], level="info", levels={"app": "error"})
    db = nglogger.get_logger("app.db")
    pipeline = nglogger.get_pipeline()
    rules = pipeline.level_rules
    with pytest.raises(ConfigError) as raised:
        nglogger.set_levels(levels, level=level)
    for text in named:
        assert text in str(raised.value)
    assert pipeline.level_rules is rules
    assert pipeline.min_level == INFO
    assert not db.is_enabled_for("warning")  # still "app": "error"
    assert db.is_enabled_for("error")


def test_concurrent_log_calls_see_one_level_or_the_other(memory_sink: MemorySink) -> None:
    """Log calls on other threads while the levels flip: no error, and the last change holds."""
    nglogger.configure(sinks=[memory_sink], level="info", flush_interval=0.05)
    log = nglogger.get_logger("app.db")
    stop = threading.Event()
    errors: list[BaseException] = []

    def spin() -> None:
        try:
            while not stop.is_set():
                log.bind(n=1).debug("spin")
        except BaseException as exc:  # pragma: no cover - the failure reported below
            errors.append(exc)

    threads = [threading.Thread(target=spin) for _ in range(3)]
    for thread in threads:
        thread.start()
    try:
        for n in range(200):
            nglogger.set_levels({"app.db": "info" if n % 2 else "debug"})
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert errors == []
    assert not any(thread.is_alive() for thread in threads)
    assert not log.is_enabled_for("debug")  # the last change: info
    assert nglogger.stats().fallbacks == {}


def test_stdlib_loggers_follow_after_install(memory_sink: MemorySink) -> None:
    """install() set stdlib levels: set_levels changes them too (and puts back the unnamed)."""
    web = logging.getLogger("rt.web")
    db = logging.getLogger("rt.db")
    handlers_before = logging.getLogger().handlers[:]
    nglogger.install(sinks=[memory_sink], level="info", levels={"rt.web": "warning"})
    try:
        handler = logging.getLogger().handlers[:]
        assert web.level == WARNING
        nglogger.set_levels({"rt.db": "debug"})
        assert db.level == DEBUG
        assert web.level == logging.NOTSET  # no longer named: its level before install()
        assert logging.getLogger().handlers == handler  # handlers untouched
        db.debug("stdlib db debug")
        logging.getLogger("rt.other").debug("stdlib other debug")  # the root's level: info
        nglogger.set_levels({}, level="debug")  # the root follows the base level
        assert logging.getLogger().level == DEBUG
        assert db.level == logging.NOTSET
        logging.getLogger("rt.other").debug("stdlib other debug 2")
        assert messages(memory_sink) == [
            ("rt.db", "stdlib db debug"),
            ("rt.other", "stdlib other debug 2"),
        ]
    finally:
        nglogger.uninstall()
    assert logging.getLogger().handlers == handlers_before
    assert db.level == web.level == logging.NOTSET


def test_stdlib_loggers_are_left_alone_without_install(memory_sink: MemorySink) -> None:
    """Without install(), set_levels touches no stdlib logger."""
    root_level = logging.getLogger().level
    nglogger.configure(sinks=[memory_sink], level="info")
    nglogger.set_levels({"rt.alone": "debug"}, level="error")
    assert logging.getLogger("rt.alone").level == logging.NOTSET
    assert logging.getLogger().level == root_level


def test_set_levels_before_configure_builds_the_default_pipeline() -> None:
    """Like the first event, set_levels builds the default pipeline; configure() replaces it."""
    log = nglogger.get_logger("app.db")
    assert not log.is_enabled_for("debug")
    nglogger.set_levels({"app.db": "debug"})
    assert log.is_enabled_for("debug")
    nglogger.configure(sinks=["null"])
    assert not log.is_enabled_for("debug")


def test_exported_and_typed() -> None:
    assert "set_levels" in nglogger.__all__
    assert nglogger.set_levels.__annotations__["levels"] == "Mapping[str, int | str]"


# --------------------------------------------------------------------------- the file's grammar


def test_levels_file_grammar() -> None:
    text = (
        "# levels of the api service\n"
        "\n"
        "app.db = debug   # the slow queries\n"
        "  urllib3=WARNING\n"
        "*=info\n"
    )
    assert parse_levels_file(text) == ({"app.db": DEBUG, "urllib3": WARNING}, INFO)
    assert parse_levels_file("root=error\n") == ({}, 40)
    assert parse_levels_file("") == ({}, None)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("app=debug\nnonsense\n", "line 2: 'nonsense' is not name=level"),
        ("app=loud\n", "line 1: 'loud' is not a level"),
        ("\n\n.app=debug\n", "line 3: '.app=debug' is not name=level"),
        ("app=debug\napp=info\n", "line 2: 'app' is already set on line 1"),
        ("*=debug\nroot=info\n", "line 2: 'root' is already set on line 1"),
    ],
)
def test_levels_file_bad_lines(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match="line") as raised:
        parse_levels_file(text)
    assert str(raised.value).startswith(problem)


# --------------------------------------------------------------------------- the file, in process


def test_levels_file_at_start_is_laid_over_the_configured_levels(
    tmp_path: Path, memory_sink: MemorySink
) -> None:
    path = tmp_path / "levels"
    path.write_text("app.db=debug\n*=warning\n")
    nglogger.configure(
        sinks=[memory_sink], level="info", levels={"urllib3": "error"}, levels_file=path
    )
    pipeline = nglogger.get_pipeline()
    assert pipeline.config.levels_file == str(path)
    assert pipeline.min_level == WARNING
    assert pipeline.level_of("app.db.pool") == DEBUG
    assert pipeline.level_of("urllib3") == 40  # the configured rule stays
    assert pipeline.level_of("web") == WARNING


def test_a_bad_file_at_start_follows_config_errors(tmp_path: Path) -> None:
    path = tmp_path / "levels"
    path.write_text("app.db=debug\napp.web loud\n")
    with pytest.raises(ConfigError) as raised:
        nglogger.configure(sinks=["null"], levels_file=str(path), config_errors="raise")
    assert str(path) in str(raised.value)
    assert "line 2" in str(raised.value)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        nglogger.configure(sinks=["null"], level="info", levels_file=str(path))
    texts = [str(w.message) for w in caught if issubclass(w.category, ConfigWarning)]
    assert len(texts) == 1
    assert str(path) in texts[0]
    assert "line 2" in texts[0]
    assert nglogger.get_pipeline().level_of("app.db") == INFO  # nothing of the file


def test_the_environment_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "levels"
    path.write_text("app.db=debug\n")
    monkeypatch.setenv("NGLOGGER_LEVELS_FILE", str(path))
    monkeypatch.setenv("NGLOGGER_SINKS", "null")
    nglogger.configure()
    assert nglogger.get_logger("app.db").is_enabled_for("debug")


def test_a_changed_file_is_applied_and_a_bad_one_keeps_the_levels(
    tmp_path: Path, memory_sink: MemorySink, fast_poll: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Appears, replaced, bad, missing, back: each state as documented."""
    path = tmp_path / "levels"
    with pytest.warns(ConfigWarning, match="missing"):
        nglogger.configure(sinks=[memory_sink], level="info", levels_file=path, flush_interval=0.02)
    log = nglogger.get_logger("app.db")
    child = log.bind(k=1)
    replace_file(path, "app.db=debug\n")  # appears: applied
    wait_for(lambda: child.is_enabled_for("debug"), "the file to be applied")
    replace_file(path, "app.db=error\n*=debug\n")
    wait_for(lambda: not log.is_enabled_for("warning"), "the edit to be applied")
    assert nglogger.get_logger("web").is_enabled_for("debug")
    capsys.readouterr()
    replace_file(path, "app.db=debug\nnot a line\n")
    err = wait_for(lambda: capsys.readouterr().err, "the warning")
    assert f"levels file {path}: line 2: 'not a line' is not name=level" in err
    assert not log.is_enabled_for("warning")  # kept entirely
    path.unlink()
    err = wait_for(lambda: capsys.readouterr().err, "the missing-file warning")
    assert "missing" in err
    assert not log.is_enabled_for("warning")
    replace_file(path, "app.db=info\n")
    wait_for(lambda: log.is_enabled_for("info"), "the file to come back")
    assert not log.is_enabled_for("debug")


def test_a_pipeline_that_is_not_the_default_keeps_loggers_alone(
    tmp_path: Path, fast_poll: None
) -> None:
    path = tmp_path / "levels"
    path.write_text("app.db=error\n")
    nglogger.configure(sinks=["null"], level="info")
    other = nglogger.Pipeline(
        nglogger.Config(sinks=["null"], levels_file=path, flush_interval=0.02)
    )
    try:
        assert other.level_of("app.db") == 40
        replace_file(path, "app.db=debug\n")
        wait_for(lambda: other.level_of("app.db") == DEBUG, "the other pipeline's reload")
        assert nglogger.get_logger("app.db").is_enabled_for("info")
        assert not nglogger.get_logger("app.db").is_enabled_for("debug")
    finally:
        other.shutdown(2)


# --------------------------------------------------------------------------- a real process

_SCRIPT = """
import time
import nglogger

nglogger.configure()
log = nglogger.get_logger("app.db")
beat = nglogger.get_logger("beat")
i = 0
while True:
    i += 1
    log.debug("db debug", i=i)
    log.info("db info", i=i)
    beat.info("beat", i=i)  # the heartbeat: no levels rule covers it
    time.sleep(0.02)
"""


def _swap(link: Path, name: str, text: str) -> None:
    """Write ``name`` next to ``link`` and point ``link`` at it atomically (a ConfigMap update)."""
    target = link.parent / name
    target.write_text(text)
    staging = link.parent / f".{name}.link"
    os.symlink(name, staging)
    os.replace(staging, link)


@pytest.fixture
def levels_process(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], Path, Path, Path]]:
    out = tmp_path / "out.ndjson"
    link = tmp_path / "levels"
    stdout = (tmp_path / "stdout").open("wb")
    stderr_path = tmp_path / "stderr"
    stderr = stderr_path.open("wb")
    env = clean_env(
        {
            "NGLOGGER_LEVELS_FILE": str(link),
            "NGLOGGER_SINKS": f"file://{out}",
            "NGLOGGER_FLUSH_INTERVAL": "0.05",
            "PYTHONWARNINGS": "default",
        }
    )
    process = subprocess.Popen(
        [sys.executable, "-c", _SCRIPT], stdout=stdout, stderr=stderr, env=env, cwd=tmp_path
    )
    try:
        yield process, out, link, stderr_path
    finally:
        process.kill()
        process.wait(10)
        stdout.close()
        stderr.close()
    assert (tmp_path / "stdout").read_bytes() == b""


def _events(out: Path) -> list[dict[str, Any]]:
    if not out.exists():
        return []
    lines = out.read_bytes().split(b"\n")
    return [json.loads(line) for line in lines[:-1]]  # the last one may be partial


def _last(events: list[dict[str, Any]], logger: str, level: str) -> int:
    return max((e["i"] for e in events if e["logger"] == logger and e["level"] == level), default=0)


@pytest.mark.slow
def test_the_levels_file_edited_while_a_process_runs(
    levels_process: tuple[subprocess.Popen[bytes], Path, Path, Path],
) -> None:
    process, out, link, stderr_path = levels_process

    def alive() -> None:
        assert process.poll() is None, stderr_path.read_text()

    # no file yet: the configured levels (info); then it appears
    wait_for(lambda: _last(_events(out), "beat", "info") > 0, "the first heartbeat")
    alive()
    assert _last(_events(out), "app.db", "debug") == 0
    _swap(link, "v1", "app.db=debug\n")
    wait_for(lambda: _last(_events(out), "app.db", "debug") > 0, "DEBUG lines")

    # a ConfigMap update: the symlink now points at another file
    _swap(link, "v2", "app.db=warning\n")

    def info_stopped() -> int:
        events = _events(out)
        last_info = _last(events, "app.db", "info")
        return last_info if _last(events, "beat", "info") > last_info + 10 else 0

    stopped = wait_for(info_stopped, "INFO lines to stop")
    alive()
    assert _last(_events(out), "app.db", "debug") <= stopped

    # a bad line: a warning naming the file and the line; the levels stay as they were
    _swap(link, "v3", "app.db=debug\nthis is no level\n")
    warning = wait_for(
        lambda: [line for line in stderr_path.read_text().splitlines() if "levels file" in line],
        "the warning on stderr",
    )
    assert len(warning) == 1
    assert str(link) in warning[0]
    assert "line 2" in warning[0]
    assert "'this is no level'" in warning[0]
    seen = _last(_events(out), "beat", "info")
    wait_for(lambda: _last(_events(out), "beat", "info") > seen + 10, "more heartbeats")
    events = _events(out)
    assert _last(events, "app.db", "debug") <= stopped  # nothing of the bad file applied
    assert _last(events, "app.db", "info") == stopped

    # a good file again: applied (the process still follows the file)
    _swap(link, "v4", "app.db=info\n")
    wait_for(lambda: _last(_events(out), "app.db", "info") > stopped, "INFO lines again")
    alive()
    assert _last(_events(out), "app.db", "debug") <= stopped
    assert (
        len([line for line in stderr_path.read_text().splitlines() if "levels file" in line]) == 1
    )
