"""Reservations of credits (R-1..R-4): stored once per id, ended once, summed while active.

Constant SQL on whichever handle the call runs on (a raw transaction on the hot path).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from credits_service.domain.reservations import Reservation
from credits_service.store.schema import credit_reservations as R
from credits_service.store.sql import Repository
from drawdown.db.engine import fetch as _fetch
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
# The active reservations' sum per currency at ``as_of`` (R-2).
_RESERVED = f"""
    SELECT currency, sum(amount_minor) AS reserved FROM {R.fullname}
     WHERE customer_id = %(customer_id)s AND end_time IS NULL AND expire_time > %(as_of)s
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

    async def reserved(self, customer_id: str, as_of: datetime) -> dict[str, int]:
        """Currency → the sum of the customer's reservations active at ``as_of`` (R-2)."""
        rows = await _fetch(self._db, _RESERVED, {"customer_id": customer_id, "as_of": as_of})
        return {row.currency: int(row.reserved) for row in rows}
