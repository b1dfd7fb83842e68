"""The credits repository: grants, the ledger, holds and invoice applications (SQL only).

Methods take the unit of work's ``AsyncConnection`` (``await session.connection()``):
Core statements on the connection skip the ORM session's per-statement overhead. The hot
paths (balance summary, preview, hold, apply and their batches) go further: they send
constant SQL with bound parameters (prepared by psycopg after a few uses) and run on a
raw pooled ``Transaction`` (``Database.transaction``/``reading``), because building,
compiling and executing Core statements, checking out and pinging engine connections and
hopping through SQLAlchemy's greenlet cost more CPU per call than the statements, and
the server's throughput is bound by that CPU. Those methods accept either (``Db``).
A customer on a test clock (I-18) is judged at its clock's time: the hot statements
read that time themselves (one index lookup, in the same round trip) when the request
gave no time of its own.
On a ``Transaction`` the writes whose rows nobody reads are queued (``send``) and travel
with the next round trip, COMMIT's at the latest; reads that follow see them.

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
from typing import Any

import sqlalchemy as sa
from psycopg.types.json import Jsonb
from sqlalchemy.ext.asyncio import AsyncConnection

from credits_service.domain.balances import CurrencyBalance, GrantBalances
from credits_service.domain.drawdown import Allocation
from credits_service.domain.grants import Applicability, CreditGrant, GrantCategory, GrantState
from credits_service.domain.ledger import Posting, TransactionKind
from credits_service.store.schema import (
    credit_customers,
    credit_grants,
    credit_holds,
    credit_test_clock_customers,
    credit_test_clocks,
    credit_transactions,
    invoice_applications,
    test_clocks,
)
from drawdown import ids
from drawdown.db.engine import Database, Transaction
from drawdown.db.engine import fetch as _fetch
from drawdown.db.engine import fetch_many as _fetch_many
from drawdown.db.engine import send as _send
from drawdown.db.test_clocks import clock_times_of
from drawdown.money import Money

# Store methods run on a unit of work's connection or on a raw ``Transaction`` alike.
Db = AsyncConnection | Transaction

G = credit_grants
T = credit_transactions
H = credit_holds
A = invoice_applications
K = credit_test_clocks
KC = credit_test_clock_customers


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


def status_condition(status: GrantState, as_of: datetime) -> sa.ColumnElement[bool]:
    """C-2 in SQL: the grants in ``status`` at ``as_of``, by ``grant_state``'s precedence
    (voided, expired, pending, depleted, available); a property test holds them equal."""
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


def _held_by_grant(customer_id: str) -> sa.Subquery:
    query = sa.select(H.c.grant_id, sa.func.sum(H.c.amount_minor).label("held")).where(
        H.c.customer_id == customer_id
    )
    return query.group_by(H.c.grant_id).subquery("held")


def _grant_of(row: Any) -> CreditGrant:
    """From an SQLAlchemy row or a psycopg named tuple: both name the columns."""
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


def _record_of(row: Any) -> GrantBalances:
    return GrantBalances(
        grant=_grant_of(row),
        ledger=Money(row.currency, row.balance_minor),
        held=Money(row.currency, int(row.held or 0)),
    )


def _application_of(row: Any) -> ApplicationRecord:
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


def _new_records(postings: Sequence[tuple[str, Posting]], now: datetime) -> list[TransactionRecord]:
    """The transactions (new ids) that (customer id, posting) pairs become."""
    return [
        TransactionRecord(ids.new_id(ids.CREDIT_BALANCE_TRANSACTION), customer_id, posting, now)
        for customer_id, posting in postings
    ]


def _posting_params(records: Sequence[TransactionRecord]) -> dict[str, object]:
    """``_POSTED``'s and ``_MOVE_BALANCES``' parameters: the rows, and each grant's delta."""
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
        "delta_grant_ids": sorted(deltas),
        "deltas": [deltas[grant_id] for grant_id in sorted(deltas)],
    }


# C-3's "due for expiry": the scheduled expiry has passed and is not recorded yet, that
# is ``due_expiry``'s expired grants (not voided, ``expires_at`` reached) whose expiry no
# earlier sweep or ExpireCreditGrant recorded; a property test holds them equal.
_DUE = "g.expiry_posted_at IS NULL AND g.voided_at IS NULL AND g.expires_at <= %(as_of)s"


