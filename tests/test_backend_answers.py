"""Every backend answer understood (issue 21): each row of the issue's table, end to end.

Each test runs nglogger configured *only* by environment variables (``NGLOGGER_SINKS``,
``OTEL_EXPORTER_OTLP_*``, ``NGLOGGER_SINK_TIMEOUT``...), either in a real child process
(``python -m tests.support.envapp``) or through ``Config.from_env(env)`` + ``configure``,
against loopback servers on 127.0.0.1 that answer as the real thing does: nginx's 413
page above ``client_max_body_size`` (measured on the body as it travelled, gzip
included) and its 503 while the upstream is down; an OTLP/HTTP receiver; a grpcio
OTLP server at gRPC's default 4 MiB receive limit; Elasticsearch's bulk API (200 with
per-item statuses); Loki's distributor (stores the valid lines, answers 400 naming
the ignored ones, in the text Loki writes); a raw-socket server whose keep-alive
connections die between requests or as a request arrives; a backend slower than the
read timeout; and the real OpenTelemetry Collector (tests/collector) behind its own
``max_request_body_size``.

Every count is read from the backend's side (which ids it stored, how often, which
requests it saw and when: ``support.ingest``) and checked against nglogger's own
accounting (``accepted == exported + dropped + queued``). Each test records its figures
(events logged, delivered, lost, dropped by reason, requests, duplicates, time to first
delivery) in :data:`FIGURES`; the table is printed when the module ends (``pytest -s``).
"""

from __future__ import annotations

import gzip
import json
import math
import random
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support.http import Answer, Request
from support.ingest import (
    Ingest,
    bulk_documents,
    bulk_ids,
    bulk_reply,
    loki_ids,
    loki_line_limit,
    ndjson_ids,
    nginx_413,
    nginx_503,
    otlp_ids,
)
from support.keepalive import Action, KeepAliveServer
from support.liveproc import LiveProcess
from support.proc import clean_env
from support.waiting import require, wait_for

import nglogger
from nglogger import Pipeline, SinkStats

KiB = 1024
MiB = 1024 * KiB
ROOT = Path(__file__).resolve().parent.parent
APP = [sys.executable, "-m", "tests.support.envapp"]  # run from ROOT
LOG = nglogger.get_logger("answers")
OK: tuple[int, dict[str, str], bytes] = (200, {}, b"")


# ------------------------------------------------------------------ the figures
@dataclass
class Figures:
    """One row of the issue's table, as measured."""

    row: str
    logged: int
    delivered: int  # distinct events the backend stored
    lost: int  # logged, never stored
    dropped: Mapping[str, int]  # nglogger's count, by reason
    requests: int  # requests the backend saw (gRPC: calls that reached the server)
    duplicates: int  # stored copies beyond the first
    first_delivery: float | None  # seconds: after recovery, or after the first log call
    extra: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        first = "-" if self.first_delivery is None else f"{self.first_delivery:.2f} s"
        dropped = ", ".join(f"{k} {v}" for k, v in sorted(self.dropped.items())) or "none"
        extra = "; ".join(f"{k}={v}" for k, v in self.extra.items())
        return (
            f"| {self.row} | {self.logged} | {self.delivered} | {self.lost} | {dropped} | "
            f"{self.requests} | {self.duplicates} | {first} | {extra} |"
        )


