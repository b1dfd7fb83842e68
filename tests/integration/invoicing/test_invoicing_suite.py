"""The invoicing flows through the three real services on loopback, on the wall clock
with daily prices (I-10..I-17, C-10..C-15); the other invoicing test files run the same
real suite on a frozen clock."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import grpc
import pytest

from drawdown.credits.v1 import credit_balance_service_pb2
from drawdown.invoicing.v1 import customer_service_pb2, invoice_pb2, invoice_service_pb2, price_pb2
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    advance,
    clock_at,
    customer,
    invoices_of,
    metered_price,
    minor,
    subscribe,
)
from tests.support.harness import Suite


async def jenny_on_a_clock(
    invoicing: Invoicing, start: datetime, price_ids: list[str]
) -> tuple[str, str, str]:
    """Jenny on a test clock at ``start``, subscribed to ``price_ids`` (billed in arrears)."""
    clock_id = await clock_at(invoicing, start)
    customer_id = await customer(invoicing, clock_id)
    subscription = await subscribe(invoicing, customer_id, *price_ids)
    assert not subscription.HasField("invoice")
    return clock_id, customer_id, subscription.subscription.id


async def daily_price(invoicing: Invoicing, unit: str) -> tuple[str, str]:
    """A new meter and a daily metered price of ``unit`` cents on it: (meter id, price id)."""
    meter_id = await invoicing.meter()
    price_id = await metered_price(
        invoicing, meter_id, interval=price_pb2.RECURRING_INTERVAL_DAY, unit_amount_decimal={"value": unit}
    )
    return meter_id, price_id


async def ledger(invoicing: Invoicing, customer_id: str, grant_id: str) -> int:
    return (await invoicing.grant_balance(customer_id, grant_id))[0]


async def test_hypernian_through_the_three_services(running_suite: Suite) -> None:
    invoicing = Invoicing(running_suite)
    start = T0  # Jenny's test clock: every service judges her by it (I-18), not by the wall clock
    input_meter, input_price = await daily_price(invoicing, "3")
    _, output_price = await daily_price(invoicing, "5")
    clock_id, customer_id, _ = await jenny_on_a_clock(invoicing, start, [input_price, output_price])
    grant_id = await invoicing.grant(customer_id, 1000, effective=start)
    await invoicing.record(input_meter, customer_id, start + timedelta(hours=1), 3000)

    await advance(invoicing, clock_id, start + timedelta(days=1, hours=2))

    (invoice,) = await invoices_of(invoicing, customer_id)
    assert invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert [minor(line.amount) for line in invoice.lines] == [9000, 0]
    assert (minor(invoice.total_credits_applied), minor(invoice.amount_due)) == (1000, 8000)
    assert invoice.lines[0].credits[0].credit_balance_transaction_id.startswith("cbt_")
    assert await ledger(invoicing, customer_id, grant_id) == 0


async def test_small_usage_is_paid_and_the_next_period_draws_the_rest(running_suite: Suite) -> None:
    invoicing = Invoicing(running_suite)
    start = T0  # Jenny's test clock: every service judges her by it (I-18), not by the wall clock
    input_meter, input_price = await daily_price(invoicing, "3")
    clock_id, customer_id, _ = await jenny_on_a_clock(invoicing, start, [input_price])
    grant_id = await invoicing.grant(customer_id, 1000, effective=start)
    await invoicing.record(input_meter, customer_id, start + timedelta(hours=1), 100)
    await advance(invoicing, clock_id, start + timedelta(days=1, hours=2))
    (first,) = await invoices_of(invoicing, customer_id)
    assert first.status == invoice_pb2.INVOICE_STATUS_PAID
    assert await ledger(invoicing, customer_id, grant_id) == 700

    await invoicing.record(input_meter, customer_id, start + timedelta(days=1, hours=3), 1000)
    await advance(invoicing, clock_id, start + timedelta(days=2, hours=2))
    _, second = await invoices_of(invoicing, customer_id)
    assert (minor(second.subtotal), minor(second.total_credits_applied), minor(second.amount_due)) == (
        3000,
        700,
        2300,
    )
    assert await ledger(invoicing, customer_id, grant_id) == 0

    voided = await invoicing.invoices.VoidInvoice(
        invoice_service_pb2.VoidInvoiceRequest(id=second.id), metadata=invoicing.metadata
    )
    assert voided.invoice.status == invoice_pb2.INVOICE_STATUS_VOID
    assert await ledger(invoicing, customer_id, grant_id) == 700  # C-15


async def test_preview_and_live_balance_through_the_three_services(running_suite: Suite) -> None:
    invoicing = Invoicing(running_suite)
    start = T0  # Jenny's test clock: every service judges her by it (I-18), not by the wall clock
    input_meter, input_price = await daily_price(invoicing, "3")
    clock_id, customer_id, subscription_id = await jenny_on_a_clock(invoicing, start, [input_price])
    await invoicing.grant(customer_id, 1000, effective=start)
    await invoicing.record(input_meter, customer_id, start + timedelta(minutes=10), 500)
    await advance(invoicing, clock_id, start + timedelta(hours=1))
    preview = await invoicing.invoices.CreateInvoicePreview(
        invoice_service_pb2.CreateInvoicePreviewRequest(subscription_id=subscription_id),
        metadata=invoicing.metadata,
    )
    assert (minor(preview.invoice.subtotal), minor(preview.invoice.total_credits_applied)) == (1500, 1000)
    live = await invoicing.customers.GetCustomerLiveBalance(
        customer_service_pb2.GetCustomerLiveBalanceRequest(customer_id=customer_id),
        metadata=invoicing.metadata,
    )
    (usd,) = live.live_balance.balances
    assert (minor(usd.available_credits), minor(usd.unbilled_usage), minor(usd.live_balance)) == (
        1000,
        1500,
        -500,
    )


async def applied_debits(invoicing: Invoicing, customer_id: str) -> list[str]:
    """The invoice ids of the customer's credits_applied debits, one per grant per line."""
    reply = await invoicing.balances.ListCreditBalanceTransactions(
        credit_balance_service_pb2.ListCreditBalanceTransactionsRequest(
            customer_id=customer_id, page_size=100
        ),
        metadata=invoicing.metadata,
    )
    return [t.debit.invoice_id for t in reply.credit_balance_transactions if t.HasField("debit")]


