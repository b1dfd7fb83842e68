"""The invoicing flows through the three real services on loopback, on the wall clock
with daily prices (I-10..I-17, C-10..C-15); the other invoicing test files run the same
real suite on a frozen clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import grpc
import pytest
from google.type import money_pb2

from drawdown.credits.v1 import (
    credit_balance_service_pb2,
    credit_balance_service_pb2_grpc,
    credit_grant_pb2,
    credit_grant_service_pb2,
    credit_grant_service_pb2_grpc,
)
from drawdown.invoicing.v1 import (
    catalog_service_pb2,
    catalog_service_pb2_grpc,
    customer_pb2,
    customer_service_pb2,
    customer_service_pb2_grpc,
    invoice_pb2,
    invoice_service_pb2,
    invoice_service_pb2_grpc,
    price_pb2,
    product_pb2,
    subscription_pb2,
    subscription_service_pb2,
    subscription_service_pb2_grpc,
    test_clock_pb2,
    test_clock_service_pb2,
    test_clock_service_pb2_grpc,
)
from drawdown.metering.v1 import (
    meter_event_pb2,
    meter_event_service_pb2,
    meter_event_service_pb2_grpc,
    meter_pb2,
    meter_service_pb2,
    meter_service_pb2_grpc,
)
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.invoicing.invoicing_builders import T0, minor
from tests.support.harness import Suite, bearer


class World:
    """Stubs on the three services with an admin key."""

    def __init__(self, suite: Suite) -> None:
        self.metadata = bearer(suite.admin_key)
        self.meters = meter_service_pb2_grpc.MeterServiceStub(suite.channel("metering"))
        self.events = meter_event_service_pb2_grpc.MeterEventServiceStub(suite.channel("metering"))
        self.grants = credit_grant_service_pb2_grpc.CreditGrantServiceStub(suite.channel("credits"))
        self.balances = credit_balance_service_pb2_grpc.CreditBalanceServiceStub(suite.channel("credits"))
        invoicing = suite.channel("invoicing")
        self.catalog = catalog_service_pb2_grpc.CatalogServiceStub(invoicing)
        self.customers = customer_service_pb2_grpc.CustomerServiceStub(invoicing)
        self.subscriptions = subscription_service_pb2_grpc.SubscriptionServiceStub(invoicing)
        self.invoices = invoice_service_pb2_grpc.InvoiceServiceStub(invoicing)
        self.clocks = test_clock_service_pb2_grpc.TestClockServiceStub(invoicing)

    async def meter(self, event_name: str) -> str:
        reply = await self.meters.CreateMeter(
            meter_service_pb2.CreateMeterRequest(
                meter=meter_pb2.Meter(
                    display_name=event_name,
                    event_name=event_name,
                    aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
                )
            ),
            metadata=self.metadata,
        )
        return reply.meter.id

    async def daily_price(self, meter_id: str, unit: str) -> str:
        product = await self.catalog.CreateProduct(
            catalog_service_pb2.CreateProductRequest(product=product_pb2.Product(name=f"tokens at {unit}c")),
            metadata=self.metadata,
        )
        price = await self.catalog.CreatePrice(
            catalog_service_pb2.CreatePriceRequest(
                price=price_pb2.Price(
                    product_id=product.product.id,
                    currency="USD",
                    type=price_pb2.PRICE_TYPE_METERED,
                    recurring=price_pb2.Recurring(
                        interval=price_pb2.RECURRING_INTERVAL_DAY, interval_count=1
                    ),
                    meter_id=meter_id,
                    unit_amount_decimal={"value": unit},
                )
            ),
            metadata=self.metadata,
        )
        return price.price.id

    async def send(self, clock_id: str, event_name: str, customer_id: str, value: int, at: datetime) -> None:
        """Usage of a customer on ``clock_id`` at ``at``: metering judges its events by the
        clock's time (I-18), so the clock is advanced to ``at`` first."""
        await self.advance(clock_id, at)
        await self.events.CreateMeterEvent(
            meter_event_service_pb2.CreateMeterEventRequest(
                meter_event=meter_event_pb2.MeterEvent(
                    event_name=event_name,
                    payload={"customer_id": customer_id, "value": str(value)},
                    timestamp=timestamp_to_proto(at),
                )
            ),
            metadata=self.metadata,
        )

    async def grant(self, customer_id: str, cents: int, effective: datetime) -> str:
        reply = await self.grants.CreateCreditGrant(
            credit_grant_service_pb2.CreateCreditGrantRequest(
                credit_grant=credit_grant_pb2.CreditGrant(
                    customer_id=customer_id,
                    amount=money_pb2.Money(
                        currency_code="USD", units=cents // 100, nanos=(cents % 100) * 10_000_000
                    ),
                    name="Hypernian credits",
                    category=credit_grant_pb2.CREDIT_GRANT_CATEGORY_PAID,
                    applicability_config=credit_grant_pb2.ApplicabilityConfig(
                        price_type=credit_grant_pb2.PRICE_TYPE_METERED
                    ),
                    effective_time=timestamp_to_proto(effective),
                )
            ),
            metadata=self.metadata,
        )
        return reply.credit_grant.id

    async def grant_balance(self, customer_id: str, grant_id: str) -> int:
        reply = await self.balances.GetCreditBalanceSummary(
            credit_balance_service_pb2.GetCreditBalanceSummaryRequest(
                customer_id=customer_id, credit_grant_id=grant_id
            ),
            metadata=self.metadata,
        )
        return minor(reply.credit_balance_summary.balances[0].ledger_balance)

    async def jenny_on_a_clock(self, start: datetime, price_ids: list[str]) -> tuple[str, str, str]:
        clock = await self.clocks.CreateTestClock(
            test_clock_service_pb2.CreateTestClockRequest(
                test_clock=test_clock_pb2.TestClock(frozen_time=timestamp_to_proto(start))
            ),
            metadata=self.metadata,
        )
        customer = await self.customers.CreateCustomer(
            customer_service_pb2.CreateCustomerRequest(
                customer=customer_pb2.Customer(name="Jenny Rosen", test_clock_id=clock.test_clock.id)
            ),
            metadata=self.metadata,
        )
        subscription = await self.subscriptions.CreateSubscription(
            subscription_service_pb2.CreateSubscriptionRequest(
                subscription=subscription_pb2.Subscription(
                    customer_id=customer.customer.id,
                    items=[subscription_pb2.SubscriptionItem(price_id=p) for p in price_ids],
                )
            ),
            metadata=self.metadata,
        )
        assert not subscription.HasField("invoice")
        return clock.test_clock.id, customer.customer.id, subscription.subscription.id

    async def advance(self, clock_id: str, to: datetime) -> None:
        await self.clocks.AdvanceTestClock(
            test_clock_service_pb2.AdvanceTestClockRequest(id=clock_id, frozen_time=timestamp_to_proto(to)),
            metadata=self.metadata,
        )

    async def invoices_of(self, customer_id: str) -> list[invoice_pb2.Invoice]:
        reply = await self.invoices.ListInvoices(
            invoice_service_pb2.ListInvoicesRequest(customer_id=customer_id), metadata=self.metadata
        )
        return list(reversed(reply.invoices))


