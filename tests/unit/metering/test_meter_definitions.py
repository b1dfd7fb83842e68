"""Meter creation (M-1, M-4), update (M-3) and activation transitions (M-3)."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from drawdown.errors import InvalidArgument
from metering_service.domain.meters import (
    Aggregation,
    Meter,
    MeterStatus,
    TimeWindow,
    apply_meter_update,
    deactivate_meter,
    reactivate_meter,
    validate_new_meter,
)
from tests.unit.metering.meter_builders import RECEIVED_AT, make_meter

LATER = RECEIVED_AT + timedelta(days=1)


def create(**overrides: object) -> Meter:
    fields: dict[str, object] = {
        "meter_id": "mtr_1",
        "display_name": "Input tokens",
        "event_name": "hypernian_input_tokens",
        "aggregation": Aggregation.SUM,
        "now": RECEIVED_AT,
    }
    fields.update(overrides)
    return validate_new_meter(**fields)  # type: ignore[arg-type]


def refused_field(**overrides: object) -> str:
    """The one field a refused create names; the reason is the generic one meter_service.proto documents."""
    with pytest.raises(InvalidArgument) as caught:
        create(**overrides)
    assert caught.value.reason == "INVALID_ARGUMENT"
    [violation] = caught.value.field_violations
    return violation.field


def test_new_meter_is_active_with_default_keys() -> None:
    meter = create()
    assert meter.status is MeterStatus.ACTIVE
    assert (meter.customer_key, meter.value_key) == ("customer_id", "value")
    assert meter.dimension_keys == ()
    assert meter.event_time_window is None
    assert meter.created_at == meter.updated_at == RECEIVED_AT
    assert meter.deactivated_at is None


def test_empty_customer_and_value_keys_mean_the_defaults() -> None:
    meter = create(customer_key="", value_key="")
    assert (meter.customer_key, meter.value_key) == ("customer_id", "value")


def test_new_meter_keeps_given_keys_and_window() -> None:
    meter = create(
        customer_key="account",
        value_key="tokens",
        dimension_keys=["model", "region"],
        event_time_window=TimeWindow.DAY,
    )
    assert (meter.customer_key, meter.value_key, meter.dimension_keys) == (
        "account",
        "tokens",
        ("model", "region"),
    )
    assert meter.event_time_window is TimeWindow.DAY


@pytest.mark.parametrize("length", [1, 250])
def test_display_name_of_1_to_250_characters_is_accepted(length: int) -> None:
    assert len(create(display_name="n" * length).display_name) == length


@pytest.mark.parametrize("display_name", ["", "   ", "n" * 251, "bad\x00name"])
def test_display_name_empty_blank_too_long_or_with_nul_is_refused(display_name: str) -> None:
    assert refused_field(display_name=display_name) == "display_name"


@pytest.mark.parametrize(
    "event_name", ["a", "e" * 100, "hypernian_input_tokens", "api.requests", "llm:tokens-v2", "9lives"]
)
def test_event_name_of_the_safe_charset_up_to_100_characters_is_accepted(event_name: str) -> None:
    assert create(event_name=event_name).event_name == event_name


@pytest.mark.parametrize(
    "event_name", ["", "e" * 101, "has space", "_leading", "-leading", "tökens", "a/b", "a\n"]
)
def test_event_name_outside_the_rule_is_refused(event_name: str) -> None:
    assert refused_field(event_name=event_name) == "event_name"


def test_aggregation_formula_is_required() -> None:
    assert refused_field(aggregation=None) == "aggregation_formula"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"dimension_keys": ["model", ""]}, "dimension_keys[1]"),
        ({"customer_key": "k" * 101}, "customer_mapping.event_payload_key"),
        ({"value_key": "v" * 101}, "value_settings.event_payload_key"),
        ({"dimension_keys": ["m" * 101]}, "dimension_keys[0]"),
        ({"value_key": "va\x00lue"}, "value_settings.event_payload_key"),
    ],
)
def test_payload_key_empty_longer_than_100_or_with_nul_is_refused(
    overrides: dict[str, object], field: str
) -> None:
    assert refused_field(**overrides) == field


def test_payload_key_of_100_characters_is_accepted() -> None:
    key = "k" * 100
    assert create(customer_key=key).customer_key == key


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"customer_key": "value"}, "value_settings.event_payload_key"),
        ({"dimension_keys": ["model", "model"]}, "dimension_keys[1]"),
        ({"dimension_keys": ["customer_id"]}, "dimension_keys[0]"),
        ({"dimension_keys": ["region", "value"]}, "dimension_keys[1]"),
    ],
)
def test_customer_value_and_dimension_keys_must_be_distinct(overrides: dict[str, object], field: str) -> None:
    assert refused_field(**overrides) == field


def test_at_most_10_dimensions() -> None:
    assert len(create(dimension_keys=[f"d{i}" for i in range(10)]).dimension_keys) == 10
    assert refused_field(dimension_keys=[f"d{i}" for i in range(11)]) == "dimension_keys"


def test_update_changes_only_the_display_name() -> None:
    meter = make_meter()
    updated = apply_meter_update(meter, ["display_name"], display_name="Prompt tokens", now=LATER)
    assert updated == dataclasses.replace(meter, display_name="Prompt tokens", updated_at=LATER)


def test_update_works_on_inactive_meters() -> None:
    inactive = deactivate_meter(make_meter(), RECEIVED_AT)
    assert apply_meter_update(inactive, ["display_name"], display_name="Old", now=LATER).display_name == "Old"


@pytest.mark.parametrize(
    "path",
    [
        "event_name",
        "aggregation_formula",
        "customer_mapping",
        "customer_mapping.event_payload_key",
        "value_settings.event_payload_key",
        "dimension_keys",
        "event_time_window",
        "status",
        "id",
    ],
)
def test_update_of_any_other_field_is_refused_naming_it(path: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        apply_meter_update(make_meter(), ["display_name", path], display_name="Prompt tokens", now=LATER)
    assert caught.value.reason == "IMMUTABLE_FIELD"
    assert [violation.field for violation in caught.value.field_violations] == [path]


@pytest.mark.parametrize("update_mask", [[], ["displayName"], ["display_name", "colour"]])
def test_update_mask_must_be_non_empty_and_name_meter_fields(update_mask: list[str]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        apply_meter_update(make_meter(), update_mask, display_name="Prompt tokens", now=LATER)
    assert caught.value.reason == "INVALID_ARGUMENT"
    assert [violation.field for violation in caught.value.field_violations] == ["update_mask"]


def test_update_follows_the_display_name_rule() -> None:
    with pytest.raises(InvalidArgument) as caught:
        apply_meter_update(make_meter(), ["display_name"], display_name="n" * 251, now=LATER)
    assert [violation.field for violation in caught.value.field_violations] == ["display_name"]


def test_deactivate_then_reactivate() -> None:
    inactive = deactivate_meter(make_meter(), LATER)
    assert inactive.status is MeterStatus.INACTIVE
    assert inactive.deactivated_at == inactive.updated_at == LATER

    reactivated_at = LATER + timedelta(days=1)
    active = reactivate_meter(inactive, reactivated_at)
    assert active.status is MeterStatus.ACTIVE
    assert active.deactivated_at is None
    assert active.updated_at == reactivated_at


def test_deactivating_an_inactive_meter_returns_it_unchanged() -> None:
    inactive = deactivate_meter(make_meter(), LATER)
    assert deactivate_meter(inactive, LATER + timedelta(hours=1)) is inactive


def test_reactivating_an_active_meter_returns_it_unchanged() -> None:
    active = make_meter()
    assert reactivate_meter(active, LATER) is active
