"""Credit grants: the value object, its validation, its lifecycle (C-1..C-4).

A grant is immutable once created except for ``expires_at`` and ``metadata``; its amount
never changes. Everything that happens to its money is a ledger posting (``ledger``):
expiring and voiding return the changed grant together with the debit to append.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum
from types import MappingProxyType

from credits_service.domain import reasons
from credits_service.domain.ledger import LedgerTotals, Posting, TransactionKind
from credits_service.domain.limits import (
    MAX_CUSTOMER_CREDIT_MINOR,
    MAX_GRANT_AMOUNT_MINOR,
    MAX_ID_LENGTH,
    check_currency,
    check_text,
)
from drawdown.clock import ensure_utc
from drawdown.errors import FailedPrecondition, InvalidArgument
from drawdown.money import Money

MAX_NAME_LENGTH = 100
MIN_PRIORITY = 0
MAX_PRIORITY = 100
DEFAULT_PRIORITY = 50
MAX_SCOPED_PRICES = 20
MAX_UNUSED_GRANTS_PER_CUSTOMER = 100
MAX_METADATA_KEYS = 50
MAX_METADATA_KEY_LENGTH = 40
MAX_METADATA_VALUE_LENGTH = 500
# Update-mask paths (proto field names of CreditGrant) that may change (C-3).
UPDATABLE_FIELDS = frozenset({"expire_time", "metadata"})
# Errors name the request's proto field paths, so that clients can point at the field.
GRANT_FIELD = "credit_grant"


# a rolled-over grant expires at most this long after the grant it continues.
MAX_ROLLOVER_EXPIRY = timedelta(days=3660)


@dataclass(frozen=True)
class Rollover:
    """R-8: at its expiry, the grant's unused balance, up to ``max_amount`` or
    ``max_percent`` of its amount, is granted again, expiring ``expire_after`` later."""

    expire_after: timedelta
    max_amount: Money | None = None
    max_percent: Decimal | None = None

    def carried(self, amount: Money, unused: Money) -> Money:
        """What of ``unused`` rolls over: within the cap, rounded down to a minor unit."""
        if self.max_amount is not None:
            return min(unused, self.max_amount)
        assert self.max_percent is not None
        cap = int((Decimal(amount.minor) * self.max_percent / 100).to_integral_value(rounding=ROUND_DOWN))
        return Money(unused.currency, min(unused.minor, cap))


class GrantCategory(StrEnum):
    """Why the customer has the credits (C-1); promotional ones are drawn first on a tie (C-11)."""

    PAID = "paid"
    PROMOTIONAL = "promotional"


# A grant is paid unless its request says otherwise (C-1).
DEFAULT_CATEGORY = GrantCategory.PAID


class GrantState(StrEnum):
    """Where a grant is in its life at a given moment (C-2)."""

    PENDING = "pending"
    AVAILABLE = "available"
    DEPLETED = "depleted"
    EXPIRED = "expired"
    VOIDED = "voided"


@dataclass(frozen=True)
class Applicability:
    """Which invoice lines a grant may pay (C-1): every metered price, or listed prices."""

    all_metered_prices: bool = False
    price_ids: tuple[str, ...] = ()

    @classmethod
    def every_metered_price(cls) -> Applicability:
        return cls(all_metered_prices=True)

    @classmethod
    def only_prices(cls, *price_ids: str) -> Applicability:
        return cls(price_ids=tuple(price_ids))

    def covers(self, price_id: str) -> bool:
        """Whether a metered line with this price is in scope (C-10)."""
        return self.all_metered_prices or price_id in self.price_ids


@dataclass(frozen=True, kw_only=True)
class CreditGrant:
    """A customer's grant of credits (C-1). Build new ones with ``validate_new_grant``."""

    id: str
    customer_id: str
    amount: Money
    name: str
    category: GrantCategory = DEFAULT_CATEGORY
    priority: int = DEFAULT_PRIORITY
    applicability: Applicability
    effective_at: datetime
    expires_at: datetime | None = None
    metadata: Mapping[str, str] = field(default_factory=dict, hash=False)
    voided_at: datetime | None = None
    created_at: datetime
    updated_at: datetime
    rollover: Rollover | None = None
    # the grant whose unused balance this one continues.
    rolled_over_from: str | None = None

    def __post_init__(self) -> None:
        # A read-only copy, so that a frozen grant cannot be changed through its metadata.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))


