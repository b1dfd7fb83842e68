"""Test clocks as the services that do not own them store them (I-18).

Invoicing tells metering and credits each clock's time and customers
(``drawdown.test_clocks`` has the rules). Each service keeps them in two tables of its own
schema: ``<prefix>test_clocks`` (a clock's time) and ``<prefix>test_clock_customers``
(the customers on it), and reads and writes them with the SQL of :class:`TestClockTables`.
A clock's time only moves forward (``greatest``); a customer's row is never moved to
another clock (the caller reports the customers on one).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from drawdown.db.engine import fetch

_TS = sa.DateTime(timezone=True)


class TestClockTables:
    """A service's two test clock tables, on ``metadata``, and the statements over them.

    Statements take ``db``, what ``drawdown.db.engine.fetch`` runs on (an engine
    connection or a raw ``Transaction``); the SQL texts are attributes, for callers that
    send them with others in one round trip.
    """

    __test__ = False  # not a test class

    def __init__(self, metadata: sa.MetaData, prefix: str = "") -> None:
        self.clocks = sa.Table(
            f"{prefix}test_clocks",
            metadata,
            sa.Column("id", sa.Text, primary_key=True),
            sa.Column("frozen_time", _TS, nullable=False),
            sa.Column("create_time", _TS, nullable=False),
            sa.Column("update_time", _TS, nullable=False),
            sa.CheckConstraint("char_length(id) BETWEEN 1 AND 255", name=f"{prefix}test_clocks_id_length"),
        )
        self.customers = sa.Table(
            f"{prefix}test_clock_customers",
            metadata,
            sa.Column("customer_id", sa.Text, primary_key=True),
            sa.Column(
                "test_clock_id",
                sa.Text,
                sa.ForeignKey(f"{prefix}test_clocks.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("create_time", _TS, nullable=False),
            sa.CheckConstraint(
                "char_length(customer_id) BETWEEN 1 AND 255", name=f"{prefix}test_clock_customers_id_length"
            ),
        )
        sa.Index(f"{prefix}test_clock_customers_by_clock", self.customers.c.test_clock_id)
        k, kc = self.clocks.fullname, self.customers.fullname
        self._join = f"{kc} AS kc JOIN {k} AS k ON k.id = kc.test_clock_id"
        # The clock times of the customers ``%(customer_ids)s`` that live on a clock.
        self.clock_times_sql = f"""
            SELECT kc.customer_id, k.frozen_time FROM {self._join}
             WHERE kc.customer_id = ANY(%(customer_ids)s::text[])"""
        self._set_time = f"""
            INSERT INTO {k} AS k (id, frozen_time, create_time, update_time)
            VALUES (%(clock_id)s, %(frozen_time)s, %(now)s, %(now)s)
            ON CONFLICT (id) DO UPDATE
               SET frozen_time = greatest(k.frozen_time, excluded.frozen_time),
                   update_time = CASE WHEN excluded.frozen_time > k.frozen_time THEN excluded.update_time
                                      ELSE k.update_time END
            RETURNING k.frozen_time"""
        self._attach = f"""
            INSERT INTO {kc} (customer_id, test_clock_id, create_time)
            SELECT c.customer_id, %(clock_id)s, %(now)s FROM unnest(%(customer_ids)s::text[]) AS c(customer_id)
             ORDER BY c.customer_id
            ON CONFLICT (customer_id) DO NOTHING"""
        self._elsewhere = f"""
            SELECT customer_id, test_clock_id FROM {kc}
             WHERE customer_id = ANY(%(customer_ids)s::text[]) AND test_clock_id <> %(clock_id)s"""
        self._delete = f"DELETE FROM {k} WHERE id = %(clock_id)s"

    @property
    def tables(self) -> list[sa.Table]:
        """Both tables, in the order to create them."""
        return [self.clocks, self.customers]

    def clock_time_sql(self, customer_id: str) -> str:
        """The time of the clock the customer (an SQL expression) lives on, NULL on the
        wall clock: one primary-key lookup, to embed in other statements."""
        return f"(SELECT k.frozen_time FROM {self._join} WHERE kc.customer_id = {customer_id})"

    async def clock_times(self, db: Any, customer_ids: Collection[str]) -> dict[str, datetime]:
        """The clock time of each of these customers that lives on a test clock."""
        if not customer_ids:
            return {}
        rows = await fetch(db, self.clock_times_sql, {"customer_ids": list(customer_ids)})
        return clock_times_of(rows)

    async def set_time(self, db: Any, clock_id: str, frozen_time: datetime, now: datetime) -> datetime:
        """Record the clock at ``frozen_time``, or move it there if later (never back); its
        time as stored. Locks the clock's row, so attaching serializes per clock."""
        params = {"clock_id": clock_id, "frozen_time": frozen_time, "now": now}
        [row] = await fetch(db, self._set_time, params)
        return row.frozen_time

    async def attach(
        self, db: Any, clock_id: str, customer_ids: Sequence[str], now: datetime
    ) -> dict[str, str]:
        """Attach the customers that live on no clock to ``clock_id``; those that live on
        another clock, with it (nothing is moved)."""
        params = {"clock_id": clock_id, "customer_ids": sorted(set(customer_ids)), "now": now}
        await fetch(db, self._attach, params)
        return {row.customer_id: row.test_clock_id for row in await fetch(db, self._elsewhere, params)}

    async def delete(self, db: Any, clock_id: str) -> None:
        """Forget the clock and its customers' attachments (they return to the wall clock)."""
        await fetch(db, self._delete, {"clock_id": clock_id})


def clock_times_of(rows: Sequence[Any]) -> dict[str, datetime]:
    """Rows of ``clock_times_sql`` as customer id → clock time."""
    return {row.customer_id: row.frozen_time for row in rows}
