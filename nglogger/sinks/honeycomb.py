"""Honeycomb batch events API: ``HoneycombSink``.

``POST <api_host>/1/batch/<dataset>`` with the ``X-Honeycomb-Team`` header and
a gzip JSON array; each event is wrapped without re-parsing::

    [{"time":"2026-11-26T13:47:50.800619Z","data":{<the event>}}, ...]

``time`` is the event's own RFC 3339 timestamp (read from its fixed layout), so
Honeycomb does not stamp events with their arrival time. Hosts: US
``https://api.honeycomb.io`` (default), EU ``https://api.eu1.honeycomb.io``
(``eu=True``), or any ``api_host`` (a Refinery, a proxy).

Results: Honeycomb answers a 2xx with one status per event, in order
(``[{"status":202},{"status":400,"error":"Event has too many columns."}]``);
a 429 or 5xx entry goes back to the sink's queue and is sent again under the same
backoff as a failed request; any other non-2xx entry is counted ``rejected`` (the
first one's error is said on stderr); the rest are exported. A reply that cannot be
fully parsed (it is read up to 64 KiB) is scanned for the statuses it shows; events
it says nothing about count as exported. Whole-request statuses: 429 and 5xx are
retried; a 413 is split and a 400 bisected (``nglogger._delivery.decision``); 401,
403 (administrative throttling) and 404 are not.

Limits: "The entire event must be less than 1 MB of uncompressed JSON" and at
most 2000 fields (the API reference). The batch body cap is not documented;
the official libhoney clients stop at 5,000,000 bytes, and so does this sink.
Events of 1,000,000 bytes or more are dropped as ``too_large``. At most 500
events go in one request, so that the per-event reply always fits in the
64 KiB the transport reads.

Environment (``honeycomb`` in NGLOGGER_SINKS): ``HONEYCOMB_API_KEY``
(required), ``HONEYCOMB_DATASET`` (else the context's ``service``),
``HONEYCOMB_API_ENDPOINT`` (the host, as in Honeycomb's OpenTelemetry
distributions).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import orjson

from .._config.secrets import safe_url
from .._core.errors import ConfigError
from .._delivery.decision import ItemResults, item_results
from .._delivery.http import HttpResponse
from ._vendor import check_secret, event_fields, event_head, renamed
from .http import HttpSink

if TYPE_CHECKING:
    from .._config.config import Config

__all__ = ["EU_API_HOST", "US_API_HOST", "HoneycombSink", "from_config"]

US_API_HOST = "https://api.honeycomb.io"
EU_API_HOST = "https://api.eu1.honeycomb.io"
BATCH_LIMIT = 5_000_000
EVENT_LIMIT = 1_000_000 - 1  # "less than 1 MB"
EVENTS_PER_REQUEST = 500
HONEYCOMB_RETRYABLE = frozenset({429, *range(500, 600)})

_STATUS = re.compile(rb'"status"\s*:\s*([0-9]{3})')
_WRAP = len(b'{"time":"","data":},') + 40  # a timestamp is at most 40 characters


class HoneycombSink(HttpSink):
    """Sends events to a Honeycomb dataset through the batch API (see the module docstring)."""

    #: measured ~3.3 batch copies while writing (tests/test_memory_copies.py)
    memory_copies = 5

    content_type = "application/json"
    kind = "honeycomb"

    def __init__(
        self,
        api_key: str | None = None,
        dataset: str | None = None,
        *,
        api_host: str | None = None,
        eu: bool = False,
        **http_options: Any,
    ) -> None:
        key = check_secret(
            "api_key", api_key, "a Honeycomb API key (argument or HONEYCOMB_API_KEY)"
        )
        if not isinstance(dataset, str) or not dataset.strip() or not dataset.isprintable():
            raise ConfigError(
                "dataset", dataset, "a Honeycomb dataset name (argument or HONEYCOMB_DATASET)"
            )
        if "/" in dataset:
            raise ConfigError("dataset", dataset, "a dataset name without '/'")
        if not isinstance(eu, bool):
            raise ConfigError("eu", eu, "True or False")
        if api_host is not None and eu:
            raise ConfigError(
                "api_host", safe_url(api_host), "either api_host or eu=True, not both"
            )
        host = api_host if api_host is not None else (EU_API_HOST if eu else US_API_HOST)
        if not isinstance(host, str) or not host.startswith(("http://", "https://")):
            raise ConfigError(
                "api_host", safe_url(host), "an https:// URL such as https://api.honeycomb.io"
            )
        url = f"{host.rstrip('/')}/1/batch/{quote(dataset.strip(), safe='')}"
        http_options.setdefault("max_request_bytes", BATCH_LIMIT)
        http_options.setdefault("max_request_events", EVENTS_PER_REQUEST)
        http_options.setdefault("max_record_bytes", EVENT_LIMIT)
        headers = {**(http_options.pop("headers", None) or {}), "X-Honeycomb-Team": key}
        super().__init__(url, headers=headers, **http_options)

    def default_retryable(self) -> frozenset[int]:
        """429 and 5xx; 400/401/403/404 are answers a resend cannot change."""
        return HONEYCOMB_RETRYABLE

    def per_event_overhead(self, event: bytes) -> int:  # noqa: ARG002 - a bound, not per event
        """The ``{"time":...,"data":...}`` wrapper and the array's comma."""
        return _WRAP

    def encode(self, events: Sequence[bytes]) -> bytes:
        """``[{"time":"<timestamp>","data":<event>},...]``: the event bytes are not re-parsed."""
        return b"[" + b",".join([_wrap(event) for event in events]) + b"]"

    def items(self, response: HttpResponse, count: int) -> ItemResults | None:
        """Each event's status: 429 and 5xx events are sent again, other failures refused."""
        return item_results(_answers(response.body), count)


