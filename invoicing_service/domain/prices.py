"""Prices and rating: what a quantity of usage or seats costs (I-2, I-10).

Unit and flat amounts are ``Decimal`` in MINOR units of the price's currency (3 means
3 cents for USD) with up to 12 decimal places, as in Stripe's ``unit_amount_decimal``.
``rate`` is exact; ``line_amount`` rounds once, half-up, to a whole minor unit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from enum import StrEnum

from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.money import MONEY_CONTEXT, Money, decimal_places, round_minor, validate_currency
from invoicing_service.domain import reasons
from invoicing_service.domain.periods import Interval

MAX_AMOUNT_DECIMAL_PLACES = 12
# Keeps amounts at 24 significant digits at most, so that a quantity of up to 15 digits
# times an amount stays exact within MONEY_CONTEXT's 50 digits.
AMOUNT_DECIMAL_LIMIT = Decimal(10) ** 12
# At most one year between invoices, as Stripe allows (365 days, 52 weeks, 12 months).
MAX_INTERVAL_COUNT = {Interval.DAY: 365, Interval.WEEK: 52, Interval.MONTH: 12, Interval.YEAR: 1}
MAX_TIERS = 100
# The most one invoice line may bill, in minor units (9,999,999,999,999.99 USD): an invoice
# of 20 such lines, its credits and its amount due still fit the BIGINT columns, the
# credits service's amounts and google.type.Money's int64 units, in every currency.
MAX_LINE_AMOUNT = 10**15 - 1
# Quantities are stored as NUMERIC(60, 15): at most 45 digits before the point.
QUANTITY_LIMIT = Decimal(10) ** 45
_TRANSFORM_RULE = "divide_by must be at least 1 and round UP or DOWN"


class LineNotBillable(FailedPrecondition):
    """A line whose amount (LINE_AMOUNT_TOO_LARGE) or quantity (QUANTITY_TOO_LARGE) is
    beyond what an invoice can hold: the usage behind it cannot be billed as it is."""

    default_reason = reasons.LINE_AMOUNT_TOO_LARGE


class UsageType(StrEnum):
    """Metered prices bill a meter's usage in arrears; licensed ones a quantity in advance."""

    METERED = "metered"
    LICENSED = "licensed"


class BillingScheme(StrEnum):
    """One unit amount for every unit, or amounts that depend on tiers of quantity."""

    PER_UNIT = "per_unit"
    TIERED = "tiered"


class TiersMode(StrEnum):
    """Graduated: each tier prices the units inside it. Volume: the tier the whole quantity
    reaches prices every unit."""

    GRADUATED = "graduated"
    VOLUME = "volume"


class Rounding(StrEnum):
    """How ``transform_quantity`` rounds the divided quantity to a whole number."""

    UP = "up"
    DOWN = "down"


@dataclass(frozen=True)
class Tier:
    """Units above the previous tier's ``up_to`` and up to this one (inclusive).

    ``up_to`` is None for the last, unbounded tier. The flat amount is charged once when
    the quantity reaches the tier; quantity 0 lies in the first tier.
    """

    up_to: int | None
    unit_amount_decimal: Decimal | None = None
    flat_amount_decimal: Decimal | None = None


@dataclass(frozen=True)
class TransformQuantity:
    """Bill per package of ``divide_by`` units (e.g. per 1,000 tokens), rounding as told."""

    divide_by: int
    round: Rounding


@dataclass(frozen=True)
class Price:
    """A recurring price. Field names double as the field paths of validation errors; a
    required field a request left unset (``usage_type``, ``interval``, a transform's
    ``round``) is None, which ``validate_new_price`` refuses."""

    currency: str
    usage_type: UsageType
    interval: Interval
    interval_count: int = 1
    meter_id: str | None = None
    billing_scheme: BillingScheme = BillingScheme.PER_UNIT
    unit_amount_decimal: Decimal | None = None
    tiers_mode: TiersMode | None = None
    tiers: tuple[Tier, ...] = ()
    transform_quantity: TransformQuantity | None = None