# A customer's clock time when ``%(clock)s`` is true (the request gave no time of its
# own), else NULL without the lookup: PostgreSQL runs the uncorrelated subquery once,
# and only if the CASE reaches it.
_CLOCK_TIME_IF_ASKED = (
    f"CASE WHEN %(clock)s THEN {test_clocks.clock_time_sql('%(customer_id)s')} END AS clock_time"
)


def _grants_sql(
    *, excluding_hold: bool, due: bool, lock: bool, applied: bool = False, clock: bool = False
) -> str:
    """A customer's grants by id, each with the sum of its holds (of other invoices);
    with ``applied``, each row also says whether the invoice's credits were applied; with
    ``clock``, the customer's test clock time (``_CLOCK_TIME_IF_ASKED``)."""
    return f"""
        SELECT g.*,
               (SELECT sum(h.amount_minor) FROM {H.fullname} AS h
                 WHERE h.grant_id = g.id AND h.customer_id = %(customer_id)s
                 {"AND h.invoice_id <> %(invoice_id)s" if excluding_hold else ""}) AS held
               {f", EXISTS (SELECT FROM {A.fullname} WHERE invoice_id = %(invoice_id)s) AS applied" if applied else ""}
               {f", {_CLOCK_TIME_IF_ASKED}" if clock else ""}
          FROM {G.fullname} AS g
         WHERE g.customer_id = %(customer_id)s {f"AND {_DUE}" if due else ""}
         ORDER BY g.id {"FOR UPDATE OF g" if lock else ""}"""


# The grants an invoice draws on (locked, after the customer), whether it was applied.
_GRANTS_FOR_DRAW = _grants_sql(excluding_hold=True, due=False, lock=True, applied=True, clock=True)
# A preview's grants (C-13, I-14): of a known invoice (its own hold ignored) or not.
_GRANTS_FOR_PREVIEW = _grants_sql(excluding_hold=True, due=False, lock=False, clock=True)
_GRANTS_FOR_UPCOMING = _grants_sql(excluding_hold=False, due=False, lock=False, clock=True)
_APPLIED = f"SELECT EXISTS (SELECT FROM {A.fullname} WHERE invoice_id = %(invoice_id)s) AS applied"

# C-20, C-21 over the cached ledger balances and the holds, summed per currency in one
# statement. Available is the ledger minus holds, never negative, and zero while pending
# or once expired (``available_balance``'s rule, which a property test holds this to); a
# voided grant's ledger is zero.
# The moment is the request's ``as_of``, else the customer's test clock time, else now
# (I-18), computed once (MATERIALIZED: not inlined into each use); COALESCE stops at the
# first that is set, so with an ``as_of`` the clock is not looked up. Sums of BIGINT are
# NUMERIC in PostgreSQL: they cannot overflow.
_SUMMARY = f"""
    WITH t AS MATERIALIZED (
        SELECT coalesce(%(as_of)s::timestamptz, {test_clocks.clock_time_sql("%(customer_id)s")},
                        %(now)s::timestamptz) AS as_of
    )
    SELECT g.currency,
           sum(CASE WHEN g.effective_at <= t.as_of AND (g.expires_at IS NULL OR g.expires_at > t.as_of)
                    THEN greatest(g.balance_minor - coalesce(h.held, 0), 0) ELSE 0 END) AS available,
           sum(g.balance_minor) AS ledger
      FROM t CROSS JOIN {G.fullname} AS g
      LEFT JOIN LATERAL (SELECT sum(amount_minor) AS held FROM {H.fullname}
                          WHERE grant_id = g.id AND customer_id = g.customer_id) AS h ON true
     WHERE g.customer_id = %(customer_id)s {{selection}}
     GROUP BY g.currency"""
# C-21's filters: one grant; or a price scope, which every grant scoped to all metered
# prices is in, and every grant listing any of the prices.
_SUMMARY_ALL = _SUMMARY.format(selection="")
_SUMMARY_OF_GRANT = _SUMMARY.format(selection="AND g.id = %(grant_id)s")
_SUMMARY_OF_SCOPE = _SUMMARY.format(
    selection="AND (g.all_metered_prices OR g.price_ids && %(price_ids)s::text[])"
)

