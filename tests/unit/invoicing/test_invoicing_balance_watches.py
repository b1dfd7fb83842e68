"""The rules of balance watches (R-6, R-7) as plain functions: a crossing acts once, a
recovery re-arms, a top-up never buys past its month's cap."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drawdown.errors import InvalidArgument
from drawdown.money import Money
from invoicing_service.domain.balance_watches import (
    AutoTopUp,
    BalanceAlert,
    Collection,
    WatchState,
    judge_alert,
    judge_top_up,
    month_of,
    validate_auto_top_ups,
    validate_balance_alerts,
)


def usd(minor: int) -> Money:
    return Money("USD", minor)


def top_up(*, amount: int | None = 1000, recharge_to: int | None = None, cap: int = 1500) -> AutoTopUp:
    return AutoTopUp(
        usd(500),
        None if amount is None else usd(amount),
        None if recharge_to is None else usd(recharge_to),
        usd(cap),
        Collection.PAID,
    )


def test_r7_an_armed_alert_fires_below_its_threshold_once_and_re_arms_at_it() -> None:
    state, fired = judge_alert(WatchState(), usd(499), usd(500))
    assert (state.armed, fired) == (False, True)
    assert judge_alert(state, usd(100), usd(500)) == (state, False)
    state, fired = judge_alert(state, usd(500), usd(500))
    assert (state.armed, fired) == (True, False)


def test_r7_a_percent_of_granted_rounds_half_up_to_a_minor_unit() -> None:
    alert = BalanceAlert("USD", None, Decimal("12.5"))
    assert alert.threshold(usd(1004)) == usd(126)  # 125.5 → 126
    assert alert.key == BalanceAlert("USD", None, Decimal("12.50")).key


def test_r6_a_top_up_buys_its_amount_cut_to_the_cap_then_nothing_until_next_month() -> None:
    state, bought = judge_top_up(top_up(), WatchState(), usd(400), "2026-01")
    assert (state, bought) == (WatchState(False, "2026-01", 1000), 1000)
    state, _ = judge_top_up(top_up(), state, usd(1400), "2026-01")
    state, bought = judge_top_up(top_up(), state, usd(400), "2026-01")
    assert (state.topped_up, bought) == (1500, 500)
    state, _ = judge_top_up(top_up(), state, usd(900), "2026-01")
    assert judge_top_up(top_up(), state, usd(400), "2026-01") == (state, 0)  # capped: stays armed
    assert judge_top_up(top_up(), state, usd(400), "2026-02") == (WatchState(False, "2026-02", 1000), 1000)


def test_r6_recharge_to_buys_the_difference() -> None:
    assert (
        judge_top_up(top_up(amount=None, recharge_to=2000, cap=10_000), WatchState(), usd(-300), "m")[1]
        == 2300
    )


@given(st.lists(st.integers(-5000, 5000), max_size=40), st.integers(1, 3000), st.integers(1, 5000))
def test_r6_never_past_the_cap_and_at_most_one_purchase_per_crossing(balances, amount, cap) -> None:
    rule, state, total, purchases, below_runs = top_up(amount=amount, cap=cap), WatchState(), 0, 0, 0
    was_below = False
    for balance in balances:
        state, bought = judge_top_up(rule, state, usd(balance), "m")
        below = balance < 500
        below_runs += below and not was_below
        was_below = below
        total += bought
        purchases += bought > 0
    assert total <= cap and total == state.topped_up
    assert purchases <= below_runs


def test_month_of_is_the_utc_calendar_month() -> None:
    assert month_of(datetime(2026, 1, 31, 23, 59, tzinfo=UTC)) == "2026-01"


@pytest.mark.parametrize(
    ("top_ups", "field", "reason"),
    [
        ([top_up(), top_up()], "t[1].threshold", "CURRENCY_MISMATCH"),
        ([top_up(amount=0)], "t[0].amount", "INVALID_AMOUNT"),
        ([top_up(amount=None, recharge_to=500)], "t[0].recharge_to", "INVALID_AMOUNT"),
        (
            [AutoTopUp(usd(1), Money("EUR", 5), None, usd(9), Collection.OPEN)],
            "t[0].amount",
            "CURRENCY_MISMATCH",
        ),
    ],
)
def test_r6_bad_top_ups_name_their_field(top_ups, field, reason) -> None:
    with pytest.raises(InvalidArgument) as refused:
        validate_auto_top_ups(top_ups, "t")
    assert (refused.value.field_violations[0].field, refused.value.reason) == (field, reason)


@pytest.mark.parametrize("percent", ["0", "100.01", "1.001", "-5"])
def test_r7_a_percentage_is_above_0_at_most_100_with_2_places(percent) -> None:
    with pytest.raises(InvalidArgument):
        validate_balance_alerts([BalanceAlert("USD", None, Decimal(percent))], "a")
    validate_balance_alerts([BalanceAlert("USD", None, Decimal("99.99"))], "a")
