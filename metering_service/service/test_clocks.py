"""Test clock use cases (I-18): invoicing tells metering its clocks' times and customers.

For a customer on a test clock, metering reads the clock's time where it would read the
wall clock: an event's timestamp window (M-11) is judged by it, an event sent without a
timestamp happens at it, the event is received (``create_time``) at it, and the 24-hour
cancellation window (M-16) runs on it. The customer's usage so lands in the period its
clock is in.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from drawdown.clock import Clock
from drawdown.test_clocks import customers_on_other_clocks
from metering_service.store.unit import MeteringUnit


class TestClockUseCases:
    __test__ = False  # a use case, not a test class

    def __init__(self, clock: Clock) -> None:
        self._clock = clock

    async def set_time(
        self, uow: MeteringUnit, clock_id: str, frozen_time: datetime, customer_ids: Sequence[str]
    ) -> datetime:
        """Record the clock's time (forward only) and attach the customers to it, in one
        transaction; the clock's time as stored. A customer on another clock refuses the
        whole call (CUSTOMER_ON_OTHER_CLOCK)."""
        now = self._clock.now()
        stored = await uow.test_clocks.set_time(clock_id, frozen_time, now)
        if customer_ids:
            elsewhere = await uow.test_clocks.attach(clock_id, customer_ids, now)
            if elsewhere:
                raise customers_on_other_clocks(clock_id, elsewhere)
        return stored

    async def delete(self, uow: MeteringUnit, clock_id: str) -> None:
        """Forget the clock; its customers return to the wall clock. Unknown: nothing to do."""
        await uow.test_clocks.delete(clock_id)
