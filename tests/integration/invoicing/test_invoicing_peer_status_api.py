"""What invoicing answers when metering or credits fail, through the real servers with
fault interceptors in front of the peers (X-8): only a peer that is down (or late) makes
a call UNAVAILABLE, "retry later"; a peer's INTERNAL or UNKNOWN is a failure that would
happen again, answered INTERNAL with a generic message, and one invoice it hits is set
aside while the others are billed (X-6)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, timedelta

import grpc
import pytest

from drawdown.invoicing.v1 import (
    customer_service_pb2,
    invoice_pb2,
    invoice_service_pb2,
    test_clock_pb2,
    test_clock_service_pb2,
)
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    advance,
    clock_at,
    customer,
    hypernian_catalog,
    invoices_of,
    invoicing_on_real_peers,
    method,
    minor,
    past_grace,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_catalog_api import failure
from tests.integration.invoicing.test_invoicing_faults_api import DOWN

SPENDABLE = method("CreditReservationService/GetSpendableBalance")
USAGE = method("MeterEventService/ListMeterEventSummaries")
APPLY = method("InvoiceCreditService/ApplyInvoiceCredits")


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


def live_balance(invoicing: Invoicing, customer_id: str):
    return invoicing.customers.GetCustomerLiveBalance(
        customer_service_pb2.GetCustomerLiveBalanceRequest(customer_id=customer_id),
        metadata=invoicing.metadata,
    )


@pytest.mark.parametrize("code", [grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN])
async def test_a_credits_failure_is_internal_not_retry_later_x8(invoicing: Invoicing, code) -> None:
    customer_id = await customer(invoicing)
    invoicing.credits_faults.fail(SPENDABLE, when="before", times=1, code=code)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await live_balance(invoicing, customer_id)
    assert raised.value.code() == grpc.StatusCode.INTERNAL
    assert raised.value.details() == "internal error; it has been logged"
    assert invoicing.credits_faults.failed[SPENDABLE] == 1  # not retried: it would fail again
    await live_balance(invoicing, customer_id)  # the fault was one call's


async def test_credits_down_is_unavailable_retry_later_x8(invoicing: Invoicing) -> None:
    customer_id = await customer(invoicing)
    invoicing.credits_faults.fail(SPENDABLE, when="before", times=DOWN)
    code, reason, _ = await failure(live_balance(invoicing, customer_id))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "CREDITS_SERVICE_UNAVAILABLE")
    invoicing.credits_faults.fail(
        SPENDABLE, when="before", times=DOWN, code=grpc.StatusCode.DEADLINE_EXCEEDED
    )
    code, reason, _ = await failure(live_balance(invoicing, customer_id))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "CREDITS_SERVICE_UNAVAILABLE")


async def test_a_metering_failure_makes_a_preview_internal_not_retry_later_x8(invoicing: Invoicing) -> None:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    created = await subscribe(
        invoicing, await customer(invoicing, await clock_at(invoicing)), catalog.input_price
    )
    invoicing.metering_faults.fail(
        "MeterEventService/BatchListMeterEventSummaries",
        when="before",
        times=1,
        code=grpc.StatusCode.INTERNAL,
    )
    invoicing.metering_faults.fail(USAGE, when="before", times=1, code=grpc.StatusCode.INTERNAL)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await invoicing.invoices.CreateInvoicePreview(
            invoice_service_pb2.CreateInvoicePreviewRequest(subscription_id=created.subscription.id),
            metadata=invoicing.metadata,
        )
    assert raised.value.code() == grpc.StatusCode.INTERNAL


async def test_an_invoice_credits_fails_on_is_set_aside_and_the_advance_completes_x6_x8(
    invoicing: Invoicing,
) -> None:
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    first, second = await customer(invoicing, clock_id), await customer(invoicing, clock_id)
    subscriptions = [
        (await subscribe(invoicing, c, catalog.input_price)).subscription for c in (first, second)
    ]
    for customer_id in (first, second):
        await invoicing.grant(customer_id, 100)
        await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=1), 1000)
    invoicing.credits_faults.fail(APPLY, when="before", times=1, code=grpc.StatusCode.INTERNAL)

    due = await past_grace(invoicing, subscriptions)
    await advance(invoicing, clock_id, due)

    clock = (
        await invoicing.clocks.GetTestClock(
            test_clock_service_pb2.GetTestClockRequest(id=clock_id), metadata=invoicing.metadata
        )
    ).test_clock
    assert (clock.status, clock.frozen_time.ToDatetime(tzinfo=UTC)) == (
        test_clock_pb2.TEST_CLOCK_STATUS_READY,
        due,
    )
    outcomes = {c: (await invoices_of(invoicing, c))[0] for c in (first, second)}
    held_up = [i for i in outcomes.values() if i.status == invoice_pb2.INVOICE_STATUS_DRAFT]
    finalized = [i for i in outcomes.values() if i.status == invoice_pb2.INVOICE_STATUS_OPEN]
    assert len(held_up) == len(finalized) == 1
    assert held_up[0].billing_error.reason == "CREDITS_SERVICE_ERROR"
    assert minor(finalized[0].total_credits_applied) == 100

    await advance(invoicing, clock_id, due + timedelta(minutes=1))  # tried again, and finalized
    again = (await invoices_of(invoicing, held_up[0].customer_id))[0]
    assert again.status == invoice_pb2.INVOICE_STATUS_OPEN and not again.HasField("billing_error")
    assert minor(again.total_credits_applied) == 100
    assert await invoicing.draws(again.customer_id) == {again.id: 1}
