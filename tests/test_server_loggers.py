"""``install()`` takes over the servers' own loggers (issue 23, item 1).

Unit tests: uvicorn's and gunicorn's access records (built by hand as the servers
build them) become structured events, ``color_message`` and ANSI codes never reach
a sink; ``install()`` removes the server loggers' console handlers and makes them
propagate, again after a later ``dictConfig``, and ``uninstall()`` restores them.

Real servers: ``uvicorn --workers 2`` and ``gunicorn -w 2`` run an app file that
does only ``import nglogger; nglogger.install()``, configured by ``NGLOGGER_SINKS``;
their access lines and the app's unhandled exception are events in the file, and
nothing of it is printed as plain text.
"""

from __future__ import annotations

import logging
import logging.config
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

import nglogger
from nglogger.sinks import MemorySink
from nglogger.stdlib import SERVER_LOGGERS, LoggingHandler, install, uninstall
from tests.support.proc import command, free_port
from tests.support.waiting import require

ANSI = re.compile(r"\x1b\[")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0


@pytest.fixture(autouse=True)
def _restore_logging() -> Iterator[None]:
    """Put the root and the server loggers back as they were."""
    root = logging.getLogger()
    handlers = root.handlers[:]
    level = root.level
    dict_config_class = logging.config.dictConfigClass
    yield
    uninstall()
    logging.config.dictConfigClass = dict_config_class
    for handler in root.handlers[:]:
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name in SERVER_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.setLevel(logging.NOTSET)
        logger.propagate = True


@pytest.fixture
def sink() -> MemorySink:
    sink = MemorySink()
    nglogger.configure(sinks=[sink], level="debug", flush_interval=0.05)
    return sink


def events_of(sink: MemorySink) -> list[dict[str, Any]]:
    nglogger.flush()
    return sink.events()


def uvicorn_access_record() -> logging.LogRecord:
    """An access record as uvicorn's h11/httptools protocols log it."""
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:51000", "GET", "/items?id=3", "1.1", 404),
        None,
    )
    record.color_message = '%s - "\x1b[1m%s %s HTTP/%s\x1b[0m" \x1b[31m%d\x1b[0m'
    return record


def gunicorn_access_record() -> logging.LogRecord:
    """An access record as gunicorn's ``Logger.access`` logs it (one dict of atoms)."""
    atoms = {
        "h": "10.0.0.7",
        "l": "-",
        "u": "-",
        "r": "POST /submit?x=1 HTTP/1.1",
        "s": "201",
        "m": "POST",
        "U": "/submit",
        "q": "x=1",
        "H": "HTTP/1.1",
        "b": "12",
        "f": "-",
        "a": "curl/8.0",
    }
    fmt = '%(h)s %(l)s %(u)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s"'
    return logging.LogRecord("gunicorn.access", logging.INFO, __file__, 1, fmt, (atoms,), None)


# ---------------------------------------------------------------------------
# Normalization of the servers' records.


def test_uvicorn_access_record_becomes_structured_fields(sink: MemorySink) -> None:
    LoggingHandler().handle(uvicorn_access_record())
    (event,) = events_of(sink)
    assert event["message"] == '127.0.0.1:51000 - "GET /items?id=3 HTTP/1.1" 404'
    assert event["method"] == "GET"
    assert event["path"] == "/items?id=3"
    assert event["status"] == 404
    assert event["client"] == "127.0.0.1:51000"
    assert event["http_version"] == "1.1"
    assert "color_message" not in event


def test_gunicorn_access_record_becomes_structured_fields(sink: MemorySink) -> None:
    LoggingHandler().handle(gunicorn_access_record())
    (event,) = events_of(sink)
    assert event["message"] == '10.0.0.7 - - "POST /submit?x=1 HTTP/1.1" 201 12 "-" "curl/8.0"'
    assert event["method"] == "POST"
    assert event["path"] == "/submit?x=1"
    assert event["status"] == 201
    assert event["client"] == "10.0.0.7"
    assert event["user_agent"] == "curl/8.0"
    assert "f" not in event
    assert "referer" not in event


