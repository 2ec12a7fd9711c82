"""OpenTelemetry traces: HTTP request → Temporal client → workflow → activity → graph node.

Off unless an OTLP endpoint is configured (``GRAPHYARD_OTLP_ENDPOINT``, or the standard
``OTEL_EXPORTER_OTLP_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``). When on, the process
gets a replay-safe tracer provider (span ids inside workflows come from the workflow's
deterministic random, so a replayed workflow re-creates the same spans instead of new ones),
its Temporal client temporalio's ``OpenTelemetryInterceptor`` (which the worker inherits from
the client), the API FastAPI's instrumentation, and each super-step a callback that opens a span
per graph node. A run is one trace: the request that created it is its root.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
)
from temporalio.contrib.opentelemetry import (
    OpenTelemetryInterceptor,
    ReplaySafeTracerProvider,
    create_tracer_provider,
)

from graphyard.config import Settings
from graphyard.telemetry import logs

log = logging.getLogger(__name__)

_ENDPOINT_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def enabled(settings: Settings) -> bool:
    """Whether this process traces: an OTLP endpoint is configured, and the standard
    ``OTEL_SDK_DISABLED`` / ``OTEL_TRACES_EXPORTER=none`` do not turn it off."""
    if os.environ.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return False
    if os.environ.get("OTEL_TRACES_EXPORTER", "").lower() == "none":
        return False
    return bool(settings.otlp_endpoint or any(os.environ.get(v) for v in _ENDPOINT_VARIABLES))


def setup(settings: Settings, service: str, exporter: SpanExporter | None = None) -> bool:
    """Install the process's tracer provider with an OTLP/HTTP exporter, or with ``exporter``
    (tests collect spans in memory); the first call does, later ones keep it. Returns whether
    tracing is on."""
    if not enabled(settings):
        return False
    current: Any = trace.get_tracer_provider()
    if isinstance(current, ReplaySafeTracerProvider):
        return True
    name = settings.service_name or os.environ.get("OTEL_SERVICE_NAME") or service
    provider = create_tracer_provider(resource=Resource.create({"service.name": name}))
    processor: SpanProcessor
    if exporter is not None:
        processor = SimpleSpanProcessor(exporter)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otlp_endpoint
        if endpoint and not endpoint.rstrip("/").endswith("/v1/traces"):
            endpoint = endpoint.rstrip("/") + "/v1/traces"
        # Without an endpoint, the exporter reads the OTEL_EXPORTER_OTLP_* variables.
        processor = BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint))
        log.info("tracing: exporting spans by OTLP/HTTP to %s", endpoint or "OTEL_EXPORTER_*")
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    logs.include_trace_ids()
    return True


def temporal_interceptors(settings: Settings) -> list[Any]:
    """The Temporal client's interceptors: span creation and context propagation through
    workflow and activity headers (a worker built on the client inherits them). None when off."""
    if not enabled(settings) or not isinstance(
        trace.get_tracer_provider(), ReplaySafeTracerProvider
    ):
        return []
    return [OpenTelemetryInterceptor(add_temporal_spans=True)]


def instrument_app(app: Any, settings: Settings) -> None:
    """A span per HTTP request (its context goes on to the workflows it starts)."""
    if not enabled(settings):
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    # No span per ASGI send: a stream would get one per event.
    FastAPIInstrumentor.instrument_app(
        app, excluded_urls="ok,metrics", exclude_spans=["receive", "send"]
    )
