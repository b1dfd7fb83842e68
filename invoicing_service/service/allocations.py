"""Credits on invoices: what the credits service is told of an invoice, and an
allocation it answers put on the invoice's lines and totals (C-10..C-14, I-13)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from drawdown.money import Money
from invoicing_service.adapters.credits import CreditForLine, InvoiceForCredits
from invoicing_service.domain.invoices import CreditApplication, InvoiceLine, LineKind, invoice_totals
from invoicing_service.store.records import CreditApplicationRecord, InvoiceRecord, LineCredit


def apply_request_id(invoice_id: str) -> str:
    """The request id of an invoice's credit application: derived from the invoice id, so
    every retry of the finalization is the same request to credits (C-14, X-1)."""
    return f"apply:{invoice_id}"


def has_metered_lines(invoice: InvoiceRecord) -> bool:
    """Only metered lines take credits (C-10): other invoices never touch credits."""
    return any(stored.line.kind is LineKind.METERED for stored in invoice.lines)


def with_credits(invoice: InvoiceRecord, allocation: Sequence[CreditForLine], now: datetime) -> InvoiceRecord:
    """The invoice with ``allocation`` on its lines and in its totals (I-13): per line in
    allocation order, per grant in draw order (C-11). Totals come from the domain rule,
    which refuses a line credited beyond its amount (C-12)."""
    by_line: dict[str, list[LineCredit]] = {}
    by_grant: dict[str, CreditApplicationRecord] = {}
    for entry in allocation:
        by_line.setdefault(entry.line_id, []).append(
            LineCredit(entry.grant_id, entry.amount, entry.transaction_id)
        )
        previous = by_grant.get(entry.grant_id, CreditApplicationRecord(entry.grant_id, 0))
        transactions = previous.transaction_ids + ((entry.transaction_id,) if entry.transaction_id else ())
        by_grant[entry.grant_id] = replace(
            previous, amount=previous.amount + entry.amount, transaction_ids=transactions
        )
    totals = invoice_totals(
        invoice.currency,
        [stored.line for stored in invoice.lines],
        [
            CreditApplication(
                e.line_id, e.grant_id, Money(invoice.currency, e.amount), e.transaction_id or None
            )
            for e in allocation
        ],
    )
    return replace(
        invoice,
        lines=tuple(
            replace(stored, credits=tuple(by_line.get(stored.line.id, ()))) for stored in invoice.lines
        ),
        subtotal=totals.subtotal.minor,
        total_credits_applied=totals.credits_total.minor,
        amount_due=totals.amount_due.minor,
        credit_applications=tuple(by_grant.values()),
        update_time=now,
    )


def for_credits(invoice: InvoiceRecord, as_of: datetime) -> InvoiceForCredits:
    """The invoice as credits allocates to it, judging its grants as of ``as_of``."""
    return InvoiceForCredits(
        invoice_id=invoice.id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        period_end=invoice.period.end,
        as_of=as_of,
        lines=[stored.line for stored in invoice.lines],
    )


def for_credits_preview(
    customer_id: str, currency: str, period_end: datetime, as_of: datetime, lines: Sequence[InvoiceLine]
) -> InvoiceForCredits:
    """An invoice not stored (a preview, I-14), as credits allocates to it."""
    return InvoiceForCredits("", customer_id, currency, period_end, as_of, lines)
