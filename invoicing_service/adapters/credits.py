"""The credits service, as invoicing needs it: credits held, applied and reinstated for
invoices (C-10..C-15), expiries (C-3), paid grants (C-5, I-15), balances (C-20) and test
clock times (I-18)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message

from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.credits.v1 import credit_reservation_service_pb2 as reservation_pb
from drawdown.credits.v1 import credit_reservation_service_pb2_grpc as reservation_grpc
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_credit_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_credit_service_pb
from drawdown.credits.v1 import invoice_credit_service_pb2_grpc as invoice_credit_grpc
from drawdown.credits.v1 import test_clock_time_service_pb2 as clock_pb
from drawdown.credits.v1 import test_clock_time_service_pb2_grpc as clock_grpc
from drawdown.deadlines import NO_DEADLINE, Deadline
from drawdown.money import Money
from drawdown.rpc.clients import ServiceChannel
from drawdown.rpc.convert import duration_to_proto, money_from_proto, money_to_proto, timestamp_to_proto
from invoicing_service.adapters.peers import (
    READ_CAP,
    WRITE_CAP,
    Metadata,
    TestClockTimes,
    one_or_batches,
    translated,
)
from invoicing_service.domain.credit_purchases import CreditGrantRequest
from invoicing_service.domain.invoices import InvoiceLine, LineKind

# The most invoices one BatchHoldInvoiceCredits or BatchApplyInvoiceCredits takes (their
# contracts' limit).
MAX_CREDIT_ENTRIES = 500


@dataclass(frozen=True)
class CreditForLine:
    """One entry of a credit allocation: a grant's credit on a line (C-12)."""

    line_id: str
    grant_id: str
    amount: int
    transaction_id: str


@dataclass(frozen=True)
class InvoiceForCredits:
    """What credits needs to allocate credits to an invoice (C-10..C-12)."""

    invoice_id: str
    customer_id: str
    currency: str
    period_end: datetime
    as_of: datetime
    lines: Sequence[InvoiceLine]


