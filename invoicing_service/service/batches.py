"""Working through due work a batch at a time, and setting aside what cannot be billed
(X-6): one bad subscription or invoice never holds up the others."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

import structlog

from drawdown.errors import DomainError, Unavailable
from invoicing_service.adapters.peers import PeerFailure
from invoicing_service.store.records import BillingErrorRecord
from invoicing_service.store.unit import InvoicingUnit

log = structlog.get_logger("drawdown.invoicing.billing")

# Subscriptions or drafts one scheduler claim takes: one transaction, one batch call to
# metering and one to credits.
CLAIM_BATCH = 100
# How long the wall-clock scheduler leaves a subscription or invoice it set aside before
# it tries to bill it again.
SET_ASIDE_RETRY = timedelta(hours=1)


def billing_error(error: DomainError | PeerFailure, now: datetime) -> BillingErrorRecord:
    """The reason a subscription or invoice is set aside (X-6), as stored and shown."""
    return BillingErrorRecord(error.reason, error.message[:500], now)


def set_aside_worthy(error: BaseException) -> bool:
    """Whether ``error`` sets one subscription or invoice aside: any refusal or peer
    failure, but not a peer that is down (then the whole batch waits and is retried)."""
    return isinstance(error, PeerFailure) or (
        isinstance(error, DomainError) and not isinstance(error, Unavailable)
    )


async def set_aside_invoices_in(
    uow: InvoicingUnit, errors: Mapping[str, DomainError | PeerFailure], now: datetime
) -> None:
    """Set invoices aside (by id) with the reason they could not be completed (X-6)."""
    await uow.invoices.set_aside({i: billing_error(e, now) for i, e in errors.items()})
    for invoice_id, error in errors.items():
        log.warning("invoice.set_aside", invoice_id=invoice_id, reason=error.reason, why=error.message)
