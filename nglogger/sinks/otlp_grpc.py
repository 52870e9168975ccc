"""OTLP/gRPC logs: ``OtlpGrpcSink`` calls ``LogsService/Export`` on a collector's port 4317.

The payload is the one :class:`~nglogger.sinks.otlp.OtlpLogsSink` builds (same mapping,
resource and ``partial_success`` handling); only the transport differs: a
:class:`GrpcTransport` (``grpcio``, ``pip install 'nglogger[grpc]'``, imported when
the sink is built) in place of the HTTP one. Batching, request limits, the retry
policy, retry budget, circuit breaker and per-batch deadline are the HTTP sinks'
(:class:`~nglogger.sinks.http.HttpSink`), so both transports behave alike under an
outage.

gRPC status codes, as the OTLP specification says (`Failures`_):

==========================================  ==============================================
code                                        what the sink does
==========================================  ==============================================
OK                                          delivered; ``partial_success`` read from
                                            the reply (``rejected_log_records`` are
                                            dropped ``rejected``)
CANCELLED, DEADLINE_EXCEEDED, ABORTED,      retried with backoff (DEADLINE_EXCEEDED as
OUT_OF_RANGE, UNAVAILABLE, DATA_LOSS        a timeout, the others as connection errors)
RESOURCE_EXHAUSTED                          retried when the server sent
                                            ``google.rpc.RetryInfo``; "message larger
                                            than max" (a size limit): split in halves
                                            as an HTTP 413, the size learned; otherwise
                                            dropped ``rejected``
any other code                              never retried: dropped ``rejected``
==========================================  ==============================================

Requests carry at most 3 MiB of events by default (``max_request_bytes``): under
gRPC's default 4 MiB receive limit, which the Collector keeps, with room for the
protobuf framing. A server with a lower limit answers RESOURCE_EXHAUSTED: the
request is split and the sink never merges that much again.

A ``RetryInfo.retry_delay`` (in the ``grpc-status-details-bin`` trailer) is honoured
like ``Retry-After``: the next attempt waits that long (rounded up to whole seconds,
capped by the policy's ``retry_after_cap``). Each code is counted in the sink's
``http_stats()`` as ``grpc_<CODE>``.

Settings come from :mod:`nglogger._config.otlp` (``OTEL_EXPORTER_OTLP_*``, the logs
variables winning): the endpoint is used as-is (default ``http://localhost:4317``);
headers are sent as metadata (names lower-cased); ``compression=gzip`` uses gRPC's
message compression; timeout is the deadline of each call. An ``https://`` endpoint
uses TLS (``..._CERTIFICATE`` as the CA bundle, else the system roots;
``..._CLIENT_KEY`` + ``..._CLIENT_CERTIFICATE`` for mTLS), an ``http://`` endpoint
plaintext unless ``..._INSECURE=false``.

The channel is created on the first export (not at configure time) and again in a
forked child (the parent's channel is left alone, never closed from the child).
``close`` closes the channel, which cancels a call in flight.

Worst-case footprint: as the OTLP/HTTP sink (the batch, its parsed events, the request
message and its encoding) plus gRPC's own copy of the message while it is sent; replies
are capped at 64 KiB (``grpc.max_receive_message_length``).

.. _Failures: https://opentelemetry.io/docs/specs/otlp/#failures
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._config.otlp import DEFAULT_GRPC_ENDPOINT, DEFAULT_TIMEOUT, resolve_settings
from .._core.errors import ConfigError
from .._delivery.retry import AttemptKind
from .._delivery.transport import HttpResponse
from .otlp import OtlpLogsSink, OtlpSettings

__all__ = ["EXPORT_METHOD", "RETRYABLE_CODES", "GrpcTransport", "OtlpGrpcSink"]

#: The OTLP logs service's one method.
EXPORT_METHOD = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"
#: Codes the OTLP specification lists as retryable (RESOURCE_EXHAUSTED: only with RetryInfo).
RETRYABLE_CODES = frozenset(
    {"CANCELLED", "DEADLINE_EXCEEDED", "ABORTED", "OUT_OF_RANGE", "UNAVAILABLE", "DATA_LOSS"}
)
_MAX_REPLY = 64 * 1024
#: Event bytes per Export call: under gRPC's default 4 MiB receive limit (the
#: Collector's too) with room for the protobuf framing, which can exceed the events'
#: JSON for events of many tiny fields.
GRPC_REQUEST_BYTES = 3 * 1024 * 1024
_TOO_LARGE = "larger than max"
_MAX_ERROR = 200
_RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo"
#: Metadata gRPC sets itself (an HTTP sink's content headers have no meaning here).
_NOT_METADATA = frozenset({"content-type", "content-encoding", "user-agent", "te", "host"})


def _load_grpc() -> Any:
    try:
        import grpc  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise ConfigError(
            "sinks", "otlp+grpc", "an installed grpcio", "pip install 'nglogger[grpc]'"
        ) from None
    return grpc


def _read_pem(setting: str, path: str) -> bytes | None:
    if not path:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(
            f"OTEL_EXPORTER_OTLP_{setting.upper()}", path, "a readable PEM file", exc.strerror or ""
        ) from None


# --------------------------------------------------------------------------- wire helpers


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """The top-level fields of a protobuf message: ``(number, varint or bytes)``."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
            out.append((number, value))
        elif wire == 2:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise ValueError("truncated field")
            out.append((number, data[pos : pos + size]))
            pos += size
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise ValueError(f"wire type {wire}")
    return out


