"""The public surface: a deliberate, sorted __all__ and a light import."""

from __future__ import annotations

import subprocess
import sys

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
