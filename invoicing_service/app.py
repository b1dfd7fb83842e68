"""The invoicing service: customers, catalog, subscriptions, invoices, test clocks."""

from __future__ import annotations

from collections.abc import Sequence

import grpc

from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    customer_service_pb2,
    customer_service_pb2_grpc,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
    test_clock_service_pb2,
    test_clock_service_pb2_grpc,
)
from drawdown.rpc.registry import service_full_name
from drawdown.rpc.server import ServiceContext, ServiceDefinition
from invoicing_service.store.schema import MIGRATIONS


def register(server: grpc.aio.Server, context: ServiceContext) -> Sequence[str]:
    customer_service_pb2_grpc.add_CustomerServiceServicer_to_server(
        customer_service_pb2_grpc.CustomerServiceServicer(), server
    )
    catalog_service_pb2_grpc.add_CatalogServiceServicer_to_server(
        catalog_service_pb2_grpc.CatalogServiceServicer(), server
    )
    subscription_service_pb2_grpc.add_SubscriptionServiceServicer_to_server(
        subscription_service_pb2_grpc.SubscriptionServiceServicer(), server
    )
    invoice_service_pb2_grpc.add_InvoiceServiceServicer_to_server(
        invoice_service_pb2_grpc.InvoiceServiceServicer(), server
    )
    test_clock_service_pb2_grpc.add_TestClockServiceServicer_to_server(
        test_clock_service_pb2_grpc.TestClockServiceServicer(), server
    )
    return [
        service_full_name(customer_service_pb2, "CustomerService"),
        service_full_name(catalog_service_pb2, "CatalogService"),
        service_full_name(subscription_service_pb2, "SubscriptionService"),
        service_full_name(invoice_service_pb2, "InvoiceService"),
        service_full_name(test_clock_service_pb2, "TestClockService"),
    ]


DEFINITION = ServiceDefinition(name="invoicing", migrations=[MIGRATIONS], register=register)
