"""Credit grant use cases (C-1..C-5): one unit of work per RPC.

Every change to a grant's money runs under the customer's lock (``CreditStore.lock_customer``)
and posts its ledger entry in the same transaction as the change.

"Now" is the customer's: its test clock's time when it lives on one (I-18), else the
wall clock's. It is the default effective time of a new grant, the moment expiry, voiding
and updates are judged at, and the moment a read without ``as_of`` shows statuses and
available balances at. Record-keeping times (create_time, a transaction's create_time)
stay the wall clock's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from credits_service.domain import reasons
from credits_service.domain.balances import GrantBalances
from credits_service.domain.grants import (
    Applicability,
    CreditGrant,
    GrantCategory,
    GrantState,
    ensure_credit_total,
    ensure_grant_limit,
    expire_grant,
    update_grant,
    validate_new_grant,
    void_grant,
)
from credits_service.domain.ledger import LedgerTotals, Posting, TransactionKind
from credits_service.domain.limits import clip
from credits_service.store.credits import CreditStore
from credits_service.store.sql import reading
from drawdown import ids
from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.errors import NotFound
from drawdown.test_clocks import customer_now


@dataclass(frozen=True, kw_only=True)
class NewGrant:
    """A CreateCreditGrant request, parsed but not yet validated (C-1)."""

    customer_id: str
    currency: str
    amount_minor: int
    name: str
    category: GrantCategory
    priority: int
    applicability: Applicability
    effective_at: datetime | None
    expires_at: datetime | None
    metadata: Mapping[str, str]


@dataclass(frozen=True, kw_only=True)
class GrantChanges:
    """An UpdateCreditGrant request: the mask and the new values (C-3)."""

    grant_id: str
    paths: Sequence[str]
    expires_at: datetime | None
    metadata: Mapping[str, str]


@dataclass(frozen=True)
class GrantView:
    """A grant with the moment its status and available balance are shown at: the
    request's ``as_of``, else its customer's now (I-18)."""

    balances: GrantBalances
    as_of: datetime

    @property
    def grant(self) -> CreditGrant:
        return self.balances.grant


def grant_not_found(grant_id: str) -> NotFound:
    return NotFound(
        f"credit grant {clip(grant_id)!r} not found",
        reason=reasons.CREDIT_GRANT_NOT_FOUND,
        metadata={"id": clip(grant_id)},
    )


class GrantUseCases:
    def __init__(self, database: Database, store: CreditStore, clock: Clock) -> None:
        self._database = database
        self._store = store
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    async def customer_now(
        self, db: AsyncConnection, customer_id: str, now: datetime | None = None
    ) -> datetime:
        """The customer's now: its test clock's time, else the wall clock's (``now``, or
        read now) (I-18)."""
        return customer_now(await self._store.clock_time_of(db, customer_id), now or self._clock.now())

    async def create(self, session: AsyncSession, new: NewGrant) -> GrantView:
        """C-1, C-4, X-5: under the customer's lock, validate (a grant without effective
        time takes the customer's now), check the unused-grant limit and the total the
        customer's live grants may reach, and post the credits_granted transaction
        (effective at the grant's effective time)."""
        db = await session.connection()
        now = self._clock.now()
        await self._store.lock_customer(db, new.customer_id, now)
        as_of = await self.customer_now(db, new.customer_id, now)
        grant = validate_new_grant(
            grant_id=ids.new_id(ids.CREDIT_GRANT),
            customer_id=new.customer_id,
            currency=new.currency,
            amount_minor=new.amount_minor,
            name=new.name,
            applicability=new.applicability,
            category=new.category,
            priority=new.priority,
            effective_at=new.effective_at,
            expires_at=new.expires_at,
            metadata=new.metadata,
            now=now,
            customer_now=as_of,
        )
        ensure_grant_limit(await self._store.count_unused(db, grant.customer_id, as_of))
        ensure_credit_total(await self._store.live_total(db, grant.customer_id, new.currency), grant.amount)
        await self._store.insert_grant(db, grant)
        granted = Posting(
            grant_id=grant.id,
            kind=TransactionKind.CREDITS_GRANTED,
            amount=grant.amount,
            effective_at=grant.effective_at,
        )
        await self._store.post(db, grant.customer_id, [granted], now)
        return GrantView(await self._reread(db, grant.id), as_of)

    async def get(self, grant_id: str, as_of: datetime | None = None) -> GrantView:
        """The grant, shown at ``as_of`` or else its customer's now (one statement)."""
        async with reading(self._database) as db:
            found, clock_time = await self._store.grant_and_clock(db, grant_id)
        if found is None:
            raise grant_not_found(grant_id)
        return GrantView(found, as_of or clock_time or self._clock.now())

    async def list(
        self,
        customer_id: str,
        status: GrantState | None,
        as_of: datetime | None,
        after: list[object] | None,
        limit: int,
    ) -> tuple[list[GrantBalances], datetime]:
        """The grants judged at ``as_of`` or else the customer's now, and that moment."""
        async with reading(self._database) as db:
            moment = as_of or await self.customer_now(db, customer_id)
            return await self._store.list_grants(db, customer_id, status, moment, after, limit), moment

    async def update(self, session: AsyncSession, changes: GrantChanges) -> GrantView:
        """C-3: only expire_time (moved or cleared) and metadata change."""
        db = await session.connection()
        now = self._clock.now()
        current = await self._locked(db, changes.grant_id, now)
        now = await self.customer_now(db, current.grant.customer_id, now)
        updated = update_grant(
            current.grant,
            changes.paths,
            ledger_balance=current.ledger,
            expires_at=changes.expires_at,
            metadata=changes.metadata,
            as_of=now,
        )
        await self._store.save_grant(db, updated)
        return GrantView(await self._reread(db, changes.grant_id), now)

    async def expire(self, session: AsyncSession, grant_id: str) -> GrantView:
        """C-3: end the grant at the customer's now; its remaining ledger balance becomes
        a credits_expired debit and drafts' holds on it are dropped."""
        db = await session.connection()
        now = self._clock.now()
        current = await self._locked(db, grant_id, now)
        as_of = await self.customer_now(db, current.grant.customer_id, now)
        expired, debit = expire_grant(current.grant, current.ledger, as_of)
        await self._store.save_grant(db, expired, expiry_posted_at=as_of)
        await self._store.post(db, expired.customer_id, [debit] if debit else [], now)
        await self._store.drop_holds_on(db, [grant_id])
        return GrantView(await self._reread(db, grant_id), as_of)

    async def void(self, session: AsyncSession, grant_id: str) -> GrantView:
        """C-3: void a grant none of whose credit was ever applied; debit the whole amount."""
        db = await session.connection()
        now = self._clock.now()
        current = await self._locked(db, grant_id, now)
        as_of = await self.customer_now(db, current.grant.customer_id, now)
        totals = LedgerTotals.of(
            current.grant.amount.currency, await self._store.postings_of_grant(db, grant_id)
        )
        voided, debit = void_grant(current.grant, totals, as_of)
        await self._store.save_grant(db, voided)
        await self._store.post(db, voided.customer_id, [debit], now)
        await self._store.drop_holds_on(db, [grant_id])
        return GrantView(await self._reread(db, grant_id), as_of)

    async def _locked(self, db: AsyncConnection, grant_id: str, now: datetime) -> GrantBalances:
        """The grant under its customer's lock, then its own (the fixed order, C-14)."""
        customer_id = await self._store.customer_of_grant(db, grant_id)
        if customer_id is None:
            raise grant_not_found(grant_id)
        await self._store.lock_customer(db, customer_id, now)
        locked = await self._store.grant(db, grant_id, for_update=True)
        assert locked is not None  # grants are never deleted
        return locked

    async def _reread(self, db: AsyncConnection, grant_id: str) -> GrantBalances:
        found = await self._store.grant(db, grant_id)
        if found is None:
            raise grant_not_found(grant_id)
        return found
