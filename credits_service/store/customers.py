"""Customers as credits keeps them: the row every money movement locks first, and test clocks.

Every money movement of a customer runs after ``CustomerRepository.lock`` (C-14): the
customer's row in ``credit_customers`` is locked first, then the grants it touches by id,
so concurrent draws serialize in one fixed order and never deadlock. A customer on a
test clock (I-18) is judged at its clock's time; the clocks' tables and SQL are
``drawdown.db.test_clocks``'.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from credits_service.store.schema import credit_customers, test_clocks
from credits_service.store.sql import Repository
from drawdown.db.engine import fetch as _fetch

LOCK_CUSTOMER = f"SELECT 1 FROM {credit_customers.fullname} WHERE customer_id = %(customer_id)s FOR UPDATE"
_CREATE_CUSTOMER = (
    f"INSERT INTO {credit_customers.fullname} (customer_id, create_time) VALUES (%(customer_id)s, %(now)s) "
    "ON CONFLICT DO NOTHING"
)
# A batch's customers: every row created first (in id order, so that two batches
# creating the same customers wait on each other), then all locked in id order.
CREATE_CUSTOMERS = f"""
    INSERT INTO {credit_customers.fullname} (customer_id, create_time)
    SELECT c.customer_id, %(now)s FROM unnest(%(customer_ids)s::text[]) WITH ORDINALITY AS c(customer_id, n)
     ORDER BY c.n
    ON CONFLICT DO NOTHING"""
LOCK_CUSTOMERS = f"""
    SELECT customer_id FROM {credit_customers.fullname}
     WHERE customer_id = ANY(%(customer_ids)s::text[]) ORDER BY customer_id FOR UPDATE"""
_CLOCK_TIME_OF = f"SELECT {test_clocks.clock_time_sql('%(customer_id)s')} AS clock_time"


class CustomerRepository(Repository):
    """Customer locks and test clocks."""

    __slots__ = ()

    # -- locks ------------------------------------------------------------------------

    async def lock(self, customer_id: str, now: datetime) -> None:
        """Take the customer's lock (creating its row on first use); held until commit."""
        params = {"customer_id": customer_id, "now": now}
        if await _fetch(self._db, LOCK_CUSTOMER, params):
            return
        await _fetch(self._db, _CREATE_CUSTOMER, params)
        await _fetch(self._db, LOCK_CUSTOMER, params)

    async def lock_many(self, customer_ids: Iterable[str], now: datetime) -> None:
        """``lock`` for each, once, in id order (the batches' order)."""
        params = {"customer_ids": sorted(set(customer_ids)), "now": now}
        await _fetch(self._db, CREATE_CUSTOMERS, params)
        await _fetch(self._db, LOCK_CUSTOMERS, params)

    # -- test clocks (I-18) -------------------------------------------------------------

    async def clock_time_of(self, customer_id: str) -> datetime | None:
        """The time of the test clock the customer lives on; None on the wall clock."""
        [row] = await _fetch(self._db, _CLOCK_TIME_OF, {"customer_id": customer_id})
        return row.clock_time

    async def set_test_clock(self, clock_id: str, frozen_time: datetime, now: datetime) -> datetime:
        """Record the clock at ``frozen_time``, or move it there if later (never back)."""
        return await test_clocks.set_time(self._db, clock_id, frozen_time, now)

    async def attach_to_test_clock(
        self, clock_id: str, customer_ids: Sequence[str], now: datetime
    ) -> dict[str, str]:
        """Attach the customers (already locked) that live on no clock to ``clock_id``;
        returns those that live on another clock, with it (nothing is moved)."""
        return await test_clocks.attach(self._db, clock_id, customer_ids, now)

    async def delete_test_clock(self, clock_id: str) -> None:
        """Forget the clock and its customers' attachments (they return to the wall clock)."""
        await test_clocks.delete(self._db, clock_id)
