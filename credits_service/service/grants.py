"""Credit grant use cases (C-1..C-5): one unit of work per RPC.

Every change to a grant's money runs under the customer's lock (``uow.customers.lock``)
and posts its ledger entry in the same transaction as the change, with its events (E-1):
the grant's (created, updated, expired, voided) and one per transaction posted.

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

from credits_service.domain import reasons
from credits_service.domain.balances import GrantBalances
from credits_service.domain.grants import (
    Applicability,
    CreditGrant,
    GrantCategory,
    GrantState,
    Rollover,
    ensure_credit_total,
    ensure_grant_limit,
    expire_grant,
    update_grant,
    validate_new_grant,
    void_grant,
)
from credits_service.domain.ledger import LedgerTotals, Posting, TransactionKind
from credits_service.domain.limits import clip
from credits_service.service.events import Change, record_events, transactions_posted
from credits_service.store.unit import CreditRepositories, reading
from drawdown import ids
from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.errors import NotFound
from drawdown.events import types
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
    rollover: Rollover | None = None


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


def grant_event(type: str, view: GrantView, request_id: str = "") -> Change:
    """The event ``type`` of the grant ``view`` shows, after the change (E-2)."""
    return Change(type, view.grant.customer_id, view, request_id)


def grant_not_found(grant_id: str) -> NotFound:
    return NotFound(
        f"credit grant {clip(grant_id)!r} not found",
        reason=reasons.CREDIT_GRANT_NOT_FOUND,
        metadata={"id": clip(grant_id)},
    )


class GrantUseCases:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    def now(self) -> datetime:
        return self._clock.now()

    async def customer_now(
        self, uow: CreditRepositories, customer_id: str, now: datetime | None = None
    ) -> datetime:
        """The customer's now: its test clock's time, else the wall clock's (``now``, or
        read now) (I-18)."""
        return customer_now(await uow.customers.clock_time_of(customer_id), now or self._clock.now())

    async def create(self, uow: CreditRepositories, new: NewGrant) -> GrantView:
        """C-1, C-4, X-5: under the customer's lock, validate (a grant without effective
        time takes the customer's now), check the unused-grant limit and the total the
        customer's live grants may reach, and post the credits_granted transaction
        (effective at the grant's effective time)."""
        now = self._clock.now()
        await uow.customers.lock(new.customer_id, now)
        as_of = await self.customer_now(uow, new.customer_id, now)
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
            rollover=new.rollover,
        )
        ensure_grant_limit(await uow.grants.count_unused(grant.customer_id, as_of))
        ensure_credit_total(await uow.grants.live_total(grant.customer_id, new.currency), grant.amount)
        await uow.grants.insert(grant)
        granted = Posting(
            grant_id=grant.id,
            kind=TransactionKind.CREDITS_GRANTED,
            amount=grant.amount,
            effective_at=grant.effective_at,
        )
        posted = await uow.ledger.post(grant.customer_id, [granted], now)
        created = GrantView(await self._reread(uow, grant.id), as_of)
        record_events(uow, [grant_event(types.CREDIT_GRANT_CREATED, created), *transactions_posted(posted)])
        return created

    async def get(self, grant_id: str, as_of: datetime | None = None) -> GrantView:
        """The grant, shown at ``as_of`` or else its customer's now (one statement)."""
        async with reading(self._database) as uow:
            found, clock_time = await uow.grants.get_with_clock(grant_id)
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
        async with reading(self._database) as uow:
            moment = as_of or await self.customer_now(uow, customer_id)
            return await uow.grants.page(customer_id, status, moment, after, limit), moment

    async def update(self, uow: CreditRepositories, changes: GrantChanges) -> GrantView:
        """C-3: only expire_time (moved or cleared) and metadata change."""
        now = self._clock.now()
        current = await self._locked(uow, changes.grant_id, now)
        now = await self.customer_now(uow, current.grant.customer_id, now)
        updated = update_grant(
            current.grant,
            changes.paths,
            ledger_balance=current.ledger,
            expires_at=changes.expires_at,
            metadata=changes.metadata,
            as_of=now,
        )
        await uow.grants.save(updated)
        view = GrantView(await self._reread(uow, changes.grant_id), now)
        record_events(uow, [grant_event(types.CREDIT_GRANT_UPDATED, view)])
        return view

    async def expire(self, uow: CreditRepositories, grant_id: str) -> GrantView:
        """C-3: end the grant at the customer's now; its remaining ledger balance becomes
        a credits_expired debit and drafts' holds on it are dropped."""
        now = self._clock.now()
        current = await self._locked(uow, grant_id, now)
        as_of = await self.customer_now(uow, current.grant.customer_id, now)
        expired, debit = expire_grant(current.grant, current.ledger, as_of)
        await uow.grants.save(expired, expiry_posted_at=as_of)
        posted = await uow.ledger.post(expired.customer_id, [debit] if debit else [], now)
        await uow.holds.drop_on([grant_id])
        view = GrantView(await self._reread(uow, grant_id), as_of)
        record_events(uow, [grant_event(types.CREDIT_GRANT_EXPIRED, view), *transactions_posted(posted)])
        return view

    async def void(self, uow: CreditRepositories, grant_id: str) -> GrantView:
        """C-3: void a grant none of whose credit was ever applied; debit the whole amount."""
        now = self._clock.now()
        current = await self._locked(uow, grant_id, now)
        as_of = await self.customer_now(uow, current.grant.customer_id, now)
        totals = LedgerTotals.of(current.grant.amount.currency, await uow.ledger.postings_of_grant(grant_id))
        voided, debit = void_grant(current.grant, totals, as_of)
        await uow.grants.save(voided)
        posted = await uow.ledger.post(voided.customer_id, [debit], now)
        await uow.holds.drop_on([grant_id])
        view = GrantView(await self._reread(uow, grant_id), as_of)
        record_events(uow, [grant_event(types.CREDIT_GRANT_VOIDED, view), *transactions_posted(posted)])
        return view

    async def _locked(self, uow: CreditRepositories, grant_id: str, now: datetime) -> GrantBalances:
        """The grant under its customer's lock, then its own (the fixed order, C-14)."""
        customer_id = await uow.grants.customer_of(grant_id)
        if customer_id is None:
            raise grant_not_found(grant_id)
        await uow.customers.lock(customer_id, now)
        locked = await uow.grants.get(grant_id, for_update=True)
        assert locked is not None  # grants are never deleted
        return locked

    async def _reread(self, uow: CreditRepositories, grant_id: str) -> GrantBalances:
        found = await uow.grants.get(grant_id)
        if found is None:
            raise grant_not_found(grant_id)
        return found
