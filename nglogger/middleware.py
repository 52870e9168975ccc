"""Holding each request's debug logs until it fails: WSGI and ASGI middleware.

``ASGIHoldMiddleware(app)`` and ``WSGIHoldMiddleware(app)`` run each HTTP request inside
``nglogger.hold()``: the request's events below the trigger (ERROR) are kept, down to
DEBUG, and sent on only if the request *fails*: an event at the trigger level or above
is logged while it runs, an unhandled exception leaves the application, or the response
status is ``failure_status`` (500) or higher. Otherwise they are discarded when the
response is complete (counted ``held_discarded``). A client that goes away (the task
cancelled) is not a failure. The servers' own lines (uvicorn's access line, written while
the request runs) are never held (``nglogger.stdlib``).

Neither imports a framework: they speak the ASGI 3 and WSGI (PEP 3333) protocols. ASGI:
only ``http`` scopes are held (``websocket`` and ``lifespan`` pass through). WSGI: the hold
covers the application call and the iteration of its response, up to ``close()``; each
request runs in a copy of the caller's context, so nothing of it outlives ``close()``.
"""

from __future__ import annotations

import contextvars
from collections.abc import Awaitable, Callable, Iterable, Iterator, MutableMapping
from typing import Any, Generic, TypeVar

from ._event.hold import Held
from ._pipeline.hold import Hold

__all__ = ["ASGIHoldMiddleware", "WSGIHoldMiddleware"]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]
App = TypeVar("App")


class _HoldMiddleware(Generic[App]):
    """What both middleware take: the application, the hold's settings, the failing status."""

    def __init__(
        self,
        app: App,
        *,
        trigger: int | str | None = None,
        level: int | str | None = None,
        max_bytes: int | None = None,
        failure_status: int = 500,
    ) -> None:
        self.app = app
        self.failure_status = failure_status
        self._hold = Hold(trigger=trigger, level=level, max_bytes=max_bytes)


class ASGIHoldMiddleware(_HoldMiddleware[ASGIApp]):
    """ASGI middleware: each HTTP request's debug logs only if it fails (see module doc)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        status = [0]

        async def send_status(message: Message) -> None:
            if message.get("type") == "http.response.start":
                status[0] = _status(message.get("status"))
            await send(message)

        hold = self._hold
        held = hold.__enter__()
        try:
            await self.app(scope, receive, send_status)
        except BaseException as exc:
            hold.__exit__(type(exc), exc, exc.__traceback__)
            raise
        if status[0] >= self.failure_status:
            held.release()
        hold.__exit__(None, None, None)


class WSGIHoldMiddleware(_HoldMiddleware[WSGIApp]):
    """WSGI middleware: each request's debug logs only if it fails (see module doc)."""

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        request = _Request(self, start_response)
        return request.context.run(request.start, environ)


class _Request:
    """One WSGI request: its context (a copy of the caller's), its hold and its status."""

    def __init__(self, middleware: WSGIHoldMiddleware, start_response: StartResponse) -> None:
        self.middleware = middleware
        self.start_response = start_response
        self.context = contextvars.copy_context()
        self.status = 0
        self.held: Held | None = None
        self.iterator: Iterator[bytes] | None = None
        self.response: Iterable[bytes] | None = None
        self.done = False

    def record_status(self, status: str, headers: Any, exc_info: Any = None) -> Any:
        self.status = _status(str(status).split(" ", 1)[0])
        if exc_info is None:
            return self.start_response(status, headers)
        return self.start_response(status, headers, exc_info)

    def start(self, environ: dict[str, Any]) -> Iterable[bytes]:
        """In the request's context: the hold, the application call."""
        self.held = self.middleware._hold.__enter__()
        try:
            self.response = self.middleware.app(environ, self.record_status)
            self.iterator = iter(self.response)
        except BaseException as exc:
            self.finish(exc)
            raise
        return _Body(self)

    def next_chunk(self) -> bytes:
        assert self.iterator is not None
        try:
            return next(self.iterator)
        except StopIteration:
            raise
        except BaseException as exc:
            self.finish(exc)
            raise

    def close(self) -> None:
        try:
            close = getattr(self.response, "close", None)
            if close is not None:
                close()
        except BaseException as exc:
            self.finish(exc)
            raise
        finally:
            self.finish(None)

    def finish(self, exc: BaseException | None) -> None:
        """The request is over: failed (an exception, a 5xx) sends what is held on."""
        if self.done:
            return
        self.done = True
        hold = self.middleware._hold
        if exc is not None:
            hold.__exit__(type(exc), exc, exc.__traceback__)
            return
        if self.held is not None and self.status >= self.middleware.failure_status:
            self.held.release()
        hold.__exit__(None, None, None)


class _Body:
    """The response iterable: each chunk and ``close()`` run in the request's context."""

    def __init__(self, request: _Request) -> None:
        self._request = request

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        request = self._request
        return request.context.run(request.next_chunk)

    def close(self) -> None:
        request = self._request
        request.context.run(request.close)


def _status(value: object) -> int:
    try:
        return int(value)  # type: ignore[call-overload,no-any-return]
    except (TypeError, ValueError):
        return 0
