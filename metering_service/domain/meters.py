"""Meters: what a meter is, how one is created, and the few ways it may change (M-1..M-4).

A meter says how the events named ``event_name`` become usage: which payload key names the
customer, which one carries the value, which keys are dimensions, and which formula
aggregates the values. Everything but the display name is fixed at creation, because
recorded events and issued invoices were interpreted under those settings.

Field paths in errors are those of the ``drawdown.metering.v1.Meter`` message
(``display_name``, ``customer_mapping.event_payload_key``, ``dimension_keys[2]``); the API
layer prefixes the request field (``meter.``). Malformed fields carry the generic reason
INVALID_ARGUMENT, as meter_service.proto documents.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from drawdown.errors import InvalidArgument
from metering_service.domain import reasons

DEFAULT_CUSTOMER_KEY = "customer_id"
DEFAULT_VALUE_KEY = "value"
MAX_DISPLAY_NAME_LENGTH = 250
MAX_EVENT_NAME_LENGTH = 100
MAX_PAYLOAD_KEY_LENGTH = 100
MAX_DIMENSIONS = 10

# ASCII letters, digits and ``_ . : -``, starting with a letter or digit. Event names end up
# in URLs, log lines and metric labels; this set needs no escaping in any of them and still
# allows the usual spellings (``hypernian_input_tokens``, ``api.requests``, ``llm:tokens``).
_EVENT_NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]*")

# PostgreSQL text cannot hold NUL, so no stored string may contain it.
_NO_NUL = "must not contain the NUL character (U+0000)"

_CUSTOMER_KEY_FIELD = "customer_mapping.event_payload_key"
_VALUE_KEY_FIELD = "value_settings.event_payload_key"
# Field-mask paths of the Meter message that exist but may not change (M-3).
_IMMUTABLE_FIELDS = frozenset(
    {
        "id",
        "event_name",
        "aggregation_formula",
        "customer_mapping",
        _CUSTOMER_KEY_FIELD,
        "value_settings",
        _VALUE_KEY_FIELD,
        "dimension_keys",
        "event_time_window",
        "status",
        "create_time",
        "update_time",
        "deactivate_time",
    }
)


class Aggregation(StrEnum):
    """The formula that turns a window's events into one number (M-2)."""

    SUM = "sum"
    COUNT = "count"
    LAST = "last"
    MAX = "max"
    MIN = "min"
    UNIQUE_COUNT = "unique_count"


class TimeWindow(StrEnum):
    """A UTC hour or day: a meter's pre-aggregation window (M-17) or a summary's grouping (M-20)."""

    HOUR = "hour"
    DAY = "day"


class MeterStatus(StrEnum):
    """Whether a meter accepts events (M-3)."""

    ACTIVE = "active"
    INACTIVE = "inactive"


@dataclass(frozen=True, slots=True)
class Meter:
    """A meter (M-1, M-4). Immutable: every change returns a new value."""

    id: str
    display_name: str
    event_name: str
    aggregation: Aggregation
    customer_key: str
    value_key: str
    dimension_keys: tuple[str, ...]
    event_time_window: TimeWindow | None
    status: MeterStatus
    created_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None = None

    @property
    def is_active(self) -> bool:
        return self.status is MeterStatus.ACTIVE


def validate_new_meter(
    *,
    meter_id: str,
    display_name: str,
    event_name: str,
    aggregation: Aggregation | None,
    customer_key: str | None = None,
    value_key: str | None = None,
    dimension_keys: Sequence[str] = (),
    event_time_window: TimeWindow | None = None,
    now: datetime,
) -> Meter:
    """An active meter from a create request, or INVALID_ARGUMENT naming the first bad field.

    M-1: display_name is 1..250 characters and not blank; event_name is 1..100 characters
    of ``[A-Za-z0-9_.:-]`` starting with a letter or digit; the aggregation is required;
    the customer key defaults to ``customer_id`` and the value key to ``value`` when
    omitted or empty; every payload key is at most 100 characters. M-4: at most 10
    dimension keys, each non-empty, and the customer key, the value key and the dimension
    keys are all distinct. No string may contain NUL.

    Uniqueness of event_name among meters is the store's to enforce (EVENT_NAME_TAKEN).
    """
    _check_display_name(display_name)
    _check_event_name(event_name)
    if aggregation is None:
        raise InvalidArgument.for_field("aggregation_formula", "is required")
    customer_key = customer_key or DEFAULT_CUSTOMER_KEY
    value_key = value_key or DEFAULT_VALUE_KEY
    dimension_keys = tuple(dimension_keys)
    _check_payload_keys(customer_key, value_key, dimension_keys)
    return Meter(
        id=meter_id,
        display_name=display_name,
        event_name=event_name,
        aggregation=aggregation,
        customer_key=customer_key,
        value_key=value_key,
        dimension_keys=dimension_keys,
        event_time_window=event_time_window,
        status=MeterStatus.ACTIVE,
        created_at=now,
        updated_at=now,
    )


