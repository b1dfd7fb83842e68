"""Invoice-facing use cases: hold, apply, release, reinstate, preview, expire (C-10..C-15).

Each call for a customer first takes the customer's lock, then its grants' (by id), so
all draws of one customer serialize (C-14) without deadlock. A batch (a period close or a
finalization run) locks all its customers, each once, in id order, then their grants by
id: the same order, so batches and single calls never deadlock each other. The allocation
itself is the pure engine's (``domain.drawdown``); here it is only loaded, stored and
posted, with the events of what was posted (E-1): a transaction event per posting and a
``credit_grant.depleted`` per grant an application empties. Holds post nothing, so they
record none.

An invoice without ``as_of`` is judged at its customer's now: the customer's test clock
time when it lives on one (I-18), read in the same round trip as the grants, else the
wall clock's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

from credits_service.domain import reasons
from credits_service.domain.balances import GrantBalances, depleted_by
from credits_service.domain.drawdown import (
    Allocation,
    GrantBalance,
    Invoice,
    allocate_credits,
    in_grant_order,
    plan_reinstatement,
)
from credits_service.domain.grants import CreditGrant, due_expiry, grant_state, rolled_over
from credits_service.domain.ledger import Posting, TransactionKind
from credits_service.domain.limits import clip
from credits_service.service.events import Change, record_events, transactions_posted
from credits_service.service.grants import GrantView, grant_event
from credits_service.store.draws import BatchDraw
from credits_service.store.holds import StoredAllocation
from credits_service.store.ledger import TransactionRecord, new_transaction_id
from credits_service.store.unit import CreditRepositories, RawReading
from drawdown import ids
from drawdown.clock import Clock
from drawdown.db.engine import Database
from drawdown.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, for_batch_entry
from drawdown.events import types
from drawdown.metrics import CREDITS_APPLIED
from drawdown.money import Money

# A period close or finalization run sends its invoices in batches of at most this many.
MAX_BATCH_INVOICES = 500


@dataclass(frozen=True)
class BatchItem:
    """An invoice of a batch call that is not a replay: its position in the batch, its
    request id (which its events carry), and, when that id was used for another request,
    that refusal (REQUEST_ID_REUSED), which an apply answers otherwise for an invoice
    already applied."""

    index: int
    invoice: Invoice
    request_id: str = ""
    reused: AlreadyExists | None = None

    def error(self, error: DomainError) -> DomainError:
        """``error`` named by the item's position: ``requests[index]``."""
        return for_batch_entry(error, self.index)


@dataclass(frozen=True)
class ExpirySweep:
    """What ExpireDueCreditGrants recorded."""

    expired_grants: int
    transactions: int


