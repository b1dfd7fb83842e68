"""The wall-clock scheduler in two invoicing replicas at once, on the real metering and
credits servers: every period is drafted once and every draft finalized once, as the
credits ledger shows (I-10, I-11; DESIGN "Scale-out")."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

from drawdown.clock import FrozenClock
from drawdown.credits.v1 import credit_balance_pb2
from drawdown.invoicing.v1 import invoice_pb2, invoice_service_pb2
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    clock_at,
    customer,
    hypernian_catalog,
    invoicing_on_real_peers,
    minor,
    past_grace,
    subscribe,
)

CUSTOMERS = 12
EXPIRED = credit_balance_pb2.CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_EXPIRED


async def wait_for_invoices(invoicing: Invoicing, status: int, count: int) -> list[invoice_pb2.Invoice]:
    """Poll until ``count`` invoices have ``status`` (the scheduler ticks every second)."""
    async with asyncio.timeout(30):
        while True:
            reply = await invoicing.invoices.ListInvoices(
                invoice_service_pb2.ListInvoicesRequest(status=status, page_size=100),
                metadata=invoicing.metadata,
            )
            if len(reply.invoices) >= count:
                return list(reply.invoices)
            await asyncio.sleep(0.2)


async def expiries(
    invoicing: Invoicing, customer_id: str
) -> list[credit_balance_pb2.CreditBalanceTransaction]:
    return [t for t in await invoicing.transactions(customer_id) if t.debit.type == EXPIRED]


async def test_two_replicas_draft_and_finalize_each_invoice_once(database_url: str) -> None:
    start = T0
    clock = FrozenClock(start)
    async with invoicing_on_real_peers(database_url, clock=clock, replicas=2) as invoicing:
        catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
        subscriptions, grants = {}, {}
        for index in range(CUSTOMERS):
            customer_id = await customer(invoicing, name=f"customer {index}")
            subscriptions[customer_id] = (
                await subscribe(invoicing, customer_id, catalog.input_price)
            ).subscription
            grants[customer_id] = await invoicing.grant(customer_id, 100, effective=start)
        # A wall-clock customer's grant and a test-clock customer's, both due before the jump.
        wall_customer = await customer(invoicing, name="wall clock")
        wall_grant = await invoicing.grant(
            wall_customer, 100, effective=start, expire=start + timedelta(days=2)
        )
        clocked_customer = await customer(invoicing, await clock_at(invoicing, start), name="test clock")
        await invoicing.grant(clocked_customer, 100, effective=start, expire=start + timedelta(days=2))
        for index, customer_id in enumerate(subscriptions):
            used_at = subscriptions[customer_id].current_period_start.ToDatetime(tzinfo=UTC) + timedelta(
                days=1
            )
            await invoicing.record(catalog.input_meter, customer_id, used_at, 100 + index)

        clock.set(await past_grace(invoicing, subscriptions.values()))
        invoices = await wait_for_invoices(invoicing, invoice_pb2.INVOICE_STATUS_OPEN, CUSTOMERS)

        assert sorted(i.customer_id for i in invoices) == sorted(subscriptions)
        assert {i.subscription_id for i in invoices} == {s.id for s in subscriptions.values()}
        for invoice in invoices:
            assert minor(invoice.total_credits_applied) == 100
            assert await invoicing.draws(invoice.customer_id) == {invoice.id: 1}
            assert await invoicing.ledger(invoice.customer_id, grants[invoice.customer_id]) == 0
        every = await invoicing.invoices.ListInvoices(
            invoice_service_pb2.ListInvoicesRequest(page_size=100), metadata=invoicing.metadata
        )
        assert len(every.invoices) == CUSTOMERS
        async with asyncio.timeout(10):  # the wall-clock expiry sweep, on wall-clock customers only
            while not await expiries(invoicing, wall_customer):
                await asyncio.sleep(0.2)
        (expiry,) = await expiries(invoicing, wall_customer)
        assert (expiry.credit_grant_id, minor(expiry.debit.amount)) == (wall_grant, 100)
        assert await expiries(invoicing, clocked_customer) == []  # its test clock is still at the start
