"""Draft-invoice holds and invoice applications (C-13, C-14): what each invoice holds or drew.

A hold lowers its grants' available balance, never their ledger; a new hold for an
invoice replaces the previous one. An application is recorded once per invoice, in the
statement that posts its ``credits_applied`` debits and ends its hold, and keeps the
allocation it posted for every later call; a reinstatement (C-15) is recorded on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb

from credits_service.domain.drawdown import Allocation
from credits_service.store.ledger import (
    MOVE_BALANCES,
    POSTED,
    TransactionRecord,
    new_records,
    posting_params,
)
from credits_service.store.schema import credit_holds as H
from credits_service.store.schema import invoice_applications as A
from credits_service.store.sql import Repository
from drawdown.db.engine import fetch as _fetch
from drawdown.db.engine import send as _send
from drawdown.money import Money


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


def application_of(row: Any) -> ApplicationRecord:
    entries = tuple(
        AllocationEntry(line_id, grant_id, Money(row.currency, amount), transaction_id)
        for line_id, grant_id, amount, transaction_id in row.allocation
    )
    reinstated = row.reinstatement_transaction_ids
    return ApplicationRecord(
        row.customer_id,
        StoredAllocation(row.invoice_id, row.currency, entries),
        None if reinstated is None else tuple(reinstated),
    )


_RELEASE_HOLD = f"DELETE FROM {H.fullname} WHERE invoice_id = %(invoice_id)s"
_RELEASE_HOLDS = f"DELETE FROM {H.fullname} WHERE invoice_id = ANY(%(invoice_ids)s::text[])"

# Drops the invoices' holds and inserts the new ones in one round trip. The one-time
# filter on the count makes the DELETE run to completion before the first row is
# inserted, so the new rows never meet the old ones' (invoice_id, position) keys.
_REPLACE_HOLDS = f"""
    WITH released AS ({_RELEASE_HOLDS} RETURNING 1)
    INSERT INTO {H.fullname} (invoice_id, position, customer_id, grant_id, line_id, currency,
                              amount_minor, create_time)
    SELECT e.invoice_id, e.position, e.customer_id, e.grant_id, e.line_id, e.currency, e.amount_minor, %(now)s
      FROM unnest(%(hold_invoice_ids)s::text[], %(positions)s::int[], %(customer_ids)s::text[],
                  %(grant_ids)s::text[], %(line_ids)s::text[], %(currencies)s::text[], %(amounts)s::bigint[])
           AS e(invoice_id, position, customer_id, grant_id, line_id, currency, amount_minor)
     WHERE (SELECT count(*) FROM released) >= 0"""

APPLICATIONS = f"SELECT * FROM {A.fullname} WHERE invoice_id = ANY(%(invoice_ids)s::text[])"

# Finalization in one round trip (C-13): post the credits_applied debits, move the
# grants' balances, end the drafts' holds and record the applications.
_RECORD_APPLICATIONS = f"""
    WITH {POSTED},
    released AS ({_RELEASE_HOLDS}),
    recorded AS (
        INSERT INTO {A.fullname} (invoice_id, customer_id, currency, allocation, applied_at)
        SELECT a.invoice_id, a.customer_id, a.currency, a.allocation, %(now)s
          FROM unnest(%(invoice_ids)s::text[], %(customer_ids)s::text[], %(currencies)s::text[],
                      %(allocations)s::jsonb[]) AS a(invoice_id, customer_id, currency, allocation)
    )
    {MOVE_BALANCES}"""


class HoldRepository(Repository):
    """Holds and invoice applications."""

    __slots__ = ()

    # -- holds ------------------------------------------------------------------------

    async def get(self, invoice_id: str, customer_id: str) -> StoredAllocation | None:
        """The invoice's hold, if it has one."""
        rows = (
            await self._db.execute(
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

    async def replace(self, customer_id: str, allocation: StoredAllocation, now: datetime) -> None:
        """C-13: the invoice's hold becomes ``allocation`` (the previous one is dropped)."""
        await self.replace_many([(customer_id, allocation)], now)

    async def replace_many(self, holds: Sequence[tuple[str, StoredAllocation]], now: datetime) -> None:
        """``replace`` for (customer id, allocation) pairs of distinct invoices, in one statement."""
        rows = [
            (allocation.invoice_id, position, customer_id, entry)
            for customer_id, allocation in holds
            for position, entry in enumerate(allocation.entries)
        ]
        await _send(
            self._db,
            _REPLACE_HOLDS,
            {
                "invoice_ids": [allocation.invoice_id for _, allocation in holds],
                "now": now,
                "hold_invoice_ids": [invoice_id for invoice_id, _, _, _ in rows],
                "positions": [position for _, position, _, _ in rows],
                "customer_ids": [customer_id for _, _, customer_id, _ in rows],
                "grant_ids": [entry.grant_id for _, _, _, entry in rows],
                "line_ids": [entry.line_id for _, _, _, entry in rows],
                "currencies": [entry.amount.currency for _, _, _, entry in rows],
                "amounts": [entry.amount.minor for _, _, _, entry in rows],
            },
        )

    async def release(self, invoice_id: str) -> None:
        """Drop the invoice's hold (C-13)."""
        await _send(self._db, _RELEASE_HOLD, {"invoice_id": invoice_id})

    async def drop_on(self, grant_ids: Iterable[str]) -> None:
        """Holds on grants that ended (expired, voided) count for nothing; drop them."""
        await self._db.execute(sa.delete(H).where(H.c.grant_id.in_(list(grant_ids))))

    # -- invoice applications ---------------------------------------------------------

    async def application(self, invoice_id: str) -> ApplicationRecord | None:
        return (await self.applications([invoice_id])).get(invoice_id)

    async def applications(self, invoice_ids: Sequence[str]) -> dict[str, ApplicationRecord]:
        """The recorded applications of those of ``invoice_ids`` that were applied."""
        return {
            row.invoice_id: application_of(row)
            for row in await _fetch(self._db, APPLICATIONS, {"invoice_ids": list(invoice_ids)})
        }

    async def record_applications(
        self, applied: Sequence[tuple[str, Allocation, datetime]], now: datetime
    ) -> tuple[list[StoredAllocation], list[TransactionRecord]]:
        """C-13: for each (customer id, allocation, effective time), post its
        credits_applied debits (one per grant per line), release the invoice's hold and
        record the application; all in one statement. Returns the applications as
        recorded (each entry naming its transaction), in the order given, and the
        transactions posted, in posting order."""
        postings = [
            (customer_id, posting)
            for customer_id, allocation, effective_at in applied
            for posting in allocation.to_postings(effective_at)
        ]
        records = new_records(postings, now)
        transaction_ids = iter(record.id for record in records)
        recorded = [
            StoredAllocation(
                allocation.invoice_id,
                allocation.currency,
                tuple(
                    AllocationEntry(a.line_id, a.grant_id, a.amount, next(transaction_ids))
                    for a in allocation.applications
                ),
            )
            for _, allocation, _ in applied
        ]
        await _send(
            self._db,
            _RECORD_APPLICATIONS,
            {
                "now": now,
                **posting_params(records),
                "invoice_ids": [allocation.invoice_id for allocation in recorded],
                "customer_ids": [customer_id for customer_id, _, _ in applied],
                "currencies": [allocation.currency for allocation in recorded],
                "allocations": [
                    Jsonb(
                        [
                            [e.line_id, e.grant_id, e.amount.minor, e.transaction_id]
                            for e in allocation.entries
                        ]
                    )
                    for allocation in recorded
                ],
            },
        )
        return recorded, records

    async def record_reinstatement(
        self, invoice_id: str, transaction_ids: Sequence[str], now: datetime
    ) -> None:
        await self._db.execute(
            sa.update(A)
            .where(A.c.invoice_id == invoice_id)
            .values(reinstated_at=now, reinstatement_transaction_ids=list(transaction_ids))
        )