def test_server_messages_lose_ansi_codes_and_color_message(sink: MemorySink) -> None:
    record = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "Started server process [%s]", (42,), None
    )
    record.color_message = "Started server process [\x1b[36m%d\x1b[0m]"
    LoggingHandler().handle(record)
    colored = logging.LogRecord(
        "uvicorn.error", logging.INFO, __file__, 1, "\x1b[32mWaiting\x1b[0m for %s", ("it",), None
    )
    LoggingHandler().handle(colored)
    first, second = events_of(sink)
    assert first["message"] == "Started server process [42]"
    assert "color_message" not in first
    assert second["message"] == "Waiting for it"


def test_other_loggers_keep_their_extras_and_codes(sink: MemorySink) -> None:
    """Only the servers' logger names are normalized: an app's fields are its own."""
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "\x1b[1mbold\x1b[0m", (), None)
    record.color_message = "kept"
    record.method = "kept too"
    LoggingHandler().handle(record)
    (event,) = events_of(sink)
    assert event["message"] == "\x1b[1mbold\x1b[0m"
    assert event["color_message"] == "kept"
    assert "status" not in event


def test_malformed_access_record_is_a_plain_event(sink: MemorySink) -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, __file__, 1, "%s and %s", ("a", "b"), None
    )
    LoggingHandler().handle(record)
    (event,) = events_of(sink)
    assert event["message"] == "a and b"
    assert "status" not in event


# ---------------------------------------------------------------------------
# install() / uninstall() and the server loggers.


def uvicorn_dict_config() -> None:
    """uvicorn's own logging configuration (what ``uvicorn.Config`` runs)."""
    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)


def console_handlers(name: str) -> list[logging.Handler]:
    return [
        h
        for h in logging.getLogger(name).handlers
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)
    ]


def test_install_takes_over_server_loggers_and_uninstall_restores(sink: MemorySink) -> None:
    pytest.importorskip("uvicorn")
    uvicorn_dict_config()
    before = {n: logging.getLogger(n).handlers[:] for n in ("uvicorn", "uvicorn.access")}
    access = logging.getLogger("uvicorn.access")
    assert not access.propagate
    assert console_handlers("uvicorn.access")
    install()
    install()  # idempotent
    for name in ("uvicorn", "uvicorn.access"):
        assert logging.getLogger(name).handlers == []
        assert logging.getLogger(name).propagate
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:9", "GET", "/", "1.1", 200)
    (event,) = events_of(sink)
    assert event["logger"] == "uvicorn.access"
    assert event["status"] == 200
    assert uninstall()
    for name, handlers in before.items():
        assert logging.getLogger(name).handlers == handlers
        assert not logging.getLogger(name).propagate
    assert logging.config.dictConfigClass is logging.config.DictConfigurator


def test_install_covers_a_dict_config_run_after_it(sink: MemorySink) -> None:
    """``uvicorn.run(app)`` from a script that installed first: uvicorn configures later."""
    pytest.importorskip("uvicorn")
    install()
    uvicorn_dict_config()
    assert logging.getLogger("uvicorn").handlers == []
    assert logging.getLogger("uvicorn").propagate
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    (event,) = events_of(sink)
    assert event["message"] == "Application startup complete."
    uninstall()
    assert console_handlers("uvicorn")  # the configuration uvicorn made is restored
    assert not logging.getLogger("uvicorn").propagate


def test_console_handler_added_again_is_removed_at_the_next_record(sink: MemorySink) -> None:
    """gunicorn's reload re-runs its ``Logger.setup``: a new StreamHandler, propagate kept."""
    install()
    error = logging.getLogger("gunicorn.error")
    error.addHandler(logging.StreamHandler(sys.stderr))
    error.propagate = False
    install()  # taken over
    printed = logging.StreamHandler(sys.stderr)
    error.addHandler(printed)  # a reload adds one again
    error.info("Handling signal: hup")
    assert printed not in error.handlers
    error.info("Booting worker with pid: %s", 7)
    assert [e["message"] for e in events_of(sink)] == [
        "Handling signal: hup",
        "Booting worker with pid: 7",
    ]


def test_logger_without_console_handler_is_left_alone(sink: MemorySink) -> None:
    """uvicorn's ``--no-access-log``: no handler and no propagation stays off."""
    access = logging.getLogger("uvicorn.access")
    access.propagate = False
    install()
    assert not access.propagate
    access.info("nothing")
    assert events_of(sink) == []


