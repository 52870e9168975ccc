"""Specification of nglogger._config.report: configuration from environment variables.

Every test passes its own mapping; only one test touches the real ``os.environ``
(through ``monkeypatch``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import pytest

from nglogger import Config, ConfigError
from nglogger._config.report import (
    KNOWN_VARIABLES,
    MASK,
    Sampling,
    config_from_env,
    describe_variables,
    is_secret_name,
    mask_secret,
    parse_redact_keys,
    resolve_with_sources,
)
from nglogger._event.redact import DEFAULT_REDACT_KEYS

MiB = 1024 * 1024
PENDING: tuple[str, ...] = ()


def sources_of(environ: dict[str, str], **explicit: Any) -> dict[str, tuple[object, str]]:
    return resolve_with_sources(environ, **explicit)[1]


#: Bad variables raise instead of warning (the message is the same either way).
RAISE = {"NGLOGGER_CONFIG_ERRORS": "raise"}


def error_of(environ: dict[str, str], **explicit: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        config_from_env({**RAISE, **environ}, **explicit)
    return info.value


# --------------------------------------------------------------------------- precedence


@pytest.mark.parametrize(
    ("environ", "explicit", "expected", "source"),
    [
        ({}, {}, 20, "default"),
        ({"NGLOGGER_LEVEL": "debug"}, {}, 10, "env:NGLOGGER_LEVEL"),
        ({"NGLOGGER_LEVEL": "debug"}, {"level": "error"}, 40, "argument"),
        ({}, {"level": "warning"}, 30, "argument"),
        ({"LOG_LEVEL": "error"}, {}, 40, "env:LOG_LEVEL"),
        ({"LOG_LEVEL": "error", "NGLOGGER_LEVEL": "debug"}, {}, 10, "env:NGLOGGER_LEVEL"),
        ({"LOG_LEVEL": "error"}, {"level": 10}, 10, "argument"),
        ({"NGLOGGER_LEVEL": ""}, {}, 20, "default"),
        ({"NGLOGGER_LEVEL": "   "}, {}, 20, "default"),
    ],
)
def test_precedence_is_arguments_then_environment_then_defaults(
    environ: dict[str, str], explicit: dict[str, Any], expected: int, source: str
) -> None:
    """An argument beats the environment, which beats the default; empty means unset."""
    config, sources = resolve_with_sources(environ, **explicit)
    assert expected == config.level
    assert (expected, source) == sources["level"]


def test_config_from_env_without_mapping_reads_os_environ(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``config_from_env()`` with no mapping reads the process environment."""
    monkeypatch.setenv("NGLOGGER_LEVEL", "critical")
    monkeypatch.delenv("NO_COLOR", raising=False)
    assert 50 == config_from_env().level
    assert 20 == config_from_env({}).level


def test_empty_environment_gives_the_default_config() -> None:
    """No variables at all produce exactly ``Config()``."""
    assert Config() == config_from_env({})


def test_unknown_argument_is_a_type_error_with_a_suggestion() -> None:
    """A misspelled keyword argument is a programming error and names the closest setting."""
    with pytest.raises(TypeError, match="did you mean 'buffer_max_bytes'"):
        config_from_env({}, buffer_max_byte=1024)


# --------------------------------------------------------------------------- each variable