FIGURES: list[Figures] = []
HEADER = (
    "| row | logged | delivered | lost | dropped | requests | duplicates | first delivery | notes |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def record(figures: Figures) -> None:
    FIGURES.append(figures)
    print(f"\n{HEADER}\n{figures.line()}")


@pytest.fixture(scope="module", autouse=True)
def _print_the_table() -> Iterator[None]:
    yield
    if FIGURES:
        print("\n\nIssue 21, every backend answer understood: figures per row\n" + HEADER)
        for figures in FIGURES:
            print(figures.line())


# ------------------------------------------------------------------ helpers
@contextmanager
def env_pipeline(env: Mapping[str, str]) -> Iterator[Pipeline]:
    """The default pipeline built from these variables alone (``Config.from_env``)."""
    pipeline = nglogger.configure(nglogger.Config.from_env(dict(env)))
    try:
        yield pipeline
    finally:
        nglogger.shutdown(timeout=5.0)


def the_sink(pipeline: Pipeline) -> Any:
    [worker] = pipeline.workers
    return worker.sink


def sink_stats(pipeline: Pipeline) -> SinkStats:
    [stats] = pipeline.stats().sinks.values()
    return stats


def accounted(stats: SinkStats) -> None:
    assert stats.accepted == stats.exported + sum(stats.dropped.values()) + stats.queued_events, (
        stats
    )


def pads(count: int, seed: int, low: int = 500, high: int = 1500) -> list[str]:
    """Random hex pads: events of ``2*low``-``2*high`` bytes that gzip only halves."""
    rng = random.Random(seed)
    return [rng.randbytes(rng.randint(low, high)).hex() for _ in range(count)]


def emit(first: int, pad_list: list[str]) -> list[int]:
    ids = list(range(first, first + len(pad_list)))
    for i, pad in zip(ids, pad_list, strict=True):
        LOG.info("event", id=i, pad=pad)
    return ids


def hold(backend: Ingest, until: float) -> None:
    """Let a scripted phase (an outage) last until the monotonic time ``until``."""
    backend.closing.wait(max(0.0, until - time.monotonic()))


def nginx_limit(limit: int) -> Any:
    """nginx's ``client_max_body_size``: 413 above ``limit`` bytes on the wire."""

    def behave(request: Request, ids: list[int]) -> tuple[Any, list[int]]:
        if request.wire_bytes > limit:
            return nginx_413(), []
        return OK, ids

    return behave


def otlp_limit(limit: int) -> Any:
    """An OTLP/HTTP receiver behind nginx with ``client_max_body_size`` = ``limit``."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
        ExportLogsServiceResponse,
    )

    reply = ExportLogsServiceResponse().SerializeToString()

    def behave(request: Request, ids: list[int]) -> tuple[Any, list[int]]:
        if request.wire_bytes > limit:
            return nginx_413(), []
        return (200, {"Content-Type": "application/x-protobuf"}, reply), ids

    return behave


def down(_request: Request, _ids: list[int]) -> tuple[Any, list[int]]:
    return nginx_503(), []


def lost_and_dups(backend: Ingest, logged: list[int]) -> tuple[int, int, int]:
    stored = backend.stored()
    distinct = set(stored)
    return len(distinct & set(logged)), len(set(logged) - distinct), backend.duplicates()


# =========================================================== row 1: nginx 413, no outage
@pytest.mark.slow
def test_row1_a_proxy_413_above_256_kib_loses_nothing_in_a_real_process() -> None:
    """2,000 events of 1-3 KB from a real process configured by NGLOGGER_SINKS alone,
    through nginx's 413 above 256 KiB on the wire: every event stored once, nglogger's
    accounting exact, and once the size is learned no request is refused again."""
    limit = 256 * KiB
    n = 2000
    with Ingest(ndjson_ids, nginx_limit(limit)) as backend:
        env = clean_env({"NGLOGGER_SINKS": f"{backend.url}/ingest"})
        spec = {"count": n, "pad": [500, 1500], "seed": 1}
        with LiveProcess([*APP, json.dumps(spec)], env, ROOT) as app:
            line = app.wait_line("stdout", lambda text: text.startswith("{"), 120.0)
            assert line is not None, app.text("stderr")
            report = json.loads(line[1])
            app.send("exit")
            assert app.finish(30.0) == 0, app.text("stderr")
        seen = backend.seen()
    [(name, stats)] = report["sinks"].items()
    http = report["http"][name]
    delivered, lost, dups = lost_and_dups(backend, list(range(n)))
    refused = [i for i, s in enumerate(seen) if s.status == 413]
    first = min(s.at for s in seen if s.stored) - report["started"]
    record(
        Figures(
            "1 nginx 413 > 256 KiB, no outage (subprocess)",
            n,
            delivered,
            lost,
            stats["dropped"],
            len(seen),
            dups,
            first,
            {"413s": len(refused), "splits": http.get("split", 0)},
        )
    )
    assert report["flushed"] is True
    assert (stats["accepted"], stats["exported"], stats["dropped"]) == (n, n, {})
    assert (
        stats["accepted"]
        == stats["exported"] + sum(stats["dropped"].values()) + stats["queued_events"]
    )
    assert (delivered, lost, dups) == (n, 0, 0)
    assert refused, "the test must reach the proxy's limit"
    assert http["split"] >= 1
    # the size is learned: the first request is halved until it fits (one 413 per
    # halving), and no request after the first one stored is refused again
    assert refused == list(range(len(refused))), [(s.status, s.wire_bytes) for s in seen]
    assert len(refused) <= math.ceil(math.log2(seen[0].wire_bytes / limit)) + 1, refused
    assert "is failing" not in app.text("stderr")


# ================================================ row 2: the same after an outage
@pytest.mark.slow
@pytest.mark.parametrize(
    "protocol", ["ndjson-256KiB", "otlp-http-1MiB"], ids=["ndjson-256KiB", "otlp-http-1MiB"]
)
def test_row2_after_an_outage_a_proxy_body_limit_loses_nothing(protocol: str) -> None:
    """503 for 11 s while 2,000 events of 1-3 KB are logged, then the proxy's limit
    (256 KiB for the generic sink, 1 MiB for OTLP/HTTP): the backlog is merged into
    requests far over the limit, split and learned; nothing lost, nothing twice."""
    n = 2000
    if protocol.startswith("ndjson"):
        limit, decode, healthy = 256 * KiB, ndjson_ids, nginx_limit(256 * KiB)
    else:
        limit, decode, healthy = 1 * MiB, otlp_ids, otlp_limit(1 * MiB)
    with Ingest(decode, down) as backend:
        if protocol.startswith("ndjson"):
            env = {"NGLOGGER_SINKS": f"{backend.url}/ingest"}
        else:
            env = {"NGLOGGER_SINKS": "otlp", "OTEL_EXPORTER_OTLP_ENDPOINT": backend.url}
        with env_pipeline(env) as pipeline:
            outage_started = time.monotonic()
            pad_list = pads(n, seed=2)
            for start in range(0, n, 100):  # logged over the first ~4 s of the outage
                emit(start, pad_list[start : start + 100])
                backend.closing.wait(0.2)
            require(lambda: sink_stats(pipeline).queued_events == n, 30.0)
            hold(backend, outage_started + 11.0)
            backend.set_behaviour(healthy)
            recovered = time.monotonic()
            everything = backend.wait_until(lambda: len(set(backend.stored())) >= n, 30.0)
            assert everything, sink_stats(pipeline)
            drained = time.monotonic() - recovered
            assert pipeline.flush(10.0)
            stats = sink_stats(pipeline)
            http = the_sink(pipeline).http_stats()
        seen = backend.seen()
    delivered, lost, dups = lost_and_dups(backend, list(range(n)))
    during = [s for s in seen if s.at < recovered]
    after = [s for s in seen if s.at >= recovered]
    first = backend.first_stored_after(recovered)
    record(
        Figures(
            f"2 {protocol} after an 11 s outage",
            n,
            delivered,
            lost,
            dict(stats.dropped),
            len(seen),
            dups,
            None if first is None else first - recovered,
            {
                "during outage": len(during),
                "413s": sum(s.status == 413 for s in after),
                "backlog drained": f"{drained:.1f} s",
            },
        )
    )
    accounted(stats)
    assert (stats.accepted, stats.exported, dict(stats.dropped)) == (n, n, {})
    assert (delivered, lost, dups) == (n, 0, 0)
    assert all(s.status == 503 for s in during)
    assert any(s.status == 413 for s in after), "the backlog must reach the proxy's limit"
    # learned: once a request was stored, none is refused for its size again
    first_ok = next(k for k, s in enumerate(after) if s.stored)
    assert all(s.status != 413 for s in after[first_ok:]), [(s.status, s.wire_bytes) for s in after]
    assert all(s.wire_bytes <= limit for s in after if s.stored)
    assert http.get("split", 0) >= 1


# ======================================================= row 3: OTLP/gRPC, 4 MiB
@dataclass
class GrpcLogs:
    """A grpcio OTLP logs server (gRPC's default 4 MiB receive limit): records each call."""

    calls: list[tuple[float, int, list[int]]] = field(default_factory=list)  # at, bytes, ids
    cond: threading.Condition = field(default_factory=threading.Condition)
    port: int = 0

    def export(self, request: Any, _context: Any) -> Any:
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceResponse,
        )

        ids = otlp_ids(request.SerializeToString())
        with self.cond:
            self.calls.append((time.monotonic(), request.ByteSize(), ids))
            self.cond.notify_all()
        return ExportLogsServiceResponse()

    def start(self) -> Any:
        import grpc
        from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
            ExportLogsServiceRequest,
            ExportLogsServiceResponse,
        )

        handler = grpc.method_handlers_generic_handler(
            "opentelemetry.proto.collector.logs.v1.LogsService",
            {
                "Export": grpc.unary_unary_rpc_method_handler(
                    self.export,
                    request_deserializer=ExportLogsServiceRequest.FromString,
                    response_serializer=ExportLogsServiceResponse.SerializeToString,
                )
            },
        )
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        server.add_generic_rpc_handlers((handler,))
        self.port = server.add_insecure_port(f"127.0.0.1:{self.port}")
        server.start()
        return server

    def stored(self) -> list[int]:
        with self.cond:
            return [i for _, _, ids in self.calls for i in ids]


