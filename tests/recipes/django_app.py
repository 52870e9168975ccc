"""The README's Django recipe: ``LOGGING`` sends Django's and the app's logs through nglogger.

Run by tests/test_recipes.py: one request through Django's own request handling
(a view that logs, and a 404 that ``django.request`` reports).
"""

import logging

import django
from django.conf import settings
from django.http import HttpResponse
from django.test import Client
from django.urls import path

import nglogger

nglogger.configure()  # from the environment


def view(request):
    logging.getLogger("app").info("handled %s", request.path, extra={"user": "bob"})
    return HttpResponse("ok")


urlpatterns = [path("hello", view)]

settings.configure(
    DEBUG=False,
    ALLOWED_HOSTS=["testserver"],
    ROOT_URLCONF=__name__,
    SECRET_KEY="recipe-test-only",
    MIDDLEWARE=[],
    LOGGING={
        "version": 1,
        "disable_existing_loggers": False,
        "handlers": {"nglogger": {"()": "nglogger.LoggingHandler"}},
        "root": {"handlers": ["nglogger"], "level": "INFO"},
        "loggers": {"django": {"handlers": ["nglogger"], "level": "INFO", "propagate": False}},
    },
)
django.setup()
client = Client()
assert client.get("/hello").status_code == 200
assert client.get("/missing").status_code == 404
nglogger.shutdown(5)