def validate_new_price(price: Price) -> Price:
    """Check a price before it is created (I-2); return it unchanged when valid.

    Raises InvalidArgument naming the field, with reason INVALID_PRICE_TYPE (metered or
    licensed; metered prices need a meter, licensed ones take none), INVALID_INTERVAL
    (day, week, month or year; interval count 1..one year), INVALID_TRANSFORM_QUANTITY
    (per_unit prices only; divide_by ≥ 1, round up|down), INVALID_CURRENCY,
    INVALID_UNIT_AMOUNT (per_unit needs one, tiered takes none; ≥ 0, < 10^12, ≤ 12
    decimal places) or INVALID_TIERS (tiered only; 1 to 100 tiers; ``up_to`` positive
    whole numbers, strictly increasing, last tier unbounded; each tier a unit and/or flat
    amount). Checked in that order: the first fault found answers. Whether the meter
    exists and is active is for the caller to check.
    """
    _check_usage_type(price)
    _check_meter(price)
    if not isinstance(price.interval, Interval):
        raise InvalidArgument.for_field("interval", "is required", reason=reasons.INVALID_INTERVAL)
    if price.transform_quantity is not None:
        _check_transform(price.transform_quantity, price.billing_scheme)
    validate_currency(price.currency)
    _check_interval_count(price)
    if price.billing_scheme is BillingScheme.TIERED:
        _check_tiered(price)
    else:
        _check_per_unit(price)
    return price


def billable_quantity(quantity: Decimal) -> Decimal:
    """The quantity a line bills: a negative total (corrections outweighing usage) bills
    as zero usage (I-10)."""
    return max(quantity, Decimal(0))


def rate(price: Price, quantity: Decimal) -> Decimal:
    """The exact amount in minor units, before rounding, for ``quantity`` (I-2, I-10).

    A negative quantity counts as 0. ``transform_quantity`` applies first (divide, then
    round up or down to whole packages). Per unit: unit amount × quantity. Graduated
    tiers: each tier prices the units that fall inside it and adds its flat amount once
    reached, and the tier amounts are summed (quantity 0 reaches the first tier). Volume
    tiers: the tier the whole quantity falls in prices every unit, plus its flat amount; a
    quantity of 0 bills 0, flat amount included.
    """
    with localcontext(MONEY_CONTEXT):
        units = _transformed(price.transform_quantity, billable_quantity(quantity))
        if price.billing_scheme is BillingScheme.PER_UNIT:
            assert price.unit_amount_decimal is not None, "per_unit price without unit amount"
            return price.unit_amount_decimal * units
        if price.tiers_mode is TiersMode.VOLUME:
            return _volume_rate(price.tiers, units)
        return _graduated_rate(price.tiers, units)


def billed_units(price: Price, quantity: Decimal) -> Decimal:
    """The quantity an invoice line shows (I-2, I-10): the usage clamped at zero, then
    divided and rounded by ``transform_quantity`` (1,001 tokens per 1,000 rounded up: 2)."""
    with localcontext(MONEY_CONTEXT):
        return _transformed(price.transform_quantity, billable_quantity(quantity))


def line_amount(price: Price, quantity: Decimal) -> Money:
    """The amount of one invoice line: ``rate`` rounded once, half-up, to a whole minor
    unit of the price's currency (I-10).

    A quantity of 10^45 or more either way (QUANTITY_TOO_LARGE) or an amount above
    ``MAX_LINE_AMOUNT`` (LINE_AMOUNT_TOO_LARGE) cannot be billed: ``LineNotBillable``.
    """
    check_quantity(quantity)
    exact = rate(price, quantity)
    if exact > MAX_LINE_AMOUNT:
        raise LineNotBillable(
            f"{_shown(quantity)} units would bill {_shown(exact.to_integral_value())} minor units of"
            f" {price.currency}; one line bills at most {MAX_LINE_AMOUNT:,}",
            reason=reasons.LINE_AMOUNT_TOO_LARGE,
            metadata={"quantity": _shown(quantity), "max_line_amount": str(MAX_LINE_AMOUNT)},
        )
    return Money(price.currency, round_minor(exact))


