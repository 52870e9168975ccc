"""Elasticsearch / OpenSearch bulk API: ``ElasticsearchSink``.

``POST <url>/<index>/_bulk`` with ``Content-Type: application/x-ndjson`` and a
gzip body of action lines, each followed by the event as its source::

    {"create":{}}
    {"timestamp":"...","level":"info","message":"..."}

``op="create"`` (the default) is the one action data streams accept and works
on plain indices too (documents get generated ids, so it never conflicts);
``op="index"`` is offered for aliases or indices that forbid ``create``. The
index goes in the path, so action lines stay two constant bytes of metadata.
The default index ``logs-nglogger-default`` follows the ``logs-*-*`` data
stream naming the built-in templates of Elasticsearch match.

Every document has ``@timestamp``, the field data streams require (a data stream
without an ingest pipeline rejects a document without it) and Kibana sorts by: the
event's own ``timestamp``, spliced in front of the event without re-serializing it
(``{"@timestamp":"<timestamp>",...}``; the ``timestamp`` field stays). An event that
already has ``@timestamp`` is sent as it is; one without a usable ``timestamp`` gets
the time it is sent.

Data stream naming (Elastic's documented scheme ``<type>-<dataset>-<namespace>``):
``ElasticsearchSink(url, dataset="checkout", namespace="prod")`` writes to
``logs-checkout-prod``, which the built-in ``logs-*-*`` template turns into a data
stream; ``dataset`` and ``namespace`` are checked as the docs say (lower case, no
``-``, ``\\ / * ? " < > | , # :`` or spaces, at most 100 bytes for the whole name).
``index=`` still names any index, alias or data stream directly.

Results: a bulk reply is 200 even when items fail; its ``errors`` flag says
whether any did. The request asks ``filter_path=errors,items.*.status,
items.*.error.type,items.*.error.reason``: about 26 bytes per delivered item, a few
hundred per failed one (the reply is read up to 512 KiB). Item by item: a 429 (the
queue of one shard was full) or a 5xx goes back to the sink's queue and is sent
again under the same backoff as a failed request; any other non-2xx is counted
``rejected``, and the first one's error type and reason are said on stderr and kept
as the sink's ``last_error``. A reply that cannot be parsed is scanned for the
statuses it shows; items it says nothing about count as exported. Whole-request
statuses: 429, 502, 503 and 504 are retried, as the official clients do; a 413 is
split, a 400 bisected (see ``nglogger._delivery.decision``); other statuses are not.

Auth: ``api_key`` (the encoded key Elasticsearch returns, sent as
``Authorization: ApiKey <key>``) or ``username``/``password`` (basic auth, also
from user-info in the URL). The URL may carry a path prefix (a proxy).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit, urlunsplit

import orjson

from .._config.secrets import safe_url
from .._core.errors import ConfigError
from .._delivery.decision import ItemResults, item_results
from .._delivery.http import HttpResponse
from ._vendor import basic_auth, check_secret, check_text, split_userinfo
from .http import HttpSink

if TYPE_CHECKING:
    from .._config.config import Config

__all__ = ["DEFAULT_INDEX", "ElasticsearchSink", "data_stream_name", "from_config"]

DEFAULT_INDEX = "logs-nglogger-default"
EVENTS_PER_REQUEST = 1000
ELASTICSEARCH_RETRYABLE = frozenset({429, 502, 503, 504})
_FILTER = "filter_path=errors,items.*.status,items.*.error.type,items.*.error.reason"
_OPS = ("create", "index")
# Index names: lower case, none of \ / * ? " < > | , # : or space, not starting with - _ +.
_INDEX = re.compile(r"[a-z0-9][^A-Z\\/*?\"<>|,# :]{0,254}")
_STATUS = re.compile(rb'"status"\s*:\s*([0-9]{3})')


class ElasticsearchSink(HttpSink):
    """Indexes events through the bulk API (see the module docstring)."""

    content_type = "application/x-ndjson"
    kind = "elasticsearch"
    max_reply_bytes = 512 * 1024  # per-item results with the failures' reasons
    #: Batch-sized buffers held while writing a batch (``Config.memory_budget``): the batch, its
    #: events as a list, the action+document lines, the joined body and its gzip copy (measured
    #: at most 4.1x); tests/test_memory_copies.py measures it with tracemalloc.
    memory_copies = 5

    def __init__(
        self,
        url: str,
        *,
        index: str | None = None,
        dataset: str | None = None,
        namespace: str | None = None,
        op: str = "create",
        api_key: str | None = None,
        username: str | None = None,
        password: str | None = None,
        **http_options: Any,
    ) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            shown = safe_url(url)
            raise ConfigError("url", shown, "an http:// or https:// URL of the cluster")
        url, url_user, url_password = split_userinfo(url)
        parts = urlsplit(url)
        if parts.query or parts.fragment:
            raise ConfigError("url", safe_url(url), "a cluster URL without query or fragment")
        if dataset is not None or namespace is not None:
            if index is not None:
                raise ConfigError("index", index, "either index or dataset/namespace")
            index = data_stream_name(dataset or "nglogger", namespace or "default")
        elif index is None:
            index = DEFAULT_INDEX
        if not isinstance(index, str) or index in (".", "..") or not _INDEX.fullmatch(index):
            raise ConfigError(
                "index",
                index,
                'a lower-case index or data stream name without \\ / * ? " < > | , # : '
                "or spaces, not starting with - _ +",
            )
        if op not in _OPS:
            raise ConfigError("op", op, "create or index")
        username = username if username is not None else url_user
        password = password if password is not None else url_password

        headers = dict(http_options.pop("headers", None) or {})
        if api_key is not None:
            if username is not None or password is not None:
                raise ConfigError("api_key", "****", "either api_key or username/password")
            headers["Authorization"] = "ApiKey " + check_secret(
                "api_key", api_key, "an encoded Elasticsearch API key"
            )
        elif username is not None or password is not None:
            user = check_text("username", username, "the basic-auth user name, with password")
            secret = check_secret("password", password, "the basic-auth password, with username")
            headers["Authorization"] = basic_auth(user, secret)

        self.index = index
        self._action = b'{"%s":{}}\n' % op.encode()
        base = urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))
        http_options.setdefault("max_request_events", EVENTS_PER_REQUEST)
        super().__init__(
            f"{base}/{quote(index, safe='')}/_bulk?{_FILTER}", headers=headers, **http_options
        )

    def default_retryable(self) -> frozenset[int]:
        """429 (cluster busy), 502, 503, 504."""
        return ELASTICSEARCH_RETRYABLE

    def per_event_overhead(self, event: bytes) -> int:  # noqa: ARG002 - constant per event
        """The action line, the spliced ``@timestamp`` and the event's newline."""
        return len(self._action) + 1 + _STAMP_RESERVE

    def encode(self, events: Sequence[bytes]) -> bytes:
        """Action line, document, action line, document... each ending with a newline."""
        action = self._action
        return b"".join([action + _with_timestamp(event) + b"\n" for event in events])

    def items(self, response: HttpResponse, count: int) -> ItemResults | None:
        """Each bulk item's status: 429 and 5xx items are sent again, other failures refused."""
        return item_results(_answers(response.body), count)