@pytest.mark.slow
def test_row3_otlp_grpc_after_an_outage_loses_nothing_at_the_default_4_mib_limit() -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc: 6,000 events of ~1.5 KB (9 MB) queue while
    nothing listens, then a grpcio server with the default 4 MiB receive limit starts on
    that port: every call fits, every event arrives exactly once."""
    n = 6000
    logs = GrpcLogs()
    logs.start().stop(grace=None)  # a port nothing listens on now: the outage
    env = {
        "NGLOGGER_SINKS": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{logs.port}",
    }
    server = None
    try:
        with env_pipeline(env) as pipeline:
            emit(0, pads(n, seed=3, low=700, high=800))
            require(lambda: sink_stats(pipeline).queued_events == n, 60.0)
            require(lambda: "UNAVAILABLE" in (sink_stats(pipeline).last_error or ""), 30.0)
            server = logs.start()
            recovered = time.monotonic()
            require(lambda: len(set(logs.stored())) >= n, 60.0)
            drained = time.monotonic() - recovered
            assert pipeline.flush(10.0)
            stats = sink_stats(pipeline)
            http = the_sink(pipeline).http_stats()
    finally:
        if server is not None:
            server.stop(grace=None)
    stored = logs.stored()
    counts = Counter(stored)
    first = min(at for at, _, ids in logs.calls if ids) - recovered
    record(
        Figures(
            "3 OTLP/gRPC after an outage, 4 MiB limit",
            n,
            len(set(counts) & set(range(n))),
            len(set(range(n)) - set(counts)),
            dict(stats.dropped),
            len(logs.calls),
            sum(c - 1 for c in counts.values()),
            first,
            {
                "largest call": f"{max(b for _, b, _ in logs.calls) / MiB:.2f} MiB",
                "UNAVAILABLE": http.get("grpc_UNAVAILABLE", 0),
                "RESOURCE_EXHAUSTED": http.get("grpc_RESOURCE_EXHAUSTED", 0),
                "backlog drained": f"{drained:.1f} s",
            },
        )
    )
    accounted(stats)
    assert (stats.accepted, stats.exported, dict(stats.dropped)) == (n, n, {})
    assert sorted(stored) == list(range(n))  # each exactly once
    assert max(b for _, b, _ in logs.calls) < 4 * MiB
    assert http.get("grpc_RESOURCE_EXHAUSTED", 0) == 0


# ============================================= row 4: Elasticsearch per-item results
ES_BUSY = (
    "es_rejected_execution_exception",
    (
        "rejected execution of coordinating operation [coordinating_and_primary_bytes="
        "104857600, replica_bytes=0, all_bytes=104857600, coordinating_operation_bytes=52428, "
        "max_coordinating_and_primary_bytes=104857600]"
    ),
)
ES_BAD = (
    "document_parsing_exception",
    (
        "[1:87] failed to parse field [n] of type [long] in document with id 'hAZ2k5MBt'. "
        "Preview of field's value: 'not a number'"
    ),
)


def elasticsearch_bulk() -> Any:
    """Bulk items: ids ending in 3 answered 429 the first time only; ending in 7, 400."""
    busy_once: set[int] = set()

    def behave(request: Request, ids: list[int]) -> tuple[Any, list[int]]:
        assert request.path.startswith("/logs-answers-default/_bulk?filter_path=")
        statuses: list[int] = []
        reasons: list[tuple[str, str] | None] = []
        stored = []
        for doc in bulk_documents(request.body):
            i = int(doc["id"])  # type: ignore[call-overload]
            if i % 10 == 7:
                statuses.append(400)
                reasons.append(ES_BAD)
            elif i % 10 == 3 and i not in busy_once:
                busy_once.add(i)
                statuses.append(429)
                reasons.append(ES_BUSY)
            else:
                statuses.append(201)
                reasons.append(None)
                stored.append(i)
        return bulk_reply(statuses, reasons), stored

    return behave


def run_elasticsearch(n: int) -> tuple[Ingest, SinkStats, dict[str, Any], float]:
    with Ingest(bulk_ids, elasticsearch_bulk()) as backend:
        env = {"NGLOGGER_SINKS": f"elasticsearch+{backend.url}/logs-answers-default"}
        with env_pipeline(env) as pipeline:
            started = time.monotonic()
            emit(0, pads(n, seed=4, low=50, high=100))
            assert pipeline.flush(30.0)
            stats = sink_stats(pipeline)
            http = the_sink(pipeline).http_stats()
    return backend, stats, http, started


def test_row4_elasticsearch_bulk_items_429_resent_400_rejected_exactly() -> None:
    """A bulk reply 200 with errors:true: the 10% of items answered 429 (once) are sent
    again and stored; the 10% answered 400 are counted rejected, exactly; nothing twice."""
    n = 500
    backend, stats, http, started = run_elasticsearch(n)
    bad = {i for i in range(n) if i % 10 == 7}
    busy = {i for i in range(n) if i % 10 == 3}
    delivered, lost, dups = lost_and_dups(backend, list(range(n)))
    sent = Counter(i for s in backend.seen() for i in s.ids)
    first = backend.first_stored_after(started)
    record(
        Figures(
            "4 Elasticsearch bulk: 10% 429 once, 10% 400",
            n,
            delivered,
            lost,
            dict(stats.dropped),
            len(backend.seen()),
            dups,
            None if first is None else first - started,
            {"item_retries": http.get("item_retries", 0), "last_error": stats.last_error},
        )
    )
    accounted(stats)
    assert (stats.accepted, stats.exported, dict(stats.dropped)) == (
        n,
        n - len(bad),
        {"rejected": len(bad)},
    )
    assert sorted(backend.stored()) == sorted(set(range(n)) - bad)  # stored exactly once
    assert (lost, dups) == (len(bad), 0)
    assert {i for i, c in sent.items() if c == 2} == busy  # the 429 items: sent again, once
    assert all(sent[i] == 1 for i in bad)  # a refused item is never sent again
    assert http["item_retries"] == len(busy)
    assert http["item_rejected"] == len(bad)


def test_row4_the_400_items_reason_is_the_sink_s_last_error() -> None:
    """The Elasticsearch module says the first refused item's ``error.type: reason`` is
    kept as the sink's ``last_error``."""
    _, stats, _, _ = run_elasticsearch(100)
    assert stats.dropped.get("rejected") == 10
    assert "document_parsing_exception" in (stats.last_error or ""), stats.last_error


