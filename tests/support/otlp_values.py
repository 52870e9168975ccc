"""Reading decoded OTLP back as plain Python: the helpers the OTLP and collector tests share."""

from __future__ import annotations

import calendar
from datetime import datetime
from typing import Any


def value_of(any_value: Any) -> Any:
    """An AnyValue as plain Python (kvlist -> dict, array -> list, empty -> None)."""
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in any_value.kvlist_value.values}
    if kind == "array_value":
        return [value_of(v) for v in any_value.array_value.values]
    return getattr(any_value, kind)


def attributes(item: Any) -> dict[str, Any]:
    """An OTLP item's attributes (a LogRecord's, a Resource's) as a dict."""
    return {kv.key: value_of(kv.value) for kv in item.attributes}


def epoch_ns(stamp: str) -> int:
    """An RFC 3339 timestamp (as nglogger writes it) in nanoseconds since the epoch."""
    when = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return calendar.timegm(when.utctimetuple()) * 10**9 + when.microsecond * 1000