_STAMP_RESERVE = 64  # b'"@timestamp":"<at most 48 bytes>",'
_DATA_STREAM_PART = re.compile(r"[a-z0-9][^A-Z\\/*?\"<>|,# :\-]*")


def data_stream_name(dataset: str, namespace: str, kind: str = "logs") -> str:
    """``<kind>-<dataset>-<namespace>``, checked as Elastic's data stream naming scheme says."""
    for setting, value in (("dataset", dataset), ("namespace", namespace)):
        if not isinstance(value, str) or not _DATA_STREAM_PART.fullmatch(value):
            raise ConfigError(
                setting,
                value,
                'lower case, without - \\ / * ? " < > | , # : or spaces, not starting with _ +',
            )
    name = f"{kind}-{dataset}-{namespace}"
    if len(name.encode()) > 100:
        raise ConfigError("dataset", dataset, "a data stream name of at most 100 bytes", name)
    return name


def _with_timestamp(event: bytes) -> bytes:
    """The event with ``"@timestamp"`` first: a splice of its own ``timestamp`` when it leads."""
    if b'"@timestamp":' in event:
        if _top_level_has(event, "@timestamp"):
            return event
    elif event.startswith(b'{"timestamp":"'):
        end = event.find(b'"', 14)
        if 14 < end <= 14 + 48 and b"\\" not in event[14:end]:
            return b'{"@timestamp":"' + event[14:end] + b'",' + event[1:]
    try:
        document = orjson.loads(event)
    except orjson.JSONDecodeError:
        document = None
    if not isinstance(document, dict):  # not an object: its text becomes the message
        text = event.decode("utf-8", "replace")
        document = {"message": text}
    stamp = document.get("timestamp")
    if not isinstance(stamp, str) or not stamp:
        import datetime

        stamp = datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")
    return orjson.dumps({"@timestamp": stamp, **document})


def _top_level_has(event: bytes, key: str) -> bool:
    try:
        document = orjson.loads(event)
    except orjson.JSONDecodeError:
        return False
    return isinstance(document, dict) and key in document


def _answers(body: bytes) -> list[tuple[int | None, str]]:
    """``(status, error type: reason)`` per bulk item, in request order ([] when all are 2xx)."""
    if body.startswith(b'{"errors":false'):
        return []
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        reply = None
    if isinstance(reply, dict):
        if reply.get("errors") is False:
            return []
        items = reply.get("items")
        if isinstance(items, list):
            return [_item(item) for item in items]
    # a reply cut at the transport's limit: the statuses it shows, in order
    return [(int(m.group(1)), "") for m in _STATUS.finditer(body)]


def _item(item: object) -> tuple[int | None, str]:
    """``{"create": {"status": 400, "error": {"type": t, "reason": r}}}`` -> ``(400, "t: r")``."""
    if not isinstance(item, dict) or len(item) != 1:
        return None, ""
    result = next(iter(item.values()))
    if not isinstance(result, dict):
        return None, ""
    status = result.get("status")
    error = result.get("error")
    why = ""
    if isinstance(error, dict):
        why = ": ".join(str(error[k]) for k in ("type", "reason") if error.get(k))
    elif isinstance(error, str):
        why = error
    return (status if isinstance(status, int) else None), why[:200]


def from_config(url: str, config: Config) -> ElasticsearchSink:  # noqa: ARG001 - same shape as the others
    """The sink for ``elasticsearch+http(s)://[user:password@]host:port[/prefix]/<index>``.

    The last path segment names the index or data stream (default
    ``logs-nglogger-default``); basic auth comes from the URI's user-info.
    """
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    prefix, _, last = path.rpartition("/")
    index = unquote(last) if last else DEFAULT_INDEX
    base = urlunsplit((parts.scheme, parts.netloc, prefix if last else path, parts.query, ""))
    return ElasticsearchSink(base, index=index)