def check_quantity(quantity: Decimal) -> Decimal:
    """A quantity (raw usage included, negative or not) an invoice line can hold: less than
    10^45 either way, else ``LineNotBillable`` QUANTITY_TOO_LARGE."""
    if abs(quantity) >= QUANTITY_LIMIT:
        raise LineNotBillable(
            f"a quantity of {_shown(quantity)} is beyond what an invoice line holds (less than 10^45)",
            reason=reasons.QUANTITY_TOO_LARGE,
            metadata={"quantity": _shown(quantity)},
        )
    return quantity


def _shown(value: Decimal) -> str:
    """A quantity or amount as an error shows it: plain when short, at most 60 characters."""
    text = format(value, "f") if abs(value.adjusted()) < 50 else format(value, "e")
    return text if len(text) <= 60 else f"{text[:57]}..."


def _transformed(transform: TransformQuantity | None, units: Decimal) -> Decimal:
    if transform is None:
        return units
    # divmod is exact where a plain division could round near a whole number.
    packages, remainder = divmod(units, Decimal(transform.divide_by))
    if transform.round is Rounding.UP and remainder:
        packages += 1
    return packages


def _graduated_rate(tiers: Sequence[Tier], units: Decimal) -> Decimal:
    total = Decimal(0)
    lower = Decimal(0)
    for index, tier in enumerate(tiers):
        if index > 0 and units <= lower:
            break
        upper = units if tier.up_to is None else min(units, Decimal(tier.up_to))
        total += _tier_amount(tier, upper - lower)
        if tier.up_to is None:
            break
        lower = Decimal(tier.up_to)
    return total


def _volume_rate(tiers: Sequence[Tier], units: Decimal) -> Decimal:
    if not units:
        return Decimal(0)  # no usage bills nothing, not the first tier's flat amount
    tier = next(tier for tier in tiers if tier.up_to is None or units <= tier.up_to)
    return _tier_amount(tier, units)


def _tier_amount(tier: Tier, units: Decimal) -> Decimal:
    return (tier.flat_amount_decimal or Decimal(0)) + (tier.unit_amount_decimal or Decimal(0)) * units


def _check_usage_type(price: Price) -> None:
    if not isinstance(price.usage_type, UsageType):
        raise InvalidArgument.for_field(
            "usage_type", "must be METERED or LICENSED", reason=reasons.INVALID_PRICE_TYPE
        )


def _check_meter(price: Price) -> None:
    if price.usage_type is UsageType.METERED and not price.meter_id:
        raise InvalidArgument.for_field(
            "meter_id", "a metered price needs a meter", reason=reasons.INVALID_PRICE_TYPE
        )
    if price.usage_type is UsageType.LICENSED and price.meter_id:
        raise InvalidArgument.for_field(
            "meter_id", "a licensed price takes no meter", reason=reasons.INVALID_PRICE_TYPE
        )


def _check_interval_count(price: Price) -> None:
    limit = MAX_INTERVAL_COUNT[price.interval]
    if not 1 <= price.interval_count <= limit:
        raise InvalidArgument.for_field(
            "interval_count",
            f"must be between 1 and {limit} for a {price.interval} interval (at most one year)",
            reason=reasons.INVALID_INTERVAL,
        )


def _check_per_unit(price: Price) -> None:
    if price.unit_amount_decimal is None:
        raise InvalidArgument.for_field(
            "unit_amount_decimal", "a per_unit price needs a unit amount", reason=reasons.INVALID_UNIT_AMOUNT
        )
    _check_amount(price.unit_amount_decimal, "unit_amount_decimal", reasons.INVALID_UNIT_AMOUNT)
    if price.tiers or price.tiers_mode is not None:
        raise InvalidArgument.for_field(
            "tiers", "tiers need billing_scheme tiered", reason=reasons.INVALID_TIERS
        )