# ============================================================ row 5: poison events
@pytest.mark.slow
def test_row5_poison_events_cost_only_themselves_within_the_bisect_bound() -> None:
    """5 events a generic endpoint refuses (400 for any request holding one) among 100
    sent as one batch: the 95 others stored once, the 5 counted rejected, and the extra
    requests stay within 2*ceil(log2 100) per refused event."""
    n = 100
    poison = {7, 23, 50, 51, 90}
    reason = b'{"error":"invalid event: field [pad] is not valid"}'

    def behave(_request: Request, ids: list[int]) -> tuple[Any, list[int]]:
        if poison.intersection(ids):
            return (400, {"Content-Type": "application/json"}, reason), []
        return OK, ids

    with Ingest(ndjson_ids, behave) as backend:
        env = {"NGLOGGER_SINKS": f"{backend.url}/ingest", "NGLOGGER_FLUSH_INTERVAL": "30s"}
        with env_pipeline(env) as pipeline:
            started = time.monotonic()
            emit(0, pads(n, seed=5, low=50, high=100))
            assert pipeline.flush(30.0)
            stats = sink_stats(pipeline)
            http = the_sink(pipeline).http_stats()
    seen = backend.seen()
    delivered, lost, dups = lost_and_dups(backend, list(range(n)))
    bound = len(poison) * 2 * math.ceil(math.log2(n))
    first = backend.first_stored_after(started)
    record(
        Figures(
            "5 5 poison events in 100 (400), generic",
            n,
            delivered,
            lost,
            dict(stats.dropped),
            len(seen),
            dups,
            None if first is None else first - started,
            {"extra requests": len(seen) - 1, "bound": bound, "batches": stats.batches},
        )
    )
    accounted(stats)
    assert len(seen[0].ids) == n  # one batch, one first request
    assert (stats.exported, dict(stats.dropped)) == (n - len(poison), {"rejected": len(poison)})
    assert sorted(backend.stored()) == sorted(set(range(n)) - poison)
    assert (lost, dups) == (len(poison), 0)
    assert len(seen) - 1 <= bound, len(seen)
    assert http.get("bisect", 0) >= 1
    assert "invalid event" in (stats.last_error or ""), stats.last_error


