"""The metering and credits services, as the invoicing use cases need them.

Every call carries the service key, a deadline (``drawdown.rpc.clients.deadline``: the
caller's remaining time, at most a cap) and, when it changes anything, a request id
(X-1); the channel retries UNAVAILABLE only. Failures become errors by what they mean
(X-8): only a peer's UNAVAILABLE, DEADLINE_EXCEEDED or CANCELLED (it shut down
mid-call) is transient, and becomes
``Unavailable`` ``<SERVICE>_SERVICE_UNAVAILABLE`` (retry later); a peer's NOT_FOUND /
FAILED_PRECONDITION / INVALID_ARGUMENT / ALREADY_EXISTS / ABORTED / RESOURCE_EXHAUSTED keeps
its kind and reason; anything else (INTERNAL, UNKNOWN, UNIMPLEMENTED, a refused key ...)
would fail again and is ``PeerFailure``, which the RPC answers as INTERNAL with a generic
message, logged with the peer's code and message.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

import grpc
import structlog
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from drawdown import errors
from drawdown.config import Settings
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_credit_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_credit_service_pb
from drawdown.credits.v1 import invoice_credit_service_pb2_grpc as invoice_credit_grpc
from drawdown.credits.v1 import test_clock_time_service_pb2 as credits_clock_pb
from drawdown.credits.v1 import test_clock_time_service_pb2_grpc as credits_clock_grpc
from drawdown.metering.v1 import meter_event_service_pb2 as meter_event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as meter_event_grpc
from drawdown.metering.v1 import meter_pb2
from drawdown.metering.v1 import meter_service_pb2 as meter_service_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.metering.v1 import test_clock_time_service_pb2 as metering_clock_pb
from drawdown.metering.v1 import test_clock_time_service_pb2_grpc as metering_clock_grpc
from drawdown.money import Money
from drawdown.rpc.clients import ServiceChannel, auth_metadata, deadline
from drawdown.rpc.convert import money_from_proto, money_to_proto, timestamp_to_proto
from invoicing_service.domain.invoices import InvoiceLine, LineKind
from invoicing_service.domain.periods import Period

# The most entries the batch RPCs take (their contracts' limits).
MAX_SUMMARY_QUERIES = 1000
MAX_CREDIT_ENTRIES = 500
MAX_CLOCK_CUSTOMERS = 1000

# Seconds an outbound call may take at most, whatever the caller's deadline.
READ_CAP = 5.0
WRITE_CAP = 10.0

T = TypeVar("T")

log = structlog.get_logger("drawdown.invoicing.downstream")

# the only codes that say "try again later": the peer is down, did not answer in
# time, or cancelled the call as it shut down; the channel has already retried UNAVAILABLE.
_TRANSIENT = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
_PASSED_THROUGH: dict[grpc.StatusCode, type[errors.DomainError]] = {
    grpc.StatusCode.NOT_FOUND: errors.NotFound,
    grpc.StatusCode.FAILED_PRECONDITION: errors.FailedPrecondition,
    grpc.StatusCode.INVALID_ARGUMENT: errors.InvalidArgument,
    grpc.StatusCode.ALREADY_EXISTS: errors.AlreadyExists,
    grpc.StatusCode.ABORTED: errors.Aborted,
    grpc.StatusCode.RESOURCE_EXHAUSTED: errors.ResourceExhausted,
}


# The reasons naming each peer: it cannot be reached (retry later), or it failed.
UNAVAILABLE_REASONS = {"metering": "METERING_SERVICE_UNAVAILABLE", "credits": "CREDITS_SERVICE_UNAVAILABLE"}
FAILURE_REASONS = {"metering": "METERING_SERVICE_ERROR", "credits": "CREDITS_SERVICE_ERROR"}


class PeerFailure(Exception):
    """A peer failed in a way a retry would not fix (INTERNAL, UNKNOWN, UNIMPLEMENTED, a
    refused service key ...). Not a domain error: the RPC answers INTERNAL, "internal
    error; it has been logged", and never "retry later" (X-8). ``reason`` names the peer
    (``CREDITS_SERVICE_ERROR``), for the log and for a billing error set aside (X-6)."""

    def __init__(self, service: str, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"the {service} service failed: {code.name}: {details[:200]}")
        self.service = service
        self.code = code
        self.reason = FAILURE_REASONS[service]
        self.message = f"the {service} service answered {code.name}"
        self.metadata = {"code": code.name}


# A peer's answer to a call it does not serve: it predates the RPC (TestClockTimeService
# during a rolling upgrade).
UNIMPLEMENTED = grpc.StatusCode.UNIMPLEMENTED


@dataclass(frozen=True)
class UsageQuery:
    """A meter's usage by one customer over one period (M-20)."""

    meter_id: str
    customer_id: str
    period: Period


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


