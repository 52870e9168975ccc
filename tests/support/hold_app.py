"""A web app whose requests log debug lines under nglogger's hold middleware.

``asgi`` (run as ``uvicorn support.hold_app:asgi``) and ``wsgi`` (``gunicorn
support.hold_app:wsgi``) answer ``GET /<kind>/<rid>``; every request logs, inside the
hold, a native DEBUG and INFO line, a stdlib DEBUG record (``app.lib``, through
nglogger's handler) and, for ASGI, a DEBUG line from a task it creates and one from
``asyncio.to_thread``. ``kind``: ``ok`` answers 200; ``status`` answers 500; ``error``
logs an ERROR and answers 200; ``raise`` raises. Outside the hold, after each request, a
WARNING ``served`` line says the request is over (the test waits for those). ``/stats``
answers the pipeline's drop counts. nglogger is installed from the environment
(``NGLOGGER_SINKS``, ``NGLOGGER_LEVEL=info``): the servers' own lines (uvicorn's access
lines) are nglogger events too, and never held.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

import orjson

import nglogger

nglogger.install()
log = nglogger.get_logger("app")
lib = logging.getLogger("app.lib")  # through the root's nglogger handler
lib.setLevel(logging.DEBUG)


def _route(path: str) -> tuple[str, str]:
    parts = path.strip("/").split("/")
    return parts[0], parts[-1]


def _stats() -> bytes:
    return orjson.dumps(nglogger.stats().dropped)


# -- ASGI ---------------------------------------------------------------------------


async def _handler(scope: dict[str, Any], receive: Any, send: Any) -> None:
    kind, rid = _route(scope["path"])
    log.debug("request started", rid=rid, step=1)
    lib.debug("stdlib debug for %s", rid)
    await asyncio.sleep(0.002)  # let the concurrent requests interleave

    async def child() -> None:
        log.debug("child task", rid=rid, step=2)

    await asyncio.create_task(child())
    await asyncio.to_thread(log.debug, "worker thread", rid=rid, step=3)
    log.info("working", rid=rid, step=4)
    if kind == "error":
        log.error("request failed", rid=rid, step=5)
    elif kind == "raise":
        raise RuntimeError(f"failing {rid}")
    status = 500 if kind == "status" else 200
    await send({"type": "http.response.start", "status": status, "headers": []})
    await send({"type": "http.response.body", "body": rid.encode()})


_held = nglogger.ASGIHoldMiddleware(_handler)


async def asgi(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        await _held(scope, receive, send)  # lifespan: passed through
        return
    if scope["path"] == "/stats":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": _stats()})
        return
    kind, rid = _route(scope["path"])
    try:
        await _held(scope, receive, send)
    except RuntimeError:
        await send({"type": "http.response.start", "status": 500, "headers": []})
        await send({"type": "http.response.body", "body": b"raised"})
    log.warning("served", rid=rid, kind=kind)


# -- WSGI ---------------------------------------------------------------------------

StartResponse = Callable[..., Any]


def _wsgi_handler(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    kind, rid = _route(environ["PATH_INFO"])
    log.debug("request started", rid=rid, step=1)
    lib.debug("stdlib debug for %s", rid)
    log.info("working", rid=rid, step=4)
    if kind == "error":
        log.error("request failed", rid=rid, step=5)
    elif kind == "raise":
        raise RuntimeError(f"failing {rid}")
    start_response("500 Internal Server Error" if kind == "status" else "200 OK", [])

    def body() -> Iterable[bytes]:  # the hold covers the response's iteration too
        log.debug("streaming", rid=rid, step=6)
        yield rid.encode()

    return body()


_wsgi_held = nglogger.WSGIHoldMiddleware(_wsgi_handler)


def wsgi(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
    if environ["PATH_INFO"] == "/stats":
        start_response("200 OK", [])
        return [_stats()]
    kind, rid = _route(environ["PATH_INFO"])
    try:
        response = _wsgi_held(environ, start_response)
        try:
            body = list(response)
        finally:
            response.close()  # type: ignore[attr-defined]  # PEP 3333: the server's duty
    except RuntimeError:
        start_response("500 Internal Server Error", [])
        body = [b"raised"]
    log.warning("served", rid=rid, kind=kind)
    return body
