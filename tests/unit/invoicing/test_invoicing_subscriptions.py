"""Subscriptions: items, first period, cancellation and grace period (I-3, I-10, I-11)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from drawdown.errors import FailedPrecondition, InvalidArgument
from invoicing_service.domain.periods import Interval, Period
from invoicing_service.domain.prices import MAX_LINE_AMOUNT, Price, UsageType, line_amount
from invoicing_service.domain.subscriptions import (
    DEFAULT_GRACE_PERIOD,
    Cancellation,
    CancellationMode,
    SubscriptionItem,
    SubscriptionStatus,
    first_period,
    invoice_at_creation,
    plan_cancellation,
    validate_grace_period,
    validate_items,
)

INPUT_TOKENS = Price(
    currency="USD",
    usage_type=UsageType.METERED,
    interval=Interval.MONTH,
    meter_id="mtr_input",
    unit_amount_decimal=Decimal(3),
)
SEATS = Price(
    currency="USD", usage_type=UsageType.LICENSED, interval=Interval.MONTH, unit_amount_decimal=Decimal(1000)
)


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


def item(
    price: Price = INPUT_TOKENS, *, price_id: str = "price_input", quantity: int | None = None
) -> SubscriptionItem:
    return SubscriptionItem(id=f"si_{price_id}", price_id=price_id, price=price, quantity=quantity)


def refused(items: list[SubscriptionItem]) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        validate_items(items)
    return raised.value


class TestItems:
    def test_metered_and_licensed_items_in_one_currency_and_interval(self):
        validate_items([item(), item(SEATS, price_id="price_seats", quantity=5)])

    def test_at_least_one_item(self):
        assert refused([]).reason == "ITEMS_REQUIRED"

    def test_at_most_twenty_items(self):
        validate_items([item(price_id=f"price_{n}") for n in range(20)])
        assert refused([item(price_id=f"price_{n}") for n in range(21)]).reason == "TOO_MANY_ITEMS"

    def test_each_price_once(self):
        error = refused([item(), item()])
        assert (error.reason, error.metadata["field"]) == ("DUPLICATE_PRICE", "items[1].price_id")

    def test_mixed_currencies_name_the_item(self):
        euros = dataclasses.replace(INPUT_TOKENS, currency="EUR")
        error = refused([item(), item(euros, price_id="price_eur")])
        assert (error.reason, error.metadata["field"]) == ("MIXED_CURRENCIES", "items[1].price_id")
        assert "EUR" in error.message and "USD" in error.message

    @pytest.mark.parametrize(
        "changes", [{"interval": Interval.YEAR}, {"interval_count": 3}], ids=["yearly", "quarterly"]
    )
    def test_mixed_intervals_name_the_item(self, changes):
        other = dataclasses.replace(INPUT_TOKENS, **changes)
        error = refused([item(), item(price_id="price_b"), item(other, price_id="price_c")])
        assert (error.reason, error.metadata["field"]) == ("MIXED_INTERVALS", "items[2].price_id")

    @pytest.mark.parametrize("quantity", [None, -1, -(2**63)])
    def test_licensed_items_need_a_quantity(self, quantity):
        error = refused([item(SEATS, price_id="price_seats", quantity=quantity)])
        assert (error.reason, error.metadata["field"]) == ("INVALID_QUANTITY", "items[0].quantity")

    def test_a_licensed_quantity_of_zero_is_valid_and_bills_nothing(self):
        validate_items([item(SEATS, price_id="price_seats", quantity=0)])
        assert line_amount(SEATS, Decimal(0)).minor == 0

    @pytest.mark.parametrize("quantity", [2**63 - 1, 10**15])
    def test_a_licensed_line_beyond_the_line_maximum_is_refused(self, quantity):
        error = refused([item(SEATS, price_id="price_seats", quantity=quantity)])
        assert (error.reason, error.metadata["field"]) == ("LINE_AMOUNT_TOO_LARGE", "items[0].quantity")

    def test_the_largest_licensed_line_is_valid(self):
        unit = SEATS.unit_amount_decimal
        assert unit is not None
        validate_items([item(SEATS, price_id="price_seats", quantity=int(MAX_LINE_AMOUNT // unit))])

    def test_metered_items_take_no_quantity(self):
        error = refused([item(quantity=1)])
        assert (error.reason, error.metadata["field"]) == ("INVALID_QUANTITY", "items[0].quantity")


class TestInvoiceAtCreation:
    def test_metered_only_is_billed_in_arrears(self):
        assert invoice_at_creation([item()]) is False

    def test_licensed_items_are_billed_at_creation(self):
        assert invoice_at_creation([item(), item(SEATS, price_id="price_seats", quantity=2)]) is True


class TestFirstPeriod:
    def test_periods_run_from_the_start(self):
        assert first_period(utc(2024, 1, 31), Interval.MONTH, 1) == Period(utc(2024, 1, 31), utc(2024, 2, 29))


class TestCancellation:
    PERIOD = Period(utc(2024, 3, 1), utc(2024, 4, 1))

    def test_now_ends_at_once_and_bills_usage_so_far(self):
        now = utc(2024, 3, 10, 12)
        assert plan_cancellation(
            SubscriptionStatus.ACTIVE, CancellationMode.NOW, self.PERIOD, now
        ) == Cancellation(ends_at=now, final_usage_period=Period(utc(2024, 3, 1), now))

    def test_at_period_end_lets_the_period_run_out(self):
        cancellation = plan_cancellation(
            SubscriptionStatus.ACTIVE, CancellationMode.AT_PERIOD_END, self.PERIOD, utc(2024, 3, 10)
        )
        assert cancellation == Cancellation(ends_at=utc(2024, 4, 1), final_usage_period=self.PERIOD)

    @pytest.mark.parametrize("mode", list(CancellationMode))
    def test_a_canceled_subscription_cannot_be_canceled_again(self, mode):
        with pytest.raises(FailedPrecondition) as raised:
            plan_cancellation(SubscriptionStatus.CANCELED, mode, self.PERIOD, utc(2024, 3, 10))
        assert raised.value.reason == "SUBSCRIPTION_CANCELED"

    def test_now_must_lie_in_the_current_period(self):
        with pytest.raises(ValueError):
            plan_cancellation(SubscriptionStatus.ACTIVE, CancellationMode.NOW, self.PERIOD, utc(2024, 4, 1))


class TestGracePeriod:
    def test_defaults_to_one_hour(self):
        assert validate_grace_period(None) == DEFAULT_GRACE_PERIOD == timedelta(hours=1)

    @pytest.mark.parametrize("grace", [timedelta(0), timedelta(minutes=30), timedelta(hours=72)])
    def test_zero_to_72_hours(self, grace):
        assert validate_grace_period(grace) == grace

    def test_longer_than_72_hours(self):
        with pytest.raises(InvalidArgument) as raised:
            validate_grace_period(timedelta(hours=72, seconds=1))
        assert (raised.value.reason, raised.value.metadata["field"]) == (
            "GRACE_PERIOD_TOO_LONG",
            "grace_period",
        )

    def test_negative(self):
        with pytest.raises(InvalidArgument) as raised:
            validate_grace_period(timedelta(seconds=-1))
        assert raised.value.reason == "INVALID_ARGUMENT"