def retry_delay(status_details: bytes) -> float | None:
    """``RetryInfo.retry_delay`` in seconds from a serialized ``google.rpc.Status``, or None.

    A small reader of the three messages involved (Status.details -> Any ->
    RetryInfo.retry_delay -> Duration), so that googleapis-common-protos is not
    needed; anything malformed gives None.
    """
    try:
        for number, detail in _fields(status_details):
            if number != 3 or not isinstance(detail, bytes):
                continue
            parts = dict(_fields(detail))
            if parts.get(1) != _RETRY_INFO_TYPE.encode():
                continue
            info = parts.get(2, b"")
            assert isinstance(info, bytes)
            duration = dict(_fields(info)).get(1, b"")
            assert isinstance(duration, bytes)
            fields = dict(_fields(duration))
            seconds, nanos = fields.get(1, 0), fields.get(2, 0)
            assert isinstance(seconds, int)
            assert isinstance(nanos, int)
            if seconds >= 2**63:  # int64 in two's complement: negative
                return 0.0
            return max(0.0, seconds + nanos / 1e9)
    except (ValueError, AssertionError):
        return None
    return None


# --------------------------------------------------------------------------- transport


class GrpcTransport:
    """The :class:`~nglogger._delivery.transport.Transport` of the OTLP/gRPC sink (thread-safe).

    ``send`` makes one unary ``Export`` call with the already serialized request
    and turns the outcome into an :class:`~nglogger._delivery.transport.HttpResponse` value:
    OK is status 200 with the reply's bytes; a retryable code is a connection error
    (DEADLINE_EXCEEDED: a timeout) with RetryInfo as ``retry-after``; any other code
    is a protocol error, never retried. It never raises.
    """

    def __init__(self, settings: OtlpSettings) -> None:
        self._grpc = _load_grpc()
        self.target = settings.endpoint.split("://", 1)[1].rstrip("/")
        self.timeout = settings.timeout
        self.secure = not settings.insecure
        self._compression = (
            self._grpc.Compression.Gzip
            if settings.compression == "gzip"
            else self._grpc.Compression.NoCompression
        )
        self._credentials: Any = None
        if self.secure:
            key = _read_pem("client_key", settings.client_key)
            chain = _read_pem("client_certificate", settings.client_certificate)
            if (key is None) != (chain is None):
                raise ConfigError(
                    "OTEL_EXPORTER_OTLP_CLIENT_KEY",
                    settings.client_key or "(unset)",
                    "both OTEL_EXPORTER_OTLP_CLIENT_KEY and ..._CLIENT_CERTIFICATE, or neither",
                )
            self._credentials = self._grpc.ssl_channel_credentials(
                root_certificates=_read_pem("certificate", settings.certificate),
                private_key=key,
                certificate_chain=chain,
            )
        self._lock = threading.Lock()
        self._channel: Any = None
        self._call: Any = None
        self._closed = False
        #: Calls per gRPC status code name (``grpc_UNAVAILABLE``...), read by the sink's stats.
        self.codes: dict[str, int] = {}

    def _method(self) -> Any:
        with self._lock:
            if self._closed:
                return None
            if self._call is None:
                grpc = self._grpc
                options = [
                    ("grpc.max_receive_message_length", _MAX_REPLY),
                    ("grpc.primary_user_agent", "nglogger"),
                    ("grpc.enable_retries", 0),  # the sink's policy retries, not the channel
                    # Reconnect soon after the collector is back: while the channel waits
                    # to reconnect every call fails UNAVAILABLE at once.
                    ("grpc.initial_reconnect_backoff_ms", 100),
                    ("grpc.min_reconnect_backoff_ms", 100),
                    ("grpc.max_reconnect_backoff_ms", 1000),
                ]
                if self.secure:
                    channel = grpc.secure_channel(self.target, self._credentials, options)
                else:
                    channel = grpc.insecure_channel(self.target, options)
                self._channel = channel
                self._call = channel.unary_unary(EXPORT_METHOD)  # bytes in, bytes out
            return self._call

    @property
    def read_timeout(self) -> float:
        return float(self.timeout)

    def set_read_timeout(self, seconds: float) -> None:
        """The deadline of each call from now on."""
        self.timeout = seconds

    def _counted(self, code: str) -> None:
        with self._lock:
            name = f"grpc_{code}"
            self.codes[name] = self.codes.get(name, 0) + 1

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:  # noqa: ARG002 - the channel has the target
        """One ``Export`` call; every outcome comes back as a value."""
        started = time.monotonic()
        call = self._method()
        if call is None:
            return HttpResponse(None, {}, b"", AttemptKind.CONNECTION_ERROR, "transport closed")
        metadata = tuple(
            (name.lower(), value)
            for name, value in headers.items()
            if name.lower() not in _NOT_METADATA
        )
        grpc = self._grpc
        try:
            reply = call(
                bytes(body),
                timeout=self.timeout,
                metadata=metadata,
                compression=self._compression,
            )
        except grpc.RpcError as error:
            return self._failure(error, started)
        except Exception as exc:  # a closed channel, bad metadata: never raise into the sink
            self._counted("CLIENT_ERROR")
            text = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
            return HttpResponse(None, {}, b"", AttemptKind.CONNECTION_ERROR, text)
        self._counted("OK")
        elapsed = time.monotonic() - started
        return HttpResponse(200, {"content-type": "application/grpc"}, reply, elapsed=elapsed)

    def _failure(self, error: Any, started: float) -> HttpResponse:
        code = error.code() if callable(getattr(error, "code", None)) else None
        name = code.name if code is not None else "UNKNOWN"
        self._counted(name)
        details = error.details() if callable(getattr(error, "details", None)) else ""
        text = f"gRPC {name}: {details or ''}"[:_MAX_ERROR]
        delay = None
        trailing = (
            error.trailing_metadata()
            if callable(getattr(error, "trailing_metadata", None))
            else None
        )
        for key, value in trailing or ():
            if key == "grpc-status-details-bin" and isinstance(value, bytes):
                delay = retry_delay(value)
        headers = {} if delay is None else {"retry-after": str(math.ceil(delay))}
        elapsed = time.monotonic() - started
        if name == "RESOURCE_EXHAUSTED" and delay is None and _TOO_LARGE in details:
            # "Received message larger than max (5242880 vs. 4194304)": the server's (or
            # the channel's) size limit, HTTP's 413: the sink splits the request
            return HttpResponse(413, headers, b"", None, text, elapsed)
        if name in RETRYABLE_CODES or (name == "RESOURCE_EXHAUSTED" and delay is not None):
            kind = (
                AttemptKind.TIMEOUT if name == "DEADLINE_EXCEEDED" else AttemptKind.CONNECTION_ERROR
            )
        else:
            kind = AttemptKind.PROTOCOL_ERROR
        return HttpResponse(None, headers, b"", kind, text, elapsed)

    def close(self) -> None:
        """Close the channel (cancels a call in flight); later sends fail as values."""
        with self._lock:
            self._closed = True
            channel, self._channel, self._call = self._channel, None, None
        if channel is not None:
            try:
                channel.close()
            except Exception:
                pass

    def after_fork(self) -> None:
        """In a forked child: forget the parent's channel (a new one is made on first use)."""
        self._lock = threading.Lock()
        self._channel = None
        self._call = None
        self.codes = {}