@pytest.mark.parametrize(
    ("name", "text", "setting", "expected"),
    [
        ("NGLOGGER_LEVEL", "DEBUG", "level", 10),
        ("NGLOGGER_LEVEL", " warn ", "level", 30),
        ("NGLOGGER_LEVEL", "15", "level", 15),
        ("LOG_LEVEL", "Critical", "level", 50),
        ("NGLOGGER_FORMAT", "Console", "format", "console"),
        ("NGLOGGER_FORMAT", "auto", "format", "auto"),
        ("NGLOGGER_SINKS", "stdout", "sinks", ("stdout",)),
        ("NGLOGGER_SINKS", " stderr , null ,", "sinks", ("stderr", "null")),
        (
            "NGLOGGER_SINKS",
            "stdout,file:///var/log/app.jsonl?max_bytes=64MiB",
            "sinks",
            ("stdout", "file:///var/log/app.jsonl?max_bytes=64MiB"),
        ),
        ("NGLOGGER_BUFFER_EVENTS", "200000", "buffer_max_events", 200_000),
        ("NGLOGGER_BUFFER_EVENTS", "200_000", "buffer_max_events", 200_000),
        ("NGLOGGER_BUFFER_BYTES", "64MiB", "buffer_max_bytes", 64 * MiB),
        ("NGLOGGER_BUFFER_BYTES", "50MB", "buffer_max_bytes", 50_000_000),
        ("NGLOGGER_BUFFER_BYTES", "1048576", "buffer_max_bytes", MiB),
        ("NGLOGGER_OVERFLOW", "BLOCK", "overflow", "block"),
        ("NGLOGGER_OVERFLOW", "drop_oldest", "overflow", "drop_oldest"),
        ("NGLOGGER_BLOCK_TIMEOUT", "250ms", "block_timeout", 0.25),
        ("NGLOGGER_BATCH_EVENTS", "500", "batch_max_events", 500),
        ("NGLOGGER_BATCH_BYTES", "512KiB", "batch_max_bytes", 512 * 1024),
        ("NGLOGGER_FLUSH_INTERVAL", "500ms", "flush_interval", 0.5),
        ("NGLOGGER_FLUSH_INTERVAL", "2s", "flush_interval", 2.0),
        ("NGLOGGER_FLUSH_INTERVAL", "0.1", "flush_interval", 0.1),
        ("NGLOGGER_SINK_QUEUE_EVENTS", "10000", "sink_queue_max_events", 10_000),
        ("NGLOGGER_SINK_QUEUE_BYTES", "8MiB", "sink_queue_max_bytes", 8 * MiB),
        ("NGLOGGER_SINK_QUEUE_OVERFLOW", "drop_oldest", "sink_queue_overflow", "drop_oldest"),
        ("NGLOGGER_SHUTDOWN_TIMEOUT", "1m", "shutdown_timeout", 60.0),
        ("NGLOGGER_MAX_EVENT_BYTES", "64KiB", "max_event_bytes", 64 * 1024),
        ("NGLOGGER_OVERSIZE", "drop", "oversize", "drop"),
        ("NGLOGGER_MAX_FIELD_LENGTH", "4096", "max_field_length", 4096),
        ("NGLOGGER_MAX_DEPTH", "8", "max_depth", 8),
        ("NGLOGGER_MAX_REPR_LENGTH", "200", "max_repr_length", 200),
        ("NGLOGGER_MAX_TRACEBACK_BYTES", "4KiB", "max_traceback_bytes", 4096),
        ("NGLOGGER_STRICT", "1", "strict", True),
        ("NGLOGGER_STRICT", "Yes", "strict", True),
        ("NGLOGGER_STRICT", "on", "strict", True),
        ("NGLOGGER_STRICT", "TRUE", "strict", True),
        ("NGLOGGER_STRICT", "0", "strict", False),
        ("NGLOGGER_STRICT", "false", "strict", False),
        ("NGLOGGER_STRICT", "no", "strict", False),
        ("NGLOGGER_STRICT", "off", "strict", False),
        (
            "NGLOGGER_CONTEXT",
            "region=eu-west-1, team=payments",
            "context",
            {
                "region": "eu-west-1",
                "team": "payments",
            },
        ),
        (
            "NGLOGGER_REDACT_KEYS",
            "Password, X-Internal-Id,,x-internal-id",
            "redact_keys",
            (*DEFAULT_REDACT_KEYS, "x-internal-id"),
        ),
        ("NGLOGGER_SAMPLE", "debug=0.1", "sample", Sampling(levels={10: 0.1})),
        ("NGLOGGER_SAMPLE", "100/s", "sample", Sampling(limit=100, period=1.0)),
    ],
)
def test_each_variable_is_parsed_into_its_setting(
    name: str, text: str, setting: str, expected: object
) -> None:
    """Each variable's accepted spellings become the typed value of its setting."""
    value, source = sources_of({name: text})[setting]
    assert expected == value
    assert f"env:{name}" == source
    if setting not in PENDING:
        assert expected == getattr(config_from_env({name: text}), setting)


def test_every_known_variable_feeds_a_setting_that_exists_or_is_pending() -> None:
    """KNOWN_VARIABLES names only Config fields or the settings Config is about to gain."""
    fields = {f.name for f in dataclasses.fields(Config)} | set(PENDING)
    for name, variable in KNOWN_VARIABLES.items():
        assert variable.field in fields, name
        assert variable.description
        assert variable.accepted


def test_describe_variables_lists_every_variable_in_order() -> None:
    """describe_variables() gives (name, description, accepted) for the docs table."""
    rows = describe_variables()
    assert list(KNOWN_VARIABLES) == [name for name, _, _ in rows]
    assert ("NGLOGGER_LEVEL", *KNOWN_VARIABLES["NGLOGGER_LEVEL"][1:]) == rows[0]
    assert {"LOG_LEVEL", "NO_COLOR", "FORCE_COLOR", "OTEL_SERVICE_NAME"} <= {r[0] for r in rows}


