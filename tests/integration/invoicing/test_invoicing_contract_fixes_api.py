"""What price.proto and subscription.proto promise, through the real servers: a volume
price bills 0 without usage, on every surface that rates usage, and a licensed item of
quantity 0 bills 0 (I-2, I-3, I-10, I-14, I-17)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC

import pytest

from drawdown.invoicing.v1 import (
    customer_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    price_pb2,
)
from tests.integration.invoicing.invoicing_builders import (
    Invoicing,
    advance,
    clock_at,
    customer,
    invoices_of,
    invoicing_on_real_peers,
    licensed_price,
    metered_price,
    minor,
    past_grace,
    subscribe,
)

VOLUME_WITH_FLAT_FEE = {
    "billing_scheme": price_pb2.BILLING_SCHEME_TIERED,
    "tiers_mode": price_pb2.TIERS_MODE_VOLUME,
    "tiers": [
        price_pb2.PriceTier(
            up_to=100, unit_amount_decimal={"value": "10"}, flat_amount_decimal={"value": "50"}
        ),
        price_pb2.PriceTier(unit_amount_decimal={"value": "5"}),
    ],
}


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


async def test_volume_price_without_usage_bills_zero_on_preview_invoice_and_live_balance(
    invoicing: Invoicing,
) -> None:
    price = await metered_price(invoicing, await invoicing.meter(), **VOLUME_WITH_FLAT_FEE)
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    subscription = (await subscribe(invoicing, customer_id, price)).subscription

    preview = await invoicing.invoices.CreateInvoicePreview(
        invoice_service_pb2.CreateInvoicePreviewRequest(subscription_id=subscription.id),
        metadata=invoicing.metadata,
    )
    assert [minor(line.amount) for line in preview.invoice.lines] == [0]
    assert minor(preview.invoice.subtotal) == 0

    live = await invoicing.customers.GetCustomerLiveBalance(
        customer_service_pb2.GetCustomerLiveBalanceRequest(customer_id=customer_id),
        metadata=invoicing.metadata,
    )
    (balance,) = live.live_balance.balances
    assert (minor(balance.unbilled_usage), minor(balance.live_balance)) == (0, 0)

    await advance(invoicing, clock_id, await past_grace(invoicing, [subscription]))
    (invoice,) = await invoices_of(invoicing, customer_id)
    assert invoice.status == invoice_pb2.INVOICE_STATUS_PAID
    assert [(line.quantity.value, minor(line.amount)) for line in invoice.lines] == [("0", 0)]
    assert minor(invoice.subtotal) == 0


async def test_volume_price_with_usage_still_bills_the_reached_tier_and_its_flat_fee(
    invoicing: Invoicing,
) -> None:
    meter = await invoicing.meter()
    price = await metered_price(invoicing, meter, **VOLUME_WITH_FLAT_FEE)
    clock_id = await clock_at(invoicing)
    customer_id = await customer(invoicing, clock_id)
    subscription = (await subscribe(invoicing, customer_id, price)).subscription
    await invoicing.record(meter, customer_id, subscription.current_period_start.ToDatetime(tzinfo=UTC), 3)
    await advance(invoicing, clock_id, await past_grace(invoicing, [subscription]))
    (invoice,) = await invoices_of(invoicing, customer_id)
    assert minor(invoice.subtotal) == 3 * 10 + 50


async def test_a_licensed_item_of_quantity_zero_bills_zero_and_its_invoice_is_paid(
    invoicing: Invoicing,
) -> None:
    seat = await licensed_price(invoicing, "1500")
    created = await subscribe(invoicing, await customer(invoicing), seat, quantity=0)
    assert [item.quantity for item in created.subscription.items] == [0]
    invoice = created.invoice
    assert invoice.billing_reason == invoice_pb2.BILLING_REASON_SUBSCRIPTION_CREATE
    assert [(line.quantity.value, minor(line.amount)) for line in invoice.lines] == [("0", 0)]
    assert (minor(invoice.amount_due), invoice.status) == (0, invoice_pb2.INVOICE_STATUS_PAID)
