"""The checks of an HTTP sink's options: a bad one is a ConfigError naming it."""

from __future__ import annotations

from .._config.secrets import safe_url
from .._core.errors import ConfigError

__all__ = ["check_http_options"]


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