async def test_hypernian_through_the_three_services(running_suite: Suite) -> None:
    world = World(running_suite)
    start = T0  # Jenny's test clock: every service judges her by it (I-18), not by the wall clock
    input_price = await world.daily_price(await world.meter("hypernian_input_tokens"), "3")
    output_price = await world.daily_price(await world.meter("hypernian_output_tokens"), "5")
    clock_id, customer_id, _ = await world.jenny_on_a_clock(start, [input_price, output_price])
    grant_id = await world.grant(customer_id, 1000, start)
    await world.send(clock_id, "hypernian_input_tokens", customer_id, 3000, start + timedelta(hours=1))

    await world.advance(clock_id, start + timedelta(days=1, hours=2))

    (invoice,) = await world.invoices_of(customer_id)
    assert invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert [minor(line.amount) for line in invoice.lines] == [9000, 0]
    assert (minor(invoice.total_credits_applied), minor(invoice.amount_due)) == (1000, 8000)
    assert invoice.lines[0].credits[0].credit_balance_transaction_id.startswith("cbt_")
    assert await world.grant_balance(customer_id, grant_id) == 0


async def test_small_usage_is_paid_and_the_next_period_draws_the_rest(running_suite: Suite) -> None:
    world = World(running_suite)
    start = T0  # Jenny's test clock: every service judges her by it (I-18), not by the wall clock
    input_price = await world.daily_price(await world.meter("in_tokens"), "3")
    clock_id, customer_id, _ = await world.jenny_on_a_clock(start, [input_price])
    grant_id = await world.grant(customer_id, 1000, start)
    await world.send(clock_id, "in_tokens", customer_id, 100, start + timedelta(hours=1))
    await world.advance(clock_id, start + timedelta(days=1, hours=2))
    (first,) = await world.invoices_of(customer_id)
    assert first.status == invoice_pb2.INVOICE_STATUS_PAID
    assert await world.grant_balance(customer_id, grant_id) == 700

    await world.send(clock_id, "in_tokens", customer_id, 1000, start + timedelta(days=1, hours=3))
    await world.advance(clock_id, start + timedelta(days=2, hours=2))
    _, second = await world.invoices_of(customer_id)
    assert (minor(second.subtotal), minor(second.total_credits_applied), minor(second.amount_due)) == (
        3000,
        700,
        2300,
    )
    assert await world.grant_balance(customer_id, grant_id) == 0

    voided = await world.invoices.VoidInvoice(
        invoice_service_pb2.VoidInvoiceRequest(id=second.id), metadata=world.metadata
    )
    assert voided.invoice.status == invoice_pb2.INVOICE_STATUS_VOID
    assert await world.grant_balance(customer_id, grant_id) == 700  # C-15


