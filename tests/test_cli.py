"""The nglogger command: config (sources, masking, exit codes), demo, bench, --help."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import nglogger


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "DD_", "OTEL_"))}
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "nglogger", *args],
        capture_output=True,
        text=True,
        env=base,
        timeout=timeout,
        check=False,
    )


def test_config_shows_sources_and_masks_secrets() -> None:
    """`nglogger config --json` reports each setting's value and source, secrets masked."""
    out = run(
        "config",
        "--json",
        env={
            "NGLOGGER_LEVEL": "debug",
            "DD_API_KEY": "very-secret-key",
            "NGLOGGER_SINKS": "stderr",
        },
    )
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    assert report["level"] == {"value": 10, "source": "env:NGLOGGER_LEVEL"}
    assert report["sinks"]["value"] == ["stderr"]
    assert report["flush_interval"]["source"] == "default"
    assert "very-secret-key" not in out.stdout
    assert report["sink_env"]["value"]["DD_API_KEY"] == "****"


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"NGLOGGER_BUFFER_BYTES": "64 potatoes"},
            "NGLOGGER_BUFFER_BYTES='64 potatoes' is invalid",
        ),
        ({"NGLOGGER_LEVL": "debug"}, "did you mean NGLOGGER_LEVEL?"),
        ({"NGLOGGER_OVERFLOW": "drop_random"}, "accepted: drop_newest, drop_oldest, block"),
        ({"LOG_LEVEL": "chatty"}, "LOG_LEVEL='chatty' is invalid"),
        # what fails at runtime and can be checked offline (issue 23)
        (
            {"NGLOGGER_SPOOL_DIR": "/proc/nope"},
            "spool_dir '/proc/nope': its parent '/proc' cannot hold a directory",
        ),
        (
            {
                "NGLOGGER_SINKS": "http://127.0.0.1:9/ingest",
                "NGLOGGER_HTTP_HEADERS": "X-A=1%0d%0aX-Injected: yes",
            },
            (
                "NGLOGGER_HTTP_HEADERS='X-A=****' is invalid; accepted: header values without "
                "control characters"
            ),
        ),
        (
            {"NGLOGGER_SINKS": "http://127.0.0.1:9/ingest", "NGLOGGER_HTTP_HEADERS": "X A=1"},
            "NGLOGGER_HTTP_HEADERS='X A' is invalid",
        ),
    ],
)
@pytest.mark.slow
def test_config_exit_code_2_with_the_error(env: dict[str, str], expected: str) -> None:
    """An invalid environment makes `nglogger config` exit 2 with the specific error."""
    out = run("config", env=env)
    assert out.returncode == 2
    assert expected in out.stderr


def test_config_variables_lists_every_variable() -> None:
    """`nglogger config --variables` documents each variable nglogger reads."""
    out = run("config", "--variables")
    assert out.returncode == 0
    for name in ("NGLOGGER_LEVEL", "NGLOGGER_SINKS", "LOG_LEVEL", "NO_COLOR", "OTEL_SERVICE_NAME"):
        assert name in out.stdout


@pytest.mark.slow
@pytest.mark.parametrize("command", [[], ["bench"], ["config"], ["demo"]])
def test_help_on_every_subcommand(command: list[str]) -> None:
    """Every subcommand answers --help with usage text and exit 0."""
    out = run(*command, "--help")
    assert out.returncode == 0
    assert "usage: nglogger" in out.stdout


def test_bad_usage_exits_2() -> None:
    """An unknown subcommand is a usage error (exit 2)."""
    assert run("frobnicate").returncode == 2


def test_demo_logs_requests_through_the_configured_pipeline() -> None:
    """`nglogger demo` writes NDJSON events (with tracebacks for errors) and prints stats."""
    out = run("demo", "--requests", "10", env={"NGLOGGER_LEVEL": "debug"})
    assert out.returncode == 0, out.stderr
    events = [orjson.loads(line) for line in out.stdout.splitlines()]
    assert events[0]["message"] == "service started"
    assert any(e["level"] == "debug" for e in events)
    errors = [e for e in events if e["level"] == "error"]
    assert errors
    assert all("stacktrace" in e["exception"] for e in errors)
    handled = [e for e in events if e["message"] == "request handled"]
    assert all(e["request_id"].startswith("req-") for e in handled)
    assert "nglogger stats:" in out.stderr