def _check_tiered(price: Price) -> None:
    if price.unit_amount_decimal is not None:
        raise InvalidArgument.for_field(
            "unit_amount_decimal",
            "a tiered price takes its amounts from its tiers",
            reason=reasons.INVALID_UNIT_AMOUNT,
        )
    if not isinstance(price.tiers_mode, TiersMode):
        raise InvalidArgument.for_field(
            "tiers_mode", "a tiered price needs tiers_mode graduated or volume", reason=reasons.INVALID_TIERS
        )
    if not price.tiers:
        raise InvalidArgument.for_field(
            "tiers", "a tiered price needs at least one tier", reason=reasons.INVALID_TIERS
        )
    if len(price.tiers) > MAX_TIERS:
        raise InvalidArgument.for_field(
            "tiers", f"a tiered price has at most {MAX_TIERS} tiers", reason=reasons.INVALID_TIERS
        )
    previous_up_to = 0
    last = len(price.tiers) - 1
    for index, tier in enumerate(price.tiers):
        field = f"tiers[{index}]"
        if index == last:
            _check_last_bound(tier, field)
        else:
            previous_up_to = _checked_bound(tier, field, previous_up_to)
        _check_tier_amounts(tier, field)


def _check_last_bound(tier: Tier, field: str) -> None:
    if tier.up_to is not None:
        raise InvalidArgument.for_field(
            f"{field}.up_to", "the last tier must be unbounded (no up_to)", reason=reasons.INVALID_TIERS
        )


def _checked_bound(tier: Tier, field: str, previous_up_to: int) -> int:
    if tier.up_to is None or isinstance(tier.up_to, bool) or not isinstance(tier.up_to, int):
        raise InvalidArgument.for_field(
            f"{field}.up_to",
            "only the last tier may be unbounded; up_to is a whole number",
            reason=reasons.INVALID_TIERS,
        )
    if tier.up_to <= previous_up_to:
        raise InvalidArgument.for_field(
            f"{field}.up_to",
            f"must be greater than {previous_up_to} (tiers strictly increase from 1)",
            reason=reasons.INVALID_TIERS,
        )
    return tier.up_to


def _check_tier_amounts(tier: Tier, field: str) -> None:
    if tier.unit_amount_decimal is None and tier.flat_amount_decimal is None:
        raise InvalidArgument.for_field(
            field,
            "a tier needs unit_amount_decimal, flat_amount_decimal or both",
            reason=reasons.INVALID_TIERS,
        )
    if tier.unit_amount_decimal is not None:
        _check_amount(tier.unit_amount_decimal, f"{field}.unit_amount_decimal", reasons.INVALID_TIERS)
    if tier.flat_amount_decimal is not None:
        _check_amount(tier.flat_amount_decimal, f"{field}.flat_amount_decimal", reasons.INVALID_TIERS)


def _check_amount(amount: Decimal, field: str, reason: str) -> None:
    if not isinstance(amount, Decimal) or not amount.is_finite():
        raise InvalidArgument.for_field(field, "must be a finite decimal number", reason=reason)
    if amount < 0:
        raise InvalidArgument.for_field(field, "must not be negative", reason=reason)
    if amount >= AMOUNT_DECIMAL_LIMIT:
        raise InvalidArgument.for_field(
            field, f"must be less than {AMOUNT_DECIMAL_LIMIT:,} minor units", reason=reason
        )
    if decimal_places(amount) > MAX_AMOUNT_DECIMAL_PLACES:
        raise InvalidArgument.for_field(
            field, f"has more than {MAX_AMOUNT_DECIMAL_PLACES} decimal places", reason=reason
        )


def _check_transform(transform: TransformQuantity, scheme: BillingScheme) -> None:
    if scheme is BillingScheme.TIERED:
        raise InvalidArgument.for_field(
            "transform_quantity", "only with PER_UNIT", reason=reasons.INVALID_TRANSFORM_QUANTITY
        )
    divide_by = transform.divide_by
    if isinstance(divide_by, bool) or not isinstance(divide_by, int) or divide_by < 1:
        raise InvalidArgument.for_field(
            "transform_quantity.divide_by", _TRANSFORM_RULE, reason=reasons.INVALID_TRANSFORM_QUANTITY
        )
    if not isinstance(transform.round, Rounding):
        raise InvalidArgument.for_field(
            "transform_quantity.round", _TRANSFORM_RULE, reason=reasons.INVALID_TRANSFORM_QUANTITY
        )