# --------------------------------------------------------------------------- the sink


class OtlpGrpcSink(OtlpLogsSink):
    """OTLP/gRPC logs exporter (see the module docstring; encoding as :class:`OtlpLogsSink`)."""

    kind = "otlp+grpc"
    _grpc = True

    def __init__(
        self,
        endpoint: str = DEFAULT_GRPC_ENDPOINT,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        compression: str = "none",
        resource: Mapping[str, object] | None = None,
        **http_options: Any,
    ) -> None:
        settings = resolve_settings(
            {},
            endpoint=endpoint,
            protocol="grpc",
            headers=headers or {},
            timeout=timeout,
            compression=compression,
            resource=resource,
        )
        self._init_from(settings, http_options)

    def _init_from(self, settings: OtlpSettings, http_options: dict[str, Any]) -> None:
        if settings.protocol != "grpc":
            raise ConfigError(
                "protocol", settings.protocol, "grpc", "use OtlpLogsSink for OTLP/HTTP"
            )
        http_options.setdefault("transport", GrpcTransport(settings))
        http_options.setdefault("max_request_bytes", GRPC_REQUEST_BYTES)
        http_options["compress"] = False  # gRPC compresses the message itself
        super()._init_from(settings, http_options)

    def request_headers(self) -> dict[str, str]:
        """The configured headers (sent as gRPC metadata)."""
        return dict(self._headers)

    def http_stats(self) -> dict[str, Any]:
        """The HTTP sinks' counters plus calls per gRPC status code (``grpc_OK``...)."""
        counters = super().http_stats()
        transport = self._transport
        if isinstance(transport, GrpcTransport):
            with transport._lock:
                counters.update(transport.codes)
        return counters
