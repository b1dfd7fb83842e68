"""One customer whose usage cannot be billed never holds up the others (X-5, X-6), through
the real servers: usage of 999,999,999,999,999 tokens at 999,999,999,999 minor units a
token would bill about 10^27 cents, beyond what an invoice line holds. The scheduler and
test clock advances set that subscription (or draft) aside with its reason and bill every
other customer on time; previews and live balances answer FAILED_PRECONDITION."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import grpc
import pytest

from drawdown.clock import FrozenClock
from drawdown.invoicing.v1 import (
    customer_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    subscription_service_pb2,
    test_clock_pb2,
    test_clock_service_pb2,
)
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    advance,
    clock_at,
    customer,
    invoices_of,
    invoicing_on_real_peers,
    metered_price,
    minor,
    past_grace,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_catalog_api import failure

CUSTOMERS = 20  # one scheduler batch (CLAIM_BATCH is 100)
UNIT = "999999999999"  # the largest unit amount a price takes
TOO_MUCH = "999999999999999"  # the largest value an event takes (15 digits)
BAD = CUSTOMERS // 2


async def get_subscription(invoicing: Invoicing, subscription_id: str):
    reply = await invoicing.subscriptions.GetSubscription(
        subscription_service_pb2.GetSubscriptionRequest(id=subscription_id), metadata=invoicing.metadata
    )
    return reply.subscription


async def until(condition, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.1)


async def customers_at(invoicing: Invoicing, clock_id: str = ""):
    """CUSTOMERS subscribed to one monthly price of UNIT a token; customer i uses i + 1
    tokens a day into its period, except customer BAD, who uses TOO_MUCH."""
    meter = await invoicing.meter()
    price = await metered_price(invoicing, meter, unit_amount_decimal={"value": UNIT})
    subscriptions = []
    for index in range(CUSTOMERS):
        customer_id = await customer(invoicing, clock_id, name=f"customer {index}")
        subscriptions.append((await subscribe(invoicing, customer_id, price)).subscription)
    for index, subscription in enumerate(subscriptions):
        used_at = subscription.current_period_start.ToDatetime(tzinfo=UTC) + timedelta(days=1)
        value = TOO_MUCH if index == BAD else str(index + 1)
        await invoicing.record(meter, subscription.customer_id, used_at, value, identifier=f"use-{index}")
    return meter, subscriptions


async def assert_billed_but_the_bad_one(invoicing: Invoicing, subscriptions) -> None:
    for index, subscription in enumerate(subscriptions):
        invoices = await invoices_of(invoicing, subscription.customer_id)
        if index == BAD:
            assert invoices == []
            current = await get_subscription(invoicing, subscription.id)
            assert current.billing_error.reason == "LINE_AMOUNT_TOO_LARGE"
            assert "999,999,999,999,999" in current.billing_error.message
            assert current.billing_error.HasField("time")
            assert current.current_period_start == subscription.current_period_start  # waits
            continue
        (invoice,) = invoices
        assert invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
        assert minor(invoice.subtotal) == (index + 1) * int(UNIT)
        assert not invoice.HasField("billing_error")
        assert not (await get_subscription(invoicing, subscription.id)).HasField("billing_error")


async def test_the_scheduler_bills_19_customers_in_the_batch_and_sets_the_unbillable_one_aside_x6(
    database_url: str,
) -> None:
    start = T0
    clock = FrozenClock(start)
    async with invoicing_on_real_peers(database_url, clock=clock) as invoicing:
        _, subscriptions = await customers_at(invoicing)
        clock.set(await past_grace(invoicing, subscriptions))

        async def all_but_one_finalized() -> bool:
            invoices = [i for s in subscriptions for i in await invoices_of(invoicing, s.customer_id)]
            return len(invoices) == CUSTOMERS - 1 and all(
                i.status == invoice_pb2.INVOICE_STATUS_OPEN for i in invoices
            )

        await until(all_but_one_finalized)
        await assert_billed_but_the_bad_one(invoicing, subscriptions)


async def test_an_advance_bills_the_others_sets_the_unbillable_one_aside_and_retries_it_next_time_x6(
    database_url: str,
) -> None:
    async with invoicing_on_real_peers(database_url) as invoicing:
        clock_id = await clock_at(invoicing)
        meter, subscriptions = await customers_at(invoicing, clock_id)
        due = await past_grace(invoicing, subscriptions)

        await advance(invoicing, clock_id, due)

        clock = (
            await invoicing.clocks.GetTestClock(
                test_clock_service_pb2.GetTestClockRequest(id=clock_id), metadata=invoicing.metadata
            )
        ).test_clock
        assert clock.status == test_clock_pb2.TEST_CLOCK_STATUS_READY
        assert clock.frozen_time.ToDatetime(tzinfo=UTC) == due
        await assert_billed_but_the_bad_one(invoicing, subscriptions)

        # The usage at fault is corrected by an event of the opposite value (M-12): its
        # cancellation window (M-16) closed on the clock a month ago. The next advance
        # bills the period it held up.
        bad = subscriptions[BAD]
        used_at = bad.current_period_start.ToDatetime(tzinfo=UTC) + timedelta(days=1)
        await invoicing.record(meter, bad.customer_id, used_at, f"-{TOO_MUCH}", identifier=f"fix-{BAD}")
        await advance(invoicing, clock_id, due + timedelta(minutes=1))
        (invoice,) = await invoices_of(invoicing, bad.customer_id)
        assert (invoice.status, minor(invoice.subtotal)) == (invoice_pb2.INVOICE_STATUS_PAID, 0)
        assert invoice.period_start == bad.current_period_start
        assert not (await get_subscription(invoicing, bad.id)).HasField("billing_error")
        clock = (
            await invoicing.clocks.GetTestClock(
                test_clock_service_pb2.GetTestClockRequest(id=clock_id), metadata=invoicing.metadata
            )
        ).test_clock
        assert clock.frozen_time.ToDatetime(tzinfo=UTC) == due + timedelta(minutes=1)  # never back


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


async def test_preview_and_live_balance_of_unbillable_usage_answer_failed_precondition_x5(
    invoicing: Invoicing,
) -> None:
    meter = await invoicing.meter()
    price = await metered_price(invoicing, meter, unit_amount_decimal={"value": UNIT})
    customer_id = await customer(invoicing, await clock_at(invoicing))
    subscription = (await subscribe(invoicing, customer_id, price)).subscription
    await invoicing.record(
        meter, customer_id, subscription.current_period_start.ToDatetime(tzinfo=UTC), TOO_MUCH
    )
    for call in (
        invoicing.invoices.CreateInvoicePreview(
            invoice_service_pb2.CreateInvoicePreviewRequest(subscription_id=subscription.id),
            metadata=invoicing.metadata,
        ),
        invoicing.customers.GetCustomerLiveBalance(
            customer_service_pb2.GetCustomerLiveBalanceRequest(customer_id=customer_id),
            metadata=invoicing.metadata,
        ),
    ):
        code, reason, _ = await failure(call)
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "LINE_AMOUNT_TOO_LARGE")


async def test_a_draft_whose_late_usage_cannot_be_billed_is_set_aside_and_the_others_finalize_x6(
    invoicing: Invoicing,
) -> None:
    meter = await invoicing.meter()
    price = await metered_price(invoicing, meter, unit_amount_decimal={"value": UNIT})
    clock_id = await clock_at(invoicing)
    good, bad = await customer(invoicing, clock_id), await customer(invoicing, clock_id)
    subscriptions = [(await subscribe(invoicing, c, price)).subscription for c in (good, bad)]
    period_end = subscriptions[0].current_period_end.ToDatetime(tzinfo=UTC)
    for customer_id in (good, bad):
        await invoicing.record(meter, customer_id, period_end - timedelta(days=1), 1)
    await advance(invoicing, clock_id, period_end + timedelta(minutes=1))  # drafts of 1 token each
    # Late usage for the ended period, within the grace period, that no line can bill.
    await invoicing.record(meter, bad, period_end - timedelta(minutes=1), TOO_MUCH)

    await advance(invoicing, clock_id, await past_grace(invoicing, subscriptions))

    (finalized,) = await invoices_of(invoicing, good)
    assert finalized.status == invoice_pb2.INVOICE_STATUS_OPEN
    (held_up,) = await invoices_of(invoicing, bad)
    assert held_up.status == invoice_pb2.INVOICE_STATUS_DRAFT
    assert held_up.billing_error.reason == "LINE_AMOUNT_TOO_LARGE"
    assert minor(held_up.subtotal) == int(UNIT)  # as drafted
    code, reason, _ = await failure(
        invoicing.invoices.FinalizeInvoice(
            invoice_service_pb2.FinalizeInvoiceRequest(id=held_up.id), metadata=invoicing.metadata
        )
    )
    assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "LINE_AMOUNT_TOO_LARGE")
    (still,) = await invoices_of(invoicing, bad)
    assert still.status == invoice_pb2.INVOICE_STATUS_DRAFT
