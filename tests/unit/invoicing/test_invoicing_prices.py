"""Prices: validation (I-2) and rating (I-2, I-10)."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drawdown.errors import InvalidArgument
from drawdown.money import Money
from invoicing_service.domain.periods import Interval
from invoicing_service.domain.prices import (
    MAX_LINE_AMOUNT,
    BillingScheme,
    LineNotBillable,
    Price,
    Rounding,
    Tier,
    TiersMode,
    TransformQuantity,
    UsageType,
    line_amount,
    rate,
    validate_new_price,
)


def metered(unit_amount: str = "3", **changes) -> Price:
    price = Price(
        currency="USD",
        usage_type=UsageType.METERED,
        interval=Interval.MONTH,
        meter_id="mtr_hypernian_input_tokens",
        unit_amount_decimal=Decimal(unit_amount),
    )
    return dataclasses.replace(price, **changes)


def tiered(mode: TiersMode, *tiers: Tier, **changes) -> Price:
    scheme = {
        "billing_scheme": BillingScheme.TIERED,
        "unit_amount_decimal": None,
        "tiers_mode": mode,
        "tiers": tiers,
    }
    return metered(**(scheme | changes))


def tier(up_to: int | None, unit: str | None = None, flat: str | None = None) -> Tier:
    return Tier(up_to, None if unit is None else Decimal(unit), None if flat is None else Decimal(flat))


# Stripe's tiered pricing guide (Typographic): fonts 1-5 at 7 USD, 6-10 at 6.50 USD, 11+ at 6 USD.
TYPOGRAPHIC = (tier(5, "700"), tier(10, "650"), tier(None, "600"))


def refused(price: Price) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as raised:
        validate_new_price(price)
    return raised.value


class TestHypernian:
    def test_3000_input_tokens_at_3_cents_is_90_usd(self):
        amount = line_amount(metered("3"), Decimal(3000))
        assert amount == Money("USD", 9000)
        assert str(amount) == "90.00 USD"

    def test_output_tokens_at_5_cents(self):
        assert line_amount(metered("5"), Decimal(3000)) == Money("USD", 15000)


class TestRounding:
    @pytest.mark.parametrize(
        ("unit", "quantity", "minor"),
        [
            ("0.5", "1", 1),  # exactly half a cent rounds up
            ("0.5", "3", 2),  # 1.5 → 2
            ("0.25", "1", 0),  # below half rounds down
            ("0.4", "10", 4),  # rounded once per line, not per unit (0.4 × 10, not 0 × 10)
            ("1.005", "1", 1),
            ("3", "0.5", 2),  # fractional quantities (1.5 → 2)
        ],
    )
    def test_half_up_once_per_line(self, unit, quantity, minor):
        assert line_amount(metered(unit), Decimal(quantity)).minor == minor

    def test_rate_is_exact_before_rounding(self):
        assert rate(metered("0.5"), Decimal(3)) == Decimal("1.5")

    @pytest.mark.parametrize(
        ("quantity", "minor"),
        [(10**12, 1), (499_999_999_999, 0), (500_000_000_000, 1), (1_500_000_000_000, 2)],
    )
    def test_twelve_decimal_places(self, quantity, minor):
        price = validate_new_price(metered("0.000000000001"))
        assert line_amount(price, Decimal(quantity)).minor == minor

    def test_zero_decimal_currency_rounds_to_whole_yen(self):
        assert line_amount(metered("0.5", currency="JPY"), Decimal(5)) == Money("JPY", 3)

    def test_negative_usage_bills_zero(self):
        assert rate(metered("3"), Decimal(-100)) == 0
        assert line_amount(metered("3"), Decimal(-100)) == Money("USD", 0)


class TestTiers:
    @pytest.mark.parametrize(("fonts", "minor"), [(1, 700), (5, 3500), (6, 3900), (20, 12000), (25, 15000)])
    def test_volume_matches_stripe_example(self, fonts, minor):
        assert line_amount(tiered(TiersMode.VOLUME, *TYPOGRAPHIC), Decimal(fonts)).minor == minor

    @pytest.mark.parametrize(("fonts", "minor"), [(1, 700), (5, 3500), (6, 4150), (20, 12750), (25, 15750)])
    def test_graduated_matches_stripe_example(self, fonts, minor):
        assert line_amount(tiered(TiersMode.GRADUATED, *TYPOGRAPHIC), Decimal(fonts)).minor == minor

    def test_tier_bounds_are_inclusive(self):
        volume = tiered(TiersMode.VOLUME, *TYPOGRAPHIC)
        assert rate(volume, Decimal(10)) == 6500
        assert rate(volume, Decimal(11)) == 6600

    def test_graduated_flat_fee_then_overage(self):
        # 10 USD covers the first 1,000 units; every unit above costs 4 cents.
        price = tiered(TiersMode.GRADUATED, tier(1000, flat="1000"), tier(None, unit="4"))
        assert rate(price, Decimal(0)) == 1000  # quantity 0 lies in the first tier
        assert rate(price, Decimal(1000)) == 1000
        assert rate(price, Decimal(1500)) == 1000 + 500 * 4

    def test_graduated_adds_each_reached_tiers_flat_amount(self):
        price = tiered(TiersMode.GRADUATED, tier(5, unit="100", flat="50"), tier(None, unit="10", flat="20"))
        assert rate(price, Decimal(5)) == 50 + 500
        assert rate(price, Decimal(7)) == 50 + 500 + 20 + 20

    def test_volume_flat_amount_of_the_reached_tier_only(self):
        price = tiered(TiersMode.VOLUME, tier(5, unit="100", flat="50"), tier(None, unit="10", flat="20"))
        assert rate(price, Decimal(5)) == 50 + 500
        assert rate(price, Decimal(7)) == 20 + 70

    def test_fractional_quantity_splits_across_a_graduated_bound(self):
        price = tiered(TiersMode.GRADUATED, *TYPOGRAPHIC)
        assert rate(price, Decimal("5.5")) == 3500 + Decimal("0.5") * 650

    def test_negative_usage_bills_as_zero_usage(self):
        price = tiered(TiersMode.GRADUATED, tier(1000, flat="1000"), tier(None, unit="4"))
        assert rate(price, Decimal(-5)) == rate(price, Decimal(0))

    @pytest.mark.parametrize("usage", ["0", "-5", "-0.5"])
    def test_volume_bills_nothing_without_usage_flat_amount_included(self, usage):
        # The first tier's flat fee is for reaching it with some usage: none bills 0.
        price = tiered(TiersMode.VOLUME, tier(100, unit="10", flat="50"), tier(None, unit="5"))
        assert rate(price, Decimal(usage)) == 0
        assert line_amount(price, Decimal(usage)) == Money("USD", 0)
        assert rate(price, Decimal(1)) == 60

    def test_volume_usage_transformed_to_zero_packages_bills_nothing(self):
        price = tiered(
            TiersMode.VOLUME,
            tier(100, unit="10", flat="50"),
            tier(None, unit="5"),
            transform_quantity=TransformQuantity(1000, Rounding.DOWN),
        )
        assert rate(price, Decimal(999)) == 0


class TestLineMaximum:
    """X-5: a line bills at most MAX_LINE_AMOUNT minor units, whatever the usage."""

    def test_the_largest_line_is_billed(self):
        assert line_amount(metered("1"), Decimal(MAX_LINE_AMOUNT)).minor == MAX_LINE_AMOUNT

    def test_a_line_beyond_the_maximum_cannot_be_billed(self):
        with pytest.raises(LineNotBillable) as raised:
            line_amount(metered("999999999999"), Decimal("999999999999999"))
        assert raised.value.reason == "LINE_AMOUNT_TOO_LARGE"
        assert len(raised.value.message) <= 200

    def test_rounding_up_past_the_maximum_cannot_be_billed(self):
        with pytest.raises(LineNotBillable):
            line_amount(metered("0.5"), Decimal(2 * MAX_LINE_AMOUNT + 1))

    @pytest.mark.parametrize("usage", ["1e45", "-1e45", "9.99e60"])
    def test_usage_beyond_what_a_line_stores_cannot_be_billed_even_free(self, usage):
        with pytest.raises(LineNotBillable) as raised:
            line_amount(metered("0"), Decimal(usage))
        assert raised.value.reason == "QUANTITY_TOO_LARGE"
        assert len(raised.value.message) <= 200

    def test_graduated_tiers_at_int64_bounds(self):
        price = tiered(TiersMode.GRADUATED, tier(2**63 - 2, unit="0"), tier(None, unit="0.000000000001"))
        assert line_amount(price, Decimal(2**63 - 1)).minor == 0


class TestTransformQuantity:
    @pytest.mark.parametrize(
        ("rounding", "words", "packages"),
        [
            (Rounding.UP, "0", 0),
            (Rounding.UP, "1", 1),
            (Rounding.UP, "1000", 1),
            (Rounding.UP, "1001", 2),
            (Rounding.UP, "1000.5", 2),
            (Rounding.DOWN, "999", 0),
            (Rounding.DOWN, "1999", 1),
            (Rounding.DOWN, "2000", 2),
            (Rounding.UP, "-1", 0),  # negative usage bills as zero before any rounding up
        ],
    )
    def test_per_package(self, rounding, words, packages):
        price = metered("10", transform_quantity=TransformQuantity(1000, rounding))
        assert rate(price, Decimal(words)) == 10 * packages

    def test_transform_applies_before_tiers(self):
        price = tiered(
            TiersMode.GRADUATED, *TYPOGRAPHIC, transform_quantity=TransformQuantity(100, Rounding.UP)
        )
        assert rate(price, Decimal(550)) == 3500 + 650  # 6 packages


class TestLicensed:
    def test_unit_amount_times_seats(self):
        seats = Price(
            currency="USD",
            usage_type=UsageType.LICENSED,
            interval=Interval.MONTH,
            unit_amount_decimal=Decimal(10000),
        )
        assert validate_new_price(seats) is seats
        assert line_amount(seats, Decimal(3)) == Money("USD", 30000)


class TestValidation:
    def test_valid_prices_pass_unchanged(self):
        for price in (
            metered("0.000000000001"),
            tiered(TiersMode.GRADUATED, *TYPOGRAPHIC),
            tiered(TiersMode.VOLUME, tier(None, flat="5")),
            metered("0", transform_quantity=TransformQuantity(1000, Rounding.DOWN)),
        ):
            assert validate_new_price(price) is price

    @pytest.mark.parametrize("currency", ["usd", "XXX", ""])
    def test_currency(self, currency):
        error = refused(metered(currency=currency))
        assert (error.reason, error.metadata["field"]) == ("INVALID_CURRENCY", "currency")

    @pytest.mark.parametrize(
        ("interval", "longest"),
        [(Interval.DAY, 365), (Interval.WEEK, 52), (Interval.MONTH, 12), (Interval.YEAR, 1)],
    )
    def test_interval_count_is_one_to_a_year(self, interval, longest):
        assert validate_new_price(metered(interval=interval, interval_count=1))
        assert validate_new_price(metered(interval=interval, interval_count=longest))
        for count in (0, longest + 1):
            error = refused(metered(interval=interval, interval_count=count))
            assert (error.reason, error.metadata["field"]) == ("INVALID_INTERVAL", "interval_count")

    def test_interval_must_be_set(self):
        assert refused(metered(interval=None)).reason == "INVALID_INTERVAL"

    def test_usage_type_must_be_set(self):
        assert refused(metered(usage_type=None)).reason == "INVALID_PRICE_TYPE"

    def test_metered_needs_a_meter(self):
        error = refused(metered(meter_id=None))
        assert (error.reason, error.metadata["field"]) == ("INVALID_PRICE_TYPE", "meter_id")

    def test_licensed_takes_no_meter(self):
        assert refused(metered(usage_type=UsageType.LICENSED)).reason == "INVALID_PRICE_TYPE"

    @pytest.mark.parametrize(
        ("unit_amount", "why"),
        [
            (None, "needs a unit amount"),
            (Decimal("-1"), "must not be negative"),
            (Decimal("0.0000000000001"), "more than 12 decimal places"),
            (Decimal("1e12"), "must be less than"),
            (Decimal("NaN"), "finite"),
        ],
    )
    def test_unit_amount(self, unit_amount, why):
        error = refused(metered(unit_amount_decimal=unit_amount))
        assert (error.reason, error.metadata["field"]) == ("INVALID_UNIT_AMOUNT", "unit_amount_decimal")
        assert why in error.message

    def test_trailing_zeros_are_not_decimal_places(self):
        assert validate_new_price(metered("1.50000000000000000"))

    def test_per_unit_takes_no_tiers(self):
        error = refused(metered(tiers=TYPOGRAPHIC))
        assert (error.reason, error.metadata["field"]) == ("INVALID_TIERS", "tiers")

    def test_tiered_takes_no_unit_amount(self):
        error = refused(tiered(TiersMode.VOLUME, *TYPOGRAPHIC, unit_amount_decimal=Decimal(1)))
        assert (error.reason, error.metadata["field"]) == ("INVALID_UNIT_AMOUNT", "unit_amount_decimal")

    @pytest.mark.parametrize(
        ("mode", "tiers", "field"),
        [
            (None, TYPOGRAPHIC, "tiers_mode"),
            (TiersMode.GRADUATED, (), "tiers"),
            (TiersMode.GRADUATED, (tier(5, "1"), tier(10, "1")), "tiers[1].up_to"),  # last tier bounded
            (
                TiersMode.GRADUATED,
                (tier(None, "1"), tier(None, "1")),
                "tiers[0].up_to",
            ),  # unbounded too early
            (TiersMode.GRADUATED, (tier(5, "1"), tier(5, "1"), tier(None, "1")), "tiers[1].up_to"),
            (TiersMode.GRADUATED, (tier(10, "1"), tier(5, "1"), tier(None, "1")), "tiers[1].up_to"),
            (TiersMode.GRADUATED, (tier(0, "1"), tier(None, "1")), "tiers[0].up_to"),
            (TiersMode.VOLUME, (tier(5, "1"), tier(None)), "tiers[1]"),  # no amount at all
            (TiersMode.VOLUME, (tier(5, "-1"), tier(None, "1")), "tiers[0].unit_amount_decimal"),
            (
                TiersMode.VOLUME,
                (tier(5, "1"), tier(None, flat="0.0000000000001")),
                "tiers[1].flat_amount_decimal",
            ),
        ],
    )
    def test_tiers(self, mode, tiers, field):
        error = refused(tiered(mode, *tiers))
        assert (error.reason, error.metadata["field"]) == ("INVALID_TIERS", field)

    def test_at_most_100_tiers(self):
        tiers = [tier(n, "1") for n in range(1, 100)]
        assert validate_new_price(tiered(TiersMode.GRADUATED, *tiers, tier(None, "1")))
        error = refused(tiered(TiersMode.GRADUATED, *tiers, tier(100, "1"), tier(None, "1")))
        assert (error.reason, error.metadata["field"]) == ("INVALID_TIERS", "tiers")

    @pytest.mark.parametrize(
        ("transform", "field"),
        [
            (TransformQuantity(0, Rounding.UP), "transform_quantity.divide_by"),
            (TransformQuantity(-10, Rounding.UP), "transform_quantity.divide_by"),
            (TransformQuantity(1000, None), "transform_quantity.round"),
        ],
    )
    def test_transform(self, transform, field):
        error = refused(metered(transform_quantity=transform))
        assert (error.reason, error.metadata["field"]) == ("INVALID_TRANSFORM_QUANTITY", field)

    def test_transform_only_with_per_unit(self):
        error = refused(
            tiered(TiersMode.GRADUATED, *TYPOGRAPHIC, transform_quantity=TransformQuantity(100, Rounding.UP))
        )
        assert (error.reason, error.metadata["field"]) == ("INVALID_TRANSFORM_QUANTITY", "transform_quantity")

    def test_the_kind_of_price_is_checked_before_its_amounts(self):
        error = refused(metered(currency="XXX", usage_type=None))
        assert (error.reason, error.metadata["field"]) == ("INVALID_PRICE_TYPE", "usage_type")


def decimals(max_digits: int, max_places: int, *, min_value: int = 0) -> st.SearchStrategy[Decimal]:
    """Decimals of up to ``max_digits`` digits, ``max_places`` of them after the point."""
    return st.builds(
        lambda digits, places: Decimal(digits).scaleb(-places),
        st.integers(min_value=min_value, max_value=10**max_digits - 1),
        st.integers(min_value=0, max_value=max_places),
    )


def half_up(value: Fraction) -> int:
    """The oracle: round a non-negative exact fraction to the nearest integer, ties up."""
    return int(value + Fraction(1, 2))  # int() floors non-negative fractions


@given(quantity=decimals(15, 6, min_value=-(10**15) + 1), unit=decimals(24, 12))
def test_per_unit_line_amount_is_quantity_times_unit_rounded_half_up(quantity, unit):
    exact = max(Fraction(quantity), Fraction(0)) * Fraction(unit)
    if exact > MAX_LINE_AMOUNT:
        with pytest.raises(LineNotBillable):
            line_amount(metered(str(unit)), quantity)
        return
    assert line_amount(metered(str(unit)), quantity) == Money("USD", half_up(exact))


graduated_prices = st.lists(
    st.tuples(st.integers(1, 10_000), decimals(6, 4), decimals(6, 2)),
    min_size=0,
    max_size=5,
    unique_by=lambda t: t[0],
).map(
    lambda bounded: tiered(
        TiersMode.GRADUATED,
        *(Tier(up_to, unit, flat) for up_to, unit, flat in sorted(bounded)),
        Tier(None, Decimal(1)),
    )
)


@given(price=graduated_prices, smaller=decimals(6, 3), extra=decimals(6, 3))
def test_graduated_rate_is_monotone_in_quantity(price, smaller, extra):
    validate_new_price(price)
    assert rate(price, smaller) <= rate(price, smaller + extra)


@given(quantity=decimals(6, 3), unit=decimals(6, 4))
def test_a_single_unbounded_tier_rates_like_per_unit(quantity, unit):
    per_unit = metered(str(unit))
    for mode in TiersMode:
        assert rate(tiered(mode, Tier(None, unit)), quantity) == rate(per_unit, quantity)
