"""Config: defaults, validation with specific errors, derived budget."""

from __future__ import annotations

from typing import Any

import pytest

import nglogger
from nglogger import Config, ConfigError


def test_defaults_are_valid_and_documented_values() -> None:
    """The default Config is valid: INFO, stdout, drop_newest, bounded."""
    config = Config()
    assert config.level == 20
    assert config.sinks == ("stdout",)
    assert config.overflow == "drop_newest"
    assert config.buffer_max_bytes == 32 * 1024 * 1024
    assert config.memory_budget == (
        config.buffer_max_bytes
        + 3 * config.batch_max_bytes
        + config.sink_queue_max_bytes
        + config.batch_max_bytes
    )
    http = Config(sinks=["stdout", "http://127.0.0.1:9/x"])
    assert http.memory_budget == (
        http.buffer_max_bytes
        + 3 * http.batch_max_bytes
        + 2 * http.sink_queue_max_bytes
        + http.batch_max_bytes  # stdout: the batch being written
        # an HTTP request merges queued batches up to its max_request_bytes (5 MiB for a
        # URI-named sink) and holds up to 3 copies of that
        + 3 * max(http.batch_max_bytes, 5 * 1024 * 1024)
    )


def test_config_is_frozen() -> None:
    """A Config cannot be changed after construction; replace() makes a new one."""
    config = Config()
    with pytest.raises(AttributeError):
        config.level = 10  # type: ignore[misc]
    assert config.replace(level="debug").level == 10
    assert config.level == 20


@pytest.mark.parametrize(
    ("settings", "setting", "accepted"),
    [
        ({"level": "loud"}, "level", "debug, info, warning"),
        ({"level": 1000}, "level", "integer 0-100"),
        ({"overflow": "drop_random"}, "overflow", "drop_newest, drop_oldest, block"),
        ({"format": "xml"}, "format", "json, console, auto"),
        ({"buffer_max_events": 0}, "buffer_max_events", "an integer >= 1"),
        ({"buffer_max_bytes": -5}, "buffer_max_bytes", "an integer >= 64"),
        ({"buffer_max_bytes": True}, "buffer_max_bytes", "an integer >= 64"),
        ({"flush_interval": 0}, "flush_interval", "a finite number of seconds > 0"),
        ({"flush_interval": float("inf")}, "flush_interval", "a finite number of seconds > 0"),
        ({"shutdown_timeout": "5"}, "shutdown_timeout", "a finite number of seconds > 0"),
        ({"max_depth": 300}, "max_depth", "an integer from 1 to 250"),
        ({"oversize": "explode"}, "oversize", "truncate, drop"),
        ({"sinks": ["ftp://x"]}, "sinks", "stdout, stderr, null, file://"),
        ({"sinks": [42]}, "sinks", "a sink URI or an object with write(batch) and close()"),
        ({"sinks": ["file:///tmp/x?color=red"]}, "sinks", "unknown file option"),
        ({"max_event_bytes": 2 * 1024 * 1024}, "max_event_bytes", "at most batch_max_bytes"),
        (
            {"batch_max_bytes": 64 * 1024 * 1024},
            "batch_max_bytes",
            "at most buffer_max_bytes",
        ),
        ({"batch_max_events": 10**6}, "batch_max_events", "at most buffer_max_events"),
        ({"context": {1: "x"}}, "context", "string keys"),
        ({"colors": "yes"}, "colors", "True, False or None"),
    ],
)
def test_bad_values_raise_specific_errors(
    settings: dict[str, Any], setting: str, accepted: str
) -> None:
    """Each bad setting raises ConfigError naming the setting and what is accepted."""
    with pytest.raises(ConfigError) as info:
        Config(**settings)
    message = str(info.value)
    assert message.startswith(f"{setting}=")
    assert accepted in message
    assert info.value.setting == setting


def test_configure_error_keeps_current_pipeline(memory_sink: nglogger.sinks.MemorySink) -> None:
    """A failed configure() leaves the working pipeline in place."""
    nglogger.configure(sinks=[memory_sink])
    with pytest.raises(ConfigError):
        nglogger.configure(level="nope")
    nglogger.get_logger("c").info("still works")
    assert nglogger.flush(5)
    assert [e["message"] for e in memory_sink.events()] == ["still works"]


def test_duplicate_sink_names_rejected() -> None:
    """Two sinks with the same name would make stats ambiguous: rejected."""
    with pytest.raises(ConfigError, match="names must differ"):
        nglogger.Pipeline(Config(sinks=["stdout", "stdout"]))


def test_single_sink_or_uri_accepted() -> None:
    """A single URI or sink object is accepted where a sequence is expected."""
    assert Config(sinks="stderr").sinks == ("stderr",)
    sink = nglogger.sinks.NullSink()
    assert Config(sinks=sink).sinks == (sink,)


def test_file_uri_options(tmp_path: Any) -> None:
    """file:// URIs carry rotation and fsync options with units."""
    path = tmp_path / "app.jsonl"
    pipeline = nglogger.Pipeline(
        Config(sinks=[f"file://{path}?max_bytes=1MiB&backups=3&fsync=batch"])
    )
    sink = pipeline.workers[0].sink
    assert sink._max_bytes == 1024 * 1024
    assert sink._backups == 3
    pipeline.emit({"message": "to file"})
    assert pipeline.flush(5)
    pipeline.shutdown(2)
    assert b'"message":"to file"' in path.read_bytes()


def test_every_setting_is_declared_once_with_its_docs_line() -> None:
    """Each Config field carries its declaration: a docs line and the variables that feed it."""
    import dataclasses

    from nglogger._config.declare import spec_of

    undocumented = [f.name for f in dataclasses.fields(Config) if not spec_of(f).doc]
    assert undocumented == []
    fed = {f.name for f in dataclasses.fields(Config) if spec_of(f).env}
    assert fed == {f.name for f in dataclasses.fields(Config)}


def test_the_default_redaction_rule_agrees_wherever_it_is_read() -> None:
    """Settings (masking, OTLP resource) and the event redactor use the same names and mark."""
    from nglogger._config import secrets as _secrets
    from nglogger._event import redact as _redact

    assert _secrets.DEFAULT_REDACT_KEYS == _redact.DEFAULT_REDACT_KEYS
    assert _secrets.REDACTED == _redact.MARK
    redactor = _redact.Redactor(_redact.DEFAULT_REDACT_KEYS)
    names = ["password", "DB_PASSWORD", "X-Api-Key", "client_secret", "token_count", "user"]
    assert [redactor.is_secret(n) for n in names] == [_secrets.is_secret_key(n) for n in names]
