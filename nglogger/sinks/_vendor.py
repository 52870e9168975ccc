"""Helpers shared by the vendor sinks (Datadog, Honeycomb, Loki, Elasticsearch).

Reading an event's head (timestamp and level) from nglogger's fixed byte layout
without parsing it, the slow path that parses it, and the checks and error
wording of credentials and header values.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlsplit, urlunsplit

import orjson

from .._core.errors import ConfigError
from .._event.layout import LEVEL_OPEN, LEVEL_START, TIMESTAMP_END, TIMESTAMP_OPEN

__all__ = [
    "LEVELS",
    "basic_auth",
    "check_secret",
    "check_text",
    "event_fields",
    "event_head",
    "renamed",
    "split_userinfo",
]

LEVELS = frozenset({"debug", "info", "warning", "error", "critical"})
_LEVEL_BYTES = frozenset(level.encode() for level in LEVELS)
_LEVEL_TEXT = re.compile(r"[A-Za-z0-9_.\-]{1,32}")

# ------------------------------------------------------------------ event head
# nglogger's events start with a fixed byte layout (reserved keys are renamed
# when a caller uses them, so these are always the logger's own values):
#     {"timestamp":"2026-11-26T13:47:50.800619Z","level":"info",...
_TS_OPEN = TIMESTAMP_OPEN
_TS_END = TIMESTAMP_END
_TIMESTAMP = re.compile(rb"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_LOOSE_TIMESTAMP = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9:.]{8,18}(Z|[+-][0-9:]{4,5})?")


def event_head(event: bytes) -> tuple[bytes, bytes] | None:
    """``(timestamp, level)`` read from the fixed layout without parsing, or None.

    None when ``event`` does not start like an nglogger event; callers then use
    :func:`event_fields`. The timestamp is checked to be plain RFC 3339 UTC with
    microseconds and the level to be one of :data:`LEVELS`.
    """
    if event[: len(_TS_OPEN)] != _TS_OPEN or event[_TS_END:LEVEL_START] != LEVEL_OPEN:
        return None
    end = event.find(b'"', LEVEL_START, LEVEL_START + 10)
    if end < 0:
        return None
    timestamp = event[len(_TS_OPEN) : _TS_END]
    level = event[LEVEL_START:end]
    if level not in _LEVEL_BYTES or _TIMESTAMP.fullmatch(timestamp) is None:
        return None
    return timestamp, level


def event_fields(event: bytes) -> tuple[dict[str, Any] | None, str | None, str | None]:
    """The slow path: ``(parsed object or None, timestamp, level)`` via ``orjson.loads``.

    ``timestamp`` is kept only when it looks like RFC 3339 (so it needs no JSON
    escaping); ``level`` only when it is a short plain word. Invalid JSON or a
    document that is not an object gives ``(None, None, None)``.
    """
    try:
        document = orjson.loads(event)
    except orjson.JSONDecodeError:
        return None, None, None
    if not isinstance(document, dict):
        return None, None, None
    timestamp = document.get("timestamp")
    level = document.get("level")
    if timestamp is None and level is None:  # an output schema's names (Config.schema)
        timestamp = document.get("@timestamp", document.get("time"))
        level = document.get("log.level", document.get("severity", document.get("status")))
        if isinstance(level, str):
            level = level.lower()
    return (
        document,
        timestamp if isinstance(timestamp, str) and _LOOSE_TIMESTAMP.fullmatch(timestamp) else None,
        level if isinstance(level, str) and _LEVEL_TEXT.fullmatch(level) else None,
    )


def check_secret(setting: str, value: object, accepted: str) -> str:
    """``value`` stripped, or ConfigError naming ``setting`` (the value shown only as ****)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(setting, None, accepted, "missing")
    if not isinstance(value, str) or not value.strip().isprintable():
        raise ConfigError(setting, "****", accepted, "must be printable text")
    return value.strip()


def check_text(setting: str, value: object, accepted: str) -> str:
    """A non-secret header or label value: printable text (shown in errors)."""
    if not isinstance(value, str) or not value.strip() or not value.isprintable():
        raise ConfigError(setting, value, accepted)
    return value.strip()


def renamed(error: ConfigError, variables: Mapping[str, str]) -> ConfigError:
    """``error`` restated with the environment variable that fed the bad setting."""
    name = variables.get(error.setting)
    if name is None:
        return error
    head = f"{error.setting}={error.value!r} is invalid; accepted: {error.accepted}"
    hint = str(error)[len(head) :].removeprefix(" (").removesuffix(")")
    return ConfigError(name, error.value, error.accepted, hint)


def basic_auth(username: str, password: str) -> str:
    """An ``Authorization`` header value for HTTP basic auth."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def split_userinfo(url: str) -> tuple[str, str | None, str | None]:
    """``url`` without user-info, and the (percent-decoded) user name and password in it."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url, None, None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, sep, password = userinfo.partition(":")
    clean = urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))
    return clean, unquote(user) or None, unquote(password) if sep else None