# ================================================================= row 6: Loki 400
LOKI_LIMIT = 16 * KiB  # an operator's max_line_size (nglogger's own line limit is 256,000)
LONG = (13, 23, 43, 63, 83)


@pytest.mark.parametrize(
    ("grouped", "equal"),
    [
        pytest.param(True, False, id="loki3-distinct-lengths"),
        pytest.param(
            True,
            True,
            id="loki3-equal-lengths",
        ),
        pytest.param(
            False,
            False,
            id="loki2-last-error-only",
        ),
    ],
)
def test_row6_loki_400_for_over_long_lines_counts_exactly_those_and_resends_nothing(
    grouped: bool, equal: bool
) -> None:
    """Loki with ``max_line_size: 16KB`` stores the valid lines of a push and answers 400
    naming the ones it ignored: exactly those count rejected, in one request."""
    n = 100
    pad_list = pads(n, seed=6, low=50, high=100)
    for k, i in enumerate(LONG):  # 20 KB lines: the same length, or each its own
        pad_list[i] = "f" * (2 * 10_000 if equal else 2 * (10_000 + 37 * k))
    with Ingest(loki_ids, loki_line_limit(LOKI_LIMIT, grouped=grouped)) as backend:
        env = {"NGLOGGER_SINKS": f"loki+{backend.url}", "NGLOGGER_FLUSH_INTERVAL": "30s"}
        with env_pipeline(env) as pipeline:
            started = time.monotonic()
            emit(0, pad_list)
            assert pipeline.flush(30.0)
            stats = sink_stats(pipeline)
    seen = backend.seen()
    delivered, lost, dups = lost_and_dups(backend, list(range(n)))
    first = backend.first_stored_after(started)
    record(
        Figures(
            f"6 Loki 400, 5 lines over 16 KB ({'Loki 3' if grouped else 'Loki 2'}, "
            f"{'equal' if equal else 'distinct'} lengths)",
            n,
            delivered,
            lost,
            dict(stats.dropped),
            len(seen),
            dups,
            None if first is None else first - started,
            {"exported (nglogger)": stats.exported},
        )
    )
    accounted(stats)
    assert [s.status for s in seen] == [400]  # one push, nothing resent
    assert (lost, dups) == (len(LONG), 0)
    assert sorted(backend.stored()) == sorted(set(range(n)) - set(LONG))
    assert (stats.exported, dict(stats.dropped)) == (n - len(LONG), {"rejected": len(LONG)})


# ============================================== row 7: said on stderr while running
def warning_backend(kind: str) -> tuple[Ingest, str, dict[str, Any], list[list[str]]]:
    """A backend refusing some events, the sink URI, the app's spec, and the lines expected
    on stderr (each: the words that pick it out, then the backend's reason)."""
    if kind == "rejected-400":

        def refuse(_request: Request, ids: list[int]) -> tuple[Any, list[int]]:
            if 5 in ids:
                body = b'{"error":"mapper_parsing_exception: field [pad] exceeds 32766 bytes"}'
                return (400, {"Content-Type": "application/json"}, body), []
            return OK, ids

        backend = Ingest(ndjson_ids, refuse)
        return (
            backend,
            f"{backend.url}/ingest",
            {"count": 20, "pad": [20, 40]},
            [["1 events rejected by the backend", "HTTP 400", "field [pad] exceeds 32766"]],
        )
    if kind == "elasticsearch-items":
        backend = Ingest(bulk_ids, elasticsearch_bulk())
        return (
            backend,
            f"elasticsearch+{backend.url}/logs-answers-default",
            {"count": 20, "pad": [20, 40]},
            [
                ["2 events rejected by the backend", "document_parsing_exception", "field [n]"],
                ["2 events to send again (the backend asked)", "es_rejected_execution_exception"],
            ],
        )
    # too-large-413: one event of ~60 KB (under max_field_length), 30 KB gzipped
    backend = Ingest(ndjson_ids, nginx_limit(16 * KiB))
    return (
        backend,
        f"{backend.url}/ingest",
        {"count": 20, "pad": [20, 40], "big": {"7": 30_000}},
        [["1 events dropped as too large", "HTTP 413", "413 Request Entity Too Large"]],
    )


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["rejected-400", "elasticsearch-items", "too-large-413"])
def test_row7_a_refusal_is_said_on_stderr_with_the_reason_while_the_app_runs(
    kind: str,
) -> None:
    """A real process configured by NGLOGGER_SINKS: when the backend starts refusing
    events, one line on stderr per refusal class says so with the backend's own reason,
    while the application is still running (it waits for a line on stdin to exit)."""
    backend, uri, spec, expected = warning_backend(kind)
    said: list[tuple[float, str] | None] = []
    with backend:
        env = clean_env({"NGLOGGER_SINKS": uri})
        with LiveProcess([*APP, json.dumps(spec)], env, ROOT) as app:
            for words in expected:
                said.append(
                    app.wait_line(
                        "stderr",
                        lambda line, first=words[0]: line.startswith("nglogger:") and first in line,
                        30.0,
                    )
                )
            alive = app.running()  # it cannot exit before it reads the line sent below
            report = app.wait_line("stdout", lambda text: text.startswith("{"), 30.0)
            app.send("exit")
            code = app.finish(30.0)
        stderr = app.text("stderr")
        seen = backend.seen()
    assert None not in said, stderr
    assert alive, "the warnings must come while the application runs"
    assert code == 0, stderr
    refused_at = min(s.at for s in seen if set(s.ids) - set(s.stored))
    for words, found in zip(expected, said, strict=True):
        assert found is not None
        at, line = found
        for word in words:
            assert word in line, line
        assert "undelivered" not in line  # not the shutdown summary: said when it happened
        assert at - refused_at < 5.0  # said as it started, not later
    assert report is not None
    [(_, stats)] = json.loads(report[1])["sinks"].items()
    delays = [f"{found[0] - refused_at:.2f} s" for found in said if found is not None]
    record(
        Figures(
            f"7 stderr warning: {kind} (subprocess)",
            spec["count"],
            len(set(backend.stored())),
            spec["count"] - len(set(backend.stored())),
            stats["dropped"],
            len(seen),
            backend.duplicates(),
            None,
            {"said after the refusal": ", ".join(delays)},
        )
    )
    assert sum(stats["dropped"].values()) >= 1