class InvoiceCreditUseCases:
    def __init__(self, database: Database, clock: Clock) -> None:
        self._database = database
        self._clock = clock

    async def hold(self, uow: CreditRepositories, invoice: Invoice) -> StoredAllocation:
        """C-13: compute the draft's allocation and make it the invoice's hold (replacing
        any earlier one). Refused once the invoice's credits were applied.

        ``uow`` is on the call's transaction (a raw one on the hot path): the customer's
        lock and the grants with the applied check in one round trip, then the new hold."""
        now = self._clock.now()
        draw = await uow.draws.lock_for_draw(
            invoice.customer_id, invoice.id, now, clock=invoice.as_of is None
        )
        if draw.applied:
            raise _already_applied(invoice.id)
        invoice = invoice.judged_at(draw.clock_time or now)
        allocation = StoredAllocation.unposted(_allocation(invoice, draw.grants))
        await uow.holds.replace(invoice.customer_id, allocation, now)
        return allocation

    async def apply(self, uow: CreditRepositories, invoice: Invoice) -> StoredAllocation:
        """C-13, C-14: post the finalized invoice's allocation once per invoice; once it is
        applied, any later call (other amounts) gets the original allocation. ``uow`` is on
        the call's transaction: the customer's lock and the grants with the applied check
        in one round trip, then one statement that posts, drops the hold and records the
        application."""
        now = self._clock.now()
        draw = await uow.draws.lock_for_draw(
            invoice.customer_id, invoice.id, now, clock=invoice.as_of is None
        )
        if draw.applied:
            recorded = await uow.holds.application(invoice.id)
            assert recorded is not None  # applications are never deleted
            return recorded.allocation
        invoice = invoice.judged_at(draw.clock_time or now)
        assert invoice.as_of is not None
        allocation = _allocation(invoice, draw.grants)
        [recorded_now], posted = await uow.holds.record_applications(
            [(invoice.customer_id, allocation, invoice.as_of)], now
        )
        record_events(uow, _application_events(invoice, draw.grants, allocation, posted))
        count_applied(uow, posted)
        return recorded_now

    async def applied_despite_reuse(self, invoice_id: str, reused: AlreadyExists) -> StoredAllocation:
        """The answer to an apply whose request id was used for another request: for an
        invoice already applied, its allocation (a retry with other amounts still learns
        what was applied, C-14); else the refusal itself (REQUEST_ID_REUSED)."""
        if reused.reason != reasons.REQUEST_ID_REUSED:
            raise reused
        async with RawReading(self._database) as uow:
            recorded = await uow.holds.application(invoice_id)
        if recorded is None:
            raise reused
        return recorded.allocation

    async def release(
        self, uow: CreditRepositories, invoice_id: str, customer_id: str
    ) -> StoredAllocation | None:
        """C-13: drop a draft's hold; nothing to release is a success. Refused once applied."""
        await uow.customers.lock(customer_id, self._clock.now())
        if await uow.holds.application(invoice_id) is not None:
            raise _already_applied(invoice_id)
        hold = await uow.holds.get(invoice_id, customer_id)
        await uow.holds.release(invoice_id)
        return hold

    async def reinstate(
        self, uow: CreditRepositories, invoice_id: str, customer_id: str, as_of: datetime | None
    ) -> list[TransactionRecord]:
        """C-15: give a voided invoice's credits back, one credit per grant, expiring at
        once what returns to an expired grant; at ``as_of``, else the customer's now.
        Once per invoice: later calls get the same transactions (C-14)."""
        now = self._clock.now()
        await uow.customers.lock(customer_id, now)
        recorded = await uow.holds.application(invoice_id)
        if recorded is None or recorded.customer_id != customer_id:
            raise FailedPrecondition(
                f"no credits were applied to invoice {clip(invoice_id)!r} of customer {clip(customer_id)!r}",
                reason=reasons.INVOICE_NOT_APPLIED,
                metadata={"invoice_id": clip(invoice_id)},
            )
        if recorded.reinstatement_transaction_ids is not None:
            return await uow.ledger.transactions_by_id(recorded.reinstatement_transaction_ids)
        as_of = as_of or await uow.customers.clock_time_of(customer_id) or now
        grants = {g.grant.id: g for g in await uow.grants.of_customer(customer_id, lock=True)}
        postings = await uow.ledger.postings_of_invoice(invoice_id)
        states = {
            grant_id: grant_state(grants[grant_id].grant, grants[grant_id].ledger, as_of)
            for grant_id in {p.grant_id for p in postings}
        }
        plan = plan_reinstatement(invoice_id, postings, states, as_of)
        posted = await uow.ledger.post(customer_id, plan, now)
        await uow.holds.record_reinstatement(invoice_id, [record.id for record in posted], now)
        record_events(uow, transactions_posted(posted))
        return posted

    async def preview(self, invoice: Invoice) -> StoredAllocation:
        """C-13, I-14: the allocation the invoice would get now; holds and posts nothing."""
        async with RawReading(self._database) as uow:
            grants, clock_time = await uow.draws.grants_to_preview(
                invoice.customer_id, invoice.id, clock=invoice.as_of is None
            )
        invoice = invoice.judged_at(clock_time or self._clock.now())
        return StoredAllocation.unposted(_allocation(invoice, grants))

    async def expire_due(
        self, uow: CreditRepositories, as_of: datetime, only: Sequence[str], excluding: Sequence[str]
    ) -> ExpirySweep:
        """C-3, C-20: post the expiry of every grant due at ``as_of`` (a credits_expired
        debit of what is left, dated at its expire_time) and drop holds on them; each
        grant's expiry is recorded once, as is each debit (E-1). A grant with a rollover
        (R-8) is continued by a new grant of what its debit took, up to the cap, the two
        ledger entries naming each other. Customers are locked one
        by one in id order, the order every sweep uses."""
        now = self._clock.now()
        expired = transactions = 0
        changes: list[Change] = []
        for customer_id in await uow.grants.customers_with_due_expiries(as_of, only, excluding):
            await uow.customers.lock(customer_id, now)
            due = await uow.grants.due(customer_id, as_of)
            debits = [debit for g in due if (debit := due_expiry(g.grant, g.ledger, as_of)) is not None]
            rollovers = _rollovers(due, debits, now)
            for rollover in rollovers:
                await uow.grants.insert(rollover.grant)
            postings, transaction_ids = _linked(debits, rollovers)
            posted = await uow.ledger.post(customer_id, postings, now, transaction_ids)
            for g in due:
                await uow.grants.save(g.grant, expiry_posted_at=as_of)
            await uow.holds.drop_on([g.grant.id for g in due])
            expired += len(due)
            transactions += len(debits)
            changes += [grant_event(types.CREDIT_GRANT_EXPIRED, GrantView(_expired(g), as_of)) for g in due]
            changes += [
                grant_event(types.CREDIT_GRANT_CREATED, GrantView(_granted(r.grant), as_of))
                for r in rollovers
            ]
            changes += transactions_posted(posted)
        record_events(uow, changes)
        return ExpirySweep(expired, transactions)

    # -- batches (a period close or a finalization run) -------------------------------

    async def hold_batch(self, uow: CreditRepositories, items: Sequence[BatchItem]) -> list[StoredAllocation]:
        """``hold`` for each item's invoice (distinct), in one transaction: all are held or
        none. Each draft is allocated after the ones before it, as single calls in that
        order would be. An item whose request id was reused is refused. The batch was
        checked whole first (``ensure_distinct_invoices``)."""
        for item in items:
            if item.reused is not None:
                raise item.error(item.reused)
        now = self._clock.now()
        read, drafts = await self._lock_batch(uow, items, now)
        for item, draft in zip(items, drafts, strict=True):
            if draft.id in read.applications:
                raise item.error(_already_applied(draft.id))
        books = _Books(read.grants, read.own_holds)
        holds = []
        for draft in drafts:
            allocation = books.allocate(draft)
            books.hold(draft.id, allocation)
            holds.append((draft.customer_id, StoredAllocation.unposted(allocation)))
        await uow.holds.replace_many(holds, now)
        return [held for _, held in holds]

    async def apply_batch(
        self, uow: CreditRepositories, items: Sequence[BatchItem]
    ) -> list[StoredAllocation]:
        """``apply`` for each item's invoice (distinct) in one transaction: all are applied
        (or answered with their recorded application) or nothing is posted. Invoices are
        allocated in order. An item whose request id was reused is refused unless its
        invoice is already applied (``applied_despite_reuse``). The batch was checked whole
        first (``ensure_distinct_invoices``)."""
        now = self._clock.now()
        read, finals = await self._lock_batch(uow, items, now)
        recorded = read.applications
        for item, final in zip(items, finals, strict=True):
            if item.reused is not None and final.id not in recorded:
                raise item.error(item.reused)
        books = _Books(read.grants, read.own_holds)
        drawn = []
        for item, final in zip(items, finals, strict=True):
            if final.id not in recorded:
                balances = books.balances(final)
                allocation = _allocation(final, balances)
                books.apply(final.id, allocation)
                drawn.append(_Drawn(item, final, balances, allocation))
        applied, posted = await uow.holds.record_applications(
            [(d.invoice.customer_id, d.allocation, d.invoice.as_of) for d in drawn], now
        )
        record_events(uow, _batch_application_events(drawn, posted))
        count_applied(uow, posted)
        results = {allocation.invoice_id: allocation for allocation in applied}
        results.update((invoice_id, record.allocation) for invoice_id, record in recorded.items())
        return [results[final.id] for final in finals]

    async def _lock_batch(
        self, uow: CreditRepositories, items: Sequence[BatchItem], now: datetime
    ) -> tuple[BatchDraw, list[Invoice]]:
        """The batch's customers locked and their grants read (``lock_for_batch``), and its
        invoices judged at their customers' now where they give no ``as_of``."""
        invoices = [item.invoice for item in items]
        read = await uow.draws.lock_for_batch(
            (invoice.customer_id for invoice in invoices),
            [invoice.id for invoice in invoices],
            now,
            clock=any(invoice.as_of is None for invoice in invoices),
        )
        return read, [
            invoice.judged_at(read.clock_times.get(invoice.customer_id) or now) for invoice in invoices
        ]


