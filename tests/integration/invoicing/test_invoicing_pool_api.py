"""64 concurrent FinalizeInvoice calls on an invoicing server with the smallest budget of
connections (4: the health probe's, LISTEN's, one raw and one for units of work), through
the real servers (X-7): a call never waits for a second
pooled connection while it holds one, so every call completes, promptly, with the right
result, whether the calls finalize distinct invoices or race for the same one."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, timedelta

import grpc

from drawdown.invoicing.v1 import invoice_pb2, invoice_service_pb2, invoice_service_pb2_grpc
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    advance,
    clock_at,
    customer,
    hypernian_catalog,
    invoices_of,
    invoicing_on_real_peers,
    minor,
    subscribe,
)
from tests.integration.invoicing.test_invoicing_catalog_api import error_of

CALLS = 64
POOL = 4  # DRAWDOWN_DB_POOL_SIZE: one connection per pool
# Well under the pool timeout (30 s): a call stuck waiting for a second connection while
# holding one shows as this timing out, or as DATABASE_BUSY.
PROMPTLY = 20


@asynccontextmanager
async def small_pool_server(
    invoicing: Invoicing,
) -> AsyncIterator[invoice_service_pb2_grpc.InvoiceServiceStub]:
    replica = await invoicing.add_replica(db_pool_size=POOL)
    async with grpc.aio.insecure_channel(replica.address) as channel:
        yield invoice_service_pb2_grpc.InvoiceServiceStub(channel)


async def drafts(invoicing: Invoicing, count: int) -> list[invoice_pb2.Invoice]:
    """``count`` Hypernian drafts of 3000 tokens (90.00) against a 1.00 grant each, on one
    clock whose period just ended."""
    catalog = await hypernian_catalog(invoicing, await invoicing.meter(), await invoicing.meter())
    clock_id = await clock_at(invoicing)
    customer_ids = []
    for index in range(count):
        customer_id = await customer(invoicing, clock_id, name=f"customer {index}")
        period_end = (
            await subscribe(invoicing, customer_id, catalog.input_price)
        ).subscription.current_period_end
        await invoicing.grant(customer_id, 100)
        await invoicing.record(catalog.input_meter, customer_id, T0, 3000)  # at the clock's time
        customer_ids.append(customer_id)
    await advance(invoicing, clock_id, period_end.ToDatetime(tzinfo=UTC) + timedelta(minutes=1))
    found = [invoice for c in customer_ids for invoice in await invoices_of(invoicing, c)]
    assert [i.status for i in found] == [invoice_pb2.INVOICE_STATUS_DRAFT] * count
    return found


def finalize(stub, invoice_id: str, request_id: str, metadata):
    return stub.FinalizeInvoice(
        invoice_service_pb2.FinalizeInvoiceRequest(id=invoice_id, request_id=request_id), metadata=metadata
    )


async def test_64_concurrent_finalizations_of_distinct_invoices_on_a_small_pool_all_complete_x7(
    database_url: str,
) -> None:
    async with invoicing_on_real_peers(database_url) as invoicing:
        invoices = await drafts(invoicing, CALLS)
        async with small_pool_server(invoicing) as stub, asyncio.timeout(PROMPTLY):
            replies = await asyncio.gather(
                *(finalize(stub, i.id, f"fin-{i.id}", invoicing.metadata) for i in invoices)
            )
        for invoice, reply in zip(invoices, replies, strict=True):
            assert reply.invoice.id == invoice.id
            assert reply.invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
            assert (minor(reply.invoice.total_credits_applied), minor(reply.invoice.amount_due)) == (
                100,
                8900,
            )
            assert await invoicing.draws(invoice.customer_id) == {invoice.id: 1}


async def test_64_concurrent_finalizations_of_one_invoice_on_a_small_pool_finalize_it_once_x7(
    database_url: str,
) -> None:
    async with invoicing_on_real_peers(database_url) as invoicing:
        (invoice,) = await drafts(invoicing, 1)
        # Half retry one request (same request id), half are requests of their own.
        request_ids = ["same"] * (CALLS // 2) + [f"own-{n}" for n in range(CALLS // 2)]
        async with small_pool_server(invoicing) as stub, asyncio.timeout(PROMPTLY):
            outcomes = await asyncio.gather(
                *(finalize(stub, invoice.id, rid, invoicing.metadata) for rid in request_ids),
                return_exceptions=True,
            )
        finalized, refused = [], []
        for request_id, outcome in zip(request_ids, outcomes, strict=True):
            if isinstance(outcome, grpc.aio.AioRpcError):
                refused.append((request_id, error_of(outcome)[:2]))
            else:
                finalized.append((request_id, outcome))
        # Every call completed: finalized, or refused because another call finalized it first.
        assert {error for _, error in refused} <= {
            (grpc.StatusCode.FAILED_PRECONDITION, "INVALID_INVOICE_STATUS")
        }
        assert len(finalized) + len(refused) == CALLS
        same = [reply for request_id, reply in finalized if request_id == "same"]
        assert len(same) in (0, CALLS // 2) and all(reply == same[0] for reply in same)
        assert finalized
        for _, reply in finalized:
            assert reply.invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
            assert (minor(reply.invoice.total_credits_applied), minor(reply.invoice.amount_due)) == (
                100,
                8900,
            )
        assert await invoicing.draws(invoice.customer_id) == {invoice.id: 1}
        (final,) = await invoices_of(invoicing, invoice.customer_id)
        assert final.status == invoice_pb2.INVOICE_STATUS_OPEN
