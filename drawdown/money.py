"""Money: the one module that owns currencies, minor units, decimal parsing and rounding.

Amounts are integers of the currency's minor unit (cents for USD, yen for JPY). Unit
prices and quantities are ``Decimal`` and may carry fractions of a minor unit; they are
rounded once, half-up, when a line amount is computed (``round_minor``). ``float`` never
touches money.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Context, Decimal, DivisionByZero, InvalidOperation, Overflow

from drawdown import reasons
from drawdown.errors import InvalidArgument

# Decimal arithmetic for money: wide enough for 15-significant-digit quantities times
# 12-decimal unit prices, and loud on anything undefined.
MONEY_CONTEXT = Context(prec=50, rounding=ROUND_HALF_UP, traps=[InvalidOperation, DivisionByZero, Overflow])

# ISO 4217 active currencies whose minor unit is not 2 decimal places.
_EXPONENT_0 = frozenset("BIF CLP DJF GNF ISK JPY KMF KRW PYG RWF UGX UYI VND VUV XAF XOF XPF".split())
_EXPONENT_3 = frozenset("BHD IQD JOD KWD LYD OMR TND".split())
_EXPONENT_4 = frozenset("CLF UYW".split())
# ISO 4217 active currency codes (funds and precious metals excluded).
_CURRENCIES = frozenset(
    """
    AED AFN ALL AMD ANG AOA ARS AUD AWG AZN BAM BBD BDT BGN BHD BIF BMD BND BOB BRL BSD BTN
    BWP BYN BZD CAD CDF CHF CLF CLP CNY COP CRC CUP CVE CZK DJF DKK DOP DZD EGP ERN ETB EUR
    FJD FKP GBP GEL GHS GIP GMD GNF GTQ GYD HKD HNL HTG HUF IDR ILS INR IQD IRR ISK JMD JOD
    JPY KES KGS KHR KMF KPW KRW KWD KYD KZT LAK LBP LKR LRD LSL LYD MAD MDL MGA MKD MMK MNT
    MOP MRU MUR MVR MWK MXN MYR MZN NAD NGN NIO NOK NPR NZD OMR PAB PEN PGK PHP PKR PLN PYG
    QAR RON RSD RUB RWF SAR SBD SCR SDG SEK SGD SHP SLE SOS SRD SSP STN SVC SYP SZL THB TJS
    TMT TND TOP TRY TTD TWD TZS UAH UGX USD UYI UYU UYW UZS VED VES VND VUV WST XAF XCD XCG
    XOF XPF YER ZAR ZMW ZWG
    """.split()
)


def is_currency(code: str) -> bool:
    """Whether ``code`` is an active ISO 4217 code, upper case."""
    return code in _CURRENCIES


def currency_exponent(code: str) -> int:
    """Decimal places of the currency's minor unit (USD 2, JPY 0, KWD 3)."""
    if code in _EXPONENT_0:
        return 0
    if code in _EXPONENT_3:
        return 3
    if code in _EXPONENT_4:
        return 4
    return 2


def validate_currency(code: str, field: str = "currency") -> str:
    """The code if it is an ISO 4217 currency, else INVALID_ARGUMENT naming ``field``."""
    if not is_currency(code):
        raise InvalidArgument.for_field(
            field,
            f"{code!r} is not an ISO 4217 currency code (upper case, e.g. USD)",
            reason=reasons.INVALID_CURRENCY,
        )
    return code


def round_minor(amount: Decimal) -> int:
    """Round an amount in minor units (possibly fractional) to a whole minor unit, half-up.

    Half-up means away from zero on a tie (2.5 → 3, -2.5 → -3): the rule Stripe and most
    invoicing systems document for line amounts. Applied once per invoice line.
    """
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP, context=MONEY_CONTEXT))


