"""Reservations of credits (R-1..R-4): stored once per id, ended once, summed while active.

Constant SQL on whichever handle the call runs on (a raw transaction on the hot path).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from credits_service.domain.balances import CurrencyBalance
from credits_service.domain.reservations import Reservation
from credits_service.store.balances import SUMMARY_OF_ALL, summary_of
from credits_service.store.schema import credit_reservations as R
from credits_service.store.schema import test_clocks
from credits_service.store.sql import Repository
from drawdown.db.engine import fetch as _fetch
from drawdown.db.engine import fetch_many as _fetch_many
from drawdown.db.engine import send as _send
from drawdown.money import Money

_GET = f"SELECT * FROM {R.fullname} WHERE id = %(id)s AND customer_id = %(customer_id)s"
_INSERT = f"""
    INSERT INTO {R.fullname} (id, customer_id, price_id, currency, amount_minor, sources,
                              spendable_after_minor, create_time, expire_time)
    VALUES (%(id)s, %(customer_id)s, %(price_id)s, %(currency)s, %(amount_minor)s, %(sources)s,
            %(spendable_after_minor)s, %(create_time)s, %(expire_time)s)"""
_END = f"""
    UPDATE {R.fullname} SET end_time = %(now)s
     WHERE id = %(id)s AND customer_id = %(customer_id)s AND end_time IS NULL
    RETURNING *"""
# The customer's now: its test clock's time, else the server's (I-18).
_CUSTOMER_NOW = f"coalesce({test_clocks.clock_time_sql('%(customer_id)s')}, %(now)s::timestamptz)"
_AS_OF = f"SELECT {_CUSTOMER_NOW} AS as_of"
# The active reservations' sum per currency at the customer's now (R-2).
_RESERVED = f"""
    SELECT currency, sum(amount_minor) AS reserved FROM {R.fullname}
     WHERE customer_id = %(customer_id)s AND end_time IS NULL AND expire_time > {_CUSTOMER_NOW}
     GROUP BY currency"""


def _reservation(row: Any) -> Reservation:
    return Reservation(
        id=row.id,
        customer_id=row.customer_id,
        price_id=row.price_id,
        amount=Money(row.currency, row.amount_minor),
        sources=tuple((grant_id, Money(row.currency, minor)) for grant_id, minor in row.sources),
        spendable_after=Money(row.currency, row.spendable_after_minor),
        create_time=row.create_time,
        expire_time=row.expire_time,
        end_time=row.end_time,
    )


class ReservationRepository(Repository):
    __slots__ = ()

    async def get(self, reservation_id: str, customer_id: str) -> Reservation | None:
        rows = await _fetch(self._db, _GET, {"id": reservation_id, "customer_id": customer_id})
        return _reservation(rows[0]) if rows else None

    async def insert(self, reservation: Reservation) -> None:
        await _send(
            self._db,
            _INSERT,
            {
                "id": reservation.id,
                "customer_id": reservation.customer_id,
                "price_id": reservation.price_id,
                "currency": reservation.amount.currency,
                "amount_minor": reservation.amount.minor,
                "sources": Jsonb([[grant_id, m.minor] for grant_id, m in reservation.sources]),
                "spendable_after_minor": reservation.spendable_after.minor,
                "create_time": reservation.create_time,
                "expire_time": reservation.expire_time,
            },
        )

    async def end(self, reservation_id: str, customer_id: str, now: datetime) -> Reservation | None:
        """End it if active; None when it was ended before (or is unknown)."""
        rows = await _fetch(self._db, _END, {"id": reservation_id, "customer_id": customer_id, "now": now})
        return _reservation(rows[0]) if rows else None

    async def state(
        self, reservation_id: str, customer_id: str, now: datetime
    ) -> tuple[Reservation | None, dict[str, int], datetime]:
        """In one round trip: the reservation if it exists, the active reservations' sum per
        currency and the customer's now (its test clock's time, else ``now``)."""
        params = {"id": reservation_id, "customer_id": customer_id, "now": now}
        found, reserved, [moment] = await _fetch_many(
            self._db, [(_GET, params), (_RESERVED, params), (_AS_OF, params)]
        )
        return (
            _reservation(found[0]) if found else None,
            {row.currency: int(row.reserved) for row in reserved},
            moment.as_of,
        )

    async def spendable_state(
        self, customer_id: str, now: datetime
    ) -> tuple[datetime, list[CurrencyBalance], dict[str, int], dict[str, int]]:
        """In one round trip: the customer's now, its balance summary (C-21), the active
        reservations' sum per currency at that moment (R-2) and what was granted per
        currency (the amounts of grants effective and not voided, R-7)."""
        params = {"customer_id": customer_id, "now": now, "as_of": None, "grant_id": "", "price_ids": None}
        [moment], balances, reserved = await _fetch_many(
            self._db, [(_AS_OF, params), (SUMMARY_OF_ALL, params), (_RESERVED, params)]
        )
        return (
            moment.as_of,
            summary_of(balances),
            {row.currency: int(row.reserved) for row in reserved},
            {row.currency: int(row.granted) for row in balances},
        )
