"""The README's gunicorn recipe: gunicorn's own logs (errors, access) through nglogger.

Used by tests/test_recipes.py as ``gunicorn -c tests/recipes/gunicorn_conf.py app:app``.
"""

import nglogger

nglogger.configure()  # from the environment: NGLOGGER_SINKS, NGLOGGER_LEVEL, ...

accesslog = "-"  # turn gunicorn's access log on; the handler below decides where it goes
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"nglogger": {"()": "nglogger.LoggingHandler"}},
    "root": {"handlers": ["nglogger"], "level": "INFO"},
    "loggers": {
        "gunicorn.error": {"handlers": ["nglogger"], "level": "INFO", "propagate": False},
        "gunicorn.access": {"handlers": ["nglogger"], "level": "INFO", "propagate": False},
    },
}
