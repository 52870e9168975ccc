"""OTLP/gRPC: nglogger's otlp+grpc sink against a real grpcio server on 127.0.0.1.

The server implements ``LogsService/Export`` with opentelemetry-proto's messages and
answers from a script (a status code, ``google.rpc.RetryInfo`` built with
googleapis-common-protos, a partial success, a stall), so each OTLP failure rule is
exercised on the wire: retryable codes, RetryInfo, RESOURCE_EXHAUSTED without it,
non-retryable codes, per-call deadlines, metadata, gzip, TLS and mTLS, close during a
call. Configuration from the environment (``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``...) is
checked through the public API.
"""

from __future__ import annotations

import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from support.waiting import require

import nglogger
from nglogger import Batch, Config, ConfigError
from nglogger.sinks.otlp_grpc import GrpcTransport, OtlpGrpcSink, retry_delay

DEADLINE = 30.0


@dataclass
class Call:
    request: ExportLogsServiceRequest
    metadata: dict[str, str]
    at: float


Answer = Callable[[grpc.ServicerContext], ExportLogsServiceResponse]


def ok(_context: grpc.ServicerContext) -> ExportLogsServiceResponse:
    return ExportLogsServiceResponse()


def fail(code: grpc.StatusCode, retry_after: float | None = None, details: str = "no") -> Answer:
    """An answer aborting with ``code`` (and RetryInfo in the status details)."""

    def answer(context: grpc.ServicerContext) -> ExportLogsServiceResponse:
        if retry_after is not None:
            info = error_details_pb2.RetryInfo(
                retry_delay=duration_pb2.Duration(
                    seconds=int(retry_after), nanos=int(retry_after % 1 * 1e9)
                )
            )
            status = status_pb2.Status(code=code.value[0], message=details)
            status.details.add().Pack(info)
            context.set_trailing_metadata(
                (("grpc-status-details-bin", status.SerializeToString()),)
            )
        context.abort(code, details)
        raise AssertionError("unreachable")

    return answer


@dataclass
class Server:
    """A gRPC OTLP logs server answering each call with the next scripted answer (then OK)."""

    port: int = 0
    calls: list[Call] = field(default_factory=list)
    script: list[Answer] = field(default_factory=list)
    cond: threading.Condition = field(default_factory=threading.Condition)

    def export(
        self, request: ExportLogsServiceRequest, context: grpc.ServicerContext
    ) -> ExportLogsServiceResponse:
        with self.cond:
            self.calls.append(Call(request, dict(context.invocation_metadata()), time.monotonic()))
            answer = self.script.pop(0) if self.script else ok
            self.cond.notify_all()
        return answer(context)

    def wait_calls(self, n: int) -> list[Call]:
        with self.cond:
            assert self.cond.wait_for(lambda: len(self.calls) >= n, DEADLINE), self.calls
            return list(self.calls)

    def records(self) -> list[Any]:
        return [
            record
            for call in self.calls
            for resource_logs in call.request.resource_logs
            for scope_logs in resource_logs.scope_logs
            for record in scope_logs.log_records
        ]


def _start(
    server: Server,
    credentials: grpc.ServerCredentials | None = None,
    *,
    max_receive: int | None = None,
    port: int = 0,
) -> grpc.Server:
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.logs.v1.LogsService",
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                server.export,
                request_deserializer=ExportLogsServiceRequest.FromString,
                response_serializer=ExportLogsServiceResponse.SerializeToString,
            )
        },
    )
    options = [] if max_receive is None else [("grpc.max_receive_message_length", max_receive)]
    grpc_server = grpc.server(futures.ThreadPoolExecutor(max_workers=4), options=options)
    grpc_server.add_generic_rpc_handlers((handler,))
    if credentials is None:
        server.port = grpc_server.add_insecure_port(f"127.0.0.1:{port}")
    else:
        server.port = grpc_server.add_secure_port(f"127.0.0.1:{port}", credentials)
    grpc_server.start()
    return grpc_server


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    running = _start(state)
    try:
        yield state
    finally:
        running.stop(grace=None)


