"""Tracing (O-4): one trace per request across the services, with OpenTelemetry.

When an endpoint is configured (``DRAWDOWN_OTLP_ENDPOINT``, or the standard
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`` / ``OTEL_EXPORTER_OTLP_ENDPOINT``), every server
runs OpenTelemetry's gRPC server interceptor and invoicing's channels to metering and
credits its client interceptors: a span per call, the W3C trace context (``traceparent``
metadata) carried to every call it causes, the spans exported over OTLP.

Without one, the provider is OpenTelemetry's no-op and nothing is recorded; only the
trace context is passed on, so that a traced caller's trace still spans the services
behind an untraced one. That takes neither interceptor (each costs every call tens of
microseconds of Python, and a channel with interceptors leaves gRPC's fast path): a call
that comes with a ``traceparent`` gets it as its current context, and a call made under
a valid context sends it (``trace_metadata``); the others pay one metadata scan.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
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


def records(provider: trace.TracerProvider) -> bool:
    """Whether spans of ``provider`` are recorded (it is not the no-op)."""
    return not isinstance(provider, trace.NoOpTracerProvider)


def server_interceptor(provider: trace.TracerProvider) -> grpc.aio.ServerInterceptor:
    """A server span per call (health and reflection excepted), child of the caller's;
    with the no-op provider, the caller's trace context passed on and nothing else."""
    if not records(provider):
        return _PassContextOn()
    return aio_server_interceptor(tracer_provider=provider, filter_=_UNTRACED)


def client_interceptors(provider: trace.TracerProvider) -> Sequence[grpc.aio.ClientInterceptor] | None:
    """A client span per outgoing call, its context sent as ``traceparent`` metadata; none
    with the no-op provider (the caller sends ``trace_metadata`` instead)."""
    return aio_client_interceptors(tracer_provider=provider) if records(provider) else None


def trace_metadata() -> tuple[tuple[str, str], ...]:
    """The current trace context as call metadata (``traceparent``, ...); none without one."""
    if not trace.get_current_span().get_span_context().is_valid:
        return ()
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return tuple(carrier.items())


class _PassContextOn(grpc.aio.ServerInterceptor):
    """Makes a call's incoming trace context current while it runs, so that the calls it
    makes carry it; records nothing. A call without ``traceparent`` keeps its handler."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        metadata = details.invocation_metadata or ()
        if handler is None or not any(key == "traceparent" for key, _ in metadata):
            return handler
        return _in_context(handler, propagate.extract(dict(metadata)))


def _in_context(handler: grpc.RpcMethodHandler, context: otel_context.Context) -> grpc.RpcMethodHandler:
    """``handler`` whose behaviour runs with ``context`` attached."""
    options = {
        "request_deserializer": handler.request_deserializer,
        "response_serializer": handler.response_serializer,
    }
    if handler.response_streaming:
        streaming = handler.unary_stream or handler.stream_stream

        async def stream(request: Any, servicer_context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            token = otel_context.attach(context)
            try:
                async for response in streaming(request, servicer_context):
                    yield response
            finally:
                otel_context.detach(token)

        factory = (
            grpc.stream_stream_rpc_method_handler
            if handler.request_streaming
            else grpc.unary_stream_rpc_method_handler
        )
        return factory(stream, **options)
    unary = handler.unary_unary or handler.stream_unary

    async def answer(request: Any, servicer_context: grpc.aio.ServicerContext) -> Any:
        token = otel_context.attach(context)
        try:
            return await unary(request, servicer_context)
        finally:
            otel_context.detach(token)

    factory = (
        grpc.stream_unary_rpc_method_handler
        if handler.request_streaming
        else grpc.unary_unary_rpc_method_handler
    )
    return factory(answer, **options)


def _version() -> str:
    try:
        return version("drawdown")
    except PackageNotFoundError:
        return "unknown"
