"""The one HTTP transport every HTTP sink uses, on urllib3 (imported on first use).

``HttpTransport.send`` never raises for network trouble: it returns an
:class:`HttpResponse` value carrying the status, the headers the sinks need, a
bounded piece of the body and, on failure, an :class:`~nglogger._retry.AttemptKind`
(timeout, connection error, protocol error) with a short text. Every request has
connect and read timeouts; connections are pooled and kept alive; TLS is
verified. Response bodies are read up to ``max_response_bytes`` (the sinks need
only small JSON replies), so a misbehaving server cannot make us buffer
megabytes. Worst-case footprint: one request body plus ``max_response_bytes``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._errors import ConfigError
from ._retry import AttemptKind, AttemptResult, RetryPolicy, parse_retry_after

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


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """One attempt's result. ``status`` is None when no response arrived."""

    status: int | None
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    error_kind: AttemptKind | None = None
    error: str = ""
    elapsed: float = 0.0

    def attempt(self, policy: RetryPolicy, now_epoch: float | None = None) -> AttemptResult:
        """This response as the retry policy's value (Retry-After parsed)."""
        kind = policy.classify(self.status, self.error_kind)
        retry_after = None
        header = self.headers.get("retry-after")
        if header is not None:
            retry_after = parse_retry_after(header, time.time() if now_epoch is None else now_epoch)
        return AttemptResult(self.status, kind, retry_after, self.error)


class HttpTransport:
    """Pooled, timed-out, value-returning HTTP POSTs (thread-safe)."""

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
                self._pool = self._urllib3.PoolManager(**kwargs)
            return self._pool

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> HttpResponse:
        """POST ``body`` to ``url``; failures come back as values."""
        urllib3 = self._urllib3
        exceptions = urllib3.exceptions
        all_headers = {"User-Agent": self._user_agent, **headers}
        started = time.monotonic()
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
        except (exceptions.ConnectTimeoutError, exceptions.ReadTimeoutError, TimeoutError) as exc:
            return _failure(AttemptKind.TIMEOUT, exc, started)
        except exceptions.NewConnectionError as exc:
            return _failure(AttemptKind.CONNECTION_ERROR, exc, started)
        except exceptions.SSLError as exc:
            return _failure(AttemptKind.PROTOCOL_ERROR, exc, started)
        except (exceptions.ProtocolError, ConnectionError, OSError) as exc:
            return _failure(AttemptKind.CONNECTION_ERROR, exc, started)
        except exceptions.HTTPError as exc:
            return _failure(AttemptKind.PROTOCOL_ERROR, exc, started)
        limit = self._max_response
        try:
            data = response.read(limit + 1, decode_content=True)
        except (exceptions.ReadTimeoutError, TimeoutError) as exc:
            response.close()
            return _failure(AttemptKind.TIMEOUT, exc, started, status=response.status)
        except (exceptions.HTTPError, OSError):
            response.close()
            data = b""
        else:
            if len(data) > limit:  # never drain an oversized body: drop the connection
                response.close()
                data = data[:limit]
            else:
                response.release_conn()
        wanted = ("retry-after", "content-type", "x-ratelimit-reset")
        kept = {k: response.headers[k] for k in wanted if k in response.headers}
        return HttpResponse(
            response.status,
            kept,
            bytes(data or b""),
            elapsed=time.monotonic() - started,
        )

    def close(self) -> None:
        """Close pooled connections (idempotent)."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            try:
                pool.clear()
            except Exception:
                pass

    def after_fork(self) -> None:
        """In a forked child: forget the parent's connections (never share sockets)."""
        self._lock = threading.Lock()
        self._pool = None


def _failure(
    kind: AttemptKind, exc: BaseException, started: float, status: int | None = None
) -> HttpResponse:
    text = f"{type(exc).__name__}: {exc}"[:_MAX_ERROR]
    return HttpResponse(status, {}, b"", kind, text, time.monotonic() - started)
