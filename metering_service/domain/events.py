"""Meter events: validation and normalisation (M-10..M-13) and cancellation (M-16).

``validate_event`` runs once per ingested event on a path meant to carry tens of thousands
of events a second in one process, so it does only what each event needs: dictionary
look-ups, one precompiled regex match, one decimal parse and one small hash. Per-meter
facts (keys, formula, status) are read from the ``Meter`` the caller's look-up returns,
typically from an in-memory map by event name.

Refusals are typed errors whose ``reason`` is what a batch result reports. Field paths are
those of the ``MeterEvent`` message (``event_name``, ``identifier``, ``timestamp``,
``payload.<key>`` such as ``payload.value``); the API layer prefixes the request field
(``meter_event.``, ``events[3].``). Datetimes must be timezone-aware.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from drawdown import ids
from drawdown.errors import AlreadyExists, FailedPrecondition, FieldViolation, InvalidArgument, NotFound
from metering_service.domain import reasons
from metering_service.domain.meters import MAX_EVENT_NAME_LENGTH, MAX_PAYLOAD_KEY_LENGTH, Aggregation, Meter

MAX_IDENTIFIER_LENGTH = 100
# Payload bounds: keys as long as a meter's keys, values as long as any string of
# the contracts by default, and entries enough for 10 dimensions and the caller's extras.
MAX_PAYLOAD_ENTRIES = 50
MAX_PAYLOAD_VALUE_LENGTH = 255
# A payload whose event name, keys and values together are at most this long cannot hold
# a key or value over its limit, so most events skip the per-string length checks.
_SHORT_CONTENT = MAX_PAYLOAD_KEY_LENGTH
MAX_SIGNIFICANT_DIGITS = 15
# Beyond M-12: at most 15 decimal places, so that with at most 15 significant digits every
# value fits NUMERIC(30, 15) and sums of up to 10^20 values stay exact in MONEY_CONTEXT.
MAX_DECIMAL_PLACES = 15
MAX_EVENT_AGE = timedelta(days=35)
MAX_CLOCK_SKEW = timedelta(minutes=5)
CANCELLATION_WINDOW = timedelta(hours=24)

# The documented value format: optional sign, ASCII digits, optional fraction; no
# exponent, spaces, NaN or infinity (which ``Decimal`` alone would accept).
_VALUE_PATTERN = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
# A count event is one occurrence whatever its payload says (M-2), so it is recorded as 1.
_COUNTED_ONCE = Decimal(1)
_ZERO = Decimal(0)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
# PostgreSQL text and jsonb cannot hold NUL, so no stored string may contain it.
NUL = "\x00"

MeterLookup = Callable[[str], Meter | None]
"""Finds the meter for an event name, or None; ``dict.get`` on a map by event name will do."""


class EventInput(NamedTuple):
    """A meter event as the client sent it (M-10): "" and None mean "not given"."""

    event_name: str
    payload: Mapping[str, str]
    identifier: str = ""
    timestamp: datetime | None = None


class MeterEvent(NamedTuple):
    """A valid event, ready to store.

    ``payload`` is kept as sent, extra keys included. ``dimensions`` holds every dimension
    key of the meter, "" where the payload lacks it (such events group under ""). A count
    event's ``value`` is 1. ``timestamp_sent`` says whether the client chose the timestamp
    (else it is the receipt time). ``fingerprint`` identifies the content for replay
    detection (M-13): BLAKE2b-128 of the UTF-8 of the event name and the payload's keys and
    values in key order, separated by NUL. It is persisted: changing this encoding makes
    stored events look different on replay. ``clock_received_at`` is the time of receipt
    on the customer's test clock (I-18), None for a customer on the wall clock.
    """

    meter_id: str
    event_name: str
    customer_id: str
    value: Decimal
    dimensions: dict[str, str]
    payload: Mapping[str, str]
    identifier: str
    timestamp: datetime
    timestamp_sent: bool
    fingerprint: bytes
    clock_received_at: datetime | None = None


def validate_event(
    meter_lookup: MeterLookup,
    event: EventInput,
    received_at: datetime,
    clock_times: Mapping[str, datetime] | None = None,
) -> MeterEvent:
    """The event ready to store, or the reason it is refused (M-10, M-11, M-12, X-5).

    ``clock_times`` maps the customers that live on a test clock to their clock's time
    (I-18): for them the timestamp window is judged, an absent timestamp set, and the
    receipt recorded (``clock_received_at``) by the clock's time instead of ``received_at``.

    Checked in this order, each with its own reason:
    - event_name names no meter: NOT_FOUND UNKNOWN_EVENT_NAME, unless it could name none,
      being over 100 characters (STRING_TOO_LONG) or holding NUL (INVALID_CHARACTER); the
      meter is inactive: FAILED_PRECONDITION METER_INACTIVE (M-3).
    - identifier longer than 100 characters: IDENTIFIER_TOO_LONG. Absent: a new ``mev_`` id.
    - timestamp more than 35 days before ``received_at``: TIMESTAMP_TOO_FAR_IN_PAST; more
      than 5 minutes after it: TIMESTAMP_TOO_FAR_IN_FUTURE (exactly 35 days and exactly 5
      minutes are accepted). Absent: ``received_at``.
    - customer key missing or empty: MISSING_CUSTOMER.
    - value, except for count meters (which neither require nor read it): missing or empty:
      MISSING_VALUE; not ``[+-]digits[.digits]``: INVALID_VALUE; more than 15 significant
      digits, leading zeros and trailing fractional zeros not counted:
      TOO_MANY_SIGNIFICANT_DIGITS; more than 15 decimal places once trailing zeros are
      dropped: TOO_MANY_DECIMAL_PLACES. Negative values are corrections and allowed.
    - more than 50 payload entries: PAYLOAD_TOO_LARGE; a payload key over 100 characters
      or a value over 255: STRING_TOO_LONG.
    - NUL in the identifier or anywhere in the payload: INVALID_CHARACTER.
    All are INVALID_ARGUMENT unless said otherwise.
    """
    meter = meter_lookup(event.event_name)
    if meter is None:
        _check_event_name(event.event_name)
        message = f"no meter has the event_name {event.event_name!r}"
        raise NotFound(
            f"event_name: {message}",
            reason=reasons.UNKNOWN_EVENT_NAME,
            metadata={"field": "event_name"},
            field_violations=[FieldViolation("event_name", message)],
        )
    if not meter.is_active:
        raise FailedPrecondition(
            f"meter {meter.id} of {event.event_name!r} is inactive",
            reason=reasons.METER_INACTIVE,
            metadata={"meter_id": meter.id},
        )

    identifier = event.identifier
    if len(identifier) > MAX_IDENTIFIER_LENGTH:
        raise InvalidArgument.for_field(
            "identifier",
            f"is longer than {MAX_IDENTIFIER_LENGTH} characters",
            reason=reasons.IDENTIFIER_TOO_LONG,
        )
    if NUL in identifier:
        raise _nul_character("identifier")
    if not identifier:
        identifier = ids.new_id(ids.METER_EVENT, at_ms=(received_at - _EPOCH) // _MILLISECOND)

    payload = event.payload
    customer_id = payload.get(meter.customer_key)
    now = received_at
    if clock_times and customer_id:
        now = clock_times.get(customer_id, received_at)
    timestamp = event.timestamp
    if timestamp is None:
        timestamp = now
    elif now - timestamp > MAX_EVENT_AGE:
        raise InvalidArgument.for_field(
            "timestamp",
            "is more than 35 days before the time of receipt",
            reason=reasons.TIMESTAMP_TOO_FAR_IN_PAST,
        )
    elif timestamp - now > MAX_CLOCK_SKEW:
        raise InvalidArgument.for_field(
            "timestamp",
            "is more than 5 minutes after the time of receipt",
            reason=reasons.TIMESTAMP_TOO_FAR_IN_FUTURE,
        )

    if not customer_id:
        raise InvalidArgument.for_field(
            f"payload.{meter.customer_key}",
            "is required: it names the customer",
            reason=reasons.MISSING_CUSTOMER,
        )
    if meter.aggregation is Aggregation.COUNT:
        value = _COUNTED_ONCE
    else:
        value = _parse_value(payload.get(meter.value_key), f"payload.{meter.value_key}")

    if len(payload) > MAX_PAYLOAD_ENTRIES:
        raise InvalidArgument.for_field(
            "payload",
            f"holds {len(payload)} entries; an event holds at most {MAX_PAYLOAD_ENTRIES}",
            reason=reasons.PAYLOAD_TOO_LARGE,
        )
    content_fields = [event.event_name]
    for key_and_value in sorted(payload.items()):
        content_fields += key_and_value
    content = NUL.join(content_fields)
    # With NUL-free fields the joined content is unambiguous; one count over it checks
    # every key and value at once.
    if content.count(NUL) != len(content_fields) - 1:
        raise _nul_character(_field_with_nul(payload))
    if len(content) > _SHORT_CONTENT:
        _check_payload_lengths(payload)
    dimensions = {key: payload.get(key, "") for key in meter.dimension_keys}
    fingerprint = hashlib.blake2b(content.encode(), digest_size=16).digest()
    # Positional: keyword construction of a NamedTuple costs twice as much on this path.
    return MeterEvent(
        meter.id,
        event.event_name,
        customer_id,
        value,
        dimensions,
        payload,
        identifier,
        timestamp,
        event.timestamp is not None,
        fingerprint,
        None if now is received_at else now,
    )


def check_replay(event: MeterEvent, stored_fingerprint: bytes, stored_timestamp: datetime) -> None:
    """Accept a replayed identifier only with the same content (M-13).

    Called when ``event.identifier`` is already recorded for the meter. The same event name
    and payload, and the same timestamp if the replay carries one, make it a duplicate: an
    idempotent success, counted once. Anything else is ALREADY_EXISTS with reason
    EVENT_IDENTIFIER_CONFLICT.
    """
    if event.fingerprint != stored_fingerprint or (
        event.timestamp_sent and event.timestamp != stored_timestamp
    ):
        raise AlreadyExists(
            f"identifier {event.identifier!r} was already used for an event with different content",
            reason=reasons.EVENT_IDENTIFIER_CONFLICT,
            metadata={"identifier": event.identifier, "meter_id": event.meter_id},
        )


def check_cancellable(received_at: datetime, now: datetime) -> None:
    """An event can be cancelled until 24 hours after its receipt, inclusive (M-16).

    Later: FAILED_PRECONDITION with reason CANCELLATION_WINDOW_PASSED.
    """
    if now - received_at > CANCELLATION_WINDOW:
        raise FailedPrecondition(
            "events can be cancelled only within 24 hours of their receipt",
            reason=reasons.CANCELLATION_WINDOW_PASSED,
            metadata={"received_at": received_at.isoformat()},
        )


def _parse_value(text: str | None, field: str) -> Decimal:
    if not text:
        raise InvalidArgument.for_field(field, "is required", reason=reasons.MISSING_VALUE)
    if len(text) <= MAX_SIGNIFICANT_DIGITS and text.isascii() and text.isdigit():
        # The common case, a whole number of at most 15 digits: nothing more to check.
        return Decimal(text) or _ZERO
    if not _VALUE_PATTERN.fullmatch(text):
        raise InvalidArgument.for_field(
            field, f"{text!r} is not a decimal number such as 12, -3 or 0.25", reason=reasons.INVALID_VALUE
        )
    integer, _, fraction = text.lstrip("+-").partition(".")
    integer = integer.lstrip("0")
    fraction = fraction.rstrip("0")
    significant = len(integer) + len(fraction) if integer else len(fraction.lstrip("0"))
    if significant > MAX_SIGNIFICANT_DIGITS:
        raise InvalidArgument.for_field(
            field,
            f"has more than {MAX_SIGNIFICANT_DIGITS} significant digits",
            reason=reasons.TOO_MANY_SIGNIFICANT_DIGITS,
        )
    if len(fraction) > MAX_DECIMAL_PLACES:
        raise InvalidArgument.for_field(
            field,
            f"has more than {MAX_DECIMAL_PLACES} decimal places",
            reason=reasons.TOO_MANY_DECIMAL_PLACES,
        )
    # "-0" and "0.000" are zero too; one spelling keeps stored values uniform.
    return Decimal(text) or _ZERO


def _check_event_name(event_name: str) -> None:
    """Refuse an event name no meter could have (longer than any, or with NUL) as such."""
    if len(event_name) > MAX_EVENT_NAME_LENGTH:
        raise InvalidArgument.for_field(
            "event_name", f"is limited to {MAX_EVENT_NAME_LENGTH} characters", reason=reasons.STRING_TOO_LONG
        )
    if NUL in event_name:
        raise _nul_character("event_name")


def _check_payload_lengths(payload: Mapping[str, str]) -> None:
    for key, text in payload.items():
        if len(key) > MAX_PAYLOAD_KEY_LENGTH:
            raise InvalidArgument.for_field(
                "payload",
                f"keys are limited to {MAX_PAYLOAD_KEY_LENGTH} characters",
                reason=reasons.STRING_TOO_LONG,
            )
        if len(text) > MAX_PAYLOAD_VALUE_LENGTH:
            raise InvalidArgument.for_field(
                f"payload.{key}",
                f"is limited to {MAX_PAYLOAD_VALUE_LENGTH} characters",
                reason=reasons.STRING_TOO_LONG,
            )


def _field_with_nul(payload: Mapping[str, str]) -> str:
    for key, text in payload.items():
        if NUL in key:
            return "payload"
        if NUL in text:
            return f"payload.{key}"
    raise AssertionError("called only when the payload holds a NUL")


def _nul_character(field: str) -> InvalidArgument:
    return InvalidArgument.for_field(
        field, "must not contain the NUL character (U+0000)", reason=reasons.INVALID_CHARACTER
    )
