"""Invoice-facing use cases: hold, apply, release, reinstate, preview, expire (SPEC C-10..C-15).

Each call for a customer first takes the customer's lock, then its grants' (by id), so
all draws of one customer serialize (C-14) without deadlock. The allocation itself is the
pure engine's (``domain.drawdown``); here it is only loaded, stored and posted.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TypeVar

from google.protobuf.message import Message
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from credits_service.domain.drawdown import (
    Allocation,
    GrantBalance,
    Invoice,
    allocate_credits,
    in_grant_order,
    plan_reinstatement,
)
from credits_service.domain.grants import due_expiry, grant_state
from credits_service.store.credits import (
    AllocationEntry,
    CreditStore,
    StoredAllocation,
    TransactionRecord,
    reading,
)
from drawdown.clock import Clock
from drawdown.db.engine import Database, UnitOfWork
from drawdown.errors import AlreadyExists, FailedPrecondition
from drawdown.rpc.idempotent import Mutations

ResponseT = TypeVar("ResponseT", bound=Message)


@dataclass(frozen=True)
class ExpirySweep:
    """What ExpireDueCreditGrants recorded."""

    expired_grants: int
    transactions: int


class InvoiceCreditUseCases:
    def __init__(self, database: Database, store: CreditStore, clock: Clock, mutations: Mutations) -> None:
        self._database = database
        self._store = store
        self._clock = clock
        self._mutations = mutations

    async def hold(self, session: AsyncSession, invoice: Invoice) -> StoredAllocation:
        """C-13: compute the draft's allocation and make it the invoice's hold (replacing
        any earlier one). Refused once the invoice's credits were applied."""
        db = await session.connection()
        now = self._clock.now()
        await self._store.lock_customer(db, invoice.customer_id, now)
        if await self._store.application(db, invoice.id) is not None:
            raise _already_applied(invoice.id)
        allocation = StoredAllocation.unposted(await self._allocate(db, invoice, lock=True))
        await self._store.replace_hold(db, invoice.customer_id, allocation, now)
        return allocation

    async def apply(
        self,
        request: Message,
        invoice: Invoice,
        response_type: type[ResponseT],
        respond: Callable[[StoredAllocation], ResponseT],
    ) -> ResponseT:
        """C-13, C-14: post the finalized invoice's allocation once per invoice.

        Runs under the request id like every mutation; once the invoice is applied any
        later call (another request id, other amounts) gets the original allocation. A
        reuse of the request id with other content is REQUEST_ID_REUSED unless it is a
        retry for the same, already applied invoice.
        """

        async def work(uow: UnitOfWork) -> ResponseT:
            return respond(await self._apply(await uow.session.connection(), invoice))

        try:
            return await self._mutations.run("ApplyInvoiceCredits", request, response_type, work)
        except AlreadyExists as error:
            if error.reason != "REQUEST_ID_REUSED":
                raise
            async with reading(self._database) as db:
                recorded = await self._store.application(db, invoice.id)
            if recorded is None:
                raise
            return respond(recorded.allocation)

    async def _apply(self, db: AsyncConnection, invoice: Invoice) -> StoredAllocation:
        now = self._clock.now()
        await self._store.lock_customer(db, invoice.customer_id, now)
        recorded = await self._store.application(db, invoice.id)
        if recorded is not None:
            return recorded.allocation
        allocation = await self._allocate(db, invoice, lock=True)
        posted = await self._store.post(db, invoice.customer_id, allocation.to_postings(invoice.as_of), now)
        applied = StoredAllocation(
            invoice.id,
            invoice.currency,
            tuple(
                AllocationEntry(a.line_id, a.grant_id, a.amount, record.id)
                for a, record in zip(allocation.applications, posted, strict=True)
            ),
        )
        await self._store.record_application(db, invoice.customer_id, applied, now)
        return applied

    async def release(
        self, session: AsyncSession, invoice_id: str, customer_id: str
    ) -> StoredAllocation | None:
        """C-13: drop a draft's hold; nothing to release is a success. Refused once applied."""
        db = await session.connection()
        await self._store.lock_customer(db, customer_id, self._clock.now())
        if await self._store.application(db, invoice_id) is not None:
            raise _already_applied(invoice_id)
        hold = await self._store.hold_of(db, invoice_id, customer_id)
        await self._store.release_hold(db, invoice_id)
        return hold

    async def reinstate(
        self, session: AsyncSession, invoice_id: str, customer_id: str, as_of: datetime
    ) -> list[TransactionRecord]:
        """C-15: give a voided invoice's credits back, one credit per grant, expiring at
        once what returns to an expired grant. Once per invoice: later calls get the
        same transactions (C-14)."""
        db = await session.connection()
        now = self._clock.now()
        await self._store.lock_customer(db, customer_id, now)
        recorded = await self._store.application(db, invoice_id)
        if recorded is None or recorded.customer_id != customer_id:
            raise FailedPrecondition(
                f"no credits were applied to invoice {invoice_id!r} of customer {customer_id!r}",
                reason="INVOICE_NOT_APPLIED",
                metadata={"invoice_id": invoice_id},
            )
        if recorded.reinstatement_transaction_ids is not None:
            return await self._store.transactions_by_id(db, recorded.reinstatement_transaction_ids)
        grants = {g.grant.id: g for g in await self._store.grants_of_customer(db, customer_id, lock=True)}
        postings = await self._store.postings_of_invoice(db, invoice_id)
        states = {
            grant_id: grant_state(grants[grant_id].grant, grants[grant_id].ledger, as_of)
            for grant_id in {p.grant_id for p in postings}
        }
        plan = plan_reinstatement(invoice_id, postings, states, as_of)
        posted = await self._store.post(db, customer_id, plan, now)
        await self._store.record_reinstatement(db, invoice_id, [record.id for record in posted], now)
        return posted

    async def preview(self, invoice: Invoice) -> StoredAllocation:
        """C-13, I-14: the allocation the invoice would get now; holds and posts nothing."""
        async with reading(self._database) as db:
            return StoredAllocation.unposted(await self._allocate(db, invoice, lock=False))

    async def expire_due(
        self, session: AsyncSession, as_of: datetime, only: Sequence[str], excluding: Sequence[str]
    ) -> ExpirySweep:
        """C-3, C-20: post the expiry of every grant due at ``as_of`` (a credits_expired
        debit of what is left, dated at its expire_time) and drop holds on them.
        Customers are locked one by one in id order, the order every sweep uses."""
        db = await session.connection()
        now = self._clock.now()
        expired = transactions = 0
        for customer_id in await self._store.customers_with_due_expiries(db, as_of, only, excluding):
            await self._store.lock_customer(db, customer_id, now)
            due = await self._store.due_grants(db, customer_id, as_of)
            debits = [debit for g in due if (debit := due_expiry(g.grant, g.ledger, as_of)) is not None]
            await self._store.post(db, customer_id, debits, now)
            for g in due:
                await self._store.save_grant(db, g.grant, expiry_posted_at=as_of)
            await self._store.drop_holds_on(db, [g.grant.id for g in due])
            expired += len(due)
            transactions += len(debits)
        return ExpirySweep(expired, transactions)

    async def _allocate(self, db: AsyncConnection, invoice: Invoice, *, lock: bool) -> Allocation:
        """C-10..C-12 over the customer's grants, net of other invoices' holds (C-20)."""
        grants = await self._store.grants_of_customer(
            db, invoice.customer_id, excluding_hold_of=invoice.id or None, lock=lock
        )
        balances = [GrantBalance(g.grant, g.available(invoice.as_of)) for g in grants]
        allocation = allocate_credits(invoice, balances)
        return in_grant_order(allocation, [g.grant for g in grants], invoice)


def _already_applied(invoice_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"credits of invoice {invoice_id!r} were already applied",
        reason="INVOICE_ALREADY_APPLIED",
        metadata={"invoice_id": invoice_id},
    )
