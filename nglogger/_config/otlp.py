"""OTLP exporter settings: the ``OTEL_EXPORTER_OTLP_*`` variables and their precedence.

Settings (explicit argument > ``OTEL_EXPORTER_OTLP_LOGS_*`` > ``OTEL_EXPORTER_OTLP_*`` >
the specification's default): endpoint (``..._LOGS_ENDPOINT`` as-is, else
``..._ENDPOINT`` + ``/v1/logs``, default ``http://localhost:4318/v1/logs``),
headers (``k=v,k2=v2``, percent-decoded; the logs variable replaces the general
one), timeout (milliseconds, default 10000: the read timeout of each request;
connect timeout ``min(timeout, 5 s)``), compression (``gzip`` or ``none``,
default ``none``), protocol (``http/protobuf``, ``http/json`` or ``grpc``). With ``grpc``
the endpoint is used as-is (``http://localhost:4317`` by default; gRPC has no path), and
the transport security follows the OTLP exporter specification: an ``https://`` endpoint
uses TLS, an ``http://`` one plaintext unless ``..._INSECURE=false``; ``..._CERTIFICATE``
(CA bundle), ``..._CLIENT_KEY`` and ``..._CLIENT_CERTIFICATE`` (mTLS) are PEM files read
when the sink is built. In ``NGLOGGER_SINKS``: ``otlp`` (all from the environment),
``otlp+http(s)://host:port[/path][?protocol=..&compression=..&timeout=ms]`` (without a
path, ``/v1/logs`` is appended; with one, it is used as-is) or
``otlp+grpc(s)://host:port[?compression=..&timeout=ms]`` (plaintext / TLS).

``resolve_settings`` is pure: it reads ``Config.sink_env`` (never ``os.environ``)
and returns a frozen :class:`OtlpSettings`; the sink (``nglogger.sinks.otlp``)
is built from it. The value checks are shared with the ``otlp+http(s)://`` sink
URI options (``nglogger._config.sinkuri``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from .._core.errors import ConfigError
from .._version import __version__
from .secrets import REDACTED, is_secret_key, safe_url_text
from .values import parse_pairs

__all__ = [
    "COMPRESSIONS",
    "CONTENT_TYPES",
    "DEFAULT_ENDPOINT",
    "DEFAULT_GRPC_ENDPOINT",
    "DEFAULT_TIMEOUT",
    "PROTOCOLS",
    "OtlpSettings",
    "check_compression",
    "check_protocol",
    "millis",
    "resolve_for_uri",
    "resolve_settings",
]

DEFAULT_ENDPOINT = "http://localhost:4318/v1/logs"
DEFAULT_GRPC_ENDPOINT = "http://localhost:4317"
PROTOCOLS = ("http/protobuf", "http/json", "grpc")
COMPRESSIONS = ("gzip", "none")
DEFAULT_TIMEOUT = 10.0
CONTENT_TYPES = {
    "http/protobuf": "application/x-protobuf",
    "http/json": "application/json",
    "grpc": "application/grpc",
}

_PREFIX = "OTEL_EXPORTER_OTLP_"
_LOGS_PREFIX = "OTEL_EXPORTER_OTLP_LOGS_"
_PROTOCOL_ACCEPTED = "http/protobuf, http/json, grpc"
_BOOLEANS = {"true": True, "false": False}


@dataclass(frozen=True, slots=True)
class OtlpSettings:
    """The resolved settings of an OTLP logs sink; ``sources`` says where each came from."""

    endpoint: str = field(default=DEFAULT_ENDPOINT, repr=False)
    protocol: str = "http/protobuf"
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: float = DEFAULT_TIMEOUT
    compression: str = "none"
    resource: Mapping[str, object] = field(default_factory=dict)
    sources: Mapping[str, str] = field(default_factory=dict)
    #: gRPC only: plaintext (True) or TLS (False); from the endpoint's scheme and
    #: ``..._INSECURE``.
    insecure: bool = True
    #: gRPC only: PEM file paths (CA bundle, client key, client certificate), or "".
    certificate: str = ""
    client_key: str = ""
    client_certificate: str = ""

    def describe(self) -> dict[str, tuple[object, str]]:
        """``{"otel.<setting>": (value safe to print, source)}``; header values are masked."""
        resource = dict(self.resource)
        resource.setdefault("service.instance.id", "<uuid4, new in each process>")
        shown: dict[str, object] = {
            "endpoint": safe_url_text(self.endpoint),
            "protocol": self.protocol,
            "headers": dict.fromkeys(sorted(self.headers), "****"),
            "timeout_ms": round(self.timeout * 1000),
            "compression": self.compression,
            "resource": resource,
        }
        if self.protocol == "grpc":
            shown["insecure"] = self.insecure
            for name in ("certificate", "client_key", "client_certificate"):
                if getattr(self, name):
                    shown[name] = getattr(self, name)
        return {
            f"otel.{name}": (value, self.sources.get(name.removesuffix("_ms"), "default"))
            for name, value in shown.items()
        }


def _pick(env: Mapping[str, str], suffix: str) -> tuple[str | None, str]:
    """The logs-specific variable if set, else the general one: ``(value, name)``."""
    for name in (_LOGS_PREFIX + suffix, _PREFIX + suffix):
        value = env.get(name)
        if value is not None and value.strip():
            return value.strip(), name
    return None, ""


def check_endpoint(setting: str, url: object) -> str:
    accepted = "an http:// or https:// URL with a host"
    if not isinstance(url, str):
        raise ConfigError(setting, url, accepted)
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 - validates the port
    except ValueError:
        raise ConfigError(setting, safe_url_text(url), accepted, "bad URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(setting, safe_url_text(url), accepted)
    return url.strip()


def check_protocol(setting: str, value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in PROTOCOLS:
        raise ConfigError(setting, value, _PROTOCOL_ACCEPTED)
    assert isinstance(text, str)
    return text


def check_compression(setting: str, value: object) -> str:
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in COMPRESSIONS:
        raise ConfigError(setting, value, "gzip, none")
    assert isinstance(text, str)
    return text


def check_timeout(setting: str, value: object) -> float:
    """Seconds > 0 (finite)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value > 0
        or value == float("inf")
    ):
        raise ConfigError(setting, value, "a number of seconds > 0")
    return float(value)


