"""One trace per request across the services (O-4): W3C trace context from a caller
through invoicing to metering and credits, spans in memory or exported over OTLP to a
real receiver."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta

import grpc
import pytest
from opentelemetry import trace
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from drawdown import suite as suite_definitions
from drawdown import tracing
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.invoicing.v1 import invoice_pb2, invoice_service_pb2
from drawdown.metering.v1 import meter_service_pb2, meter_service_pb2_grpc
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    advance,
    clock_at,
    customer,
    hypernian_catalog,
    invoices_of,
    invoicing_on_real_peers,
    subscribe,
)
from tests.support.harness import bearer, start_one
from tests.support.harness import test_settings as settings_for_tests

FEB_1 = T0.replace(month=2)
FINALIZE = "/drawdown.invoicing.v1.InvoiceService/FinalizeInvoice"


@dataclass(frozen=True)
class Caller:
    """A traced caller of the suite: the trace and span its ``traceparent`` names."""

    trace_id: int = field(default_factory=lambda: secrets.randbits(128))
    span_id: int = field(default_factory=lambda: secrets.randbits(64))

    def metadata(self, token: str) -> tuple[tuple[str, str], ...]:
        traceparent = f"00-{self.trace_id:032x}-{self.span_id:016x}-01"
        return (*bearer(token), ("traceparent", traceparent))


def in_memory_providers(
    services: Sequence[str],
) -> tuple[dict[str, trace.TracerProvider], InMemorySpanExporter]:
    """A recording provider per service (resource ``service.name``), all into one exporter."""
    exporter = InMemorySpanExporter()
    providers: dict[str, trace.TracerProvider] = {}
    for service in services:
        provider = TracerProvider(resource=Resource.create({"service.name": service}))
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        providers[service] = provider
    return providers, exporter


def service_of(span: ReadableSpan) -> str:
    return str(span.resource.attributes["service.name"])


async def a_draft(invoicing: Invoicing) -> str:
    """A Hypernian customer's draft with 3,000 input tokens and a 10 USD grant, in its grace period."""
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    await subscribe(invoicing, customer_id, catalog.input_price, catalog.output_price)
    await invoicing.grant(customer_id, 1000)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=3), 3000)
    await advance(invoicing, clock_id, FEB_1 + timedelta(minutes=1))
    (draft,) = await invoices_of(invoicing, customer_id)
    assert draft.status == invoice_pb2.INVOICE_STATUS_DRAFT
    return draft.id


async def finalize(invoicing: Invoicing, invoice_id: str, caller: Caller) -> None:
    reply = await invoicing.invoices.FinalizeInvoice(
        invoice_service_pb2.FinalizeInvoiceRequest(id=invoice_id, request_id=f"finalize-{invoice_id}"),
        metadata=caller.metadata(invoicing.suite.admin_key),
    )
    assert reply.invoice.status == invoice_pb2.INVOICE_STATUS_OPEN


async def spans_once(exporter: InMemorySpanExporter, ready: Callable[[list[ReadableSpan]], bool]) -> list:
    """The finished spans once ``ready`` holds for them: a client span ends in a callback
    the event loop runs just after the call, so the test lets the loop turn until then."""
    for _ in range(1000):
        spans = list(exporter.get_finished_spans())
        if ready(spans):
            return spans
        await asyncio.sleep(0)
    raise AssertionError(f"spans never complete: {[(service_of(s), s.name) for s in spans]}")


def server_spans_in(spans: list[ReadableSpan], service: str) -> list[ReadableSpan]:
    return [s for s in spans if service_of(s) == service and s.kind is trace.SpanKind.SERVER]


async def test_a_finalization_is_one_trace_across_the_three_services_o4(database_url: str) -> None:
    providers, exporter = in_memory_providers(("metering", "credits", "invoicing"))
    async with invoicing_on_real_peers(database_url, tracer_providers=providers) as invoicing:
        invoice_id = await a_draft(invoicing)
        exporter.clear()
        caller = Caller()
        await finalize(invoicing, invoice_id, caller)

        spans = await spans_once(
            exporter,
            lambda spans: (
                all(server_spans_in(spans, s) for s in ("metering", "credits"))
                and sum(s.kind is trace.SpanKind.CLIENT for s in spans) >= 2
            ),
        )
    mine = [s for s in spans if s.context.trace_id == caller.trace_id]
    (finalizing,) = [s for s in server_spans_in(mine, "invoicing") if s.name == FINALIZE]
    assert finalizing.parent is not None and finalizing.parent.span_id == caller.span_id
    assert finalizing.parent.is_remote
    by_id = {s.context.span_id: s for s in mine}
    for service in ("metering", "credits"):
        served = server_spans_in(mine, service)
        assert served, f"no {service} span in the caller's trace"
        for span in served:
            assert span.parent is not None and span.parent.is_remote
            calling = by_id[span.parent.span_id]  # invoicing's client span of this very call
            assert (service_of(calling), calling.kind, calling.name) == (
                "invoicing",
                trace.SpanKind.CLIENT,
                span.name,
            )
            assert calling.parent is not None and calling.parent.span_id == finalizing.context.span_id
            assert span.name.startswith(f"/drawdown.{service}.v1.")
    # Nothing the finalization caused went into another trace.
    assert {s.context.trace_id for s in spans if s.start_time >= finalizing.start_time} == {caller.trace_id}