def test_known_variables_are_not_themselves_treated_as_secrets() -> None:
    """Only sink variables that carry credentials are masked (REDACT_KEYS lists names only)."""
    secret = [name for name in KNOWN_VARIABLES if is_secret_name(name)]
    assert all(KNOWN_VARIABLES[name].field == "sink_env" for name in secret)


# --------------------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("name", "text", "accepted", "hint"),
    [
        ("NGLOGGER_LEVEL", "loud", "debug, info, warning, error, critical", ""),
        ("NGLOGGER_LEVEL", "101", "an integer 0-100", ""),
        ("LOG_LEVEL", "trace", "debug, info, warning", "set NGLOGGER_LEVEL to override"),
        ("NGLOGGER_FORMAT", "xml", "json, console, auto", ""),
        (
            "NGLOGGER_SINKS",
            "stdout,ftp://x",
            "accepted: stdout, stderr, null, file://",
            "entry 'ftp://x': unknown scheme 'ftp'",
        ),
        ("NGLOGGER_SINKS", ",", "comma-separated sink URIs", "no sink URI (use null"),
        (
            "NGLOGGER_SINKS",
            "file:///tmp/x.jsonl?color=red",
            "accepted: file options max_bytes, backups",
            "unknown file option 'color'",
        ),
        ("NGLOGGER_SINKS", "file://host/x", "file:///absolute/path", "names a local path"),
        ("NGLOGGER_BUFFER_EVENTS", "lots", "an integer >= 1", ""),
        ("NGLOGGER_BUFFER_EVENTS", "-5", "an integer >= 1", ""),
        ("NGLOGGER_BUFFER_EVENTS", "1e5", "an integer >= 1", ""),
        ("NGLOGGER_BUFFER_EVENTS", "0", "an integer >= 1", ""),
        ("NGLOGGER_BUFFER_BYTES", "64 potatoes", "a byte count such as 1048576, 512KiB, 64MiB", ""),
        ("NGLOGGER_BUFFER_BYTES", "32", "at least 64", ""),
        ("NGLOGGER_BUFFER_BYTES", "0.03KiB", "at least 64", ""),
        ("NGLOGGER_BUFFER_BYTES", "1.1", "a byte count", ""),
        ("NGLOGGER_OVERFLOW", "drop_random", "drop_newest, drop_oldest, block", ""),
        ("NGLOGGER_BLOCK_TIMEOUT", "soon", "a duration such as 0.5, 500ms, 2s", ""),
        ("NGLOGGER_BLOCK_TIMEOUT", "0", "greater than 0", ""),
        ("NGLOGGER_BATCH_EVENTS", "ten", "an integer >= 1", ""),
        ("NGLOGGER_BATCH_BYTES", "1 MiB per batch", "a byte count", ""),
        ("NGLOGGER_FLUSH_INTERVAL", "-1s", "a duration such as", ""),
        ("NGLOGGER_FLUSH_INTERVAL", "0ms", "greater than 0", ""),
        ("NGLOGGER_FLUSH_INTERVAL", "2 days", "a duration such as", ""),
        ("NGLOGGER_SINK_QUEUE_EVENTS", "0", "an integer >= 1", ""),
        ("NGLOGGER_SINK_QUEUE_BYTES", "16", "at least 64", ""),
        ("NGLOGGER_SINK_QUEUE_OVERFLOW", "block", "drop_newest, drop_oldest", ""),
        ("NGLOGGER_SHUTDOWN_TIMEOUT", "forever", "a duration such as", ""),
        ("NGLOGGER_MAX_EVENT_BYTES", "huge", "a byte count", ""),
        ("NGLOGGER_OVERSIZE", "explode", "truncate, drop", ""),
        ("NGLOGGER_MAX_FIELD_LENGTH", "10", "a character count >= 64", ""),
        ("NGLOGGER_MAX_DEPTH", "300", "an integer from 1 to 250", ""),
        ("NGLOGGER_MAX_DEPTH", "deep", "an integer from 1 to 250", ""),
        ("NGLOGGER_MAX_REPR_LENGTH", "-1", "a character count >= 64", ""),
        ("NGLOGGER_MAX_TRACEBACK_BYTES", "lots", "a byte count", ""),
        ("NGLOGGER_STRICT", "maybe", "1, 0, true, false, yes, no, on, off", ""),
        ("NGLOGGER_STRICT", "2", "1, 0, true, false", ""),
        (
            "NGLOGGER_CONTEXT",
            "team",
            "comma-separated key=value pairs",
            "entry 1 'team' has no '='",
        ),
        ("NGLOGGER_CONTEXT", "a=1,=2", "key=value pairs", "entry 2 '=2' has an empty key"),
        ("NGLOGGER_CONTEXT", "cpu=50%", "percent-encode", "'%' must start an escape such as %25"),
        ("NGLOGGER_SAMPLE", "debug=2", "level=probability", "probability must be a number from 0"),
        ("NGLOGGER_SAMPLE", "debug=1e-3", "level=probability", "probability must be a number"),
        ("NGLOGGER_SAMPLE", "trace=0.5", "level=probability", "unknown level 'trace'"),
        ("NGLOGGER_SAMPLE", "15=0.5", "level=probability", "unknown level '15'"),
        ("NGLOGGER_SAMPLE", "info=0.5,info=1", "rate limit", "level 'info' appears twice"),
        ("NGLOGGER_SAMPLE", "10/s,20/m", "count/period", "only one rate limit is allowed"),
        ("NGLOGGER_SAMPLE", "0/s", "count/period", "the count must be an integer >= 1"),
        ("NGLOGGER_SAMPLE", "1.5/s", "count/period", "the count must be an integer >= 1"),
        ("NGLOGGER_SAMPLE", "10/0s", "count/period", "the period must be a duration > 0"),
        ("NGLOGGER_SAMPLE", "10/fortnight", "count/period", "the period must be a duration"),
        ("NGLOGGER_SAMPLE", "half", "level=probability", "rule 1 'half': expected level="),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=1,b", "key=value pairs", "entry 2 'b' has no '='"),
    ],
)
def test_bad_values_name_the_variable_the_value_and_what_is_accepted(
    name: str, text: str, accepted: str, hint: str
) -> None:
    """Each bad value raises ConfigError naming the variable, the value and the accepted forms."""
    error = error_of({name: text})
    message = str(error)
    if error.reason:  # sink URIs: what is wrong with the entry first
        assert message.startswith(f"{name}={text!r}: {error.reason}; accepted: ")
    else:
        assert message.startswith(f"{name}={text!r} is invalid; accepted: ")
    assert accepted in message
    assert hint in message
    assert name == error.setting
    assert text == error.value


