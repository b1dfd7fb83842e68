"""Meter event validation (M-10..M-12), replay detection (M-13) and cancellation (M-16)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from drawdown import ids
from drawdown.errors import AlreadyExists, DomainError, FailedPrecondition, InvalidArgument, NotFound
from metering_service.domain.events import (
    MAX_PAYLOAD_ENTRIES,
    MAX_PAYLOAD_VALUE_LENGTH,
    EventInput,
    MeterEvent,
    MeterLookup,
    check_cancellable,
    check_replay,
    validate_event,
)
from metering_service.domain.meters import MAX_PAYLOAD_KEY_LENGTH, deactivate_meter
from tests.unit.metering.meter_builders import JENNY, RECEIVED_AT, TOKENS, make_meter


def tokens_event(
    value: str | None = "3000",
    *,
    identifier: str = "",
    timestamp: datetime | None = None,
    **extra_payload: str,
) -> EventInput:
    payload = {"customer_id": JENNY, **extra_payload}
    if value is not None:
        payload["value"] = value
    return EventInput(TOKENS, payload, identifier, timestamp)


def validate(meter_lookup: MeterLookup, event: EventInput, received_at: datetime = RECEIVED_AT) -> MeterEvent:
    return validate_event(meter_lookup, event, received_at)


def refusal(meter_lookup: MeterLookup, event: EventInput) -> DomainError:
    with pytest.raises(DomainError) as caught:
        validate(meter_lookup, event)
    return caught.value


def assert_invalid(error: DomainError, reason: str, field: str) -> None:
    assert isinstance(error, InvalidArgument)
    assert error.reason == reason
    assert [violation.field for violation in error.field_violations] == [field]


# --- M-10: the normalised event ---------------------------------------------------------


def test_valid_event_is_normalised(meter_lookup: MeterLookup) -> None:
    sent_at = RECEIVED_AT - timedelta(minutes=3)
    sent = tokens_event("3000", identifier="req_1", timestamp=sent_at, model="hyper-1", note="kept")
    event = validate(meter_lookup, sent)
    assert event.meter_id == "mtr_hypernian_input_tokens"
    assert (event.event_name, event.customer_id, event.value) == (TOKENS, JENNY, Decimal(3000))
    assert event.dimensions == {"model": "hyper-1"}
    assert event.payload == sent.payload
    assert (event.identifier, event.timestamp, event.timestamp_sent) == ("req_1", sent_at, True)
    assert len(event.fingerprint) == 16


def test_absent_dimensions_group_as_empty_strings(meter_lookup: MeterLookup) -> None:
    assert validate(meter_lookup, tokens_event()).dimensions == {"model": ""}


def test_identifier_is_generated_when_absent(meter_lookup: MeterLookup) -> None:
    first = validate(meter_lookup, tokens_event())
    second = validate(meter_lookup, tokens_event())
    assert ids.has_prefix(first.identifier, ids.METER_EVENT)
    assert first.identifier != second.identifier


def test_timestamp_defaults_to_receipt(meter_lookup: MeterLookup) -> None:
    event = validate(meter_lookup, tokens_event())
    assert (event.timestamp, event.timestamp_sent) == (RECEIVED_AT, False)


# --- M-12 and M-3: which meter -----------------------------------------------------------


def test_unknown_event_name_is_not_found(meter_lookup: MeterLookup) -> None:
    error = refusal(meter_lookup, EventInput("hypernian_output_tokens", {"customer_id": JENNY, "value": "1"}))
    assert isinstance(error, NotFound)
    assert error.reason == "UNKNOWN_EVENT_NAME"
    assert [violation.field for violation in error.field_violations] == ["event_name"]


def test_inactive_meter_refuses_events() -> None:
    inactive = deactivate_meter(make_meter(), RECEIVED_AT)
    error = refusal({TOKENS: inactive}.get, tokens_event())
    assert isinstance(error, FailedPrecondition)
    assert error.reason == "METER_INACTIVE"
    assert error.metadata["meter_id"] == inactive.id


# --- M-10: identifier --------------------------------------------------------------------


@pytest.mark.parametrize("length", [1, 100])
def test_identifier_up_to_100_characters_is_accepted(meter_lookup: MeterLookup, length: int) -> None:
    assert validate(meter_lookup, tokens_event(identifier="i" * length)).identifier == "i" * length


def test_identifier_of_101_characters_is_refused(meter_lookup: MeterLookup) -> None:
    assert_invalid(
        refusal(meter_lookup, tokens_event(identifier="i" * 101)), "IDENTIFIER_TOO_LONG", "identifier"
    )


# --- M-11: timestamp ---------------------------------------------------------------------


def test_timestamp_exactly_35_days_old_is_accepted(meter_lookup: MeterLookup) -> None:
    oldest = RECEIVED_AT - timedelta(days=35)
    assert validate(meter_lookup, tokens_event(timestamp=oldest)).timestamp == oldest


def test_timestamp_older_than_35_days_is_refused(meter_lookup: MeterLookup) -> None:
    too_old = RECEIVED_AT - timedelta(days=35, microseconds=1)
    assert_invalid(
        refusal(meter_lookup, tokens_event(timestamp=too_old)), "TIMESTAMP_TOO_FAR_IN_PAST", "timestamp"
    )


def test_timestamp_exactly_5_minutes_ahead_is_accepted(meter_lookup: MeterLookup) -> None:
    latest = RECEIVED_AT + timedelta(minutes=5)
    assert validate(meter_lookup, tokens_event(timestamp=latest)).timestamp == latest


def test_timestamp_more_than_5_minutes_ahead_is_refused(meter_lookup: MeterLookup) -> None:
    too_early = RECEIVED_AT + timedelta(minutes=5, microseconds=1)
    error = refusal(meter_lookup, tokens_event(timestamp=too_early))
    assert_invalid(error, "TIMESTAMP_TOO_FAR_IN_FUTURE", "timestamp")


# --- M-10, M-12: customer and value --------------------------------------------------------


@pytest.mark.parametrize("payload", [{"value": "1"}, {"customer_id": "", "value": "1"}])
def test_missing_customer(meter_lookup: MeterLookup, payload: Mapping[str, str]) -> None:
    assert_invalid(
        refusal(meter_lookup, EventInput(TOKENS, payload)), "MISSING_CUSTOMER", "payload.customer_id"
    )


def test_customer_and_value_fields_follow_the_meters_keys() -> None:
    lookup = {TOKENS: dataclasses.replace(make_meter(), customer_key="account", value_key="tokens")}.get
    assert_invalid(
        refusal(lookup, EventInput(TOKENS, {"tokens": "1"})), "MISSING_CUSTOMER", "payload.account"
    )
    assert_invalid(refusal(lookup, EventInput(TOKENS, {"account": "a"})), "MISSING_VALUE", "payload.tokens")


@pytest.mark.parametrize("value", [None, ""])
def test_missing_value(meter_lookup: MeterLookup, value: str | None) -> None:
    assert_invalid(refusal(meter_lookup, tokens_event(value)), "MISSING_VALUE", "payload.value")


@pytest.mark.parametrize(
    "value",
    ["abc", "1,5", "NaN", "Infinity", "-inf", " ", " 12", "1.2.3", "0x10", "1e3", ".5", "5.", "+-1", "١٢"],
)
def test_invalid_value(meter_lookup: MeterLookup, value: str) -> None:
    assert_invalid(refusal(meter_lookup, tokens_event(value)), "INVALID_VALUE", "payload.value")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("123456789012345", Decimal(123456789012345)),
        ("-12.5", Decimal("-12.5")),
        ("+7", Decimal(7)),
        ("000123456789012345", Decimal(123456789012345)),
        ("1.00000000000000000000", Decimal(1)),
        ("0.000000000000001", Decimal("1E-15")),
        ("12345678901234.5", Decimal("12345678901234.5")),
        ("-0", Decimal(0)),
        ("0.000", Decimal(0)),
    ],
)
def test_values_up_to_15_significant_digits_are_accepted(
    meter_lookup: MeterLookup, text: str, expected: Decimal
) -> None:
    assert validate(meter_lookup, tokens_event(text)).value == expected


@pytest.mark.parametrize(
    "value", ["1234567890123456", "1000000000000000", "1.234567890123456", "-0.1234567890123456"]
)
def test_value_of_16_significant_digits_is_refused(meter_lookup: MeterLookup, value: str) -> None:
    assert_invalid(refusal(meter_lookup, tokens_event(value)), "TOO_MANY_SIGNIFICANT_DIGITS", "payload.value")


def test_value_with_more_than_15_decimal_places_is_refused(meter_lookup: MeterLookup) -> None:
    error = refusal(meter_lookup, tokens_event("0.0000000000000001"))
    assert_invalid(error, "TOO_MANY_DECIMAL_PLACES", "payload.value")


def test_zero_is_stored_as_plain_zero(meter_lookup: MeterLookup) -> None:
    assert str(validate(meter_lookup, tokens_event("-0.00")).value) == "0"


def test_count_event_needs_no_value(meter_lookup: MeterLookup) -> None:
    assert validate(meter_lookup, EventInput("hypernian_requests", {"customer_id": JENNY})).value == 1


def test_count_event_ignores_its_value(meter_lookup: MeterLookup) -> None:
    event = validate(meter_lookup, EventInput("hypernian_requests", {"customer_id": JENNY, "value": "junk"}))
    assert event.value == 1


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (tokens_event(identifier="req\x001"), "identifier"),
        (EventInput(TOKENS, {"customer_id": "cus\x00jenny", "value": "1"}), "payload.customer_id"),
        (tokens_event(model="hyper\x001"), "payload.model"),
        (tokens_event(**{"no\x00te": "x"}), "payload"),
    ],
)
def test_nul_characters_are_refused(meter_lookup: MeterLookup, event: EventInput, field: str) -> None:
    assert_invalid(refusal(meter_lookup, event), "INVALID_CHARACTER", field)


# --- M-13: replays -----------------------------------------------------------------------


def test_same_payload_has_the_same_fingerprint_whatever_the_key_order(meter_lookup: MeterLookup) -> None:
    first = EventInput(TOKENS, {"customer_id": JENNY, "value": "1", "model": "a"}, "req_1")
    reordered = EventInput(TOKENS, {"model": "a", "value": "1", "customer_id": JENNY}, "req_1")
    assert validate(meter_lookup, first).fingerprint == validate(meter_lookup, reordered).fingerprint


@pytest.mark.parametrize(
    "changed",
    [
        tokens_event("2"),
        tokens_event("1.0"),
        EventInput(TOKENS, {"customer_id": "cus_other", "value": "1"}),
        tokens_event("1", model="hyper-2"),
        tokens_event("1", note="extra"),
    ],
)
def test_any_payload_change_changes_the_fingerprint(meter_lookup: MeterLookup, changed: EventInput) -> None:
    assert (
        validate(meter_lookup, tokens_event("1")).fingerprint != validate(meter_lookup, changed).fingerprint
    )


# Text as protobuf delivers it (valid UTF-8, no lone surrogates; NUL is refused separately),
# within the payload bounds: keys, values, and entries besides customer_id and value.
_characters = st.characters(exclude_categories=["Cs"], exclude_characters="\x00")
payload_keys = st.text(_characters, max_size=MAX_PAYLOAD_KEY_LENGTH)
payload_values = st.text(_characters, max_size=MAX_PAYLOAD_VALUE_LENGTH)
payloads = st.dictionaries(payload_keys, payload_values, max_size=MAX_PAYLOAD_ENTRIES - 2)


@given(first=payloads, second=payloads)
def test_fingerprints_are_equal_exactly_when_payloads_are(
    first: dict[str, str], second: dict[str, str]
) -> None:
    lookup = {TOKENS: make_meter()}.get
    events = [
        validate(lookup, EventInput(TOKENS, {**payload, "customer_id": JENNY, "value": "1"}))
        for payload in (first, second)
    ]
    same_payload = events[0].payload == events[1].payload
    assert (events[0].fingerprint == events[1].fingerprint) == same_payload


def test_replay_with_the_same_content_is_a_duplicate(meter_lookup: MeterLookup) -> None:
    stored = validate(meter_lookup, tokens_event(identifier="req_1"))
    replay = validate(meter_lookup, tokens_event(identifier="req_1"), RECEIVED_AT + timedelta(hours=1))
    check_replay(replay, stored.fingerprint, stored.timestamp)


def test_replay_without_a_timestamp_matches_any_stored_timestamp(meter_lookup: MeterLookup) -> None:
    stored = validate(
        meter_lookup, tokens_event(identifier="req_1", timestamp=RECEIVED_AT - timedelta(hours=2))
    )
    replay = validate(meter_lookup, tokens_event(identifier="req_1"))
    check_replay(replay, stored.fingerprint, stored.timestamp)


def test_replay_with_the_stored_timestamp_is_a_duplicate(meter_lookup: MeterLookup) -> None:
    stored = validate(meter_lookup, tokens_event(identifier="req_1"))
    replay = validate(meter_lookup, tokens_event(identifier="req_1", timestamp=RECEIVED_AT), RECEIVED_AT)
    check_replay(replay, stored.fingerprint, stored.timestamp)


@pytest.mark.parametrize(
    "replay",
    [
        tokens_event("2", identifier="req_1"),
        tokens_event(identifier="req_1", timestamp=RECEIVED_AT - timedelta(hours=1)),
    ],
)
def test_replay_with_different_content_is_refused(meter_lookup: MeterLookup, replay: EventInput) -> None:
    stored = validate(meter_lookup, tokens_event(identifier="req_1"))
    with pytest.raises(AlreadyExists) as caught:
        check_replay(validate(meter_lookup, replay), stored.fingerprint, stored.timestamp)
    assert caught.value.reason == "EVENT_IDENTIFIER_CONFLICT"
    assert caught.value.metadata == {"identifier": "req_1", "meter_id": stored.meter_id}


# --- M-16: cancellation ------------------------------------------------------------------


def test_cancellation_is_allowed_up_to_24_hours_after_receipt() -> None:
    check_cancellable(RECEIVED_AT, RECEIVED_AT)
    check_cancellable(RECEIVED_AT, RECEIVED_AT + timedelta(hours=24))


def test_cancellation_after_24_hours_is_refused() -> None:
    with pytest.raises(FailedPrecondition) as caught:
        check_cancellable(RECEIVED_AT, RECEIVED_AT + timedelta(hours=24, microseconds=1))
    assert caught.value.reason == "CANCELLATION_WINDOW_PASSED"