class Credits:
    """Stubs to credits on one channel."""

    def __init__(self, channel: ServiceChannel, metadata: Metadata) -> None:
        self._metadata = metadata
        self._invoice_credits = invoice_credit_grpc.InvoiceCreditServiceStub(channel)
        self._grants = grant_grpc.CreditGrantServiceStub(channel)
        self._balances = balance_grpc.CreditBalanceServiceStub(channel)
        self._reservations = reservation_grpc.CreditReservationServiceStub(channel)
        self.clock_times = TestClockTimes(
            "credits", clock_grpc.TestClockTimeServiceStub(channel), clock_pb, metadata
        )

    async def hold(self, holds: Sequence[tuple[InvoiceForCredits, str]]) -> list[list[CreditForLine]]:
        """Hold credits for drafts (C-13), given as (invoice, request id): one
        HoldInvoiceCredits for one, atomic BatchHoldInvoiceCredits calls for more."""
        return await self._allocations(
            [
                invoice_credit_service_pb.HoldInvoiceCreditsRequest(request_id=rid, invoice=_invoice(invoice))
                for invoice, rid in holds
            ],
            self._invoice_credits.HoldInvoiceCredits,
            self._invoice_credits.BatchHoldInvoiceCredits,
            invoice_credit_service_pb.BatchHoldInvoiceCreditsRequest,
            NO_DEADLINE,
        )

    async def apply(
        self, applications: Sequence[tuple[InvoiceForCredits, str]], deadline: Deadline
    ) -> list[list[CreditForLine]]:
        """Post final allocations (C-13, C-14), given as (invoice, request id); idempotent
        per invoice. One ApplyInvoiceCredits for one, atomic BatchApplyInvoiceCredits calls
        for more."""
        return await self._allocations(
            [
                invoice_credit_service_pb.ApplyInvoiceCreditsRequest(
                    request_id=rid, invoice=_invoice(invoice)
                )
                for invoice, rid in applications
            ],
            self._invoice_credits.ApplyInvoiceCredits,
            self._invoice_credits.BatchApplyInvoiceCredits,
            invoice_credit_service_pb.BatchApplyInvoiceCreditsRequest,
            deadline,
        )

    async def _allocations(
        self,
        requests: list[Message],
        single: Callable[..., Awaitable[Any]],
        batch: Callable[..., Awaitable[Any]],
        batch_type: type[Message],
        deadline: Deadline,
    ) -> list[list[CreditForLine]]:
        """The allocations of hold or apply ``requests``, sent as one call or in batches."""
        async with translated("credits"):
            replies = await one_or_batches(
                requests,
                single,
                batch,
                batch_type,
                MAX_CREDIT_ENTRIES,
                deadline.timeout(WRITE_CAP),
                self._metadata,
            )
        return [_allocation(reply.credit_allocation) for reply in replies]

    async def preview(self, invoice: InvoiceForCredits, deadline: Deadline) -> list[CreditForLine]:
        """The allocation an invoice would get, holding nothing (C-13, I-14)."""
        async with translated("credits"):
            reply = await self._invoice_credits.PreviewInvoiceCredits(
                invoice_credit_service_pb.PreviewInvoiceCreditsRequest(invoice=_invoice(invoice)),
                metadata=self._metadata,
                timeout=deadline.timeout(READ_CAP),
            )
        return _allocation(reply.credit_allocation)

    async def reinstate(
        self, invoice_id: str, customer_id: str, as_of: datetime, deadline: Deadline
    ) -> dict[str, str]:
        """Give a voided invoice's credits back (C-15); the reinstating transaction per grant."""
        async with translated("credits"):
            reply = await self._invoice_credits.ReinstateInvoiceCredits(
                invoice_credit_service_pb.ReinstateInvoiceCreditsRequest(
                    request_id=f"reinstate:{invoice_id}",
                    invoice_id=invoice_id,
                    customer_id=customer_id,
                    as_of=timestamp_to_proto(as_of),
                ),
                metadata=self._metadata,
                timeout=deadline.timeout(WRITE_CAP),
            )
        reinstated: dict[str, str] = {}
        for transaction in reply.credit_balance_transactions:
            if transaction.HasField("credit"):
                reinstated.setdefault(transaction.credit_grant_id, transaction.id)
        return reinstated

    async def expire_due_grants(
        self,
        as_of: datetime,
        *,
        customer_ids: Sequence[str],
        exclude_customer_ids: Sequence[str],
        request_id: str,
    ) -> None:
        """Post the expiries due at ``as_of`` (C-3, I-16)."""
        async with translated("credits"):
            await self._invoice_credits.ExpireDueCreditGrants(
                invoice_credit_service_pb.ExpireDueCreditGrantsRequest(
                    request_id=request_id,
                    as_of=timestamp_to_proto(as_of),
                    customer_ids=list(customer_ids),
                    exclude_customer_ids=list(exclude_customer_ids),
                ),
                metadata=self._metadata,
                timeout=WRITE_CAP,
            )

    async def create_paid_grant(self, grant: CreditGrantRequest, deadline: Deadline) -> str:
        """Create a purchased grant once per request id (C-5, I-15); its id."""
        async with translated("credits"):
            reply = await self._grants.CreateCreditGrant(
                grant_service_pb.CreateCreditGrantRequest(
                    credit_grant=_paid_grant(grant), request_id=grant.request_id
                ),
                metadata=self._metadata,
                timeout=deadline.timeout(WRITE_CAP),
            )
        return reply.credit_grant.id

    async def available_credits(self, customer_id: str, as_of: datetime, deadline: Deadline) -> list[Money]:
        """The customer's available credit balance per currency (C-20, C-21)."""
        async with translated("credits"):
            reply = await self._balances.GetCreditBalanceSummary(
                balance_pb.GetCreditBalanceSummaryRequest(
                    customer_id=customer_id, as_of=timestamp_to_proto(as_of)
                ),
                metadata=self._metadata,
                timeout=deadline.timeout(READ_CAP),
            )
        return [
            money_from_proto(balance.available_balance, "available_balance")
            for balance in reply.credit_balance_summary.balances
        ]

    async def reserve(self, reservation: Reservation, deadline: Deadline) -> ReservationMade:
        """R-1, R-3: reserve in the credits service, where the balance is serialized;
        FailedPrecondition INSUFFICIENT_CREDITS (with the spendable balance) when it does
        not fit. Idempotent per reservation id."""
        async with translated("credits"):
            reply = await self._reservations.ReserveCredits(
                reservation_pb.ReserveCreditsRequest(
                    reservation_id=reservation.id,
                    customer_id=reservation.customer_id,
                    price_id=reservation.price_id,
                    amount=money_to_proto(reservation.amount),
                    ttl=duration_to_proto(reservation.ttl),
                    unbilled_usage=money_to_proto(reservation.unbilled_usage),
                    overdraft_allowance=money_to_proto(reservation.overdraft_allowance),
                ),
                metadata=self._metadata,
                timeout=deadline.timeout(WRITE_CAP),
            )
        made = reply.credit_reservation
        return ReservationMade(
            sources=tuple((s.credit_grant_id, money_from_proto(s.amount, "amount")) for s in made.drawn_from),
            spendable_after=money_from_proto(made.spendable_balance, "spendable_balance"),
            create_time=made.create_time.ToDatetime(tzinfo=UTC),
            expire_time=made.expire_time.ToDatetime(tzinfo=UTC),
        )

    async def end_reservation(self, reservation_id: str, customer_id: str, deadline: Deadline) -> None:
        """R-4: end the reservation (idempotent)."""
        async with translated("credits"):
            await self._reservations.EndCreditReservation(
                reservation_pb.EndCreditReservationRequest(
                    reservation_id=reservation_id, customer_id=customer_id
                ),
                metadata=self._metadata,
                timeout=deadline.timeout(WRITE_CAP),
            )

    async def spendable(
        self,
        customer_id: str,
        unbilled: Mapping[str, Money],
        overdraft: Mapping[str, Money],
        deadline: Deadline,
    ) -> tuple[datetime, list[SpendableBalance]]:
        """R-2 per currency, computed by credits from its balances and reservations."""
        async with translated("credits"):
            reply = await self._reservations.GetSpendableBalance(
                reservation_pb.GetSpendableBalanceRequest(
                    customer_id=customer_id,
                    unbilled_usage=[money_to_proto(m) for m in unbilled.values()],
                    overdraft_allowances=[money_to_proto(m) for m in overdraft.values()],
                ),
                metadata=self._metadata,
                timeout=deadline.timeout(READ_CAP),
            )
        return reply.as_of_time.ToDatetime(tzinfo=UTC), [
            SpendableBalance(
                available_credits=money_from_proto(b.available_credits, "available_credits"),
                reserved=money_from_proto(b.reserved, "reserved"),
                unbilled_usage=money_from_proto(b.unbilled_usage, "unbilled_usage"),
                overdraft_allowance=money_from_proto(b.overdraft_allowance, "overdraft_allowance"),
                spendable_balance=money_from_proto(b.spendable_balance, "spendable_balance"),
                granted=money_from_proto(b.granted, "granted"),
            )
            for b in reply.balances
        ]