async def test_preview_and_live_balance_through_the_three_services(running_suite: Suite) -> None:
    world = World(running_suite)
    start = T0  # Jenny's test clock: every service judges her by it (I-18), not by the wall clock
    input_price = await world.daily_price(await world.meter("preview_tokens"), "3")
    clock_id, customer_id, subscription_id = await world.jenny_on_a_clock(start, [input_price])
    await world.grant(customer_id, 1000, start)
    await world.send(clock_id, "preview_tokens", customer_id, 500, start + timedelta(minutes=10))
    await world.advance(clock_id, start + timedelta(hours=1))
    preview = await world.invoices.CreateInvoicePreview(
        invoice_service_pb2.CreateInvoicePreviewRequest(subscription_id=subscription_id),
        metadata=world.metadata,
    )
    assert (minor(preview.invoice.subtotal), minor(preview.invoice.total_credits_applied)) == (1500, 1000)
    live = await world.customers.GetCustomerLiveBalance(
        customer_service_pb2.GetCustomerLiveBalanceRequest(customer_id=customer_id), metadata=world.metadata
    )
    (usd,) = live.live_balance.balances
    assert (minor(usd.available_credits), minor(usd.unbilled_usage), minor(usd.live_balance)) == (
        1000,
        1500,
        -500,
    )


async def applied_debits(world: World, customer_id: str) -> list[str]:
    """The invoice ids of the customer's credits_applied debits, one per grant per line."""
    reply = await world.balances.ListCreditBalanceTransactions(
        credit_balance_service_pb2.ListCreditBalanceTransactionsRequest(
            customer_id=customer_id, page_size=100
        ),
        metadata=world.metadata,
    )
    return [t.debit.invoice_id for t in reply.credit_balance_transactions if t.HasField("debit")]


async def finalize_when_reachable(
    world: World, request: invoice_service_pb2.FinalizeInvoiceRequest
) -> invoice_pb2.Invoice:
    """Retry an UNAVAILABLE finalization as a client would, until credits is reachable
    again (invoicing's channel reconnects with backoff after the restart)."""
    async with asyncio.timeout(20):
        while True:
            try:
                return (await world.invoices.FinalizeInvoice(request, metadata=world.metadata)).invoice
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
            await asyncio.sleep(0.2)


async def test_credits_stopped_during_finalization_then_back_draws_once(running_suite: Suite) -> None:
    world = World(running_suite)
    start = T0  # Jenny's test clock: every service judges her by it (I-18), not by the wall clock
    input_price = await world.daily_price(await world.meter("fault_tokens"), "3")
    clock_id, customer_id, _ = await world.jenny_on_a_clock(start, [input_price])
    grant_id = await world.grant(customer_id, 1000, start)
    await world.send(clock_id, "fault_tokens", customer_id, 3000, start + timedelta(hours=1))
    await world.advance(clock_id, start + timedelta(days=1, minutes=5))
    (draft,) = await world.invoices_of(customer_id)
    assert draft.status == invoice_pb2.INVOICE_STATUS_DRAFT

    await running_suite.stop("credits")
    request = invoice_service_pb2.FinalizeInvoiceRequest(id=draft.id, request_id="finalize-once")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await world.invoices.FinalizeInvoice(request, metadata=world.metadata)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    (stuck,) = await world.invoices_of(customer_id)
    assert stuck.status == invoice_pb2.INVOICE_STATUS_DRAFT

    await running_suite.restart("credits")  # same port: invoicing's channel reconnects
    finalized = await finalize_when_reachable(world, request)
    assert finalized.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert (minor(finalized.total_credits_applied), minor(finalized.amount_due)) == (1000, 8000)
    again = (await world.invoices.FinalizeInvoice(request, metadata=world.metadata)).invoice
    assert again == finalized
    assert await applied_debits(world, customer_id) == [draft.id]
    assert await world.grant_balance(customer_id, grant_id) == 0
