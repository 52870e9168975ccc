"""The bad-configuration switch: ``config_errors="warn"`` (default) or ``"raise"``.

A misconfigured logger must not take a service down: with ``warn`` a bad or unknown
environment variable is a :class:`nglogger.ConfigWarning` naming it, and its setting
keeps its default; with ``raise`` (``NGLOGGER_CONFIG_ERRORS=raise``, for development
and CI) it is a :class:`nglogger.ConfigError`. Keyword arguments always raise: they
are code, and the first test run finds them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from support.proc import clean_env, run_python

import nglogger
from nglogger import Config, ConfigError, ConfigWarning
from nglogger._config.report import config_from_env, resolve_with_sources
from nglogger.sinks import MemorySink


def warned(environ: dict[str, str], **explicit: object) -> tuple[Config, list[str]]:
    """The Config built from ``environ`` in warn mode, and the warnings' texts."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = config_from_env(environ, **explicit)
    return config, [str(w.message) for w in caught if w.category is ConfigWarning]


@pytest.fixture(autouse=True)
def _no_default_pipeline() -> Iterator[None]:
    yield
    nglogger.shutdown(5)


def test_a_bad_value_warns_and_its_setting_keeps_the_default() -> None:
    config, texts = warned({"NGLOGGER_BATCH_EVENTS": "lots", "NGLOGGER_LEVEL": "debug"})
    assert config.batch_max_events == Config().batch_max_events
    assert config.level == 10  # the good variable next to it still applies
    (text,) = texts
    assert text.startswith("NGLOGGER_BATCH_EVENTS='lots' is invalid; accepted: an integer >= 1")
    assert text.endswith("ignored, the default applies (NGLOGGER_CONFIG_ERRORS=raise: an error)")


def test_an_unknown_variable_warns_with_the_closest_name_and_its_harmless_value() -> None:
    config, texts = warned({"NGLOGGER_FLUSH_INTERVL": "50ms"})
    assert config == Config()
    (text,) = texts
    assert text.startswith("NGLOGGER_FLUSH_INTERVL='50ms' is invalid")
    assert "did you mean NGLOGGER_FLUSH_INTERVAL?" in text


@pytest.mark.parametrize(
    "name", ["NGLOGGER_API_TOKEN", "NGLOGGER_HTTP_HEADRS", "NGLOGGER_SECRET_THING"]
)
def test_an_unknown_variable_that_may_hold_a_secret_is_masked(name: str) -> None:
    """A secret-looking name, or one closest to a secret's (HEADERS), never shows its value."""
    _, texts = warned({name: "Authorization=Bearer abc123"})
    (text,) = texts
    assert text.startswith(f"{name}='****' is invalid")
    assert "abc123" not in text


def test_a_relation_broken_by_a_variable_sets_that_variable_aside() -> None:
    """NGLOGGER_BUFFER_BYTES below the batch size: that variable is ignored, not the service."""
    config, texts = warned({"NGLOGGER_BUFFER_BYTES": "1KiB", "NGLOGGER_BATCH_EVENTS": "10"})
    assert config.buffer_max_bytes == Config().buffer_max_bytes
    assert config.batch_max_events == 10
    (text,) = texts
    assert text.startswith("NGLOGGER_BUFFER_BYTES='1KiB' is invalid; accepted: at least")


def test_sources_say_which_variable_was_ignored() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConfigWarning)
        _, sources = resolve_with_sources({"NGLOGGER_BATCH_EVENTS": "lots"})
    assert sources["batch_max_events"] == (1000, "default (NGLOGGER_BATCH_EVENTS ignored)")


def test_raise_mode_from_the_environment_and_from_an_argument() -> None:
    with pytest.raises(ConfigError, match="NGLOGGER_BATCH_EVENTS='lots' is invalid"):
        config_from_env({"NGLOGGER_BATCH_EVENTS": "lots", "NGLOGGER_CONFIG_ERRORS": "raise"})
    with pytest.raises(ConfigError, match="did you mean NGLOGGER_LEVEL"):
        config_from_env({"NGLOGGER_LEVL": "debug"}, config_errors="raise")
    # An argument wins over the variable, as for every setting.
    config, texts = warned(
        {"NGLOGGER_LEVL": "x", "NGLOGGER_CONFIG_ERRORS": "raise"}, config_errors="warn"
    )
    assert config.config_errors == "warn"
    assert len(texts) == 1


