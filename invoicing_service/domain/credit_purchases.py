"""Credit purchases: a one-off invoice that, once paid, becomes a paid credit grant (I-15).

The purchase is checked against the grant rules (C-1) before the customer is invoiced,
because a grant refused after the customer has paid would leave money without credits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from drawdown.clock import ensure_utc
from drawdown.errors import InvalidArgument
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.customers import MAX_METADATA_KEYS, validate_metadata
from invoicing_service.domain.invoices import InvoiceLine, LineKind
from invoicing_service.domain.periods import Period
from invoicing_service.domain.prices import MAX_LINE_AMOUNT

# Grant rules from C-1, mirrored so that a paid purchase never fails to become a grant.
MAX_NAME_LENGTH = 100
MAX_APPLICABLE_PRICES = 20
MIN_PRIORITY, MAX_PRIORITY = 0, 100
DEFAULT_PRIORITY = 50
DEFAULT_NAME = "Purchased credits"
# The key the paid grant's metadata always holds: the purchase invoice's id.
INVOICE_ID_KEY = "invoice_id"


@dataclass(frozen=True)
class CreditPurchase:
    """Credits a customer buys. No ``applicable_price_ids`` means all metered prices (C-1);
    ``expires_at`` is when the grant's remaining balance expires (None: never); the grant
    also carries ``metadata``."""

    customer_id: str
    amount: Money
    name: str = DEFAULT_NAME
    priority: int = DEFAULT_PRIORITY
    applicable_price_ids: tuple[str, ...] = ()
    expires_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class CreditGrantRequest:
    """The paid grant a paid purchase creates. ``request_id`` is the invoice id, so that
    however often it is sent, the credits service creates the grant once (C-5, X-1)."""

    request_id: str
    customer_id: str
    amount: Money
    name: str
    priority: int
    applicable_price_ids: tuple[str, ...]
    effective_at: datetime
    expires_at: datetime | None
    metadata: Mapping[str, str]
    category: str = field(default="paid", init=False)


def validate_credit_purchase(purchase: CreditPurchase) -> CreditPurchase:
    """Check a purchase before invoicing it (I-15, with the grant rules of C-1).

    Amount > 0 and at most ``MAX_LINE_AMOUNT`` minor units, the most one invoice line bills
    (INVALID_AMOUNT); name 1..100 characters (INVALID_NAME); priority 0..100
    (INVALID_PRIORITY); at most 20 distinct price ids (INVALID_APPLICABILITY). The expiry
    is checked against the customer's now (``check_expiry``).
    """
    if purchase.amount.minor <= 0:
        raise InvalidArgument.for_field("amount", "must be greater than zero", reason=reasons.INVALID_AMOUNT)
    if purchase.amount.minor > MAX_LINE_AMOUNT:
        raise InvalidArgument.for_field(
            "amount", f"must be at most {MAX_LINE_AMOUNT:,} minor units", reason=reasons.INVALID_AMOUNT
        )
    if not purchase.name or len(purchase.name) > MAX_NAME_LENGTH:
        raise InvalidArgument.for_field(
            "name", f"must be 1 to {MAX_NAME_LENGTH} characters", reason=reasons.INVALID_NAME
        )
    if not MIN_PRIORITY <= purchase.priority <= MAX_PRIORITY:
        raise InvalidArgument.for_field(
            "priority", f"must be between {MIN_PRIORITY} and {MAX_PRIORITY}", reason=reasons.INVALID_PRIORITY
        )
    if len(purchase.applicable_price_ids) > MAX_APPLICABLE_PRICES:
        raise InvalidArgument.for_field(
            "applicable_price_ids",
            f"at most {MAX_APPLICABLE_PRICES} prices",
            reason=reasons.INVALID_APPLICABILITY,
        )
    if len(set(purchase.applicable_price_ids)) != len(purchase.applicable_price_ids):
        raise InvalidArgument.for_field(
            "applicable_price_ids", "lists a price more than once", reason=reasons.INVALID_APPLICABILITY
        )
    return purchase


def check_expiry(expires_at: datetime | None, now: datetime) -> None:
    """A purchase's expiry comes after ``now``, the customer's now (on its test clock if it
    lives on one): else INVALID_EXPIRY, since the credits would expire before they exist."""
    if expires_at is not None and expires_at <= now:
        raise InvalidArgument.for_field("expire_time", "must be in the future", reason=reasons.INVALID_EXPIRY)


def validate_purchase_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """The grant's metadata to be: the purchase's plus ``invoice_id``, which must still fit
    the 50 keys of C-1 (else a paid purchase could not become its grant)."""
    checked = validate_metadata(metadata, "metadata")
    if len(checked.keys() | {INVOICE_ID_KEY}) > MAX_METADATA_KEYS:
        raise InvalidArgument.for_field(
            "metadata",
            f"has more than {MAX_METADATA_KEYS - 1} keys besides {INVOICE_ID_KEY!r}, which the grant adds",
        )
    return checked


def purchase_line(purchase: CreditPurchase, *, line_id: str, at: datetime) -> InvoiceLine:
    """The single line of a credit purchase invoice: the amount bought, once, at ``at``
    (I-15). It is not a metered line, so credits never pay for credits (C-10)."""
    return InvoiceLine(
        id=line_id,
        kind=LineKind.CREDIT_PURCHASE,
        period=Period(at, at),
        quantity=Decimal(1),
        unit_amount_decimal=Decimal(purchase.amount.minor),
        amount=purchase.amount,
    )


def grant_request(purchase: CreditPurchase, *, invoice_id: str, paid_at: datetime) -> CreditGrantRequest:
    """The paid credit grant a paid purchase invoice creates, effective when paid (I-15).

    The request id is the invoice id, so retries create the grant exactly once; the
    grant's metadata is the purchase's with the invoice's id (``INVOICE_ID_KEY``).
    """
    return CreditGrantRequest(
        request_id=invoice_id,
        customer_id=purchase.customer_id,
        amount=purchase.amount,
        name=purchase.name,
        priority=purchase.priority,
        applicable_price_ids=purchase.applicable_price_ids,
        effective_at=ensure_utc(paid_at),
        expires_at=purchase.expires_at,
        metadata={**purchase.metadata, INVOICE_ID_KEY: invoice_id},
    )
