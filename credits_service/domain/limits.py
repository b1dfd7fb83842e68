"""What may enter the credits service: the bounds on strings and amounts (X-5, X-8).

Every string the service stores or looks up, and every amount it stores or sums, is
checked where it enters, so that no input, alone or combined with others, reaches the
database in a form it refuses (an index row too large, a NUL character, a BIGINT
overflow) or comes back as a number google.type.Money cannot carry. Bad input is
INVALID_ARGUMENT naming the field; an error echoes at most ``MAX_ECHO_LENGTH``
characters of a bad value (``clip``).

The amount bounds, and why every sum fits a signed 64-bit integer (2**63 - 1 is about
9.22e18) with room:

- A grant is at most ``MAX_GRANT_AMOUNT_MINOR`` = 1e15 minor units (10 trillion USD,
  about 6.7 trillion USD worth of JPY). A grant's ledger balance, its holds and every
  posting on it are at most its amount (the database checks ``balance <= amount``).
- A customer's grants that can still hold credits in one currency (not voided, expiry
  not posted) amount to at most ``MAX_CUSTOMER_CREDIT_MINOR`` = 1e18 in total: the 100
  unused grants of C-4 at the maximum are 1e17, a tenth of it, and the cap also bounds
  grants that come back by reinstatement (C-15), which C-4 does not count. Every
  balance summary (C-21) and every allocation total (C-13) is at most that total, 1e18,
  so about 9 times below 2**63 - 1 (sums are taken as NUMERIC in SQL and as Python ints,
  so no intermediate overflows either).
- An invoice line's amount is at most ``MAX_LINE_AMOUNT_MINOR`` = 2**63 - 1 in magnitude,
  what a BIGINT (invoicing's store) holds. Lines are never stored or summed here: what a
  line receives is at most what a grant has left, so the bound only refuses what no
  service could have produced.
"""

from __future__ import annotations

from credits_service.domain import reasons
from drawdown.errors import InvalidArgument
from drawdown.money import is_currency

MAX_ID_LENGTH = 255
MAX_ECHO_LENGTH = 200

MAX_GRANT_AMOUNT_MINOR = 10**15
MAX_CUSTOMER_CREDIT_MINOR = 10**18
MAX_LINE_AMOUNT_MINOR = 2**63 - 1
# Lines of one invoice (invoicing bills at most 20 subscription items plus one-off items
# and corrections; the bound keeps an allocation's work small).
MAX_INVOICE_LINES = 10_000
# Customers one ExpireDueCreditGrants call may name or exclude.
MAX_SWEEP_CUSTOMERS = 100_000

_NUL = "\x00"


def clip(value: str) -> str:
    """``value`` as an error may echo it: at most ``MAX_ECHO_LENGTH`` characters."""
    if len(value) <= MAX_ECHO_LENGTH:
        return value
    return value[: MAX_ECHO_LENGTH - 1] + "…"


def check_text(
    value: str,
    field: str,
    *,
    required: bool = False,
    max_length: int = MAX_ID_LENGTH,
    required_reason: str | None = None,
    too_long_reason: str = reasons.STRING_TOO_LONG,
) -> str:
    """``value`` if it fits: non-empty when ``required``, at most ``max_length``
    characters (``too_long_reason``), no NUL character (INVALID_CHARACTER), which
    PostgreSQL text cannot hold. InvalidArgument naming ``field`` otherwise."""
    if not value:
        if required:
            raise InvalidArgument.for_field(field, "is required", reason=required_reason)
        return value
    if len(value) > max_length:
        raise InvalidArgument.for_field(
            field, f"must be at most {max_length} characters (has {len(value)})", reason=too_long_reason
        )
    if _NUL in value:
        raise InvalidArgument.for_field(
            field, "must not contain the NUL character", reason=reasons.INVALID_CHARACTER
        )
    return value


def check_count(count: int, limit: int, field: str, what: str, *, reason: str | None = None) -> None:
    """At most ``limit`` ``what`` in ``field`` (InvalidArgument naming it)."""
    if count > limit:
        raise InvalidArgument.for_field(
            field, f"has {count} {what}; at most {limit:,} are allowed", reason=reason
        )


def check_currency(code: str, field: str) -> str:
    """``code`` if it is an ISO 4217 currency, else INVALID_CURRENCY naming ``field``."""
    if not is_currency(code):
        raise InvalidArgument.for_field(
            field,
            f"{clip(code)!r} is not an ISO 4217 currency code (upper case, e.g. USD)",
            reason=reasons.INVALID_CURRENCY,
        )
    return code
