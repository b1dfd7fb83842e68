"""The credit ledger: transaction kinds, postings, and the balances derived from them.

A grant's ledger is append-only. Every movement is a ``Posting`` of a positive amount whose
kind says whether it adds to the grant (a credit) or takes from it (a debit); balances are
never stored as truth, only derived here (C-20, C-22, C-23).

This module knows nothing about grants beyond their times, so that ``grants`` and
``drawdown`` can build on it without a cycle.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from drawdown.money import Money


class Direction(StrEnum):
    """Whether a transaction adds to a grant's balance or takes from it (C-22)."""

    CREDIT = "credit"
    DEBIT = "debit"


class TransactionKind(StrEnum):
    """What a ledger transaction records (C-22); its ``direction`` fixes the sign."""

    CREDITS_GRANTED = "credits_granted"
    CREDITS_APPLICATION_INVOICE_VOIDED = "credits_application_invoice_voided"
    CREDITS_APPLIED = "credits_applied"
    CREDITS_EXPIRED = "credits_expired"
    CREDITS_VOIDED = "credits_voided"

    @property
    def direction(self) -> Direction:
        return _DIRECTIONS[self]

    @property
    def sign(self) -> int:
        """+1 for a credit, -1 for a debit: a posting's effect on the ledger balance."""
        return 1 if self.direction is Direction.CREDIT else -1


_DIRECTIONS = {
    TransactionKind.CREDITS_GRANTED: Direction.CREDIT,
    TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED: Direction.CREDIT,
    TransactionKind.CREDITS_APPLIED: Direction.DEBIT,
    TransactionKind.CREDITS_EXPIRED: Direction.DEBIT,
    TransactionKind.CREDITS_VOIDED: Direction.DEBIT,
}


@dataclass(frozen=True, kw_only=True)
class Posting:
    """One entry of a grant's ledger, before the store gives it a transaction id (C-22).

    ``amount`` is the magnitude and always positive; the kind carries the sign. Invoice
    and line ids are set for applications and reinstatements.
    """

    grant_id: str
    kind: TransactionKind
    amount: Money
    effective_at: datetime
    invoice_id: str | None = None
    invoice_line_id: str | None = None
    # a rollover's credits_expired debit and the credits_granted it became name each other.
    linked_transaction_id: str | None = None

    def __post_init__(self) -> None:
        # A zero or negative posting would be a bug upstream, never a customer's mistake.
        if self.amount.minor <= 0:
            raise ValueError(f"a posting amount must be positive, got {self.amount}")

    @property
    def signed_amount(self) -> Money:
        return Money(self.amount.currency, self.kind.sign * self.amount.minor)


def ledger_balance(currency: str, postings: Iterable[Posting]) -> Money:
    """C-20: a grant's ledger balance is the signed sum of its posted transactions."""
    balance = Money.zero(currency)
    for posting in postings:
        balance += posting.signed_amount
    return balance


def available_balance(
    *,
    ledger: Money,
    held: Money,
    effective_at: datetime,
    expires_at: datetime | None,
    as_of: datetime,
) -> Money:
    """C-20: what a grant can still pay at ``as_of``.

    Zero while the grant is pending (``as_of`` before ``effective_at``) and once it has
    expired (``as_of`` at or after ``expires_at``): an expiry not yet posted takes the whole
    remaining ledger balance, one already posted has left the ledger at zero. Otherwise the
    ledger balance minus the draft holds (``held``, summed over active holds).

    Never negative: holds on a grant that has since expired or been voided are stale until
    their draft is finalized or released, and must not push the balance below zero.
    A voided grant needs no case of its own: its void debit leaves the ledger at zero.
    """
    if as_of < effective_at or (expires_at is not None and as_of >= expires_at):
        return Money.zero(ledger.currency)
    return Money(ledger.currency, max(0, (ledger - held).minor))


@dataclass(frozen=True)
class LedgerTotals:
    """A grant's postings summed per kind; the ledger balance follows from them (C-23)."""

    granted: Money
    applied: Money
    reinstated: Money
    expired: Money
    voided: Money

    @classmethod
    def of(cls, currency: str, postings: Iterable[Posting]) -> LedgerTotals:
        sums = dict.fromkeys(TransactionKind, 0)
        for posting in postings:
            if posting.amount.currency != currency:
                raise ValueError(f"posting in {posting.amount.currency} on a {currency} ledger")
            sums[posting.kind] += posting.amount.minor
        return cls(
            granted=Money(currency, sums[TransactionKind.CREDITS_GRANTED]),
            applied=Money(currency, sums[TransactionKind.CREDITS_APPLIED]),
            reinstated=Money(currency, sums[TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED]),
            expired=Money(currency, sums[TransactionKind.CREDITS_EXPIRED]),
            voided=Money(currency, sums[TransactionKind.CREDITS_VOIDED]),
        )

    @property
    def ledger_balance(self) -> Money:
        return self.granted - self.applied + self.reinstated - self.expired - self.voided


@dataclass(frozen=True)
class InvariantViolation:
    """One way a grant's ledger breaks C-23: a stable code and a readable detail."""

    code: str
    detail: str


def check_invariant(granted: Money, postings: Sequence[Posting]) -> tuple[InvariantViolation, ...]:
    """C-23: granted = ledger + applied - reinstated + expired + voided, nothing negative.

    ``granted`` is the grant's amount and ``postings`` its ledger in append order. Checks
    that exactly that amount was granted, that every posting is in the grant's currency,
    that no more was reinstated than applied, and that the running ledger balance never
    dips below zero. Returns the violations found (empty when the ledger is sound) rather
    than raising, so a test or an audit can report them all at once.
    """
    violations: list[InvariantViolation] = []
    foreign = [p for p in postings if p.amount.currency != granted.currency]
    if foreign:
        violations.append(
            InvariantViolation("CURRENCY_MISMATCH", f"{len(foreign)} posting(s) not in {granted.currency}")
        )
        return tuple(violations)

    totals = LedgerTotals.of(granted.currency, postings)
    if totals.granted != granted:
        violations.append(
            InvariantViolation(
                "GRANTED_MISMATCH", f"credits_granted sum to {totals.granted}, grant is {granted}"
            )
        )
    if totals.reinstated.minor > totals.applied.minor:
        violations.append(
            InvariantViolation(
                "REINSTATED_EXCEEDS_APPLIED",
                f"reinstated {totals.reinstated} but applied only {totals.applied}",
            )
        )
    running = Money.zero(granted.currency)
    for position, posting in enumerate(postings):
        running += posting.signed_amount
        if running.is_negative():
            violations.append(
                InvariantViolation(
                    "NEGATIVE_BALANCE", f"ledger balance {running} after posting #{position} ({posting.kind})"
                )
            )
            break
    return tuple(violations)
