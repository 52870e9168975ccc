#!/usr/bin/env bash
# The whole test suite: lint, strict typing, tests, and the benchmarks in smoke mode.
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check nglogger tests bench scripts
ruff format --check nglogger tests bench scripts
mypy
python -m pytest tests -q -p no:randomly
python -m pytest bench -q --benchmark-disable
