"""The credits repository: grants, the ledger, holds and invoice applications (SQL only).

Methods take the unit of work's ``AsyncConnection`` (``await session.connection()``):
Core statements on the connection skip the ORM session's per-statement overhead, which
halves the latency of the hot paths (balance reads, draws).

Every money movement of a customer runs after ``lock_customer`` (C-14): the customer's
row in ``credit_customers`` is locked first, then the grants it touches by id, so
concurrent draws serialize in one fixed order and never deadlock. ``post`` appends to
the ledger and moves the cached ``balance_minor`` in the same statement batch; the
CHECK ``balance_minor >= 0`` makes an overdraft impossible even for a buggy caller.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from credits_service.domain.balances import GrantBalances
from credits_service.domain.drawdown import Allocation
from credits_service.domain.grants import Applicability, CreditGrant, GrantCategory, GrantState
from credits_service.domain.ledger import Posting, TransactionKind
from credits_service.store.schema import (
    credit_customers,
    credit_grants,
    credit_holds,
    credit_transactions,
    invoice_applications,
)
from drawdown import ids
from drawdown.db.engine import Database
from drawdown.money import Money

G = credit_grants
T = credit_transactions
H = credit_holds
A = invoice_applications


@dataclass(frozen=True)
class TransactionRecord:
    """A posted ledger entry (C-22)."""

    id: str
    customer_id: str
    posting: Posting
    create_time: datetime


@dataclass(frozen=True)
class AllocationEntry:
    """One grant's credit on one line; ``transaction_id`` is set once posted (C-13)."""

    line_id: str
    grant_id: str
    amount: Money
    transaction_id: str = ""


@dataclass(frozen=True)
class StoredAllocation:
    """A hold, an application or a preview, in response order."""

    invoice_id: str
    currency: str
    entries: tuple[AllocationEntry, ...]

    @classmethod
    def unposted(cls, allocation: Allocation) -> StoredAllocation:
        entries = tuple(AllocationEntry(a.line_id, a.grant_id, a.amount) for a in allocation.applications)
        return cls(allocation.invoice_id, allocation.currency, entries)


@dataclass(frozen=True)
class ApplicationRecord:
    customer_id: str
    allocation: StoredAllocation
    reinstatement_transaction_ids: tuple[str, ...] | None


def status_condition(status: GrantState, as_of: datetime) -> sa.ColumnElement[bool]:
    """C-2 in SQL: the grants in ``status`` at ``as_of`` (voided, expired, pending, ... precedence)."""
    voided = G.c.voided_at.is_not(None)
    expired = sa.and_(G.c.voided_at.is_(None), G.c.expires_at.is_not(None), G.c.expires_at <= as_of)
    live = sa.and_(G.c.voided_at.is_(None), sa.or_(G.c.expires_at.is_(None), G.c.expires_at > as_of))
    conditions = {
        GrantState.VOIDED: voided,
        GrantState.EXPIRED: expired,
        GrantState.PENDING: sa.and_(live, G.c.effective_at > as_of),
        GrantState.DEPLETED: sa.and_(live, G.c.effective_at <= as_of, G.c.balance_minor == 0),
        GrantState.AVAILABLE: sa.and_(live, G.c.effective_at <= as_of, G.c.balance_minor > 0),
    }
    return conditions[status]


def _held_by_grant(customer_id: str, excluding_invoice: str | None) -> sa.Subquery:
    query = sa.select(H.c.grant_id, sa.func.sum(H.c.amount_minor).label("held")).where(
        H.c.customer_id == customer_id
    )
    if excluding_invoice:
        query = query.where(H.c.invoice_id != excluding_invoice)
    return query.group_by(H.c.grant_id).subquery("held")


def _grant_of(row: sa.Row) -> CreditGrant:
    return CreditGrant(
        id=row.id,
        customer_id=row.customer_id,
        amount=Money(row.currency, row.amount_minor),
        name=row.name,
        category=GrantCategory(row.category),
        priority=row.priority,
        applicability=Applicability(
            all_metered_prices=row.all_metered_prices, price_ids=tuple(row.price_ids)
        ),
        effective_at=row.effective_at,
        expires_at=row.expires_at,
        metadata=row.metadata,
        voided_at=row.voided_at,
        created_at=row.create_time,
        updated_at=row.update_time,
    )


def _record_of(row: sa.Row) -> GrantBalances:
    return GrantBalances(
        grant=_grant_of(row),
        ledger=Money(row.currency, row.balance_minor),
        held=Money(row.currency, int(row.held or 0)),
    )


