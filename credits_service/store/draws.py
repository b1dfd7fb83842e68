"""What a hold, an application or a preview reads before it allocates (C-13, C-14, I-18).

The hot paths' start, one round trip each: the customer's lock (a batch's customers'
locks, in id order), then, from a snapshot taken once the locks are held, the grants
(locked, by id) with other invoices' holds, whether the invoices were applied already
and, when the request gave no time of its own, the customers' test clock times.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from credits_service.domain.balances import GrantBalances
from credits_service.store.customers import (
    CREATE_CUSTOMERS,
    LOCK_CUSTOMER,
    LOCK_CUSTOMERS,
    CustomerRepository,
)
from credits_service.store.grants import grant_balances_of, grants_sql
from credits_service.store.holds import APPLICATIONS, ApplicationRecord, application_of
from credits_service.store.schema import credit_grants as G
from credits_service.store.schema import credit_holds as H
from credits_service.store.schema import invoice_applications as A
from credits_service.store.schema import test_clocks
from credits_service.store.sql import Db, Repository
from drawdown.db.engine import fetch as _fetch
from drawdown.db.engine import fetch_many as _fetch_many
from drawdown.db.engine import send as _send
from drawdown.db.test_clocks import clock_times_of


@dataclass(frozen=True)
class BatchDraw:
    """What a batch of holds or applications reads under its customers' locks."""

    applications: dict[str, ApplicationRecord]  # of the batch's invoices that were applied
    grants: list[GrantBalances]  # the customers' grants, each with all its holds
    own_holds: dict[tuple[str, str], int]  # (invoice id, grant id) → what the invoice holds
    clock_times: dict[str, datetime]  # customer id → its test clock's time (when asked for)


@dataclass(frozen=True)
class CustomerDraw:
    """What a hold or an application reads under the customer's lock."""

    grants: list[GrantBalances]  # the customer's grants (locked, by id) with other invoices' holds
    applied: bool  # whether the invoice's credits were applied already
    clock_time: datetime | None  # the customer's test clock's time (when asked for and it has one)


# The grants an invoice draws on (locked, after the customer), whether it was applied.
_GRANTS_FOR_DRAW = grants_sql(excluding_hold=True, due=False, lock=True, applied=True, clock=True)
# A preview's grants (C-13, I-14): of a known invoice (its own hold ignored) or not.
_GRANTS_FOR_PREVIEW = grants_sql(excluding_hold=True, due=False, lock=False, clock=True)
_GRANTS_FOR_UPCOMING = grants_sql(excluding_hold=False, due=False, lock=False, clock=True)
_APPLIED = f"SELECT EXISTS (SELECT FROM {A.fullname} WHERE invoice_id = %(invoice_id)s) AS applied"

# A batch's customers' grants by id (locked after the customers), each with the sum of
# all its holds; and what the batch's own invoices hold on them (``_OWN_HOLDS``).
_GRANTS_OF_CUSTOMERS = f"""
    SELECT g.*,
           (SELECT sum(h.amount_minor) FROM {H.fullname} AS h
             WHERE h.grant_id = g.id AND h.customer_id = g.customer_id) AS held
      FROM {G.fullname} AS g
     WHERE g.customer_id = ANY(%(customer_ids)s::text[])
     ORDER BY g.id FOR UPDATE OF g"""
_OWN_HOLDS = f"""
    SELECT invoice_id, grant_id, sum(amount_minor) AS held FROM {H.fullname}
     WHERE invoice_id = ANY(%(invoice_ids)s::text[]) AND customer_id = ANY(%(customer_ids)s::text[])
     GROUP BY invoice_id, grant_id"""


class DrawRepository(Repository):
    """The draws' reads, which start by taking the customers' locks (a new customer's row
    and lock through ``customers``)."""

    __slots__ = ("_customers",)

    def __init__(self, db: Db, customers: CustomerRepository) -> None:
        super().__init__(db)
        self._customers = customers

    async def lock_for_draw(
        self, customer_id: str, invoice_id: str, now: datetime, *, clock: bool
    ) -> CustomerDraw:
        """A hold's or an application's start, in one round trip: ``CustomerRepository.lock``,
        then the customer's grants (locked, by id) with other invoices' holds, whether the
        invoice's credits were applied already (C-13, C-14) and, with ``clock``, the
        customer's test clock time (I-18). The grants are read by a statement after the
        lock's, so from a snapshot taken once the lock was held. Without grants there is
        nothing to allocate, so no clock time is needed either."""
        params = {"customer_id": customer_id, "invoice_id": invoice_id, "clock": clock}
        locked, rows = await _fetch_many(self._db, [(LOCK_CUSTOMER, params), (_GRANTS_FOR_DRAW, params)])
        if not locked:  # a new customer: its row (so the lock) comes first, grants none yet
            await self._customers.lock(customer_id, now)
            rows = []
        if not rows:
            [row] = await _fetch(self._db, _APPLIED, params)
            return CustomerDraw([], row.applied, None)
        return CustomerDraw([grant_balances_of(row) for row in rows], rows[0].applied, rows[0].clock_time)

    async def grants_to_preview(
        self, customer_id: str, invoice_id: str, *, clock: bool
    ) -> tuple[list[GrantBalances], datetime | None]:
        """A preview's grants (by id) with other invoices' holds (the invoice's own is
        ignored) and, with ``clock``, the customer's test clock time, in one statement."""
        statement = _GRANTS_FOR_PREVIEW if invoice_id else _GRANTS_FOR_UPCOMING
        params = {"customer_id": customer_id, "invoice_id": invoice_id, "clock": clock}
        rows = await _fetch(self._db, statement, params)
        return [grant_balances_of(row) for row in rows], rows[0].clock_time if rows else None

    async def lock_for_batch(
        self,
        customer_ids: Iterable[str],
        invoice_ids: Sequence[str],
        now: datetime,
        *,
        clock: bool = False,
    ) -> BatchDraw:
        """A batch's start, in one round trip: ``CustomerRepository.lock`` for each
        customer, once, in id order (the order every caller that locks more than one
        customer uses, so none deadlocks); then, from snapshots taken once the locks are
        held, the invoices' recorded applications and the customers' grants (locked, by
        id) with their holds; with ``clock``, the customers' test clock times (I-18)."""
        params = {"customer_ids": sorted(set(customer_ids)), "invoice_ids": list(invoice_ids), "now": now}
        await _send(self._db, CREATE_CUSTOMERS, params)
        statements = [
            (LOCK_CUSTOMERS, params),
            (APPLICATIONS, params),
            (_GRANTS_OF_CUSTOMERS, params),
            (_OWN_HOLDS, params),
        ]
        if clock:
            statements.append((test_clocks.clock_times_sql, params))
        _, applications, grants, own, *clocks = await _fetch_many(self._db, statements)
        return BatchDraw(
            {row.invoice_id: application_of(row) for row in applications},
            [grant_balances_of(row) for row in grants],
            {(row.invoice_id, row.grant_id): int(row.held) for row in own},
            clock_times_of(clocks[0]) if clocks else {},
        )
