"""The documented recipes (docs/recipes.md), run for real: gunicorn, uvicorn, Django, Celery.

Each recipe (``tests/recipes/``) configures nglogger from the environment, the way a
deployment would (``NGLOGGER_SINKS`` pointing at a file here), runs the server or the
framework in a subprocess on 127.0.0.1, and the test reads the file: the framework's
own log lines and the application's are nglogger events there, and nothing went to
stdout.
"""

from __future__ import annotations

import http.client
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from support.http import LoopbackServer
from support.proc import free_port

RECIPES = Path(__file__).resolve().parent / "recipes"


def environment(out: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_"))}
    env["NGLOGGER_SINKS"] = f"file://{out}"
    env["NGLOGGER_FLUSH_INTERVAL"] = "50ms"
    env["PYTHONPATH"] = os.pathsep.join([str(RECIPES), env.get("PYTHONPATH", "")])
    return env


def events(out: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []


def get(port: int, path: str, deadline: float) -> int:
    """GET ``path`` once the server answers (retrying connection refusals until ``deadline``)."""
    while True:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", path)
            status = connection.getresponse().status
            connection.close()
            return status
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def wait_for(predicate, timeout: float = 30.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_gunicorn_logconfig_dict_routes_gunicorn_logs_through_nglogger(tmp_path: Path) -> None:
    """gunicorn's error and access logs and the app's own are nglogger events in the file."""
    out = tmp_path / "gunicorn.jsonl"
    port = free_port()
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(RECIPES / "gunicorn_conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "wsgi_app:app",
    ]
    with subprocess.Popen(
        command, env=environment(out), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            deadline = time.monotonic() + 60
            assert get(port, "/one", deadline) == 200
            assert get(port, "/two", deadline) == 200
        finally:
            server.send_signal(signal.SIGTERM)
            stdout, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    assert stdout == ""
    logged = events(out)
    loggers = {e["logger"] for e in logged}
    assert {"gunicorn.error", "gunicorn.access", "app"} <= loggers, logged
    assert any("Booting worker" in str(e["message"]) for e in logged)
    handled = [e for e in logged if e["logger"] == "app"]
    assert [(e["message"], e["method"]) for e in handled] == [
        ("handled /one", "GET"),
        ("handled /two", "GET"),
    ]
    access = [e for e in logged if e["logger"] == "gunicorn.access"]
    assert len(access) == 2
    assert all('"GET /' in str(e["message"]) for e in access)


def test_uvicorn_log_config_routes_uvicorn_logs_through_nglogger(tmp_path: Path) -> None:
    """uvicorn's startup and access lines and the app's own are nglogger events in the file."""
    pytest.importorskip("uvicorn", reason="the uvicorn recipe needs uvicorn (test extra)")
    out = tmp_path / "uvicorn.jsonl"
    port = free_port()
    with subprocess.Popen(
        [sys.executable, str(RECIPES / "uvicorn_app.py"), str(port)],
        env=environment(out),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as server:
        try:
            assert get(port, "/hello", time.monotonic() + 60) == 200
            assert wait_for(lambda: any(e["logger"] == "uvicorn.access" for e in events(out)))
        finally:
            server.send_signal(signal.SIGTERM)
            stdout, stderr = server.communicate(timeout=60)
    assert stdout == ""
    logged = events(out)
    by_logger = {str(e["logger"]) for e in logged}
    assert {"uvicorn.error", "uvicorn.access", "app"} <= by_logger, (logged, stderr)
    assert any("Uvicorn running" in str(e["message"]) for e in logged)
    assert [e["message"] for e in logged if e["logger"] == "app"] == ["handled /hello"]
    # the shutdown lines logged while handling SIGTERM were flushed at exit
    assert any("Finished server process" in str(e["message"]) for e in logged)


def test_django_logging_setting_routes_django_logs_through_nglogger(tmp_path: Path) -> None:
    """Django's request logging (a 404) and a view's own log are nglogger events."""
    pytest.importorskip("django", reason="the Django recipe needs Django (test extra)")
    out = tmp_path / "django.jsonl"
    done = subprocess.run(
        [sys.executable, str(RECIPES / "django_app.py")],
        env=environment(out),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    logged = events(out)
    view = [e for e in logged if e["logger"] == "app"]
    assert [(e["message"], e["user"]) for e in view] == [("handled /hello", "bob")]
    not_found = [e for e in logged if e["logger"] == "django.request"]
    assert [(e["level"], e["message"]) for e in not_found] == [("warning", "Not Found: /missing")]


def _gunicorn(port: int, workers: int = 2) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        str(RECIPES / "gunicorn_conf.py"),
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "wsgi_app:app",
    ]


def test_gunicorn_boots_with_a_misspelled_variable_and_says_so(tmp_path: Path) -> None:
    """A typo'd NGLOGGER_ variable and a bad value warn; both workers boot and log (production)."""
    out = tmp_path / "gunicorn.jsonl"
    port = free_port()
    env = {**environment(out), "NGLOGGER_LEVL": "debug", "NGLOGGER_BATCH_EVENTS": "lots"}
    with subprocess.Popen(
        _gunicorn(port), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as server:
        try:
            deadline = time.monotonic() + 60
            assert get(port, "/one", deadline) == 200
            assert wait_for(
                lambda: sum("Booting worker" in str(e["message"]) for e in events(out)) == 2
            )
        finally:
            server.send_signal(signal.SIGTERM)
            _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    assert "ConfigWarning: NGLOGGER_LEVL='debug' is invalid" in stderr
    assert "did you mean NGLOGGER_LEVEL?" in stderr
    assert "ConfigWarning: NGLOGGER_BATCH_EVENTS='lots' is invalid" in stderr
    assert "Worker failed to boot" not in stderr
    assert [e["message"] for e in events(out) if e["logger"] == "app"] == ["handled /one"]


def test_gunicorn_refuses_to_start_on_a_misspelled_variable_when_asked(tmp_path: Path) -> None:
    """With NGLOGGER_CONFIG_ERRORS=raise (development, CI) the same typo stops the server."""
    out = tmp_path / "gunicorn.jsonl"
    env = {**environment(out), "NGLOGGER_LEVL": "debug", "NGLOGGER_CONFIG_ERRORS": "raise"}
    done = subprocess.run(
        _gunicorn(free_port()), env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode != 0
    assert "NGLOGGER_LEVL='debug' is invalid" in done.stderr
    assert not out.exists()


@pytest.mark.slow
def test_celery_worker_logs_and_task_logs_are_nglogger_events_with_the_task_id(
    tmp_path: Path,
) -> None:
    """A real Celery worker (prefork, filesystem broker): its lines and the task's, task id bound.

    The task's own line and Celery's "Task ... received/succeeded" lines are nglogger
    events in the file; those logged while the task ran carry ``task_id`` and
    ``task_name`` (``task_prerun``); nothing but Celery's own shutdown notice is printed.
    """
    pytest.importorskip("celery", reason="the Celery recipe needs celery (test extra)")
    out = tmp_path / "celery.jsonl"
    env = {**environment(out), "CELERY_DATA": str(tmp_path / "broker")}
    sent = subprocess.run(
        [sys.executable, str(RECIPES / "celery_app.py"), "send"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip()
    assert len(task_id) == 36, sent.stdout  # a uuid: the task is queued on the broker's folder
    command = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "celery_app",
        "-q",
        "worker",
        "--pool=prefork",
        "--concurrency=1",
        "--without-heartbeat",
        "--without-mingle",
        "--without-gossip",
    ]

    def succeeded() -> bool:
        return any(e["logger"] == "celery.app.trace" for e in events(out))

    with subprocess.Popen(
        command,
        env=env,
        cwd=RECIPES,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    ) as worker:
        try:
            assert wait_for(succeeded, timeout=90)
        finally:
            worker.send_signal(signal.SIGTERM)  # warm shutdown
            stdout, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    assert stdout.strip() in ("", "worker: Warm shutdown (MainProcess)")  # Celery's print()
    logged = events(out)
    ready = [e["message"] for e in logged if e["logger"] == "celery.apps.worker"]
    assert any(str(m).startswith("celery@") and str(m).endswith(" ready.") for m in ready), logged
    by_logger = {e["logger"]: e for e in logged}
    received = by_logger["celery.worker.strategy"]
    assert f"Task recipe.add[{task_id}] received" == received["message"]
    own = by_logger["app"]
    assert ("adding 2 and 3", 2, 3) == (own["message"], own["x"], own["y"])
    done = by_logger["celery.app.trace"]
    assert str(done["message"]).startswith(f"Task recipe.add[{task_id}] succeeded in ")
    assert str(done["message"]).endswith("s: 5")
    for event in (own, done):  # bound by task_prerun, for the task's duration
        assert (task_id, "recipe.add") == (event["task_id"], event["task_name"])
        assert event["level"] == "info"
    assert "task_id" not in received  # logged before the task ran


def test_gunicorn_workers_each_get_a_spool_slot_of_their_own(tmp_path: Path) -> None:
    """NGLOGGER_SPOOL_DIR under gunicorn: the master and each forked worker hold one slot.

    The slots are the network sink's (a backend on 127.0.0.1 that takes everything): the
    file sink writes locally and takes none.
    """
    out = tmp_path / "gunicorn.jsonl"
    spool = tmp_path / "spool"
    port = free_port()
    backend = LoopbackServer()
    env = {**environment(out), "NGLOGGER_SPOOL_DIR": str(spool)}
    env["NGLOGGER_SINKS"] = f"{env['NGLOGGER_SINKS']},{backend.url}/ingest"
    with (
        backend,
        subprocess.Popen(
            _gunicorn(port), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as server,
    ):
        try:
            deadline = time.monotonic() + 60
            assert get(port, "/one", deadline) == 200
            assert wait_for(
                lambda: sum("Booting worker" in str(e["message"]) for e in events(out)) == 2
            )
            booted = [e for e in events(out) if "Booting worker" in str(e["message"])]
            workers = {int(str(e["message"]).rsplit(" ", 1)[1]) for e in booted}

            def holders() -> set[int]:
                return {
                    int(lock.read_text())
                    for lock in spool.glob("*/lock")
                    if lock.read_text().strip()
                }

            assert wait_for(lambda: holders() >= {server.pid, *workers}), (holders(), workers)
            slots = list(spool.iterdir())  # <dir>, <dir>.1, <dir>.2: one per process
            assert len(slots) >= 3  # (a worker gunicorn restarted on a loaded machine adds one)
        finally:
            server.send_signal(signal.SIGTERM)
            _, stderr = server.communicate(timeout=60)
    assert server.returncode == 0, stderr
    # No slot warning: every process had a slot, and none was left behind. (A worker that
    # stops with events not yet delivered on a loaded machine may say it kept them in its
    # own slot for the next start: that is not a slot problem.)
    for warning in ("spool slot(s) left", "no spool", "unusable"):
        assert warning not in stderr, stderr


CELERY_STOP_APP = """
import os
from pathlib import Path

from celery import Celery

import nglogger

nglogger.install()  # the two-line quick start

DATA = Path(os.environ["CELERY_DATA"])
app = Celery("stopping")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={
        "data_folder_in": str(DATA / "queue"),
        "data_folder_out": str(DATA / "queue"),
        "processed_folder": str(DATA / "processed"),
        "control_folder": str(DATA / "control"),
    },
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)
log = nglogger.get_logger("task")


@app.task(name="stopping.work")
def work(n: int) -> int:
    log.info("worked", n=n)  # in the pool process, held by its pipeline (1 min interval)
    (DATA / f"done-{n}").touch()
    return n
"""


@pytest.mark.slow
def test_celery_prefork_pool_processes_deliver_their_last_lines_on_a_warm_shutdown(
    tmp_path: Path,
) -> None:
    """SIGTERM to a Celery prefork worker: the pool processes' events reach the file.

    billiard ends a pool process with ``os._exit`` (no exit hooks) after Celery's
    ``worker_process_shutdown``; with a one-minute flush interval nothing the tasks logged
    would reach the file on its own.
    """
    pytest.importorskip("celery", reason="needs celery (test extra)")
    out = tmp_path / "celery.jsonl"
    data = tmp_path / "broker"
    for folder in ("queue", "processed", "control"):
        (data / folder).mkdir(parents=True)
    (tmp_path / "stopping.py").write_text(CELERY_STOP_APP)
    env = {**environment(out), "CELERY_DATA": str(data), "NGLOGGER_FLUSH_INTERVAL": "60s"}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env["PYTHONPATH"]])
    sent = subprocess.run(
        [
            sys.executable,
            "-c",
            "import stopping\nfor n in range(3): stopping.work.delay(n)",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    command = [sys.executable, "-m", "celery", "-A", "stopping", "-q", "worker"]
    command += ["--pool=prefork", "--concurrency=2", "--without-heartbeat"]
    command += ["--without-mingle", "--without-gossip"]
    with subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as worker:
        try:
            assert wait_for(lambda: len(list(data.glob("done-*"))) == 3, timeout=90)
            assert not [e for e in events(out) if e.get("logger") == "task"]  # still held
        finally:
            worker.send_signal(signal.SIGTERM)  # warm shutdown
            _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    worked = sorted(int(str(e["n"])) for e in events(out) if e.get("logger") == "task")
    assert worked == [0, 1, 2]
