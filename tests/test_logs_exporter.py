"""OTEL_LOGS_EXPORTER: the OpenTelemetry SDKs' switch for where logs go, read by nglogger.

``otlp`` adds the otlp sink (configured by ``OTEL_EXPORTER_OTLP_*``), ``console`` adds
stdout, ``none`` adds nothing; an explicit ``sinks`` argument wins; anything else is a
ConfigError naming the variable.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from support.http import RecordingServer

import nglogger
from nglogger import ConfigError
from nglogger._config.report import config_from_env, resolve_with_sources


@pytest.mark.parametrize(
    ("env", "sinks", "source"),
    [
        ({"OTEL_LOGS_EXPORTER": "otlp"}, ("stdout", "otlp"), "env:OTEL_LOGS_EXPORTER"),
        ({"OTEL_LOGS_EXPORTER": " OTLP "}, ("stdout", "otlp"), "env:OTEL_LOGS_EXPORTER"),
        ({"OTEL_LOGS_EXPORTER": "none"}, ("stdout",), "default"),
        ({"OTEL_LOGS_EXPORTER": "console"}, ("stdout",), "default"),
        (
            {"OTEL_LOGS_EXPORTER": "otlp,console", "NGLOGGER_SINKS": "stderr"},
            ("stderr", "otlp", "stdout"),
            "env:NGLOGGER_SINKS+env:OTEL_LOGS_EXPORTER",
        ),
        (
            {"OTEL_LOGS_EXPORTER": "otlp", "NGLOGGER_SINKS": "otlp+grpc://c:4317"},
            ("otlp+grpc://c:4317",),  # an otlp sink is configured already
            "env:NGLOGGER_SINKS",
        ),
        ({"OTEL_LOGS_EXPORTER": "otlp", "NGLOGGER_SINKS": "otlp"}, ("otlp",), "env:NGLOGGER_SINKS"),
    ],
)
def test_logs_exporter_adds_sinks(env: dict[str, str], sinks: tuple[str, ...], source: str) -> None:
    config, report = resolve_with_sources(env)
    assert sinks == config.sinks
    assert source == report["sinks"][1]


def test_an_explicit_sinks_argument_wins() -> None:
    assert ("stderr",) == config_from_env({"OTEL_LOGS_EXPORTER": "otlp"}, sinks=["stderr"]).sinks


@pytest.mark.parametrize("value", ["zipkin", "otlp,logging", "none,otlp"])
def test_bad_values_are_a_config_error_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_env({"OTEL_LOGS_EXPORTER": value, "NGLOGGER_CONFIG_ERRORS": "raise"})
    text = str(info.value)
    assert f"OTEL_LOGS_EXPORTER={value!r}" in text
    assert "otlp, console or none" in text


@pytest.fixture
def server() -> Iterator[RecordingServer]:
    with RecordingServer() as recording:
        yield recording


def test_configure_from_the_environment_exports_over_otlp(
    server: RecordingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_LOGS_EXPORTER=otlp + OTEL_EXPORTER_OTLP_ENDPOINT, nothing else: events reach it."""
    monkeypatch.setenv("OTEL_LOGS_EXPORTER", "otlp")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.url)
    monkeypatch.setenv("NGLOGGER_SINKS", "null")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "checkout")
    nglogger.configure(flush_interval=0.05)
    nglogger.get_logger("env").info("from the environment", order=7)
    assert nglogger.flush(10.0)
    [request] = server.wait_for(1)
    assert "/v1/logs" == request.path
    message = ExportLogsServiceRequest.FromString(request.body)
    [record] = message.resource_logs[0].scope_logs[0].log_records
    assert "from the environment" == record.body.string_value
    resource = {
        kv.key: kv.value.string_value for kv in message.resource_logs[0].resource.attributes
    }
    assert "checkout" == resource["service.name"]
    assert {"null", "otlp:http://127.0.0.1"} == {
        name.rsplit(":", 1)[0] for name in nglogger.stats().sinks
    }
