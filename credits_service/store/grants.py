"""Grants (C-1..C-4): their rows, what draft invoices hold on each, their states in SQL.

The state filter (``status_condition``), the unused-grant count and the expiry sweep's
selection (``DUE``) restate domain rules (``grant_state``, ``is_unused``,
``due_expiry``) in SQL; a property test against PostgreSQL holds each equal to the
domain's. A grant's ``balance_minor`` is its cached ledger balance, moved by ``ledger``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from credits_service.domain.balances import GrantBalances
from credits_service.domain.grants import Applicability, CreditGrant, GrantCategory, GrantState, Rollover
from credits_service.store.schema import credit_grants as G
from credits_service.store.schema import credit_holds as H
from credits_service.store.schema import credit_test_clock_customers as KC
from credits_service.store.schema import credit_test_clocks as K
from credits_service.store.schema import invoice_applications as A
from credits_service.store.schema import test_clocks
from credits_service.store.sql import Repository
from drawdown.db.engine import fetch as _fetch
from drawdown.money import Money


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
        rollover=rollover_of(row.rollover),
        rolled_over_from=row.rolled_over_from,
    )


def rollover_of(stored: dict[str, Any] | None) -> Rollover | None:
    """R-8: the stored policy (``rollover_to_json``'s) as the domain's."""
    if stored is None:
        return None
    return Rollover(
        expire_after=timedelta(seconds=stored["expire_after_seconds"]),
        max_amount=Money(stored["currency"], stored["max_amount_minor"])
        if "max_amount_minor" in stored
        else None,
        max_percent=Decimal(stored["max_percent"]) if "max_percent" in stored else None,
    )


def rollover_to_json(rollover: Rollover | None, currency: str) -> dict[str, Any] | None:
    if rollover is None:
        return None
    stored: dict[str, Any] = {
        "expire_after_seconds": int(rollover.expire_after.total_seconds()),
        "currency": currency,
    }
    if rollover.max_amount is not None:
        stored["max_amount_minor"] = rollover.max_amount.minor
    if rollover.max_percent is not None:
        stored["max_percent"] = str(rollover.max_percent)
    return stored


def grant_balances_of(row: Any) -> GrantBalances:
    """A grant row with its summed holds (``held``) as the domain sees it."""
    return GrantBalances(
        grant=_grant_of(row),
        ledger=Money(row.currency, row.balance_minor),
        held=Money(row.currency, int(row.held or 0)),
    )


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


def grants_sql(
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


class GrantRepository(Repository):
    """Grant rows and reads."""

    __slots__ = ()

    async def insert(self, grant: CreditGrant) -> None:
        await self._db.execute(
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
                rollover=rollover_to_json(grant.rollover, grant.amount.currency),
                rolled_over_from=grant.rolled_over_from,
            )
        )

    async def save(self, grant: CreditGrant, *, expiry_posted_at: datetime | None = None) -> None:
        """Store the mutable fields (C-3) and, when given, when the expiry was recorded."""
        values: dict[str, object] = {
            "expires_at": grant.expires_at,
            "metadata": dict(grant.metadata),
            "voided_at": grant.voided_at,
            "update_time": grant.updated_at,
        }
        if expiry_posted_at is not None:
            values["expiry_posted_at"] = expiry_posted_at
        await self._db.execute(sa.update(G).where(G.c.id == grant.id).values(**values))

    async def get(self, grant_id: str, *, for_update: bool = False) -> GrantBalances | None:
        """One grant with its holds; ``for_update`` locks its row (after the customer's)."""
        held = sa.select(sa.func.coalesce(sa.func.sum(H.c.amount_minor), 0)).where(H.c.grant_id == G.c.id)
        query = sa.select(G, held.scalar_subquery().label("held")).where(G.c.id == grant_id)
        if for_update:
            query = query.with_for_update(of=G)
        row = (await self._db.execute(query)).first()
        return None if row is None else grant_balances_of(row)

    async def get_with_clock(self, grant_id: str) -> tuple[GrantBalances | None, datetime | None]:
        """``get`` and, in the same statement, its customer's test clock time (I-18)."""
        held = sa.select(sa.func.coalesce(sa.func.sum(H.c.amount_minor), 0)).where(H.c.grant_id == G.c.id)
        clock = (
            sa.select(K.c.frozen_time)
            .select_from(KC.join(K, K.c.id == KC.c.test_clock_id))
            .where(KC.c.customer_id == G.c.customer_id)
        )
        query = sa.select(
            G, held.scalar_subquery().label("held"), clock.scalar_subquery().label("clock_time")
        ).where(G.c.id == grant_id)
        row = (await self._db.execute(query)).first()
        return (None, None) if row is None else (grant_balances_of(row), row.clock_time)

    async def customer_of(self, grant_id: str) -> str | None:
        return (await self._db.execute(sa.select(G.c.customer_id).where(G.c.id == grant_id))).scalar()

    async def of_customer(
        self,
        customer_id: str,
        *,
        excluding_hold_of: str | None = None,
        lock: bool = False,
        due_at: datetime | None = None,
    ) -> list[GrantBalances]:
        """The customer's grants (by id) with what other invoices' drafts hold on them;
        with ``due_at``, only those whose expiry is due then and not recorded."""
        statement = grants_sql(excluding_hold=bool(excluding_hold_of), due=due_at is not None, lock=lock)
        params = {"customer_id": customer_id, "invoice_id": excluding_hold_of, "as_of": due_at}
        return [grant_balances_of(row) for row in await _fetch(self._db, statement, params)]

    async def page(
        self,
        customer_id: str,
        status: GrantState | None,
        as_of: datetime,
        after: Sequence[object] | None,
        limit: int,
    ) -> list[GrantBalances]:
        """The customer's grants newest first (create_time, id), keyset after ``after``."""
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
        return [grant_balances_of(row) for row in await self._db.execute(query)]

    async def count_unused(self, customer_id: str, as_of: datetime) -> int:
        """C-4: grants that are pending or available at ``as_of`` (``is_unused``)."""
        unused = sa.or_(
            status_condition(GrantState.PENDING, as_of), status_condition(GrantState.AVAILABLE, as_of)
        )
        query = sa.select(sa.func.count()).select_from(G).where(G.c.customer_id == customer_id, unused)
        return (await self._db.execute(query)).scalar_one()

    async def live_total(self, customer_id: str, currency: str) -> int:
        """X-5: the amounts of the customer's grants in ``currency`` that can still hold
        credits (not voided, expiry not posted), summed as NUMERIC."""
        query = sa.select(sa.func.coalesce(sa.func.sum(G.c.amount_minor), 0)).where(
            G.c.customer_id == customer_id,
            G.c.currency == currency,
            G.c.voided_at.is_(None),
            G.c.expiry_posted_at.is_(None),
        )
        return int((await self._db.execute(query)).scalar_one())

    async def customers_with_due_expiries(
        self, as_of: datetime, only: Sequence[str], excluding: Sequence[str]
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
        return [row.customer_id for row in await _fetch(self._db, statement, params)]

    async def due(self, customer_id: str, as_of: datetime) -> list[GrantBalances]:
        """The customer's grants whose expiry is due and not recorded, locked (after the customer)."""
        return await self.of_customer(customer_id, lock=True, due_at=as_of)