@pytest.mark.parametrize(
    ("environ", "explicit", "message"),
    [
        (
            {"NGLOGGER_BATCH_BYTES": "64MiB"},
            {},
            (
                "NGLOGGER_BATCH_BYTES='64MiB' is invalid; accepted: at most NGLOGGER_BUFFER_BYTES "
                "(33554432)"
            ),
        ),
        (
            {"NGLOGGER_MAX_EVENT_BYTES": "2MiB", "NGLOGGER_BATCH_BYTES": "1MiB"},
            {},
            (
                "NGLOGGER_MAX_EVENT_BYTES='2MiB' is invalid; accepted: at most NGLOGGER_BATCH_BYTES "
                "(1048576)"
            ),
        ),
        (
            {"NGLOGGER_BATCH_EVENTS": "5000"},
            {"buffer_max_events": 1000},
            (
                "NGLOGGER_BATCH_EVENTS='5000' is invalid; accepted: at most NGLOGGER_BUFFER_EVENTS "
                "(1000)"
            ),
        ),
        (
            {"NGLOGGER_BUFFER_BYTES": "0.5KiB"},
            {},
            (
                "NGLOGGER_BUFFER_BYTES='0.5KiB' is invalid; accepted: at least NGLOGGER_BATCH_BYTES "
                "(1048576)"
            ),
        ),
        (
            {"NGLOGGER_BUFFER_EVENTS": "10"},
            {},
            (
                "NGLOGGER_BUFFER_EVENTS='10' is invalid; accepted: at least NGLOGGER_BATCH_EVENTS "
                "(1000)"
            ),
        ),
        (
            {"NGLOGGER_BUFFER_EVENTS": "10"},
            {"batch_max_events": 50},
            "batch_max_events=50 is invalid; accepted: at most NGLOGGER_BUFFER_EVENTS (10)",
        ),
        (
            {"NGLOGGER_BATCH_BYTES": "512KiB"},
            {"max_event_bytes": MiB},
            "max_event_bytes=1048576 is invalid; accepted: at most NGLOGGER_BATCH_BYTES (524288)",
        ),
        (
            {},
            {"max_event_bytes": 2 * MiB},
            "max_event_bytes=2097152 is invalid; accepted: at most batch_max_bytes (1048576)",
        ),
    ],
)
def test_relations_between_settings_are_stated_in_the_terms_the_user_wrote(
    environ: dict[str, str], explicit: dict[str, Any], message: str
) -> None:
    """Config's cross-setting checks name variables for values from the environment."""
    assert message == str(error_of(environ, **explicit))


