"""The README stays true: every setting and variable documented, set-up commands intact."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from nglogger import Config
from nglogger._env import KNOWN_VARIABLES, settings_table, variables_table

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()

#: Settings documented under another heading than the settings table.
INTERNAL = {"sink_env"}  # filled from the ecosystem variables, listed one by one


def test_every_environment_variable_is_documented() -> None:
    """Each variable nglogger reads appears in the README."""
    missing = [name for name in KNOWN_VARIABLES if f"`{name}`" not in README]
    assert missing == []


def test_every_setting_is_documented() -> None:
    """Each Config field appears in the README's configuration section."""
    names = [f.name for f in dataclasses.fields(Config) if f.name not in INTERNAL]
    missing = [name for name in names if f"`{name}`" not in README]
    assert missing == []


def test_readme_tables_are_the_generated_ones() -> None:
    """The README's settings and variables tables are exactly those the declarations generate.

    Regenerate them with ``nglogger config --markdown``.
    """
    assert settings_table() in README
    assert variables_table() in README


def test_setup_commands_and_ci_agree() -> None:
    """The README's two set-up commands exist and CI runs the same test script."""
    assert "pip install -e . && nglogger bench --quick" in README
    assert "pip install -e '.[dev]' && bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[dev]'" in ci
    assert "bash scripts/test.sh" in ci
