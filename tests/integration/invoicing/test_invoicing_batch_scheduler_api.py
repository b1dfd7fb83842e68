"""The wall-clock scheduler's batches on the real suite: periods closed and drafts finalized
several at a time (one batch call to metering and to credits each), and a credits outage
in the middle of a batch apply recovered with each invoice drawn once (I-10, I-11, C-14)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from drawdown.clock import FrozenClock
from drawdown.invoicing.v1 import invoice_pb2
from invoicing_service.service import batches
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    customer,
    hypernian_catalog,
    invoices_of,
    invoicing_on_real_peers,
    method,
    minor,
    past_grace,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_faults_api import DOWN, recovery_billing

CUSTOMERS = 7  # with batches of 3: two full batches and a batch of one
APPLIES = [
    method("InvoiceCreditService/ApplyInvoiceCredits"),
    method("InvoiceCreditService/BatchApplyInvoiceCredits"),
]


@dataclass
class Customers:
    """The customers of a test: each one's grant id, and the moment every draft is due."""

    grants: dict[str, str]
    due: datetime


async def customers_with_usage(invoicing: Invoicing, start: datetime) -> Customers:
    """CUSTOMERS wall-clock customers subscribed at ``start`` to a monthly metered price, each
    with a 1.00 grant and usage of (100 + i) tokens at 3 ¢ a day into its period."""
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    grants, subscriptions = {}, []
    for index in range(CUSTOMERS):
        customer_id = await customer(invoicing, name=f"customer {index}")
        subscriptions.append((await subscribe(invoicing, customer_id, catalog.input_price)).subscription)
        grants[customer_id] = await invoicing.grant(customer_id, 100, effective=start)
    for index, subscription in enumerate(subscriptions):
        used_at = subscription.current_period_start.ToDatetime(tzinfo=UTC) + timedelta(days=1)
        await invoicing.record(catalog.input_meter, subscription.customer_id, used_at, 100 + index)
    return Customers(grants, await past_grace(invoicing, subscriptions))


async def until(condition, seconds: float = 30) -> None:
    """Poll ``condition`` (the scheduler ticks every second) until it holds."""
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.1)


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(batches, "CLAIM_BATCH", 3)


@pytest.mark.usefixtures("small_batches")
async def test_batches_close_and_finalize_every_period_once(database_url: str) -> None:
    start = T0
    clock = FrozenClock(start)
    async with invoicing_on_real_peers(database_url, clock=clock) as invoicing:
        customers = await customers_with_usage(invoicing, start)
        grants = customers.grants

        clock.set(customers.due)

        async def all_finalized() -> bool:
            invoices = [i for c in grants for i in await invoices_of(invoicing, c)]
            return len(invoices) == CUSTOMERS and all(
                i.status == invoice_pb2.INVOICE_STATUS_OPEN for i in invoices
            )

        await until(all_finalized)
        for index, (customer_id, grant) in enumerate(grants.items()):
            (invoice,) = await invoices_of(invoicing, customer_id)
            assert minor(invoice.subtotal) == 3 * (100 + index)
            assert (minor(invoice.total_credits_applied), minor(invoice.amount_due)) == (
                100,
                3 * (100 + index) - 100,
            )
            assert await invoicing.draws(customer_id) == {invoice.id: 1}
            assert await invoicing.ledger(customer_id, grant) == 0
        assert invoicing.credits_faults.served[method("InvoiceCreditService/BatchApplyInvoiceCredits")] >= 1


@pytest.mark.usefixtures("small_batches")
async def test_answers_lost_after_a_batch_apply_are_recovered_with_one_draw_each(database_url: str) -> None:
    start = T0
    clock = FrozenClock(start)
    async with invoicing_on_real_peers(database_url, clock=clock) as invoicing:
        customers = await customers_with_usage(invoicing, start)
        grants = customers.grants
        for apply in APPLIES:
            invoicing.credits_faults.fail(apply, when="after", times=DOWN)

        clock.set(customers.due)

        async def all_drawn() -> bool:
            return all([await invoicing.draws(c) for c in grants])

        await until(all_drawn)  # credits posted every draw, but no answer came back
        stuck = [i for c in grants for i in await invoices_of(invoicing, c)]
        assert {i.status for i in stuck} == {invoice_pb2.INVOICE_STATUS_DRAFT}

        await invoicing.suite.stop("invoicing")  # the replica goes down with the answers lost
        invoicing.credits_faults.clear()
        async with recovery_billing(invoicing) as recovery:  # a restarted replica's sweep
            assert await recovery.recover_in_flight(timedelta(0)) == CUSTOMERS
        await invoicing.suite.restart("invoicing")
        for customer_id, grant in grants.items():
            (invoice,) = await invoices_of(invoicing, customer_id)
            assert invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
            assert minor(invoice.total_credits_applied) == 100
            assert await invoicing.draws(customer_id) == {invoice.id: 1}
            assert await invoicing.ledger(customer_id, grant) == 0