class _Books:
    """A batch's customers' grants as the batch moves them: each grant's ledger balance
    and holds, and what each of the batch's invoices holds. Every invoice is allocated
    from what the invoices before it left, as it would be by single calls in that order."""

    def __init__(self, grants: Sequence[GrantBalances], own_holds: Mapping[tuple[str, str], int]) -> None:
        self._grants: dict[str, list[CreditGrant]] = {}
        self._ledger: dict[str, int] = {}
        self._held: dict[str, int] = {}
        for balances in grants:
            grant = balances.grant
            self._grants.setdefault(grant.customer_id, []).append(grant)
            self._ledger[grant.id] = balances.ledger.minor
            self._held[grant.id] = balances.held.minor
        self._own: dict[str, dict[str, int]] = {}
        for (invoice_id, grant_id), held in own_holds.items():
            self._own.setdefault(invoice_id, {})[grant_id] = held

    def balances(self, invoice: Invoice) -> list[GrantBalances]:
        """The invoice's customer's grants now, net of other invoices' holds (C-20)."""
        own = self._own.get(invoice.id, {})
        return [
            GrantBalances(
                grant,
                Money(grant.amount.currency, self._ledger[grant.id]),
                Money(grant.amount.currency, self._held[grant.id] - own.get(grant.id, 0)),
            )
            for grant in self._grants.get(invoice.customer_id, [])
        ]

    def allocate(self, invoice: Invoice) -> Allocation:
        """C-10..C-12 over the customer's grants now (``balances``)."""
        return _allocation(invoice, self.balances(invoice))

    def hold(self, invoice_id: str, allocation: Allocation) -> None:
        """The invoice's hold becomes ``allocation`` (C-13)."""
        self._release(invoice_id)
        held = {grant_id: amount.minor for grant_id, amount in allocation.per_grant.items()}
        for grant_id, amount in held.items():
            self._held[grant_id] += amount
        self._own[invoice_id] = held

    def apply(self, invoice_id: str, allocation: Allocation) -> None:
        """The allocation is posted and the invoice's hold dropped (C-13)."""
        for grant_id, amount in allocation.per_grant.items():
            self._ledger[grant_id] -= amount.minor
        self._release(invoice_id)

    def _release(self, invoice_id: str) -> None:
        for grant_id, amount in self._own.pop(invoice_id, {}).items():
            if grant_id in self._held:
                self._held[grant_id] -= amount


