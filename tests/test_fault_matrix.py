"""Every HTTP sink through every network fault: sinks x FaultProxy modes, checked event by event.

Each case builds a real pipeline (``nglogger.configure``) whose only sink is one of
the HTTP sinks (generic NDJSON, JSON array, Datadog, Honeycomb, Loki,
Elasticsearch, OTLP protobuf, OTLP JSON) pointed at a :class:`support.faultproxy.FaultProxy`
in front of a loopback ingest server. The server speaks each backend's success
reply (Datadog 202, Honeycomb a per-event status array, Loki 204, an
Elasticsearch bulk reply, an empty ``ExportLogsServiceResponse``), decodes every
complete request of its wire format and records the ``id`` field of every event
it answered with a 2xx, so "delivered exactly once" is checked per event.

Every case starts healthy (10 events delivered, so a keep-alive connection is
pooled), then switches the proxy to one fault:

==============  ==================================================================
latency         50 ms per chunk each way: delivered, slower, no timeout or retry
black_hole      requests swallowed: timeouts counted, the sink queue stays bounded,
                the log calls stay fast and raise nothing, shutdown keeps its deadline
reset           an RST in the middle of the request body: retried, and once the
                proxy passes bytes again, delivered exactly once
slow_close      close-delimited replies whose connection close is held 0.5 s (longer
                than the read timeout): a 2xx is never sent twice
bandwidth       20 kB/s per direction: delivered, at least as slow as the bytes need
refuse          connections refused (a dead backend): events queue, and after the
                backend returns every one is delivered exactly once
==============  ==================================================================

Settings are small so the file runs in well under a minute and a half: timeouts
0.3 s, backoff 10-50 ms, breaker open 50-200 ms. The retry budget and attempt
limit are generous on purpose (the budget's own arithmetic is proven in
``test_http_sink_recovery.py``): here a short outage must cost no event at all, so
exact delivery can be asserted. Nothing sleeps bare; every wait polls a
predicate with a deadline.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.faultproxy import FaultProxy
from support.http import Answer, LoopbackServer, Request
from support.waiting import wait_for as wait_until

import nglogger
from nglogger import Config, SinkStats
from nglogger._delivery.retry import BreakerState, CircuitBreaker, RetryBudget, RetryPolicy
from nglogger.sinks.datadog import DatadogSink
from nglogger.sinks.elasticsearch import ElasticsearchSink
from nglogger.sinks.honeycomb import HoneycombSink
from nglogger.sinks.http import HttpSink, JsonHttpSink
from nglogger.sinks.loki import LokiSink
from nglogger.sinks.otlp import OtlpLogsSink

pb = pytest.importorskip("opentelemetry.proto.collector.logs.v1.logs_service_pb2")

LOOPBACK = "127.0.0.1"
TIMEOUT = 0.3  # connect and read timeout of every sink
LATENCY = 0.05  # per chunk, each way: a request and its reply stay well under TIMEOUT
SLOW_CLOSE = 0.5  # longer than TIMEOUT: a close-delimited reply body stalls past it
RATE = 20_000  # bytes per second per direction
QUEUE = 50  # sink queue limit in events
BATCH = 10  # events per batch
SHUTDOWN = 0.5  # shutdown timeout asked for while a request hangs in a black hole
SHUTDOWN_SLACK = 0.5

KINDS = (
    "ndjson",
    "json",
    "datadog",
    "honeycomb",
    "loki",
    "elasticsearch",
    "otlp_protobuf",
    "otlp_json",
)
MODES = ("latency", "black_hole", "reset", "slow_close", "bandwidth", "refuse")
FAULT_REASONS = frozenset({"breaker_open", "sink_queue_full", "shutdown_deadline"})

LOG = nglogger.get_logger("matrix")


def pad(i: int) -> str:
    """128 hex digits that differ per event, so gzip cannot make the bandwidth limit moot."""
    return hashlib.sha256(b"%d" % i).hexdigest() * 2


# ------------------------------------------------------------------ wire formats
def _ids_ndjson(body: bytes) -> list[int]:
    return [json.loads(line)["id"] for line in body.splitlines() if line]


def _ids_array(body: bytes) -> list[int]:
    return [entry["id"] for entry in json.loads(body)]


def _ids_honeycomb(body: bytes) -> list[int]:
    return [entry["data"]["id"] for entry in json.loads(body)]


def _ids_loki(body: bytes) -> list[int]:
    return [
        json.loads(line)["id"]
        for stream in json.loads(body)["streams"]
        for _ns, line in stream["values"]
    ]


def _ids_bulk(body: bytes) -> list[int]:
    lines = [line for line in body.splitlines() if line]
    assert all(json.loads(action) == {"create": {}} for action in lines[0::2])
    return [json.loads(doc)["id"] for doc in lines[1::2]]


def _ids_otlp_protobuf(body: bytes) -> list[int]:
    message = pb.ExportLogsServiceRequest.FromString(body)
    return [
        next(kv.value.int_value for kv in record.attributes if kv.key == "id")
        for resource_logs in message.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    ]


def _ids_otlp_json(body: bytes) -> list[int]:
    return [
        int(next(kv["value"]["intValue"] for kv in record["attributes"] if kv["key"] == "id"))
        for resource_logs in json.loads(body)["resourceLogs"]
        for scope_logs in resource_logs["scopeLogs"]
        for record in scope_logs["logRecords"]
    ]


Reply = tuple[int, str, bytes]  # status, content type, body


def _reply_ok(_n: int) -> Reply:
    return 200, "", b""


def _reply_datadog(_n: int) -> Reply:
    return 202, "application/json", b"{}"


def _reply_honeycomb(n: int) -> Reply:
    return 200, "application/json", json.dumps([{"status": 202}] * n).encode()


def _reply_loki(_n: int) -> Reply:
    return 204, "", b""


def _reply_bulk(n: int) -> Reply:
    items = [{"create": {"status": 201}}] * n
    return 200, "application/json", json.dumps({"errors": False, "items": items}).encode()


def _reply_otlp_protobuf(_n: int) -> Reply:
    return 200, "application/x-protobuf", pb.ExportLogsServiceResponse().SerializeToString()


def _reply_otlp_json(_n: int) -> Reply:
    return 200, "application/json", b"{}"


@dataclass(frozen=True)
class WireFormat:
    """How the ingest server reads one sink's requests and answers them."""

    path: str
    ids: Callable[[bytes], list[int]]
    reply: Callable[[int], Reply]