# ===================================================== row 8: stale keep-alive
def stale_policy(connection: int, number: int) -> Action:
    """Fresh connections are always answered; a reused one dies one of three ways."""
    if number == 0:
        return Action.ANSWER
    return (Action.ANSWER_THEN_CLOSE, Action.CLOSE, Action.RESET)[connection % 3]


def test_row8_keep_alive_connections_closed_or_reset_lose_nothing_and_cost_no_retry(
    capfd: pytest.CaptureFixture[str],
) -> None:
    """A server that closes a keep-alive connection between requests, or closes or
    resets it as the next request arrives (no answer): each request is resent at once
    on a fresh connection; nothing lost, nothing twice, no retry, no warning."""
    n = 60
    capfd.readouterr()
    with KeepAliveServer(stale_policy) as server:
        env = {"NGLOGGER_SINKS": f"{server.url}/ingest"}
        with env_pipeline(env) as pipeline:
            started = time.monotonic()
            for i in range(n):
                emit(i, ["x" * 40])
                assert pipeline.flush(10.0)
            stats = sink_stats(pipeline)
            sink = the_sink(pipeline)
            http = sink.http_stats()
            breaker = sink.breaker_state()
        answered = server.answered()
        actions = Counter(server.actions())
    assert server.errors == []
    err = capfd.readouterr().err
    stored = [i for h in answered for i in ndjson_ids(h.body)]
    counts = Counter(stored)
    killed = actions[Action.CLOSE] + actions[Action.RESET]
    record(
        Figures(
            "8 keep-alive closed between / closed or reset at arrival",
            n,
            len(set(counts)),
            n - len(set(counts)),
            dict(stats.dropped),
            sum(actions.values()),
            sum(c - 1 for c in counts.values()),
            min(h.at for h in answered) - started,
            {
                "closed at arrival": actions[Action.CLOSE],
                "reset at arrival": actions[Action.RESET],
                "closed after answer": actions[Action.ANSWER_THEN_CLOSE],
                "stale_resends": http.get("stale_resends", 0),
                "retries": http.get("retries", 0),
            },
        )
    )
    accounted(stats)
    assert (stats.exported, dict(stats.dropped)) == (n, {})
    assert sorted(stored) == list(range(n))  # each once
    assert actions[Action.CLOSE] >= 5
    assert actions[Action.RESET] >= 5
    assert actions[Action.ANSWER_THEN_CLOSE] >= 5
    assert http["stale_resends"] >= killed
    assert http.get("retries", 0) == 0
    assert http["budget"]["retries"] == 0
    assert breaker == "closed"
    assert "is failing" not in err, err
    assert "nglogger:" not in err, err


# ================================================== row 9: 30 s outage, defaults
@pytest.mark.slow
@pytest.mark.timeout(180)
def test_row9_back_within_seconds_after_a_30_s_outage_with_the_default_settings() -> None:
    """NGLOGGER_SINKS alone (every other setting its default), an app logging 20 events a
    second: 503 for 30 s, then healthy. During the outage at most one request per 2 s on
    average; the first delivery within 5 s of the recovery; the backlog within 10 s."""
    outage = 30.0
    with Ingest(ndjson_ids, lambda _r, ids: (OK, ids)) as backend:
        env = {"NGLOGGER_SINKS": f"{backend.url}/ingest"}
        with env_pipeline(env) as pipeline:
            stop = threading.Event()
            logged: list[int] = []

            def produce() -> None:
                while not stop.is_set():
                    LOG.info("event", id=len(logged), pad="y" * 200)
                    logged.append(len(logged))
                    stop.wait(0.05)

            producer = threading.Thread(target=produce, name="producer")
            producer.start()
            try:
                require(lambda: len(backend.stored()) >= 20, 10.0)  # healthy at first
                backend.set_behaviour(down)
                went_down = time.monotonic()
                hold(backend, went_down + outage)
                backlog = len(logged)  # logged before the recovery
                backend.set_behaviour(lambda _r, ids: (OK, ids))
                recovered = time.monotonic()
                assert backend.wait_until(
                    lambda: set(range(backlog)) <= set(backend.stored()), 20.0
                ), sink_stats(pipeline)
                drained = time.monotonic() - recovered
            finally:
                stop.set()
                producer.join(timeout=10)
            assert pipeline.flush(10.0)
            stats = sink_stats(pipeline)
    seen = backend.seen()
    during = [s for s in seen if went_down <= s.at < recovered]
    first = backend.first_stored_after(recovered)
    assert first is not None
    delivered, lost, dups = lost_and_dups(backend, logged)
    rate = len(during) / (recovered - went_down)
    record(
        Figures(
            "9 30 s outage (503), default settings",
            len(logged),
            delivered,
            lost,
            dict(stats.dropped),
            len(seen),
            dups,
            first - recovered,
            {
                "requests during outage": len(during),
                "per s": f"{rate:.2f}",
                "backlog": backlog,
                "backlog drained": f"{drained:.1f} s",
            },
        )
    )
    accounted(stats)
    assert rate <= 0.5, (len(during), recovered - went_down)
    assert first - recovered <= 5.0
    assert drained <= 10.0
    assert (lost, dups, dict(stats.dropped)) == (0, 0, {})


