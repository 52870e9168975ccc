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
# The pure-Python log call (an install without the C accelerator) on the suites that
# drive the log call hardest; the differential tests (tests/test_speedups.py) compare it
# with the C one byte for byte in the run above.
NGLOGGER_PURE_PYTHON=1 python -m pytest -q -p no:randomly tests/test_logger.py \
    tests/test_redact.py tests/test_adversarial.py tests/test_reentry.py \
    tests/test_buffer_inbox.py tests/test_schema.py tests/test_hold.py tests/test_storm.py
python -m pytest bench -q --benchmark-disable
