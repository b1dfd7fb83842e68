"""Small builders for invoicing API tests: a Hypernian catalog, customers on clocks."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    customer_pb2,
    customer_service_pb2,
    invoice_service_pb2,
    price_pb2,
    product_pb2,
    subscription_pb2,
    subscription_service_pb2,
    test_clock_pb2,
    test_clock_service_pb2,
)
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.invoicing.invoicing_fakes import Invoicing

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class Hypernian:
    """Meters and prices of SPEC's running example: 3 ¢ per input, 5 ¢ per output token."""

    input_meter: str
    output_meter: str
    input_price: str
    output_price: str


async def hypernian_catalog(invoicing: Invoicing, input_meter: str, output_meter: str) -> Hypernian:
    prices = []
    for meter_id, unit in ((input_meter, "3"), (output_meter, "5")):
        product = await invoicing.catalog.CreateProduct(
            catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name=f"tokens {unit}c")),
            metadata=invoicing.metadata,
        )
        price = await invoicing.catalog.CreatePrice(
            catalog_service_pb2.CreatePriceRequest(
                price=price_pb2.Price(
                    product_id=product.product.id,
                    currency="USD",
                    type=price_pb2.PRICE_TYPE_METERED,
                    recurring=price_pb2.Recurring(
                        interval=price_pb2.RECURRING_INTERVAL_MONTH, interval_count=1
                    ),
                    meter_id=meter_id,
                    unit_amount_decimal={"value": unit},
                )
            ),
            metadata=invoicing.metadata,
        )
        prices.append(price.price.id)
    return Hypernian(input_meter, output_meter, prices[0], prices[1])


async def licensed_price(
    invoicing: Invoicing, unit: str = "1000", interval=price_pb2.RECURRING_INTERVAL_MONTH
) -> str:
    product = await invoicing.catalog.CreateProduct(
        catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name="seats")),
        metadata=invoicing.metadata,
    )
    price = await invoicing.catalog.CreatePrice(
        catalog_service_pb2.CreatePriceRequest(
            price=price_pb2.Price(
                product_id=product.product.id,
                currency="USD",
                type=price_pb2.PRICE_TYPE_LICENSED,
                recurring=price_pb2.Recurring(interval=interval, interval_count=1),
                unit_amount_decimal={"value": unit},
            )
        ),
        metadata=invoicing.metadata,
    )
    return price.price.id


async def clock_at(invoicing: Invoicing, at: datetime = T0) -> str:
    reply = await invoicing.clocks.CreateTestClock(
        test_clock_service_pb2.CreateTestClockRequest(
            test_clock=test_clock_pb2.TestClock(name="test", frozen_time=timestamp_to_proto(at))
        ),
        metadata=invoicing.metadata,
    )
    return reply.test_clock.id


async def customer(invoicing: Invoicing, clock_id: str = "", name: str = "Jenny Rosen") -> str:
    reply = await invoicing.customers.CreateCustomer(
        customer_service_pb2.CreateCustomerRequest(
            customer=customer_pb2.Customer(name=name, test_clock_id=clock_id)
        ),
        metadata=invoicing.metadata,
    )
    return reply.customer.id


async def subscribe(
    invoicing: Invoicing, customer_id: str, *price_ids: str, quantity: int | None = None
) -> subscription_service_pb2.CreateSubscriptionResponse:
    items = [subscription_pb2.SubscriptionItem(price_id=p, quantity=quantity) for p in price_ids]
    return await invoicing.subscriptions.CreateSubscription(
        subscription_service_pb2.CreateSubscriptionRequest(
            subscription=subscription_pb2.Subscription(customer_id=customer_id, items=items)
        ),
        metadata=invoicing.metadata,
    )


async def advance(invoicing: Invoicing, clock_id: str, to: datetime) -> None:
    await invoicing.clocks.AdvanceTestClock(
        test_clock_service_pb2.AdvanceTestClockRequest(id=clock_id, frozen_time=timestamp_to_proto(to)),
        metadata=invoicing.metadata,
    )


async def invoices_of(invoicing: Invoicing, customer_id: str) -> list:
    """The customer's invoices, oldest first."""
    reply = await invoicing.invoices.ListInvoices(
        invoice_service_pb2.ListInvoicesRequest(customer_id=customer_id, page_size=100),
        metadata=invoicing.metadata,
    )
    return list(reversed(reply.invoices))


def minor(money) -> int:
    """A USD google.type.Money in cents."""
    return money.units * 100 + money.nanos // 10_000_000