def validate_new_grant(
    *,
    grant_id: str,
    customer_id: str,
    currency: str,
    amount_minor: int,
    name: str,
    applicability: Applicability,
    category: GrantCategory = DEFAULT_CATEGORY,
    priority: int = DEFAULT_PRIORITY,
    effective_at: datetime | None = None,
    expires_at: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
    now: datetime,
    customer_now: datetime | None = None,
    rollover: Rollover | None = None,
) -> CreditGrant:
    """C-1: check a grant request and build the grant, created ``now`` and effective at
    ``customer_now`` (the customer's current time: its test clock's, I-18; default
    ``now``) unless told otherwise.

    Refuses with InvalidArgument naming the field: CUSTOMER_ID_REQUIRED; STRING_TOO_LONG
    (customer id over 255 characters); INVALID_CHARACTER (a NUL in any string);
    INVALID_CURRENCY (not ISO 4217); INVALID_AMOUNT (not > 0); AMOUNT_TOO_LARGE (over
    ``MAX_GRANT_AMOUNT_MINOR``, see ``limits``); NAME_TOO_LONG (over 100 characters);
    INVALID_PRIORITY (outside 0-100); INVALID_APPLICABILITY (neither or both of
    all-metered and a price list, more than 20 prices, blank, repeated or over-long ids);
    INVALID_EXPIRY (expires_at not after effective_at); INVALID_ROLLOVER (a rollover
    without an expiry, a cap in another currency or not positive, a percent outside
    (0, 100] or with more than 2 decimals, an expire_after not positive or over 10
    years); INVALID_ARGUMENT on metadata beyond its limits.
    """
    check_text(
        customer_id, f"{GRANT_FIELD}.customer_id", required=True, required_reason=reasons.CUSTOMER_ID_REQUIRED
    )
    check_currency(currency, f"{GRANT_FIELD}.amount.currency_code")
    validate_grant_amount(amount_minor)
    check_text(name, f"{GRANT_FIELD}.name", max_length=MAX_NAME_LENGTH, too_long_reason=reasons.NAME_TOO_LONG)
    if isinstance(priority, bool) or not MIN_PRIORITY <= priority <= MAX_PRIORITY:
        raise InvalidArgument.for_field(
            f"{GRANT_FIELD}.priority",
            f"must be between {MIN_PRIORITY} and {MAX_PRIORITY}",
            reason=reasons.INVALID_PRIORITY,
        )
    validate_applicability(applicability)
    validate_metadata(metadata or {})
    effective_at = ensure_utc(effective_at or customer_now or now)
    if expires_at is not None:
        expires_at = ensure_utc(expires_at)
        _validate_expiry(expires_at, effective_at)
    if rollover is not None:
        _validate_rollover(rollover, currency, expires_at)
    now = ensure_utc(now)
    return CreditGrant(
        id=grant_id,
        customer_id=customer_id,
        amount=Money(currency, amount_minor),
        name=name,
        category=category,
        priority=priority,
        applicability=applicability,
        effective_at=effective_at,
        expires_at=expires_at,
        metadata=metadata or {},
        created_at=now,
        updated_at=now,
        rollover=rollover,
    )


def _validate_rollover(rollover: Rollover, currency: str, expires_at: datetime | None) -> None:
    field = f"{GRANT_FIELD}.rollover"

    def refuse(path: str, description: str) -> InvalidArgument:
        return InvalidArgument.for_field(f"{field}{path}", description, reason=reasons.INVALID_ROLLOVER)

    if expires_at is None:
        raise refuse("", "needs the grant to expire (expire_time)")
    if not timedelta(0) < rollover.expire_after <= MAX_ROLLOVER_EXPIRY:
        raise refuse(".expire_after", "must be positive and at most 3660 days")
    if rollover.max_amount is not None:
        if rollover.max_amount.currency != currency:
            raise refuse(".max_amount.currency_code", f"must be the grant's currency, {currency}")
        if rollover.max_amount.minor <= 0:
            raise refuse(".max_amount", "must be positive")
    elif rollover.max_percent is not None:
        percent = rollover.max_percent
        if not (0 < percent <= 100) or percent != percent.quantize(Decimal("0.01")):
            raise refuse(".max_percent", "must be above 0 and at most 100, with at most 2 decimals")
    else:
        raise refuse("", "needs max_amount or max_percent")


