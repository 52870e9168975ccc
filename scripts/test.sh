#!/usr/bin/env bash
# The whole test suite: lint, strict typing, the documentation build (warnings are errors),
# tests, and the benchmarks in smoke mode.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check nglogger tests bench scripts docs/conf.py docs/_ext
ruff format --check nglogger tests bench scripts docs/conf.py docs/_ext
mypy
python -m sphinx -W --keep-going -n -q -b html docs docs/_build/html
python -m pytest tests -q -p no:randomly
python -m pytest bench -q --benchmark-disable
