"""The sink seam, re-exported where sink authors look for it (``nglogger._core.sink``)."""

from __future__ import annotations

from .._core.sink import Outcome, Sink, SinkBase

__all__ = ["Outcome", "Sink", "SinkBase"]
