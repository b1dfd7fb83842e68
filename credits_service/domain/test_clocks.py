"""Test clocks as credits sees them (SPEC I-16, I-18).

Invoicing owns test clocks; it tells credits each clock's frozen time and which
customers live on it (``TestClockTimeService``). For such a customer, "now" is the
clock's time, everywhere credits would otherwise read the wall clock: the default
effective time of a new grant, the moment statuses and available balances are shown at
when a read gives no ``as_of``, the moment an expiry, a void or an update is judged at,
and the default ``as_of`` of holds, applications, previews and reinstatements. The
wall-clock expiry sweep leaves these customers alone: their expiries are posted when
their clock is advanced (ExpireDueCreditGrants with the clock's time and customers).

Rules:
- A clock's time only moves forward: setting an earlier time keeps the later one, so a
  late retry of an advance cannot move it back.
- A customer lives on one clock for good: attaching it to another is refused
  (CUSTOMER_ON_OTHER_CLOCK); attaching it to its own again changes nothing.
- Forgetting a clock (it was deleted) puts its customers back on the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from credits_service.domain.limits import clip
from drawdown.errors import FailedPrecondition

# Customers one SetTestClockTime call may attach (the contract's limit).
MAX_CUSTOMERS_PER_CALL = 1000


def customer_now(clock_time: datetime | None, wall_now: datetime) -> datetime:
    """The customer's now: its clock's time if it lives on one, else the wall clock's."""
    return clock_time or wall_now


def customers_on_other_clocks(clock_id: str, elsewhere: Mapping[str, str]) -> FailedPrecondition:
    """FailedPrecondition CUSTOMER_ON_OTHER_CLOCK for customers (id → their clock) that
    already live on another clock than ``clock_id``; names the first one."""
    customer_id, other = min(elsewhere.items())
    return FailedPrecondition(
        f"customer {clip(customer_id)!r} already lives on test clock {clip(other)!r}; "
        f"it cannot join {clip(clock_id)!r}",
        reason="CUSTOMER_ON_OTHER_CLOCK",
        metadata={"customer_id": clip(customer_id), "test_clock_id": clip(other)},
    )