WIRE = {
    "ndjson": WireFormat("/ndjson", _ids_ndjson, _reply_ok),
    "json": WireFormat("/json", _ids_array, _reply_ok),
    "datadog": WireFormat("/api/v2/logs", _ids_array, _reply_datadog),
    "honeycomb": WireFormat("/1/batch/matrix", _ids_honeycomb, _reply_honeycomb),
    "loki": WireFormat("/loki/api/v1/push", _ids_loki, _reply_loki),
    "elasticsearch": WireFormat("/logs-nglogger-default/_bulk", _ids_bulk, _reply_bulk),
    "otlp_protobuf": WireFormat("/v1/logs", _ids_otlp_protobuf, _reply_otlp_protobuf),
    "otlp_json": WireFormat("/v1/logs", _ids_otlp_json, _reply_otlp_json),
}


# ------------------------------------------------------------------ the server
class Ingest:
    """A loopback ingest server for one wire format; records the ids of every 2xx request.

    Built on the shared loopback server (``support.http``), which counts requests cut
    short (``incomplete``) and handler errors (a decoding failure must fail the test,
    not scroll by).
    """

    def __init__(self, kind: str) -> None:
        self.wire = WIRE[kind]
        self.reply: Callable[[int], Reply] | None = None  # overrides the wire format's reply
        self.close_delimited = False
        self._cond = threading.Condition()
        self._ids: list[int] = []
        self._bodies: list[int] = []  # Content-Length of each complete request
        self._server = LoopbackServer(self._respond, join_handlers=True)
        self.port: int = self._server.port

    def _respond(self, request: Request) -> Answer:
        path = request.path.split("?", 1)[0]
        assert path == self.wire.path, path
        ids = self.wire.ids(request.body)
        status, content_type, reply = (self.reply or self.wire.reply)(len(ids))
        with self._cond:  # recorded before the client can see the answer
            self._ids.extend(ids)
            self._bodies.append(request.wire_bytes)
            self._cond.notify_all()
        headers = {"Content-Type": content_type} if content_type else {}
        return Answer(status, headers, reply, close_delimited=self.close_delimited)

    @property
    def handler_errors(self) -> int:
        return self._server.handler_errors

    @property
    def incomplete(self) -> int:
        return self._server.incomplete

    def delivered_ids(self) -> list[int]:
        with self._cond:
            return list(self._ids)

    def bodies(self) -> list[int]:
        with self._cond:
            return list(self._bodies)

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Wait until ``predicate()`` holds (re-checked on every request), with a deadline."""
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


# ------------------------------------------------------------------ the sinks
def make_sink(kind: str, base: str) -> HttpSink:
    """One sink of ``kind`` posting to ``base`` (the proxy), with fast real-time settings."""
    options: dict[str, Any] = {
        "connect_timeout": TIMEOUT,
        "retry": RetryPolicy(base=0.01, cap=0.05, max_attempts=1_000),
        # generous on purpose: a short outage must cost nothing (budgets: test_http_sink_recovery)
        "budget": RetryBudget(ratio=100.0, min_per_second=100.0),
        "breaker": CircuitBreaker(
            failure_threshold=3,
            open_duration=0.05,
            max_open_duration=0.2,
            rng=random.Random(7).random,
        ),
        "rng": random.Random(11).random,
        "batch_deadline": 10.0,
    }
    if kind.startswith("otlp"):
        protocol = "http/protobuf" if kind == "otlp_protobuf" else "http/json"
        return OtlpLogsSink(
            base + "/v1/logs",
            protocol=protocol,
            timeout=TIMEOUT,
            compression="gzip",
            resource={"service.name": "matrix"},
            **options,
        )
    options["timeout"] = TIMEOUT
    if kind == "ndjson":
        return HttpSink(base + "/ndjson", **options)
    if kind == "json":
        return JsonHttpSink(base + "/json", **options)
    if kind == "datadog":
        return DatadogSink(
            "test-api-key", url=base + "/api/v2/logs", hostname="test-host", **options
        )
    if kind == "honeycomb":
        return HoneycombSink("test-api-key", "matrix", api_host=base, **options)
    if kind == "loki":
        return LokiSink(base, **options)
    assert kind == "elasticsearch"
    return ElasticsearchSink(base, **options)


# ------------------------------------------------------------------ harness
@dataclass
class Case:
    """One sink behind the proxy in a running pipeline, and the ids logged so far."""

    kind: str
    server: Ingest
    proxy: FaultProxy
    sink: HttpSink
    pipeline: nglogger.Pipeline
    logged: list[int] = field(default_factory=list)

    def emit(self, count: int) -> list[int]:
        """Log ``count`` events with fresh ids (a log call never raises)."""
        first = len(self.logged)
        ids = list(range(first, first + count))
        for i in ids:
            LOG.info("event", id=i, pad=pad(i))
        self.logged.extend(ids)
        return ids

    def sink_stats(self) -> SinkStats:
        return self.pipeline.stats().sinks[self.sink.name]

    def http(self, name: str) -> int:
        value = self.sink.http_stats().get(name, 0)
        assert isinstance(value, int)
        return value


@pytest.fixture
def case(request: pytest.FixtureRequest) -> Iterator[Case]:
    """Server, proxy, sink and pipeline for ``request.param``; all torn down even on failure."""
    kind: str = request.param
    with contextlib.ExitStack() as stack:
        server = Ingest(kind)
        stack.callback(server.close)
        proxy = FaultProxy(server.port).start()
        stack.callback(proxy.close)
        sink = make_sink(kind, proxy.url(""))
        pipeline = nglogger.configure(
            Config(
                sinks=[sink],
                batch_max_events=BATCH,
                flush_interval=0.02,
                sink_queue_max_events=QUEUE,
                shutdown_timeout=2.0,
                report_interval=0,  # no drop-report event: every event carries an id
            )
        )
        stack.callback(pipeline.shutdown, 2.0)
        yield Case(kind, server, proxy, sink, pipeline)
    assert server.handler_errors == 0
    assert proxy.errors == []


def warm_up(c: Case) -> None:
    """Ten events delivered on a healthy path: a keep-alive connection is pooled."""
    ids = c.emit(BATCH)
    assert c.pipeline.flush(5.0)
    assert sorted(c.server.delivered_ids()) == ids


def check_invariants(c: Case, rejected: int = 0) -> SinkStats:
    """The accounting identities, pipeline-wide and for the sink (``rejected``: by the backend)."""
    stats = c.pipeline.stats()
    assert stats.submitted == stats.dispatched + stats.buffered_events + sum(stats.dropped.values())
    st = stats.sinks[c.sink.name]
    assert st.accepted == st.exported + sum(st.dropped.values()) + st.queued_events, st
    assert st.errors == 0, st.last_error
    delivered = c.server.delivered_ids()
    assert len(delivered) == len(set(delivered)), "an event reached the server twice"
    assert st.exported == len(delivered) - rejected  # exported means received and accepted
    return st


def check_exactly_once(c: Case) -> SinkStats:
    """Every event logged reached the server exactly once and nothing was dropped."""
    st = check_invariants(c)
    assert sorted(c.server.delivered_ids()) == c.logged
    assert dict(st.dropped) == {}
    assert st.queued_events == 0
    assert st.accepted == st.exported == len(c.logged)
    return st


def report(c: Case, mode: str, **figures: object) -> None:
    """One line per case with ``-s``: the figures behind the assertions."""
    shown = " ".join(
        f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items()
    )
    print(f"\n[{c.kind} x {mode}] {shown} http={c.sink.http_stats()}")


# ------------------------------------------------------------------ the modes
def run_latency(c: Case) -> None:
    c.proxy.latency(LATENCY)
    started = time.monotonic()
    c.emit(BATCH)
    assert c.pipeline.flush(5.0)
    elapsed = time.monotonic() - started
    st = check_exactly_once(c)
    assert elapsed >= 2 * LATENCY  # the request and its reply were both held
    assert c.http("timeout") == 0
    assert c.http("retries") == 0
    report(c, "latency", elapsed=elapsed, exported=st.exported)


def run_black_hole(c: Case) -> None:
    c.proxy.black_hole()
    started = time.monotonic()
    c.emit(200)  # while every request disappears
    calls = time.monotonic() - started
    assert calls < 1.0  # 200 log calls: the caller never waits for the sink
    assert wait_until(lambda: c.http("timeout") >= 2, 10.0)
    assert c.proxy.wait_for(lambda s: s.discarded > 0, 5.0)
    during = c.sink_stats()
    assert during.high_water_events <= QUEUE  # the backlog is bounded
    shutdown_started = time.monotonic()
    c.pipeline.shutdown(SHUTDOWN)
    took = time.monotonic() - shutdown_started
    st = check_invariants(c)
    assert took < SHUTDOWN + SHUTDOWN_SLACK
    assert sorted(c.server.delivered_ids()) == c.logged[:BATCH]  # only the warm-up arrived
    assert st.queued_events == 0
    assert set(st.dropped) <= FAULT_REASONS
    assert sum(st.dropped.values()) == 200
    assert st.dropped.get("shutdown_deadline", 0) >= 1  # the request in the hole, at least
    assert st.high_water_events <= QUEUE
    report(c, "black_hole", calls_s=calls, shutdown_s=took, dropped=dict(st.dropped))


def run_reset(c: Case) -> None:
    # Cut each request in the middle of its body: header size from the warm-up request.
    bodies = c.server.bodies()
    headers = (c.proxy.stats().to_upstream - sum(bodies)) // len(bodies)
    cut = headers + bodies[-1] // 2
    c.proxy.reset(after_bytes=cut, direction="request")
    c.emit(BATCH)
    assert c.server.wait_for(lambda: c.server.incomplete >= 1)  # a truncated body arrived
    assert wait_until(lambda: c.http("retries") >= 1)
    resets = c.proxy.stats().resets
    c.proxy.pass_through()
    assert c.pipeline.flush(5.0)
    st = check_exactly_once(c)
    assert resets >= 1
    assert c.sink.breaker.state is BreakerState.CLOSED
    report(c, "reset", cut=cut, resets=resets, incomplete=c.server.incomplete, exported=st.exported)


def run_slow_close(c: Case) -> None:
    c.server.close_delimited = True
    c.proxy.slow_close(SLOW_CLOSE)
    started = time.monotonic()
    c.emit(2 * BATCH)
    assert c.pipeline.flush(5.0)
    elapsed = time.monotonic() - started
    st = check_exactly_once(c)
    assert c.http("retries") == 0  # a 2xx whose close stalls counts as delivered
    report(c, "slow_close", elapsed=elapsed, exported=st.exported)


def run_bandwidth(c: Case) -> None:
    c.proxy.bandwidth(RATE)
    before = c.proxy.stats().to_upstream
    started = time.monotonic()
    c.emit(3 * BATCH)
    assert c.pipeline.flush(10.0)
    elapsed = time.monotonic() - started
    sent = c.proxy.stats().to_upstream - before
    check_exactly_once(c)
    assert elapsed >= sent / RATE  # the requests went no faster than the link allows
    assert c.http("timeout") == 0
    report(c, "bandwidth", elapsed=elapsed, bytes_up=sent, floor_s=sent / RATE)


def run_refuse(c: Case) -> None:
    c.proxy.refuse()
    c.emit(3 * BATCH)
    assert wait_until(lambda: c.http("connection_error") >= 2)
    queued = c.sink_stats().queued_events
    assert queued >= BATCH  # events wait in the sink queue while the backend is down
    c.proxy.pass_through()
    assert c.pipeline.flush(5.0)
    st = check_exactly_once(c)
    assert c.sink.breaker.state is BreakerState.CLOSED
    report(c, "refuse", queued_at_recovery=queued, exported=st.exported)


RUN = {
    "latency": run_latency,
    "black_hole": run_black_hole,
    "reset": run_reset,
    "slow_close": run_slow_close,
    "bandwidth": run_bandwidth,
    "refuse": run_refuse,
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", KINDS, indirect=True)
@pytest.mark.slow
def test_sink_survives_fault(case: Case, mode: str) -> None:
    """Each HTTP sink keeps exact accounting and delivers exactly once through each proxy fault."""
    warm_up(case)
    RUN[mode](case)


# ------------------------------------------------------------ per-event results
def _honeycomb_one_rejected(n: int) -> Reply:
    results = [{"status": 202}] * (n - 1) + [{"status": 400, "error": "too many columns"}]
    return 200, "application/json", json.dumps(results).encode()


def _bulk_one_rejected(n: int) -> Reply:
    items = [{"create": {"status": 201}}] * (n - 1) + [{"create": {"status": 400}}]
    return 200, "application/json", json.dumps({"errors": True, "items": items}).encode()


@pytest.mark.parametrize(
    ("case", "reply"),
    [("honeycomb", _honeycomb_one_rejected), ("elasticsearch", _bulk_one_rejected)],
    indirect=["case"],
    ids=["honeycomb", "elasticsearch"],
)
def test_per_event_rejections_survive_a_slow_close(
    case: Case, reply: Callable[[int], Reply]
) -> None:
    """A per-event rejection in a complete reply whose connection close stalls is counted rejected."""
    # Regression: the transport dropped the body it had read when the read then failed
    # (the stalled close), so these events were counted exported; fixed in 1c939c7.
    warm_up(case)
    case.server.reply = reply
    case.server.close_delimited = True
    case.proxy.slow_close(SLOW_CLOSE)
    case.emit(BATCH)
    assert case.pipeline.flush(5.0)
    st = check_invariants(case, rejected=1)
    assert dict(st.dropped) == {"rejected": 1}
    assert st.exported == 2 * BATCH - 1
