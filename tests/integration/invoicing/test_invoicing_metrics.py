"""Invoicing's and credits' metrics through the real servers (O-4): how late the
wall-clock scheduler closes periods and finalizes drafts, the invoices finalized by
status, and the credits drawn down by currency."""

from __future__ import annotations

from datetime import timedelta

from drawdown.clock import FrozenClock
from drawdown.invoicing.v1 import invoice_pb2
from tests.integration.invoicing.invoicing_builders import (
    T0,
    customer,
    hypernian_catalog,
    invoicing_on_real_peers,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_scheduler_api import wait_for_invoices
from tests.support.scrape import delta, scrape

FEB_1 = T0.replace(month=2)
GRACE = timedelta(hours=1)  # the default grace period between a draft and its finalization
LATE = timedelta(minutes=5)
LAG = "drawdown_scheduler_lag_seconds"
FINALIZED = "drawdown_invoices_finalized_total"
APPLIED = "drawdown_credits_applied_minor_units_total"


async def test_the_scheduler_counts_its_lag_the_invoices_and_the_credits_drawn_o4(database_url: str) -> None:
    clock = FrozenClock(T0)
    async with invoicing_on_real_peers(database_url, clock=clock) as invoicing:
        catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
        owing, settled = await customer(invoicing, name="owes 80"), await customer(invoicing, name="owes 0")
        for customer_id in (owing, settled):  # both from T0 to FEB_1
            await subscribe(invoicing, customer_id, catalog.input_price, catalog.output_price)
        for customer_id, tokens in ((owing, 3000), (settled, 100)):  # 90.00 and 3.00 USD of usage
            await invoicing.grant(customer_id, 1000)
            await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=3), tokens)
        before = scrape()

        clock.set(FEB_1 + GRACE + LATE)  # the scheduler is late: both periods closed and finalized at once
        await wait_for_invoices(invoicing, invoice_pb2.INVOICE_STATUS_OPEN, 1)
        await wait_for_invoices(invoicing, invoice_pb2.INVOICE_STATUS_PAID, 1)
        after = scrape()

    assert delta(before, after, f"{LAG}_count", action="close_period") == 2
    assert delta(before, after, f"{LAG}_sum", action="close_period") == 2 * (GRACE + LATE).total_seconds()
    assert delta(before, after, f"{LAG}_count", action="finalize") == 2
    assert delta(before, after, f"{LAG}_sum", action="finalize") == 2 * LATE.total_seconds()
    assert delta(before, after, f"{LAG}_bucket", action="finalize", le="120.0") == 0
    assert delta(before, after, f"{LAG}_bucket", action="finalize", le="300.0") == 2
    assert delta(before, after, FINALIZED, status="open") == 1
    assert delta(before, after, FINALIZED, status="paid") == 1
    assert delta(before, after, APPLIED, currency="USD") == 1000 + 300
