"""Processors: ``fn(fields) -> fields | None`` on the caller's thread, before serialization.

A processor sees ``level``, ``logger``, the formatted ``message`` and the call's fields;
what it returns is logged (checked like any call's fields), None drops the event; one
that raises never reaches the caller: the event is logged with a marker and counted.
No processor configured costs no Python call.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import orjson
import pytest
from test_hot_path_calls import python_calls

import nglogger
from nglogger import Config, ConfigError
from nglogger._config.processors import import_processors
from nglogger.sinks import MemorySink, NullSink


def test_a_processor_sees_the_call_and_changes_the_event(memory_sink: MemorySink) -> None:
    """It gets level, logger, formatted message and fields; adds, removes, rewrites them."""
    seen: list[dict[str, Any]] = []

    def enrich(fields: dict[str, Any]) -> dict[str, Any]:
        seen.append(dict(fields))
        fields["region"] = "eu"
        del fields["internal"]
        fields["message"] = fields["message"].upper()
        fields["level"] = "critical"  # to be read: has no effect
        return fields

    nglogger.configure(sinks=[memory_sink], processors=[enrich])
    log = nglogger.get_logger("app.web", bound="b")
    log.info("user %s logged in", "ada", internal=1, status=200, level="mine")
    assert nglogger.flush(5)
    assert seen == [
        {
            "level": "info",
            "logger": "app.web",
            "message": "user ada logged in",
            "internal": 1,
            "status": 200,
            "level_": "mine",  # the call's own field named like a reserved key
        }
    ]
    [event] = memory_sink.events()
    del event["timestamp"]
    assert event == {
        "level": "info",
        "logger": "app.web",
        "message": "USER ADA LOGGED IN",
        "bound": "b",
        "status": 200,
        "level_": "mine",
        "region": "eu",
    }


def test_processors_run_in_order_and_none_drops(memory_sink: MemorySink) -> None:
    """Each gets what the previous returned; None drops the event (no later processor runs)."""
    order: list[str] = []

    def first(fields: dict[str, Any]) -> dict[str, Any] | None:
        order.append("first")
        if fields["message"] == "health check":
            return None
        return {**fields, "n": 1}

    def second(fields: dict[str, Any]) -> dict[str, Any]:
        order.append("second")
        return {**fields, "n": fields["n"] + 1}

    nglogger.configure(sinks=[memory_sink], processors=[first, second])
    log = nglogger.get_logger("app")
    log.info("health check")
    log.info("real")
    assert nglogger.flush(5)
    assert order == ["first", "first", "second"]
    assert [(e["message"], e["n"]) for e in memory_sink.events()] == [("real", 2)]
    assert nglogger.stats().submitted == 1


def test_a_raising_processor_never_reaches_the_caller(memory_sink: MemorySink) -> None:
    """The event is logged with the marker naming it, later processors still run, counted."""

    def broken(fields: dict[str, Any]) -> dict[str, Any]:
        raise KeyError("missing")

    def not_a_dict(fields: dict[str, Any]) -> Any:
        return 42

    def tag(fields: dict[str, Any]) -> dict[str, Any]:
        fields["tagged"] = True
        return fields

    nglogger.configure(sinks=[memory_sink], processors=[broken, not_a_dict, tag])
    nglogger.get_logger("app").warning("still logged", k=1)
    assert nglogger.flush(5)
    [event] = memory_sink.events()
    assert event["message"] == "still logged"
    assert event["k"] == 1
    assert event["tagged"] is True
    assert event["nglogger_processor_error"] == [
        "test_a_raising_processor_never_reaches_the_caller.<locals>.broken: KeyError: 'missing'",
        (
            "test_a_raising_processor_never_reaches_the_caller.<locals>.not_a_dict: returned int, "
            "not a dict or None"
        ),
    ]
    stats = nglogger.stats()
    assert stats.processor_errors == 2
    assert "processor_error" not in stats.fallbacks


def test_what_a_processor_adds_is_redacted_and_bounded(memory_sink: MemorySink) -> None:
    """A secret or a long string a processor adds gets the same treatment as a call's."""

    def leak(fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "password": "hunter2", "nested": {"api_key": "k"}, "big": "x" * 100}

    nglogger.configure(sinks=[memory_sink], processors=[leak], max_field_length=64)
    nglogger.get_logger("app").info("m")
    assert nglogger.flush(5)
    [line] = memory_sink.lines()
    assert b"hunter2" not in line
    event = orjson.loads(line)
    assert event["password"] == "[REDACTED]"
    assert event["nested"] == {"api_key": "[REDACTED]"}
    assert len(event["big"]) < 100


