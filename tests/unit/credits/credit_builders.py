"""Builders for credits domain tests: a grant, a line, an invoice, with sensible defaults.

Times revolve around one billing period, January 2025; the invoice is read an hour after
the period ends (the grace period).
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

from credits_service.domain.drawdown import GrantBalance, Invoice, InvoiceLine
from credits_service.domain.grants import Applicability, CreditGrant
from credits_service.domain.ledger import Posting, TransactionKind
from drawdown.money import Money

CUSTOMER = "cus_jenny"
PERIOD_START = datetime(2025, 1, 1, tzinfo=UTC)
PERIOD_END = datetime(2025, 2, 1, tzinfo=UTC)
AS_OF = PERIOD_END + timedelta(hours=1)
INPUT_TOKENS = "price_input_tokens"
OUTPUT_TOKENS = "price_output_tokens"


def usd(minor: int) -> Money:
    return Money("USD", minor)


def grant(grant_id: str = "cg_1", amount: Money | None = None, **changes: object) -> CreditGrant:
    """A 10 USD paid grant for every metered price, effective at the period start."""
    base = CreditGrant(
        id=grant_id,
        customer_id=CUSTOMER,
        amount=amount or usd(1000),
        name="Prepaid credits",
        applicability=Applicability.every_metered_price(),
        effective_at=PERIOD_START,
        created_at=PERIOD_START,
        updated_at=PERIOD_START,
    )
    return dataclasses.replace(base, **changes)


def balance(credit_grant: CreditGrant, available: int | None = None) -> GrantBalance:
    """The grant with ``available`` minor units left (default: its whole amount)."""
    minor = credit_grant.amount.minor if available is None else available
    return GrantBalance(credit_grant, Money(credit_grant.amount.currency, minor))


def line(line_id: str, amount: int, price_id: str = INPUT_TOKENS, *, metered: bool = True) -> InvoiceLine:
    return InvoiceLine(
        line_id=line_id, price_id=price_id, amount=usd(amount), is_metered_subscription_line=metered
    )


def invoice(*lines: InvoiceLine, **changes: object) -> Invoice:
    base = Invoice(
        id="in_1",
        customer_id=CUSTOMER,
        currency="USD",
        period_end=PERIOD_END,
        as_of=AS_OF,
        lines=tuple(lines),
    )
    return dataclasses.replace(base, **changes)


def granted(credit_grant: CreditGrant) -> Posting:
    """The credits_granted posting recorded when the grant is created."""
    return Posting(
        grant_id=credit_grant.id,
        kind=TransactionKind.CREDITS_GRANTED,
        amount=credit_grant.amount,
        effective_at=credit_grant.effective_at,
    )