async def finalize_when_reachable(
    invoicing: Invoicing, request: invoice_service_pb2.FinalizeInvoiceRequest
) -> invoice_pb2.Invoice:
    """Retry an UNAVAILABLE finalization as a client would, until credits is reachable
    again (invoicing's channel reconnects with backoff after the restart)."""
    async with asyncio.timeout(20):
        while True:
            try:
                return (
                    await invoicing.invoices.FinalizeInvoice(request, metadata=invoicing.metadata)
                ).invoice
            except grpc.aio.AioRpcError as error:
                if error.code() != grpc.StatusCode.UNAVAILABLE:
                    raise
            await asyncio.sleep(0.2)


async def test_credits_stopped_during_finalization_then_back_draws_once(running_suite: Suite) -> None:
    invoicing = Invoicing(running_suite)
    start = T0  # Jenny's test clock: every service judges her by it (I-18), not by the wall clock
    input_meter, input_price = await daily_price(invoicing, "3")
    clock_id, customer_id, _ = await jenny_on_a_clock(invoicing, start, [input_price])
    grant_id = await invoicing.grant(customer_id, 1000, effective=start)
    await invoicing.record(input_meter, customer_id, start + timedelta(hours=1), 3000)
    await advance(invoicing, clock_id, start + timedelta(days=1, minutes=5))
    (draft,) = await invoices_of(invoicing, customer_id)
    assert draft.status == invoice_pb2.INVOICE_STATUS_DRAFT

    await running_suite.stop("credits")
    request = invoice_service_pb2.FinalizeInvoiceRequest(id=draft.id, request_id="finalize-once")
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await invoicing.invoices.FinalizeInvoice(request, metadata=invoicing.metadata)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    (stuck,) = await invoices_of(invoicing, customer_id)
    assert stuck.status == invoice_pb2.INVOICE_STATUS_DRAFT

    await running_suite.restart("credits")  # same port: invoicing's channel reconnects
    finalized = await finalize_when_reachable(invoicing, request)
    assert finalized.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert (minor(finalized.total_credits_applied), minor(finalized.amount_due)) == (1000, 8000)
    again = (await invoicing.invoices.FinalizeInvoice(request, metadata=invoicing.metadata)).invoice
    assert again == finalized
    assert await applied_debits(invoicing, customer_id) == [draft.id]
    assert await ledger(invoicing, customer_id, grant_id) == 0
