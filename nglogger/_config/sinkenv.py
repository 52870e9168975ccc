"""The sinks' own variables: declared for the docs, captured whole into ``Config.sink_env``.

Sinks read their ecosystem's variables (``DD_*``, ``HONEYCOMB_*``, ``LOKI_*``,
``OTEL_EXPORTER_OTLP_*``, ``NGLOGGER_HTTP_*``) from ``Config.sink_env``, never from
``os.environ``: the environment parser copies every variable of these prefixes and names
(:func:`captured`), values untouched. ``SINK_VARIABLES`` declares the known ones (what each
does, what it accepts) for ``nglogger config --variables`` and the documentation; they may
hold secrets and are never shown.
"""

from __future__ import annotations

from collections.abc import Mapping

from .declare import Var
from .values import PAIRS_ACCEPTED

__all__ = ["SINK_ENV_NAMES", "SINK_ENV_PREFIXES", "SINK_VARIABLES", "captured"]

#: Prefixes of the variables captured whole into ``Config.sink_env`` for the sinks.
SINK_ENV_PREFIXES = ("DD_", "HONEYCOMB_", "OTEL_EXPORTER_OTLP_", "NGLOGGER_HTTP_", "LOKI_")
#: Single variables also captured for the sinks (the OTLP sink builds its Resource from them).
SINK_ENV_NAMES = frozenset({"OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", "OTEL_LOGS_EXPORTER"})


def captured(environ: Mapping[str, str]) -> dict[str, str]:
    """The sinks' variables in ``environ`` (by prefix or name), as they are."""
    return {
        k: v for k, v in environ.items() if k.startswith(SINK_ENV_PREFIXES) or k in SINK_ENV_NAMES
    }


#: The sinks' variables (the ``sink_env`` setting's declaration, in docs order).
SINK_VARIABLES = (
    Var(
        "NGLOGGER_HTTP_HEADERS",
        "extra headers for generic http(s):// sinks (secret: never shown)",
        PAIRS_ACCEPTED,
    ),
    Var(
        "OTEL_EXPORTER_OTLP_ENDPOINT",
        "base URL of the otlp sink (/v1/logs is appended)",
        "an http(s):// URL; default http://localhost:4318",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
        "URL of the otlp sink, used as-is (wins)",
        "an http(s):// URL",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_HEADERS",
        "headers of the otlp sink (secret: never shown)",
        PAIRS_ACCEPTED,
    ),
    Var(
        "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
        "headers of the otlp sink (wins; secret: never shown)",
        PAIRS_ACCEPTED,
    ),
    Var(
        "OTEL_EXPORTER_OTLP_TIMEOUT",
        "per-request timeout of the otlp sink",
        "milliseconds > 0; default 10000",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_LOGS_TIMEOUT",
        "per-request timeout of the otlp sink (wins)",
        "milliseconds > 0",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_COMPRESSION",
        "request compression of the otlp sink",
        "gzip, none; default none",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_LOGS_COMPRESSION",
        "request compression of the otlp sink (wins)",
        "gzip, none",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "protocol of the otlp sink (grpc needs nglogger[grpc]; its endpoint is used as-is)",
        "http/protobuf, http/json, grpc; default http/protobuf",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_LOGS_PROTOCOL",
        "protocol of the otlp sink (wins)",
        "http/protobuf, http/json, grpc",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_INSECURE",
        "OTLP/gRPC to an http:// endpoint: plaintext (true) or TLS (false); ..._LOGS_INSECURE wins",
        "true, false; default true for http://, https:// is always TLS",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_CERTIFICATE",
        "OTLP/gRPC: CA bundle verifying the collector (..._LOGS_CERTIFICATE wins)",
        "a PEM file path; default the system roots",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_CLIENT_KEY",
        "OTLP/gRPC mTLS: client private key (..._LOGS_CLIENT_KEY wins)",
        "a PEM file path (with ..._CLIENT_CERTIFICATE)",
    ),
    Var(
        "OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE",
        "OTLP/gRPC mTLS: client certificate chain (..._LOGS_CLIENT_CERTIFICATE wins)",
        "a PEM file path (with ..._CLIENT_KEY)",
    ),
    Var("DD_API_KEY", "API key of the datadog sink (secret: never shown)", "a Datadog API key"),
    Var(
        "DD_SITE",
        "Datadog site of the datadog sink (default datadoghq.com)",
        "a site such as datadoghq.com, datadoghq.eu, us5.datadoghq.com",
    ),
    Var(
        "DD_SERVICE",
        "service of datadog entries (default: the context's service)",
        "a service name",
    ),
    Var("DD_ENV", "env: tag of datadog entries", "an environment name"),
    Var("DD_VERSION", "version: tag of datadog entries", "a version"),
    Var("DD_TAGS", "more tags of datadog entries", "key:value tags separated by , or spaces"),
    Var(
        "HONEYCOMB_API_KEY",
        "API key of the honeycomb sink (secret: never shown)",
        "a Honeycomb ingest API key",
    ),
    Var(
        "HONEYCOMB_DATASET",
        "dataset of the honeycomb sink (default: the context's service)",
        "a dataset name without '/'",
    ),
    Var(
        "HONEYCOMB_API_ENDPOINT",
        "API host of the honeycomb sink (EU: https://api.eu1.honeycomb.io)",
        "an http(s):// URL; default https://api.honeycomb.io",
    ),
    Var("LOKI_TENANT_ID", "X-Scope-OrgID header of loki+http(s):// sinks", "a Loki tenant id"),
    Var(
        "LOKI_USERNAME",
        "basic-auth user of loki+http(s):// sinks (user-info in the URI wins)",
        "a user name (with LOKI_PASSWORD)",
    ),
    Var(
        "LOKI_STRUCTURED_METADATA",
        "event fields loki+http(s):// sinks send as Loki 3 structured metadata (never labels)",
        "comma-separated top-level field names such as trace_id,span_id",
    ),
    Var(
        "LOKI_PASSWORD",
        "basic-auth password of loki+http(s):// sinks (secret: never shown)",
        "a password (with LOKI_USERNAME)",
    ),
)