def ensure_batch_size(count: int) -> None:
    """A batch of hold or apply calls has at most ``MAX_BATCH_INVOICES`` entries."""
    if count > MAX_BATCH_INVOICES:
        raise InvalidArgument.for_field(
            "requests", f"at most {MAX_BATCH_INVOICES} invoices per call", reason=reasons.BATCH_TOO_LARGE
        )


def ensure_distinct_invoices(invoices: Sequence[Invoice]) -> None:
    """A batch names each invoice once: its entries are applied together, not in turn."""
    first: dict[str, int] = {}
    for index, invoice in enumerate(invoices):
        if invoice.id in first:
            raise for_batch_entry(
                InvalidArgument.for_field(
                    "invoice.invoice_id", f"repeats the invoice of requests[{first[invoice.id]}]"
                ),
                index,
            )
        first[invoice.id] = index


def _allocation(invoice: Invoice, grants: Sequence[GrantBalances]) -> Allocation:
    """C-10..C-12: the invoice's allocation from the customer's grants and their balances
    net of other invoices' holds, listed in grant order (C-11, C-12)."""
    balances = [GrantBalance(g.grant, g.available(invoice.as_of)) for g in grants]
    return in_grant_order(allocate_credits(invoice, balances), [g.grant for g in grants], invoice)


def count_applied(uow: CreditRepositories, posted: Sequence[TransactionRecord]) -> None:
    """O-4: once the change commits, the credits its applications drew, by currency."""
    if not posted:
        return
    drawn: dict[str, int] = {}
    for transaction in posted:
        amount = transaction.posting.amount
        drawn[amount.currency] = drawn.get(amount.currency, 0) + amount.minor

    def count() -> None:
        for currency, minor in drawn.items():
            CREDITS_APPLIED.labels(currency).inc(minor)

    uow.after_commit(count)


