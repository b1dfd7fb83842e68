"""Test clocks and the billing schedule they drive (I-16, I-18, I-10, I-11).

The scheduler runs the same ``due_actions`` against the wall clock; a test clock only
moves time forward and runs, in order, every action due up to its new time. As Stripe
does, one advance goes at most two intervals of the shortest subscription on the clock
(two years without one), so that an advance runs a bounded number of billing actions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from drawdown.clock import ensure_utc
from drawdown.errors import InvalidArgument
from invoicing_service.domain import reasons
from invoicing_service.domain.invoices import auto_finalize_at
from invoicing_service.domain.periods import Interval, Period, intervals_after, next_period

# The times a test clock may stand at: far enough from the calendar's ends that periods,
# grace periods and advances computed from them stay valid dates.
MIN_FROZEN_TIME = datetime(1970, 1, 1, tzinfo=UTC)
MAX_FROZEN_TIME = datetime(9000, 1, 1, tzinfo=UTC)
# How far one advance may go: this many of the shortest subscription interval on the
# clock, or MAX_ADVANCE_MONTHS without a subscription (I-18, as Stripe).
ADVANCE_INTERVALS = 2
MAX_ADVANCE_MONTHS = 24


class TestClockStatus(StrEnum):
    """Whether a test clock is at rest, being advanced, or stopped by a failed advance (I-16)."""

    __test__ = False  # not a test class

    READY = "ready"
    ADVANCING = "advancing"
    INTERNAL_FAILURE = "internal_failure"


class ActionKind(StrEnum):
    CLOSE_PERIOD = "close_period"
    FINALIZE_INVOICE = "finalize_invoice"


@dataclass(frozen=True)
class PendingDraft:
    """A draft invoice already created for ``period``, waiting to finalize."""

    period: Period
    finalize_at: datetime


@dataclass(frozen=True)
class BillingSchedule:
    """What the scheduler needs to know about one subscription.

    ``current_period`` is None once the subscription has ended; ``cancel_at`` is the end
    of the period a cancel-at-period-end request lets run out.
    """

    subscription_id: str
    anchor: datetime
    interval: Interval
    interval_count: int
    grace_period: timedelta
    current_period: Period | None
    cancel_at: datetime | None = None
    pending_drafts: tuple[PendingDraft, ...] = ()


@dataclass(frozen=True)
class DueAction:
    """One billing action due ``at``. A draft is identified by its subscription and
    ``period``, so a finalization may refer to a draft an earlier action creates.
    ``ends_subscription`` marks the close of a subscription's last period."""

    at: datetime
    kind: ActionKind
    subscription_id: str
    period: Period
    ends_subscription: bool = False


_KIND_ORDER = {ActionKind.CLOSE_PERIOD: 0, ActionKind.FINALIZE_INVOICE: 1}


def validate_frozen_time(moment: datetime, field: str) -> datetime:
    """A time a test clock may stand at: from 1970-01-01 up to (not including) 9000-01-01
    UTC (InvalidArgument INVALID_FROZEN_TIME on ``field`` otherwise)."""
    moment = ensure_utc(moment)
    if not MIN_FROZEN_TIME <= moment < MAX_FROZEN_TIME:
        raise InvalidArgument.for_field(
            field,
            f"must lie from {MIN_FROZEN_TIME.isoformat()} up to {MAX_FROZEN_TIME.isoformat()}",
            reason=reasons.INVALID_FROZEN_TIME,
        )
    return moment


def advance_limit(frozen_time: datetime, intervals: Iterable[tuple[Interval, int]]) -> datetime:
    """The latest time one advance from ``frozen_time`` may reach (I-18): two intervals of
    the shortest of ``intervals`` (each a subscription's interval and count on the clock),
    or two years when there is none; never past the clock range."""
    frozen_time = ensure_utc(frozen_time)
    limits = [intervals_after(frozen_time, i, count, ADVANCE_INTERVALS) for i, count in intervals]
    limit = min(limits, default=intervals_after(frozen_time, Interval.MONTH, MAX_ADVANCE_MONTHS, 1))
    return min(limit, MAX_FROZEN_TIME - timedelta(microseconds=1))


def validate_advance(
    frozen_time: datetime, new_time: datetime, intervals: Iterable[tuple[Interval, int]] = ()
) -> datetime:
    """The clock's new frozen time (I-16, I-18), InvalidArgument on ``frozen_time``
    otherwise: later than the current one (TEST_CLOCK_BACKWARDS), within the clock range
    (INVALID_FROZEN_TIME), and at most ``advance_limit`` (ADVANCE_TOO_FAR, the limit in
    the metadata as ``max_frozen_time``)."""
    frozen_time, new_time = ensure_utc(frozen_time), ensure_utc(new_time)
    if new_time <= frozen_time:
        raise InvalidArgument.for_field(
            "frozen_time",
            f"a test clock only moves forward: {new_time.isoformat()} is not after {frozen_time.isoformat()}",
            reason=reasons.TEST_CLOCK_BACKWARDS,
        )
    validate_frozen_time(new_time, "frozen_time")
    limit = advance_limit(frozen_time, intervals)
    if new_time > limit:
        raise InvalidArgument.for_field(
            "frozen_time",
            f"one advance goes at most to {limit.isoformat()}: two intervals of the shortest"
            " subscription on the clock (two years without one); advance in steps",
            reason=reasons.ADVANCE_TOO_FAR,
            metadata={"max_frozen_time": limit.isoformat()},
        )
    return new_time


def due_actions(schedules: Iterable[BillingSchedule], until: datetime) -> list[DueAction]:
    """Every billing action due at or before ``until``, in the order to run them (I-16).

    Each period that has ended closes (its draft is created) at its end, and each draft
    finalizes at its period end plus the grace period (I-11), period after period when
    the clock jumps over several. Closing stops after the period a cancellation ends.
    Actions run in time order; at the same instant the earlier period first, and a
    period's close before its finalization (a zero grace period).
    """
    until = ensure_utc(until)
    actions = [action for schedule in schedules for action in _actions_for(schedule, until)]
    return sorted(
        actions,
        key=lambda action: (action.at, action.period.start, _KIND_ORDER[action.kind], action.subscription_id),
    )


def _actions_for(schedule: BillingSchedule, until: datetime) -> Iterable[DueAction]:
    for draft in schedule.pending_drafts:
        if draft.finalize_at <= until:
            yield DueAction(
                draft.finalize_at, ActionKind.FINALIZE_INVOICE, schedule.subscription_id, draft.period
            )
    period = schedule.current_period
    while period is not None and period.end <= until:
        ends = schedule.cancel_at is not None and period.end >= schedule.cancel_at
        yield DueAction(
            period.end, ActionKind.CLOSE_PERIOD, schedule.subscription_id, period, ends_subscription=ends
        )
        finalize_at = auto_finalize_at(period.end, schedule.grace_period)
        if finalize_at <= until:
            yield DueAction(finalize_at, ActionKind.FINALIZE_INVOICE, schedule.subscription_id, period)
        if ends:
            return
        period = next_period(schedule.anchor, schedule.interval, schedule.interval_count, period)