def test_argument_errors_stay_in_argument_terms() -> None:
    """A bad argument is reported by its setting name even when variables are set."""
    error = error_of({"NGLOGGER_LEVEL": "debug"}, buffer_max_events=0)
    assert "buffer_max_events=0 is invalid; accepted: an integer >= 1" == str(error)


def test_environment_errors_do_not_chain_the_internal_error() -> None:
    """The translated error stands alone: no second traceback naming the setting."""
    error = error_of({"NGLOGGER_BUFFER_BYTES": "32"})
    assert error.__cause__ is None
    assert error.__suppress_context__


# --------------------------------------------------------------------------- misspellings


@pytest.mark.parametrize(
    ("name", "suggestion"),
    [
        ("NGLOGGER_LEVLE", "NGLOGGER_LEVEL"),
        ("NGLOGGER_BUFER_BYTES", "NGLOGGER_BUFFER_BYTES"),
        ("NGLOGGER_FLUSH_INTERVALL", "NGLOGGER_FLUSH_INTERVAL"),
        ("NGLOGGER_SINK", "NGLOGGER_SINKS"),
        ("NGLOGGER_REDACT_KEY", "NGLOGGER_REDACT_KEYS"),
        ("nglogger_level", "NGLOGGER_LEVEL"),
    ],
)
def test_misspelled_variable_suggests_the_closest_name(name: str, suggestion: str) -> None:
    """An unknown NGLOGGER_ name raises ConfigError suggesting the closest known one."""
    error = error_of({name: "debug"})
    assert name == error.setting
    assert f"did you mean {suggestion}?" in str(error)


def test_unknown_variable_without_close_match_lists_the_known_names() -> None:
    """With nothing close, the error lists every NGLOGGER_ variable."""
    message = str(error_of({"NGLOGGER_XYZZY": "1"}))
    assert "unknown variable" in message
    assert "NGLOGGER_FLUSH_INTERVAL" in message
    assert "did you mean" not in message


def test_unknown_variable_close_to_a_secret_never_shows_its_value() -> None:
    """A misspelled name may hold a secret the masking rule cannot recognise: its value is hidden."""
    error = error_of({"NGLOGGER_HTTP_HEDERS": "Authorization=Bearer s3cr3t"})
    assert "s3cr3t" not in str(error)
    assert MASK == error.value


def test_unrelated_variables_are_ignored() -> None:
    """Variables without the NGLOGGER_ prefix never raise, whatever they hold."""
    config = config_from_env({"NGLOGGERX": "1", "MY_NGLOGGER_LEVEL": "x", "HOME": "/root"})
    assert Config() == config


# --------------------------------------------------------------------------- colours


@pytest.mark.parametrize(
    ("environ", "colors", "source"),
    [
        ({}, None, "default"),
        ({"NO_COLOR": "1"}, False, "env:NO_COLOR"),
        ({"NO_COLOR": "0"}, False, "env:NO_COLOR"),
        ({"NO_COLOR": ""}, None, "default"),
        ({"FORCE_COLOR": "1"}, True, "env:FORCE_COLOR"),
        ({"FORCE_COLOR": "3"}, True, "env:FORCE_COLOR"),
        ({"FORCE_COLOR": "true"}, True, "env:FORCE_COLOR"),
        ({"FORCE_COLOR": "0"}, None, "default"),
        ({"FORCE_COLOR": "False"}, None, "default"),
        ({"FORCE_COLOR": ""}, None, "default"),
        ({"NO_COLOR": "1", "FORCE_COLOR": "1"}, False, "env:NO_COLOR"),
        ({"NO_COLOR": "", "FORCE_COLOR": "1"}, True, "env:FORCE_COLOR"),
    ],
)
def test_no_color_and_force_color(
    environ: dict[str, str], colors: bool | None, source: str
) -> None:
    """NO_COLOR (non-empty) disables, FORCE_COLOR (not 0/false) forces, NO_COLOR wins."""
    assert (colors, source) == sources_of(environ)["colors"]


@pytest.mark.parametrize("colors", [True, False, None])
def test_colors_argument_beats_both_variables(colors: bool | None) -> None:
    """An explicit colors argument, even None (auto), overrides NO_COLOR and FORCE_COLOR."""
    environ = {"NO_COLOR": "1", "FORCE_COLOR": "1"}
    assert (colors, "argument") == sources_of(environ, colors=colors)["colors"]