def _application_events(
    invoice: Invoice,
    grants: Sequence[GrantBalances],
    allocation: Allocation,
    posted: Sequence[TransactionRecord],
    request_id: str = "",
) -> list[Change]:
    """E-1: an application's events, none when it posted nothing: one per credits_applied
    transaction, then a ``credit_grant.depleted`` per grant it left with a zero ledger
    balance (from ``grants``, as the application found them), shown at its moment."""
    if not posted:
        return []
    assert invoice.as_of is not None
    depleted = [
        grant_event(types.CREDIT_GRANT_DEPLETED, GrantView(balances, invoice.as_of), request_id)
        for balances in depleted_by(grants, allocation.per_grant)
    ]
    return [*transactions_posted(posted, request_id), *depleted]


class _Drawn(NamedTuple):
    """An application of a batch: its entry, its invoice (judged), the customer's grants as
    it found them and its allocation."""

    item: BatchItem
    invoice: Invoice
    grants: Sequence[GrantBalances]
    allocation: Allocation


def _batch_application_events(drawn: Sequence[_Drawn], posted: Sequence[TransactionRecord]) -> list[Change]:
    """``_application_events`` of each application of a batch, with its entry's request id."""
    if not posted:
        return []
    posted_for: dict[str | None, list[TransactionRecord]] = {}
    for transaction in posted:
        posted_for.setdefault(transaction.posting.invoice_id, []).append(transaction)
    return [
        change
        for d in drawn
        for change in _application_events(
            d.invoice, d.grants, d.allocation, posted_for.get(d.invoice.id, []), d.item.request_id
        )
    ]


def _expired(due: GrantBalances) -> GrantBalances:
    """A grant as the expiry sweep leaves it: its expiry took what the ledger had left and
    its holds were dropped (C-3)."""
    zero = Money.zero(due.grant.amount.currency)
    return GrantBalances(due.grant, zero, zero)


def _already_applied(invoice_id: str) -> FailedPrecondition:
    return FailedPrecondition(
        f"credits of invoice {clip(invoice_id)!r} were already applied",
        reason=reasons.INVOICE_ALREADY_APPLIED,
        metadata={"invoice_id": clip(invoice_id)},
    )


@dataclass(frozen=True)
class _Rollover:
    """R-8: the grant a due expiry carries on, and its expiry debit's index in the sweep."""

    debit_index: int
    grant: CreditGrant


def _rollovers(due: Sequence[GrantBalances], debits: Sequence[Posting], now: datetime) -> list[_Rollover]:
    """R-8: for each expiry debit of a grant with a rollover, the grant it becomes (what
    the debit takes, up to the cap)."""
    grants = {g.grant.id: g.grant for g in due}
    found = []
    for index, debit in enumerate(debits):
        continued = rolled_over(grants[debit.grant_id], debit.amount, ids.new_id(ids.CREDIT_GRANT), now)
        if continued is not None:
            found.append(_Rollover(index, continued))
    return found


def _linked(debits: Sequence[Posting], rollovers: Sequence[_Rollover]) -> tuple[list[Posting], list[str]]:
    """The sweep's postings and their transaction ids: the expiry debits, then each
    rollover's credits_granted, a rollover's debit and grant naming each other (R-8)."""
    debit_ids = [new_transaction_id() for _ in debits]
    granted_ids = [new_transaction_id() for _ in rollovers]
    postings = list(debits)
    granted = []
    for rollover, granted_id in zip(rollovers, granted_ids, strict=True):
        postings[rollover.debit_index] = dataclasses.replace(
            debits[rollover.debit_index], linked_transaction_id=granted_id
        )
        granted.append(
            Posting(
                grant_id=rollover.grant.id,
                kind=TransactionKind.CREDITS_GRANTED,
                amount=rollover.grant.amount,
                effective_at=rollover.grant.effective_at,
                linked_transaction_id=debit_ids[rollover.debit_index],
            )
        )
    return [*postings, *granted], [*debit_ids, *granted_ids]


def _granted(grant: CreditGrant) -> GrantBalances:
    """A grant just created, as its events show it: its whole amount on the ledger."""
    return GrantBalances(grant, grant.amount, Money.zero(grant.amount.currency))
