"""A fault-injecting TCP proxy for the HTTP tests (loopback only).

``FaultProxy`` listens on ``127.0.0.1`` (an ephemeral port) and forwards every
connection to an upstream port on ``127.0.0.1``. Its mode can be switched at any
time from the test thread:

==================  ==========================================================
``pass_through()``  forward bytes unchanged (the initial mode)
``latency(s)``      wait ``s`` seconds before forwarding each chunk
``black_hole()``    accept, read and discard everything, never answer
``reset(n, dir)``   forward ``n`` bytes in direction ``dir`` ("request",
                    "response" or "any"), then close the client with an RST
                    (``SO_LINGER`` 0) and drop the upstream connection
``slow_close(s)``   when the upstream closes, keep the client open ``s`` more
                    seconds before closing it (bodies delimited by close stall)
``bandwidth(bps)``  forward at most ``bps`` bytes per second per direction
``refuse()``        stop listening (connections are refused) and reset every
                    open connection, like a backend process that died
==================  ==========================================================

Modes act per chunk, so an open (keep-alive) connection feels a switch at its
next read. Two exceptions, both documented on the methods: a connection accepted
in black hole mode has no upstream and stays a black hole, and ``refuse()``
resets the connections that are open when it is called.

Threads: one acceptor plus one thread per connection, which owns both sockets
(no socket is ever closed by another thread). Every loop polls with a short
timeout and checks the stop flag; every wait is on an ``Event`` that
:meth:`FaultProxy.close` sets, so ``close()`` returns within a fraction of a
second and leaves no thread or socket behind. Threads never raise: unexpected
errors are kept as text in :attr:`FaultProxy.errors`.

Example::

    with FaultProxy(upstream_port) as proxy:
        url = proxy.url("/ingest")
        proxy.black_hole()
        ...
        proxy.pass_through()
"""

from __future__ import annotations

import enum
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["FaultProxy", "Mode", "ProxyStats"]

LOOPBACK = "127.0.0.1"
_POLL = 0.02  # seconds between checks of the stop flag in every loop
_SEND_TIMEOUT = 2.0  # a peer that stops reading cannot pin a thread longer than this
_DIRECTIONS = ("request", "response", "any")


class Mode(enum.Enum):
    """What the proxy does with the bytes it relays."""

    PASS = "pass"
    LATENCY = "latency"
    BLACK_HOLE = "black_hole"
    RESET = "reset"
    SLOW_CLOSE = "slow_close"
    BANDWIDTH = "bandwidth"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class _Settings:
    mode: Mode = Mode.PASS
    seconds: float = 0.0
    after_bytes: int = 0
    direction: str = "request"
    rate: int = 0


@dataclass(frozen=True, slots=True)
class ProxyStats:
    """Counters since the proxy started.

    ``accepted``: connections accepted; ``active``: connections open now;
    ``to_upstream`` / ``to_client``: bytes forwarded each way; ``discarded``:
    bytes swallowed by a black hole; ``resets``: connections closed with an RST.
    """

    accepted: int
    active: int
    to_upstream: int
    to_client: int
    discarded: int
    resets: int


class _Conn:
    """One proxied connection; touched only by its own thread (``kill`` aside)."""

    __slots__ = ("client", "kill", "sent", "upstream")

    def __init__(self, client: socket.socket) -> None:
        self.client = client
        self.upstream: socket.socket | None = None
        self.sent = {"request": 0, "response": 0}
        self.kill = False  # set by refuse(): reset at the next poll


