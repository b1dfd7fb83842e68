"""Conversions between protobuf well-known types and Drawdown's Python types.

Kept in one place so that every servicer parses money, decimals and times the same way
and names the offending field the same way when they are wrong.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from google.protobuf import duration_pb2, timestamp_pb2
from google.type import decimal_pb2, money_pb2

from drawdown import reasons
from drawdown.errors import InvalidArgument
from drawdown.money import MONEY_CONTEXT, Money, currency_exponent, format_decimal, is_currency, parse_decimal

_NANOS = 1_000_000_000


def money_to_proto(money: Money) -> money_pb2.Money:
    """Minor units → google.type.Money (units + nanos, same sign)."""
    exponent = currency_exponent(money.currency)
    scale = 10**exponent
    units = abs(money.minor) // scale
    nanos = (abs(money.minor) % scale) * (_NANOS // scale)
    sign = -1 if money.minor < 0 else 1
    return money_pb2.Money(currency_code=money.currency, units=sign * units, nanos=sign * nanos)


def money_from_proto(message: money_pb2.Money, field: str) -> Money:
    """google.type.Money → minor units; a fraction of a minor unit or a bad currency names ``field``."""
    if not is_currency(message.currency_code):
        raise InvalidArgument.for_field(
            f"{field}.currency_code",
            f"{message.currency_code!r} is not an ISO 4217 currency code",
            reason=reasons.INVALID_CURRENCY,
        )
    if message.units and message.nanos and (message.units > 0) != (message.nanos > 0):
        raise InvalidArgument.for_field(
            f"{field}.nanos", "must have the same sign as units", reason=reasons.INVALID_AMOUNT
        )
    if abs(message.nanos) >= _NANOS:
        raise InvalidArgument.for_field(
            f"{field}.nanos", "must be below 1,000,000,000", reason=reasons.INVALID_AMOUNT
        )
    scale = 10 ** currency_exponent(message.currency_code)
    nanos_per_minor = _NANOS // scale
    if message.nanos % nanos_per_minor:
        raise InvalidArgument.for_field(
            f"{field}.nanos",
            f"is a fraction of the {message.currency_code} minor unit",
            reason=reasons.INVALID_AMOUNT,
        )
    return Money(message.currency_code, message.units * scale + message.nanos // nanos_per_minor)


def decimal_to_proto(value: Decimal) -> decimal_pb2.Decimal:
    return decimal_pb2.Decimal(value=format_decimal(value))


def decimal_from_proto(message: decimal_pb2.Decimal, field: str, **limits: int | bool) -> Decimal:
    return parse_decimal(message.value, f"{field}.value", **limits)  # type: ignore[arg-type]


def timestamp_to_proto(moment: datetime | None) -> timestamp_pb2.Timestamp | None:
    if moment is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(moment.astimezone(UTC))
    return message


def timestamp_from_proto(message: timestamp_pb2.Timestamp, field: str) -> datetime:
    """A Timestamp as an aware UTC datetime (microsecond precision: PostgreSQL's)."""
    if not 0 <= message.nanos < _NANOS:
        raise InvalidArgument.for_field(f"{field}.nanos", "out of range", reason=reasons.INVALID_TIMESTAMP)
    try:
        return message.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError):
        raise InvalidArgument.for_field(field, "out of range", reason=reasons.INVALID_TIMESTAMP) from None


def optional_timestamp(message: object, field_name: str, field: str | None = None) -> datetime | None:
    """The timestamp in ``message.field_name`` if it is set, else None."""
    if not message.HasField(field_name):  # type: ignore[attr-defined]
        return None
    return timestamp_from_proto(getattr(message, field_name), field or field_name)


def decimal_value(value: Decimal) -> str:
    """A Decimal as the canonical string used in responses."""
    return format_decimal(value.normalize(MONEY_CONTEXT))


# google.protobuf.Duration's range: about ±10,000 years.
_MAX_DURATION_SECONDS = 315_576_000_000


def duration_from_proto(message: duration_pb2.Duration, field: str) -> timedelta:
    """A Duration as a timedelta; one outside Duration's own range (seconds beyond about
    ±10,000 years, nanos beyond ±999,999,999 or of the other sign) is INVALID_ARGUMENT on
    ``field`` rather than an overflow."""
    seconds, nanos = message.seconds, message.nanos
    if (
        abs(seconds) > _MAX_DURATION_SECONDS
        or abs(nanos) >= _NANOS
        or (seconds > 0 and nanos < 0)
        or (seconds < 0 and nanos > 0)
    ):
        raise InvalidArgument.for_field(
            field,
            "is not a valid Duration (seconds within ±315,576,000,000, nanos of the same sign"
            " and below 1,000,000,000)",
        )
    return timedelta(seconds=seconds, microseconds=nanos // 1000 if nanos >= 0 else -((-nanos) // 1000))


def duration_to_proto(delta: timedelta) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(delta)
    return message
