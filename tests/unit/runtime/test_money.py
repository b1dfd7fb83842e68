"""drawdown.money and the Money/Decimal proto conversions."""

from __future__ import annotations

from decimal import Decimal

import pytest
from google.type import money_pb2
from hypothesis import given
from hypothesis import strategies as st

from drawdown.errors import InvalidArgument
from drawdown.money import (
    Money,
    currency_exponent,
    format_decimal,
    parse_decimal,
    round_minor,
    significant_digits,
)
from drawdown.rpc.convert import money_from_proto, money_to_proto


@pytest.mark.parametrize(
    ("amount", "rounded"),
    [("2.5", 3), ("-2.5", -3), ("2.4999", 2), ("0.5", 1), ("9000", 9000), ("0.000000000001", 0)],
)
def test_round_minor_is_half_up_away_from_zero(amount: str, rounded: int) -> None:
    assert round_minor(Decimal(amount)) == rounded


def test_currency_exponents_follow_iso_4217() -> None:
    assert [currency_exponent(c) for c in ("USD", "JPY", "KWD", "EUR")] == [2, 0, 3, 2]


def test_money_refuses_mixed_currencies_and_floats() -> None:
    with pytest.raises(ValueError, match="currency mismatch"):
        Money("USD", 1) + Money("EUR", 1)
    with pytest.raises(TypeError):
        Money("USD", 1.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Money("usd", 1)


def test_money_major_units() -> None:
    assert Money("USD", 9000).major == Decimal("90.00")
    assert Money.from_major("USD", "10.00") == Money("USD", 1000)
    with pytest.raises(ValueError):
        Money.from_major("USD", "0.001")


@pytest.mark.parametrize("text", ["", " ", "abc", "NaN", "Infinity", "1,5"])
def test_parse_decimal_rejects_non_numbers_naming_the_field(text: str) -> None:
    with pytest.raises(InvalidArgument) as raised:
        parse_decimal(text, "payload.value")
    assert raised.value.field_violations[0].field == "payload.value"


def test_parse_decimal_limits() -> None:
    assert parse_decimal("123456789012345", "v", max_significant_digits=15) == Decimal("123456789012345")
    with pytest.raises(InvalidArgument):
        parse_decimal("1234567890123456", "v", max_significant_digits=15)
    assert significant_digits(Decimal("0.0012300")) == 3
    with pytest.raises(InvalidArgument):
        parse_decimal("0.1234567890123", "v", max_decimal_places=12)
    assert format_decimal(Decimal("1E+3")) == "1000"


@given(st.sampled_from(["USD", "JPY", "KWD"]), st.integers(min_value=-(10**15), max_value=10**15))
def test_money_proto_round_trip(currency: str, minor: int) -> None:
    money = Money(currency, minor)
    assert money_from_proto(money_to_proto(money), "amount") == money


def test_money_from_proto_refuses_fractions_of_a_minor_unit() -> None:
    with pytest.raises(InvalidArgument) as raised:
        money_from_proto(money_pb2.Money(currency_code="USD", units=1, nanos=5_000_000), "amount")
    assert raised.value.field_violations[0].field == "amount.nanos"
    assert money_to_proto(Money("USD", 1000)) == money_pb2.Money(currency_code="USD", units=10)