def test_a_bad_switch_warns_and_the_default_applies() -> None:
    config, texts = warned({"NGLOGGER_CONFIG_ERRORS": "explode", "NGLOGGER_BATCH_EVENTS": "x"})
    assert config.config_errors == "warn"
    assert sorted(t.split(" is invalid")[0] for t in texts) == [
        "NGLOGGER_BATCH_EVENTS='x'",
        "NGLOGGER_CONFIG_ERRORS='explode'",
    ]


def test_arguments_always_raise() -> None:
    with pytest.raises(ConfigError, match="batch_max_events"):
        config_from_env({}, batch_max_events=0)
    with pytest.raises(ConfigError, match="sinks"):
        nglogger.configure(sinks=["htp://x"])


def test_a_number_without_unit_above_a_minute_is_refused() -> None:
    """NGLOGGER_FLUSH_INTERVAL=200 (200 s, or 200 ms?) warns; 200ms and 2 are fine."""
    config, texts = warned({"NGLOGGER_FLUSH_INTERVAL": "200"})
    assert config.flush_interval == Config().flush_interval
    (text,) = texts
    assert text.startswith(
        "NGLOGGER_FLUSH_INTERVAL='200': no unit: 200 seconds or 200 milliseconds?"
    )
    assert "write 200ms or 200s" in text
    assert warned({"NGLOGGER_FLUSH_INTERVAL": "200ms"})[0].flush_interval == 0.2
    assert warned({"NGLOGGER_FLUSH_INTERVAL": "2"})[0].flush_interval == 2.0
    assert warned({"NGLOGGER_SINK_MAX_AGE": "900s"})[0].sink_max_age == 900.0
    with pytest.raises(ConfigError, match="no unit"):
        config_from_env({"NGLOGGER_SHUTDOWN_TIMEOUT": "3000", "NGLOGGER_CONFIG_ERRORS": "raise"})


