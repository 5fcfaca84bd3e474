"""OpenTelemetry tracing, configured by the standard ``OTEL_*`` environment only.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
is set, or ``OTEL_TRACES_EXPORTER`` names an exporter (``otlp``, ``console``); off when
``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``. Off, nothing of OpenTelemetry is
imported. On, it needs the ``otel`` extra (the SDK and the OTLP HTTP/protobuf exporter); the
SDK reads the rest itself (``OTEL_SERVICE_NAME``, ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``, the exporter's headers and timeouts) and flushes its
spans at exit.

A trace per job (``traced``, opened by the worker for each job and by ``lkx console`` for its
session); the spans of each turn come from ``session/turn_spans.py``. Log records made inside
a span carry its ids (``TraceIds``, installed on the CLI's handler).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from livekitex_cli.errors import ResourceError, ValidationError
from livekitex_cli.log import get_logger

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter
    from opentelemetry.trace import Tracer

log = get_logger("tracing")
INSTRUMENTATION = "livekitex_cli"
EXTRA = "pip install 'livekitex-cli[otel]'"
_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
_state: dict[str, bool] = {"ready": False}


def configured(env: dict[str, str] | os._Environ[str] | None = None) -> bool:
    """Whether the environment asks for traces (reads variables only, imports nothing)."""
    env = os.environ if env is None else env
    if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporters = _exporter_names(env)
    if exporters is not None:
        return any(name != "none" for name in exporters)
    return any(env.get(name, "").strip() for name in _ENDPOINTS)


def _exporter_names(env: dict[str, str] | os._Environ[str]) -> list[str] | None:
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    return [name.strip() for name in raw.split(",") if name.strip()] if raw else None


def setup() -> None:
    """Install the SDK's tracer provider with the configured exporters, once per process.
    Does nothing when tracing is off, or when the process already has a tracer provider (an
    application that embeds lkx and set up its own: lkx's spans go there).

    Raises ``ResourceError`` when tracing is on but the ``otel`` extra is missing, and
    ``ValidationError`` for an exporter or protocol lkx cannot send with."""
    if _state["ready"] or not configured():
        return
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        raise ResourceError(
            "tracing", f"OTEL_* asks for traces but the otel extra is not installed ({EXTRA})"
        ) from None
    exporters = [_exporter(name) for name in _exporter_names(os.environ) or ["otlp"]]
    attributes: dict[str, Any] = {}
    if not os.environ.get("OTEL_SERVICE_NAME") and "service.name=" not in os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", ""
    ):
        attributes["service.name"] = "lkx"
    provider = TracerProvider(resource=Resource.create(attributes))
    for exporter in exporters:
        if exporter is not None:
            provider.add_span_processor(BatchSpanProcessor(exporter))
    _state["ready"] = True
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
        log.info("tracing on", extra={"exporters": _exporter_names(os.environ) or ["otlp"]})
    else:
        provider.shutdown()
        log.info("tracing on, into the tracer provider already set")


def _exporter(name: str) -> SpanExporter | None:
    if name == "none":
        return None
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter(out=sys.stderr)  # stdout is the conversation's
    if name != "otlp":
        raise ValidationError("OTEL_TRACES_EXPORTER", f"'{name}' is not one of otlp, console, none")
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
    )
    if protocol.strip() != "http/protobuf":
        reason = f"'{protocol}' is not supported: lkx sends http/protobuf (port 4318)"
        raise ValidationError("OTEL_EXPORTER_OTLP_PROTOCOL", reason)
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise ResourceError(
            "tracing", f"the OTLP exporter of the otel extra is not installed ({EXTRA})"
        ) from None
    return OTLPSpanExporter()


def tracer() -> Tracer | None:
    """lkx's tracer when tracing is on (set up on first use), else ``None``."""
    if not configured():
        return None
    setup()
    from opentelemetry import trace

    return trace.get_tracer(INSTRUMENTATION)


@contextmanager
def traced(name: str, attributes: dict[str, str]) -> Iterator[None]:
    """A trace's root span, current in this task (and the tasks it starts) until the block
    ends: a job's, or a console session's. Does nothing when tracing is off."""
    found = tracer()
    if found is None:
        yield
        return
    with found.start_as_current_span(name, attributes=attributes):
        yield


class TraceIds(logging.Filter):
    """Adds ``otelTraceID`` and ``otelSpanID`` (hex, as OpenTelemetry's logging
    instrumentation names them) to records logged inside a span."""

    def filter(self, record: logging.LogRecord) -> bool:
        from opentelemetry import trace

        context = trace.get_current_span().get_span_context()
        if context.is_valid:
            record.otelTraceID = format(context.trace_id, "032x")
            record.otelSpanID = format(context.span_id, "016x")
        return True


def log_filter() -> logging.Filter | None:
    """The filter for a log handler when tracing is on (and can be: ``setup`` reports a
    missing extra)."""
    if not configured():
        return None
    from importlib.util import find_spec

    return TraceIds() if find_spec("opentelemetry") is not None else None