def _reason(error: grpc.aio.AioRpcError) -> str | None:
    status = rpc_status.from_call(error)
    for detail in status.details if status else ():
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info.reason
    return None


@asynccontextmanager
async def _translated(service: str) -> AsyncIterator[None]:
    try:
        yield
    except grpc.aio.AioRpcError as error:
        code = error.code()
        if code in _PASSED_THROUGH:
            raise _PASSED_THROUGH[code](
                (error.details() or code.name)[:1000], reason=_reason(error)
            ) from None
        if code in _TRANSIENT:
            raise errors.Unavailable(
                f"the {service} service is unavailable ({code.name}); nothing changed, retry later",
                reason=UNAVAILABLE_REASONS[service],
            ) from None
        log.error("downstream.failed", service=service, code=code.name, details=(error.details() or "")[:200])
        raise PeerFailure(service, code, error.details() or "") from None


class Downstream:
    """Channels and stubs to metering and credits, one set per invoicing process."""

    def __init__(self, settings: Settings) -> None:
        self._metering = ServiceChannel(settings.metering_address, settings.peer_connections)
        self._credits = ServiceChannel(settings.credits_address, settings.peer_connections)
        self._metadata = auth_metadata(settings.service_api_key)
        self._meters = meter_grpc.MeterServiceStub(self._metering)
        self._events = meter_event_grpc.MeterEventServiceStub(self._metering)
        self._invoice_credits = invoice_credit_grpc.InvoiceCreditServiceStub(self._credits)
        self._grants = grant_grpc.CreditGrantServiceStub(self._credits)
        self._balances = balance_grpc.CreditBalanceServiceStub(self._credits)
        self._clock_times = (
            ("metering", metering_clock_grpc.TestClockTimeServiceStub(self._metering), metering_clock_pb),
            ("credits", credits_clock_grpc.TestClockTimeServiceStub(self._credits), credits_clock_pb),
        )

    async def close(self) -> None:
        await self._metering.close()
        await self._credits.close()

    async def check_meter_active(self, meter_id: str, caller: grpc.aio.ServicerContext | None) -> None:
        """A metered price needs an existing, active meter (I-2)."""
        async with _translated("metering"):
            reply = await self._meters.GetMeter(
                meter_service_pb.GetMeterRequest(meter_id=meter_id),
                metadata=self._metadata,
                timeout=deadline(caller, READ_CAP),
            )
        if reply.meter.status != meter_pb2.METER_STATUS_ACTIVE:
            raise errors.FailedPrecondition(
                f"meter {meter_id} is inactive", reason="METER_INACTIVE", metadata={"meter_id": meter_id}
            )

    async def usage(
        self, queries: Sequence[UsageQuery], caller: grpc.aio.ServicerContext | None
    ) -> list[Decimal]:
        """Each meter's aggregate for its customer over exactly its period (M-20, I-10), in
        order: one ListMeterEventSummaries for one query, BatchListMeterEventSummaries
        calls of up to 1,000 for more."""
        requests = [
            meter_event_pb.ListMeterEventSummariesRequest(
                meter_id=q.meter_id,
                customer_id=q.customer_id,
                start_time=timestamp_to_proto(q.period.start),
                end_time=timestamp_to_proto(q.period.end),
                page_size=1,
            )
            for q in queries
            if q.period.end > q.period.start
        ]
        async with _translated("metering"):
            replies = await self._one_or_batches(
                requests,
                self._events.ListMeterEventSummaries,
                self._events.BatchListMeterEventSummaries,
                meter_event_pb.BatchListMeterEventSummariesRequest,
                MAX_SUMMARY_QUERIES,
                deadline(caller, READ_CAP),
            )
        answered = iter(replies)
        return [_aggregate(next(answered)) if q.period.end > q.period.start else Decimal(0) for q in queries]

    async def hold(self, holds: Sequence[tuple[InvoiceForCredits, str]]) -> list[list[CreditForLine]]:
        """Hold credits for drafts (C-13), given as (invoice, request id): one
        HoldInvoiceCredits for one, atomic BatchHoldInvoiceCredits calls for more."""
        async with _translated("credits"):
            replies = await self._one_or_batches(
                [
                    invoice_credit_service_pb.HoldInvoiceCreditsRequest(
                        request_id=rid, invoice=_invoice(invoice)
                    )
                    for invoice, rid in holds
                ],
                self._invoice_credits.HoldInvoiceCredits,
                self._invoice_credits.BatchHoldInvoiceCredits,
                invoice_credit_service_pb.BatchHoldInvoiceCreditsRequest,
                MAX_CREDIT_ENTRIES,
                WRITE_CAP,
            )
        return [_allocation(reply.credit_allocation) for reply in replies]

    async def apply(
        self, applications: Sequence[tuple[InvoiceForCredits, str]], caller: grpc.aio.ServicerContext | None
    ) -> list[list[CreditForLine]]:
        """Post final allocations (C-13, C-14), given as (invoice, request id); idempotent
        per invoice. One ApplyInvoiceCredits for one, atomic BatchApplyInvoiceCredits calls
        for more."""
        async with _translated("credits"):
            replies = await self._one_or_batches(
                [
                    invoice_credit_service_pb.ApplyInvoiceCreditsRequest(
                        request_id=rid, invoice=_invoice(invoice)
                    )
                    for invoice, rid in applications
                ],
                self._invoice_credits.ApplyInvoiceCredits,
                self._invoice_credits.BatchApplyInvoiceCredits,
                invoice_credit_service_pb.BatchApplyInvoiceCreditsRequest,
                MAX_CREDIT_ENTRIES,
                deadline(caller, WRITE_CAP),
            )
        return [_allocation(reply.credit_allocation) for reply in replies]

    async def _one_or_batches(
        self,
        requests: Sequence[Message],
        single: Callable[..., Awaitable[Any]],
        batch: Callable[..., Awaitable[Any]],
        batch_request: Callable[..., Message],
        batch_size: int,
        timeout: float,
    ) -> list[Any]:
        """The responses to ``requests``, in order: one ``single`` call for one request,
        ``batch`` calls of at most ``batch_size`` for more (each atomic on the server)."""
        if len(requests) == 1:
            return [await single(requests[0], metadata=self._metadata, timeout=timeout)]
        responses: list[Any] = []
        for chunk in _chunks(requests, batch_size):
            reply = await batch(batch_request(requests=chunk), metadata=self._metadata, timeout=timeout)
            responses.extend(reply.responses)
        return responses

    async def preview(
        self, invoice: InvoiceForCredits, caller: grpc.aio.ServicerContext | None
    ) -> list[CreditForLine]:
        """The allocation an invoice would get, holding nothing (C-13, I-14)."""
        async with _translated("credits"):
            reply = await self._invoice_credits.PreviewInvoiceCredits(
                invoice_credit_service_pb.PreviewInvoiceCreditsRequest(invoice=_invoice(invoice)),
                metadata=self._metadata,
                timeout=deadline(caller, READ_CAP),
            )
        return _allocation(reply.credit_allocation)

    async def reinstate(
        self, invoice_id: str, customer_id: str, as_of: datetime, caller: grpc.aio.ServicerContext | None
    ) -> dict[str, str]:
        """Give a voided invoice's credits back (C-15); the reinstating transaction per grant."""
        async with _translated("credits"):
            reply = await self._invoice_credits.ReinstateInvoiceCredits(
                invoice_credit_service_pb.ReinstateInvoiceCreditsRequest(
                    request_id=f"reinstate:{invoice_id}",
                    invoice_id=invoice_id,
                    customer_id=customer_id,
                    as_of=timestamp_to_proto(as_of),
                ),
                metadata=self._metadata,
                timeout=deadline(caller, WRITE_CAP),
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
        async with _translated("credits"):
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

    async def create_paid_grant(
        self, grant: grant_pb.CreditGrant, request_id: str, caller: grpc.aio.ServicerContext | None
    ) -> str:
        """Create a purchased grant once per request id (C-5, I-15); its id."""
        async with _translated("credits"):
            reply = await self._grants.CreateCreditGrant(
                grant_service_pb.CreateCreditGrantRequest(credit_grant=grant, request_id=request_id),
                metadata=self._metadata,
                timeout=deadline(caller, WRITE_CAP),
            )
        return reply.credit_grant.id

    async def available_credits(
        self, customer_id: str, as_of: datetime, caller: grpc.aio.ServicerContext | None
    ) -> list[Money]:
        """The customer's available credit balance per currency (C-20, C-21)."""
        async with _translated("credits"):
            reply = await self._balances.GetCreditBalanceSummary(
                balance_pb.GetCreditBalanceSummaryRequest(
                    customer_id=customer_id, as_of=timestamp_to_proto(as_of)
                ),
                metadata=self._metadata,
                timeout=deadline(caller, READ_CAP),
            )
        return [
            money_from_proto(balance.available_balance, "available_balance")
            for balance in reply.credit_balance_summary.balances
        ]

    # -- test clocks in every service (I-18) ---------------------------------------------

    async def set_test_clock_time(
        self,
        clock_id: str,
        frozen_time: datetime,
        customer_ids: Sequence[str],
        request_id: str,
        caller: grpc.aio.ServicerContext | None,
    ) -> None:
        """Tell metering and credits a test clock's frozen time and attach customers to it
        (I-18): calls of at most 1,000 customers each, to both peers at once, each with a
        request id derived from ``request_id`` (the peers keep the later of two times, so a
        repeat changes nothing). Unavailable if either peer is; a peer that does not serve
        TestClockTimeService yet (UNIMPLEMENTED: it predates I-18) is logged and skipped,
        and then judges the clock's customers by the wall clock as before."""
        chunks = list(_chunks(list(customer_ids), MAX_CLOCK_CUSTOMERS)) or [[]]
        calls = []
        for service, stub, pb in self._clock_times:
            for index, chunk in enumerate(chunks):
                request = pb.SetTestClockTimeRequest(
                    test_clock_id=clock_id,
                    frozen_time=timestamp_to_proto(frozen_time),
                    customer_ids=list(chunk),
                    request_id=request_id if len(chunks) == 1 else f"{request_id}:{index}",
                )
                calls.append(self._clock_time_call(service, stub.SetTestClockTime, request, caller))
        await _all_of(calls)

    async def delete_test_clock_time(
        self, clock_id: str, request_id: str, caller: grpc.aio.ServicerContext | None
    ) -> None:
        """Tell metering and credits that a test clock is deleted (I-18): its customers are
        judged by the wall clock again. Safe to repeat; skips a peer that predates I-18."""
        await _all_of(
            self._clock_time_call(
                service,
                stub.DeleteTestClockTime,
                pb.DeleteTestClockTimeRequest(test_clock_id=clock_id, request_id=request_id),
                caller,
            )
            for service, stub, pb in self._clock_times
        )

    async def _clock_time_call(
        self,
        service: str,
        method: Callable[..., Awaitable[Any]],
        request: Message,
        caller: grpc.aio.ServicerContext | None,
    ) -> None:
        async with _translated(service):
            try:
                await method(request, metadata=self._metadata, timeout=deadline(caller, WRITE_CAP))
            except grpc.aio.AioRpcError as error:
                if error.code() is not UNIMPLEMENTED:
                    raise
                log.warning("downstream.test_clock_time_unimplemented", service=service)


async def _all_of(calls: Iterable[Awaitable[None]]) -> None:
    """Run the calls at once, wait for every one, then raise the first failure (so no call
    is left running when the caller moves on)."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _aggregate(reply: meter_event_pb.ListMeterEventSummariesResponse) -> Decimal:
    rows = reply.meter_event_summaries
    return Decimal(rows[0].aggregated_value.value) if rows else Decimal(0)


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
