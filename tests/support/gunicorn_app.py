"""A tiny WSGI app for ``test_gunicorn.py``: every request logs one event through nglogger.

Configured at import, as an application would (``gunicorn --preload`` imports
it once, in the master, before any worker is forked): the default pipeline
writes NDJSON to the file named by ``GUNICORN_APP_LOG`` through a
:class:`~nglogger.sinks.file.FileSink` shared by every process (``O_APPEND``, no
rotation). The import logs one ``import`` event carrying the master's pid; the
flush interval is long (0.5 s) so that event is still buffered when the
workers are forked: a child that kept it would write it twice.

Each request increments this process's counter, logs a ``request`` event with
``pid`` and ``n``, and answers ``"<pid> <n>"`` so the test knows who served what.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable
from typing import Any

import nglogger
from nglogger.sinks.file import FileSink

nglogger.configure(
    sinks=[FileSink(os.environ["GUNICORN_APP_LOG"])],
    flush_interval=0.5,
    report_interval=0,
    shutdown_timeout=5.0,
)
LOG = nglogger.get_logger("gunicorn_app")
LOG.info("import", kind="import", pid=os.getpid())

_requests = itertools.count(1)


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Log one event for this request and answer with this worker's pid and counter."""
    n = next(_requests)
    pid = os.getpid()
    LOG.info("request", kind="request", pid=pid, n=n)
    body = f"{pid} {n}".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
