"""Proto ⇄ domain conversions of the credits service; malformed fields name their proto path.

Every string that reaches the store is checked here or in the domain (``domain.limits``):
ids of at most 255 characters, no NUL character; amounts within their bounds. So no
request reaches PostgreSQL in a form it would refuse (X-5, X-8), whatever guard runs
before the servicer. Amounts leave through ``wire_money``, which refuses what
google.type.Money cannot carry instead of failing to serialize.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from google.protobuf import field_mask_pb2
from google.type import money_pb2

from credits_service.domain import reasons
from credits_service.domain.balances import CurrencyBalance, GrantBalances, summary_price_filter
from credits_service.domain.drawdown import Invoice, InvoiceLine
from credits_service.domain.grants import (
    DEFAULT_CATEGORY,
    DEFAULT_PRIORITY,
    MAX_SCOPED_PRICES,
    UPDATABLE_FIELDS,
    Applicability,
    GrantCategory,
    GrantState,
    Rollover,
    grant_state,
    validate_applicability,
)
from credits_service.domain.ledger import Direction, TransactionKind
from credits_service.domain.limits import (
    MAX_ID_LENGTH,
    MAX_INVOICE_LINES,
    MAX_LINE_AMOUNT_MINOR,
    MAX_SWEEP_CUSTOMERS,
    check_count,
    check_currency,
    check_text,
    clip,
)
from credits_service.service.balances import BalanceFilter
from credits_service.service.grants import GrantChanges, GrantView, NewGrant
from credits_service.store.holds import StoredAllocation
from credits_service.store.ledger import TransactionRecord
from drawdown.credits.v1 import credit_balance_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_service_pb
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_service_pb
from drawdown.errors import DomainError, FailedPrecondition, InvalidArgument, for_batch_entry
from drawdown.events.outbox import encoder
from drawdown.money import Money, currency_exponent
from drawdown.pagination import decode_page_token
from drawdown.rpc.convert import (
    decimal_from_proto,
    decimal_to_proto,
    duration_from_proto,
    duration_to_proto,
    money_from_proto,
    money_to_proto,
    optional_timestamp,
    timestamp_to_proto,
)
from drawdown.rpc.enums import EnumMap

_CATEGORIES = EnumMap(grant_pb.CreditGrantCategory, GrantCategory)
_STATUSES = EnumMap(grant_pb.CreditGrantStatus, GrantState)
_CREDIT_TYPES = EnumMap(
    balance_pb.CreditBalanceTransactionCreditType,
    TransactionKind,
    only=[kind for kind in TransactionKind if kind.direction is Direction.CREDIT],
)
_DEBIT_TYPES = EnumMap(
    balance_pb.CreditBalanceTransactionDebitType,
    TransactionKind,
    only=[kind for kind in TransactionKind if kind.direction is Direction.DEBIT],
)
_GRANT_FIELDS = frozenset(grant_pb.CreditGrant.DESCRIPTOR.fields_by_name)


_INT64_MAX = 2**63 - 1


def required(value: str, field: str, *, reason: str | None = None) -> str:
    """A required id: non-empty, at most 255 characters, no NUL (``limits.check_text``)."""
    return check_text(value, field, required=True, required_reason=reason)


def optional_id(value: str, field: str) -> str:
    """An optional id ("" when unset): at most 255 characters, no NUL."""
    return check_text(value, field)


def check_request_id(request: object, field: str = "request_id") -> None:
    """A mutation's request_id: at most 255 characters (REQUEST_ID_TOO_LONG), no NUL."""
    check_text(request.request_id, field, too_long_reason=reasons.REQUEST_ID_TOO_LONG)  # type: ignore[attr-defined]


def customer_ids(values: Sequence[str], field: str, limit: int = MAX_SWEEP_CUSTOMERS) -> list[str]:
    """A list of customer ids: at most ``limit``, each a valid id (``field[i]`` named)."""
    check_count(len(values), limit, field, "customer ids")
    return [required(value, f"{field}[{position}]") for position, value in enumerate(values)]