# Appends the postings (``seq`` follows their order) and moves each grant's cached
# balance by its delta: one statement, so one round trip, for the whole batch. Callers
# hold the grants' locks already (after the customer's), so the order in which the
# UPDATE visits them cannot deadlock.
_POSTED = f"""
    posted AS (
        INSERT INTO {T.fullname} (id, customer_id, grant_id, kind, currency, amount_minor,
                                  effective_at, invoice_id, invoice_line_id, create_time)
        SELECT p.id, p.customer_id, p.grant_id, p.kind, p.currency, p.amount_minor,
               p.effective_at, p.invoice_id, p.invoice_line_id, %(now)s
          FROM unnest(%(ids)s::text[], %(posting_customer_ids)s::text[], %(grant_ids)s::text[],
                      %(kinds)s::text[], %(posting_currencies)s::text[], %(amounts)s::bigint[],
                      %(effective_at)s::timestamptz[], %(posting_invoice_ids)s::text[], %(line_ids)s::text[])
               WITH ORDINALITY AS p(id, customer_id, grant_id, kind, currency, amount_minor, effective_at,
                                    invoice_id, invoice_line_id, n)
         ORDER BY p.n
    )"""
_MOVE_BALANCES = f"""
    UPDATE {G.fullname} AS g SET balance_minor = g.balance_minor + d.delta
      FROM unnest(%(delta_grant_ids)s::text[], %(deltas)s::bigint[]) AS d(grant_id, delta)
     WHERE g.id = d.grant_id"""
_POST = f"WITH {_POSTED} {_MOVE_BALANCES}"

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

_APPLICATIONS = f"SELECT * FROM {A.fullname} WHERE invoice_id = ANY(%(invoice_ids)s::text[])"

# Finalization in one round trip (C-13): post the credits_applied debits, move the
# grants' balances, end the drafts' holds and record the applications.
_RECORD_APPLICATIONS = f"""
    WITH {_POSTED},
    released AS ({_RELEASE_HOLDS}),
    recorded AS (
        INSERT INTO {A.fullname} (invoice_id, customer_id, currency, allocation, applied_at)
        SELECT a.invoice_id, a.customer_id, a.currency, a.allocation, %(now)s
          FROM unnest(%(invoice_ids)s::text[], %(customer_ids)s::text[], %(currencies)s::text[],
                      %(allocations)s::jsonb[]) AS a(invoice_id, customer_id, currency, allocation)
    )
    {_MOVE_BALANCES}"""

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
_CLOCK_TIME_OF = f"SELECT {test_clocks.clock_time_sql('%(customer_id)s')} AS clock_time"


_LOCK_CUSTOMER = f"SELECT 1 FROM {credit_customers.fullname} WHERE customer_id = %(customer_id)s FOR UPDATE"
_CREATE_CUSTOMER = (
    f"INSERT INTO {credit_customers.fullname} (customer_id, create_time) VALUES (%(customer_id)s, %(now)s) "
    "ON CONFLICT DO NOTHING"
)
# A batch's customers: every row created first (in id order, so that two batches
# creating the same customers wait on each other), then all locked in id order.
_CREATE_CUSTOMERS = f"""
    INSERT INTO {credit_customers.fullname} (customer_id, create_time)
    SELECT c.customer_id, %(now)s FROM unnest(%(customer_ids)s::text[]) WITH ORDINALITY AS c(customer_id, n)
     ORDER BY c.n
    ON CONFLICT DO NOTHING"""
