"""Celery with its defaults and the two-line quick start: every line is an nglogger event.

Celery's worker configures logging itself unless a ``setup_logging`` receiver is
connected; with ``worker_hijack_root_logger`` (its default) it removes every root handler,
nglogger's too. ``install()`` in the app module connects one when celery is imported, so
no recipe is needed. Run as a user runs it: a real prefork worker started from Celery's
command line on the filesystem broker, the app module holding only the quick start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import orjson
import pytest

QUICK_APP = """
import logging
import os
from pathlib import Path

import nglogger
nglogger.install()  # the two-line quick start, nothing else

from celery import Celery
from celery.utils.log import get_task_logger

DATA = Path(os.environ["CELERY_DATA"])
app = Celery("quick")
app.conf.update(  # the broker only: Celery's logging settings are its defaults
    broker_url="filesystem://",
    broker_transport_options={
        "data_folder_in": str(DATA / "queue"),
        "data_folder_out": str(DATA / "queue"),
        "processed_folder": str(DATA / "processed"),
        "control_folder": str(DATA / "control"),
    },
    broker_connection_retry_on_startup=True,
)
task_log = get_task_logger(__name__)


@app.task(name="quick.add")
def add(x, y):
    task_log.info("adding %s and %s", x, y)
    logging.getLogger("app").warning("stdlib in the task", extra={"x": x})
    nglogger.get_logger("native").info("native in the task", y=y)
    return x + y
"""


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_"))}
    return {**env, **extra}


def events(out: Path) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in out.read_bytes().splitlines()] if out.exists() else []


def wait_for(predicate, timeout: float = 90.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


@pytest.mark.slow
def test_a_prefork_worker_with_celery_defaults_logs_through_nglogger(tmp_path: Path) -> None:
    """``celery -A quick worker`` (root hijack on): worker and task lines are JSON events.

    Celery's own lines ("ready.", "Task ... received", "Task ... succeeded"), the task
    logger's, a stdlib logger's and a native logger's all reach the file sink as events;
    nothing is written as plain text on stdout or stderr.
    """
    pytest.importorskip("celery", reason="needs celery (test extra)")
    out = tmp_path / "events.jsonl"
    data = tmp_path / "broker"
    for folder in ("queue", "processed", "control"):
        (data / folder).mkdir(parents=True)
    (tmp_path / "quick.py").write_text(QUICK_APP)
    env = clean_env(
        NGLOGGER_SINKS=f"file://{out}",
        NGLOGGER_FLUSH_INTERVAL="50ms",
        CELERY_DATA=str(data),
        PYTHONPATH=str(tmp_path),
    )
    sent = subprocess.run(
        [sys.executable, "-c", "import quick; print(quick.add.delay(2, 3).id)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert sent.returncode == 0, sent.stderr
    task_id = sent.stdout.strip()
    out.unlink(missing_ok=True)  # the producer's own lines, if any: only the worker's count
    command = [sys.executable, "-m", "celery", "-A", "quick", "-q", "worker"]
    command += ["--pool=prefork", "--concurrency=1", "--without-heartbeat"]
    command += ["--without-mingle", "--without-gossip"]

    def succeeded() -> bool:
        return any(
            str(e["message"]).startswith(f"Task quick.add[{task_id}] succeeded")
            for e in events(out)
        )

    with subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as worker:
        try:
            assert wait_for(succeeded), events(out)
        finally:
            worker.send_signal(signal.SIGTERM)  # warm shutdown
            stdout, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    assert stdout.strip() in ("", "worker: Warm shutdown (MainProcess)")  # Celery's print()
    assert "" == stderr.strip()  # no plain-text handler of Celery's
    logged = events(out)
    messages = {str(e["message"]): e for e in logged}
    assert any(m.startswith("celery@") and m.endswith(" ready.") for m in messages), logged
    received = messages[f"Task quick.add[{task_id}] received"]
    assert "celery.worker.strategy" == received["logger"]
    assert "adding 2 and 3" in messages
    assert ("app", "warning", 2) == (
        messages["stdlib in the task"]["logger"],
        messages["stdlib in the task"]["level"],
        messages["stdlib in the task"]["x"],
    )
    assert 3 == messages["native in the task"]["y"]
    done = [e for m, e in messages.items() if m.startswith(f"Task quick.add[{task_id}] succeeded")]
    assert "celery.app.trace" == done[0]["logger"]
    in_task = [messages["adding 2 and 3"], messages["native in the task"], done[0]]
    for event in in_task:  # bound by task_prerun for the task's duration
        assert (task_id, "quick.add") == (event["task_id"], event["task_name"])
    assert "task_id" not in received  # logged before the task ran


SETUP = """
import logging, sys
import celery
import nglogger
from celery import Celery
handler = nglogger.install()
app = Celery("x")
app.log.setup_logging_subsystem(loglevel="WARNING")  # what the worker does at start
assert handler in logging.getLogger().handlers, logging.getLogger().handlers
assert [handler] == logging.getLogger().handlers, logging.getLogger().handlers
nglogger.uninstall()
from celery import signals
for signal in (signals.setup_logging, signals.task_prerun, signals.task_postrun):
    assert not signal.receivers, signal.receivers
print("ok")
"""


def test_install_keeps_the_root_handler_through_celerys_logging_setup() -> None:
    """Celery's logging setup (root hijack on) leaves install()'s handler; uninstall() lets go."""
    pytest.importorskip("celery", reason="needs celery (test extra)")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(SETUP)],
        env=clean_env(NGLOGGER_SINKS="null"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (0, "ok") == (done.returncode, done.stdout.strip()), done.stderr


def test_install_never_imports_celery() -> None:
    """Without celery imported by the application, install() does not import it."""
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, nglogger; nglogger.install(); print('celery' in sys.modules)",
        ],
        env=clean_env(NGLOGGER_SINKS="null"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert (0, "False") == (done.returncode, done.stdout.strip()), done.stderr
