"""Test clocks as the services that do not own them see them (I-18).

Invoicing owns test clocks; it tells metering and credits each clock's frozen time and
which customers live on it (their ``TestClockTimeService``). For such a customer, "now"
is the clock's time wherever the service would otherwise read the wall clock.

Rules, the same in every service:
- A clock's time only moves forward: setting an earlier time keeps the later one, so a
  late retry of an advance cannot move it back.
- A customer lives on one clock for good: attaching it to another is refused
  (CUSTOMER_ON_OTHER_CLOCK); attaching it to its own again changes nothing.
- Forgetting a clock (it was deleted) puts its customers back on the wall clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from drawdown.errors import FailedPrecondition

# The reason of a customer already on another clock, documented by each service that
# follows these rules (metering, credits).
CUSTOMER_ON_OTHER_CLOCK = "CUSTOMER_ON_OTHER_CLOCK"
# Customers one SetTestClockTime call may attach (the contracts' limit).
MAX_CUSTOMERS_PER_CALL = 1000


def customer_now(clock_time: datetime | None, wall_now: datetime) -> datetime:
    """The customer's now: its clock's time if it lives on one, else the wall clock's."""
    return clock_time or wall_now


def customers_on_other_clocks(clock_id: str, elsewhere: Mapping[str, str]) -> FailedPrecondition:
    """FailedPrecondition CUSTOMER_ON_OTHER_CLOCK for customers (id → their clock) that
    already live on another clock than ``clock_id``; names the first one. Ids are at most
    255 characters (the contracts' limit), so they are echoed whole."""
    customer_id, other = min(elsewhere.items())
    return FailedPrecondition(
        f"customer {customer_id!r} already lives on test clock {other!r}; it cannot join {clock_id!r}",
        reason=CUSTOMER_ON_OTHER_CLOCK,
        metadata={"customer_id": customer_id, "test_clock_id": other},
    )
