"""Test clock use cases: test clocks as credits sees them (I-16, I-18); the rules every service shares are
in ``drawdown.test_clocks``.

For a customer on a test clock, "now" is the clock's time everywhere credits would
otherwise read the wall clock: the default effective time of a new grant, the moment
statuses and available balances are shown at when a read gives no ``as_of``, the moment
an expiry, a void or an update is judged at, and the default ``as_of`` of holds,
applications, previews and reinstatements. The wall-clock expiry sweep leaves these
customers alone: their expiries are posted when their clock is advanced
(ExpireDueCreditGrants with the clock's time and customers).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from credits_service.store.unit import CreditRepositories
from drawdown.clock import Clock
from drawdown.test_clocks import customers_on_other_clocks


class TestClockUseCases:
    __test__ = False  # a use case, not a test class

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def set_time(
        self, uow: CreditRepositories, clock_id: str, frozen_time: datetime, customer_ids: Sequence[str]
    ) -> datetime:
        """Record the clock's time (moving it forward only) and attach the customers to it,
        in one transaction: the clock's row is locked first, then the customers' locks in
        id order (the order of every draw), so attaching serializes with the customers'
        draws and never deadlocks. Returns the clock's time as stored. A customer on
        another clock refuses the whole call (CUSTOMER_ON_OTHER_CLOCK)."""
        now = self._clock.now()
        stored = await uow.customers.set_test_clock(clock_id, frozen_time, now)
        if customer_ids:
            await uow.customers.lock_many(customer_ids, now)
            elsewhere = await uow.customers.attach_to_test_clock(clock_id, customer_ids, now)
            if elsewhere:
                raise customers_on_other_clocks(clock_id, elsewhere)
        return stored

    async def delete(self, uow: CreditRepositories, clock_id: str) -> None:
        """Forget the clock; its customers return to the wall clock. Unknown: nothing to do."""
        await uow.customers.delete_test_clock(clock_id)
