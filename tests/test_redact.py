"""Redaction: secret fields never leave the process, at any depth, in every position."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

import nglogger
from nglogger._event.redact import DEFAULT_REDACT_KEYS, MARK, Redactor
from nglogger.sinks import MemorySink

CANARY = "canary-7f3a9c-DO-NOT-LEAK"


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("Password", True),
        ("DB_PASSWORD", True),
        ("x-api-key", True),
        ("X-Api-Key", True),
        ("apiKey", True),
        ("client_secret", True),
        ("access_token", True),
        ("Authorization", True),
        ("set-cookie", True),
        ("session_id", True),
        ("private_key", True),
        ("card_number", True),
        ("token_count", False),
        ("tokens_used", False),
        ("user", False),
        ("path", False),
        ("secretary", False),
    ],
)
def test_name_matching_table(name: str, secret: bool) -> None:
    """Names match ignoring case and '-', '_', '.', by equality or as a suffix."""
    assert Redactor(DEFAULT_REDACT_KEYS).is_secret(name) is secret


def test_nested_values_are_redacted_without_mutating_the_caller() -> None:
    """Secrets inside dicts and lists are replaced in a copy; the caller's object is unchanged."""
    value = {"user": "bob", "auth": [{"password": "x", "ok": 1}], "token": "t"}
    clean = Redactor(DEFAULT_REDACT_KEYS).value("payload", value)
    assert clean == {"user": "bob", "auth": [{"password": MARK, "ok": 1}], "token": MARK}
    assert value["token"] == "t"
    assert value["auth"][0]["password"] == "x"  # type: ignore[index]


def test_every_position_is_redacted(tmp_path: Path) -> None:
    """The canary planted as a secret field anywhere reaches no sink's output."""
    memory = MemorySink()
    path = tmp_path / "out.jsonl"
    nglogger.configure(
        sinks=[memory, f"file://{path}"],
        level="debug",
        context={"service": "svc", "api_key": CANARY},
    )
    log = nglogger.get_logger("canary").bind(password=CANARY, nested={"secret": CANARY})
    nglogger.bind_contextvars(authorization=CANARY, request={"cookie": CANARY})
    log.info("call", token=CANARY, body={"items": [{"private_key": CANARY}]})
    log.info("plain")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", session_id=CANARY)
    std = logging.getLogger("canary.stdlib")
    std.handlers = [nglogger.LoggingHandler()]
    std.propagate = False
    std.warning("stdlib", extra={"passwd": CANARY, "meta": {"set-cookie": CANARY}})
    assert nglogger.flush(5)
    nglogger.shutdown(5)
    lines = memory.lines()
    assert len(lines) == 4
    for line in lines:
        assert CANARY.encode() not in line
    assert CANARY.encode() not in path.read_bytes()
    assert b"[REDACTED]" in path.read_bytes()
    assert all(e["service"] == "svc" for e in memory.events())


def test_value_patterns_when_enabled() -> None:
    """redact_values=True scrubs Bearer tokens, JWTs, AWS key ids and URL passwords."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink], redact_values=True)
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    nglogger.get_logger("v").info(
        "values",
        header="Bearer abcdefghijklmnop123",
        token_in_text=f"got {jwt} back",
        aws="key AKIAIOSFODNN7EXAMPLE used",
        url="https://user:hunter2@db.example.com/x",
    )
    assert nglogger.flush(5)
    (event,) = sink.events()
    assert event["header"] == MARK
    assert event["token_in_text"] == f"got {MARK} back"
    assert event["aws"] == f"key {MARK} used"
    assert event["url"] == f"https://{MARK}@db.example.com/x"
    assert nglogger.stats().fallbacks["redacted"] == 4


def test_values_are_left_alone_by_default() -> None:
    """Without redact_values, only secret-named fields are replaced."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink])
    nglogger.get_logger("v").info("x", url="https://user:pw@h/", password="p")
    assert nglogger.flush(5)
    (event,) = sink.events()
    assert event["url"] == "https://user:pw@h/"
    assert event["password"] == MARK


def test_redaction_can_be_turned_off_and_extended() -> None:
    """redact_keys=() disables name redaction; a custom list replaces the defaults."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink], redact_keys=())
    nglogger.get_logger("v").info("off", password="visible")
    nglogger.configure(sinks=[sink], redact_keys=("ssn",))
    nglogger.get_logger("v").info("custom", ssn="123", password="visible")
    assert nglogger.flush(5)
    off, custom = sink.events()
    assert off["password"] == "visible"
    assert custom["ssn"] == MARK
    assert custom["password"] == "visible"


def test_redaction_counter() -> None:
    """Each redacted value is counted under fallbacks['redacted']."""
    sink = MemorySink()
    nglogger.configure(sinks=[sink])
    nglogger.get_logger("v").info("x", password="a", nested={"token": "b"})
    assert nglogger.flush(5)
    assert nglogger.stats().fallbacks["redacted"] == 2


def test_traceback_has_no_local_variables(memory_sink: MemorySink) -> None:
    """Exception stack traces never include local variables."""
    nglogger.configure(sinks=[memory_sink])

    def handler() -> None:
        local_secret = CANARY  # noqa: F841 - the point: a local that must not appear
        raise RuntimeError("fail")

    try:
        handler()
    except RuntimeError:
        nglogger.get_logger("t").exception("failed")
    assert nglogger.flush(5)
    assert CANARY.encode() not in memory_sink.lines()[0]


def test_binding_on_top_of_an_older_context_rechecks_it() -> None:
    """A bind after configure() re-checks context bound before it with the configured names."""
    log = nglogger.get_logger("early").bind(ssn="123-45-6789")
    nglogger.bind_contextvars(ssn_cv="987-65-4321")
    sink = MemorySink()
    nglogger.configure(sinks=[sink], redact_keys=("ssn", "ssn_cv"))
    log.bind(more=1).info("child")
    nglogger.bind_contextvars(extra=1)  # on top of the context bound before configure()
    log.info("cv")
    assert nglogger.flush(5)
    child, cv = sink.events()
    assert child["ssn"] == MARK
    assert child["more"] == 1
    assert cv["ssn_cv"] == MARK
    assert b"123-45-6789" not in b"".join(sink.lines())
    assert b"987-65-4321" not in b"".join(sink.lines())