@dataclass(frozen=True)
class Reservation:
    """What AuthorizeUsage asks credits to reserve (R-1)."""

    id: str
    customer_id: str
    price_id: str
    amount: Money
    ttl: timedelta
    unbilled_usage: Money
    overdraft_allowance: Money


@dataclass(frozen=True)
class ReservationMade:
    sources: tuple[tuple[str, Money], ...]
    spendable_after: Money
    create_time: datetime
    expire_time: datetime


@dataclass(frozen=True)
class SpendableBalance:
    """One currency of the spendable balance, as credits computes it (R-2)."""

    available_credits: Money
    reserved: Money
    unbilled_usage: Money
    overdraft_allowance: Money
    spendable_balance: Money
    # The amounts of the grants effective and not voided (R-7's percent of granted).
    granted: Money


def _paid_grant(grant: CreditGrantRequest) -> grant_pb.CreditGrant:
    """The grant as credits takes it: no price ids scope it to every metered price (C-1)."""
    scope = (
        grant_pb.ApplicabilityConfig(
            prices=grant_pb.ApplicabilityPrices(price_ids=list(grant.applicable_price_ids))
        )
        if grant.applicable_price_ids
        else grant_pb.ApplicabilityConfig(price_type=grant_pb.PRICE_TYPE_METERED)
    )
    message = grant_pb.CreditGrant(
        customer_id=grant.customer_id,
        amount=money_to_proto(grant.amount),
        name=grant.name,
        category=grant_pb.CREDIT_GRANT_CATEGORY_PAID,
        priority=grant.priority,
        applicability_config=scope,
        effective_time=timestamp_to_proto(grant.effective_at),
        metadata=dict(grant.metadata),
    )
    if grant.expires_at is not None:
        message.expire_time.CopyFrom(timestamp_to_proto(grant.expires_at))
    return message


def _invoice(invoice: InvoiceForCredits) -> invoice_credit_pb.InvoiceForCredits:
    return invoice_credit_pb.InvoiceForCredits(
        invoice_id=invoice.invoice_id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        period_end=timestamp_to_proto(invoice.period_end),
        as_of=timestamp_to_proto(invoice.as_of),
        lines=[
            invoice_credit_pb.InvoiceLineForCredits(
                line_id=line.id,
                price_id=line.price_id or "",
                amount=money_to_proto(line.amount),
                metered=line.kind is LineKind.METERED,
            )
            for line in invoice.lines
        ],
    )


def _allocation(allocation: invoice_credit_pb.CreditAllocation) -> list[CreditForLine]:
    return [
        CreditForLine(
            line_id=entry.line_id,
            grant_id=entry.credit_grant_id,
            amount=money_from_proto(entry.amount, "amount").minor,
            transaction_id=entry.credit_balance_transaction_id,
        )
        for entry in allocation.line_credits
    ]
