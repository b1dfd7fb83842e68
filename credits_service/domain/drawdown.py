"""The draw-down engine: which grant pays how much of which invoice line (C-10..C-15).

Pure and deterministic: the same invoice and the same grant balances give the same
allocation, whatever order the grants arrive in. Holds, postings and idempotency belong
to the service; this module only computes.

The algorithm
-------------
1. Sort the grants by the C-11 key (``grant_order_key``): priority ascending, expires_at
   ascending with no expiry last, promotional before paid, effective_at ascending,
   created_at ascending, id. Ids are unique, so the order is total.
2. For each line in invoice order, with ``line_left`` = the line amount (after discounts,
   before tax): for each grant in C-11 order that may pay this line (``is_eligible``,
   C-10) and still has ``grant_left`` > 0, draw ``min(line_left, grant_left)`` and
   subtract it from both. Stop the line when ``line_left`` reaches zero. Lines of zero or
   negative amount get nothing.

Why this is "a grant pays lines in the invoice's line order" (C-12). Number the lines i
and the grants j in C-11 order. The amount of cell (i, j) is::

    x[i][j] = min(line[i] - sum(x[i][j'] for j' < j), grant[j] - sum(x[i'][j] for i' < i))

for an eligible cell and 0 otherwise: what the line still needs after the grants before
j, capped by what the grant still has after the lines before i. Visiting lines then
grants (as above) and visiting grants then lines ("each grant pays its lines in line
order") both evaluate every cell after exactly the cells that recurrence reads, so they
produce the same x. The unit tests check this against a grant-by-grant reference.

No line is credited beyond its amount, so never below zero (C-12), and no grant beyond
its available balance (C-20). Amounts are whole minor units; nothing is rounded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from credits_service.domain.grants import CreditGrant, GrantCategory, GrantState
from credits_service.domain.ledger import Posting, TransactionKind
from drawdown.money import Money

# Sorts after every real expiry, so that grants without one are drawn last (C-11).
_NEVER = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True, kw_only=True)
class InvoiceLine:
    """A line as credits see it: its amount after discounts and before tax (C-12)."""

    line_id: str
    price_id: str
    amount: Money
    is_metered_subscription_line: bool


@dataclass(frozen=True, kw_only=True)
class Invoice:
    """The invoice to draw credits for; ``as_of`` is when the balances are judged. A
    request without it means the customer's current time (its test clock's, I-18), which
    only the service knows: it fills it in (``judged_at``) before anything is allocated."""

    id: str
    customer_id: str
    currency: str
    period_end: datetime
    as_of: datetime | None
    lines: tuple[InvoiceLine, ...]

    def judged_at(self, customer_now: datetime) -> Invoice:
        """The invoice with ``as_of`` set: its own, else ``customer_now``."""
        return self if self.as_of is not None else dataclasses.replace(self, as_of=customer_now)


@dataclass(frozen=True)
class GrantBalance:
    """A grant with its available balance at the invoice's ``as_of`` (C-20)."""

    grant: CreditGrant
    available: Money


@dataclass(frozen=True)
class CreditApplication:
    """One grant paying part of one line: a credits_applied debit once posted (C-13)."""

    line_id: str
    grant_id: str
    amount: Money


