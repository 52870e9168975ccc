"""Rewrite the README's settings and variables tables from the settings' declarations.

Run after adding or changing a setting: ``python scripts/readme_tables.py``
(tests/test_docs.py checks the README holds exactly the generated tables).
"""

from __future__ import annotations

from pathlib import Path

from nglogger._env import settings_table, variables_table

README = Path(__file__).resolve().parent.parent / "README.md"


def replace_table(text: str, header: str, table: str) -> str:
    """``text`` with the Markdown table starting at ``header`` replaced by ``table``."""
    start = text.index(header)
    end = start
    lines = text[start:].splitlines(keepends=True)
    for line in lines:
        if not line.startswith("|"):
            break
        end += len(line)
    return text[:start] + table + text[end:]


def main() -> None:
    text = README.read_text()
    text = replace_table(text, "| setting | default | meaning |", settings_table())
    text = replace_table(text, "| variable | what it does | accepted |", variables_table())
    README.write_text(text)


if __name__ == "__main__":
    main()