def parse_decimal(
    text: str,
    field: str,
    *,
    max_significant_digits: int | None = None,
    max_decimal_places: int | None = None,
    allow_negative: bool = True,
    reason: str = "INVALID_DECIMAL",
) -> Decimal:
    """Parse a decimal string from a request; anything off is INVALID_ARGUMENT on ``field``.

    Accepts plain and exponent notation ("12.5", "-3", "1e3"); rejects NaN, infinities,
    blanks and anything ``Decimal`` cannot read.
    """
    try:
        value = Decimal(text.strip()) if text and text.strip() else None
    except InvalidOperation:
        value = None
    if value is None or not value.is_finite():
        raise InvalidArgument.for_field(field, f"{text!r} is not a decimal number", reason=reason)
    if not allow_negative and value < 0:
        raise InvalidArgument.for_field(field, "must not be negative", reason=reason)
    if max_significant_digits is not None and significant_digits(value) > max_significant_digits:
        raise InvalidArgument.for_field(
            field, f"has more than {max_significant_digits} significant digits", reason=reason
        )
    if max_decimal_places is not None and decimal_places(value) > max_decimal_places:
        raise InvalidArgument.for_field(
            field, f"has more than {max_decimal_places} decimal places", reason=reason
        )
    return value


def significant_digits(value: Decimal) -> int:
    """Digits from the first non-zero one to the last non-zero one ("0.0012300" → 3)."""
    normalized = value.normalize(MONEY_CONTEXT)
    if normalized.is_zero():
        return 1
    return len(normalized.as_tuple().digits)


def decimal_places(value: Decimal) -> int:
    """Digits after the decimal point, ignoring trailing zeros ("1.2500" → 2)."""
    exponent = value.normalize(MONEY_CONTEXT).as_tuple().exponent
    assert isinstance(exponent, int)
    return max(0, -exponent)


def format_decimal(value: Decimal) -> str:
    """Plain notation without exponent or trailing zeros ("1E+3" → "1000", "2.50" → "2.5")."""
    normalized = value.normalize(MONEY_CONTEXT)
    text = format(normalized, "f")
    return "0" if text in ("-0", "0") else text


@dataclass(frozen=True, order=True)
class Money:
    """An exact amount: an integer of ``currency``'s minor unit."""

    currency: str
    minor: int

    def __post_init__(self) -> None:
        if not is_currency(self.currency):
            raise ValueError(f"not an ISO 4217 currency: {self.currency!r}")
        if not isinstance(self.minor, int) or isinstance(self.minor, bool):
            raise TypeError("Money.minor must be an int of minor units")

    @classmethod
    def zero(cls, currency: str) -> Money:
        return cls(currency, 0)

    @classmethod
    def from_major(cls, currency: str, amount: Decimal | str) -> Money:
        """From an amount in major units ("10.00" USD → 1000); refuses sub-minor fractions."""
        scaled = Decimal(amount).scaleb(currency_exponent(currency), context=MONEY_CONTEXT)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} {currency} has a fraction of the minor unit")
        return cls(currency, int(scaled))

    @property
    def major(self) -> Decimal:
        """The amount in major units, with exactly the currency's decimal places."""
        exponent = currency_exponent(self.currency)
        return (
            Decimal(self.minor)
            .scaleb(-exponent, context=MONEY_CONTEXT)
            .quantize(Decimal(1).scaleb(-exponent), context=MONEY_CONTEXT)
        )

    def _same_currency(self, other: Money) -> None:
        if self.currency != other.currency:
            raise ValueError(f"currency mismatch: {self.currency} and {other.currency}")

    def __add__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.currency, self.minor + other.minor)

    def __sub__(self, other: Money) -> Money:
        self._same_currency(other)
        return Money(self.currency, self.minor - other.minor)

    def __neg__(self) -> Money:
        return Money(self.currency, -self.minor)

    def is_zero(self) -> bool:
        return self.minor == 0

    def is_negative(self) -> bool:
        return self.minor < 0

    def __str__(self) -> str:
        return f"{self.major} {self.currency}"