# --------------------------------------------------------------------------- context and OTel


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("deployment.environment=prod", {"deployment.environment": "prod"}),
        (" a = 1 , b=2 ,", {"a": "1", "b": "2"}),
        ("region=eu%2Cwest,note=a%3Db", {"region": "eu,west", "note": "a=b"}),
        ("pct=50%25,space=a%20b,plus=a+b", {"pct": "50%", "space": "a b", "plus": "a+b"}),
        ("name=caf%C3%A9", {"name": "café"}),
        ("k%2Cey=v", {"k,ey": "v"}),
        ("expr=a=b", {"expr": "a=b"}),
        ("empty=", {"empty": ""}),
        ("a=1,a=2", {"a": "2"}),
        (
            "service.name=checkout,service.version=1.2",
            {"service": "checkout", "service.version": "1.2"},
        ),
    ],
)
def test_otel_resource_attributes_become_context(text: str, expected: dict[str, str]) -> None:
    """OTEL_RESOURCE_ATTRIBUTES is trimmed and percent-decoded; service.name becomes service."""
    config = config_from_env({"OTEL_RESOURCE_ATTRIBUTES": text})
    assert expected == dict(config.context)


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("a=1,broken", "entry 2 'broken' has no '='"),
        ("=v", "entry 1 '=v' has an empty key"),
        ("a=%zz", "entry 1 'a=%zz': '%' must start an escape such as %25"),
        ("a=100%", "'%' must start an escape"),
        ("a=%FF%FE", "entry 1 'a=%FF%FE': percent-encoded bytes are not UTF-8"),
        ("api_key=s3cr3t,bad", "entry 2 'bad' has no '='"),
    ],
)
def test_malformed_resource_attributes_raise_naming_the_entry(text: str, hint: str) -> None:
    """A malformed entry is a ConfigError naming the variable and the entry, not a silent skip."""
    error = error_of({"OTEL_RESOURCE_ATTRIBUTES": text})
    assert "OTEL_RESOURCE_ATTRIBUTES" == error.setting
    assert hint in str(error)
    assert "s3cr3t" not in str(error)


def test_service_name_precedence_and_merge_order() -> None:
    """Resource attributes < OTEL_SERVICE_NAME < NGLOGGER_CONTEXT < the context argument."""
    environ = {
        "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs,deployment.environment=prod,tier=a",
        "OTEL_SERVICE_NAME": " checkout ",
        "NGLOGGER_CONTEXT": "tier=b,region=eu",
    }
    assert {
        "service": "checkout",
        "deployment.environment": "prod",
        "tier": "b",
        "region": "eu",
    } == dict(config_from_env(environ).context)
    config, sources = resolve_with_sources(environ, context={"region": "us", "build": 7})
    assert {
        "service": "checkout",
        "deployment.environment": "prod",
        "tier": "b",
        "region": "us",
        "build": 7,
    } == dict(config.context)
    assert (
        "argument+env:NGLOGGER_CONTEXT+env:OTEL_SERVICE_NAME+env:OTEL_RESOURCE_ATTRIBUTES"
        == sources["context"][1]
    )


@pytest.mark.parametrize(
    ("environ", "explicit", "source"),
    [
        ({}, {}, "default"),
        ({}, {"context": {"a": 1}}, "argument"),
        ({"OTEL_SERVICE_NAME": "api"}, {}, "env:OTEL_SERVICE_NAME"),
        ({"OTEL_SERVICE_NAME": "api"}, {"context": {"a": 1}}, "argument+env:OTEL_SERVICE_NAME"),
        ({"OTEL_SERVICE_NAME": "api"}, {"context": {"service": "x"}}, "argument"),
        ({"OTEL_SERVICE_NAME": ""}, {}, "default"),
    ],
)
def test_context_source_names_every_contributor(
    environ: dict[str, str], explicit: dict[str, Any], source: str
) -> None:
    """The context source lists the places whose keys survived the merge, joined by '+'."""
    assert source == sources_of(environ, **explicit)["context"][1]


def test_bad_context_argument_is_still_reported_by_config() -> None:
    """A context argument that is not a mapping is rejected as an argument, env or not."""
    error = error_of({"OTEL_SERVICE_NAME": "api"}, context=["a"])
    assert "context" == error.setting


