"""The wall-clock scheduler in two replicas at once: every period is drafted once and
every draft finalized once (I-10, I-11; DESIGN "Scale-out")."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from drawdown.clock import FrozenClock
from drawdown.invoicing.v1 import invoice_pb2, invoice_service_pb2
from tests.integration.invoicing.invoicing_builders import customer, hypernian_catalog, minor, subscribe
from tests.integration.invoicing.invoicing_fakes import Invoicing, invoicing_on_fakes

CUSTOMERS = 12


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


async def test_two_replicas_draft_and_finalize_each_invoice_once(database_url: str) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = FrozenClock(start)
    async with invoicing_on_fakes(database_url, clock=clock, replicas=2) as invoicing:
        metering, credits = invoicing.fakes.metering, invoicing.fakes.credits
        catalog = await hypernian_catalog(invoicing, metering.meter(), metering.meter())
        subscriptions = {}
        for index in range(CUSTOMERS):
            customer_id = await customer(invoicing, name=f"customer {index}")
            subscriptions[customer_id] = (
                await subscribe(invoicing, customer_id, catalog.input_price)
            ).subscription
            credits.grant(customer_id, 100)
            metering.record(catalog.input_meter, customer_id, start + timedelta(days=1), 100 + index)

        clock.set(start + timedelta(days=32))
        invoices = await wait_for_invoices(invoicing, invoice_pb2.INVOICE_STATUS_OPEN, CUSTOMERS)

        assert sorted(i.customer_id for i in invoices) == sorted(subscriptions)
        assert {i.subscription_id for i in invoices} == {s.id for s in subscriptions.values()}
        for invoice in invoices:
            assert minor(invoice.total_credits_applied) == 100
        assert credits.draws == {i.id: 1 for i in invoices}
        assert credits.faults.calls["ApplyInvoiceCredits"] == CUSTOMERS
        every = await invoicing.invoices.ListInvoices(
            invoice_service_pb2.ListInvoicesRequest(page_size=100), metadata=invoicing.metadata
        )
        assert len(every.invoices) == CUSTOMERS
        async with asyncio.timeout(10):  # the wall-clock expiry sweep, on wall-clock customers only
            while not any(not customers for _, customers in credits.expiry_calls):
                await asyncio.sleep(0.2)