def page_after(token: str, filters: Sequence[object]) -> list[object] | None:
    """The (create_time, id) key a page token continues after; anything but a key this
    service issued is INVALID_ARGUMENT on page_token (never a value the SQL refuses)."""
    try:
        after = decode_page_token(token, filters)
    except (ValueError, TypeError, OverflowError, RecursionError):
        after = [None]
    if after is None:
        return None
    if (
        not isinstance(after, list)
        or len(after) != 2
        or not isinstance(after[0], datetime)
        or after[0].tzinfo is None
        or not isinstance(after[1], str)
        or len(after[1]) > MAX_ID_LENGTH
        or "\x00" in after[1]
    ):
        raise InvalidArgument.for_field("page_token", "is not a token this service issued")
    return after


def money_in(message: object, field: str, *, max_minor: int = MAX_LINE_AMOUNT_MINOR) -> Money:
    """google.type.Money from a request: an ISO 4217 currency (INVALID_CURRENCY, echoing
    at most 200 characters), whole minor units (INVALID_AMOUNT), at most ``max_minor`` in
    magnitude (AMOUNT_TOO_LARGE on ``field.units``)."""
    check_currency(message.currency_code, f"{field}.currency_code")  # type: ignore[attr-defined]
    amount = money_from_proto(message, field)  # type: ignore[arg-type]
    if abs(amount.minor) > max_minor:
        raise InvalidArgument.for_field(
            f"{field}.units",
            f"must be at most {max_minor:,} minor units in magnitude",
            reason=reasons.AMOUNT_TOO_LARGE,
            metadata={"limit": str(max_minor)},
        )
    return amount


def wire_money(money: Money) -> money_pb2.Money:
    """``money_to_proto``, or FAILED_PRECONDITION AMOUNT_OUT_OF_RANGE for an amount whose
    units do not fit google.type.Money's int64 (only stored data from before the amount
    bounds could sum to one): a clear, permanent answer instead of INTERNAL."""
    if abs(money.minor) // 10 ** currency_exponent(money.currency) > _INT64_MAX:
        raise FailedPrecondition(
            f"a {money.currency} amount exceeds what google.type.Money can carry",
            reason=reasons.AMOUNT_OUT_OF_RANGE,
            metadata={"currency": money.currency},
        )
    return money_to_proto(money)


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
            f"{field}.price_type", "must be PRICE_TYPE_METERED", reason=reasons.INVALID_APPLICABILITY
        )
    if scope == "prices" and not message.prices.price_ids:
        raise InvalidArgument.for_field(
            f"{field}.prices.price_ids",
            f"must list 1 to {MAX_SCOPED_PRICES} prices",
            reason=reasons.INVALID_APPLICABILITY,
        )
    applicability = (
        Applicability.every_metered_price()
        if scope == "price_type"
        else Applicability.only_prices(*message.prices.price_ids)
    )
    validate_applicability(applicability, field)
    return applicability


def new_grant_from_proto(message: grant_pb.CreditGrant) -> NewGrant:
    required(message.customer_id, "credit_grant.customer_id", reason=reasons.CUSTOMER_ID_REQUIRED)
    if not message.HasField("amount"):
        raise InvalidArgument.for_field("credit_grant.amount", "is required", reason=reasons.INVALID_AMOUNT)
    check_currency(message.amount.currency_code, "credit_grant.amount.currency_code")
    amount = money_from_proto(message.amount, "credit_grant.amount")
    category = _CATEGORIES.parse(message.category, "credit_grant.category") or DEFAULT_CATEGORY
    return NewGrant(
        customer_id=message.customer_id,
        currency=amount.currency,
        amount_minor=amount.minor,
        name=message.name,
        category=category,
        priority=message.priority if message.HasField("priority") else DEFAULT_PRIORITY,
        applicability=applicability_from_proto(
            message.applicability_config, "credit_grant.applicability_config"
        ),
        effective_at=optional_timestamp(message, "effective_time", "credit_grant.effective_time"),
        expires_at=optional_timestamp(message, "expire_time", "credit_grant.expire_time"),
        metadata=dict(message.metadata),
        rollover=rollover_from_proto(message.rollover, "credit_grant.rollover")
        if message.HasField("rollover")
        else None,
    )