# --------------------------------------------------------------------------- sampling


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("debug=0.1", Sampling(levels={10: 0.1})),
        ("DEBUG=0, info = .25", Sampling(levels={10: 0.0, 20: 0.25})),
        ("warn=1,fatal=0.5", Sampling(levels={30: 1.0, 50: 0.5})),
        ("100/s", Sampling(limit=100, period=1.0)),
        ("6000/m", Sampling(limit=6000, period=60.0)),
        ("10/h", Sampling(limit=10, period=3600.0)),
        ("50/500ms", Sampling(limit=50, period=0.5)),
        ("1000 / 10s", Sampling(limit=1000, period=10.0)),
        ("debug=0.1,6000/m", Sampling(levels={10: 0.1}, limit=6000, period=60.0)),
        (",", Sampling()),
    ],
)
def test_sample_syntax(text: str, expected: Sampling) -> None:
    """NGLOGGER_SAMPLE accepts level=probability rules and one count/period rate limit."""
    assert expected == Sampling.parse(text)


@pytest.mark.parametrize(
    "text", ["debug=0.1", "debug=0.00001,info=0.5", "100/s", "6000/m", "10/h", "50/0.5s"]
)
def test_sample_text_round_trips(text: str) -> None:
    """str(Sampling) is the canonical text and parses back to the same value."""
    sampling = Sampling.parse(text)
    assert text == str(sampling)
    assert sampling == Sampling.parse(str(sampling))


@pytest.mark.parametrize(
    "settings",
    [{"levels": {15: 0.5}}, {"levels": {10: 1.5}}, {"limit": 0}, {"period": 0}, {"levels": [1]}],
)
def test_sampling_values_are_validated(settings: dict[str, Any]) -> None:
    """A Sampling built in code is checked like one parsed from text."""
    with pytest.raises(ConfigError) as info:
        Sampling(**settings)
    assert "sample" == info.value.setting


def test_sample_argument_takes_a_sampling_or_its_text() -> None:
    """sample= takes a Sampling or the NGLOGGER_SAMPLE string, parsed the same way."""
    assert (Sampling(limit=5), "argument") == sources_of({}, sample=Sampling(limit=5))["sample"]
    from_text = config_from_env({}, sample="debug=0.5,100/s").sample
    assert from_text == Sampling.parse("debug=0.5,100/s")
    assert from_text == config_from_env({"NGLOGGER_SAMPLE": "debug=0.5,100/s"}).sample
    error = error_of({}, sample="debug=2")
    assert "sample" == error.setting
    assert "probability must be a number from 0 to 1" in str(error)
    assert "sample" == error_of({}, sample=0.5).setting


# --------------------------------------------------------------------------- redaction keys


def test_redact_keys_are_case_folded_and_unique() -> None:
    """REDACT_KEYS names are matched ignoring case, so they are stored case-folded, once each."""
    assert ("authorization", "x-api-key") == parse_redact_keys(
        "Authorization, X-Api-Key,authorization,"
    )


def test_redact_keys_argument_is_validated_and_reported() -> None:
    """redact_keys as an argument is a sequence of names; a bare string is refused."""
    value = sources_of({"NGLOGGER_REDACT_KEYS": "a"}, redact_keys=["Token"])["redact_keys"]
    assert (("Token",), "argument") == value  # an argument replaces the defaults
    assert "redact_keys" == error_of({}, redact_keys="password").setting
    assert "redact_keys" == error_of({}, redact_keys=["ok", ""]).setting


# --------------------------------------------------------------------------- secrets


@pytest.mark.parametrize(
    ("name", "value", "shown"),
    [
        ("DD_API_KEY", "abcdef123456", MASK),
        ("HONEYCOMB_API_KEY", "hc-123", MASK),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization=Bearer x", MASK),
        ("NGLOGGER_HTTP_HEADERS", "X-Token=1", MASK),
        ("SOME_TOKEN", "t", MASK),
        ("db_password", "hunter2", MASK),
        ("BASIC_AUTH", "u:p", MASK),
        ("SENTRY_DSN", "https://k@o.ingest.sentry.io/1", MASK),
        ("DD_API_KEY", "", ""),
        ("NGLOGGER_LEVEL", "debug", "debug"),
        ("NGLOGGER_REDACT_KEYS", "password,token", "password,token"),
        ("NGLOGGER_SINKS", "https://user:pw@logs.example/x", "https://****@logs.example/x"),
        (
            "NGLOGGER_SINKS",
            "stdout,https://h/ingest?api_key=abc&tenant=t",
            "stdout,https://h/ingest?api_key=****&tenant=t",
        ),
        ("NGLOGGER_CONTEXT", "user=bob,password=hunter2", "user=bob,password=****"),
        ("OTEL_RESOURCE_ATTRIBUTES", "auth.token=x,env=prod", "auth.token=****,env=prod"),
    ],
)
def test_mask_secret(name: str, value: str, shown: str) -> None:
    """Secret variables show as ****; other values keep their text minus embedded secrets."""
    assert shown == mask_secret(name, value)