def test_install_servers_false_leaves_them_alone(sink: MemorySink) -> None:
    pytest.importorskip("uvicorn")
    uvicorn_dict_config()
    before = logging.getLogger("uvicorn.access").handlers[:]
    install(servers=False)
    assert logging.getLogger("uvicorn.access").handlers == before
    assert logging.config.dictConfigClass is logging.config.DictConfigurator
    install()
    assert logging.getLogger("uvicorn.access").handlers == []
    install(servers=False)  # puts back what the previous call took over
    assert logging.getLogger("uvicorn.access").handlers == before
    assert not logging.getLogger("uvicorn.access").propagate


def test_file_handlers_on_server_loggers_are_kept(sink: MemorySink, tmp_path: Path) -> None:
    access = logging.getLogger("gunicorn.access")
    file_handler = logging.FileHandler(tmp_path / "access.log")
    access.addHandler(file_handler)
    access.propagate = False
    install()
    assert access.handlers == [file_handler]
    assert not access.propagate
    file_handler.close()


# ---------------------------------------------------------------------------
# Real servers, started from their command line.

ASGI_APP = """
import nglogger
nglogger.install()


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    if scope["path"] == "/boom":
        raise RuntimeError("boom from the app")
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""

WSGI_APP = """
import nglogger
nglogger.install()


def application(environ, start_response):
    if environ["PATH_INFO"] == "/boom":
        raise RuntimeError("boom from the app")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""


def server_env(events: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NGLOGGER_", "OTEL_")) and k not in ("LOG_LEVEL", "NO_COLOR")
    }
    env["NGLOGGER_SINKS"] = f"file://{events}"
    env["NGLOGGER_FLUSH_INTERVAL"] = "0.05"
    env["PYTHONPATH"] = os.pathsep.join(
        [str(Path(__file__).parent.parent), env.get("PYTHONPATH", "")]
    ).rstrip(os.pathsep)
    return env


def get(port: int, path: str) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as err:
        return err.code


