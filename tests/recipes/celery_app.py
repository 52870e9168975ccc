"""The README's Celery recipe: the worker's logs and the tasks' go through nglogger.

``setup_logging`` connected: Celery leaves logging alone (no handlers of its own, the
root logger not hijacked) and this handler sends every record to nglogger, configured
from the environment. ``task_prerun`` binds the task's id and name as contextvars, so
every line logged while a task runs (the task's own and Celery's "Task ... succeeded")
carries them; ``task_postrun`` clears them.

Run by tests/test_recipes.py as a real worker process on the filesystem transport
(``CELERY_DATA``: the broker's folders), and as the producer
(``python celery_app.py send``).
"""

import logging
import logging.config
import os
import sys
from pathlib import Path

from celery import Celery
from celery.signals import setup_logging, task_postrun, task_prerun

import nglogger

DATA = Path(os.environ["CELERY_DATA"])

app = Celery("recipe")
app.conf.update(
    broker_url="filesystem://",
    broker_transport_options={
        "data_folder_in": str(DATA / "queue"),
        "data_folder_out": str(DATA / "queue"),
        "processed_folder": str(DATA / "processed"),
        "control_folder": str(DATA / "control"),
        "store_processed": True,
    },
    worker_hijack_root_logger=False,  # belt and braces: setup_logging below already says so
    broker_connection_retry_on_startup=True,
)


@setup_logging.connect
def route_logging_through_nglogger(**_: object) -> None:
    nglogger.configure()  # NGLOGGER_* from the environment
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "handlers": {"nglogger": {"()": "nglogger.LoggingHandler"}},
            "root": {"handlers": ["nglogger"], "level": "INFO"},
        }
    )


@task_prerun.connect
def bind_task(task_id: str, task: object, **_: object) -> None:
    nglogger.bind_contextvars(task_id=task_id, task_name=getattr(task, "name", None))


@task_postrun.connect
def unbind_task(**_: object) -> None:
    nglogger.unbind_contextvars("task_id", "task_name")


@app.task(name="recipe.add")
def add(x: int, y: int) -> int:
    logging.getLogger("app").info("adding %s and %s", x, y, extra={"x": x, "y": y})
    return x + y


if __name__ == "__main__" and sys.argv[1:] == ["send"]:
    for folder in ("queue", "processed", "control"):
        (DATA / folder).mkdir(parents=True, exist_ok=True)
    result = add.apply_async((2, 3))
    print(result.id)