def batch_of(*events: bytes) -> Batch:
    return Batch.from_events(list(events))


def event(i: int, **fields: Any) -> bytes:
    import orjson

    doc = {"timestamp": "2026-12-01T10:00:00.000001Z", "level": "info", "logger": "t"}
    return orjson.dumps({**doc, "message": f"m{i}", "i": i, **fields})


def sink_for(server: Server, **options: Any) -> OtlpGrpcSink:
    options.setdefault("retry", nglogger.RetryPolicy(base=0.01, cap=0.05))
    options.setdefault("budget", nglogger.RetryBudget(ratio=1.0, min_per_second=100.0))
    return OtlpGrpcSink(f"http://127.0.0.1:{server.port}", **options)


# --------------------------------------------------------------------------- delivery


def test_records_and_metadata_arrive(server: Server) -> None:
    """One Export call per batch: the records as over HTTP, headers as metadata."""
    sink = sink_for(server, headers={"Authorization": "Bearer t0ken", "x-tenant": "7"})
    try:
        outcome = sink.write(batch_of(event(1, user="ana"), event(2)))
    finally:
        sink.close()
    assert (2, {}) == (outcome.exported, dict(outcome.dropped))
    [call] = server.wait_calls(1)
    assert "Bearer t0ken" == call.metadata["authorization"]
    assert "7" == call.metadata["x-tenant"]
    assert "nglogger" in call.metadata["user-agent"]
    assert ["m1", "m2"] == [r.body.string_value for r in server.records()]
    [user] = [kv for kv in server.records()[0].attributes if kv.key == "user"]
    assert "ana" == user.value.string_value
    assert {"grpc_OK": 1} == {k: v for k, v in sink.http_stats().items() if k.startswith("grpc_")}


class ByteCounter:
    """A TCP forwarder on 127.0.0.1 counting the bytes the client sends."""

    def __init__(self, target_port: int) -> None:
        self.sent = 0
        self._target = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._stop = False
        self._acceptor = threading.Thread(target=self._accept, daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self._target))
            threading.Thread(target=self._pipe, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, False), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket, count: bool) -> None:
        try:
            while data := src.recv(65536):
                if count:
                    self.sent += len(data)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    def close(self) -> None:
        self._stop = True
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept()
        except OSError:
            pass
        self._listener.close()
        self._acceptor.join(DEADLINE)
        assert not self._acceptor.is_alive()


@pytest.mark.parametrize("compression", ["gzip", "none"])
def test_gzip_compresses_the_message_on_the_wire(server: Server, compression: str) -> None:
    """compression=gzip: gRPC's message compression (the bytes on the wire shrink)."""
    counter = ByteCounter(server.port)
    sink = OtlpGrpcSink(f"http://127.0.0.1:{counter.port}", compression=compression)
    events = [event(i, pad="x" * 20_000) for i in range(10)]
    try:
        assert 10 == sink.write(batch_of(*events)).exported
    finally:
        sink.close()
        counter.close()
    assert [f"m{i}" for i in range(10)] == [r.body.string_value for r in server.records()]
    if compression == "gzip":
        assert counter.sent < 20_000, counter.sent
    else:
        assert counter.sent > 200_000, counter.sent


def test_partial_success_counts_rejected_records(server: Server) -> None:
    """partial_success.rejected_log_records are dropped ``rejected``, never retried."""

    def partial(_context: grpc.ServicerContext) -> ExportLogsServiceResponse:
        reply = ExportLogsServiceResponse()
        reply.partial_success.rejected_log_records = 2
        reply.partial_success.error_message = "too old"
        return reply

    server.script.append(partial)
    sink = sink_for(server)
    try:
        outcome = sink.write(batch_of(event(1), event(2), event(3)))
    finally:
        sink.close()
    assert (1, {"rejected": 2}) == (outcome.exported, dict(outcome.dropped))
    assert 1 == len(server.calls)
    assert 2 == sink.http_stats()["rejected_log_records"]


