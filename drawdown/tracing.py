"""Tracing (O-4): one trace per request across the services, with OpenTelemetry.

Every server runs OpenTelemetry's gRPC server interceptor and invoicing's channels to
metering and credits its client interceptors, so a call's W3C trace context
(``traceparent`` metadata) reaches every call it causes. Spans are recorded and exported
over OTLP only when an endpoint is configured (``DRAWDOWN_OTLP_ENDPOINT``, or the
standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``).
Without one, the provider is OpenTelemetry's no-op: its spans record nothing and cost
next to nothing, yet carry the incoming trace context on, so a traced caller's trace
still spans the services behind an untraced one.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Sequence
from importlib.metadata import PackageNotFoundError, version

import grpc
from opentelemetry import trace
from opentelemetry.instrumentation.grpc import aio_client_interceptors, aio_server_interceptor, filters

from drawdown.config import Settings

# Probes and tooling, not requests: a load balancer's health checks would bury the traces.
_UNTRACED = filters.negate(
    filters.any_of(filters.service_prefix("grpc.health."), filters.service_prefix("grpc.reflection."))
)

_STANDARD_ENDPOINTS = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")


def otlp_endpoint(settings: Settings) -> str | None:
    """Where spans are exported: DRAWDOWN_OTLP_ENDPOINT, else the standard OTel variables;
    None (no tracing) when none is set."""
    if settings.otlp_endpoint:
        return settings.otlp_endpoint
    return next((os.environ[name] for name in _STANDARD_ENDPOINTS if os.environ.get(name)), None)


def tracer_provider_for(service: str, settings: Settings) -> trace.TracerProvider:
    """The tracer provider of one service's server: an SDK provider exporting over OTLP to
    the configured endpoint, with resource ``service.name`` = the service; else the no-op."""
    endpoint = otlp_endpoint(settings)
    if endpoint is None:
        return trace.NoOpTracerProvider()
    # Imported here: a process without tracing never loads the SDK or the exporter.
    # OTLP over gRPC rather than over HTTP: it needs only grpcio and the protobuf runtime,
    # which every service has already, where the HTTP exporter brings requests and its
    # dependencies. The exporter reads the other OTEL_EXPORTER_OTLP_* variables (headers,
    # certificate, compression, timeout) and the batch processor OTEL_BSP_*.
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create(
        {"service.name": service, "service.namespace": "drawdown", "service.version": _version()}
    )
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    return provider


async def shut_down(provider: trace.TracerProvider) -> None:
    """Export the spans still queued and stop the provider's exporter (SDK providers only)."""
    shutdown = getattr(provider, "shutdown", None)
    if shutdown is not None:
        await asyncio.to_thread(shutdown)


def server_interceptor(provider: trace.TracerProvider) -> grpc.aio.ServerInterceptor:
    """A server span per call (health and reflection excepted), child of the caller's."""
    return aio_server_interceptor(tracer_provider=provider, filter_=_UNTRACED)


def client_interceptors(provider: trace.TracerProvider) -> Sequence[grpc.aio.ClientInterceptor]:
    """A client span per outgoing call, its context sent as ``traceparent`` metadata."""
    return aio_client_interceptors(tracer_provider=provider)


def _version() -> str:
    try:
        return version("drawdown")
    except PackageNotFoundError:
        return "unknown"
