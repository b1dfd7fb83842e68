"""Billing periods: half-open UTC ranges laid end to end from a billing-cycle anchor (I-3).

Every period boundary is computed from the anchor directly (the n-th boundary is the
anchor plus n intervals), never by stepping from the previous boundary, so a month
anchor on the 31st clamps to short months and returns to the 31st instead of drifting.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from drawdown.clock import ensure_utc


class Interval(StrEnum):
    """The unit a recurring price repeats in."""

    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    YEAR = "year"


@dataclass(frozen=True)
class Period:
    """The half-open range [start, end) in UTC.

    Billing periods are never empty; a zero-length period stands for a one-off charge
    at one instant (a credit purchase) or a cancellation at the very start of a period.
    """

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "start", ensure_utc(self.start))
        object.__setattr__(self, "end", ensure_utc(self.end))
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    def contains(self, moment: datetime) -> bool:
        return self.start <= ensure_utc(moment) < self.end


def period_containing(anchor: datetime, interval: Interval, count: int, at: datetime) -> Period:
    """The billing period that contains ``at`` (I-3).

    Periods are ``count`` intervals long and start at the anchor; they extend both ways,
    so ``at`` may lie before the anchor. Month and year intervals keep the anchor's day
    of month, clamped to the last day of shorter months (Jan 31 → Feb 28 or 29 → Mar 31;
    a Feb 29 yearly anchor falls on Feb 28 in common years), and its time of day.
    """
    anchor, at = ensure_utc(anchor), ensure_utc(at)
    _check_count(count)
    index = _estimated_index(anchor, interval, count, at)
    # The estimate can be one period off around clamped month ends; settle it exactly.
    while _boundary(anchor, interval, count, index) > at:
        index -= 1
    while _boundary(anchor, interval, count, index + 1) <= at:
        index += 1
    return Period(_boundary(anchor, interval, count, index), _boundary(anchor, interval, count, index + 1))


def next_period(anchor: datetime, interval: Interval, count: int, current: Period) -> Period:
    """The billing period that starts where ``current`` ends (I-3).

    ``current`` may be a short first period ending at the anchor; the next one is then
    the first regular period.
    """
    return period_containing(anchor, interval, count, current.end)


def intervals_after(moment: datetime, interval: Interval, count: int, times: int) -> datetime:
    """``moment`` plus ``times`` periods of ``count`` intervals, months clamped to their
    last day (Jan 31 + 1 month: Feb 28 or 29)."""
    _check_count(count)
    return _boundary(ensure_utc(moment), interval, count, times)


def _check_count(count: int) -> None:
    if count < 1:
        raise ValueError(f"interval count must be at least 1, got {count}")


def _boundary(anchor: datetime, interval: Interval, count: int, index: int) -> datetime:
    steps = index * count
    match interval:
        case Interval.DAY:
            return anchor + timedelta(days=steps)
        case Interval.WEEK:
            return anchor + timedelta(weeks=steps)
        case Interval.MONTH:
            return _add_months(anchor, steps)
        case Interval.YEAR:
            return _add_months(anchor, 12 * steps)
    raise ValueError(f"unknown interval {interval!r}")


def _estimated_index(anchor: datetime, interval: Interval, count: int, at: datetime) -> int:
    match interval:
        case Interval.DAY:
            return (at - anchor) // timedelta(days=count)
        case Interval.WEEK:
            return (at - anchor) // timedelta(weeks=count)
        case Interval.MONTH | Interval.YEAR:
            months_per_period = count * (12 if interval is Interval.YEAR else 1)
            months = (at.year - anchor.year) * 12 + (at.month - anchor.month)
            return months // months_per_period
    raise ValueError(f"unknown interval {interval!r}")


def _add_months(moment: datetime, months: int) -> datetime:
    year, month_index = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    month = month_index + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def usage_so_far(period: Period, as_of: datetime) -> Period:
    """The usage of ``period`` that has happened by ``as_of`` (a preview, the live balance):
    from the period's start through ``as_of`` itself. Metering answers on whole minutes,
    so the minute of ``as_of`` counts whole, also when ``as_of`` falls on the minute: an
    event stamped at ``as_of`` has happened by then."""
    through = ensure_utc(as_of).replace(second=0, microsecond=0) + timedelta(minutes=1)
    return Period(period.start, min(period.end, through))


def metering_range(period: Period) -> Period:
    """The range usage is read over for ``period`` (I-10, M-20): metering answers on whole
    minutes, so the start is floored and the end raised to the minute. Billing periods
    already lie on minutes (anchors are taken on the minute), and so do the ranges of
    :func:`usage_so_far`; an immediate cancellation ends mid-minute, and then the usage of
    that minute counts."""
    start = period.start.replace(second=0, microsecond=0)
    end = period.end.replace(second=0, microsecond=0)
    if end < period.end:
        end += timedelta(minutes=1)
    return Period(start, end)


def anchor_at(moment: datetime) -> datetime:
    """The billing-cycle anchor of a subscription created at ``moment``: the moment,
    on the minute (I-3), so that every period boundary is a whole minute."""
    return ensure_utc(moment).replace(second=0, microsecond=0)