@pytest.mark.slow
def test_environment_configuration_is_explicit() -> None:
    """A plain import ignores NGLOGGER_* (lazy defaults); configure() and nglogger.auto read it."""
    code = (
        "import nglogger, sys; log = nglogger.get_logger('x'); log.debug('hidden'); "
        "nglogger.flush(5); "
        "nglogger.configure(); log.debug('shown'); nglogger.flush(5)"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("NGLOGGER_")}
    base["NGLOGGER_LEVEL"] = "debug"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=base,
        timeout=60,
        check=True,
    )
    assert [orjson.loads(line)["message"] for line in out.stdout.splitlines()] == ["shown"]
    auto = subprocess.run(
        [
            sys.executable,
            "-c",
            "import nglogger.auto, nglogger; nglogger.get_logger('y').debug('auto')",
        ],
        capture_output=True,
        text=True,
        env=base,
        timeout=60,
        check=True,
    )
    assert [orjson.loads(line)["message"] for line in auto.stdout.splitlines()] == ["auto"]
    bad = subprocess.run(
        [sys.executable, "-c", "import nglogger.auto"],
        capture_output=True,
        text=True,
        env={**base, "NGLOGGER_LEVEL": "loud", "NGLOGGER_CONFIG_ERRORS": "raise"},
        timeout=60,
        check=False,
    )
    assert bad.returncode == 1
    assert "ConfigError: NGLOGGER_LEVEL='loud' is invalid" in bad.stderr
    warned = subprocess.run(  # the default: a warning, and the default level
        [sys.executable, "-c", "import nglogger.auto"],
        capture_output=True,
        text=True,
        env={**base, "NGLOGGER_LEVEL": "loud"},
        timeout=60,
        check=True,
    )
    assert "ConfigWarning: NGLOGGER_LEVEL='loud' is invalid" in warned.stderr


@pytest.mark.slow
def test_bench_quick_json_report() -> None:
    """`nglogger bench --quick --json` measures every scenario and reports ratios."""
    out = run("bench", "--quick", "--json", timeout=300)
    assert out.returncode == 0, out.stderr
    report = orjson.loads(out.stdout)
    names = {r["scenario"] for r in report["results"]}
    assert {"floor", "basic", "disabled", "buffered", "stalled_sink"} <= names
    stalled = next(r for r in report["results"] if r["scenario"] == "stalled_sink")
    assert stalled["ratio"] <= 1.2  # peak within 1.2x the configured budget
    assert {"request_context", "small_nested", "message_only"} <= names
    assert report["environment"]["redaction_scan"] in {"hyperscan", "re"}
    assert report["environment"]["redaction_scan_ns_per_byte"] > 0
    # the scenarios' own drops are figures of the report, not warnings on stderr
    assert "undelivered" not in out.stderr, out.stderr
    assert "kept in the spool" not in out.stderr, out.stderr


def test_version() -> None:
    """`nglogger --version` prints the package version and exits 0."""
    out = run("--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"nglogger {nglogger.__version__}"


def test_bench_plot_without_matplotlib_fails_before_running() -> None:
    """`--plot` without matplotlib exits 2 with the install hint, before any scenario runs."""
    code = (
        "import sys; sys.modules['matplotlib'] = None; "  # as if it were not installed
        "from nglogger.cli import main; raise SystemExit(main(['bench', '--quick', '--plot', 'x.png']))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert out.returncode == 2
    assert "needs matplotlib" in out.stderr
    assert "speed" not in out.stderr  # no progress: nothing was measured


def test_config_checks_the_spool_directory_without_leaving_anything(tmp_path: Path) -> None:
    """A usable spool_dir passes and nothing is created by the check; a file in the way
    does not."""
    target = tmp_path / "spool" / "deep"
    ok = run("config", env={"NGLOGGER_SPOOL_DIR": str(target)})
    assert ok.returncode == 0, ok.stderr
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "afile").write_text("x")
    bad = run("config", env={"NGLOGGER_SPOOL_DIR": str(tmp_path / "afile" / "spool")})
    assert bad.returncode == 2
    assert "is not a directory" in bad.stderr


def test_a_header_with_control_characters_is_refused_when_the_sink_is_built() -> None:
    """Refused at configuration time in every mode (it failed every request before)."""
    from nglogger import ConfigError
    from nglogger.sinks.http import HttpSink

    with pytest.raises(ConfigError, match="without control characters") as info:
        HttpSink("http://127.0.0.1:9/x", headers={"X-A": "1\r\nX-Injected: yes"})
    assert "Injected" not in str(info.value)  # a value may be a credential: never shown
    HttpSink("http://127.0.0.1:9/x", headers={"X-A": "tab\tis fine"}).close()


def test_bench_names_its_scan_engine_and_log_call() -> None:
    """What `nglogger bench` says of the scan it ran and of the log call, for each kind."""
    from nglogger.cli import _log_call_note, _scan_note

    assert _scan_note({"redaction_scan": "hyperscan", "redaction_scan_ns_per_byte": 0.2}) == (
        "redaction scan: Hyperscan, 0.20 ns per byte of an event holding dicts or lists with keys"
    )
    c = _scan_note({"redaction_scan": "c", "redaction_scan_ns_per_byte": 0.8})
    assert c.startswith("redaction scan: the C accelerator's (Hyperscan is not installed), 0.80")
    assert "pip install 'nglogger[fast]'" in c
    slow = _scan_note({"redaction_scan": "re", "redaction_scan_ns_per_byte": 8.0})
    assert "pure-Python fallback, 8.00 ns per byte" in slow
    assert "~80 us more per call" in slow
    assert _log_call_note({"log_call": "c"}) == "log call: the C accelerator (nglogger._speedups)"
    assert _log_call_note({"log_call": "python"}).startswith("log call: pure Python (")
