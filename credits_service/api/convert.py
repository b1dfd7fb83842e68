"""Proto ⇄ domain conversions of the credits service; malformed fields name their proto path."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf import field_mask_pb2

from credits_service.domain.balances import CurrencyBalance, GrantBalances
from credits_service.domain.drawdown import Invoice, InvoiceLine
from credits_service.domain.grants import (
    Applicability,
    GrantCategory,
    GrantState,
    grant_state,
    validate_applicability,
)
from credits_service.domain.ledger import Direction, TransactionKind
from credits_service.service.balances import BalanceFilter
from credits_service.service.grants import GrantChanges, NewGrant
from credits_service.store.credits import StoredAllocation, TransactionRecord
from drawdown.credits.v1 import credit_balance_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_service_pb
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_service_pb
from drawdown.errors import DomainError, InvalidArgument, for_batch_entry
from drawdown.money import Money, validate_currency
from drawdown.rpc.convert import money_from_proto, money_to_proto, optional_timestamp, timestamp_to_proto

_CATEGORIES = {
    grant_pb.CREDIT_GRANT_CATEGORY_UNSPECIFIED: GrantCategory.PAID,
    grant_pb.CREDIT_GRANT_CATEGORY_PAID: GrantCategory.PAID,
    grant_pb.CREDIT_GRANT_CATEGORY_PROMOTIONAL: GrantCategory.PROMOTIONAL,
}
_CATEGORY_TO_PROTO = {
    GrantCategory.PAID: grant_pb.CREDIT_GRANT_CATEGORY_PAID,
    GrantCategory.PROMOTIONAL: grant_pb.CREDIT_GRANT_CATEGORY_PROMOTIONAL,
}
_STATUS_TO_PROTO = {
    GrantState.PENDING: grant_pb.CREDIT_GRANT_STATUS_PENDING,
    GrantState.AVAILABLE: grant_pb.CREDIT_GRANT_STATUS_AVAILABLE,
    GrantState.DEPLETED: grant_pb.CREDIT_GRANT_STATUS_DEPLETED,
    GrantState.EXPIRED: grant_pb.CREDIT_GRANT_STATUS_EXPIRED,
    GrantState.VOIDED: grant_pb.CREDIT_GRANT_STATUS_VOIDED,
}
_STATUS_FROM_PROTO = {value: state for state, value in _STATUS_TO_PROTO.items()}
_CREDIT_TYPES = {
    TransactionKind.CREDITS_GRANTED: balance_pb.CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_CREDITS_GRANTED,
    TransactionKind.CREDITS_APPLICATION_INVOICE_VOIDED: (
        balance_pb.CREDIT_BALANCE_TRANSACTION_CREDIT_TYPE_CREDITS_APPLICATION_INVOICE_VOIDED
    ),
}
_DEBIT_TYPES = {
    TransactionKind.CREDITS_APPLIED: balance_pb.CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_APPLIED,
    TransactionKind.CREDITS_EXPIRED: balance_pb.CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_EXPIRED,
    TransactionKind.CREDITS_VOIDED: balance_pb.CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_VOIDED,
}
_GRANT_FIELDS = frozenset(grant_pb.CreditGrant.DESCRIPTOR.fields_by_name)


def required(value: str, field: str) -> str:
    if not value:
        raise InvalidArgument.for_field(field, "is required")
    return value


def required_timestamp(message: object, field: str) -> datetime:
    moment = optional_timestamp(message, field)
    if moment is None:
        raise InvalidArgument.for_field(field, "is required")
    return moment


# -- grants ---------------------------------------------------------------------------


def applicability_from_proto(message: grant_pb.ApplicabilityConfig, field: str) -> Applicability:
    """One scope (C-1): PRICE_TYPE_METERED or a price list; anything else INVALID_APPLICABILITY."""
    scope = message.WhichOneof("scope")
    if scope == "price_type" and message.price_type != grant_pb.PRICE_TYPE_METERED:
        raise InvalidArgument.for_field(
            f"{field}.price_type", "must be PRICE_TYPE_METERED", reason="INVALID_APPLICABILITY"
        )
    if scope == "prices" and not message.prices.price_ids:
        raise InvalidArgument.for_field(
            f"{field}.prices.price_ids", "must list 1 to 20 prices", reason="INVALID_APPLICABILITY"
        )
    applicability = (
        Applicability.every_metered_price()
        if scope == "price_type"
        else Applicability.only_prices(*message.prices.price_ids)
    )
    validate_applicability(applicability, field)
    return applicability


def new_grant_from_proto(message: grant_pb.CreditGrant) -> NewGrant:
    if not message.HasField("amount"):
        raise InvalidArgument.for_field("credit_grant.amount", "is required", reason="INVALID_AMOUNT")
    amount = money_from_proto(message.amount, "credit_grant.amount")
    if message.category not in _CATEGORIES:
        raise InvalidArgument.for_field("credit_grant.category", "is not a known category")
    return NewGrant(
        customer_id=message.customer_id,
        currency=amount.currency,
        amount_minor=amount.minor,
        name=message.name,
        category=_CATEGORIES[message.category],
        priority=message.priority if message.HasField("priority") else 50,
        applicability=applicability_from_proto(
            message.applicability_config, "credit_grant.applicability_config"
        ),
        effective_at=optional_timestamp(message, "effective_time", "credit_grant.effective_time"),
        expires_at=optional_timestamp(message, "expire_time", "credit_grant.expire_time"),
        metadata=dict(message.metadata),
    )


def grant_changes_from_proto(message: grant_pb.CreditGrant, mask: field_mask_pb2.FieldMask) -> GrantChanges:
    """C-3's mask: known CreditGrant paths only (the domain refuses immutable ones)."""
    required(message.id, "credit_grant.id")
    if not mask.paths:
        raise InvalidArgument.for_field("update_mask", "must name expire_time and/or metadata")
    unknown = [path for path in mask.paths if path not in _GRANT_FIELDS]
    if unknown:
        raise InvalidArgument.for_field("update_mask", f"{unknown[0]!r} is not a CreditGrant field")
    return GrantChanges(
        grant_id=message.id,
        paths=tuple(mask.paths),
        expires_at=optional_timestamp(message, "expire_time", "credit_grant.expire_time"),
        metadata=dict(message.metadata),
    )