# =========================================== row 10: slower than the read timeout
@pytest.mark.slow
def test_row10_a_backend_slower_than_the_timeout_duplicates_at_most_one_request() -> None:
    """NGLOGGER_SINK_TIMEOUT=1s and a backend that stores each request as it arrives but
    answers after 1.5 s: nothing counted lost, and the only duplicates are the events of
    the one request whose answer came too late."""
    rounds, per_round = 3, 10

    def slow(_request: Request, ids: list[int]) -> tuple[Any, list[int]]:
        return Answer(200, [("Content-Type", "application/json")], b"{}", delay=1.5), ids

    with Ingest(ndjson_ids, slow) as backend:
        env = {"NGLOGGER_SINKS": f"{backend.url}/ingest", "NGLOGGER_SINK_TIMEOUT": "1s"}
        with env_pipeline(env) as pipeline:
            started = time.monotonic()
            ids: list[int] = []
            for r in range(rounds):
                ids += emit(r * per_round, ["z" * 50] * per_round)
                assert pipeline.flush(20.0)
            stats = sink_stats(pipeline)
            http = the_sink(pipeline).http_stats()
    seen = backend.seen()
    counts = Counter(backend.stored())
    twice = {i for i, c in counts.items() if c > 1}
    first = backend.first_stored_after(started)
    record(
        Figures(
            "10 backend 1.5 s, NGLOGGER_SINK_TIMEOUT=1s",
            len(ids),
            len(set(counts)),
            len(set(ids) - set(counts)),
            dict(stats.dropped),
            len(seen),
            sum(c - 1 for c in counts.values()),
            None if first is None else first - started,
            {
                "timeouts": http.get("timeouts", 0),
                "timeout_stretched": http.get("timeout_stretched", 0),
            },
        )
    )
    accounted(stats)
    assert (stats.exported, dict(stats.dropped)) == (len(ids), {})
    assert set(counts) == set(ids)
    assert max(counts.values()) <= 2
    # at most one request's worth: the duplicated events are those of one request
    assert any(twice <= set(s.ids) for s in seen), (twice, [s.ids for s in seen])
    assert http["timeouts"] >= 1  # the test did meet the timeout


# ========================================== row 11: the real OpenTelemetry Collector
def otelcol_binary() -> Path:
    from tests.collector.otelcol import CollectorUnavailable, find_binary

    try:
        return find_binary()
    except CollectorUnavailable as missing:
        pytest.skip(str(missing))


def limited_collector_config(collector: Any, export_url: str, limit: int = MiB) -> dict[str, Any]:
    config: dict[str, Any] = collector.config(export_url)
    http = config["receivers"]["otlp"]["protocols"]["http"]
    http["max_request_body_size"] = limit  # confighttp.ServerConfig
    return config


def post(url: str, body: bytes, headers: Mapping[str, str]) -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, dict(reply.headers.items()), reply.read()
    except urllib.error.HTTPError as refused:
        return refused.code, dict(refused.headers.items()), refused.read()


@pytest.mark.timeout(300)
def test_row11_what_the_collector_answers_for_a_body_over_max_request_body_size(
    tmp_path: Path,
) -> None:
    """The finding behind row 11: the Collector (confighttp ``max_request_body_size``)
    answers a body over its limit **400**, not 413, with a ``google.rpc.Status``
    {code: 3 INVALID_ARGUMENT, message: "http: request body too large"}, and the limit
    applies to the body *after* gzip is undone. nglogger reads 413 (or gRPC's "larger
    than max") as too large; this 400 is a refusal it bisects."""
    from google.rpc import status_pb2
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

    from tests.collector.otelcol import Capture, Collector

    message = ExportLogsServiceRequest()
    scope_logs = message.resource_logs.add().scope_logs.add()
    for i in range(1500):
        scope_logs.log_records.add().body.string_value = f"{i:06d}" + "x" * 1000
    body = message.SerializeToString()  # ~1.5 MB
    assert len(body) > 1 * MiB
    with Capture() as capture:
        collector = Collector(otelcol_binary(), tmp_path)
        collector.start(limited_collector_config(collector, capture.url))
        try:
            url = f"{collector.url}/v1/logs"
            plain = post(url, body, {"Content-Type": "application/x-protobuf"})
            zipped_body = gzip.compress(body)
            zipped = post(
                url,
                zipped_body,
                {"Content-Type": "application/x-protobuf", "Content-Encoding": "gzip"},
            )
            small = post(url, body[: 200 * KiB], {"Content-Type": "application/x-protobuf"})
        finally:
            collector.stop()
    for status, headers, reply in (plain, zipped):
        assert status == 400, (status, reply)
        assert headers["Content-Type"] == "application/x-protobuf"
        assert headers.get("Connection") == "close"
        refusal = status_pb2.Status.FromString(reply)
        assert (refusal.code, refusal.message) == (3, "http: request body too large")
    assert len(zipped_body) < 64 * KiB  # refused for what it inflates to
    assert small[0] != 413
    record(
        Figures(
            "11a Collector's answer above max_request_body_size",
            0,
            0,
            0,
            {},
            3,
            0,
            None,
            {
                "status": plain[0],
                "body": repr(plain[2]),
                "gzip body refused": f"{len(zipped_body)} B on the wire",
            },
        )
    )