def test_secrets_never_appear_in_errors() -> None:
    """A sink URI carrying credentials is masked in the error, in the value and in the hint."""
    error = error_of({"NGLOGGER_SINKS": "stdout,ftp://admin:s3cr3t@host/x?token=t0k"})
    message = str(error)
    assert "s3cr3t" not in message
    assert "t0k" not in message
    assert "s3cr3t" not in repr(error.value)
    assert "ftp://****@host/x?token=****" in message


def test_secrets_in_context_are_masked_in_errors() -> None:
    """A secret-named pair in NGLOGGER_CONTEXT is masked when another entry is bad."""
    message = str(error_of({"NGLOGGER_CONTEXT": "password=hunter2,broken"}))
    assert "hunter2" not in message
    assert "password=****" in message


def test_sources_are_safe_to_print() -> None:
    """The sources report masks sink credentials and secret-named context values."""
    _, sources = resolve_with_sources(
        {"NGLOGGER_CONTEXT": "api_key=abc,env=prod"}, sinks=["stdout"]
    )
    shown = sources["context"][0]
    assert isinstance(shown, Mapping)
    assert {"api_key": MASK, "env": "prod"} == dict(shown)
    report = repr(sources)
    assert "abc" not in report


# --------------------------------------------------------------------------- sources report


def test_sources_cover_every_setting_and_the_pending_ones() -> None:
    """resolve_with_sources reports (value, source) for every Config field."""
    config, sources = resolve_with_sources(
        {"NGLOGGER_BUFFER_BYTES": "64MiB", "NGLOGGER_SAMPLE": "debug=0.5"}, level="debug"
    )
    fields = [f.name for f in dataclasses.fields(Config)]
    assert [*fields, *PENDING] == list(sources)
    assert (10, "argument") == sources["level"]
    assert (64 * MiB, "env:NGLOGGER_BUFFER_BYTES") == sources["buffer_max_bytes"]
    assert (0.2, "default") == sources["flush_interval"]
    assert (DEFAULT_REDACT_KEYS, "default") == sources["redact_keys"]
    assert (Sampling(levels={10: 0.5}), "env:NGLOGGER_SAMPLE") == sources["sample"]
    for name in fields:
        if name not in ("sinks", "context"):
            assert getattr(config, name) == sources[name][0]


@pytest.mark.parametrize(
    ("text", "reason", "accepted"),
    [
        ("htp://collector:4318", "unknown scheme 'htp' (did you mean 'http'?)", "stdout, stderr"),
        ("stdot", "unknown sink 'stdot' (did you mean 'stdout'?)", "http(s)://"),
        ("file:///tmp/a?backups=many", "bad value for backups: 'many'", "backups=a whole number"),
        ("https://", "missing host", "scheme://host[:port]"),
        ("stdout?lvl=error", "stdout takes no option 'lvl' (only level=)", "stdout, stderr"),
        (
            "otlp+http://h:1?timeout=soon",
            "bad value for timeout: 'soon'",
            "timeout=a number of milliseconds",
        ),
    ],
)
def test_sink_uri_errors_lead_with_the_reason(text: str, reason: str, accepted: str) -> None:
    """A bad sink URI says what is wrong first, then what that part accepts, briefly."""
    with pytest.raises(ConfigError) as info:
        config_from_env({**RAISE, "NGLOGGER_SINKS": text})
    message = str(info.value)
    assert message.startswith(f"NGLOGGER_SINKS={text!r}: {reason}; accepted: "), message
    assert accepted in message.split("; accepted: ", 1)[1]
    assert len(message) < 300, message  # was ~700, the list first


def test_sink_uri_error_in_a_list_names_the_entry() -> None:
    """With several sinks, the error names the entry that is wrong."""
    with pytest.raises(ConfigError) as info:
        config_from_env({**RAISE, "NGLOGGER_SINKS": "stdout,file:///tmp/x?max_bytes=lots"})
    assert str(info.value).startswith(
        "NGLOGGER_SINKS='stdout,file:///tmp/x?max_bytes=lots': entry 'file:///tmp/x': "
        "bad value for max_bytes: 'lots'; accepted: max_bytes=a size such as 100MB"
    )
