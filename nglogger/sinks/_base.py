"""The sink seam, re-exported where sink authors look for it (defined in ``nglogger._sink``)."""

from __future__ import annotations

from .._sink import Outcome, Sink, SinkBase

__all__ = ["Outcome", "Sink", "SinkBase"]
