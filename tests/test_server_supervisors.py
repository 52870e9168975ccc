"""The supervising process's own lines (gunicorn's master, uvicorn's parent) as events too.

``install()`` in the app module runs where the app is imported: in each worker. The
supervisor's few lines ("Starting gunicorn", "Listening at", "Booting worker",
"Started parent process", "Stopping parent process") are events as well when nglogger
runs there: gunicorn ``--preload`` (the app is imported in the master), the same two lines
in ``gunicorn.conf.py`` (``install()`` follows gunicorn's own ``Logger.setup``), or
uvicorn's ``--log-config`` naming ``nglogger.install`` as the root's handler. Each case runs
the real server from its command line and finds nothing printed as plain text.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest

import nglogger
from nglogger.sinks import MemorySink
from nglogger.stdlib import install, uninstall
from tests.support.proc import command, free_port
from tests.support.waiting import require

START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0

QUICK_START = "import nglogger\nnglogger.install()\n"

WSGI_APP = (
    QUICK_START
    + """
def application(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
"""
)

ASGI_APP = (
    QUICK_START
    + """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})
"""
)

#: uvicorn ``--log-config``: the root's handler is ``nglogger.install()``'s (configured from
#: the environment, server loggers taken over), in the parent and in each worker.
LOG_CONFIG = """{"version": 1, "disable_existing_loggers": false,
 "handlers": {"nglogger": {"()": "nglogger.install"}},
 "root": {"handlers": ["nglogger"], "level": "INFO"}}
"""


def events_of(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]


def answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as response:
            return int(response.status) == 200
    except OSError:
        return False


def run(tmp_path: Path, argv: list[str], port: int, last: str) -> tuple[list[str], str, str]:
    """Start ``argv`` in ``tmp_path``, GET /, stop it with SIGTERM; the messages in the file.

    ``last``: the supervisor's last line, waited for after the stop.
    """
    events = tmp_path / "events.jsonl"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_"))}
    env.update(NGLOGGER_SINKS=f"file://{events}", NGLOGGER_FLUSH_INTERVAL="0.05")
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")])
    with subprocess.Popen(
        argv, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            require(lambda: answers(port) or server.poll() is not None, timeout=START_TIMEOUT)
            assert server.poll() is None
        finally:
            server.send_signal(signal.SIGTERM)
            try:
                stdout, stderr = server.communicate(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                server.kill()
                stdout, stderr = server.communicate()
    assert server.returncode == 0, stderr
    require(lambda: any(last in str(e["message"]) for e in events_of(events)), timeout=10)
    return [str(e["message"]) for e in events_of(events)], stdout, stderr


GUNICORN_MASTER = ("Starting gunicorn", "Listening at: ", "Booting worker", "Shutting down: Master")


@pytest.mark.slow
def test_gunicorn_preload_master_lines_are_events(tmp_path: Path) -> None:
    """``gunicorn --preload -w 2``: the app (two lines) is imported in the master: its lines too."""
    pytest.importorskip("gunicorn")
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    port = free_port()
    argv = [*command("gunicorn"), "--preload", "-w", "2", "-b", f"127.0.0.1:{port}"]
    messages, stdout, stderr = run(tmp_path, [*argv, "wsgi:application"], port, "Shutting down")
    for line in GUNICORN_MASTER:
        assert any(m.startswith(line) for m in messages), (line, messages)
    assert ("", "") == (stdout, stderr)


@pytest.mark.slow
def test_gunicorn_conf_quick_start_covers_the_master(tmp_path: Path) -> None:
    """The two lines in ``gunicorn.conf.py`` (read by gunicorn from its directory): the master's
    lines are events, though gunicorn sets its handlers up after the file ran."""
    pytest.importorskip("gunicorn")
    (tmp_path / "wsgi.py").write_text(WSGI_APP)
    (tmp_path / "gunicorn.conf.py").write_text(QUICK_START + 'accesslog = "-"\n')
    port = free_port()
    argv = [*command("gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "wsgi:application"]
    messages, stdout, stderr = run(tmp_path, argv, port, "Shutting down")
    for line in GUNICORN_MASTER:
        assert any(m.startswith(line) for m in messages), (line, messages)
    assert any('"GET / HTTP/1.1" 200' in m for m in messages), messages  # access, from a worker
    assert ("", "") == (stdout, stderr)


@pytest.mark.slow
def test_uvicorn_log_config_with_nglogger_install_covers_the_parent(tmp_path: Path) -> None:
    """``uvicorn --workers 2 --log-config log.json`` (``nglogger.install`` as the root's handler):
    the parent's lines are events too; nothing is printed."""
    pytest.importorskip("uvicorn")
    (tmp_path / "app.py").write_text(ASGI_APP)
    (tmp_path / "log.json").write_text(LOG_CONFIG)
    port = free_port()
    argv = [*command("uvicorn"), "--workers", "2", "--log-config", "log.json"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "app:app"]
    messages, stdout, stderr = run(tmp_path, argv, port, "Stopping parent process")
    for line in ("Uvicorn running on", "Started parent process", "Started server process"):
        assert any(m.startswith(line) for m in messages), (line, messages)
    assert any('"GET / HTTP/1.1" 200' in m for m in messages), messages
    assert ("", "") == (stdout, stderr)


def test_install_follows_gunicorns_logger_setup_and_uninstall_puts_it_back() -> None:
    """Under gunicorn, a ``glogging.Logger`` set up after ``install()`` is taken over at once."""
    pytest.importorskip("gunicorn")
    import gunicorn.arbiter  # noqa: F401 - a gunicorn process: the arbiter is imported
    from gunicorn import glogging
    from gunicorn.config import Config

    sink = MemorySink()
    nglogger.configure(sinks=[sink])
    original = glogging.Logger.setup
    error = logging.getLogger("gunicorn.error")
    before = (error.handlers[:], error.propagate, error.level)
    install()
    try:
        assert glogging.Logger.setup is not original
        glogging.Logger(Config())  # what the arbiter does after gunicorn.conf.py ran
        assert error.propagate
        assert not [h for h in error.handlers if isinstance(h, logging.StreamHandler)]
        error.info("Booting worker with pid: %s", 7)
        assert nglogger.flush(10)
        assert ["Booting worker with pid: 7"] == [e["message"] for e in sink.events()]
    finally:
        uninstall()
        error.handlers[:], error.propagate, _ = before
        error.setLevel(before[2])
    assert glogging.Logger.setup is original