@dataclass(frozen=True)
class Allocation:
    """The credits an invoice draws, in the order they were drawn.

    At most one application per (line, grant). ``per_grant`` is what a draft holds;
    ``to_postings`` is what finalization posts (C-13).
    """

    invoice_id: str
    currency: str
    applications: tuple[CreditApplication, ...]

    @property
    def total(self) -> Money:
        return Money(self.currency, sum(application.amount.minor for application in self.applications))

    @property
    def per_line(self) -> dict[str, Money]:
        """Credits per line, for the lines that received any, in invoice order."""
        return self._sum_by(lambda application: application.line_id)

    @property
    def per_grant(self) -> dict[str, Money]:
        """Credits per grant, for the grants that paid any, in C-11 order."""
        return self._sum_by(lambda application: application.grant_id)

    def credited_to_line(self, line_id: str) -> Money:
        return self.per_line.get(line_id, Money.zero(self.currency))

    def to_postings(self, effective_at: datetime) -> tuple[Posting, ...]:
        """C-13: one credits_applied debit per grant per line, naming invoice and line."""
        return tuple(
            Posting(
                grant_id=application.grant_id,
                kind=TransactionKind.CREDITS_APPLIED,
                amount=application.amount,
                effective_at=effective_at,
                invoice_id=self.invoice_id,
                invoice_line_id=application.line_id,
            )
            for application in self.applications
        )

    def _sum_by(self, key: Callable[[CreditApplication], str]) -> dict[str, Money]:
        sums: dict[str, Money] = {}
        for application in self.applications:
            sums[key(application)] = (
                sums.get(key(application), Money.zero(self.currency)) + application.amount
            )
        return sums


def grant_order_key(grant: CreditGrant) -> tuple:
    """C-11: priority ascending; expires_at ascending, no expiry last; promotional before
    paid; effective_at ascending; created_at ascending; id."""
    return (
        grant.priority,
        grant.expires_at is None,
        grant.expires_at or _NEVER,
        grant.category is not GrantCategory.PROMOTIONAL,
        grant.effective_at,
        grant.created_at,
        grant.id,
    )


def is_eligible(balance: GrantBalance, invoice: Invoice, line: InvoiceLine) -> bool:
    """C-10: whether the grant may pay this line of this invoice.

    The invoice period ends at or after the grant's effective_at and before its
    expires_at (if any); same currency; the line is a metered subscription line whose
    price is in the grant's scope; the grant has available balance and is not voided.

    The grant must also be live at ``as_of`` (effective, unexpired): C-20 makes its
    available balance zero otherwise, and checking here means a stale balance cannot
    draw from a grant that has ended since it was read.
    """
    grant = balance.grant
    expires_at = grant.expires_at
    as_of = invoice.as_of
    if as_of is None:
        raise ValueError(f"invoice {invoice.id} has no as_of; set it with judged_at first")
    # No expiry is compared as "never", not as a latest moment: an as_of at the end of
    # time (9999-12-31T23:59:59.999999) is still before it.
    return (
        grant.voided_at is None
        and grant.effective_at <= invoice.period_end
        and (expires_at is None or invoice.period_end < expires_at)
        and grant.effective_at <= as_of
        and (expires_at is None or as_of < expires_at)
        and grant.amount.currency == invoice.currency
        and balance.available.minor > 0
        and line.is_metered_subscription_line
        and grant.applicability.covers(line.price_id)
    )


def allocate_credits(invoice: Invoice, balances: Iterable[GrantBalance]) -> Allocation:
    """C-10..C-12: draw the customer's credits for the invoice; see the module docstring.

    ``balances`` are the customer's grants (any currency) with their available balances at
    ``invoice.as_of``. Inconsistent input (another customer's grant, a line in another
    currency, repeated ids) is a caller bug and raises ValueError.
    """
    ordered = sorted(balances, key=lambda balance: grant_order_key(balance.grant))
    _check_input(invoice, ordered)
    grant_left = {balance.grant.id: balance.available.minor for balance in ordered}
    applications: list[CreditApplication] = []
    for line in invoice.lines:
        line_left = line.amount.minor
        for balance in ordered:
            if line_left <= 0:
                break
            grant_id = balance.grant.id
            if grant_left[grant_id] <= 0 or not is_eligible(balance, invoice, line):
                continue
            drawn = min(line_left, grant_left[grant_id])
            applications.append(CreditApplication(line.line_id, grant_id, Money(invoice.currency, drawn)))
            line_left -= drawn
            grant_left[grant_id] -= drawn
    return Allocation(invoice_id=invoice.id, currency=invoice.currency, applications=tuple(applications))


