"""One transport attempt as a value, and the Retry-After header read into seconds.

Failures are values, not exceptions (exception objects pin frames and everything those
frames reference): an :class:`AttemptResult` is a status and/or an error category.
"""

from __future__ import annotations

import enum
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone

__all__ = ["ERROR_KINDS", "AttemptKind", "AttemptResult", "parse_retry_after"]

_MAX_ERROR_CHARS = 200  # AttemptResult.error is truncated to this many characters
_RETRY_AFTER_MAX = 2.0**31  # RFC 9111 section 1.2.2: the value used for overlong delta-seconds
_DELTA_SECONDS = re.compile(r"[0-9]+")


class AttemptKind(enum.Enum):
    """Outcome category of one HTTP attempt."""

    OK = "ok"
    """A 2xx response: the batch was delivered."""
    RETRYABLE_STATUS = "retryable_status"
    """A response whose status the sink's policy lists as retryable (e.g. 429, 503)."""
    FATAL_STATUS = "fatal_status"
    """Any other non-2xx response (e.g. 400, 401, 403, 413): resending cannot help."""
    TIMEOUT = "timeout"
    """No complete response within the per-request timeout."""
    CONNECTION_ERROR = "connection_error"
    """The connection could not be made or was lost before a response (DNS, refused, reset)."""
    PROTOCOL_ERROR = "protocol_error"
    """A response that could not be understood (malformed HTTP, bad TLS); never retried."""


ERROR_KINDS = frozenset(
    {AttemptKind.TIMEOUT, AttemptKind.CONNECTION_ERROR, AttemptKind.PROTOCOL_ERROR}
)


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """One transport attempt as a value: a status and/or an error category, no exception.

    ``retry_after`` is already parsed into seconds (see :func:`parse_retry_after`);
    ``error`` is a short description, truncated to 200 characters so a huge response
    body or exception text cannot ride along. Footprint: a few hundred bytes at most.
    """

    status: int | None
    kind: AttemptKind
    retry_after: float | None = None
    error: str = ""

    def __post_init__(self) -> None:
        if len(self.error) > _MAX_ERROR_CHARS:
            object.__setattr__(self, "error", self.error[: _MAX_ERROR_CHARS - 3] + "...")


def parse_retry_after(value: str | None, now_epoch: float) -> float | None:
    """Seconds to wait according to a ``Retry-After`` header, or None if absent or invalid.

    Both RFC 9110 forms are understood: delta-seconds (``1*DIGIT``; a sign or a fraction
    makes the value invalid) and an HTTP-date (IMF-fixdate, plus the obsolete RFC 850
    and asctime forms; a date without a zone is taken as GMT), which is made relative to
    ``now_epoch`` (wall-clock epoch seconds, passed in). A date in the past gives 0.0.
    Values beyond 2**31 seconds are clamped to 2**31 as RFC 9111 prescribes; callers
    apply their own, much smaller, cap.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _DELTA_SECONDS.fullmatch(text):
        digits = text.lstrip("0")
        if len(digits) > 10:  # more digits than 2**31 has; also avoids int()'s digit limit
            return _RETRY_AFTER_MAX
        return min(float(int(digits or "0")), _RETRY_AFTER_MAX)
    when = _parse_http_date(text)
    if when is None:
        return None
    delta = when - now_epoch
    if math.isnan(delta):
        return None
    return min(max(delta, 0.0), _RETRY_AFTER_MAX)


def _parse_http_date(text: str) -> float | None:
    """Epoch seconds of an HTTP-date, or None when ``text`` is not a valid date."""
    from email.utils import parsedate_tz  # heavy (socket, calendar...): only for date headers

    try:
        parts = parsedate_tz(text)
        if parts is None:
            return None
        year, month, day, hour, minute, second = parts[:6]
        leap = 1 if second == 60 else 0  # a leap second is valid in a date; datetime rejects it
        stamp = datetime(year, month, day, hour, minute, second - leap, tzinfo=timezone.utc)
        return stamp.timestamp() + leap - (parts[9] or 0)
    except (ValueError, OverflowError, IndexError, TypeError):
        return None
