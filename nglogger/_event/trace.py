"""Trace correlation: the active OpenTelemetry span's ids on every event.

While an OpenTelemetry span is active, each event gets three fields, the names
and formats of the OTel specification "Trace Context in non-OTLP Log Formats"
(which Datadog, Grafana and Elastic also read to link logs to traces):

* ``trace_id``: 32 lower-case hex digits;
* ``span_id``: 16 lower-case hex digits;
* ``trace_flags``: the whole W3C trace-flags byte as two hex digits, the
  ``traceparent`` spelling the specification asks for (``"01"`` sampled, ``"00"``
  not; recent OTel SDKs also set 0x02, "random trace id", giving ``"03"``).

An event that already has a ``trace_id`` (the caller passed one) is left alone.

Under an output schema (``Config.schema``, see ``_layout``) the names and forms are
the backend's, chosen when the pipeline is built (the per-event work is the same):
``ecs``: ``trace.id`` and ``span.id`` (hex; ECS has no flags field); ``gcp``:
``logging.googleapis.com/trace`` (``projects/<project>/traces/<hex>`` when a project
is configured, else the bare hex id), ``logging.googleapis.com/spanId`` (hex) and
``logging.googleapis.com/trace_sampled`` (a boolean); ``datadog``: ``dd.trace_id``
and ``dd.span_id``, the lower 64 bits as a decimal string (what the Datadog sink
derives from W3C ids, so the two agree).
The fields are added by a wrapper around ``Pipeline.emit``, so native loggers
and the stdlib ``LoggingHandler`` both get them. ``Config.trace_context``:
``False`` builds no wrapper at all (the call costs exactly what it did);
``True`` requires ``opentelemetry-api``; ``None`` (auto) turns it on when the
application has already imported ``opentelemetry.trace`` when the pipeline is
built (nglogger never imports it just to look).

Cost when on and no span is active: one context-variable read and one dict
lookup (OTel's own context variable and span key, read directly; the public
``get_current_span()`` path, 4x slower, is used when OTel runs with a runtime
context other than its contextvars one). With a span: its ``SpanContext`` is
fetched and the hex strings are reused from a one-entry cache while the span
stays the same (formatting them costs more than everything else together).
Measured numbers are in ``bench/test_trace_bench.py``.

This is the caller side of the OpenTelemetry integration (``nglogger.otel`` re-exports
it): it runs in the log call, imports ``opentelemetry`` only when turned on, and the
pipeline wraps its ``emit`` with :func:`correlate` when it is built.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

from .._core.errors import ConfigError
from .layout import DEFAULT_SCHEMA, Schema

__all__ = ["Emit", "annotator", "correlate", "trace_context_enabled", "trace_fields"]

#: What a pipeline's ``emit`` is: one event dict in, nothing out.
Emit = Callable[[dict[str, Any]], None]

_INSTALL = "pip install 'nglogger[otel]'"


def trace_context_enabled(setting: bool | None) -> bool:
    """Whether trace correlation is on for ``Config.trace_context`` (None: auto)."""
    if setting is None:
        return "opentelemetry.trace" in sys.modules
    return setting is True


def _span_lookup() -> tuple[Callable[[], Any], str] | None:
    """OTel's current-context getter and span key, when OTel uses its contextvars runtime.

    These are private names of ``opentelemetry-api`` (stable since 1.0); if they
    ever move, the public ``get_current_span()`` is used instead.
    """
    try:
        from contextvars import ContextVar

        from opentelemetry import context as otel_context
        from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
        from opentelemetry.trace import propagation

        runtime = getattr(otel_context, "_RUNTIME_CONTEXT", None)
        var = getattr(runtime, "_current_context", None)
        key = getattr(propagation, "_SPAN_KEY", None)
        if (
            isinstance(runtime, ContextVarsRuntimeContext)
            and isinstance(var, ContextVar)
            and isinstance(key, str)
        ):
            return var.get, key
    except Exception:
        pass
    return None


_LOW64 = 0xFFFFFFFFFFFFFFFF


def _entry(
    context: Any, schema: Schema = DEFAULT_SCHEMA, project: str | None = None
) -> tuple[Any, Any, Any, Any]:
    """``(span_context, trace id, span id, flags)`` in ``schema``'s forms; Nones if invalid."""
    if not context.is_valid:
        return context, None, None, None
    flags = int(context.trace_flags) & 0xFF
    kind = schema.trace_format
    if kind == "datadog":
        return context, str(context.trace_id & _LOW64), str(context.span_id), None
    if kind == "gcp":
        trace = f"{context.trace_id:032x}"
        if project:
            trace = f"projects/{project}/traces/{trace}"
        return context, trace, f"{context.span_id:016x}", bool(flags & 1)
    hex_flags = f"{flags:02x}" if schema.trace_keys[2] is not None else None  # ECS: no field
    return context, f"{context.trace_id:032x}", f"{context.span_id:016x}", hex_flags


