"""Customer fields (I-1) and the minute-aligned ranges usage is read over (I-3, I-10)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from drawdown.errors import InvalidArgument
from invoicing_service.domain.customers import validate_customer, validate_metadata, validate_text
from invoicing_service.domain.periods import Period, anchor_at, metering_range, usage_so_far


def utc(*fields: int) -> datetime:
    return datetime(*fields, tzinfo=UTC)


class TestMeteringRange:
    def test_whole_minutes_are_kept(self):
        period = Period(utc(2026, 1, 1), utc(2026, 2, 1))
        assert metering_range(period) == period

    def test_a_mid_minute_end_counts_its_minute(self):
        period = Period(utc(2026, 1, 1, 0, 0), datetime(2026, 1, 10, 12, 30, 5, 10, tzinfo=UTC))
        assert metering_range(period) == Period(utc(2026, 1, 1), utc(2026, 1, 10, 12, 31))

    def test_a_mid_minute_start_is_floored(self):
        assert metering_range(Period(utc(2026, 1, 1, 0, 0, 30), utc(2026, 1, 1, 0, 2))).start == utc(
            2026, 1, 1
        )


class TestUsageSoFar:
    period = Period(utc(2026, 1, 1), utc(2026, 2, 1))

    def test_the_minute_of_as_of_counts_whole(self):
        as_of = datetime(2026, 1, 10, 12, 30, 5, 10, tzinfo=UTC)
        assert usage_so_far(self.period, as_of) == Period(utc(2026, 1, 1), utc(2026, 1, 10, 12, 31))

    def test_as_of_on_the_minute_still_counts_its_own_minute(self):
        # An event stamped at as_of has happened by as_of, also at the period's first instant.
        assert usage_so_far(self.period, utc(2026, 1, 1)) == Period(utc(2026, 1, 1), utc(2026, 1, 1, 0, 1))
        assert usage_so_far(self.period, utc(2026, 1, 10, 12, 30)) == Period(
            utc(2026, 1, 1), utc(2026, 1, 10, 12, 31)
        )

    def test_never_reaches_past_the_period_end(self):
        assert usage_so_far(self.period, utc(2026, 2, 1)) == self.period
        assert usage_so_far(self.period, datetime(2026, 1, 31, 23, 59, 30, tzinfo=UTC)) == self.period


def test_anchor_is_on_the_minute():
    assert anchor_at(datetime(2026, 1, 31, 9, 15, 42, 123, tzinfo=UTC)) == utc(2026, 1, 31, 9, 15)


class TestCustomer:
    def test_valid(self):
        validate_customer("Jenny Rosen", "jenny@example.com")
        validate_customer("", "")

    @pytest.mark.parametrize(
        ("name", "email", "field"),
        [
            ("x" * 257, "", "customer.name"),
            ("", "two@@example.com", "customer.email"),
            ("", "none", "customer.email"),
        ],
    )
    def test_invalid_names_the_field(self, name, email, field):
        with pytest.raises(InvalidArgument) as raised:
            validate_customer(name, email)
        assert raised.value.metadata["field"] == field

    def test_metadata_limits(self):
        assert validate_metadata({"a": "b"}, "customer.metadata") == {"a": "b"}
        with pytest.raises(InvalidArgument):
            validate_metadata({str(i): "" for i in range(51)}, "customer.metadata")
        with pytest.raises(InvalidArgument) as raised:
            validate_metadata({"k" * 41: "v"}, "customer.metadata")
        assert raised.value.metadata["field"].startswith("customer.metadata[")
        with pytest.raises(InvalidArgument):
            validate_metadata({"k": "v" * 501}, "customer.metadata")

    def test_required_text(self):
        with pytest.raises(InvalidArgument) as raised:
            validate_text("", "product.name", 250, required=True)
        assert raised.value.metadata["field"] == "product.name"


def test_billed_units_clamp_then_transform():
    from decimal import Decimal

    from invoicing_service.domain.periods import Interval
    from invoicing_service.domain.prices import Price, Rounding, TransformQuantity, UsageType, billed_units

    per_thousand = Price(
        "USD",
        UsageType.METERED,
        Interval.MONTH,
        meter_id="mtr_x",
        unit_amount_decimal=Decimal(7),
        transform_quantity=TransformQuantity(1000, Rounding.UP),
    )
    assert billed_units(per_thousand, Decimal(1001)) == 2
    assert billed_units(per_thousand, Decimal(-5)) == 0