def test_a_processor_sees_exceptions_and_keeps_a_dict_it_returns(memory_sink: MemorySink) -> None:
    """log.exception(): the processor sees ``exception``; a dict it keeps is not changed."""
    kept: dict[str, Any] = {"message": "constant", "data": {"a": 1}}
    seen: list[str] = []

    def constant(fields: dict[str, Any]) -> dict[str, Any]:
        seen.append(fields["exception"]["type"])
        return kept

    nglogger.configure(sinks=[memory_sink], processors=[constant])
    try:
        raise ValueError("boom")
    except ValueError:
        nglogger.get_logger("app").exception("failed")
    nglogger.get_logger("app").exception("again", exc_info=ValueError("x"))
    assert nglogger.flush(5)
    assert seen == ["ValueError", "ValueError"]
    assert [e["message"] for e in memory_sink.events()] == ["constant", "constant"]
    assert kept == {"message": "constant", "data": {"a": 1}}


def test_stdlib_records_go_through_the_processors(memory_sink: MemorySink) -> None:
    """A stdlib record's message, level, name and extras reach the processors."""
    seen: list[dict[str, Any]] = []

    def drop_health(fields: dict[str, Any]) -> dict[str, Any] | None:
        seen.append(dict(fields))
        if fields.get("path") == "/health":
            return None
        return {**fields, "seen": True}

    nglogger.configure(sinks=[memory_sink], processors=[drop_health])
    logger = logging.getLogger("app.std")
    logger.setLevel(logging.INFO)
    handler = nglogger.LoggingHandler()
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.info("GET %s", "/health", extra={"path": "/health"})
        logger.info("GET %s", "/orders", extra={"path": "/orders"})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
    assert nglogger.flush(5)
    assert seen == [
        {"level": "info", "logger": "app.std", "message": "GET /health", "path": "/health"},
        {"level": "info", "logger": "app.std", "message": "GET /orders", "path": "/orders"},
    ]
    [event] = memory_sink.events()
    assert (event["message"], event["path"], event["seen"]) == ("GET /orders", "/orders", True)


def test_processors_run_on_the_callers_thread(memory_sink: MemorySink) -> None:
    """They run inside the log call, on the thread that logged."""
    threads: list[str] = []

    def where(fields: dict[str, Any]) -> dict[str, Any]:
        threads.append(threading.current_thread().name)
        return fields

    nglogger.configure(sinks=[memory_sink], processors=[where])
    worker = threading.Thread(target=lambda: nglogger.get_logger("a").info("m"), name="app-w")
    worker.start()
    worker.join(10)
    assert threads == ["app-w"]


def _enabled_calls(**settings: object) -> int:
    nglogger.configure(sinks=[NullSink()], **settings)
    log = nglogger.get_logger("gate")
    log.info("warm", status=200)
    assert nglogger.flush(5)
    count = python_calls(lambda: log.info("m", status=200))
    nglogger.shutdown(2)
    return count


def test_no_processor_costs_no_python_call() -> None:
    """processors=() makes exactly the calls of no setting; one processor is seen."""
    baseline = _enabled_calls()
    assert _enabled_calls(processors=()) == baseline
    assert _enabled_calls(processors=[lambda fields: fields]) > baseline


def test_bad_processors_are_config_errors(tmp_path: Path) -> None:
    """Not callables, or an import path that does not resolve: the setting and value named."""
    with pytest.raises(ConfigError, match=r"processors=3 is invalid; accepted: a sequence"):
        Config(processors=[3])
    with pytest.raises(ConfigError, match=r"processors=<function"):
        Config(processors=lambda f: f)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"entry 1 'json' is not module:function"):
        import_processors("json")
    with pytest.raises(ValueError, match=r"entry 2 'json:nope' cannot be imported"):
        import_processors("json:dumps, json:nope")
    assert import_processors("json:dumps,os.path:join") == (__import__("json").dumps, os.path.join)


def test_nglogger_processors_in_a_real_process(tmp_path: Path) -> None:
    """NGLOGGER_PROCESSORS imports the functions; they drop and enrich the events written."""
    (tmp_path / "myprocs.py").write_text(
        "def drop_health(fields):\n"
        "    return None if fields['message'] == 'health' else fields\n"
        "def stamp(fields):\n"
        "    fields['build'] = '1.2.3'\n"
        "    return fields\n"
    )
    out = tmp_path / "out.ndjson"
    base = {k: v for k, v in os.environ.items() if not k.startswith(("NGLOGGER_", "OTEL_"))}
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            (
                "import nglogger\nnglogger.configure()\nlog = nglogger.get_logger('app')\n"
                "log.info('health'); log.info('order placed', order=7)\n"
            ),
        ],
        env={
            **base,
            "PYTHONPATH": str(tmp_path),
            "NGLOGGER_SINKS": f"file://{out}",
            "NGLOGGER_PROCESSORS": "myprocs:drop_health, myprocs:stamp",
        },
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    events = [orjson.loads(line) for line in out.read_bytes().splitlines()]
    assert [(e["message"], e["order"], e["build"]) for e in events] == [
        ("order placed", 7, "1.2.3")
    ]
