"""The ledger (C-22): posting transactions, with the cached balances they move, and reading them.

``post`` appends to the ledger and moves the grants' cached ``balance_minor`` in one
statement; the CHECK ``balance_minor >= 0`` makes an overdraft impossible even for a
buggy caller. The ledger is append-only (a trigger refuses UPDATE and DELETE).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from credits_service.domain.ledger import Posting, TransactionKind
from credits_service.store.schema import credit_grants as G
from credits_service.store.schema import credit_transactions as T
from credits_service.store.sql import Repository
from drawdown import ids
from drawdown.db.engine import send as _send
from drawdown.money import Money


@dataclass(frozen=True)
class TransactionRecord:
    """A posted ledger entry (C-22)."""

    id: str
    customer_id: str
    posting: Posting
    create_time: datetime


def _transaction_of(row: sa.Row) -> TransactionRecord:
    posting = Posting(
        grant_id=row.grant_id,
        kind=TransactionKind(row.kind),
        amount=Money(row.currency, row.amount_minor),
        effective_at=row.effective_at,
        invoice_id=row.invoice_id,
        invoice_line_id=row.invoice_line_id,
        linked_transaction_id=row.linked_transaction_id,
    )
    return TransactionRecord(row.id, row.customer_id, posting, row.create_time)


def new_records(
    postings: Sequence[tuple[str, Posting]], now: datetime, transaction_ids: Sequence[str] = ()
) -> list[TransactionRecord]:
    """The transactions that (customer id, posting) pairs become: with ``transaction_ids``
    when given (a rollover's entries name each other, so their ids are chosen first), else
    new ids."""
    chosen = iter(transaction_ids)
    return [
        TransactionRecord(next(chosen, None) or new_transaction_id(), customer_id, posting, now)
        for customer_id, posting in postings
    ]


def new_transaction_id() -> str:
    return ids.new_id(ids.CREDIT_BALANCE_TRANSACTION)


def posting_params(records: Sequence[TransactionRecord]) -> dict[str, object]:
    """``POSTED``'s and ``MOVE_BALANCES``' parameters: the rows, and each grant's delta."""
    deltas: dict[str, int] = {}
    for record in records:
        grant_id = record.posting.grant_id
        deltas[grant_id] = deltas.get(grant_id, 0) + record.posting.signed_amount.minor
    return {
        "ids": [r.id for r in records],
        "posting_customer_ids": [r.customer_id for r in records],
        "grant_ids": [r.posting.grant_id for r in records],
        "kinds": [str(r.posting.kind) for r in records],
        "posting_currencies": [r.posting.amount.currency for r in records],
        "amounts": [r.posting.amount.minor for r in records],
        "effective_at": [r.posting.effective_at for r in records],
        "posting_invoice_ids": [r.posting.invoice_id for r in records],
        "line_ids": [r.posting.invoice_line_id for r in records],
        "linked_ids": [r.posting.linked_transaction_id for r in records],
        "delta_grant_ids": sorted(deltas),
        "deltas": [deltas[grant_id] for grant_id in sorted(deltas)],
    }


# Appends the postings (``seq`` follows their order) and moves each grant's cached
# balance by its delta: one statement, so one round trip, for the whole batch. Callers
# hold the grants' locks already (after the customer's), so the order in which the
# UPDATE visits them cannot deadlock.
POSTED = f"""
    posted AS (
        INSERT INTO {T.fullname} (id, customer_id, grant_id, kind, currency, amount_minor,
                                  effective_at, invoice_id, invoice_line_id, create_time,
                                  linked_transaction_id)
        SELECT p.id, p.customer_id, p.grant_id, p.kind, p.currency, p.amount_minor,
               p.effective_at, p.invoice_id, p.invoice_line_id, %(now)s, p.linked_id
          FROM unnest(%(ids)s::text[], %(posting_customer_ids)s::text[], %(grant_ids)s::text[],
                      %(kinds)s::text[], %(posting_currencies)s::text[], %(amounts)s::bigint[],
                      %(effective_at)s::timestamptz[], %(posting_invoice_ids)s::text[], %(line_ids)s::text[],
                      %(linked_ids)s::text[])
               WITH ORDINALITY AS p(id, customer_id, grant_id, kind, currency, amount_minor, effective_at,
                                    invoice_id, invoice_line_id, linked_id, n)
         ORDER BY p.n
    )"""
MOVE_BALANCES = f"""
    UPDATE {G.fullname} AS g SET balance_minor = g.balance_minor + d.delta
      FROM unnest(%(delta_grant_ids)s::text[], %(deltas)s::bigint[]) AS d(grant_id, delta)
     WHERE g.id = d.grant_id"""
_POST = f"WITH {POSTED} {MOVE_BALANCES}"


class LedgerRepository(Repository):
    """Postings and transactions."""

    __slots__ = ()

    async def post(
        self,
        customer_id: str,
        postings: Sequence[Posting],
        now: datetime,
        transaction_ids: Sequence[str] = (),
    ) -> list[TransactionRecord]:
        """Append ``postings`` (with ``transaction_ids`` when chosen beforehand, see
        ``new_records``) and move each grant's cached balance, in this transaction."""
        return await self.post_many([(customer_id, posting) for posting in postings], now, transaction_ids)

    async def post_many(
        self, postings: Sequence[tuple[str, Posting]], now: datetime, transaction_ids: Sequence[str] = ()
    ) -> list[TransactionRecord]:
        """``post`` for (customer id, posting) pairs of several customers, in one statement."""
        if not postings:
            return []
        records = new_records(postings, now, transaction_ids)
        await _send(self._db, _POST, {"now": now, **posting_params(records)})
        return records

    async def postings_of_grant(self, grant_id: str) -> list[Posting]:
        """The grant's ledger in append order (C-23 checks, void's totals)."""
        query = sa.select(T).where(T.c.grant_id == grant_id).order_by(T.c.seq)
        return [_transaction_of(row).posting for row in await self._db.execute(query)]

    async def postings_of_invoice(self, invoice_id: str) -> list[Posting]:
        query = sa.select(T).where(T.c.invoice_id == invoice_id).order_by(T.c.seq)
        return [_transaction_of(row).posting for row in await self._db.execute(query)]

    async def transaction(self, transaction_id: str) -> TransactionRecord | None:
        row = (await self._db.execute(sa.select(T).where(T.c.id == transaction_id))).first()
        return None if row is None else _transaction_of(row)

    async def transactions_by_id(self, transaction_ids: Sequence[str]) -> list[TransactionRecord]:
        """The transactions in the order of ``transaction_ids``."""
        rows = {
            row.id: _transaction_of(row)
            for row in await self._db.execute(sa.select(T).where(T.c.id.in_(list(transaction_ids))))
        }
        return [rows[transaction_id] for transaction_id in transaction_ids]

    async def page(
        self, customer_id: str, grant_id: str, after: Sequence[object] | None, limit: int
    ) -> list[TransactionRecord]:
        """Newest first (create_time, id), keyset after ``after``; optionally one grant's."""
        query = sa.select(T).order_by(T.c.create_time.desc(), T.c.id.desc()).limit(limit)
        query = (
            query.where(T.c.grant_id == grant_id) if grant_id else query.where(T.c.customer_id == customer_id)
        )
        if after is not None:
            query = query.where(sa.tuple_(T.c.create_time, T.c.id) < sa.tuple_(*after))
        return [_transaction_of(row) for row in await self._db.execute(query)]
