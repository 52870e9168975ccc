"""The one HTTP transport every HTTP sink uses, on urllib3 (imported on first use).

``HttpTransport.send`` never raises for network trouble: it returns an
:class:`HttpResponse` value carrying the status, the headers the sinks need, a
bounded piece of the body and, on failure, an :class:`~nglogger._delivery.retry.AttemptKind`
(timeout, connection error, protocol error) with a short text. Every request has
connect and read timeouts; connections are pooled and kept alive; TLS is
verified. Response bodies are read up to ``max_response_bytes`` (the sinks need
only small JSON replies), so a misbehaving server cannot make us buffer
megabytes. Worst-case footprint: one request body plus ``max_response_bytes``.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time
import weakref
from collections.abc import Mapping
from typing import Any

from .._core.errors import ConfigError
from .retry import AttemptKind
from .transport import HttpResponse

__all__ = ["HttpResponse", "HttpTransport", "require_urllib3"]

_MAX_ERROR = 200


def require_urllib3() -> Any:
    """Import urllib3 (v2), or raise ConfigError telling how to install it."""
    try:
        import urllib3
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise ConfigError(
            "sinks", "http", "an installed urllib3>=2", "pip install 'nglogger[http]'"
        ) from None
    return urllib3


class HttpTransport:
    """Pooled, timed-out, value-returning HTTP POSTs (thread-safe; a ``Transport``)."""

    def __init__(
        self,
        *,
        connect_timeout: float = 5.0,
        read_timeout: float = 10.0,
        max_connections: int = 1,
        verify: bool = True,
        ca_certs: str | None = None,
        max_response_bytes: int = 64 * 1024,
        user_agent: str = "nglogger",
    ) -> None:
        if not connect_timeout > 0 or not read_timeout > 0:
            raise ConfigError("timeout", (connect_timeout, read_timeout), "seconds > 0")
        self._urllib3 = require_urllib3()
        self._timeout = self._urllib3.Timeout(connect=connect_timeout, read=read_timeout)
        self._max_connections = max(1, max_connections)
        self._verify = verify
        self._ca_certs = ca_certs
        self._max_response = max_response_bytes
        self._user_agent = user_agent
        self._lock = threading.Lock()
        self._pool: Any = None
        self._connections: weakref.WeakSet[Any] = weakref.WeakSet()
        self._attempt_limit = connect_timeout + read_timeout
        self._local = threading.local()
        #: Requests resent at once because their keep-alive connection was stale.
        self.stale_resends = 0

    def _tracked_pools(self) -> dict[str, Any]:
        """Pool classes whose connections register here, so ``abort`` can reach them."""
        urllib3 = self._urllib3
        registry = self._connections

        local = self._local

        def tracked(base: Any) -> Any:
            def connect(conn: Any) -> None:
                base.connect(conn)
                registry.add(conn)

            def request(conn: Any, *args: Any, **kwargs: Any) -> Any:
                # whether this request goes out on a connection that served one before
                # (a keep-alive the server may have closed meanwhile: see _stale)
                served = getattr(conn, "_nglogger_served", 0)
                local.reused = served > 0
                conn._nglogger_served = served + 1
                return base.request(conn, *args, **kwargs)

            return type(
                f"Tracked{base.__name__}", (base,), {"connect": connect, "request": request}
            )

        http = type(
            "TrackedHTTPConnectionPool",
            (urllib3.HTTPConnectionPool,),
            {"ConnectionCls": tracked(urllib3.connection.HTTPConnection)},
        )
        https = type(
            "TrackedHTTPSConnectionPool",
            (urllib3.HTTPSConnectionPool,),
            {"ConnectionCls": tracked(urllib3.connection.HTTPSConnection)},
        )
        return {"http": http, "https": https}

    def _manager(self) -> Any:
        with self._lock:
            if self._pool is None:
                kwargs: dict[str, Any] = {
                    "num_pools": 4,
                    "maxsize": self._max_connections,
                    "block": False,
                    "timeout": self._timeout,
                    "retries": False,
                    "cert_reqs": "CERT_REQUIRED" if self._verify else "CERT_NONE",
                }
                if self._ca_certs:
                    kwargs["ca_certs"] = self._ca_certs
                manager = self._urllib3.PoolManager(**kwargs)
                manager.pool_classes_by_scheme = self._tracked_pools()
                self._pool = manager
            return self._pool

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """POST ``body`` to ``url``; failures come back as values."""
        urllib3 = self._urllib3
        exceptions = urllib3.exceptions
        all_headers = {"User-Agent": self._user_agent, **headers}
        started = time.monotonic()
        # A request that fails before any response byte on a reused keep-alive connection
        # met a connection the server had closed (idle timeout, restart) or closed as it
        # arrived: not a failing backend. It is resent at once on a fresh connection (at
        # most once per pooled connection), as browsers do; a lost response after the
        # server processed it can duplicate one request, never more.
        for resend in range(self._max_connections + 1):
            self._local.reused = False
            try:
                response = self._manager().request(
                    "POST",
                    url,
                    body=body,
                    headers=all_headers,
                    timeout=self._timeout,
                    retries=False,
                    redirect=False,
                    preload_content=False,
                )
                break
            except exceptions.NewConnectionError as exc:  # subclasses ConnectTimeoutError
                return _failure(AttemptKind.CONNECTION_ERROR, exc, started)
            except (
                exceptions.ConnectTimeoutError,
                exceptions.ReadTimeoutError,
                TimeoutError,
            ) as exc:
                return _failure(AttemptKind.TIMEOUT, exc, started)
            except exceptions.SSLError as exc:
                return _failure(AttemptKind.PROTOCOL_ERROR, exc, started)
            except (exceptions.ProtocolError, ConnectionError, OSError) as exc:
                reused = getattr(self._local, "reused", False)
                if reused and resend < self._max_connections and _stale(exc):
                    with self._lock:
                        self.stale_resends += 1
                    continue
                if isinstance(exc, exceptions.ProtocolError):
                    return _failure(_protocol_kind(exc), exc, started)
                return _failure(AttemptKind.CONNECTION_ERROR, exc, started)
            except exceptions.HTTPError as exc:
                return _failure(AttemptKind.PROTOCOL_ERROR, exc, started)
        else:  # pragma: no cover - the loop breaks or returns
            return HttpResponse(None, {}, b"", AttemptKind.CONNECTION_ERROR, "stale connections")
        limit = self._max_response
        deadline = started + self._attempt_limit
        chunks: list[bytes] = []
        size = 0
        failure: str | None = None
        try:
            while size <= limit:
                if time.monotonic() > deadline:  # a trickling body: cut at the attempt limit
                    failure = "response body still arriving at the attempt deadline"
                    break
                chunk = response.read1(limit + 1 - size, decode_content=True)
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except (exceptions.HTTPError, OSError) as exc:
            failure = _describe(exc)
        if failure is not None:
            # The status line arrived: the attempt is judged by it (a 2xx whose body
            # stalls was delivered and must not be sent again).
            response.close()
            kept = {k: response.headers[k] for k in _WANTED if k in response.headers}
            partial = b"".join(chunks)[:limit]  # per-event results already read still count
            return HttpResponse(
                response.status, kept, partial, None, failure, time.monotonic() - started
            )
        data = b"".join(chunks)
        if len(data) > limit:  # never drain an oversized body: drop the connection
            response.close()
            data = data[:limit]
        else:
            response.release_conn()
        kept = {k: response.headers[k] for k in _WANTED if k in response.headers}
        return HttpResponse(
            response.status,
            kept,
            bytes(data or b""),
            elapsed=time.monotonic() - started,
        )

    @property
    def read_timeout(self) -> float:
        """Seconds an attempt waits for the response (after connecting)."""
        return float(self._timeout.read_timeout)

    def set_read_timeout(self, seconds: float) -> None:
        """Change the read timeout of the attempts from now on (thread-safe: one swap)."""
        if not seconds > 0:
            raise ConfigError("timeout", seconds, "seconds > 0")
        connect = self._timeout.connect_timeout
        self._timeout = self._urllib3.Timeout(connect=connect, read=seconds)
        self._attempt_limit = connect + seconds

    def abort(self) -> None:
        """Shut down every socket of this transport, in use or idle.

        A request blocked on a black hole returns at once (as a connection error)
        instead of after its read timeout.
        """
        for conn in list(self._connections):
            sock = getattr(conn, "sock", None)
            if sock is None:
                continue
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        """Abort requests in flight and close pooled connections (idempotent)."""
        self.abort()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            try:
                pool.clear()
            except Exception:
                pass

    def after_fork(self) -> None:
        """In a forked child: forget the parent's connections (never share sockets)."""
        self._local = threading.local()
        self._lock = threading.Lock()
        self._pool = None
        self._connections = weakref.WeakSet()


_WANTED = ("retry-after", "content-type", "x-ratelimit-reset")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]


_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _stale(exc: BaseException) -> bool:
    """Closed or reset before any response byte (the cause urllib3 wraps, or the error)."""
    seen = 0
    current: BaseException | None = exc
    while current is not None and seen < 5:
        if isinstance(current, _STALE):
            return True
        causes = [a for a in current.args if isinstance(a, BaseException)]
        current = causes[0] if causes else (current.__cause__ or current.__context__)
        seen += 1
    return False


def _protocol_kind(exc: BaseException) -> AttemptKind:
    """A reply that is not HTTP is a protocol error; a dropped connection is not."""
    for cause in exc.args:
        if isinstance(cause, http.client.HTTPException) and not isinstance(cause, ConnectionError):
            return AttemptKind.PROTOCOL_ERROR
    return AttemptKind.CONNECTION_ERROR


def _failure(
    kind: AttemptKind, exc: BaseException, started: float, status: int | None = None
) -> HttpResponse:
    text = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
    return HttpResponse(status, {}, b"", kind, text, time.monotonic() - started)
