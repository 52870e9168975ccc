"""One list of drop reasons: typed, complete, and the documentation's table made from it."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import get_args

from nglogger._core.reasons import DROP_REASONS, DropReason

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted((ROOT / "nglogger").rglob("*.py"))

#: The ways nglogger's code counts a reason by name (typed call sites are also checked
#: by mypy; these patterns catch the sinks' Outcome dicts and helpers too).
_COUNTED = re.compile(
    r"""(?:drop_locked|_drop_marked_locked|_count_pre|count_dropped|count_late"""
    r"""|(?<![.\w])_count|(?<![.\w])drop)"""
    r"""\((?:[^()"]*,\s*)?"([a-z_]+)"|dropped=\{"([a-z_]+)"|Outcome\(0, \{"([a-z_]+)\""""
    r"""|reason="([a-z_]+)"|dropped\["([a-z_]+)"\]"""
)


def test_the_literal_and_the_table_name_the_same_reasons() -> None:
    assert list(get_args(DropReason)) == list(DROP_REASONS)
    assert all(where in ("pipeline", "sink", "both") for where, _ in DROP_REASONS.values())


def test_every_reason_the_code_counts_is_in_the_list() -> None:
    found: dict[str, str] = {}
    for path in SOURCES:
        for match in _COUNTED.finditer(path.read_text()):
            name = next(g for g in match.groups() if g)
            found.setdefault(name, str(path.relative_to(ROOT)))
    assert len(found) >= 15, found  # the scan does see the call sites
    unknown = {name: where for name, where in found.items() if name not in DROP_REASONS}
    assert unknown == {}


def test_the_docs_table_is_generated_from_the_list() -> None:
    sys.path.insert(0, str(ROOT / "docs" / "_ext"))
    try:
        from nglogger_docs import reasons_markdown
    finally:
        sys.path.remove(str(ROOT / "docs" / "_ext"))
    table = reasons_markdown()
    for name, (_, text) in DROP_REASONS.items():
        assert f"| `{name}` |" in table
        assert text in table
    page = (ROOT / "docs" / "stats-and-memory.md").read_text()
    assert "```{include} reference/drop-reasons.md" in page


def test_nglogger_typing_names_what_users_implement_and_stays_light() -> None:
    code = (
        "import sys, nglogger.typing as t\n"
        "assert {'Sink', 'Transport', 'Processor', 'Outcome', 'Batch', 'DropReason'} <= set(t.__all__)\n"
        "from nglogger.sinks import MemorySink\n"
        "assert isinstance(MemorySink(), t.Sink)\n"
        "heavy = [m for m in ('urllib3', 'opentelemetry', 'grpc') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
