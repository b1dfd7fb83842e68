"""What may enter credits (X-5, X-8): strings and amounts bounded where they enter, and
errors echoing at most 200 characters of a bad value."""

from __future__ import annotations

from datetime import timedelta

import pytest

from credits_service.domain.grants import (
    Applicability,
    ensure_credit_total,
    validate_applicability,
    validate_metadata,
    validate_new_grant,
)
from credits_service.domain.limits import (
    MAX_CUSTOMER_CREDIT_MINOR,
    MAX_ECHO_LENGTH,
    check_currency,
    check_text,
    clip,
)
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.money import Money
from tests.unit.credits.credit_builders import CUSTOMER, PERIOD_START


def refused(call, *args, **kwargs) -> InvalidArgument:
    with pytest.raises(InvalidArgument) as caught:
        call(*args, **kwargs)
    return caught.value


def echoed(error: InvalidArgument) -> str:
    return error.message + "".join(error.metadata.values())


@pytest.mark.parametrize(
    ("value", "expected_reason"),
    [("x" * 256, "STRING_TOO_LONG"), ("cus_\x00", "INVALID_CHARACTER"), ("", "INVALID_ARGUMENT")],
)
def test_x8_ids_are_bounded_and_free_of_nul(value: str, expected_reason: str) -> None:
    error = refused(check_text, value, "customer_id", required=True)
    assert (error.reason, error.field_violations[0].field) == (expected_reason, "customer_id")


def test_x8_an_id_of_255_characters_is_accepted() -> None:
    assert check_text("x" * 255, "customer_id", required=True) == "x" * 255


def test_x5_clip_keeps_at_most_200_characters() -> None:
    assert clip("a" * 200) == "a" * 200
    assert len(clip("a" * 5000)) == MAX_ECHO_LENGTH


def test_x5_a_bad_currency_is_echoed_clipped() -> None:
    error = refused(check_currency, "Q" * 2700, "amount.currency_code")
    assert error.reason == "INVALID_CURRENCY"
    assert "Q" * (MAX_ECHO_LENGTH + 1) not in echoed(error)


def test_x8_a_grant_for_a_2700_character_customer_is_refused() -> None:
    error = refused(
        validate_new_grant,
        grant_id="cg_1",
        customer_id="c" * 2700,
        currency="JPY",
        amount_minor=1,
        name="",
        applicability=Applicability.every_metered_price(),
        now=PERIOD_START,
    )
    assert (error.reason, error.field_violations[0].field) == ("STRING_TOO_LONG", "credit_grant.customer_id")
    assert "c" * (MAX_ECHO_LENGTH + 1) not in echoed(error)


@pytest.mark.parametrize("metadata", [{"k\x00": "v"}, {"k": "v\x00"}], ids=["nul in a key", "nul in a value"])
def test_x8_metadata_holds_no_nul(metadata: dict[str, str]) -> None:
    assert refused(validate_metadata, metadata).reason == "INVALID_CHARACTER"


@pytest.mark.parametrize("price_id", ["p" * 256, "price_\x00"])
def test_x8_scoped_price_ids_are_bounded_and_free_of_nul(price_id: str) -> None:
    error = refused(validate_applicability, Applicability.only_prices("price_ok", price_id))
    assert error.reason == "INVALID_APPLICABILITY"
    assert error.field_violations[0].field == "credit_grant.applicability_config.prices.price_ids[1]"


def test_x5_live_grants_of_a_customer_total_at_most_the_credit_bound() -> None:
    ensure_credit_total(MAX_CUSTOMER_CREDIT_MINOR - 5, Money("JPY", 5))
    with pytest.raises(FailedPrecondition) as caught:
        ensure_credit_total(MAX_CUSTOMER_CREDIT_MINOR - 5, Money("JPY", 6))
    assert caught.value.reason == "GRANT_TOTAL_LIMIT_REACHED"


def test_i18_a_grant_without_effective_time_takes_the_customers_now() -> None:
    clock_time = PERIOD_START - timedelta(days=400)
    created = validate_new_grant(
        grant_id="cg_1",
        customer_id=CUSTOMER,
        currency="USD",
        amount_minor=1,
        name="",
        applicability=Applicability.every_metered_price(),
        now=PERIOD_START,
        customer_now=clock_time,
    )
    assert (created.effective_at, created.created_at) == (clock_time, PERIOD_START)
