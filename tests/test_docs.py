"""The documentation stays true: every setting and variable documented, set-up commands intact.

The documentation is the Markdown in ``docs/`` (a Sphinx site); its configuration tables
are generated at build time by ``docs/_ext/nglogger_docs.py`` from the settings'
declarations, so these tests check that the generator produces exactly the tables
``nglogger config --markdown`` prints, that the configuration page includes them, and
that every setting and variable reaches the pages. The README keeps the two set-up
commands and links to the pages.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import re
from pathlib import Path
from types import ModuleType

from nglogger import Config
from nglogger._config.report import KNOWN_VARIABLES, settings_table, variables_table

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
README = (ROOT / "README.md").read_text()

#: Settings documented under another heading than the settings table.
INTERNAL = {"sink_env"}  # filled from the ecosystem variables, listed one by one


def docs_extension() -> ModuleType:
    """``docs/_ext/nglogger_docs.py``, the Sphinx extension that writes the tables."""
    spec = importlib.util.spec_from_file_location(
        "nglogger_docs", DOCS / "_ext" / "nglogger_docs.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def pages() -> dict[str, str]:
    """The documentation's Markdown pages by path (the build output and generated files left out)."""
    extension = docs_extension()
    generated = {DOCS / extension.GENERATED, DOCS / extension.REASONS}
    return {
        str(path.relative_to(DOCS)): path.read_text()
        for path in sorted(DOCS.rglob("*.md"))
        if "_build" not in path.parts and path not in generated
    }


def included(page: str, start: str, end: str, generated: str) -> str:
    """What ``page``'s include of the generated file between ``start`` and ``end`` shows."""
    directive = f"```{{include}} reference/configuration-tables.md\n:start-after: {start}\n:end-before: {end}\n```"
    assert directive in page, f"configuration.md must include the tables between {start} and {end}"
    return generated.split(start, 1)[1].split(end, 1)[0]


def documentation() -> str:
    """All the text a reader of the site sees: the pages, with the included tables in place."""
    ext = docs_extension()
    generated = ext.tables_markdown()
    config = (DOCS / "configuration.md").read_text()
    tables = [
        included(config, ext.SETTINGS_START, ext.SETTINGS_END, generated),
        included(config, ext.VARIABLES_START, ext.VARIABLES_END, generated),
    ]
    return "\n".join([*pages().values(), *tables])


def test_generated_tables_are_the_declared_ones() -> None:
    """The docs build writes exactly the tables ``nglogger config --markdown`` prints.

    Only ``<`` outside code spans is written as ``&lt;`` (Markdown would read
    ``<name>`` as an HTML tag and show nothing); no table row is lost or changed.
    """
    ext = docs_extension()
    config = (DOCS / "configuration.md").read_text()
    generated = ext.tables_markdown()
    settings = included(config, ext.SETTINGS_START, ext.SETTINGS_END, generated)
    variables = included(config, ext.VARIABLES_START, ext.VARIABLES_END, generated)
    assert settings.strip("\n") == ext.escape_markdown(settings_table()).strip("\n")
    assert variables.strip("\n") == ext.escape_markdown(variables_table()).strip("\n")
    assert settings.replace("&lt;", "<").strip("\n") == settings_table().strip("\n")
    assert variables.replace("&lt;", "<").strip("\n") == variables_table().strip("\n")
    for table in (settings, variables):
        outside_code = re.sub(r"`[^`]*`", "", table)
        assert "<" not in outside_code


def test_generated_tables_are_written_and_ignored(tmp_path: Path) -> None:
    """The extension writes the file the page includes, and git ignores it."""
    ext = docs_extension()
    path = ext.write_tables(tmp_path)
    assert path == tmp_path / "reference" / "configuration-tables.md"
    assert path.read_text() == ext.tables_markdown()
    mtime = path.stat().st_mtime_ns
    ext.write_tables(tmp_path)  # unchanged: not rewritten (Sphinx would rebuild the page)
    assert path.stat().st_mtime_ns == mtime
    ignored = (ROOT / ".gitignore").read_text().splitlines()
    assert f"docs/{ext.GENERATED.as_posix()}" in ignored
    assert "docs/_build/" in ignored
    conf = (DOCS / "conf.py").read_text()
    assert '"nglogger_docs"' in conf


def test_every_environment_variable_is_documented() -> None:
    """Each variable nglogger reads appears in the documentation."""
    text = documentation()
    missing = [name for name in KNOWN_VARIABLES if f"`{name}`" not in text]
    assert missing == []


def test_every_setting_is_documented() -> None:
    """Each Config field appears in the documentation's settings table."""
    text = documentation()
    names = [f.name for f in dataclasses.fields(Config) if f.name not in INTERNAL]
    missing = [name for name in names if f"| `{name}` |" not in text]
    assert missing == []


def test_every_page_is_in_the_navigation_and_the_readme_links_resolve() -> None:
    """Each page is in index.md's table of contents; the README's links to docs/ exist."""
    index = (DOCS / "index.md").read_text()
    toctree = "\n".join(re.findall(r"```\{toctree\}\n(.*?)```", index, re.S))
    listed = {line.strip() for line in toctree.splitlines() if line and not line.startswith(":")}
    expected = {page.removesuffix(".md") for page in pages() if page != "index.md"}
    assert listed == expected
    links = re.findall(r"\]\((docs/[^)#\s]+)", README)
    assert links, "the README links to the documentation pages"
    missing = [link for link in links if not (ROOT / link).exists()]
    assert missing == []
    linked_pages = {Path(link).stem for link in links if link.endswith(".md")}
    for page in ("getting-started", "recipes", "configuration", "sinks", "development"):
        assert page in linked_pages


def test_setup_commands_and_ci_agree() -> None:
    """The README's two set-up commands exist and CI runs the same test script."""
    assert "pip install -e . && nglogger bench --quick" in README
    assert "pip install -e '.[dev]' && bash scripts/test.sh" in README
    ci = (ROOT / ".ci" / "run").read_text()
    assert "pip install --quiet -e '.[dev]'" in ci
    assert "bash scripts/test.sh" in ci
    test_sh = (ROOT / "scripts" / "test.sh").read_text()
    assert "python -m sphinx -W --keep-going" in test_sh