# --------------------------------------------------------------------------- failures


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.ABORTED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DATA_LOSS,
    ],
)
def test_retryable_codes_are_retried(server: Server, code: grpc.StatusCode) -> None:
    """The OTLP specification's retryable codes: the same request again, then delivered."""
    server.script.extend([fail(code), fail(code)])
    sink = sink_for(server)
    try:
        outcome = sink.write(batch_of(event(1)))
    finally:
        sink.close()
    assert (1, {}) == (outcome.exported, dict(outcome.dropped))
    calls = server.wait_calls(3)
    assert 3 == len(calls)
    assert calls[0].request == calls[2].request
    stats = sink.http_stats()
    assert (2, 1, 2) == (stats[f"grpc_{code.name}"], stats["grpc_OK"], stats["retries"])
    assert sink.last_error is not None
    assert sink.last_error.startswith(f"gRPC {code.name}: no")


@pytest.mark.parametrize(
    "code",
    [
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.INTERNAL,
        grpc.StatusCode.RESOURCE_EXHAUSTED,  # without RetryInfo
    ],
)
def test_other_codes_are_not_retried(server: Server, code: grpc.StatusCode) -> None:
    """Any other code (RESOURCE_EXHAUSTED without RetryInfo too): dropped ``rejected`` at once."""
    server.script.append(fail(code))
    sink = sink_for(server)
    try:
        outcome = sink.write(batch_of(event(1), event(2)))
    finally:
        sink.close()
    assert (0, {"rejected": 2}) == (outcome.exported, dict(outcome.dropped))
    assert 1 == len(server.calls)


@pytest.mark.slow
def test_retry_info_is_honoured_for_resource_exhausted(server: Server) -> None:
    """RESOURCE_EXHAUSTED with RetryInfo(1.2 s): retried, not before the server's delay."""
    server.script.append(fail(grpc.StatusCode.RESOURCE_EXHAUSTED, retry_after=1.2))
    sink = sink_for(server)
    try:
        outcome = sink.write(batch_of(event(1)))
    finally:
        sink.close()
    assert (1, {}) == (outcome.exported, dict(outcome.dropped))
    first, second = server.wait_calls(2)
    assert second.at - first.at >= 1.2  # RetryInfo rounded up to whole seconds: 2 s


def test_retry_delay_reads_the_official_messages() -> None:
    """The trailer reader agrees with googleapis-common-protos' Status and RetryInfo."""
    status = status_pb2.Status(code=8, message="slow down")
    status.details.add().Pack(error_details_pb2.DebugInfo(detail="x"))
    assert retry_delay(status.SerializeToString()) is None
    status.details.add().Pack(
        error_details_pb2.RetryInfo(retry_delay=duration_pb2.Duration(seconds=3, nanos=5 * 10**8))
    )
    assert 3.5 == retry_delay(status.SerializeToString())
    assert retry_delay(b"\x1a\xff") is None  # truncated: no delay, no exception
    assert retry_delay(b"") is None


def test_per_call_timeout_is_a_retried_deadline(server: Server) -> None:
    """A server slower than the timeout: DEADLINE_EXCEEDED on the client, retried, delivered."""
    release = threading.Event()

    def stall(_context: grpc.ServicerContext) -> ExportLogsServiceResponse:
        release.wait(DEADLINE)
        return ExportLogsServiceResponse()

    server.script.append(stall)
    sink = sink_for(server, timeout=0.3)
    try:
        outcome = sink.write(batch_of(event(1)))
    finally:
        release.set()
        sink.close()
    assert (1, {}) == (outcome.exported, dict(outcome.dropped))
    stats = sink.http_stats()
    assert 1 == stats["timeout"]
    assert 1 == stats["grpc_DEADLINE_EXCEEDED"]


