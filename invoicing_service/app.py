"""The invoicing service: customers, catalog, subscriptions, invoices, test clocks.

``register`` builds the use cases on one Downstream (channels to metering and credits)
and starts the billing scheduler as a background task; every replica runs it (I-10,
I-11, I-16).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from functools import partial

import grpc

from drawdown.db.idempotency import IdempotencyStore
from drawdown.db.retention import REQUEST_ID_RETENTION, prune_in_background
from drawdown.events.serving import serve_events
from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    customer_service_pb2,
    customer_service_pb2_grpc,
    event_service_pb2,
    event_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
    test_clock_service_pb2,
    test_clock_service_pb2_grpc,
    usage_authorization_service_pb2,
    usage_authorization_service_pb2_grpc,
    webhook_endpoint_service_pb2,
    webhook_endpoint_service_pb2_grpc,
)
from drawdown.rpc.idempotent import Mutations
from drawdown.rpc.registry import service_full_name
from drawdown.rpc.server import ServiceContext, ServiceDefinition
from invoicing_service.adapters.downstream import Downstream
from invoicing_service.adapters.events import HttpSender, LocalEvents
from invoicing_service.api.authorizations import UsageAuthorizationServicer
from invoicing_service.api.catalog import CatalogServicer
from invoicing_service.api.convert import EVENT_DATA
from invoicing_service.api.customers import CustomerServicer, TestClockServicer
from invoicing_service.api.invoices import InvoiceServicer
from invoicing_service.api.sagas import Sagas
from invoicing_service.api.subscriptions import SubscriptionServicer
from invoicing_service.api.webhooks import WebhookEndpointServicer
from invoicing_service.service.authorizations import UsageAuthorizations
from invoicing_service.service.billing import Billing
from invoicing_service.service.catalog import CatalogUseCases
from invoicing_service.service.customers import CustomerUseCases, TestClockUseCases
from invoicing_service.service.purchases import PurchaseUseCases
from invoicing_service.service.scheduler import Scheduler, TestClockAdvance
from invoicing_service.service.spending import Spending
from invoicing_service.service.subscriptions import SubscriptionUseCases
from invoicing_service.service.webhooks import Dispatcher, WebhookUseCases
from invoicing_service.store.schema import EVENT_TABLES, MIGRATIONS, idempotency_keys
from invoicing_service.store.unit import InvoicingUnit

# The operations that move money: their request ids are kept with the invoices (O-6); the
# others' are forgotten after 30 days.
MONEY_MOVEMENTS = frozenset(
    {
        "CreateSubscription",
        "FinalizeInvoice",
        "PayInvoice",
        "VoidInvoice",
        "MarkInvoiceUncollectible",
        "CreateCreditPurchase",
    }
)


def build_billing(context: ServiceContext) -> Billing:
    """The billing core on this process's database, clock and outbound channels."""
    downstream = Downstream(context.settings, context.tracer_provider)
    context.on_stop.append(downstream.close)
    return Billing(context.database, downstream, context.clock)


def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    billing = build_billing(context)
    idempotency = IdempotencyStore(idempotency_keys)
    mutations = Mutations(context.database, idempotency, context.clock)
    prune_in_background(
        context,
        "invoicing request ids",
        partial(idempotency.prune, context.database, keep=MONEY_MOVEMENTS),
        REQUEST_ID_RETENTION,
    )
    sagas = Sagas(billing, idempotency, context.clock)
    subscriptions = SubscriptionUseCases(billing)
    customer_service_pb2_grpc.add_CustomerServiceServicer_to_server(
        CustomerServicer(CustomerUseCases(billing), Spending(billing), mutations), server
    )
    catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server(
        CatalogServicer(CatalogUseCases(billing), mutations), server
    )
    subscription_service_pb2_grpc.add_SubscriptionServiceServicer_to_server(
        SubscriptionServicer(subscriptions, mutations), server
    )
    invoice_service_pb2_grpc.add_InvoiceServiceServicer_to_server(
        InvoiceServicer(billing, subscriptions, PurchaseUseCases(billing), mutations, sagas), server
    )
    test_clock_service_pb2_grpc.add_TestClockServiceServicer_to_server(
        TestClockServicer(TestClockUseCases(billing), TestClockAdvance(billing), mutations, sagas), server
    )
    usage_authorization_service_pb2_grpc.add_UsageAuthorizationServiceServicer_to_server(
        UsageAuthorizationServicer(UsageAuthorizations(billing)), server
    )
    context.background.append(asyncio.create_task(Scheduler(billing).run(context.shutting_down)))
    events_service, events, feed = serve_events(
        server, context, EVENT_TABLES, EVENT_DATA, event_service_pb2, event_service_pb2_grpc
    )
    sender = HttpSender()
    context.on_stop.append(sender.close)
    dispatcher = Dispatcher(
        context.database,
        [LocalEvents("invoicing", events, feed), *billing.downstream.event_streams],
        sender,
        context.clock,
        lease=timedelta(seconds=context.settings.webhook_lease_seconds),
    )
    webhook_endpoint_service_pb2_grpc.add_WebhookEndpointServiceServicer_to_server(
        WebhookEndpointServicer(WebhookUseCases(context.database, context.clock, dispatcher), mutations),
        server,
    )
    context.background.append(asyncio.create_task(dispatcher.run(context.shutting_down)))
    return [
        service_full_name(customer_service_pb2, "CustomerService"),
        service_full_name(catalog_service_pb2, "CatalogService"),
        service_full_name(subscription_service_pb2, "SubscriptionService"),
        service_full_name(invoice_service_pb2, "InvoiceService"),
        service_full_name(test_clock_service_pb2, "TestClockService"),
        service_full_name(usage_authorization_service_pb2, "UsageAuthorizationService"),
        service_full_name(webhook_endpoint_service_pb2, "WebhookEndpointService"),
        events_service,
    ]


DEFINITION = ServiceDefinition(
    name="invoicing", migrations=[MIGRATIONS], register=register, unit_of_work=InvoicingUnit
)
