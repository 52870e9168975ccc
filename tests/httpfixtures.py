"""Moved to ``tests/support/http.py``; this name stays importable until every test uses the new one."""

from __future__ import annotations

from support.http import RecordingServer, Reply, Request, Responder

__all__ = ["RecordingServer", "Reply", "Request", "Responder"]