def test_close_interrupts_a_call_in_flight(server: Server) -> None:
    """close() from another thread cancels the call; write returns with the batch counted."""
    release = threading.Event()

    def stall(_context: grpc.ServicerContext) -> ExportLogsServiceResponse:
        release.wait(DEADLINE)
        return ExportLogsServiceResponse()

    server.script.append(stall)
    sink = sink_for(server, timeout=DEADLINE)
    result: list[Any] = []
    writer = threading.Thread(target=lambda: result.append(sink.write(batch_of(event(1)))))
    writer.start()
    server.wait_calls(1)
    sink.close()
    writer.join(DEADLINE)
    release.set()
    assert not writer.is_alive()
    [outcome] = result
    assert (0, {"shutdown_deadline": 1}) == (outcome.exported, dict(outcome.dropped))


def test_nothing_listening_is_unavailable_and_counted() -> None:
    """No server: UNAVAILABLE, retried within the policy, then dropped retries_exhausted."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sink = OtlpGrpcSink(
        f"http://127.0.0.1:{port}",
        retry=nglogger.RetryPolicy(base=0.01, cap=0.02, max_attempts=3),
        budget=nglogger.RetryBudget(ratio=1.0, min_per_second=100.0),
    )
    try:
        outcome = sink.write(batch_of(event(1)))
    finally:
        sink.close()
    # Retries used up while the backend is down: the batch goes back to the sink's queue.
    assert (0, {}) == (outcome.exported, dict(outcome.dropped))
    assert outcome.requeue is not None
    assert 1 == outcome.requeue.count
    assert 3 == sink.http_stats()["grpc_UNAVAILABLE"]


# --------------------------------------------------------------------------- TLS


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate (openssl)."""
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out",
             "ca.pem", "-days", "2", "-subj", "/CN=test-ca", cwd=d)  # fmt: skip
    (d / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    for name in ("server", "client"):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                 f"{name}.csr", "-subj", f"/CN={name}", cwd=d)  # fmt: skip
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", "san.ext",
                 cwd=d)  # fmt: skip
    return d


@pytest.mark.slow
@pytest.mark.parametrize("mutual", [False, True])
def test_tls_with_the_configured_ca_and_client_certificate(
    pki: Path, monkeypatch: pytest.MonkeyPatch, mutual: bool
) -> None:
    """otlp+grpcs:// verifies the server with OTEL_EXPORTER_OTLP_CERTIFICATE; mTLS with the key."""
    credentials = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())],
        root_certificates=(pki / "ca.pem").read_bytes() if mutual else None,
        require_client_auth=mutual,
    )
    state = Server()
    running = _start(state, credentials)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", str(pki / "ca.pem"))
    if mutual:
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_LOGS_CLIENT_KEY", str(pki / "client.key"))
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE", str(pki / "client.pem"))
    try:
        nglogger.configure(sinks=[f"otlp+grpcs://127.0.0.1:{state.port}"], flush_interval=0.05)
        nglogger.get_logger("tls").info("secret stuff", i=1)
        assert nglogger.flush(DEADLINE)
        [stats] = nglogger.stats().sinks.values()
        assert (1, {}) == (stats.exported, dict(stats.dropped))
        assert ["secret stuff"] == [r.body.string_value for r in state.records()]
    finally:
        nglogger.shutdown(timeout=2.0)
        running.stop(grace=None)


def test_tls_without_the_ca_fails_verification(pki: Path) -> None:
    """A server certificate from an unknown CA: no delivery, counted, no plaintext fallback."""
    credentials = grpc.ssl_server_credentials(
        [((pki / "server.key").read_bytes(), (pki / "server.pem").read_bytes())]
    )
    state = Server()
    running = _start(state, credentials)
    sink = OtlpGrpcSink(
        f"https://127.0.0.1:{state.port}",
        retry=nglogger.RetryPolicy(base=0.01, cap=0.02, max_attempts=2),
    )
    try:
        outcome = sink.write(batch_of(event(1)))
    finally:
        sink.close()
        running.stop(grace=None)
    assert 0 == outcome.exported
    requeued = outcome.requeue.count if outcome.requeue is not None else 0
    assert 1 == sum(outcome.dropped.values()) + requeued
    assert [] == state.calls
    assert sink.http_stats()["grpc_UNAVAILABLE"] >= 1