def rolled_over(grant: CreditGrant, unused: Money, new_id: str, now: datetime) -> CreditGrant | None:
    """R-8: the grant that continues ``grant`` at its expiry with the part of ``unused``
    its rollover carries (None: nothing to carry). It starts when ``grant`` expires,
    expires ``expire_after`` later, keeps the scope, category, priority and name, carries
    no rollover of its own, and names the grant it continues."""
    if grant.rollover is None or grant.expires_at is None:
        return None
    carried = grant.rollover.carried(grant.amount, unused)
    if carried.minor <= 0:
        return None
    return CreditGrant(
        id=new_id,
        customer_id=grant.customer_id,
        amount=carried,
        name=grant.name,
        category=grant.category,
        priority=grant.priority,
        applicability=grant.applicability,
        effective_at=grant.expires_at,
        expires_at=grant.expires_at + grant.rollover.expire_after,
        metadata=dict(grant.metadata),
        created_at=now,
        updated_at=now,
        rolled_over_from=grant.id,
    )


def validate_grant_amount(amount_minor: int) -> None:
    """C-1, X-5: a grant's amount is a positive whole number of minor units (INVALID_AMOUNT)
    of at most ``MAX_GRANT_AMOUNT_MINOR`` (AMOUNT_TOO_LARGE), so that every balance and
    sum of the customer's credits fits 64 bits (``limits``)."""
    field = f"{GRANT_FIELD}.amount.units"
    if isinstance(amount_minor, bool) or amount_minor <= 0:
        raise InvalidArgument.for_field(
            field, "must be a positive whole number of minor units", reason=reasons.INVALID_AMOUNT
        )
    if amount_minor > MAX_GRANT_AMOUNT_MINOR:
        raise InvalidArgument.for_field(
            field,
            f"must be at most {MAX_GRANT_AMOUNT_MINOR:,} minor units",
            reason=reasons.AMOUNT_TOO_LARGE,
            metadata={"limit": str(MAX_GRANT_AMOUNT_MINOR)},
        )


def ensure_credit_total(live_total_minor: int, amount: Money) -> None:
    """X-5: the customer's grants in the amount's currency that can still hold credits
    (not voided, expiry not posted) may total at most ``MAX_CUSTOMER_CREDIT_MINOR``
    with the new one (FailedPrecondition GRANT_TOTAL_LIMIT_REACHED), so that balance
    summaries and allocations always fit 64 bits, reinstatements included (``limits``)."""
    if live_total_minor + amount.minor > MAX_CUSTOMER_CREDIT_MINOR:
        raise FailedPrecondition(
            f"the customer's {amount.currency} grants that can still hold credits would total "
            f"more than {MAX_CUSTOMER_CREDIT_MINOR:,} minor units",
            reason=reasons.GRANT_TOTAL_LIMIT_REACHED,
            metadata={"limit": str(MAX_CUSTOMER_CREDIT_MINOR), "currency": amount.currency},
        )


def validate_metadata(metadata: Mapping[str, str], field: str = f"{GRANT_FIELD}.metadata") -> None:
    """C-1: metadata is free-form but bounded: 50 keys, keys of 1-40 and values of at most
    500 characters, no NUL character (InvalidArgument on ``field``)."""
    if len(metadata) > MAX_METADATA_KEYS:
        raise InvalidArgument.for_field(field, f"has more than {MAX_METADATA_KEYS} keys")
    for key, value in metadata.items():
        if not 0 < len(key) <= MAX_METADATA_KEY_LENGTH:
            raise InvalidArgument.for_field(
                field, f"key {key[:50]!r} must be 1 to {MAX_METADATA_KEY_LENGTH} characters"
            )
        if len(value) > MAX_METADATA_VALUE_LENGTH:
            raise InvalidArgument.for_field(
                field, f"value of {key!r} exceeds {MAX_METADATA_VALUE_LENGTH} characters"
            )
        if "\x00" in key or "\x00" in value:
            raise InvalidArgument.for_field(
                field, "keys and values must not contain the NUL character", reason=reasons.INVALID_CHARACTER
            )


