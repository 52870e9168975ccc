"""A WSGI app that logs each request through the stdlib (the recipe's application)."""

import logging

log = logging.getLogger("app")


def app(environ, start_response):
    log.info("handled %s", environ["PATH_INFO"], extra={"method": environ["REQUEST_METHOD"]})
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