_LOCK_CUSTOMERS = f"""
    SELECT customer_id FROM {credit_customers.fullname}
     WHERE customer_id = ANY(%(customer_ids)s::text[]) ORDER BY customer_id FOR UPDATE"""


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

    async def lock_customer(self, db: Db, customer_id: str, now: datetime) -> None:
        """Take the customer's lock (creating its row on first use); held until commit."""
        params = {"customer_id": customer_id, "now": now}
        if await _fetch(db, _LOCK_CUSTOMER, params):
            return
        await _fetch(db, _CREATE_CUSTOMER, params)
        await _fetch(db, _LOCK_CUSTOMER, params)

    async def lock_customers(self, db: Db, customer_ids: Iterable[str], now: datetime) -> None:
        """``lock_customer`` for each, once, in id order (the batches' order)."""
        params = {"customer_ids": sorted(set(customer_ids)), "now": now}
        await _fetch(db, _CREATE_CUSTOMERS, params)
        await _fetch(db, _LOCK_CUSTOMERS, params)

    # -- test clocks (I-18) -------------------------------------------------------------

    async def clock_time_of(self, db: Db, customer_id: str) -> datetime | None:
        """The time of the test clock the customer lives on; None on the wall clock."""
        [row] = await _fetch(db, _CLOCK_TIME_OF, {"customer_id": customer_id})
        return row.clock_time

    async def set_test_clock(self, db: Db, clock_id: str, frozen_time: datetime, now: datetime) -> datetime:
        """Record the clock at ``frozen_time``, or move it there if later (never back)."""
        return await test_clocks.set_time(db, clock_id, frozen_time, now)

    async def attach_to_test_clock(
        self, db: Db, clock_id: str, customer_ids: Sequence[str], now: datetime
    ) -> dict[str, str]:
        """Attach the customers (already locked) that live on no clock to ``clock_id``;
        returns those that live on another clock, with it (nothing is moved)."""
        return await test_clocks.attach(db, clock_id, customer_ids, now)

    async def delete_test_clock(self, db: Db, clock_id: str) -> None:
        """Forget the clock and its customers' attachments (they return to the wall clock)."""
        await test_clocks.delete(db, clock_id)

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

    async def grant_and_clock(
        self, db: AsyncConnection, grant_id: str
    ) -> tuple[GrantBalances | None, datetime | None]:
        """``grant`` and, in the same statement, its customer's test clock time (I-18)."""
        held = sa.select(sa.func.coalesce(sa.func.sum(H.c.amount_minor), 0)).where(H.c.grant_id == G.c.id)
        clock = (
            sa.select(K.c.frozen_time)
            .select_from(KC.join(K, K.c.id == KC.c.test_clock_id))
            .where(KC.c.customer_id == G.c.customer_id)
        )
        query = sa.select(
            G, held.scalar_subquery().label("held"), clock.scalar_subquery().label("clock_time")
        ).where(G.c.id == grant_id)
        row = (await db.execute(query)).first()
        return (None, None) if row is None else (_record_of(row), row.clock_time)

    async def customer_of_grant(self, db: AsyncConnection, grant_id: str) -> str | None:
        return (await db.execute(sa.select(G.c.customer_id).where(G.c.id == grant_id))).scalar()

    async def grants_of_customer(
        self,
        db: Db,
        customer_id: str,
        *,
        excluding_hold_of: str | None = None,
        lock: bool = False,
        due_at: datetime | None = None,
    ) -> list[GrantBalances]:
        """The customer's grants (by id) with what other invoices' drafts hold on them;
        with ``due_at``, only those whose expiry is due then and not recorded."""
        statement = _grants_sql(excluding_hold=bool(excluding_hold_of), due=due_at is not None, lock=lock)
        params = {"customer_id": customer_id, "invoice_id": excluding_hold_of, "as_of": due_at}
        return [_record_of(row) for row in await _fetch(db, statement, params)]

    async def lock_for_draw(
        self, db: Db, customer_id: str, invoice_id: str, now: datetime, *, clock: bool
    ) -> CustomerDraw:
        """A hold's or an application's start, in one round trip: ``lock_customer``, then
        the customer's grants (locked, by id) with other invoices' holds, whether the
        invoice's credits were applied already (C-13, C-14) and, with ``clock``, the
        customer's test clock time (I-18). The grants are read by a statement after the
        lock's, so from a snapshot taken once the lock was held. Without grants there is
        nothing to allocate, so no clock time is needed either."""
        params = {"customer_id": customer_id, "invoice_id": invoice_id, "clock": clock}
        locked, rows = await _fetch_many(db, [(_LOCK_CUSTOMER, params), (_GRANTS_FOR_DRAW, params)])
        if not locked:  # a new customer: its row (so the lock) comes first, grants none yet
            await self.lock_customer(db, customer_id, now)
            rows = []
        if not rows:
            [row] = await _fetch(db, _APPLIED, params)
            return CustomerDraw([], row.applied, None)
        return CustomerDraw([_record_of(row) for row in rows], rows[0].applied, rows[0].clock_time)

    async def grants_to_preview(
        self, db: Db, customer_id: str, invoice_id: str, *, clock: bool
    ) -> tuple[list[GrantBalances], datetime | None]:
        """A preview's grants (by id) with other invoices' holds (the invoice's own is
        ignored) and, with ``clock``, the customer's test clock time, in one statement."""
        statement = _GRANTS_FOR_PREVIEW if invoice_id else _GRANTS_FOR_UPCOMING
        params = {"customer_id": customer_id, "invoice_id": invoice_id, "clock": clock}
        rows = await _fetch(db, statement, params)
        return [_record_of(row) for row in rows], rows[0].clock_time if rows else None

    async def lock_for_batch(
        self,
        db: Db,
        customer_ids: Iterable[str],
        invoice_ids: Sequence[str],
        now: datetime,
        *,
        clock: bool = False,
    ) -> BatchDraw:
        """A batch's start, in one round trip: ``lock_customer`` for each customer, once,
        in id order (the order every caller that locks more than one customer uses, so
        none deadlocks); then, from snapshots taken once the locks are held, the
        invoices' recorded applications and the customers' grants (locked, by id) with
        their holds; with ``clock``, the customers' test clock times (I-18)."""
        params = {"customer_ids": sorted(set(customer_ids)), "invoice_ids": list(invoice_ids), "now": now}
        await _send(db, _CREATE_CUSTOMERS, params)
        statements = [
            (_LOCK_CUSTOMERS, params),
            (_APPLICATIONS, params),
            (_GRANTS_OF_CUSTOMERS, params),
            (_OWN_HOLDS, params),
        ]
        if clock:
            statements.append((test_clocks.clock_times_sql, params))
        _, applications, grants, own, *clocks = await _fetch_many(db, statements)
        return BatchDraw(
            {row.invoice_id: _application_of(row) for row in applications},
            [_record_of(row) for row in grants],
            {(row.invoice_id, row.grant_id): int(row.held) for row in own},
            clock_times_of(clocks[0]) if clocks else {},
        )

    async def balance_summary(
        self,
        db: Db,
        customer_id: str,
        as_of: datetime | None,
        now: datetime,
        *,
        grant_id: str = "",
        price_ids: Sequence[str] | None = None,
    ) -> list[CurrencyBalance]:
        """C-21: available and ledger balance per currency (by code, zeros included) over
        the customer's grants: all, the one ``grant_id``, or those in ``price_ids``' scope;
        at ``as_of``, else at the customer's test clock time, else at ``now`` (I-18)."""
        if grant_id:
            statement = _SUMMARY_OF_GRANT
        elif price_ids is not None:
            statement = _SUMMARY_OF_SCOPE
        else:
            statement = _SUMMARY_ALL
        params = {
            "customer_id": customer_id,
            "as_of": as_of,
            "now": now,
            "grant_id": grant_id,
            "price_ids": None if price_ids is None else list(price_ids),
        }
        rows = sorted(await _fetch(db, statement, params), key=lambda row: row.currency)
        return [
            CurrencyBalance(Money(row.currency, int(row.available)), Money(row.currency, int(row.ledger)))
            for row in rows
        ]

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
        held = _held_by_grant(customer_id)
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
        """C-4: grants that are pending or available at ``as_of`` (``is_unused``)."""
        unused = sa.or_(
            status_condition(GrantState.PENDING, as_of), status_condition(GrantState.AVAILABLE, as_of)
        )
        query = sa.select(sa.func.count()).select_from(G).where(G.c.customer_id == customer_id, unused)
        return (await db.execute(query)).scalar_one()

    async def live_total(self, db: AsyncConnection, customer_id: str, currency: str) -> int:
        """X-5: the amounts of the customer's grants in ``currency`` that can still hold
        credits (not voided, expiry not posted), summed as NUMERIC."""
        query = sa.select(sa.func.coalesce(sa.func.sum(G.c.amount_minor), 0)).where(
            G.c.customer_id == customer_id,
            G.c.currency == currency,
            G.c.voided_at.is_(None),
            G.c.expiry_posted_at.is_(None),
        )
        return int((await db.execute(query)).scalar_one())

    async def customers_with_due_expiries(
        self, db: Db, as_of: datetime, only: Sequence[str], excluding: Sequence[str]
    ) -> list[str]:
        """The customers with expiries due at ``as_of``: those of ``only``; or, without
        it, every customer but those of ``excluding`` and those on a test clock, whose
        expiries follow their clock's time (I-18), not the wall clock's sweep."""
        if only:
            chosen = "AND g.customer_id = ANY(%(only)s::text[])"
        else:
            chosen = f"AND NOT EXISTS (SELECT FROM {KC.fullname} AS kc WHERE kc.customer_id = g.customer_id)"
            if excluding:
                chosen += " AND g.customer_id <> ALL(%(excluding)s::text[])"
        statement = f"SELECT DISTINCT g.customer_id FROM {G.fullname} AS g WHERE {_DUE} {chosen} ORDER BY 1"
        params = {"as_of": as_of, "only": list(only), "excluding": list(excluding)}
        return [row.customer_id for row in await _fetch(db, statement, params)]

    async def due_grants(self, db: Db, customer_id: str, as_of: datetime) -> list[GrantBalances]:
        """The customer's grants whose expiry is due and not recorded, locked (after the customer)."""
        return await self.grants_of_customer(db, customer_id, lock=True, due_at=as_of)

    # -- ledger -----------------------------------------------------------------------

    async def post(
        self, db: Db, customer_id: str, postings: Sequence[Posting], now: datetime
    ) -> list[TransactionRecord]:
        """Append ``postings`` and move each grant's cached balance, in this transaction."""
        return await self.post_many(db, [(customer_id, posting) for posting in postings], now)

    async def post_many(
        self, db: Db, postings: Sequence[tuple[str, Posting]], now: datetime
    ) -> list[TransactionRecord]:
        """``post`` for (customer id, posting) pairs of several customers, in one statement."""
        if not postings:
            return []
        records = _new_records(postings, now)
        await _send(db, _POST, {"now": now, **_posting_params(records)})
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
        self, db: Db, customer_id: str, allocation: StoredAllocation, now: datetime
    ) -> None:
        """C-13: the invoice's hold becomes ``allocation`` (the previous one is dropped)."""
        await self.replace_holds(db, [(customer_id, allocation)], now)

    async def replace_holds(
        self, db: Db, holds: Sequence[tuple[str, StoredAllocation]], now: datetime
    ) -> None:
        """``replace_hold`` for (customer id, allocation) pairs of distinct invoices, in one statement."""
        rows = [
            (allocation.invoice_id, position, customer_id, entry)
            for customer_id, allocation in holds
            for position, entry in enumerate(allocation.entries)
        ]
        await _send(
            db,
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

    async def release_hold(self, db: Db, invoice_id: str) -> None:
        await _send(db, _RELEASE_HOLD, {"invoice_id": invoice_id})

    async def drop_holds_on(self, db: AsyncConnection, grant_ids: Iterable[str]) -> None:
        """Holds on grants that ended (expired, voided) count for nothing; drop them."""
        await db.execute(sa.delete(H).where(H.c.grant_id.in_(list(grant_ids))))

    # -- invoice applications ---------------------------------------------------------

    async def application(self, db: Db, invoice_id: str) -> ApplicationRecord | None:
        return (await self.applications(db, [invoice_id])).get(invoice_id)

    async def applications(self, db: Db, invoice_ids: Sequence[str]) -> dict[str, ApplicationRecord]:
        """The recorded applications of those of ``invoice_ids`` that were applied."""
        return {
            row.invoice_id: _application_of(row)
            for row in await _fetch(db, _APPLICATIONS, {"invoice_ids": list(invoice_ids)})
        }

    async def record_applications(
        self, db: Db, applied: Sequence[tuple[str, Allocation, datetime]], now: datetime
    ) -> list[StoredAllocation]:
        """C-13: for each (customer id, allocation, effective time), post its
        credits_applied debits (one per grant per line), release the invoice's hold and
        record the application; all in one statement. Returns the applications as
        recorded (each entry naming its transaction), in the order given."""
        postings = [
            (customer_id, posting)
            for customer_id, allocation, effective_at in applied
            for posting in allocation.to_postings(effective_at)
        ]
        records = _new_records(postings, now)
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
            db,
            _RECORD_APPLICATIONS,
            {
                "now": now,
                **_posting_params(records),
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
        return recorded

    async def record_reinstatement(
        self, db: AsyncConnection, invoice_id: str, transaction_ids: Sequence[str], now: datetime
    ) -> None:
        await db.execute(
            sa.update(A)
            .where(A.c.invoice_id == invoice_id)
            .values(reinstated_at=now, reinstatement_transaction_ids=list(transaction_ids))
        )