def rollover_from_proto(message: grant_pb.RolloverPolicy, field: str) -> Rollover:
    """R-8 as asked; the domain judges it against the grant (INVALID_ROLLOVER)."""
    if not message.HasField("expire_after"):
        raise InvalidArgument.for_field(
            f"{field}.expire_after", "is required", reason=reasons.INVALID_ROLLOVER
        )
    cap = message.WhichOneof("cap")
    return Rollover(
        expire_after=duration_from_proto(message.expire_after, f"{field}.expire_after"),
        max_amount=money_in(message.max_amount, f"{field}.max_amount") if cap == "max_amount" else None,
        max_percent=decimal_from_proto(message.max_percent, f"{field}.max_percent")
        if cap == "max_percent"
        else None,
    )


def rollover_to_proto(rollover: Rollover) -> grant_pb.RolloverPolicy:
    message = grant_pb.RolloverPolicy(expire_after=duration_to_proto(rollover.expire_after))
    if rollover.max_amount is not None:
        message.max_amount.CopyFrom(wire_money(rollover.max_amount))
    if rollover.max_percent is not None:
        message.max_percent.CopyFrom(decimal_to_proto(rollover.max_percent))
    return message


def grant_changes_from_proto(message: grant_pb.CreditGrant, mask: field_mask_pb2.FieldMask) -> GrantChanges:
    """C-3's mask: known CreditGrant paths only (the domain refuses immutable ones)."""
    required(message.id, "credit_grant.id")
    if not mask.paths:
        raise InvalidArgument.for_field(
            "update_mask", f"must name {' and/or '.join(sorted(UPDATABLE_FIELDS))}"
        )
    unknown = [path for path in mask.paths if path not in _GRANT_FIELDS]
    if unknown:
        raise InvalidArgument.for_field("update_mask", f"{clip(unknown[0])!r} is not a CreditGrant field")
    return GrantChanges(
        grant_id=message.id,
        paths=tuple(mask.paths),
        expires_at=optional_timestamp(message, "expire_time", "credit_grant.expire_time"),
        metadata=dict(message.metadata),
    )


def status_from_proto(status: int) -> GrantState | None:
    return _STATUSES.parse(status, "status")


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
        amount=wire_money(grant.amount),
        name=grant.name,
        category=_CATEGORIES.to_proto(grant.category),  # type: ignore[arg-type]
        priority=grant.priority,
        applicability_config=applicability,
        effective_time=timestamp_to_proto(grant.effective_at),
        expire_time=timestamp_to_proto(grant.expires_at),
        metadata=dict(grant.metadata),
        void_time=timestamp_to_proto(grant.voided_at),
        status=_STATUSES.to_proto(grant_state(grant, balances.ledger, as_of)),  # type: ignore[arg-type]
        available_balance=wire_money(balances.available(as_of)),
        ledger_balance=wire_money(balances.ledger),
        create_time=timestamp_to_proto(grant.created_at),
        update_time=timestamp_to_proto(grant.updated_at),
        rollover=rollover_to_proto(grant.rollover) if grant.rollover is not None else None,
        rolled_over_from_grant_id=grant.rolled_over_from or "",
    )


def grant_view_to_proto(view: GrantView) -> grant_pb.CreditGrant:
    """The grant as shown at the view's moment (its status and available balance)."""
    return grant_to_proto(view.balances, view.as_of)


# -- balances and transactions --------------------------------------------------------


def balance_filter_from_proto(request: balance_service_pb.GetCreditBalanceSummaryRequest) -> BalanceFilter:
    """C-21: one grant, a scope (METERED counts every grant), or nothing (every grant)."""
    selected = request.WhichOneof("filter")
    if selected == "credit_grant_id":
        return BalanceFilter(grant_id=required(request.credit_grant_id, "credit_grant_id"))
    if selected == "applicability_config":
        scope = applicability_from_proto(request.applicability_config, "applicability_config")
        return BalanceFilter(price_ids=summary_price_filter(scope))
    return BalanceFilter()


def balance_to_proto(balance: CurrencyBalance) -> balance_pb.CreditBalance:
    return balance_pb.CreditBalance(
        available_balance=wire_money(balance.available), ledger_balance=wire_money(balance.ledger)
    )