def validate_applicability(
    applicability: Applicability, field: str = f"{GRANT_FIELD}.applicability_config"
) -> None:
    """C-1: exactly one scope; a price list of 1-20 distinct, non-empty ids of at most 255
    characters without NUL (InvalidArgument INVALID_APPLICABILITY on ``field`` or its
    ``prices.price_ids``)."""
    if applicability.all_metered_prices == bool(applicability.price_ids):
        raise InvalidArgument.for_field(
            field,
            "must be exactly one of: all metered prices, or a list of price ids",
            reason=reasons.INVALID_APPLICABILITY,
        )
    price_ids = applicability.price_ids
    if len(price_ids) > MAX_SCOPED_PRICES:
        raise InvalidArgument.for_field(
            f"{field}.prices.price_ids",
            f"lists {len(price_ids)} prices; at most {MAX_SCOPED_PRICES} are allowed",
            reason=reasons.INVALID_APPLICABILITY,
        )
    if any(not price_id for price_id in price_ids) or len(set(price_ids)) != len(price_ids):
        raise InvalidArgument.for_field(
            f"{field}.prices.price_ids",
            "price ids must be non-empty and distinct",
            reason=reasons.INVALID_APPLICABILITY,
        )
    for position, price_id in enumerate(price_ids):
        if len(price_id) > MAX_ID_LENGTH or "\x00" in price_id:
            raise InvalidArgument.for_field(
                f"{field}.prices.price_ids[{position}]",
                f"must be at most {MAX_ID_LENGTH} characters, without NUL",
                reason=reasons.INVALID_APPLICABILITY,
            )


def _validate_expiry(expires_at: datetime, effective_at: datetime) -> None:
    if expires_at <= effective_at:
        raise InvalidArgument.for_field(
            f"{GRANT_FIELD}.expire_time", "must be after effective_time", reason=reasons.INVALID_EXPIRY
        )


def grant_state(grant: CreditGrant, ledger_balance: Money, as_of: datetime) -> GrantState:
    """C-2: the grant's state at ``as_of`` given its ledger balance.

    Voided once voided (voiding is recorded, never scheduled); expired from ``expires_at``
    on, even if depleted before, because expiry ends the grant for good; pending before
    ``effective_at``; depleted when nothing is left on the ledger; available otherwise.
    """
    if grant.voided_at is not None:
        return GrantState.VOIDED
    if grant.expires_at is not None and as_of >= grant.expires_at:
        return GrantState.EXPIRED
    if as_of < grant.effective_at:
        return GrantState.PENDING
    if ledger_balance.minor <= 0:
        return GrantState.DEPLETED
    return GrantState.AVAILABLE


def update_grant(
    grant: CreditGrant,
    update_mask: Iterable[str],
    *,
    ledger_balance: Money,
    expires_at: datetime | None = None,
    metadata: Mapping[str, str] | None = None,
    as_of: datetime,
) -> CreditGrant:
    """C-3: change only ``expires_at`` (``None`` clears it) and ``metadata`` (replaced whole).

    Only the fields named in ``update_mask`` change. Any other field is InvalidArgument
    IMMUTABLE_FIELD naming it; an ``expires_at`` not after ``effective_at`` is INVALID_EXPIRY.
    The expiry of a voided or expired grant is final (FailedPrecondition GRANT_VOIDED or
    GRANT_EXPIRED): moving it would revive credits already written off. Metadata stays
    editable in every state, since it only annotates.
    """
    paths = set(update_mask)
    immutable = sorted(paths - UPDATABLE_FIELDS)
    if immutable:
        raise InvalidArgument.for_field(
            f"{GRANT_FIELD}.{immutable[0]}",
            "cannot be changed after creation",
            reason=reasons.IMMUTABLE_FIELD,
        )
    changes: dict[str, object] = {}
    if "expire_time" in paths:
        if expires_at is not None:
            expires_at = ensure_utc(expires_at)
            _validate_expiry(expires_at, grant.effective_at)
        _ensure_not_ended(grant, ledger_balance, as_of)
        changes["expires_at"] = expires_at
    if "metadata" in paths:
        validate_metadata(metadata or {})
        changes["metadata"] = metadata or {}
    if not changes:
        return grant
    return dataclasses.replace(grant, **changes, updated_at=as_of)


def expire_grant(
    grant: CreditGrant, ledger_balance: Money, as_of: datetime
) -> tuple[CreditGrant, Posting | None]:
    """C-3: end the grant now; its remaining ledger balance goes in a credits_expired debit.

    Returns the grant with ``expires_at = as_of`` and the debit (``None`` when nothing is
    left). A voided or expired grant is FailedPrecondition GRANT_VOIDED or GRANT_EXPIRED. A
    pending grant may be expired too (the contract says so): its ``expires_at`` then lies
    before its ``effective_at``, and since expiry takes precedence over pending (C-2) it
    never becomes usable.
    """
    _ensure_not_ended(grant, ledger_balance, as_of)
    expired = dataclasses.replace(grant, expires_at=as_of, updated_at=as_of)
    return expired, _expiry_debit(grant, ledger_balance, effective_at=as_of)