@dataclass
class CollectorRun:
    """What one backlog through the limited Collector gave."""

    stats: SinkStats
    http: dict[str, Any]
    learned_cap: int | None
    ids: list[int]  # every record id the backend behind the Collector received
    arrived: bool  # every event nglogger counts exported reached that backend
    first_export: float | None  # seconds from the Collector's start to its first export
    drained: float  # seconds from its start until nglogger's queue was empty


def collector_backlog(tmp_path: Path, n: int, compression: str, limit: int = MiB) -> CollectorRun:
    """``n`` events of 1-3 KB queue while the Collector (``limit`` on bodies) is down;
    then it starts and the backlog drains through it to a capture server."""
    from support.otlp_values import attributes

    from tests.collector.otelcol import Capture, Collector

    def ids_at(capture: Capture) -> list[int]:
        return [
            attributes(record)["id"]
            for _, _, record in capture.records()
            if "id" in attributes(record)
        ]

    with Capture() as capture:
        collector = Collector(otelcol_binary(), tmp_path)
        env = {
            "NGLOGGER_SINKS": "otlp",
            "OTEL_EXPORTER_OTLP_ENDPOINT": collector.url,
            "OTEL_EXPORTER_OTLP_COMPRESSION": compression,
        }
        try:
            with env_pipeline(env) as pipeline:
                emit(0, pads(n, seed=11))
                require(lambda: sink_stats(pipeline).queued_events == n, 60.0)
                require(lambda: bool(sink_stats(pipeline).last_error), 30.0)
                collector.start(limited_collector_config(collector, capture.url, limit))
                recovered = time.monotonic()
                require(lambda: sink_stats(pipeline).queued_events == 0, 120.0)
                drained = time.monotonic() - recovered
                assert pipeline.flush(30.0)
                stats = sink_stats(pipeline)
                # what the Collector acknowledged reaches the backend behind it
                arrived = wait_for(lambda: len(set(ids_at(capture))) >= stats.exported, 60.0)
                sink = the_sink(pipeline)
                http = sink.http_stats()
                cap = sink.delivery.learned_cap
        finally:
            collector.stop()
        first = min((r.arrived for r in capture.requests), default=None)
        return CollectorRun(
            stats,
            http,
            cap,
            ids_at(capture),
            arrived,
            None if first is None else first - recovered,
            drained,
        )


@pytest.mark.slow
@pytest.mark.timeout(300)
@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_row11_the_real_collector_behind_a_1_mib_body_limit_after_an_outage_loses_nothing(
    tmp_path: Path, compression: str
) -> None:
    """OTEL_EXPORTER_OTLP_ENDPOINT at a Collector whose OTLP/HTTP receiver has
    ``max_request_body_size: 1 MiB``: 3,000 events of 1-3 KB (~6 MB) queue while the
    Collector is down, then it starts. The backlog's merged requests are refused 400
    "http: request body too large" (Go's MaxBytesReader, not a 413): read as "too large",
    they are split, never bisected, and the size is learned; what the Collector accepts
    reaches the backend behind it: every event, once."""
    n = 3000
    run = collector_backlog(tmp_path, n, compression)
    stats, http = run.stats, run.http
    counts = Counter(run.ids)
    record(
        Figures(
            f"11b real Collector, 1 MiB limit, after an outage (compression {compression})",
            n,
            len(set(counts)),
            n - len(set(counts) & set(range(n))),
            dict(stats.dropped),
            http.get("requests", 0),
            sum(c - 1 for c in counts.values()),
            run.first_export,
            {
                "400s": http.get("status_400", 0),
                "bisect": http.get("bisect", 0),
                "split": http.get("split", 0),
                "learned_cap": run.learned_cap,
                "backlog drained": f"{run.drained:.1f} s",
            },
        )
    )
    accounted(stats)
    assert run.arrived, (len(set(run.ids)), dict(stats.dropped))
    assert (stats.exported, dict(stats.dropped)) == (n, {})
    assert sorted(run.ids) == list(range(n))  # each exactly once
    assert http.get("status_400", 0) >= 1  # the limit was met, and answered 400
    assert http.get("split", 0) >= 1
    assert http.get("bisect", 0) == 0


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_row11_the_collector_s_body_limit_is_learned_like_a_413(tmp_path: Path) -> None:
    """The Collector's "request body too large" counts as a size answer: split, and the
    size learned so that later merged requests fit."""
    run = collector_backlog(tmp_path, 1500, "none")
    assert run.arrived
    assert run.http.get("split", 0) >= 1
    assert run.learned_cap is not None


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_row11_a_collector_body_limit_of_512_kib_after_an_outage_loses_nothing(
    tmp_path: Path,
) -> None:
    """The same backlog behind a Collector whose limit is 512 KiB: every event arrives,
    since each one alone is far under the limit (it lost 610 of 3,000 while the 400 was
    bisected: a size refusal never isolates a single event, so the allowance ran out)."""
    n = 3000
    run = collector_backlog(tmp_path, n, "none", limit=512 * KiB)
    stats = run.stats
    record(
        Figures(
            "11c real Collector, 512 KiB limit, after an outage",
            n,
            len(set(run.ids)),
            n - len(set(run.ids) & set(range(n))),
            dict(stats.dropped),
            run.http.get("requests", 0),
            len(run.ids) - len(set(run.ids)),
            run.first_export,
            {"400s": run.http.get("status_400", 0), "bisect": run.http.get("bisect", 0)},
        )
    )
    accounted(stats)
    assert dict(stats.dropped) == {}
    assert sorted(run.ids) == list(range(n))