def transaction_to_proto(record: TransactionRecord) -> balance_pb.CreditBalanceTransaction:
    posting = record.posting
    message = balance_pb.CreditBalanceTransaction(
        id=record.id,
        customer_id=record.customer_id,
        credit_grant_id=posting.grant_id,
        effective_time=timestamp_to_proto(posting.effective_at),
        create_time=timestamp_to_proto(record.create_time),
        linked_transaction_id=posting.linked_transaction_id or "",
    )
    amount = wire_money(posting.amount)
    if posting.kind.direction is Direction.CREDIT:
        message.type = balance_pb.CREDIT_BALANCE_TRANSACTION_TYPE_CREDIT
        message.credit.CopyFrom(
            balance_pb.CreditBalanceTransactionCredit(
                amount=amount,
                type=_CREDIT_TYPES.to_proto(posting.kind),  # type: ignore[arg-type]
                invoice_id=posting.invoice_id or "",
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
                type=_DEBIT_TYPES.to_proto(posting.kind),  # type: ignore[arg-type]
                invoice_id=(posting.invoice_id or "") if applied else "",
                invoice_line_id=(posting.invoice_line_id or "") if applied else "",
            )
        )
    return message


# The API message of each kind of value credits records events about (E-2).
EVENT_DATA = encoder({GrantView: grant_view_to_proto, TransactionRecord: transaction_to_proto})


# -- invoices -------------------------------------------------------------------------


def invoice_from_proto(
    message: invoice_pb.InvoiceForCredits, field: str, *, id_required: bool = True
) -> Invoice:
    """The invoice as the engine sees it. Without ``as_of`` it is judged at the customer's
    now, which the use case fills in (its test clock's time, or the wall clock's; X-3,
    I-18). At most 10,000 lines (TOO_MANY_LINES), each amount at most 2**63 - 1 minor
    units in magnitude (AMOUNT_TOO_LARGE); ids at most 255 characters, no NUL."""
    if id_required:
        required(message.invoice_id, f"{field}.invoice_id")
    else:
        optional_id(message.invoice_id, f"{field}.invoice_id")
    required(message.customer_id, f"{field}.customer_id")
    currency = check_currency(message.currency, f"{field}.currency")
    if not message.HasField("period_end"):
        raise InvalidArgument.for_field(f"{field}.period_end", "is required")
    check_count(
        len(message.lines), MAX_INVOICE_LINES, f"{field}.lines", "lines", reason=reasons.TOO_MANY_LINES
    )
    lines = []
    seen: set[str] = set()
    for position, line in enumerate(message.lines):
        path = f"{field}.lines[{position}]"
        required(line.line_id, f"{path}.line_id")
        if line.line_id in seen:
            raise InvalidArgument.for_field(f"{path}.line_id", f"repeats line {clip(line.line_id)!r}")
        seen.add(line.line_id)
        optional_id(line.price_id, f"{path}.price_id")
        if line.amount.currency_code != currency:
            raise InvalidArgument.for_field(
                f"{path}.amount.currency_code",
                f"must be the invoice currency {currency}",
                reason=reasons.CURRENCY_MISMATCH,
            )
        lines.append(
            InvoiceLine(
                line_id=line.line_id,
                price_id=line.price_id,
                amount=money_in(line.amount, f"{path}.amount"),
                is_metered_subscription_line=line.metered,
            )
        )
    return Invoice(
        id=message.invoice_id,
        customer_id=message.customer_id,
        currency=currency,
        period_end=optional_timestamp(message, "period_end", f"{field}.period_end"),  # type: ignore[arg-type]
        as_of=optional_timestamp(message, "as_of", f"{field}.as_of"),
        lines=tuple(lines),
    )


def invoices_of_batch(
    requests: Sequence[
        invoice_service_pb.HoldInvoiceCreditsRequest | invoice_service_pb.ApplyInvoiceCreditsRequest
    ],
) -> list[Invoice]:
    """Each entry's invoice (``invoice_from_proto``); a malformed one names its entry (``requests[i]``)."""
    invoices = []
    for index, entry in enumerate(requests):
        try:
            check_request_id(entry)
            invoices.append(invoice_from_proto(entry.invoice, "invoice"))
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
                amount=wire_money(entry.amount),
                credit_balance_transaction_id=entry.transaction_id,
            )
            for entry in allocation.entries
        ],
        total=wire_money(Money(allocation.currency, sum(e.amount.minor for e in allocation.entries))),
    )
