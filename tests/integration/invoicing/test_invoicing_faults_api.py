"""The finalization saga under faults on the real suite: credits unavailable before, during
and after the draw (a fault interceptor in front of the real credits server, or the server
stopped), then recovery; each invoice drawn once, as the real credits ledger shows (DESIGN
"Flows", I-11, I-15, C-14)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, timedelta

import grpc
import psycopg
import pytest

from drawdown.clock import SystemClock
from drawdown.db.engine import Database
from drawdown.db.urls import libpq_url
from drawdown.invoicing.v1 import invoice_pb2, invoice_service_pb2, test_clock_pb2, test_clock_service_pb2
from invoicing_service.adapters.downstream import Downstream
from invoicing_service.service.billing import Billing
from invoicing_service.service.recovery import Recovery
from invoicing_service.store.unit import InvoicingUnit
from tests.integration.invoicing.invoicing_builders import (
    T0,
    Invoicing,
    advance,
    invoices_of,
    invoicing_on_real_peers,
    method,
    minor,
)
from tests.integration.invoicing.test_invoicing_billing_api import FEB_1, hypernian_customer
from tests.integration.invoicing.test_invoicing_catalog_api import failure

DOWN = 100  # more failures than the channel's retry policy absorbs


@pytest.fixture
async def invoicing(database_url: str) -> AsyncIterator[Invoicing]:
    async with invoicing_on_real_peers(database_url) as started:
        yield started


@asynccontextmanager
async def recovery_billing(invoicing: Invoicing) -> AsyncIterator[Recovery]:
    """A second process's recovery sweep on the same database and real peers: what a
    restarted replica runs."""
    database = Database(invoicing.database_url, pool_size=2, unit_of_work=InvoicingUnit)
    downstream = Downstream(invoicing.settings)
    try:
        yield Billing(database, downstream, SystemClock()).recovery
    finally:
        await downstream.close()
        await database.dispose()


async def drafted(invoicing: Invoicing):
    """A Hypernian draft of 90.00 against a 10.00 grant, its period just ended."""
    catalog, clock_id, customer_id, _, grant = await hypernian_customer(invoicing)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=1), 3000)
    await advance(invoicing, clock_id, FEB_1 + timedelta(minutes=5))
    (draft,) = await invoices_of(invoicing, customer_id)
    return clock_id, customer_id, grant, draft


async def finalize(invoicing: Invoicing, invoice_id: str):
    return await invoicing.invoices.FinalizeInvoice(
        invoice_service_pb2.FinalizeInvoiceRequest(id=invoice_id, request_id=f"fin-{invoice_id}"),
        metadata=invoicing.metadata,
    )


APPLY = method("InvoiceCreditService/ApplyInvoiceCredits")


async def assert_finalized_once(invoicing: Invoicing, invoice, grant: str) -> None:
    assert invoice.status == invoice_pb2.INVOICE_STATUS_OPEN
    assert (minor(invoice.total_credits_applied), minor(invoice.amount_due)) == (1000, 8000)
    transaction_id = invoice.lines[0].credits[0].credit_balance_transaction_id
    assert transaction_id.startswith("cbt_")
    debits = [t for t in await invoicing.transactions(invoice.customer_id) if t.HasField("debit")]
    assert [(t.id, t.debit.invoice_id, t.credit_grant_id) for t in debits] == [
        (transaction_id, invoice.id, grant)
    ]
    assert await invoicing.draws(invoice.customer_id) == {invoice.id: 1}
    assert await invoicing.grant_balance(invoice.customer_id, grant) == (0, 0)


async def test_credits_down_before_apply_leaves_a_draft_and_a_retry_finalizes(invoicing: Invoicing) -> None:
    _, _, grant, draft = await drafted(invoicing)
    invoicing.credits_faults.fail(APPLY, when="before", times=DOWN)
    code, reason, _ = await failure(finalize(invoicing, draft.id))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "CREDITS_SERVICE_UNAVAILABLE")
    (still,) = await invoices_of(invoicing, draft.customer_id)
    assert still.status == invoice_pb2.INVOICE_STATUS_DRAFT
    assert invoicing.credits_faults.served[APPLY] == 0 and invoicing.credits_faults.failed[APPLY] >= 1
    assert await invoicing.grant_balance(draft.customer_id, grant) == (1000, 0)  # still only held
    assert await invoicing.draws(draft.customer_id) == {}
    invoicing.credits_faults.clear()
    await assert_finalized_once(invoicing, (await finalize(invoicing, draft.id)).invoice, grant)


async def test_answer_lost_after_apply_is_completed_by_the_recovery_sweep(invoicing: Invoicing) -> None:
    _, _, grant, draft = await drafted(invoicing)
    invoicing.credits_faults.fail(APPLY, when="after", times=DOWN)
    code, _, _ = await failure(finalize(invoicing, draft.id))
    assert code == grpc.StatusCode.UNAVAILABLE
    # Drawn (every retry served by the real credits server), but the answer never arrived.
    assert invoicing.credits_faults.served[APPLY] >= 1
    assert await invoicing.draws(draft.customer_id) == {draft.id: 1}
    assert await invoicing.ledger(draft.customer_id, grant) == 0
    (stuck,) = await invoices_of(invoicing, draft.customer_id)
    assert stuck.status == invoice_pb2.INVOICE_STATUS_DRAFT
    invoicing.credits_faults.clear()
    async with recovery_billing(invoicing) as billing:
        assert await billing.recover_in_flight(timedelta(0)) == 1
        assert await billing.recover_in_flight(timedelta(0)) == 0
    (recovered,) = await invoices_of(invoicing, draft.customer_id)
    await assert_finalized_once(invoicing, recovered, grant)
    assert invoicing.credits_faults.served[APPLY] > 1


async def test_recovery_waits_while_credits_stay_down(invoicing: Invoicing) -> None:
    _, _, grant, draft = await drafted(invoicing)
    invoicing.credits_faults.fail(APPLY, when="after", times=DOWN)
    await failure(finalize(invoicing, draft.id))
    invoicing.credits_faults.clear()
    invoicing.credits_faults.fail(APPLY, when="before", times=DOWN)
    async with recovery_billing(invoicing) as billing:
        assert await billing.recover_in_flight(timedelta(0)) == 0
        invoicing.credits_faults.clear()
        assert await billing.recover_in_flight(timedelta(0)) == 1
    (recovered,) = await invoices_of(invoicing, draft.customer_id)
    await assert_finalized_once(invoicing, recovered, grant)


async def test_a_failed_clock_advance_resumes_and_draws_once_i16(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, _, grant = await hypernian_customer(invoicing)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=1), 3000)
    invoicing.credits_faults.fail(APPLY, when="after", times=DOWN)
    request = test_clock_service_pb2.AdvanceTestClockRequest(id=clock_id, request_id="adv-1")
    request.frozen_time.FromDatetime(FEB_1 + timedelta(hours=2))
    code, reason, _ = await failure(invoicing.clocks.AdvanceTestClock(request, metadata=invoicing.metadata))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "CREDITS_SERVICE_UNAVAILABLE")
    clock = (
        await invoicing.clocks.GetTestClock(
            test_clock_service_pb2.GetTestClockRequest(id=clock_id), metadata=invoicing.metadata
        )
    ).test_clock
    assert clock.status == test_clock_pb2.TEST_CLOCK_STATUS_INTERNAL_FAILURE
    assert clock.frozen_time.ToDatetime(tzinfo=UTC) == FEB_1  # the close completed, the finalization did not
    invoicing.credits_faults.clear()
    reply = await invoicing.clocks.AdvanceTestClock(
        request, metadata=invoicing.metadata
    )  # same request id resumes
    assert reply.test_clock.status == test_clock_pb2.TEST_CLOCK_STATUS_READY
    (invoice,) = await invoices_of(invoicing, customer_id)
    await assert_finalized_once(invoicing, invoice, grant)


async def test_metering_down_at_period_close_drafts_nothing_until_it_is_back(invoicing: Invoicing) -> None:
    _, clock_id, customer_id, _, _ = await hypernian_customer(invoicing)
    for summaries in ("ListMeterEventSummaries", "BatchListMeterEventSummaries"):
        invoicing.metering_faults.fail(f"MeterEventService/{summaries}", when="before", times=DOWN)
    request = test_clock_service_pb2.AdvanceTestClockRequest(id=clock_id)
    request.frozen_time.FromDatetime(FEB_1 + timedelta(hours=2))
    code, reason, _ = await failure(invoicing.clocks.AdvanceTestClock(request, metadata=invoicing.metadata))
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "METERING_SERVICE_UNAVAILABLE")
    assert await invoices_of(invoicing, customer_id) == []
    invoicing.metering_faults.clear()
    await invoicing.clocks.AdvanceTestClock(request, metadata=invoicing.metadata)
    (invoice,) = await invoices_of(invoicing, customer_id)
    assert invoice.status == invoice_pb2.INVOICE_STATUS_PAID  # no usage: nothing due


async def test_void_with_credits_down_completes_once_they_are_back_c15(invoicing: Invoicing) -> None:
    _, _, grant, draft = await drafted(invoicing)
    await finalize(invoicing, draft.id)
    invoicing.credits_faults.fail("InvoiceCreditService/ReinstateInvoiceCredits", when="before", times=DOWN)
    code, _, _ = await failure(
        invoicing.invoices.VoidInvoice(
            invoice_service_pb2.VoidInvoiceRequest(id=draft.id), metadata=invoicing.metadata
        )
    )
    assert code == grpc.StatusCode.UNAVAILABLE
    assert await invoicing.ledger(draft.customer_id, grant) == 0
    (pending,) = await invoices_of(invoicing, draft.customer_id)
    assert pending.status == invoice_pb2.INVOICE_STATUS_OPEN
    invoicing.credits_faults.clear()
    voided = await invoicing.invoices.VoidInvoice(
        invoice_service_pb2.VoidInvoiceRequest(id=draft.id), metadata=invoicing.metadata
    )
    assert voided.invoice.status == invoice_pb2.INVOICE_STATUS_VOID
    assert await invoicing.grant_balance(draft.customer_id, grant) == (1000, 1000)
    assert await invoicing.draws(draft.customer_id) == {draft.id: 1}


async def test_an_advance_cut_off_by_a_dead_process_is_resumed_by_the_next_i16(invoicing: Invoicing) -> None:
    catalog, clock_id, customer_id, _, grant = await hypernian_customer(invoicing)
    await invoicing.record(catalog.input_meter, customer_id, T0 + timedelta(days=1), 3000)
    async with await psycopg.AsyncConnection.connect(
        libpq_url(invoicing.database_url), autocommit=True
    ) as db:
        # What a process that died mid-advance leaves: ADVANCING, and no one holding the lease.
        await db.execute("UPDATE invoicing.test_clocks SET status = 'advancing' WHERE id = %s", [clock_id])

    await advance(invoicing, clock_id, FEB_1 + timedelta(hours=2))

    (invoice,) = await invoices_of(invoicing, customer_id)
    await assert_finalized_once(invoicing, invoice, grant)


async def test_a_clock_is_advanced_by_one_caller_at_a_time_i16(invoicing: Invoicing) -> None:
    _, clock_id, _, _, _ = await hypernian_customer(invoicing)
    async with await psycopg.AsyncConnection.connect(
        libpq_url(invoicing.database_url), autocommit=True
    ) as db:
        # Another replica's advance of the clock, holding its lease.
        lease = "SELECT pg_advisory_lock(hashtextextended(%s, 0))"
        await db.execute(lease, [f"drawdown.test_clock:{clock_id}"])
        code, reason, _ = await failure(advance(invoicing, clock_id, FEB_1))
        assert (code, reason) == (grpc.StatusCode.FAILED_PRECONDITION, "TEST_CLOCK_ADVANCING")
    # The lease dies with its connection: once PostgreSQL has ended that session (taking
    # the lease here waits for it), the clock advances.
    async with await psycopg.AsyncConnection.connect(
        libpq_url(invoicing.database_url), autocommit=True
    ) as db:
        await db.execute(lease, [f"drawdown.test_clock:{clock_id}"])
        await db.execute(
            "SELECT pg_advisory_unlock(hashtextextended(%s, 0))", [f"drawdown.test_clock:{clock_id}"]
        )
    await advance(invoicing, clock_id, FEB_1)
