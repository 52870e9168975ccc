"""The quick start, run as written in a fresh interpreter with its environment.

It is in the README and in the documentation's getting-started page: both copies run.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ["README.md", "docs/getting-started.md"]


def blocks_after(text: str, marker: str) -> tuple[str, str]:
    """The python and sh code blocks that follow ``marker`` in ``text``."""
    rest = text[text.index(marker) :]
    python = re.search(r"```python\n(.*?)```", rest, re.S)
    shell = re.search(r"```sh\n(.*?)```", rest, re.S)
    assert python is not None
    assert shell is not None
    return python.group(1), shell.group(1)


@pytest.mark.parametrize("source", SOURCES)
def test_two_line_drop_in_configured_by_the_environment(tmp_path: Path, source: str) -> None:
    code, command = blocks_after((ROOT / source).read_text(), "switches with two lines")
    line = command.replace("\\\n", " ").splitlines()[0]
    words = shlex.split(line)
    env_words = [w for w in words if "=" in w and not w.startswith("python")]
    assert words[len(env_words) :] == ["python", "app.py"]
    out = tmp_path / "app.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_", "LOG_"))}
    for word in env_words:
        name, value = word.split("=", 1)
        env[name] = value.replace("/tmp/app.jsonl", str(out))
    (tmp_path / "app.py").write_text(code)
    done = subprocess.run(
        [sys.executable, "app.py"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stderr == ""
    expected = orjson.loads(command.split("# ", 1)[1].replace('"...",', '"",'))
    for written in (done.stdout.encode(), out.read_bytes()):
        (event,) = [orjson.loads(x) for x in written.splitlines()]
        assert {k: v for k, v in event.items() if k != "timestamp"} == {
            k: v for k, v in expected.items() if k != "timestamp"
        }