def test_configure_leaves_out_a_sink_of_the_environment_that_cannot_be_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """NGLOGGER_SINKS=datadog without DD_API_KEY: that sink is left out, the others work."""
    for name in list(os.environ):
        if name.startswith(("NGLOGGER_", "DD_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("NGLOGGER_SINKS", "datadog,null")
    with pytest.warns(ConfigWarning, match=r"DD_API_KEY.*that sink is left out"):
        pipeline = nglogger.configure()
    assert pipeline.config.sinks == ("null",)
    monkeypatch.setenv("NGLOGGER_SINKS", "datadog")
    with pytest.warns(ConfigWarning, match="DD_API_KEY"):
        assert nglogger.configure().config.sinks == ("stdout",)  # none left: the default
    monkeypatch.setenv("NGLOGGER_CONFIG_ERRORS", "raise")
    with pytest.raises(ConfigError, match="DD_API_KEY"):
        nglogger.configure()


def test_a_sink_given_as_an_argument_that_cannot_be_built_raises() -> None:
    with pytest.raises(ConfigError, match="DD_API_KEY"):
        nglogger.configure(sinks=["datadog"], sink_env={})


def test_configure_warning_points_at_the_application_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NGLOGGER_BATCH_EVENTS", "lots")
    with pytest.warns(ConfigWarning) as caught:
        nglogger.configure(sinks=[MemorySink()])
    assert caught[0].filename == __file__


def test_install_alone_checks_the_environment_and_keeps_logging(tmp_path: Path) -> None:
    """A fresh process: install() with a typo'd variable warns on stderr and still logs."""
    out = tmp_path / "app.jsonl"
    code = (
        "import logging, nglogger; nglogger.install(); "
        "logging.getLogger('app').warning('still here'); nglogger.shutdown(5)"
    )
    env = {"NGLOGGER_SINKS": f"file://{out}", "NGLOGGER_LEVL": "debug"}
    done = run_python(code, env, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "ConfigWarning: NGLOGGER_LEVL='debug' is invalid" in done.stderr
    assert [orjson.loads(line)["message"] for line in out.read_bytes().splitlines()] == [
        "still here"
    ]
    strict = run_python(code, {**env, "NGLOGGER_CONFIG_ERRORS": "raise"}, tmp_path)
    assert strict.returncode == 1
    assert "ConfigError: NGLOGGER_LEVL='debug' is invalid" in strict.stderr


def test_nglogger_config_shows_the_effective_settings_and_exits_2(tmp_path: Path) -> None:
    """`nglogger config` prints what the pipeline will do, and each ignored variable."""
    code = "import sys; from nglogger.cli import main; sys.exit(main(['config']))"
    done = run_python(code, {"NGLOGGER_BATCH_EVENTS": "lots", "NGLOGGER_LEVEL": "debug"}, tmp_path)
    assert done.returncode == 2
    assert "default (NGLOGGER_BATCH_EVENTS ignored)" in done.stdout
    assert "(env:NGLOGGER_LEVEL)" in done.stdout
    assert "nglogger: invalid configuration: NGLOGGER_BATCH_EVENTS='lots'" in done.stderr


def test_one_bad_entry_of_nglogger_sinks_leaves_out_that_entry_only() -> None:
    """NGLOGGER_SINKS=good,bad: the good sink stays; the bad entry is named and left out."""
    config, texts = warned({"NGLOGGER_SINKS": "null,file:///tmp/x.ndjson?rotate=weekly,stderr"})
    assert config.sinks == ("null", "stderr")
    (text,) = texts
    assert "entry 'file:///tmp/x.ndjson': bad value for rotate: 'weekly'" in text
    config, texts = warned({"NGLOGGER_SINKS": "htp://x"})  # nothing left: the default
    assert config.sinks == Config().sinks
    assert len(texts) == 1


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("import nglogger.auto\n", 1),
        ("import nglogger\nnglogger.install()\n", 2),
        ("import nglogger\nnglogger.configure()\n", 2),
    ],
)
def test_every_warning_points_at_the_application_line(code: str, line: int, tmp_path: Path) -> None:
    """A bad variable's and an unbuildable sink's warnings name the app's file and line."""
    app = tmp_path / "app.py"
    app.write_text(code)
    done = subprocess.run(
        [sys.executable, str(app)],
        capture_output=True,
        text=True,
        env=clean_env({"NGLOGGER_LEVL": "debug", "NGLOGGER_SINKS": "datadog,null"}),
        timeout=60,
        check=True,
    )
    warned = [text for text in done.stderr.splitlines() if "ConfigWarning" in text]
    assert len(warned) == 2, done.stderr
    assert all(text.startswith(f"{app}:{line}: ConfigWarning: ") for text in warned), done.stderr


def test_nglogger_config_reports_a_sink_that_cannot_be_built(tmp_path: Path) -> None:
    """NGLOGGER_SINKS=datadog without DD_API_KEY: `nglogger config` says so and exits 2."""
    code = "import sys; from nglogger.cli import main; sys.exit(main(['config']))"
    done = run_python(code, {"NGLOGGER_SINKS": "datadog,stdout"}, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "DD_API_KEY" in done.stderr
    assert "that sink would be left out" in done.stderr
    assert list(tmp_path.iterdir()) == []  # the check created nothing


def test_nglogger_config_finds_processors_of_the_current_directory(tmp_path: Path) -> None:
    """The console script, run in the app's directory, imports NGLOGGER_PROCESSORS from it."""
    script = Path(sys.executable).parent / "nglogger"  # pip install puts it beside python
    assert script.exists(), script
    (tmp_path / "myapp").mkdir()
    (tmp_path / "myapp" / "__init__.py").write_text("")
    (tmp_path / "myapp" / "logs.py").write_text("def add_build(fields):\n    return fields\n")
    env = clean_env({"NGLOGGER_PROCESSORS": "myapp.logs:add_build"})
    env.pop("PYTHONPATH", None)
    done = subprocess.run(
        [str(script), "config"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert '["myapp.logs:add_build"]' in done.stdout
