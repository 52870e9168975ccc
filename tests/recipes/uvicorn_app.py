"""The README's uvicorn recipe: uvicorn's logs and the app's through nglogger.

Run by tests/test_recipes.py as ``python tests/recipes/uvicorn_app.py PORT``.
"""

import logging
import sys

import uvicorn

import nglogger

nglogger.configure()  # from the environment
LOG_CONFIG = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"nglogger": {"()": "nglogger.LoggingHandler"}},
    "root": {"handlers": ["nglogger"], "level": "INFO"},
    "loggers": {
        "uvicorn": {"handlers": ["nglogger"], "level": "INFO", "propagate": False},
        "uvicorn.access": {"handlers": ["nglogger"], "level": "INFO", "propagate": False},
    },
}
log = logging.getLogger("app")


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    log.info("handled %s", scope["path"])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


if __name__ == "__main__":
    # uvicorn ends by re-raising SIGTERM with its default action after its own shutdown:
    # without this, its last lines ("Finished server process") die with the process.
    nglogger.handle_signals()
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_config=LOG_CONFIG)