async def test_an_untraced_invoicing_passes_the_trace_context_on_o4(database_url: str) -> None:
    """Invoicing records nothing (no exporter configured: the no-op provider), yet the
    spans of metering and credits join the caller's trace."""
    providers, exporter = in_memory_providers(("metering", "credits"))
    async with invoicing_on_real_peers(database_url, tracer_providers=providers) as invoicing:
        assert isinstance(
            invoicing.suite.servers["invoicing"].context.tracer_provider, trace.NoOpTracerProvider
        )
        invoice_id = await a_draft(invoicing)
        exporter.clear()
        caller = Caller()
        await finalize(invoicing, invoice_id, caller)
        spans = await spans_once(
            exporter, lambda spans: all(server_spans_in(spans, s) for s in ("metering", "credits"))
        )
    assert not [s for s in spans if service_of(s) == "invoicing"]
    for service in ("metering", "credits"):
        for span in server_spans_in(spans, service):
            assert span.context.trace_id == caller.trace_id
            # Invoicing's non-recording spans carry the caller's span on.
            assert span.parent is not None and span.parent.span_id == caller.span_id


def test_without_an_endpoint_no_recording_provider_is_made_o4(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        monkeypatch.delenv(name, raising=False)
    assert isinstance(tracing.tracer_provider_for("credits", settings_for_tests()), trace.NoOpTracerProvider)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
    assert tracing.otlp_endpoint(settings_for_tests()) == "http://127.0.0.1:4317"
    assert (
        tracing.otlp_endpoint(settings_for_tests(otlp_endpoint="http://collector:4317"))
        == "http://collector:4317"
    )


class Collector(trace_service_pb2_grpc.TraceServiceServicer):
    """An OTLP/gRPC trace receiver on loopback that keeps every export it is sent."""

    def __init__(self) -> None:
        self.requests: list[trace_service_pb2.ExportTraceServiceRequest] = []
        self.received = asyncio.Event()

    async def Export(
        self, request: trace_service_pb2.ExportTraceServiceRequest, context: grpc.aio.ServicerContext
    ) -> trace_service_pb2.ExportTraceServiceResponse:
        self.requests.append(request)
        self.received.set()
        return trace_service_pb2.ExportTraceServiceResponse()

    def spans(self) -> list[tuple[dict[str, str], object]]:
        """(resource attributes, span) of every span received."""
        found = []
        for request in self.requests:
            for resource_spans in request.resource_spans:
                attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
                for scope_spans in resource_spans.scope_spans:
                    found += [(attributes, span) for span in scope_spans.spans]
        return found


@pytest.fixture
async def collector() -> AsyncIterator[tuple[Collector, str]]:
    receiver = Collector()
    server = grpc.aio.server()
    trace_service_pb2_grpc.add_TraceServiceServicer_to_server(receiver, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield receiver, f"http://127.0.0.1:{port}"
    finally:
        await server.stop(None)


async def test_spans_are_exported_over_otlp_when_an_endpoint_is_set_o4(
    database_url: str, collector: tuple[Collector, str]
) -> None:
    receiver, endpoint = collector
    caller = Caller()
    definition = suite_definitions.definition("metering")
    async with start_one(definition, database_url, otlp_endpoint=endpoint) as metering:
        assert metering.context.settings.otlp_endpoint == endpoint
        key = auth_store.create_key(database_url, Role.ADMIN, label="otlp test").token
        async with grpc.aio.insecure_channel(metering.address) as channel:
            await meter_service_pb2_grpc.MeterServiceStub(channel).ListMeters(
                meter_service_pb2.ListMetersRequest(), metadata=caller.metadata(key)
            )
    # Stopping the server shut its provider down, which exports what it still held.
    await asyncio.wait_for(receiver.received.wait(), 10)
    (resource, span) = next(
        (r, s) for r, s in receiver.spans() if s.name == "/drawdown.metering.v1.MeterService/ListMeters"
    )
    assert resource["service.name"] == "metering"
    assert resource["service.namespace"] == "drawdown"
    assert span.trace_id == caller.trace_id.to_bytes(16, "big")
    assert span.parent_span_id == caller.span_id.to_bytes(8, "big")
    assert span.kind == span.SPAN_KIND_SERVER