def _transaction_of(row: sa.Row) -> TransactionRecord:
    posting = Posting(
        grant_id=row.grant_id,
        kind=TransactionKind(row.kind),
        amount=Money(row.currency, row.amount_minor),
        effective_at=row.effective_at,
        invoice_id=row.invoice_id,
        invoice_line_id=row.invoice_line_id,
    )
    return TransactionRecord(row.id, row.customer_id, posting, row.create_time)


@asynccontextmanager
async def reading(database: Database) -> AsyncIterator[AsyncConnection]:
    """A connection for reads outside a unit of work. Autocommit: each read is one
    statement (or needs no snapshot across statements), so BEGIN and ROLLBACK round trips
    would only add latency to the hot balance reads."""
    async with database.engine.connect() as connection:
        yield await connection.execution_options(isolation_level="AUTOCOMMIT")


class CreditStore:
    """SQL for the credits schema; every method runs in the caller's transaction."""

    # -- locks ------------------------------------------------------------------------

    async def lock_customer(self, db: AsyncConnection, customer_id: str, now: datetime) -> None:
        """Take the customer's lock (creating its row on first use); held until commit."""
        lock = (
            sa.select(credit_customers.c.customer_id)
            .where(credit_customers.c.customer_id == customer_id)
            .with_for_update()
        )
        if (await db.execute(lock)).first() is not None:
            return
        await db.execute(
            insert(credit_customers).values(customer_id=customer_id, create_time=now).on_conflict_do_nothing()
        )
        await db.execute(lock)

    # -- grants -----------------------------------------------------------------------

    async def insert_grant(self, db: AsyncConnection, grant: CreditGrant) -> None:
        await db.execute(
            sa.insert(G).values(
                id=grant.id,
                customer_id=grant.customer_id,
                currency=grant.amount.currency,
                amount_minor=grant.amount.minor,
                name=grant.name,
                category=str(grant.category),
                priority=grant.priority,
                all_metered_prices=grant.applicability.all_metered_prices,
                price_ids=list(grant.applicability.price_ids),
                effective_at=grant.effective_at,
                expires_at=grant.expires_at,
                metadata=dict(grant.metadata),
                balance_minor=0,
                create_time=grant.created_at,
                update_time=grant.updated_at,
            )
        )

    async def save_grant(
        self, db: AsyncConnection, grant: CreditGrant, *, expiry_posted_at: datetime | None = None
    ) -> None:
        """Store the mutable fields (C-3) and, when given, when the expiry was recorded."""
        values: dict[str, object] = {
            "expires_at": grant.expires_at,
            "metadata": dict(grant.metadata),
            "voided_at": grant.voided_at,
            "update_time": grant.updated_at,
        }
        if expiry_posted_at is not None:
            values["expiry_posted_at"] = expiry_posted_at
        await db.execute(sa.update(G).where(G.c.id == grant.id).values(**values))

    async def grant(
        self, db: AsyncConnection, grant_id: str, *, for_update: bool = False
    ) -> GrantBalances | None:
        """One grant with its holds; ``for_update`` locks its row (after the customer's)."""
        held = sa.select(sa.func.coalesce(sa.func.sum(H.c.amount_minor), 0)).where(H.c.grant_id == G.c.id)
        query = sa.select(G, held.scalar_subquery().label("held")).where(G.c.id == grant_id)
        if for_update:
            query = query.with_for_update(of=G)
        row = (await db.execute(query)).first()
        return None if row is None else _record_of(row)

    async def customer_of_grant(self, db: AsyncConnection, grant_id: str) -> str | None:
        return (await db.execute(sa.select(G.c.customer_id).where(G.c.id == grant_id))).scalar()

    async def grants_of_customer(
        self,
        db: AsyncConnection,
        customer_id: str,
        *,
        excluding_hold_of: str | None = None,
        lock: bool = False,
        where: sa.ColumnElement[bool] | None = None,
    ) -> list[GrantBalances]:
        """The customer's grants (by id) with what other invoices' drafts hold on them."""
        held = _held_by_grant(customer_id, excluding_hold_of)
        query = (
            sa.select(G, held.c.held)
            .select_from(G.outerjoin(held, held.c.grant_id == G.c.id))
            .where(G.c.customer_id == customer_id)
            .order_by(G.c.id)
        )
        if where is not None:
            query = query.where(where)
        if lock:
            query = query.with_for_update(of=G)
        return [_record_of(row) for row in await db.execute(query)]

    async def list_grants(
        self,
        db: AsyncConnection,
        customer_id: str,
        status: GrantState | None,
        as_of: datetime,
        after: Sequence[object] | None,
        limit: int,
    ) -> list[GrantBalances]:
        """Newest first (create_time, id), keyset after ``after``."""
        held = _held_by_grant(customer_id, None)
        query = (
            sa.select(G, held.c.held)
            .select_from(G.outerjoin(held, held.c.grant_id == G.c.id))
            .where(G.c.customer_id == customer_id)
            .order_by(G.c.create_time.desc(), G.c.id.desc())
            .limit(limit)
        )
        if status is not None:
            query = query.where(status_condition(status, as_of))
        if after is not None:
            query = query.where(sa.tuple_(G.c.create_time, G.c.id) < sa.tuple_(*after))
        return [_record_of(row) for row in await db.execute(query)]

    async def count_unused(self, db: AsyncConnection, customer_id: str, as_of: datetime) -> int:
        """C-4: grants that are pending or available at ``as_of``."""
        unused = sa.or_(
            status_condition(GrantState.PENDING, as_of), status_condition(GrantState.AVAILABLE, as_of)
        )
        query = sa.select(sa.func.count()).select_from(G).where(G.c.customer_id == customer_id, unused)
        return (await db.execute(query)).scalar_one()

    async def customers_with_due_expiries(
        self, db: AsyncConnection, as_of: datetime, only: Sequence[str], excluding: Sequence[str]
    ) -> list[str]:
        query = sa.select(G.c.customer_id).where(*self._due(as_of)).distinct().order_by(G.c.customer_id)
        if only:
            query = query.where(G.c.customer_id.in_(list(only)))
        elif excluding:
            query = query.where(G.c.customer_id.not_in(list(excluding)))
        return list((await db.execute(query)).scalars())

    @staticmethod
    def _due(as_of: datetime) -> list[sa.ColumnElement[bool]]:
        return [G.c.expiry_posted_at.is_(None), G.c.voided_at.is_(None), G.c.expires_at <= as_of]

    async def due_grants(self, db: AsyncConnection, customer_id: str, as_of: datetime) -> list[GrantBalances]:
        """The customer's grants whose expiry is due and not recorded, locked (after the customer)."""
        return await self.grants_of_customer(db, customer_id, lock=True, where=sa.and_(*self._due(as_of)))

    # -- ledger -----------------------------------------------------------------------

    async def post(
        self, db: AsyncConnection, customer_id: str, postings: Sequence[Posting], now: datetime
    ) -> list[TransactionRecord]:
        """Append ``postings`` and move each grant's cached balance, in this transaction."""
        if not postings:
            return []
        records = [
            TransactionRecord(ids.new_id(ids.CREDIT_BALANCE_TRANSACTION), customer_id, p, now)
            for p in postings
        ]
        await db.execute(
            sa.insert(T),
            [
                {
                    "id": r.id,
                    "customer_id": customer_id,
                    "grant_id": r.posting.grant_id,
                    "kind": str(r.posting.kind),
                    "currency": r.posting.amount.currency,
                    "amount_minor": r.posting.amount.minor,
                    "effective_at": r.posting.effective_at,
                    "invoice_id": r.posting.invoice_id,
                    "invoice_line_id": r.posting.invoice_line_id,
                    "create_time": now,
                }
                for r in records
            ],
        )
        deltas: dict[str, int] = {}
        for posting in postings:
            deltas[posting.grant_id] = deltas.get(posting.grant_id, 0) + posting.signed_amount.minor
        await db.execute(
            sa.update(G)
            .where(G.c.id == sa.bindparam("grant_id"))
            .values(balance_minor=G.c.balance_minor + sa.bindparam("delta")),
            [{"grant_id": grant_id, "delta": delta} for grant_id, delta in sorted(deltas.items())],
        )
        return records

    async def postings_of_grant(self, db: AsyncConnection, grant_id: str) -> list[Posting]:
        """The grant's ledger in append order (C-23 checks, void's totals)."""
        query = sa.select(T).where(T.c.grant_id == grant_id).order_by(T.c.seq)
        return [_transaction_of(row).posting for row in await db.execute(query)]

    async def postings_of_invoice(self, db: AsyncConnection, invoice_id: str) -> list[Posting]:
        query = sa.select(T).where(T.c.invoice_id == invoice_id).order_by(T.c.seq)
        return [_transaction_of(row).posting for row in await db.execute(query)]

    async def transaction(self, db: AsyncConnection, transaction_id: str) -> TransactionRecord | None:
        row = (await db.execute(sa.select(T).where(T.c.id == transaction_id))).first()
        return None if row is None else _transaction_of(row)

    async def transactions_by_id(
        self, db: AsyncConnection, transaction_ids: Sequence[str]
    ) -> list[TransactionRecord]:
        """The transactions in the order of ``transaction_ids``."""
        rows = {
            row.id: _transaction_of(row)
            for row in await db.execute(sa.select(T).where(T.c.id.in_(list(transaction_ids))))
        }
        return [rows[transaction_id] for transaction_id in transaction_ids]

    async def list_transactions(
        self,
        db: AsyncConnection,
        customer_id: str,
        grant_id: str,
        after: Sequence[object] | None,
        limit: int,
    ) -> list[TransactionRecord]:
        """Newest first (create_time, id), keyset after ``after``; optionally one grant's."""
        query = sa.select(T).order_by(T.c.create_time.desc(), T.c.id.desc()).limit(limit)
        query = (
            query.where(T.c.grant_id == grant_id) if grant_id else query.where(T.c.customer_id == customer_id)
        )
        if after is not None:
            query = query.where(sa.tuple_(T.c.create_time, T.c.id) < sa.tuple_(*after))
        return [_transaction_of(row) for row in await db.execute(query)]

    # -- holds ------------------------------------------------------------------------

    async def hold_of(
        self, db: AsyncConnection, invoice_id: str, customer_id: str
    ) -> StoredAllocation | None:
        rows = (
            await db.execute(
                sa.select(H)
                .where(H.c.invoice_id == invoice_id, H.c.customer_id == customer_id)
                .order_by(H.c.position)
            )
        ).all()
        if not rows:
            return None
        entries = tuple(
            AllocationEntry(r.line_id, r.grant_id, Money(r.currency, r.amount_minor)) for r in rows
        )
        return StoredAllocation(invoice_id, rows[0].currency, entries)

    async def replace_hold(
        self, db: AsyncConnection, customer_id: str, allocation: StoredAllocation, now: datetime
    ) -> None:
        """C-13: the invoice's hold becomes ``allocation`` (the previous one is dropped)."""
        await self.release_hold(db, allocation.invoice_id)
        if allocation.entries:
            await db.execute(
                sa.insert(H),
                [
                    {
                        "invoice_id": allocation.invoice_id,
                        "position": position,
                        "customer_id": customer_id,
                        "grant_id": entry.grant_id,
                        "line_id": entry.line_id,
                        "currency": entry.amount.currency,
                        "amount_minor": entry.amount.minor,
                        "create_time": now,
                    }
                    for position, entry in enumerate(allocation.entries)
                ],
            )

    async def release_hold(self, db: AsyncConnection, invoice_id: str) -> None:
        await db.execute(sa.delete(H).where(H.c.invoice_id == invoice_id))

    async def drop_holds_on(self, db: AsyncConnection, grant_ids: Iterable[str]) -> None:
        """Holds on grants that ended (expired, voided) count for nothing; drop them."""
        await db.execute(sa.delete(H).where(H.c.grant_id.in_(list(grant_ids))))

    # -- invoice applications ---------------------------------------------------------

    async def application(self, db: AsyncConnection, invoice_id: str) -> ApplicationRecord | None:
        row = (await db.execute(sa.select(A).where(A.c.invoice_id == invoice_id))).first()
        if row is None:
            return None
        entries = tuple(
            AllocationEntry(line_id, grant_id, Money(row.currency, amount), transaction_id)
            for line_id, grant_id, amount, transaction_id in row.allocation
        )
        reinstated = row.reinstatement_transaction_ids
        return ApplicationRecord(
            row.customer_id,
            StoredAllocation(invoice_id, row.currency, entries),
            None if reinstated is None else tuple(reinstated),
        )

    async def record_application(
        self, db: AsyncConnection, customer_id: str, allocation: StoredAllocation, now: datetime
    ) -> None:
        await db.execute(
            sa.insert(A).values(
                invoice_id=allocation.invoice_id,
                customer_id=customer_id,
                currency=allocation.currency,
                allocation=[
                    [e.line_id, e.grant_id, e.amount.minor, e.transaction_id] for e in allocation.entries
                ],
                applied_at=now,
            )
        )

    async def record_reinstatement(
        self, db: AsyncConnection, invoice_id: str, transaction_ids: Sequence[str], now: datetime
    ) -> None:
        await db.execute(
            sa.update(A)
            .where(A.c.invoice_id == invoice_id)
            .values(reinstated_at=now, reinstatement_transaction_ids=list(transaction_ids))
        )