def status_from_proto(status: int) -> GrantState | None:
    if status == grant_pb.CREDIT_GRANT_STATUS_UNSPECIFIED:
        return None
    if status not in _STATUS_FROM_PROTO:
        raise InvalidArgument.for_field("status", "is not a known status")
    return _STATUS_FROM_PROTO[status]


def grant_to_proto(balances: GrantBalances, as_of: datetime) -> grant_pb.CreditGrant:
    grant = balances.grant
    applicability = (
        grant_pb.ApplicabilityConfig(price_type=grant_pb.PRICE_TYPE_METERED)
        if grant.applicability.all_metered_prices
        else grant_pb.ApplicabilityConfig(
            prices=grant_pb.ApplicabilityPrices(price_ids=grant.applicability.price_ids)
        )
    )
    return grant_pb.CreditGrant(
        id=grant.id,
        customer_id=grant.customer_id,
        amount=money_to_proto(grant.amount),
        name=grant.name,
        category=_CATEGORY_TO_PROTO[grant.category],
        priority=grant.priority,
        applicability_config=applicability,
        effective_time=timestamp_to_proto(grant.effective_at),
        expire_time=timestamp_to_proto(grant.expires_at),
        metadata=dict(grant.metadata),
        void_time=timestamp_to_proto(grant.voided_at),
        status=_STATUS_TO_PROTO[grant_state(grant, balances.ledger, as_of)],
        available_balance=money_to_proto(balances.available(as_of)),
        ledger_balance=money_to_proto(balances.ledger),
        create_time=timestamp_to_proto(grant.created_at),
        update_time=timestamp_to_proto(grant.updated_at),
    )


# -- balances and transactions --------------------------------------------------------


def balance_filter_from_proto(request: balance_service_pb.GetCreditBalanceSummaryRequest) -> BalanceFilter:
    """C-21: one grant, a scope (METERED counts every grant), or nothing (every grant)."""
    selected = request.WhichOneof("filter")
    if selected == "credit_grant_id":
        return BalanceFilter(grant_id=required(request.credit_grant_id, "credit_grant_id"))
    if selected == "applicability_config":
        scope = applicability_from_proto(request.applicability_config, "applicability_config")
        return BalanceFilter(price_ids=None if scope.all_metered_prices else scope.price_ids)
    return BalanceFilter()


def balance_to_proto(balance: CurrencyBalance) -> balance_pb.CreditBalance:
    return balance_pb.CreditBalance(
        available_balance=money_to_proto(balance.available), ledger_balance=money_to_proto(balance.ledger)
    )