class FaultProxy:
    """A TCP proxy from ``127.0.0.1:<port>`` to ``127.0.0.1:<upstream_port>``."""

    def __init__(self, upstream_port: int, *, chunk_size: int = 16 * 1024) -> None:
        if not 0 < upstream_port < 65536:
            raise ValueError(f"upstream_port must be a TCP port, got {upstream_port!r}")
        self.upstream_port = upstream_port
        self._chunk = chunk_size
        self._settings = _Settings()
        self._stop = threading.Event()
        self._cond = threading.Condition()
        self._conns: dict[_Conn, threading.Thread] = {}
        self._listening = True  # what the acceptor should do (changed by refuse())
        self._listener_open = threading.Event()
        self._listener_closed = threading.Event()
        self._counts = {
            "accepted": 0,
            "to_upstream": 0,
            "to_client": 0,
            "discarded": 0,
            "resets": 0,
        }
        self.errors: list[str] = []
        self._listener: socket.socket | None = self._listen(0)
        self.port: int = self._listener.getsockname()[1]
        self._listener_open.set()
        self._acceptor = threading.Thread(
            target=self._accept_loop, name="faultproxy-accept", daemon=True
        )
        self._started = False

    # ------------------------------------------------------------- lifecycle
    def start(self) -> FaultProxy:
        """Start accepting connections (idempotent); returns ``self``."""
        if not self._started:
            self._started = True
            self._acceptor.start()
        return self

    def close(self, timeout: float = 3.0) -> None:
        """Stop everything: close the listener and every connection, join all threads."""
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        deadline = time.monotonic() + timeout
        if self._started:
            self._acceptor.join(max(0.0, deadline - time.monotonic()))
        else:
            self._close_listener()
        with self._cond:
            threads = list(self._conns.values())
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in threads if t.is_alive()]
        if self._acceptor.is_alive():
            alive.append(self._acceptor.name)
        if alive:
            self.errors.append(f"threads still alive after close(): {alive}")

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def url(self, path: str = "/") -> str:
        """``http://127.0.0.1:<port><path>``."""
        return f"http://{LOOPBACK}:{self.port}{path}"

    # ----------------------------------------------------------------- modes
    @property
    def mode(self) -> Mode:
        """The current mode."""
        return self._settings.mode

    def pass_through(self) -> None:
        """Forward bytes unchanged; listen again if :meth:`refuse` stopped listening."""
        self._set(_Settings())

    def latency(self, seconds: float) -> None:
        """Delay every chunk, in both directions, by ``seconds`` (interruptible by close)."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._set(_Settings(Mode.LATENCY, seconds=seconds))

    def black_hole(self) -> None:
        """Accept connections, swallow what they send and never answer.

        New connections get no upstream connection at all and stay black holes
        even after the mode changes; open ones start discarding at their next chunk.
        """
        self._set(_Settings(Mode.BLACK_HOLE))

    def reset(self, after_bytes: int = 0, direction: str = "request") -> None:
        """After ``after_bytes`` bytes forwarded in ``direction`` on a connection, RST it.

        ``direction``: ``"request"`` (client to upstream: a reset in the middle of
        a request body), ``"response"`` (upstream to client) or ``"any"``. Bytes are
        counted from the start of each connection; the part of a chunk beyond the
        limit is never forwarded. The upstream side is closed at the same time, so
        the server sees a truncated request.
        """
        if after_bytes < 0:
            raise ValueError(f"after_bytes must be >= 0, got {after_bytes!r}")
        if direction not in _DIRECTIONS:
            raise ValueError(f"direction must be one of {_DIRECTIONS}, got {direction!r}")
        self._set(_Settings(Mode.RESET, after_bytes=after_bytes, direction=direction))

    def slow_close(self, seconds: float) -> None:
        """When the upstream closes a connection, wait ``seconds`` before closing the client."""
        if not seconds >= 0:
            raise ValueError(f"seconds must be >= 0, got {seconds!r}")
        self._set(_Settings(Mode.SLOW_CLOSE, seconds=seconds))

    def bandwidth(self, bytes_per_second: int) -> None:
        """Forward at most ``bytes_per_second`` per direction per connection, in small slices."""
        if bytes_per_second < 1:
            raise ValueError(f"bytes_per_second must be >= 1, got {bytes_per_second!r}")
        self._set(_Settings(Mode.BANDWIDTH, rate=bytes_per_second))

    def refuse(self, timeout: float = 2.0) -> None:
        """Stop listening (new connections are refused) and RST every open connection.

        Returns once the listener is closed and the open connections are gone, so
        the next connection attempt is refused. :meth:`pass_through` (or any other
        mode) listens again on the same port.
        """
        self._set(_Settings(Mode.REFUSE), timeout=timeout)

    def _set(self, settings: _Settings, timeout: float = 2.0) -> None:
        refuse = settings.mode is Mode.REFUSE
        with self._cond:
            self._settings = settings
            was_listening = self._listening
            self._listening = not refuse
            if refuse:
                self._listener_open.clear()
                for conn in self._conns:
                    conn.kill = True
            else:
                self._listener_closed.clear()
            self._cond.notify_all()
        if not self._started or was_listening is not refuse:
            return
        if refuse:
            self._listener_closed.wait(timeout)
            self.wait_for(lambda s: s.active == 0, timeout)
        else:
            self._listener_open.wait(timeout)

    # ----------------------------------------------------------- observation
    def stats(self) -> ProxyStats:
        """A snapshot of the counters."""
        with self._cond:
            return ProxyStats(active=len(self._conns), **self._counts)

    def wait_for(self, predicate: Callable[[ProxyStats], bool], timeout: float) -> bool:
        """Wait until ``predicate(stats())`` is true; False when ``timeout`` passes first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if predicate(ProxyStats(active=len(self._conns), **self._counts)):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._stop.is_set():
                    return False
                self._cond.wait(min(remaining, 0.1))

    def _add(self, name: str, n: int = 1) -> None:
        with self._cond:
            self._counts[name] += n
            self._cond.notify_all()

    # -------------------------------------------------------------- acceptor
    def _listen(self, port: int) -> socket.socket:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((LOOPBACK, port))
            listener.listen(64)
            listener.settimeout(_POLL)
        except BaseException:
            listener.close()
            raise
        return listener

    def _close_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        self._listener_closed.set()

    def _accept_loop(self) -> None:
        try:
            while not self._stop.is_set():
                with self._cond:
                    listening = self._listening
                if not listening:
                    self._close_listener()
                    with self._cond:
                        if not self._listening or self._stop.is_set():
                            self._cond.wait(_POLL)
                    continue
                if self._listener is None:
                    try:
                        self._listener = self._listen(self.port)
                    except OSError as exc:  # port taken meanwhile: report, retry shortly
                        self.errors.append(f"relisten failed: {exc}")
                        self._stop.wait(_POLL)
                        continue
                    self._listener_open.set()
                try:
                    client, _ = self._listener.accept()
                except (TimeoutError, BlockingIOError):
                    continue
                self._start_conn(client)
        except Exception as exc:  # never raise out of a thread
            self.errors.append(f"acceptor: {type(exc).__name__}: {exc}")
        finally:
            self._close_listener()

    def _start_conn(self, client: socket.socket) -> None:
        client.settimeout(_SEND_TIMEOUT)
        conn = _Conn(client)
        thread = threading.Thread(
            target=self._serve, args=(conn,), name="faultproxy-conn", daemon=True
        )
        with self._cond:
            self._counts["accepted"] += 1
            conn.kill = not self._listening  # accepted just as refuse() began
            self._conns[conn] = thread
            self._cond.notify_all()
        thread.start()

    # ------------------------------------------------------------ connection
    def _serve(self, conn: _Conn) -> None:
        rst = False
        sel = selectors.DefaultSelector()
        try:
            if self._settings.mode is not Mode.BLACK_HOLE:
                try:
                    conn.upstream = socket.create_connection(
                        (LOOPBACK, self.upstream_port), timeout=_SEND_TIMEOUT
                    )
                except OSError:
                    rst = True  # upstream down: the client sees a reset
                    return
            sel.register(conn.client, selectors.EVENT_READ)
            if conn.upstream is not None:
                sel.register(conn.upstream, selectors.EVENT_READ)
            rst = self._pump(conn, sel)
        except Exception as exc:
            self.errors.append(f"connection: {type(exc).__name__}: {exc}")
        finally:
            sel.close()
            self._finish(conn, rst=rst)

    def _pump(self, conn: _Conn, sel: selectors.BaseSelector) -> bool:
        """Relay until one side closes; True when the client must get an RST."""
        while not self._stop.is_set():
            if conn.kill:
                return True
            for key, _ in sel.select(_POLL):
                src = key.fileobj
                from_client = src is conn.client
                try:
                    data = src.recv(self._chunk)  # type: ignore[union-attr]
                except OSError:
                    return True  # a peer reset: pass the reset on
                if not data:
                    if from_client:
                        if conn.upstream is None:
                            return False
                        sel.unregister(conn.client)
                        try:
                            conn.upstream.shutdown(socket.SHUT_WR)
                        except OSError:
                            return False
                        continue
                    settings = self._settings
                    if settings.mode is Mode.SLOW_CLOSE:
                        self._stop.wait(settings.seconds)
                    return False
                verdict = self._relay(conn, data, from_client)
                if verdict is not None:
                    return verdict
        return False

    def _relay(self, conn: _Conn, data: bytes, from_client: bool) -> bool | None:
        """Forward one chunk as the current mode says; a bool ends the connection."""
        settings = self._settings
        mode = settings.mode
        direction = "request" if from_client else "response"
        dst = conn.upstream if from_client else conn.client
        if mode is Mode.BLACK_HOLE or dst is None:
            self._add("discarded", len(data))
            return None
        if mode is Mode.REFUSE:
            return True
        if mode is Mode.RESET and settings.direction in (direction, "any"):
            room = settings.after_bytes - conn.sent[direction]
            if len(data) > room:
                if room > 0:
                    self._send(conn, dst, data[:room], direction)
                return True
        if mode is Mode.LATENCY and self._stop.wait(settings.seconds):
            return False
        if mode is Mode.BANDWIDTH:
            step = max(1, settings.rate // 50)
            for start in range(0, len(data), step):
                piece = data[start : start + step]
                if not self._send(conn, dst, piece, direction):
                    return True
                if self._stop.wait(len(piece) / settings.rate) or conn.kill:
                    return True
            return None
        if not self._send(conn, dst, data, direction):
            return True
        return None

    def _send(self, conn: _Conn, dst: socket.socket, data: bytes, direction: str) -> bool:
        try:
            dst.sendall(data)
        except OSError:
            return False
        conn.sent[direction] += len(data)
        self._add("to_upstream" if direction == "request" else "to_client", len(data))
        return True

    def _finish(self, conn: _Conn, *, rst: bool) -> None:
        """Close both sockets (the client with an RST when asked) and forget the connection."""
        if rst:
            try:
                conn.client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
        conn.client.close()
        if conn.upstream is not None:
            conn.upstream.close()  # a FIN: the server sees a truncated request
        with self._cond:
            self._conns.pop(conn, None)
            if rst:
                self._counts["resets"] += 1
            self._cond.notify_all()