def millis(setting: str, text: str) -> float:
    """A timeout variable (integer milliseconds, per the specification) in seconds."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < float("inf"):
        raise ConfigError(setting, text, "a number of milliseconds > 0, such as 10000")
    return value / 1000.0


def _pairs(setting: str, text: str, *, secret: bool) -> dict[str, str]:
    try:
        return parse_pairs(text)
    except ValueError as exc:
        accepted = "comma-separated key=value pairs (percent-encoded)"
        if secret:  # the error text quotes the entry, which may be a credential
            raise ConfigError(setting, "****", accepted, "a malformed entry") from None
        raise ConfigError(setting, text, accepted, str(exc)) from None


def resolve_settings(
    env: Mapping[str, str],
    *,
    endpoint: str | None = None,
    protocol: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeout: float | None = None,
    compression: str | None = None,
    resource: Mapping[str, object] | None = None,
    context: Mapping[str, object] | None = None,
) -> OtlpSettings:
    """Settings from explicit values > the ``OTEL_*`` variables in ``env`` > defaults.

    ``env`` is ``Config.sink_env`` (never ``os.environ``); ``context`` is the
    pipeline's static context, whose ``service`` names the service when no
    ``OTEL_*`` variable does. Raises ConfigError naming the variable or argument.
    """
    sources: dict[str, str] = {}

    def setting(
        name: str, explicit: object, parse: Callable[[str, object], str], default: str
    ) -> str:
        if explicit is not None:
            sources[name] = "argument"
            return parse(name, explicit)
        text, variable = _pick(env, name.upper())
        if text is None:
            return default
        sources[name] = f"env:{variable}"
        return parse(variable, text)

    chosen_protocol: str = setting("protocol", protocol, check_protocol, "http/protobuf")
    grpc = chosen_protocol == "grpc"
    if endpoint is not None:
        url = check_endpoint("endpoint", endpoint)
        sources["endpoint"] = "argument"
    else:
        logs = env.get(_LOGS_PREFIX + "ENDPOINT", "").strip()
        base = env.get(_PREFIX + "ENDPOINT", "").strip()
        if logs:
            url = check_endpoint(_LOGS_PREFIX + "ENDPOINT", logs)
            sources["endpoint"] = f"env:{_LOGS_PREFIX}ENDPOINT"
        elif base:
            url = check_endpoint(_PREFIX + "ENDPOINT", base)
            if not grpc:  # OTLP/HTTP appends the signal's path; gRPC has none
                url = url.rstrip("/") + "/v1/logs"
            sources["endpoint"] = f"env:{_PREFIX}ENDPOINT"
        else:
            url = DEFAULT_GRPC_ENDPOINT if grpc else DEFAULT_ENDPOINT
    chosen_compression: str = setting("compression", compression, check_compression, "none")
    if timeout is not None:
        seconds = check_timeout("timeout", timeout)
        sources["timeout"] = "argument"
    else:
        text, variable = _pick(env, "TIMEOUT")
        seconds = DEFAULT_TIMEOUT if text is None else millis(variable, text)
        if text is not None:
            sources["timeout"] = f"env:{variable}"
    if headers is not None:
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise ConfigError("headers", "****", "a mapping of header names to strings")
        chosen_headers = dict(headers)
        sources["headers"] = "argument"
    else:
        text, variable = _pick(env, "HEADERS")
        chosen_headers = {} if text is None else _pairs(variable, text, secret=True)
        if text is not None:
            sources["headers"] = f"env:{variable}"
    attributes, resource_source = _resource(env, resource, context)
    if resource_source:
        sources["resource"] = resource_source
    insecure = not url.lower().startswith("https://")
    text, variable = _pick(env, "INSECURE")
    if text is not None and insecure:
        if text.lower() not in _BOOLEANS:
            raise ConfigError(variable, text, "true, false")
        insecure = _BOOLEANS[text.lower()]
        sources["insecure"] = f"env:{variable}"
    files: dict[str, str] = {}
    for name in ("certificate", "client_key", "client_certificate"):
        text, variable = _pick(env, name.upper())
        files[name] = text or ""
        if text is not None:
            sources[name] = f"env:{variable}"
    return OtlpSettings(
        endpoint=url,
        protocol=chosen_protocol,
        headers=MappingProxyType(chosen_headers),
        timeout=seconds,
        compression=chosen_compression,
        resource=MappingProxyType(_redacted_resource(attributes)),
        sources=MappingProxyType(sources),
        insecure=insecure,
        **files,
    )


def resolve_for_uri(
    env: Mapping[str, str],
    url: str,
    options: Mapping[str, Any],
    context: Mapping[str, object] | None = None,
) -> OtlpSettings:
    """The settings of an ``otlp`` sink URI (``url`` and ``options`` from ``parse_otlp_uri``).

    An ``otlp+http(s)://`` URI speaks OTLP/HTTP even when ``OTEL_EXPORTER_OTLP_PROTOCOL``
    says ``grpc`` (meant for the other signals, or for the ``otlp`` URI).
    """
    settings = resolve_settings(env, endpoint=url or None, context=context, **options)
    if url and settings.protocol == "grpc" and "protocol" not in options:
        chosen = {**options, "protocol": "http/protobuf"}
        settings = resolve_settings(env, endpoint=url, context=context, **chosen)
    return settings


def _redacted_resource(attributes: dict[str, object]) -> dict[str, object]:
    """Resource attributes whose names look secret are replaced, like event fields."""
    return {k: (REDACTED if is_secret_key(k) else v) for k, v in attributes.items()}


def _resource(
    env: Mapping[str, str],
    explicit: Mapping[str, object] | None,
    context: Mapping[str, object] | None,
) -> tuple[dict[str, object], str]:
    """Resource attributes (without the generated instance id) and their source."""
    attributes: dict[str, object] = {}
    used: list[str] = []
    text = env.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if text.strip():
        attributes.update(_pairs("OTEL_RESOURCE_ATTRIBUTES", text, secret=False))
        used.append("env:OTEL_RESOURCE_ATTRIBUTES")
    name = env.get("OTEL_SERVICE_NAME", "").strip()
    if name:
        attributes["service.name"] = name
        used.append("env:OTEL_SERVICE_NAME")
    if explicit is not None:
        if not isinstance(explicit, Mapping) or not all(isinstance(k, str) for k in explicit):
            raise ConfigError("resource", explicit, "a mapping of attribute names to values")
        attributes.update(explicit)
        used.insert(0, "argument")
    if "service.name" not in attributes:
        service = (context or {}).get("service")
        if isinstance(service, str) and service:
            attributes["service.name"] = service
            used.append("context")
        else:
            attributes["service.name"] = "unknown_service"
    attributes.setdefault("telemetry.sdk.name", "nglogger")
    attributes.setdefault("telemetry.sdk.language", "python")
    attributes.setdefault("telemetry.sdk.version", __version__)
    return attributes, "+".join(used)
