"""Loopback ingest backends that answer as real ones do, and know which events they stored.

:class:`Ingest` is a :class:`~support.http.LoopbackServer` (127.0.0.1, keep-alive,
gzip undone) whose responder is a *behaviour*: ``behave(request, ids) -> (answer,
stored)``, where ``ids`` are the event ids the request carries (read by a decoder for
the wire format: NDJSON, OTLP protobuf, Elasticsearch bulk, Loki push) and ``stored``
the ids the backend keeps (all of them for a 2xx, none for a 413 or a 503, some for an
Elasticsearch bulk reply or a Loki 400). Every request is recorded as a :class:`Seen`
(arrival time, status, ids, stored ids, size on the wire), so a test reads "lost",
"delivered twice", "requests during the outage" and "time to first delivery" from the
backend's side, never from nglogger's counters alone.

The answers real services give are here too: nginx's 413 and 503 pages
(:func:`nginx_413`, :func:`nginx_503`), an Elasticsearch bulk reply with per-item
statuses (:func:`bulk_reply`), and Loki's 400 for over-long lines in both the
formats Loki has used (:func:`loki_line_limit`).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import orjson

from support.http import Answer, LoopbackServer, Raw, Reply, Request

__all__ = [
    "NGINX_413",
    "NGINX_503",
    "Behave",
    "Ingest",
    "Seen",
    "bulk_documents",
    "bulk_ids",
    "bulk_reply",
    "loki_ids",
    "loki_line_limit",
    "ndjson_ids",
    "nginx_413",
    "nginx_503",
    "otlp_ids",
]

AnswerLike = Reply | Answer | Raw | None
Behave = Callable[[Request, list[int]], tuple[AnswerLike, Iterable[int]]]
Decode = Callable[[bytes], list[int]]


@dataclass(frozen=True)
class Seen:
    """One request as the backend saw it (``status`` None: dropped without an answer)."""

    at: float
    status: int | None
    ids: tuple[int, ...]
    stored: tuple[int, ...]
    wire_bytes: int


# ----------------------------------------------------------------- decoders
def ndjson_ids(body: bytes) -> list[int]:
    """The ``id`` of each NDJSON line (nglogger's generic http sink)."""
    return [orjson.loads(line)["id"] for line in body.splitlines() if line.strip()]


def otlp_ids(body: bytes) -> list[int]:
    """The ``id`` attribute of each record of an ``ExportLogsServiceRequest`` (protobuf)."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    message = ExportLogsServiceRequest()
    message.ParseFromString(body)
    ids = []
    for resource_logs in message.resource_logs:
        for scope_logs in resource_logs.scope_logs:
            for record in scope_logs.log_records:
                for kv in record.attributes:
                    if kv.key == "id":
                        ids.append(int(kv.value.int_value))
    return ids


def bulk_documents(body: bytes) -> list[dict[str, object]]:
    """The documents of an Elasticsearch bulk body (every second line: action, document)."""
    lines = [line for line in body.splitlines() if line.strip()]
    return [orjson.loads(line) for line in lines[1::2]]


def bulk_ids(body: bytes) -> list[int]:
    return [int(doc["id"]) for doc in bulk_documents(body)]  # type: ignore[call-overload]


def loki_ids(body: bytes) -> list[int]:
    """The ``id`` of the event in each line of a Loki JSON push, stream by stream."""
    push = orjson.loads(body)
    return [
        orjson.loads(value[1])["id"] for stream in push["streams"] for value in stream["values"]
    ]


# ---------------------------------------------------------------- the server
class Ingest:
    """A loopback backend: a behaviour decides each answer; what it stores is recorded."""

    def __init__(self, decode: Decode, behave: Behave) -> None:
        self._decode = decode
        self._behave = behave
        self._cond = threading.Condition()
        self._seen: list[Seen] = []
        self._server = LoopbackServer(self._respond, keep_bodies=False)
        self.url = self._server.url
        self.port = self._server.port
        self.closing = self._server.closing

    def set_behaviour(self, behave: Behave) -> None:
        with self._cond:
            self._behave = behave

    def _respond(self, request: Request) -> AnswerLike:
        ids = self._decode(request.body)
        with self._cond:
            answer, stored = self._behave(request, ids)
            stored_ids = tuple(stored)
            status = _status(answer)
            self._seen.append(
                Seen(time.monotonic(), status, tuple(ids), stored_ids, request.wire_bytes)
            )
            self._cond.notify_all()
        return answer

    # -------------------------------------------------------- for the test
    def seen(self) -> list[Seen]:
        with self._cond:
            return list(self._seen)

    def stored(self) -> list[int]:
        """Every stored id, in arrival order (an id stored twice appears twice)."""
        with self._cond:
            return [i for s in self._seen for i in s.stored]

    def duplicates(self) -> int:
        """Stored copies beyond the first of each id."""
        counts = Counter(self.stored())
        return sum(n - 1 for n in counts.values())

    def first_stored_after(self, moment: float) -> float | None:
        """Arrival time of the first request at or after ``moment`` that stored anything."""
        with self._cond:
            times = [s.at for s in self._seen if s.stored and s.at >= moment]
        return min(times) if times else None

    def wait_until(self, predicate: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``predicate()`` holds (checked at each request and every 50 ms)."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
            return True

    def close(self) -> None:
        self._server.close()

    def __enter__(self) -> Ingest:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _status(answer: AnswerLike) -> int | None:
    if answer is None or isinstance(answer, Raw):
        return None
    if isinstance(answer, Answer):
        return answer.status
    return answer[0]


# ----------------------------------------------------- what real services say
NGINX_413 = (
    b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n"
    b"<center><h1>413 Request Entity Too Large</h1></center>\r\n"
    b"<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)
NGINX_503 = (
    b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n"
    b"<hr><center>nginx/1.24.0</center>\r\n</body>\r\n</html>\r\n"
)


def nginx_413() -> Answer:
    """nginx over ``client_max_body_size``: 413, its HTML page, and the connection closed
    (nginx turns keep-alive off for a 413)."""
    return Answer(413, [("Content-Type", "text/html"), ("Connection", "close")], NGINX_413)


def nginx_503() -> Answer:
    """nginx in front of a backend that is down (every upstream marked failed)."""
    return Answer(503, [("Content-Type", "text/html")], NGINX_503)


def bulk_reply(statuses: Sequence[int], reasons: Sequence[tuple[str, str] | None]) -> Answer:
    """Elasticsearch's bulk reply as ``filter_path=errors,items.*.status,items.*.error.type,
    items.*.error.reason`` leaves it: 200 whatever the items, ``errors`` true when any failed."""
    items: list[dict[str, object]] = []
    for status, reason in zip(statuses, reasons, strict=True):
        result: dict[str, object] = {"status": status}
        if reason is not None:
            result["error"] = {"type": reason[0], "reason": reason[1]}
        items.append({"create": result})
    body = orjson.dumps({"errors": any(s >= 300 for s in statuses), "items": items})
    return Answer(200, [("Content-Type", "application/json")], body)


def loki_line_limit(max_line_size: int, *, grouped: bool = True) -> Behave:
    """Loki's distributor with ``max_line_size``: it stores the valid lines of a push and
    answers 400 for the ones it ignored, with the text Loki itself writes.

    Each ignored line gives ``validation.LineTooLongErrorMsg``. Loki 3 joins them with
    ``util.GroupedErrors``: identical messages are grouped as ``"<n> errors like: <msg>"``
    (the prefix whenever there is more than one message or group), groups separated by
    ``"; "`` (``grouped=True``). Loki 2 kept only the last error of the push
    (``validationErr = err``; ``grouped=False``). ``http.Error`` adds the newline and the
    ``text/plain`` type. A push without an over-long line is a 204.
    """

    def behave(request: Request, ids: list[int]) -> tuple[AnswerLike, list[int]]:
        push = orjson.loads(request.body)
        stored: list[int] = []
        errors: list[str] = []
        for stream in push["streams"]:
            labels = ", ".join(f'{k}="{v}"' for k, v in sorted(stream["stream"].items()))
            for value in stream["values"]:
                line = value[1]
                size = len(line.encode())
                if size > max_line_size:
                    errors.append(
                        f"Max entry size '{max_line_size}' bytes exceeded for stream "
                        f"'{{{labels}}}' while adding an entry with length '{size}' bytes"
                    )
                else:
                    stored.append(orjson.loads(line)["id"])
        if not errors:
            return Answer(204), stored
        if grouped:
            groups = Counter(errors)
            many = len(groups) > 1
            text = "; ".join(
                f"{n} errors like: {message}" if many or n > 1 else message
                for message, n in groups.items()
            )
        else:
            text = errors[-1]
        headers = [
            ("Content-Type", "text/plain; charset=utf-8"),
            ("X-Content-Type-Options", "nosniff"),
        ]
        return Answer(400, headers, (text + "\n").encode()), stored

    return behave
