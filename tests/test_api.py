"""The public surface: a deliberate, sorted __all__ and a light import."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import get_type_hints

import pytest

import nglogger


def test_all_is_sorted_and_complete() -> None:
    """__all__ is sorted and lists exactly the public names of the package."""
    exported = nglogger.__all__
    # isort-style, as ruff's RUF022 keeps it: CONSTANTS, Classes, then functions
    assert exported == sorted(
        exported, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)
    )
    public = {
        name
        for name in vars(nglogger)
        if not name.startswith("_")
        and not isinstance(getattr(nglogger, name), type(sys))
        and name not in ("annotations", "TYPE_CHECKING", "Any")  # typing helpers
    }
    lazy = set(nglogger._LAZY)  # loaded on first use
    assert set(exported) - {"__version__"} == public | lazy


def test_import_is_light() -> None:
    """import nglogger loads no HTTP, OTel, asyncio, logging, e-mail date or compression machinery."""
    code = (
        "import sys; import nglogger; "
        "heavy = ['asyncio', 'logging', 'urllib3', 'ssl', 'http.client', 'opentelemetry', "
        "'decimal', 'traceback', 'email', 'socket', 'difflib', 'gzip', 'grpc', "
        "'nglogger.sinks.otlp_grpc']; "
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.strip() == ""


def test_version_is_a_string() -> None:
    """The package exposes its version."""
    assert isinstance(nglogger.__version__, str)


def test_settings_type_lists_every_config_field_with_its_type() -> None:
    """configure(**settings) is typed by nglogger.Settings: one key per Config field."""
    fields = {f.name: f.type for f in dataclasses.fields(nglogger.Config)}
    declared = nglogger.Settings.__annotations__
    assert list(declared) == list(fields), (
        "add the new Config field to nglogger._config.config.Settings"
    )
    widened = {"sample": "Sampling | str | None"}  # sample= also takes its NGLOGGER_SAMPLE text
    assert {k: widened.get(k, v) for k, v in fields.items()} == {
        k: getattr(v, "__forward_arg__", v) for k, v in declared.items()
    }
    assert get_type_hints(nglogger.Settings)  # the names resolve at run time too


@pytest.mark.slow
def test_a_misspelled_keyword_is_a_type_error_for_mypy(tmp_path: Path) -> None:
    """An IDE or type checker sees configure()'s keywords: mypy rejects a typo and a bad type."""
    pytest.importorskip("mypy")  # the dev extra has it; a plain install cannot run this check
    code = tmp_path / "app.py"
    code.write_text(
        "import nglogger\n"
        "nglogger.configure(level='info', flush_interval=0.5)\n"
        "nglogger.configure(flush_intervall=0.5)\n"
        "nglogger.configure(batch_max_events='many')\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(code)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line]
    assert [line.split(":")[1] for line in errors] == ["3", "4"], done.stdout
    assert '"flush_intervall"' in errors[0]


def test_sink_classes_import_from_nglogger_sinks_lazily() -> None:
    """``from nglogger.sinks import FileSink, DatadogSink`` works; the HTTP code loads on use."""
    code = (
        "import sys, nglogger.sinks; assert 'urllib3' not in sys.modules; "
        "from nglogger.sinks import FileSink, DatadogSink, OtlpLogsSink; "
        "from nglogger.sinks.file import FileSink as F; assert FileSink is F; "
        "print(DatadogSink.__module__, OtlpLogsSink.__name__)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["nglogger.sinks.datadog", "OtlpLogsSink"]
