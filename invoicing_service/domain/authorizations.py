"""Usage authorizations: permission to spend, asked before the usage happens (R-1..R-5).

An authorization moves AUTHORIZED → CAPTURING → CAPTURED, or AUTHORIZED → RELEASED, or
AUTHORIZED → EXPIRED (an expired one may still be captured: the usage happened). CAPTURING
is the saga's stored step between recording the meter event and ending the reservation;
the API shows it as AUTHORIZED, and the sweep completes it after a crash.

Amounts are rated like the invoice line the usage will join: the estimate priced on top of
the period's usage so far (tiers, transform_quantity), each side rounded as a line is, so
that the difference is what the invoice will add.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from drawdown import ids
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.money import Money
from invoicing_service.domain import reasons
from invoicing_service.domain.prices import Price, line_amount

DEFAULT_TTL = timedelta(minutes=10)
MAX_TTL = timedelta(hours=24)


class AuthorizationStatus(StrEnum):
    AUTHORIZED = "authorized"
    CAPTURING = "capturing"
    CAPTURED = "captured"
    RELEASED = "released"
    EXPIRED = "expired"


@dataclass(frozen=True, kw_only=True)
class UsageAuthorization:
    id: str
    customer_id: str
    test_clock_id: str | None
    price_id: str
    meter_id: str
    status: AuthorizationStatus
    authorized_quantity: Decimal | None
    authorized_amount: Money
    sources: tuple[tuple[str, Money], ...]
    spendable_after: Money
    request_fingerprint: str
    create_time: datetime
    expire_time: datetime
    captured_quantity: Decimal | None = None
    captured_amount: Money | None = None
    quantity_estimated: bool = False
    end_time: datetime | None = None

    @property
    def overage(self) -> Money:
        """What the capture rated beyond what was authorized (zero before a capture)."""
        if self.captured_amount is None:
            return Money.zero(self.authorized_amount.currency)
        return max(self.captured_amount - self.authorized_amount, Money.zero(self.authorized_amount.currency))

    @property
    def reserves(self) -> bool:
        """Whether credits hold a reservation for it (an estimate rating to zero has none)."""
        return self.authorized_amount.minor > 0


def authorization_id(customer_id: str, request_id: str) -> str:
    """The id of the authorization a request asks for: derived from its request id when it
    has one, so that a retry after a crash finds the reservation it already made (and
    reserves nothing twice); else new."""
    if not request_id:
        return ids.new_id(ids.USAGE_AUTHORIZATION)
    digest = hashlib.sha256(f"{customer_id}\x00{request_id}".encode()).digest()[:16]
    return f"{ids.USAGE_AUTHORIZATION}_{base64.b32encode(digest).decode().rstrip('=')}"


def validate_quantity(quantity: Decimal, field: str) -> Decimal:
    if not quantity.is_finite() or quantity < 0:
        raise InvalidArgument.for_field(
            field, "must be a number, not negative", reason=reasons.INVALID_QUANTITY
        )
    return quantity


def validate_ttl(ttl: timedelta | None, field: str) -> timedelta:
    if ttl is None:
        return DEFAULT_TTL
    if ttl <= timedelta(0) or ttl > MAX_TTL:
        raise InvalidArgument.for_field(
            field, "must be positive and at most 24 hours", reason=reasons.INVALID_TTL
        )
    return ttl


def rated_on_top(price: Price, usage_so_far: Decimal, quantity: Decimal) -> Money:
    """What ``quantity`` more adds to the line of the period's usage so far (R-1)."""
    return line_amount(price, usage_so_far + quantity) - line_amount(price, usage_so_far)


def begin_capture(
    authorization: UsageAuthorization, quantity: Decimal | None, amount: Money | None
) -> UsageAuthorization:
    """The capture's first step, or the authorization as it is when this capture (same
    quantity) already began or ended. ``amount`` is ``quantity`` rated (``rated_on_top``);
    None with ``quantity`` None: the authorized quantity and amount, flagged estimated."""
    estimated = quantity is None
    if estimated:
        if authorization.authorized_quantity is None:
            raise FailedPrecondition(
                f"usage authorization {authorization.id} was for an amount: capture it with a quantity",
                reason=reasons.QUANTITY_REQUIRED,
                metadata={"id": authorization.id},
            )
        quantity, amount = authorization.authorized_quantity, authorization.authorized_amount
    status = authorization.status
    if status is AuthorizationStatus.RELEASED:
        raise FailedPrecondition(
            f"usage authorization {authorization.id} was released",
            reason=reasons.AUTHORIZATION_RELEASED,
            metadata={"id": authorization.id},
        )
    if status in (AuthorizationStatus.CAPTURING, AuthorizationStatus.CAPTURED):
        if authorization.captured_quantity != quantity:
            raise FailedPrecondition(
                f"usage authorization {authorization.id} was captured with another quantity",
                reason=reasons.AUTHORIZATION_ALREADY_CAPTURED,
                metadata={"id": authorization.id, "captured_quantity": str(authorization.captured_quantity)},
            )
        return authorization
    assert amount is not None
    return replace(
        authorization,
        status=AuthorizationStatus.CAPTURING,
        captured_quantity=quantity,
        captured_amount=amount,
        quantity_estimated=estimated,
    )


def release(authorization: UsageAuthorization, now: datetime) -> UsageAuthorization:
    """R-4: released (idempotent; an expired one stays expired)."""
    if authorization.status in (AuthorizationStatus.CAPTURING, AuthorizationStatus.CAPTURED):
        raise FailedPrecondition(
            f"usage authorization {authorization.id} was captured",
            reason=reasons.AUTHORIZATION_ALREADY_CAPTURED,
            metadata={"id": authorization.id, "captured_quantity": str(authorization.captured_quantity)},
        )
    if authorization.status is AuthorizationStatus.AUTHORIZED:
        return replace(authorization, status=AuthorizationStatus.RELEASED, end_time=now)
    return authorization