def _wrap(event: bytes) -> bytes:
    head = event_head(event)
    if head is not None:
        return b'{"time":"' + head[0] + b'","data":' + event + b"}"
    document, timestamp, _ = event_fields(event)
    if document is None:  # not a JSON object: send its text as the message
        data = orjson.dumps({"message": event.decode("utf-8", "replace")})
        return b'{"data":' + data + b"}"
    if timestamp is None or len(timestamp) > 40:
        return b'{"data":' + event + b"}"
    return b'{"time":"' + timestamp.encode() + b'","data":' + event + b"}"


def _answers(body: bytes) -> list[tuple[int | None, str]]:
    """``(status, error)`` per event, in request order (see the module docstring)."""
    if not body.strip():
        return []
    try:
        results = orjson.loads(body)
    except orjson.JSONDecodeError:
        results = None
    if isinstance(results, list):
        return [_answer(item) for item in results]
    return [(int(m.group(1)), "") for m in _STATUS.finditer(body[: 64 * 1024])]


def _answer(item: object) -> tuple[int | None, str]:
    if not isinstance(item, dict):
        return None, ""
    status = item.get("status")
    error = item.get("error")
    return (status if isinstance(status, int) else None), (error if isinstance(error, str) else "")[
        :200
    ]


def from_config(config: Config) -> HoneycombSink:
    """The sink for ``honeycomb`` in NGLOGGER_SINKS, from the ``HONEYCOMB_*`` variables."""
    env = {
        k: v.strip() for k, v in config.sink_env.items() if k.startswith("HONEYCOMB_") and v.strip()
    }
    service = config.context.get("service")
    dataset = env.get("HONEYCOMB_DATASET") or (service if isinstance(service, str) else None)
    try:
        return HoneycombSink(
            env.get("HONEYCOMB_API_KEY"), dataset, api_host=env.get("HONEYCOMB_API_ENDPOINT")
        )
    except ConfigError as error:
        raise renamed(
            error,
            {
                "api_key": "HONEYCOMB_API_KEY",
                "dataset": "HONEYCOMB_DATASET",
                "api_host": "HONEYCOMB_API_ENDPOINT",
            },
        ) from None