def correlate(
    emit: Emit,
    setting: bool | None,
    schema: Schema = DEFAULT_SCHEMA,
    project: str | None = None,
) -> Emit:
    """``emit`` wrapped to add the active span's ids, or ``emit`` itself when off.

    ``schema`` names the fields and their forms (see the module docstring);
    ``project`` is the Google Cloud project of ``gcp`` trace names. Raises
    ConfigError when ``setting`` is True and ``opentelemetry-api`` is not installed.
    """
    add = annotator(setting, schema, project)
    if add is None:
        return emit

    def traced_emit(event: dict[str, Any]) -> None:
        """Add the active span's ids (if any, and no trace_id was given), then emit."""
        add(event)
        emit(event)

    return traced_emit


def annotator(
    setting: bool | None,
    schema: Schema = DEFAULT_SCHEMA,
    project: str | None = None,
) -> Callable[[dict[str, Any]], None] | None:
    """``add(event)``: put the active span's ids into an event dict; None when off.

    What :func:`correlate` wraps around ``emit``, and what a log call that encodes its
    event itself (``Pipeline.direct``) calls before encoding. Never raises.
    """
    if not trace_context_enabled(setting):
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        raise ConfigError(
            "trace_context", setting, "False or None when opentelemetry is not installed", _INSTALL
        ) from None
    cache: list[tuple[Any, Any, Any, Any]] = [(None, None, None, None)]
    lookup = _span_lookup()
    trace_key, span_key, flags_name = schema.trace_keys
    flags_key = flags_name or ""  # no flags field: _entry gives None and nothing is written

    if lookup is not None:
        current, key = lookup

        def add_ids(event: dict[str, Any]) -> None:
            """Add the active span's ids (if any, and no trace_id was given)."""
            try:
                span = current().get(key)
                if span is not None and trace_key not in event:
                    context = span.get_span_context()
                    entry = cache[0]
                    if entry[0] is not context:
                        entry = cache[0] = _entry(context, schema, project)
                    if entry[1] is not None:
                        event[trace_key] = entry[1]
                        event[span_key] = entry[2]
                        if entry[3] is not None:
                            event[flags_key] = entry[3]
            except Exception:
                pass

        return add_ids

    get_current_span = trace.get_current_span

    def add_ids_public(event: dict[str, Any]) -> None:
        """Add the active span's ids (public OTel API)."""
        try:
            context = get_current_span().get_span_context()
            entry = cache[0]
            if entry[0] is not context:
                entry = cache[0] = _entry(context, schema, project)
            if entry[1] is not None and trace_key not in event:
                event[trace_key] = entry[1]
                event[span_key] = entry[2]
                if entry[3] is not None:
                    event[flags_key] = entry[3]
        except Exception:
            pass

    return add_ids_public


def trace_fields() -> dict[str, str]:
    """The active span's ``trace_id``, ``span_id`` and ``trace_flags`` (empty without one).

    For code that builds events by other means (``bind``, a custom sink); log
    calls get these fields automatically when trace correlation is on.
    """
    try:
        from opentelemetry import trace
    except ImportError:
        return {}
    _, trace_id, span_id, flags = _entry(trace.get_current_span().get_span_context())
    if trace_id is None or span_id is None or flags is None:
        return {}
    return {"trace_id": trace_id, "span_id": span_id, "trace_flags": flags}
