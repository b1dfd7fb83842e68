"""The events of credits' changes (E-1, E-2), recorded on the call's outbox in its
transaction: each names its customer and, for a customer on a test clock, that clock
(I-18, added by the outbox's INSERT from credits' test clock tables). What is recorded is a domain value (a ``GrantView``, a ``TransactionRecord``);
the api layer turns it into its API message (``api.convert.EVENT_DATA``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from credits_service.store.ledger import TransactionRecord
from credits_service.store.unit import CreditRepositories
from drawdown.events import types


@dataclass(frozen=True, slots=True)
class Change:
    """An event to record: its type (``drawdown.events.types``), the customer, the resource
    after the change and, for a batch entry, the entry's request id (else the call's)."""

    type: str
    customer_id: str
    subject: object
    request_id: str = ""


def transactions_posted(records: Iterable[TransactionRecord], request_id: str = "") -> list[Change]:
    """A ``credit_balance_transaction.created`` per posted transaction (C-22)."""
    return [
        Change(types.CREDIT_BALANCE_TRANSACTION_CREATED, record.customer_id, record, request_id)
        for record in records
    ]


def record_events(uow: CreditRepositories, changes: Sequence[Change]) -> None:
    """Record ``changes``, in order, on ``uow.outbox`` (the outbox's INSERT adds each
    customer's test clock)."""
    for change in changes:
        uow.outbox.record(
            change.type, change.subject, customer_id=change.customer_id, request_id=change.request_id
        )
