"""The checks of an HTTP sink's options: a bad one is a ConfigError naming it."""

from __future__ import annotations

from collections.abc import Mapping

from .._config.secrets import safe_url
from .._core.errors import ConfigError

__all__ = ["check_headers", "check_http_options"]

#: RFC 9110 token characters: what a header name may hold.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


def check_http_options(
    url: object,
    *,
    max_request_bytes: int,
    max_request_events: int,
    max_record_bytes: int,
    concurrency: int,
    timeout: float,
    connect_timeout: float,
    batch_deadline: float,
    max_age: float | None,
) -> None:
    """Raise :class:`ConfigError` for the first option that is not acceptable."""
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        shown = safe_url(url)
        raise ConfigError("url", shown, "an http:// or https:// URL")
    for setting, value in (
        ("max_request_bytes", max_request_bytes),
        ("max_request_events", max_request_events),
        ("max_record_bytes", max_record_bytes),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(setting, value, "an integer >= 1")
    if max_record_bytes > max_request_bytes:
        raise ConfigError(
            "max_record_bytes",
            max_record_bytes,
            f"at most max_request_bytes ({max_request_bytes})",
        )
    if (
        isinstance(concurrency, bool)
        or not isinstance(concurrency, int)
        or not 1 <= concurrency <= 16
    ):
        raise ConfigError("concurrency", concurrency, "an integer from 1 to 16")
    for setting, seconds in (
        ("timeout", timeout),
        ("connect_timeout", connect_timeout),
        ("batch_deadline", batch_deadline),
    ):
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ConfigError(setting, seconds, "a number of seconds > 0")
    if max_age is not None and (
        isinstance(max_age, bool)
        or not isinstance(max_age, (int, float))
        or not 0 < max_age < float("inf")
    ):
        raise ConfigError("max_age", max_age, "a number of seconds > 0, or None (never)")


def check_headers(headers: Mapping[str, str] | None) -> dict[str, str]:
    """The headers as a dict, each name an HTTP token and each value free of control
    characters (CR, LF, NUL...): a value like ``1\r\nX-Injected: yes`` is refused here, at
    configuration time, instead of failing every request later. Values are never shown
    (they may be credentials)."""
    out: dict[str, str] = {}
    for name, value in (headers or {}).items():
        if not isinstance(name, str) or not name or not _TOKEN.issuperset(name):
            raise ConfigError("headers", name, "header names made of RFC 9110 token characters")
        if not isinstance(value, str) or any(
            (ord(c) < 0x20 and c != "\t") or ord(c) == 0x7F for c in value
        ):
            raise ConfigError(
                "headers",
                f"{name}=****",
                "header values without control characters (CR, LF, NUL, ...)",
            )
        out[name] = value
    return out