def accepting(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def read_events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def run_server(
    tmp_path: Path, argv: list[str], port: int, requests: list[tuple[str, int]], done: Any
) -> tuple[list[dict[str, Any]], str, str]:
    """Start ``argv``, GET each path (expecting its status), wait for ``done(events)``, stop it."""
    events = tmp_path / "events.jsonl"
    out, err = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        server = subprocess.Popen(
            argv, cwd=tmp_path, env=server_env(events), stdout=stdout, stderr=stderr
        )
        try:
            require(lambda: accepting(port) or server.poll() is not None, timeout=START_TIMEOUT)
            assert server.poll() is None, err.read_text(errors="replace")
            for path, status in requests:
                assert get(port, path) == status
            require(lambda: done(read_events(events)), timeout=START_TIMEOUT)
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
    return read_events(events), out.read_text(errors="replace"), err.read_text(errors="replace")


def assert_clean(events: list[dict[str, Any]], stdout: str, stderr: str, events_path: Path) -> None:
    text = events_path.read_text()
    assert not ANSI.search(text)
    assert all("color_message" not in e for e in events)
    for printed in (stdout, stderr):
        assert '"GET /' not in printed, printed  # no plain-text access line
        assert "boom from the app" not in printed, printed


@pytest.mark.slow
def test_uvicorn_workers_access_lines_and_exception_are_events(tmp_path: Path) -> None:
    pytest.importorskip("uvicorn")
    (tmp_path / "app.py").write_text(ASGI_APP)
    port = free_port()
    argv = [*command("uvicorn"), "--workers", "2", "--use-colors", "--host", "127.0.0.1"]
    argv += ["--port", str(port), "app:app"]

    def done(events: list[dict[str, Any]]) -> bool:
        access = [e for e in events if e.get("logger") == "uvicorn.access"]
        errors = [e for e in events if "exception" in e]
        return len(access) >= 3 and bool(errors)

    events, stdout, stderr = run_server(
        tmp_path, argv, port, [("/ok?x=1", 200), ("/ok", 200), ("/boom", 500)], done
    )
    access = [e for e in events if e.get("logger") == "uvicorn.access"]
    ok = next(e for e in access if e["path"] == "/ok?x=1")
    assert ok["method"] == "GET"
    assert ok["status"] == 200
    assert ok["http_version"] == "1.1"
    assert ok["client"].startswith("127.0.0.1:")
    assert ok["message"] == f'{ok["client"]} - "GET /ok?x=1 HTTP/1.1" 200'
    assert any(e["path"] == "/boom" and e["status"] == 500 for e in access)
    (crash,) = [e for e in events if "exception" in e]
    assert crash["logger"] == "uvicorn.error"
    assert crash["level"] == "error"
    assert crash["message"].startswith("Exception in ASGI application")
    assert "boom from the app" in orjson.dumps(crash["exception"]).decode()
    assert any(
        e.get("logger") == "uvicorn.error" and "Started server process" in e["message"]
        for e in events
    )
    assert_clean(events, stdout, stderr, tmp_path / "events.jsonl")


@pytest.mark.slow
def test_gunicorn_workers_access_lines_and_exception_are_events(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn")
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    port = free_port()
    argv = [*command("gunicorn"), "-w", "2", "--access-logfile", "-", "-b", f"127.0.0.1:{port}"]
    argv += ["wsgi:application"]

    def done(events: list[dict[str, Any]]) -> bool:
        access = [e for e in events if e.get("logger") == "gunicorn.access"]
        errors = [e for e in events if "exception" in e]
        return len(access) >= 2 and bool(errors)

    events, stdout, stderr = run_server(
        tmp_path, argv, port, [("/ok?x=1", 200), ("/ok", 200), ("/boom", 500)], done
    )
    access = [e for e in events if e.get("logger") == "gunicorn.access"]
    ok = next(e for e in access if e["path"] == "/ok?x=1")
    assert ok["method"] == "GET"
    assert ok["status"] == 200
    assert ok["client"] == "127.0.0.1"
    assert ok["user_agent"].startswith("Python-urllib/")
    crash = next(e for e in events if "exception" in e)
    assert crash["logger"] == "gunicorn.error"
    assert "boom from the app" in orjson.dumps(crash["exception"]).decode()
    assert_clean(events, stdout, stderr, tmp_path / "events.jsonl")


@pytest.mark.slow
def test_uvicorn_workers_deliver_their_last_lines_on_a_graceful_stop(tmp_path: Path) -> None:
    """SIGTERM to `uvicorn --workers 2`: every worker's buffered events reach the file.

    uvicorn restores the default SIGTERM action in each worker after its own shutdown and
    raises the signal again, so a worker ends without exit hooks: nglogger delivers when
    it sees uvicorn's last line. The flush interval is a minute, so nothing would reach the
    file on its own before the stop.
    """
    pytest.importorskip("uvicorn")
    (tmp_path / "app.py").write_text(ASGI_APP)
    port = free_port()
    events = tmp_path / "events.jsonl"
    env = server_env(events)
    env["NGLOGGER_FLUSH_INTERVAL"] = "60s"
    argv = [*command("uvicorn"), "--workers", "2", "--host", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen([*argv, "app:app"], cwd=tmp_path, env=env)
    try:
        require(lambda: accepting(port) or server.poll() is not None, timeout=START_TIMEOUT)
        assert server.poll() is None
        for i in range(10):
            assert get(port, f"/ok?n={i}") == 200
        assert not [e for e in read_events(events) if e.get("logger") == "uvicorn.access"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=STOP_TIMEOUT)
    lines = read_events(events)
    paths = sorted(e["path"] for e in lines if e.get("logger") == "uvicorn.access")
    assert paths == sorted(f"/ok?n={i}" for i in range(10))
    finished = [e for e in lines if str(e["message"]).startswith("Finished server process")]
    assert len(finished) == 2  # each worker's last line


@pytest.mark.slow
def test_gunicorn_workers_deliver_their_last_lines_on_a_graceful_stop(tmp_path: Path) -> None:
    """SIGTERM to `gunicorn -w 2`: its workers exit through Python's exit, which flushes."""
    pytest.importorskip("gunicorn")
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    port = free_port()
    events = tmp_path / "events.jsonl"
    env = server_env(events)
    env["NGLOGGER_FLUSH_INTERVAL"] = "60s"
    argv = [*command("gunicorn"), "-w", "2", "--access-logfile", "-", "-b", f"127.0.0.1:{port}"]
    server = subprocess.Popen([*argv, "wsgi:application"], cwd=tmp_path, env=env)
    try:
        require(lambda: accepting(port) or server.poll() is not None, timeout=START_TIMEOUT)
        assert server.poll() is None
        for i in range(10):
            assert get(port, f"/ok?n={i}") == 200
        assert not [e for e in read_events(events) if e.get("logger") == "gunicorn.access"]
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=STOP_TIMEOUT)
    paths = sorted(e["path"] for e in read_events(events) if e.get("logger") == "gunicorn.access")
    assert paths == sorted(f"/ok?n={i}" for i in range(10))


DJANGO_SETTINGS = """
import nglogger

nglogger.install()  # the two-line quick start, in settings.py

DEBUG = False
ALLOWED_HOSTS = ["127.0.0.1"]
ROOT_URLCONF = "urls"
SECRET_KEY = "server-loggers-test-only"
MIDDLEWARE = []
INSTALLED_APPS = []
"""

DJANGO_URLS = """
from django.http import HttpResponse
from django.urls import path


def ok(request):
    return HttpResponse("ok")


def boom(request):
    raise RuntimeError("boom from the view")


urlpatterns = [path("ok", ok), path("boom", boom)]
"""


def test_django_server_and_request_records_become_fields(sink: MemorySink) -> None:
    """runserver's access line and django.request's report: fields, not the objects."""
    access = logging.LogRecord(
        "django.server",
        logging.INFO,
        __file__,
        1,
        '"%s" %s %s',
        ("GET /ok?x=1 HTTP/1.1", "200", "2"),
        None,
    )
    access.request = socket.socket()  # runserver passes its connection
    access.server_time = "07/Dec/2026 23:00:00"
    access.status_code = 200
    try:
        LoggingHandler().handle(access)
    finally:
        access.request.close()

    class Request:  # the part of Django's HttpRequest the handler reads
        method = "POST"

        def get_full_path(self) -> str:
            return "/boom?y=2"

    report = logging.LogRecord(
        "django.request", logging.ERROR, __file__, 1, "Internal Server Error: %s", ("/boom",), None
    )
    report.request = Request()
    report.status_code = 500
    LoggingHandler().handle(report)
    first, second = events_of(sink)
    assert (first["method"], first["path"], first["status"], first["http_version"]) == (
        "GET",
        "/ok?x=1",
        200,
        "1.1",
    )
    assert (second["method"], second["path"], second["status"]) == ("POST", "/boom?y=2", 500)
    for event in (first, second):
        assert not {"request", "server_time", "status_code", "nglogger_fallback"} & set(event)


@pytest.mark.slow
def test_django_runserver_lines_and_a_view_exception_are_events(tmp_path: Path) -> None:
    """`manage.py runserver`, install() in settings.py: access lines and the 500 as events."""
    pytest.importorskip("django")
    (tmp_path / "settings.py").write_text(DJANGO_SETTINGS)
    (tmp_path / "urls.py").write_text(DJANGO_URLS)
    port = free_port()
    argv = [sys.executable, "-m", "django", "runserver", f"127.0.0.1:{port}", "--noreload"]
    argv += ["--settings=settings", f"--pythonpath={tmp_path}"]

    def done(events: list[dict[str, Any]]) -> bool:
        lines = [e for e in events if e.get("logger") == "django.server"]
        return len(lines) >= 2 and any("exception" in e for e in events)

    events, stdout, stderr = run_server(tmp_path, argv, port, [("/ok", 200), ("/boom", 500)], done)
    lines = [e for e in events if e.get("logger") == "django.server"]
    ok = next(e for e in lines if e["path"] == "/ok")
    assert (ok["method"], ok["status"], ok["level"]) == ("GET", 200, "info")
    failed = next(e for e in lines if e["path"] == "/boom")
    assert (failed["status"], failed["level"]) == (500, "error")
    (crash,) = [e for e in events if "exception" in e]
    assert crash["logger"] == "django.request"
    assert (crash["method"], crash["path"], crash["status"]) == ("GET", "/boom", 500)
    assert "boom from the view" in orjson.dumps(crash["exception"]).decode()
    assert all("request" not in e and "nglogger_fallback" not in e for e in events)
    for printed in (stdout, stderr):
        assert '"GET /' not in printed, printed  # no plain-text access line
        assert "boom from the view" not in printed, printed
