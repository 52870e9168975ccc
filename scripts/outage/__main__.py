"""``python -m scripts.outage``: the outage replay."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
