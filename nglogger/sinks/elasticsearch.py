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
whether any did. The request asks ``filter_path=errors,items.*.status`` so the
reply is about 26 bytes per item (1000 items per request keep it far below the
64 KiB the transport reads). Every item with a non-2xx status is counted as
dropped ``rejected``, including per-item 429 (the queue of one shard was full;
items are not resent one by one, so they are dropped and counted). A reply
that cannot be parsed is scanned for the statuses it shows; items it says
nothing about count as exported. Whole-request statuses: 429, 502, 503 and 504
are retried, as the official clients do; other statuses are not.

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
from .._delivery.http import HttpResponse
from ._vendor import basic_auth, check_secret, check_text, split_userinfo
from .http import HttpSink

if TYPE_CHECKING:
    from .._config.config import Config

__all__ = ["DEFAULT_INDEX", "ElasticsearchSink", "data_stream_name", "from_config"]

DEFAULT_INDEX = "logs-nglogger-default"
EVENTS_PER_REQUEST = 1000
ELASTICSEARCH_RETRYABLE = frozenset({429, 502, 503, 504})
_FILTER = "filter_path=errors,items.*.status"
_OPS = ("create", "index")
# Index names: lower case, none of \ / * ? " < > | , # : or space, not starting with - _ +.
_INDEX = re.compile(r"[a-z0-9][^A-Z\\/*?\"<>|,# :]{0,254}")
_STATUS = re.compile(rb'"status"\s*:\s*([0-9]{3})')


class ElasticsearchSink(HttpSink):
    """Indexes events through the bulk API (see the module docstring)."""

    content_type = "application/x-ndjson"
    kind = "elasticsearch"
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

    def accept(self, response: HttpResponse, count: int, dropped: dict[str, int]) -> int:
        """Count the items whose status is not 2xx as ``rejected``."""
        failed = min(count, _failures(response.body, count))
        if failed:
            dropped["rejected"] = dropped.get("rejected", 0) + failed
            self._count("item_errors", failed)
        return count - failed


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


def _failures(body: bytes, count: int) -> int:
    if body.startswith(b'{"errors":false'):
        return 0
    try:
        reply = orjson.loads(body)
    except orjson.JSONDecodeError:
        reply = None
    if isinstance(reply, dict):
        if reply.get("errors") is False:
            return 0
        items = reply.get("items")
        if isinstance(items, list):
            return sum(1 for item in items[:count] if not _is_2xx(item))
    return sum(1 for m in _STATUS.finditer(body) if not m.group(1).startswith(b"2"))


def _is_2xx(item: object) -> bool:
    """``{"create": {"status": 201}}`` -> True."""
    if not isinstance(item, dict) or len(item) != 1:
        return False
    result = next(iter(item.values()))
    status = result.get("status") if isinstance(result, dict) else None
    return isinstance(status, int) and 200 <= status <= 299


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