def transaction_to_proto(record: TransactionRecord) -> balance_pb.CreditBalanceTransaction:
    posting = record.posting
    message = balance_pb.CreditBalanceTransaction(
        id=record.id,
        customer_id=record.customer_id,
        credit_grant_id=posting.grant_id,
        effective_time=timestamp_to_proto(posting.effective_at),
        create_time=timestamp_to_proto(record.create_time),
    )
    amount = money_to_proto(posting.amount)
    if posting.kind.direction is Direction.CREDIT:
        message.type = balance_pb.CREDIT_BALANCE_TRANSACTION_TYPE_CREDIT
        message.credit.CopyFrom(
            balance_pb.CreditBalanceTransactionCredit(
                amount=amount, type=_CREDIT_TYPES[posting.kind], invoice_id=posting.invoice_id or ""
            )
        )
    else:
        # The contract names an invoice on applied debits only (an expiry after a
        # reinstatement keeps it in the ledger, for idempotency, not on the wire).
        applied = posting.kind is TransactionKind.CREDITS_APPLIED
        message.type = balance_pb.CREDIT_BALANCE_TRANSACTION_TYPE_DEBIT
        message.debit.CopyFrom(
            balance_pb.CreditBalanceTransactionDebit(
                amount=amount,
                type=_DEBIT_TYPES[posting.kind],
                invoice_id=(posting.invoice_id or "") if applied else "",
                invoice_line_id=(posting.invoice_line_id or "") if applied else "",
            )
        )
    return message


# -- invoices -------------------------------------------------------------------------


def invoice_from_proto(
    message: invoice_pb.InvoiceForCredits, field: str, now: datetime, *, id_required: bool = True
) -> Invoice:
    """The invoice as the engine sees it; ``as_of`` defaults to ``now`` (X-3)."""
    if id_required:
        required(message.invoice_id, f"{field}.invoice_id")
    required(message.customer_id, f"{field}.customer_id")
    currency = validate_currency(message.currency, f"{field}.currency")
    if not message.HasField("period_end"):
        raise InvalidArgument.for_field(f"{field}.period_end", "is required")
    lines = []
    seen: set[str] = set()
    for position, line in enumerate(message.lines):
        path = f"{field}.lines[{position}]"
        required(line.line_id, f"{path}.line_id")
        if line.line_id in seen:
            raise InvalidArgument.for_field(f"{path}.line_id", f"repeats line {line.line_id!r}")
        seen.add(line.line_id)
        if line.amount.currency_code != currency:
            raise InvalidArgument.for_field(
                f"{path}.amount.currency_code",
                f"must be the invoice currency {currency}",
                reason="CURRENCY_MISMATCH",
            )
        lines.append(
            InvoiceLine(
                line_id=line.line_id,
                price_id=line.price_id,
                amount=money_from_proto(line.amount, f"{path}.amount"),
                is_metered_subscription_line=line.metered,
            )
        )
    return Invoice(
        id=message.invoice_id,
        customer_id=message.customer_id,
        currency=currency,
        period_end=optional_timestamp(message, "period_end", f"{field}.period_end"),  # type: ignore[arg-type]
        as_of=optional_timestamp(message, "as_of", f"{field}.as_of") or now,
        lines=tuple(lines),
    )


def invoices_of_batch(
    requests: Sequence[
        invoice_service_pb.HoldInvoiceCreditsRequest | invoice_service_pb.ApplyInvoiceCreditsRequest
    ],
    now: datetime,
) -> list[Invoice]:
    """Each entry's invoice (``invoice_from_proto``); a malformed one names its entry (``requests[i]``)."""
    invoices = []
    for index, entry in enumerate(requests):
        try:
            invoices.append(invoice_from_proto(entry.invoice, "invoice", now))
        except DomainError as error:
            raise for_batch_entry(error, index) from None
    return invoices


def allocation_to_proto(
    allocation: StoredAllocation | None, invoice_id: str = ""
) -> invoice_pb.CreditAllocation:
    """An allocation; None (nothing held) has no line credits and no total."""
    if allocation is None:
        return invoice_pb.CreditAllocation(invoice_id=invoice_id)
    return invoice_pb.CreditAllocation(
        invoice_id=allocation.invoice_id,
        line_credits=[
            invoice_pb.LineCreditAllocation(
                line_id=entry.line_id,
                credit_grant_id=entry.grant_id,
                amount=money_to_proto(entry.amount),
                credit_balance_transaction_id=entry.transaction_id,
            )
            for entry in allocation.entries
        ],
        total=money_to_proto(Money(allocation.currency, sum(e.amount.minor for e in allocation.entries))),
    )
