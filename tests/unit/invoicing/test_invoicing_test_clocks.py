"""Test clocks: forward only, and the billing actions due when one advances (I-16)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from drawdown.errors import InvalidArgument
from invoicing_service.domain.periods import Interval, Period
from invoicing_service.domain.test_clocks import (
    ActionKind,
    BillingSchedule,
    DueAction,
    PendingDraft,
    advance_limit,
    due_actions,
    validate_advance,
    validate_frozen_time,
)

CLOSE, FINALIZE = ActionKind.CLOSE_PERIOD, ActionKind.FINALIZE_INVOICE


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


MONTHLY = BillingSchedule(
    subscription_id="sub_jenny",
    anchor=utc(2024, 1, 31),
    interval=Interval.MONTH,
    interval_count=1,
    grace_period=timedelta(hours=1),
    current_period=Period(utc(2024, 1, 31), utc(2024, 2, 29)),
)
FEBRUARY = Period(utc(2024, 1, 31), utc(2024, 2, 29))
MARCH = Period(utc(2024, 2, 29), utc(2024, 3, 31))
APRIL = Period(utc(2024, 3, 31), utc(2024, 4, 30))


def summary(actions: list[DueAction]) -> list[tuple[datetime, ActionKind, str, Period]]:
    return [(action.at, action.kind, action.subscription_id, action.period) for action in actions]


class TestAdvance:
    def test_forward(self):
        assert validate_advance(utc(2024, 1, 1), utc(2024, 2, 1)) == utc(2024, 2, 1)

    @pytest.mark.parametrize(
        "new_time", [utc(2023, 12, 31), utc(2024, 1, 1)], ids=["backwards", "standing still"]
    )
    def test_only_forward(self, new_time):
        with pytest.raises(InvalidArgument) as raised:
            validate_advance(utc(2024, 1, 1), new_time)
        assert (raised.value.reason, raised.value.metadata["field"]) == (
            "TEST_CLOCK_BACKWARDS",
            "frozen_time",
        )


class TestAdvanceLimit:
    """I-18: one advance goes at most two intervals of the shortest subscription on the
    clock, two years without one (as Stripe)."""

    @pytest.mark.parametrize(
        ("intervals", "limit"),
        [
            ((), utc(2026, 1, 31)),
            (((Interval.DAY, 1),), utc(2024, 2, 2)),
            (((Interval.MONTH, 1), (Interval.WEEK, 2)), utc(2024, 2, 28)),
            (((Interval.MONTH, 1), (Interval.YEAR, 1)), utc(2024, 3, 31)),  # Jan 31 + 2 months
            (((Interval.MONTH, 3),), utc(2024, 7, 31)),
        ],
    )
    def test_two_intervals_of_the_shortest(self, intervals, limit):
        assert advance_limit(utc(2024, 1, 31), intervals) == limit
        assert validate_advance(utc(2024, 1, 31), limit, intervals) == limit

    def test_further_is_too_far_and_says_how_far(self):
        with pytest.raises(InvalidArgument) as raised:
            validate_advance(utc(2024, 1, 31), utc(2024, 2, 2, 0, 0, 1), [(Interval.DAY, 1)])
        error = raised.value
        assert (error.reason, error.metadata["field"]) == ("ADVANCE_TOO_FAR", "frozen_time")
        assert error.metadata["max_frozen_time"] == "2024-02-02T00:00:00+00:00"

    @pytest.mark.parametrize(
        "moment",
        [
            datetime.min.replace(tzinfo=UTC),
            utc(1969, 12, 31, 23, 59),
            utc(9000, 1, 1),
            datetime.max.replace(tzinfo=UTC),
        ],
    )
    def test_frozen_time_outside_the_clock_range(self, moment):
        with pytest.raises(InvalidArgument) as raised:
            validate_frozen_time(moment, "test_clock.frozen_time")
        assert (raised.value.reason, raised.value.metadata["field"]) == (
            "INVALID_FROZEN_TIME",
            "test_clock.frozen_time",
        )

    def test_near_the_end_of_the_range_the_limit_stays_in_it(self):
        late = utc(8999, 6, 1)
        assert advance_limit(late, ()) < utc(9000, 1, 1)
        with pytest.raises(InvalidArgument) as raised:
            validate_advance(late, utc(9000, 1, 1))
        assert raised.value.reason == "INVALID_FROZEN_TIME"


class TestDueActions:
    def test_nothing_due_inside_the_period(self):
        assert due_actions([MONTHLY], utc(2024, 2, 28, 23, 59)) == []

    def test_a_period_closes_at_its_end_and_finalizes_after_the_grace_period(self):
        assert summary(due_actions([MONTHLY], utc(2024, 2, 29, 1))) == [
            (utc(2024, 2, 29), CLOSE, "sub_jenny", FEBRUARY),
            (utc(2024, 2, 29, 1), FINALIZE, "sub_jenny", FEBRUARY),
        ]

    def test_finalization_waits_for_the_grace_period(self):
        assert summary(due_actions([MONTHLY], utc(2024, 2, 29, 0, 59))) == [
            (utc(2024, 2, 29), CLOSE, "sub_jenny", FEBRUARY)
        ]

    def test_a_jump_over_months_runs_every_period_in_order(self):
        assert summary(due_actions([MONTHLY], utc(2024, 4, 30, 12))) == [
            (utc(2024, 2, 29), CLOSE, "sub_jenny", FEBRUARY),
            (utc(2024, 2, 29, 1), FINALIZE, "sub_jenny", FEBRUARY),
            (utc(2024, 3, 31), CLOSE, "sub_jenny", MARCH),
            (utc(2024, 3, 31, 1), FINALIZE, "sub_jenny", MARCH),
            (utc(2024, 4, 30), CLOSE, "sub_jenny", APRIL),
            (utc(2024, 4, 30, 1), FINALIZE, "sub_jenny", APRIL),
        ]

    def test_drafts_already_waiting_finalize_first(self):
        earlier = Period(utc(2023, 12, 31), utc(2024, 1, 31))
        schedule = dataclasses.replace(MONTHLY, pending_drafts=(PendingDraft(earlier, utc(2024, 1, 31, 1)),))
        assert summary(due_actions([schedule], utc(2024, 2, 1)))[0] == (
            utc(2024, 1, 31, 1),
            FINALIZE,
            "sub_jenny",
            earlier,
        )

    def test_closing_stops_with_the_period_a_cancellation_ends(self):
        schedule = dataclasses.replace(MONTHLY, cancel_at=utc(2024, 3, 31))
        actions = due_actions([schedule], utc(2024, 6, 1))
        assert [(action.kind, action.period, action.ends_subscription) for action in actions] == [
            (CLOSE, FEBRUARY, False),
            (FINALIZE, FEBRUARY, False),
            (CLOSE, MARCH, True),
            (FINALIZE, MARCH, False),
        ]

    def test_an_ended_subscription_only_finalizes_its_drafts(self):
        final = Period(utc(2024, 2, 1), utc(2024, 2, 10))
        schedule = dataclasses.replace(
            MONTHLY, current_period=None, pending_drafts=(PendingDraft(final, utc(2024, 2, 10, 1)),)
        )
        assert summary(due_actions([schedule], utc(2025, 1, 1))) == [
            (utc(2024, 2, 10, 1), FINALIZE, "sub_jenny", final)
        ]

    def test_with_no_grace_a_period_closes_before_it_finalizes(self):
        schedule = dataclasses.replace(MONTHLY, grace_period=timedelta(0))
        assert [action.kind for action in due_actions([schedule], utc(2024, 2, 29))] == [CLOSE, FINALIZE]

    def test_a_grace_period_longer_than_the_period_interleaves_in_time_order(self):
        daily = BillingSchedule(
            subscription_id="sub_daily",
            anchor=utc(2024, 1, 1),
            interval=Interval.DAY,
            interval_count=1,
            grace_period=timedelta(hours=72),
            current_period=Period(utc(2024, 1, 1), utc(2024, 1, 2)),
        )
        actions = due_actions([daily], utc(2024, 1, 5))
        assert [(action.at.day, action.kind, action.period.start.day) for action in actions] == [
            (2, CLOSE, 1),
            (3, CLOSE, 2),
            (4, CLOSE, 3),
            (5, FINALIZE, 1),  # the earlier period's finalization before the close at the same instant
            (5, CLOSE, 4),
        ]

    def test_subscriptions_of_one_clock_interleave_in_time_order(self):
        weekly = BillingSchedule(
            subscription_id="sub_weekly",
            anchor=utc(2024, 2, 15),
            interval=Interval.WEEK,
            interval_count=1,
            grace_period=timedelta(hours=2),
            current_period=Period(utc(2024, 2, 15), utc(2024, 2, 22)),
        )
        actions = due_actions([MONTHLY, weekly], utc(2024, 3, 1))
        assert [action.at for action in actions] == sorted(action.at for action in actions)
        assert [(action.subscription_id, action.kind) for action in actions] == [
            ("sub_weekly", CLOSE),  # Feb 22
            ("sub_weekly", FINALIZE),
            ("sub_jenny", CLOSE),  # Feb 29
            ("sub_weekly", CLOSE),  # Feb 29 too: the same instant, a later period start
            ("sub_jenny", FINALIZE),
            ("sub_weekly", FINALIZE),
        ]