def due_expiry(grant: CreditGrant, ledger_balance: Money, as_of: datetime) -> Posting | None:
    """C-3, C-20: the credits_expired debit an expiry sweep must post at ``as_of``, if any.

    Due when the grant reached ``expires_at`` and still has a ledger balance: the whole
    remaining balance expires, dated at ``expires_at``. Once posted the ledger is at zero,
    so a repeated sweep finds nothing due. Voided grants have nothing left to expire.
    """
    if grant_state(grant, ledger_balance, as_of) is not GrantState.EXPIRED:
        return None
    assert grant.expires_at is not None
    return _expiry_debit(grant, ledger_balance, effective_at=grant.expires_at)


def _expiry_debit(grant: CreditGrant, ledger_balance: Money, *, effective_at: datetime) -> Posting | None:
    if ledger_balance.minor <= 0:
        return None
    return Posting(
        grant_id=grant.id,
        kind=TransactionKind.CREDITS_EXPIRED,
        amount=ledger_balance,
        effective_at=effective_at,
    )


def void_grant(grant: CreditGrant, totals: LedgerTotals, as_of: datetime) -> tuple[CreditGrant, Posting]:
    """C-3: void a grant none of whose credits was ever applied; debit its whole amount.

    Returns the grant with ``voided_at = as_of`` and the credits_voided debit. Refused with
    FailedPrecondition: GRANT_VOIDED or GRANT_EXPIRED when the grant has already ended;
    GRANT_ALREADY_APPLIED when any credit was ever applied, even if later reinstated, since
    an invoice once relied on it.
    """
    _ensure_not_ended(grant, totals.ledger_balance, as_of)
    if totals.applied.minor > 0:
        raise FailedPrecondition(
            f"credits of grant {grant.id} were applied to an invoice; it can no longer be voided",
            reason=reasons.GRANT_ALREADY_APPLIED,
            metadata={"grant_id": grant.id},
        )
    voided = dataclasses.replace(grant, voided_at=as_of, updated_at=as_of)
    # Never applied and not expired, so the ledger still holds exactly the granted amount.
    debit = Posting(
        grant_id=grant.id, kind=TransactionKind.CREDITS_VOIDED, amount=grant.amount, effective_at=as_of
    )
    return voided, debit


def _ensure_not_ended(grant: CreditGrant, ledger_balance: Money, as_of: datetime) -> None:
    state = grant_state(grant, ledger_balance, as_of)
    if state is GrantState.VOIDED:
        raise FailedPrecondition(
            f"grant {grant.id} is voided", reason=reasons.GRANT_VOIDED, metadata={"grant_id": grant.id}
        )
    if state is GrantState.EXPIRED:
        raise FailedPrecondition(
            f"grant {grant.id} has expired", reason=reasons.GRANT_EXPIRED, metadata={"grant_id": grant.id}
        )


def is_unused(grant: CreditGrant, ledger_balance: Money, as_of: datetime) -> bool:
    """C-4: a grant counts against the limit while it is pending or available.

    That is: not voided, not expired, and either pending or with a positive ledger balance.
    The reference for ``GrantRepository.count_unused``, which counts in SQL what the limit
    checks; the store's property test holds the two equal.
    """
    return grant_state(grant, ledger_balance, as_of) in (GrantState.PENDING, GrantState.AVAILABLE)


def ensure_grant_limit(unused_grants: int) -> None:
    """C-4: a customer with 100 unused grants gets no more (FailedPrecondition GRANT_LIMIT_REACHED).

    ``unused_grants`` counts the customer's grants for which ``is_unused`` holds, before
    the new one.
    """
    if unused_grants >= MAX_UNUSED_GRANTS_PER_CUSTOMER:
        raise FailedPrecondition(
            f"the customer already has {unused_grants} unused credit grants; "
            f"at most {MAX_UNUSED_GRANTS_PER_CUSTOMER} are allowed",
            reason=reasons.GRANT_LIMIT_REACHED,
            metadata={"limit": str(MAX_UNUSED_GRANTS_PER_CUSTOMER)},
        )
