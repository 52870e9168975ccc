"""A raw-socket HTTP/1.1 server whose keep-alive connections end the way real servers end them.

A server closes an idle keep-alive connection on its own schedule (nginx's
``keepalive_timeout``, a graceful reload, a load balancer's idle timeout). The client
learns it only when it uses the connection again: either the close arrived first (the
connection is found dead before the request), or the request met the close on the way
(the server closes, or resets, the connection as the request arrives, without an
answer). :class:`KeepAliveServer` plays each of these on purpose: a *policy*
``(connection number, request number on it) -> action`` decides, after reading a
whole request, whether to

* ``ANSWER``: 200 and keep the connection;
* ``ANSWER_THEN_CLOSE``: 200 (no ``Connection: close``: the client expects to reuse it),
  then close the connection, so it dies between two requests;
* ``CLOSE``: close the connection without an answer (FIN) as the request arrives;
* ``RESET``: reset it (RST, ``SO_LINGER`` 0) as the request arrives.

Only answered requests count as stored (the others never reached the application).
Binds 127.0.0.1 only; one thread per connection, every wait bounded and woken by
:meth:`close`.
"""

from __future__ import annotations

import enum
import gzip
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Action", "Handled", "KeepAliveServer"]

LOOPBACK = "127.0.0.1"
_POLL = 0.05


class Action(enum.Enum):
    ANSWER = "answer"
    ANSWER_THEN_CLOSE = "answer_then_close"
    CLOSE = "close"
    RESET = "reset"


@dataclass(frozen=True)
class Handled:
    """One complete request: its connection, its number on it, what the server did."""

    connection: int
    number: int
    action: Action
    body: bytes
    at: float


Policy = Callable[[int, int], Action]


class KeepAliveServer:
    """Raw HTTP/1.1 on 127.0.0.1 with a per-connection policy (see the module docstring)."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self.handled: list[Handled] = []
        self.connections = 0
        self.errors: list[str] = []
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((LOOPBACK, 0))
        self._listener.listen(64)
        self._listener.settimeout(_POLL)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://{LOOPBACK}:{self.port}"
        self._threads: list[threading.Thread] = []
        self._acceptor = threading.Thread(target=self._accept, name="keepalive-accept", daemon=True)
        self._acceptor.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with self._cond:
                number = self.connections
                self.connections += 1
            thread = threading.Thread(
                target=self._serve, args=(conn, number), name=f"keepalive-{number}", daemon=True
            )
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket, connection: int) -> None:
        conn.settimeout(_POLL)
        buffer = b""
        number = 0
        try:
            while not self._stop.is_set():
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                action = self._policy(connection, number)
                with self._cond:
                    self.handled.append(
                        Handled(connection, number, action, request, time.monotonic())
                    )
                    self._cond.notify_all()
                number += 1
                if action is Action.RESET:
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                if action is Action.CLOSE:
                    return
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n{}")
                if action is Action.ANSWER_THEN_CLOSE:
                    return
        except OSError as exc:  # the client went away: not the server's business
            with self._cond:
                self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def _read_request(self, conn: socket.socket, buffer: bytes) -> tuple[bytes | None, bytes]:
        """The body of the next request (gzip undone), or None when the client closed."""
        while b"\r\n\r\n" not in buffer:
            chunk = self._recv(conn)
            if not chunk:
                return None, b""
            buffer += chunk
        head, _, rest = buffer.partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get(b"content-length", b"0"))
        while len(rest) < length:
            chunk = self._recv(conn)
            if not chunk:
                return None, b""
            rest += chunk
        body, rest = rest[:length], rest[length:]
        if headers.get(b"content-encoding") == b"gzip":
            body = gzip.decompress(body)
        return body, rest

    def _recv(self, conn: socket.socket) -> bytes:
        while not self._stop.is_set():
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
        return b""

    def actions(self) -> list[Action]:
        with self._cond:
            return [h.action for h in self.handled]

    def answered(self) -> list[Handled]:
        with self._cond:
            return [
                h for h in self.handled if h.action in (Action.ANSWER, Action.ANSWER_THEN_CLOSE)
            ]

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._acceptor.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)

    def __enter__(self) -> KeepAliveServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
