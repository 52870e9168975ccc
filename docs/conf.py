"""Sphinx configuration of nglogger's documentation (MyST Markdown, the furo theme).

Build it (warnings are errors, as in CI: scripts/test.sh):
``python -m sphinx -W --keep-going -n -b html docs docs/_build/html``
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "_ext"))  # nglogger_docs: the generated configuration tables

from nglogger import __version__  # noqa: E402

project = "nglogger"
author = "nglogger developers"
copyright = "nglogger developers"  # noqa: A001 (Sphinx's name)
release = __version__
version = __version__

extensions = ["myst_parser", "nglogger_docs"]
source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = [
    "_build",
    "_ext",
    # written by nglogger_docs at build time and included by configuration.md
    "reference/configuration-tables.md",
    "reference/drop-reasons.md",
]

# GitHub-style anchors for headings, so `sinks.md#file-rotation` works here and on GitHub.
myst_heading_anchors = 3
highlight_language = "text"

html_theme = "furo"
html_title = f"nglogger {version}"
html_static_path: list[str] = []
html_show_sourcelink = False