def _check_input(invoice: Invoice, balances: list[GrantBalance]) -> None:
    if invoice.as_of is None:
        raise ValueError(f"invoice {invoice.id} has no as_of; set it with judged_at first")
    line_ids = [line.line_id for line in invoice.lines]
    if len(set(line_ids)) != len(line_ids):
        raise ValueError(f"invoice {invoice.id} repeats a line id")
    for line in invoice.lines:
        if line.amount.currency != invoice.currency:
            raise ValueError(
                f"line {line.line_id} is in {line.amount.currency}, invoice in {invoice.currency}"
            )
    grant_ids = [balance.grant.id for balance in balances]
    if len(set(grant_ids)) != len(grant_ids):
        raise ValueError("a grant appears twice among the balances")
    for balance in balances:
        grant = balance.grant
        if grant.customer_id != invoice.customer_id:
            raise ValueError(f"grant {grant.id} belongs to another customer than invoice {invoice.id}")
        if balance.available.currency != grant.amount.currency:
            raise ValueError(f"grant {grant.id} has a balance in another currency than its amount")


def plan_reinstatement(
    invoice_id: str,
    invoice_postings: Iterable[Posting],
    grant_states: Mapping[str, GrantState],
    as_of: datetime,
) -> tuple[Posting, ...]:
    """C-15: the postings that give back a voided invoice's credits, at ``as_of``.

    ``invoice_postings`` are all postings naming the invoice; ``grant_states`` the state
    at ``as_of`` of every grant they touch. Each grant gets one
    credits_application_invoice_voided credit of what the invoice drew from it and has
    not had back; a grant that has expired meanwhile also gets a credits_expired debit of
    the same amount at once. What was reinstated already is not reinstated again, so a
    retried void plans nothing (C-14).
    """
    outstanding: dict[str, Money] = {}
    for posting in invoice_postings:
        if posting.invoice_id != invoice_id:
            raise ValueError(f"posting for invoice {posting.invoice_id} given for invoice {invoice_id}")
        owed = outstanding.get(posting.grant_id, Money.zero(posting.amount.currency))
        if posting.kind is TransactionKind.CREDITS_APPLIED:
            outstanding[posting.grant_id] = owed + posting.amount
        elif posting.kind is TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED:
            outstanding[posting.grant_id] = owed - posting.amount

    plan: list[Posting] = []
    for grant_id, amount in outstanding.items():
        if amount.is_negative():
            raise ValueError(f"invoice {invoice_id} reinstated more than it drew from grant {grant_id}")
        if amount.is_zero():
            continue
        state = grant_states[grant_id]
        if state is GrantState.VOIDED:
            raise ValueError(f"grant {grant_id} is voided though invoice {invoice_id} drew from it (C-3)")
        reinstated = TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED
        plan.append(_invoice_posting(grant_id, reinstated, amount, invoice_id, as_of))
        if state is GrantState.EXPIRED:
            plan.append(
                _invoice_posting(grant_id, TransactionKind.CREDITS_EXPIRED, amount, invoice_id, as_of)
            )
    return tuple(plan)


def _invoice_posting(
    grant_id: str, kind: TransactionKind, amount: Money, invoice_id: str, effective_at: datetime
) -> Posting:
    return Posting(
        grant_id=grant_id, kind=kind, amount=amount, effective_at=effective_at, invoice_id=invoice_id
    )


def in_grant_order(allocation: Allocation, grants: Iterable[CreditGrant], invoice: Invoice) -> Allocation:
    """The same allocation listed grant by grant in C-11 order, each grant's lines in
    invoice order (C-12): the order in which an allocation is reported and posted."""
    rank = {grant.id: position for position, grant in enumerate(sorted(grants, key=grant_order_key))}
    line_rank = {line.line_id: position for position, line in enumerate(invoice.lines)}
    ordered = sorted(allocation.applications, key=lambda a: (rank[a.grant_id], line_rank[a.line_id]))
    return Allocation(
        invoice_id=allocation.invoice_id, currency=allocation.currency, applications=tuple(ordered)
    )
