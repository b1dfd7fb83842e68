"""Test clocks (I-18): rows of ``metering.test_clocks`` and ``metering.test_clock_customers``.

A clock's time only moves forward (``greatest``), and a customer joins one clock for good
(its row is never moved; the caller reports the customers on another clock).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from drawdown.db.engine import fetch
from metering_service.store.schema import test_clock_customers, test_clocks

_K, _KC = test_clocks.fullname, test_clock_customers.fullname

_CLOCK_TIMES = f"""
SELECT kc.customer_id, k.frozen_time FROM {_KC} AS kc JOIN {_K} AS k ON k.id = kc.test_clock_id
 WHERE kc.customer_id = ANY(%(customer_ids)s::text[])"""
_SET_CLOCK_TIME = f"""
INSERT INTO {_K} AS k (id, frozen_time, created_at, updated_at)
VALUES (%(clock_id)s, %(frozen_time)s, %(now)s, %(now)s)
ON CONFLICT (id) DO UPDATE
   SET frozen_time = greatest(k.frozen_time, excluded.frozen_time),
       updated_at = CASE WHEN excluded.frozen_time > k.frozen_time THEN excluded.updated_at
                         ELSE k.updated_at END
RETURNING k.frozen_time"""
_ATTACH = f"""
INSERT INTO {_KC} (customer_id, test_clock_id, created_at)
SELECT c.customer_id, %(clock_id)s, %(now)s FROM unnest(%(customer_ids)s::text[]) AS c(customer_id)
 ORDER BY c.customer_id
ON CONFLICT (customer_id) DO NOTHING"""
_CLOCKS_OF = f"""
SELECT customer_id, test_clock_id FROM {_KC}
 WHERE customer_id = ANY(%(customer_ids)s::text[]) AND test_clock_id <> %(clock_id)s"""
_DELETE = f"DELETE FROM {_K} WHERE id = %(clock_id)s"


async def clock_times(session: AsyncSession, customer_ids: Collection[str]) -> dict[str, datetime]:
    """The clock time of each of these customers that lives on a test clock."""
    if not customer_ids:
        return {}
    rows = await fetch(await session.connection(), _CLOCK_TIMES, {"customer_ids": list(customer_ids)})
    return {row.customer_id: row.frozen_time for row in rows}


async def set_time(session: AsyncSession, clock_id: str, frozen_time: datetime, now: datetime) -> datetime:
    """Record the clock at ``frozen_time``, or move it there if later (never back); its
    time as stored. Locks the clock's row, so attaching serializes per clock."""
    params = {"clock_id": clock_id, "frozen_time": frozen_time, "now": now}
    [row] = await fetch(await session.connection(), _SET_CLOCK_TIME, params)
    return row.frozen_time


async def attach(
    session: AsyncSession, clock_id: str, customer_ids: Sequence[str], now: datetime
) -> dict[str, str]:
    """Attach the customers that live on no clock to ``clock_id``; those that live on
    another clock, with it (nothing is moved)."""
    db = await session.connection()
    params = {"clock_id": clock_id, "customer_ids": sorted(set(customer_ids)), "now": now}
    await fetch(db, _ATTACH, params)
    return {row.customer_id: row.test_clock_id for row in await fetch(db, _CLOCKS_OF, params)}


async def delete(session: AsyncSession, clock_id: str) -> None:
    """Forget the clock and its customers' attachments (they return to the wall clock)."""
    await fetch(await session.connection(), _DELETE, {"clock_id": clock_id})