# --------------------------------------------------------------------------- configuration


def _resolved(env: dict[str, str], uri: str = "otlp") -> OtlpGrpcSink | Any:
    from nglogger.sinks import resolve_sink

    sink = resolve_sink(uri, Config(sinks=[uri], sink_env=env))
    sink.close()
    return sink


@pytest.mark.parametrize(
    ("env", "uri", "target", "secure"),
    [
        ({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "otlp", "localhost:4317", False),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:9"},
            "otlp",
            "c:9",  # as-is: gRPC has no /v1/logs path
            False,
        ),
        (
            {
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT": "https://c:4317",
            },
            "otlp",
            "c:4317",
            True,
        ),
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_INSECURE": "false"},
            "otlp",
            "localhost:4317",
            True,
        ),
        ({}, "otlp+grpc://h:4317?timeout=1500&compression=gzip", "h:4317", False),
        ({"OTEL_EXPORTER_OTLP_INSECURE": "true"}, "otlp+grpcs://h:4317", "h:4317", True),
    ],
)
def test_grpc_from_the_environment_and_uris(
    env: dict[str, str], uri: str, target: str, secure: bool
) -> None:
    """PROTOCOL=grpc (the logs variable winning) and otlp+grpc(s):// build the gRPC sink."""
    sink = _resolved(env, uri)
    assert isinstance(sink, OtlpGrpcSink)
    transport = sink._transport
    assert isinstance(transport, GrpcTransport)
    assert (target, secure) == (transport.target, transport.secure)
    if "timeout=1500" in uri:
        assert (1.5, "gzip") == (transport.timeout, sink.settings.compression)


