"""``python -m nglogger`` runs the ``nglogger`` command."""

from __future__ import annotations

from .cli import main

raise SystemExit(main())