def apply_meter_update(
    meter: Meter, update_mask: Sequence[str], *, display_name: str, now: datetime
) -> Meter:
    """The meter with its display name changed (M-3: nothing else may change).

    ``update_mask`` is required: an empty mask or a path the Meter message does not have is
    INVALID_ARGUMENT on ``update_mask``; any other field of the meter is INVALID_ARGUMENT
    with reason IMMUTABLE_FIELD naming that path. The new name follows the M-1 rule.
    """
    if not update_mask:
        raise InvalidArgument.for_field("update_mask", "must name the fields to change: display_name")
    for path in update_mask:
        if path in _IMMUTABLE_FIELDS:
            raise InvalidArgument.for_field(
                path,
                "cannot be changed after the meter is created; only display_name can",
                reason=reasons.IMMUTABLE_FIELD,
            )
        if path != "display_name":
            raise InvalidArgument.for_field("update_mask", f"{path!r} is not a field of a meter")
    _check_display_name(display_name)
    return dataclasses.replace(meter, display_name=display_name, updated_at=now)


def deactivate_meter(meter: Meter, now: datetime) -> Meter:
    """The meter, inactive from ``now``: it refuses new events (M-3).

    Idempotent: an inactive meter is returned unchanged, keeping its first deactivation time.
    """
    if not meter.is_active:
        return meter
    return dataclasses.replace(meter, status=MeterStatus.INACTIVE, deactivated_at=now, updated_at=now)


def reactivate_meter(meter: Meter, now: datetime) -> Meter:
    """The meter, active again: it accepts events from now on, with no back-fill (M-3).

    Idempotent: an active meter is returned unchanged.
    """
    if meter.is_active:
        return meter
    return dataclasses.replace(meter, status=MeterStatus.ACTIVE, deactivated_at=None, updated_at=now)


def _check_display_name(display_name: str) -> None:
    if not display_name.strip():
        raise InvalidArgument.for_field("display_name", "is required")
    if len(display_name) > MAX_DISPLAY_NAME_LENGTH:
        raise InvalidArgument.for_field(
            "display_name", f"is longer than {MAX_DISPLAY_NAME_LENGTH} characters"
        )
    if "\x00" in display_name:
        raise InvalidArgument.for_field("display_name", _NO_NUL)


def _check_event_name(event_name: str) -> None:
    if not event_name:
        raise InvalidArgument.for_field("event_name", "is required")
    if len(event_name) > MAX_EVENT_NAME_LENGTH:
        raise InvalidArgument.for_field("event_name", f"is longer than {MAX_EVENT_NAME_LENGTH} characters")
    if not _EVENT_NAME_PATTERN.fullmatch(event_name):
        raise InvalidArgument.for_field(
            "event_name",
            "must start with an ASCII letter or digit and hold only those, '_', '.', ':' and '-'",
        )


def _check_payload_keys(customer_key: str, value_key: str, dimension_keys: tuple[str, ...]) -> None:
    if len(dimension_keys) > MAX_DIMENSIONS:
        raise InvalidArgument.for_field("dimension_keys", f"has more than {MAX_DIMENSIONS} keys")
    named_keys = [(_CUSTOMER_KEY_FIELD, customer_key), (_VALUE_KEY_FIELD, value_key)]
    named_keys += [(f"dimension_keys[{index}]", key) for index, key in enumerate(dimension_keys)]
    field_of_key: dict[str, str] = {}
    for field, key in named_keys:
        if not key:
            raise InvalidArgument.for_field(field, "must not be empty")
        if len(key) > MAX_PAYLOAD_KEY_LENGTH:
            raise InvalidArgument.for_field(field, f"is longer than {MAX_PAYLOAD_KEY_LENGTH} characters")
        if "\x00" in key:
            raise InvalidArgument.for_field(field, _NO_NUL)
        if key in field_of_key:
            raise InvalidArgument.for_field(field, f"{key!r} is already used by {field_of_key[key]}")
        field_of_key[key] = field