def test_an_http_uri_stays_http_when_the_environment_says_grpc() -> None:
    """OTEL_EXPORTER_OTLP_PROTOCOL=grpc is for the otlp URI; otlp+http:// speaks OTLP/HTTP."""
    from nglogger.sinks.otlp import OtlpLogsSink

    sink = _resolved({"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, "otlp+http://h:4318")
    assert type(sink) is OtlpLogsSink
    assert ("http://h:4318/v1/logs", "http/protobuf") == (sink.url, sink.protocol)


@pytest.mark.parametrize(
    ("env", "uri", "message"),
    [
        (
            {"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_EXPORTER_OTLP_INSECURE": "maybe"},
            "otlp",
            "OTEL_EXPORTER_OTLP_INSECURE='maybe'",
        ),
        (
            {"OTEL_EXPORTER_OTLP_CERTIFICATE": "/nonexistent/ca.pem"},
            "otlp+grpcs://h:1",
            "OTEL_EXPORTER_OTLP_CERTIFICATE='/nonexistent/ca.pem'",
        ),
        (
            {"OTEL_EXPORTER_OTLP_CLIENT_KEY": "/nonexistent/k.pem"},
            "otlp+grpcs://h:1",
            "OTEL_EXPORTER_OTLP_CLIENT_KEY='/nonexistent/k.pem'",
        ),
    ],
)
def test_bad_grpc_settings_name_the_variable(env: dict[str, str], uri: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        _resolved(env, uri)
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("uri", "hint"),
    [
        ("otlp+grpc://h:4317/v1/logs", "OTLP/gRPC takes no path"),
        (
            "otlp+grpc://h:4317?protocol=http/json",
            "OTLP/HTTP on a gRPC URI; accepted: otlp+http(s)",
        ),
        ("otlp+http://h:1?protocol=grpc", "OTLP/gRPC is otlp+grpc://host:4317"),
        ("otlp+grpc://user:pw@h:1", "credentials in the URI; accepted: headers in OTEL_EXPORTER"),
    ],
)
def test_bad_grpc_uris(uri: str, hint: str) -> None:
    with pytest.raises(ConfigError) as info:
        Config(sinks=[uri])
    assert hint in str(info.value)
    assert "pw" not in str(info.value)


def test_grpc_sink_without_grpcio_is_a_clear_config_error() -> None:
    """Without grpcio installed, the gRPC sink names the extra to install."""
    code = (
        "import sys; sys.modules['grpc'] = None\n"
        "import nglogger\n"
        "try:\n"
        "    nglogger.configure(sinks=['otlp+grpc://127.0.0.1:4317'])\n"
        "except nglogger.ConfigError as e:\n"
        "    print(e)\n"
    )
    import sys

    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert "pip install 'nglogger[grpc]'" in out.stdout


@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_exports_over_its_own_channel(server: Server) -> None:
    """After fork the child opens a new channel and a new service.instance.id; both export."""
    import os

    nglogger.configure(sinks=[f"otlp+grpc://127.0.0.1:{server.port}"], flush_interval=0.05)
    log = nglogger.get_logger("fork")
    log.info("parent before")
    assert nglogger.flush(DEADLINE)
    pid = os.fork()
    if pid == 0:  # the child: report through the exit code only
        code = 1
        try:
            log.info("child")
            code = 0 if nglogger.flush(DEADLINE) else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert 0 == os.waitstatus_to_exitcode(status)
    log.info("parent after")
    assert nglogger.flush(DEADLINE)
    server.wait_calls(3)
    by_body: dict[str, str] = {}
    for call in server.calls:
        for resource_logs in call.request.resource_logs:
            attrs = {kv.key: kv.value.string_value for kv in resource_logs.resource.attributes}
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    by_body[record.body.string_value] = attrs["service.instance.id"]
    assert {"parent before", "child", "parent after"} == set(by_body)
    assert by_body["parent before"] == by_body["parent after"] != by_body["child"]


@pytest.mark.slow
@pytest.mark.parametrize("max_receive", [None, 1024 * 1024], ids=["default-4MiB", "limit-1MiB"])
def test_a_backlog_drains_under_the_server_s_message_limit(max_receive: int | None) -> None:
    """After an outage the backlog (about 9 MB) drains without a message over the server's
    limit: the default request size is under gRPC's 4 MiB; a lower limit answers
    RESOURCE_EXHAUSTED and the request is split, the size learned. Nothing is lost."""
    state = Server()
    _start(state).stop(grace=None)  # a port nothing listens on: the outage
    port = state.port
    sink = OtlpGrpcSink(
        f"http://127.0.0.1:{port}",
        retry=nglogger.RetryPolicy(base=0.01, cap=0.05),
        breaker=nglogger.CircuitBreaker(open_duration=0.05, max_open_duration=0.2),
    )
    pipeline = nglogger.configure(
        sinks=[sink],
        flush_interval=0.05,
        sink_queue_max_bytes=32 * 1024 * 1024,
        sink_queue_max_events=100_000,
    )
    log = nglogger.get_logger("backlog")
    n = 6000
    for i in range(n):
        log.info("event", i=i, pad="p" * 1500)
    require(lambda: pipeline.stats().sinks[sink.name].queued_events == n, 30.0)
    back = _start(state, max_receive=max_receive, port=port)
    try:
        assert pipeline.flush(60.0)
        stats = pipeline.stats().sinks[sink.name]
        assert (n, {}) == (stats.exported, dict(stats.dropped))
        ids = sorted(
            int(kv.value.int_value)
            for record in state.records()
            for kv in record.attributes
            if kv.key == "i"
        )
        assert list(range(n)) == ids  # each exactly once
        refused = sink.http_stats().get("status_413", 0)
        if max_receive is None:
            assert refused == 0
        else:
            assert refused >= 1
            cap = sink.delivery.learned_cap
            assert cap is not None
            assert cap <= max_receive
    finally:
        nglogger.shutdown()
        back.stop(grace=None)
