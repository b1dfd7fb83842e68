"""Stubs and request builders for the credits API tests (real servers, real PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
from google.rpc import error_details_pb2
from google.type import money_pb2
from grpc_status import rpc_status

from drawdown.auth.roles import Role
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.credits.v1 import invoice_credit_pb2 as invoice_pb
from drawdown.credits.v1 import invoice_credit_service_pb2 as invoice_service_pb
from drawdown.credits.v1 import invoice_credit_service_pb2_grpc as invoice_grpc
from drawdown.rpc.convert import timestamp_to_proto
from tests.support.harness import Suite, bearer

JENNY = "cus_jenny"
INPUT_TOKENS = "price_input_tokens"
OUTPUT_TOKENS = "price_output_tokens"
# A moment after the wall clock, so that the suite's wall-clock scheduler (whose expiry
# sweep runs in the background) never touches what the tests set up around it.
T0 = datetime(2030, 1, 1, tzinfo=UTC)


def usd(minor: int) -> money_pb2.Money:
    return money_pb2.Money(currency_code="USD", units=minor // 100, nanos=(minor % 100) * 10_000_000)


def minor(money: money_pb2.Money) -> int:
    return money.units * 100 + money.nanos // 10_000_000


def new_grant(
    amount: int | money_pb2.Money = 1000, customer_id: str = JENNY, **fields: object
) -> grant_pb.CreditGrant:
    values: dict[str, object] = {
        "customer_id": customer_id,
        "amount": usd(amount) if isinstance(amount, int) else amount,
        "name": "Hypernian credits",
        "applicability_config": grant_pb.ApplicabilityConfig(price_type=grant_pb.PRICE_TYPE_METERED),
        "effective_time": timestamp_to_proto(T0),
    }
    values.update(fields)
    return grant_pb.CreditGrant(**values)  # type: ignore[arg-type]


def line(
    line_id: str, amount: int, price_id: str = INPUT_TOKENS, *, metered: bool = True
) -> invoice_pb.InvoiceLineForCredits:
    return invoice_pb.InvoiceLineForCredits(
        line_id=line_id, price_id=price_id, amount=usd(amount), metered=metered
    )


def invoice(
    invoice_id: str,
    *lines: invoice_pb.InvoiceLineForCredits,
    customer_id: str = JENNY,
    period_end: datetime = T0 + timedelta(days=31),
    as_of: datetime | None = None,
) -> invoice_pb.InvoiceForCredits:
    return invoice_pb.InvoiceForCredits(
        invoice_id=invoice_id,
        customer_id=customer_id,
        currency="USD",
        period_end=timestamp_to_proto(period_end),
        as_of=timestamp_to_proto(as_of or period_end + timedelta(hours=1)),
        lines=list(lines),
    )


def reason(error: grpc.aio.AioRpcError) -> str:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    raise AssertionError("no ErrorInfo")


def error_metadata(error: grpc.aio.AioRpcError) -> dict[str, str]:
    """The ErrorInfo's metadata."""
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return dict(info.metadata)
    raise AssertionError("no ErrorInfo")


def violated_fields(error: grpc.aio.AioRpcError) -> list[str]:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            return [v.field for v in bad.field_violations]
    return []


@dataclass
class CreditsClient:
    """The three credits stubs on one channel, with an admin and a service key."""

    grants: grant_grpc.CreditGrantServiceStub
    balances: balance_grpc.CreditBalanceServiceStub
    invoices: invoice_grpc.InvoiceCreditServiceStub
    admin: tuple[tuple[str, str], ...]
    service: tuple[tuple[str, str], ...]

    @classmethod
    def on(cls, suite: Suite, channel: grpc.aio.Channel | None = None) -> CreditsClient:
        channel = channel or suite.channel("credits")
        return cls(
            grant_grpc.CreditGrantServiceStub(channel),
            balance_grpc.CreditBalanceServiceStub(channel),
            invoice_grpc.InvoiceCreditServiceStub(channel),
            bearer(suite.admin_key),
            bearer(suite.key(Role.SERVICE)),
        )

    async def create(
        self, grant: grant_pb.CreditGrant | None = None, request_id: str = ""
    ) -> grant_pb.CreditGrant:
        reply = await self.grants.CreateCreditGrant(
            grant_service_pb.CreateCreditGrantRequest(
                credit_grant=grant or new_grant(), request_id=request_id
            ),
            metadata=self.admin,
        )
        return reply.credit_grant

    async def get(self, grant_id: str, as_of: datetime | None = None) -> grant_pb.CreditGrant:
        reply = await self.grants.GetCreditGrant(
            grant_service_pb.GetCreditGrantRequest(id=grant_id, as_of=timestamp_to_proto(as_of)),
            metadata=self.admin,
        )
        return reply.credit_grant

    async def summary(self, customer_id: str = JENNY, as_of: datetime | None = None, **filters: object):
        reply = await self.balances.GetCreditBalanceSummary(
            balance_pb.GetCreditBalanceSummaryRequest(
                customer_id=customer_id,
                as_of=timestamp_to_proto(as_of),
                **filters,  # type: ignore[arg-type]
            ),
            metadata=self.admin,
        )
        return {
            b.ledger_balance.currency_code: (minor(b.available_balance), minor(b.ledger_balance))
            for b in reply.credit_balance_summary.balances
        }

    async def transactions(self, customer_id: str = JENNY, grant_id: str = "", page_size: int = 100):
        reply = await self.balances.ListCreditBalanceTransactions(
            balance_pb.ListCreditBalanceTransactionsRequest(
                customer_id=customer_id, credit_grant_id=grant_id, page_size=page_size
            ),
            metadata=self.admin,
        )
        return list(reply.credit_balance_transactions)

    async def hold(
        self, inv: invoice_pb.InvoiceForCredits, request_id: str = ""
    ) -> invoice_pb.CreditAllocation:
        reply = await self.invoices.HoldInvoiceCredits(
            invoice_service_pb.HoldInvoiceCreditsRequest(
                request_id=request_id or f"hold-{inv.invoice_id}", invoice=inv
            ),
            metadata=self.service,
        )
        return reply.credit_allocation

    async def apply(
        self, inv: invoice_pb.InvoiceForCredits, request_id: str = ""
    ) -> invoice_pb.CreditAllocation:
        reply = await self.invoices.ApplyInvoiceCredits(
            invoice_service_pb.ApplyInvoiceCreditsRequest(
                request_id=request_id or inv.invoice_id, invoice=inv
            ),
            metadata=self.service,
        )
        return reply.credit_allocation

    async def batch_hold(
        self, invoices: list[invoice_pb.InvoiceForCredits], request_ids: list[str] | None = None
    ) -> list[invoice_pb.CreditAllocation]:
        """BatchHoldInvoiceCredits; request ids default to the single call's (``hold-<invoice>``)."""
        ids = request_ids or [f"hold-{inv.invoice_id}" for inv in invoices]
        reply = await self.invoices.BatchHoldInvoiceCredits(
            invoice_service_pb.BatchHoldInvoiceCreditsRequest(
                requests=[
                    invoice_service_pb.HoldInvoiceCreditsRequest(request_id=request_id, invoice=inv)
                    for request_id, inv in zip(ids, invoices, strict=True)
                ]
            ),
            metadata=self.service,
        )
        return [response.credit_allocation for response in reply.responses]

    async def batch_apply(
        self, invoices: list[invoice_pb.InvoiceForCredits], request_ids: list[str] | None = None
    ) -> list[invoice_pb.CreditAllocation]:
        """BatchApplyInvoiceCredits; request ids default to the invoice ids (as invoicing sends)."""
        ids = request_ids or [inv.invoice_id for inv in invoices]
        reply = await self.invoices.BatchApplyInvoiceCredits(
            invoice_service_pb.BatchApplyInvoiceCreditsRequest(
                requests=[
                    invoice_service_pb.ApplyInvoiceCreditsRequest(request_id=request_id, invoice=inv)
                    for request_id, inv in zip(ids, invoices, strict=True)
                ]
            ),
            metadata=self.service,
        )
        return [response.credit_allocation for response in reply.responses]

    async def preview(self, inv: invoice_pb.InvoiceForCredits) -> invoice_pb.CreditAllocation:
        reply = await self.invoices.PreviewInvoiceCredits(
            invoice_service_pb.PreviewInvoiceCreditsRequest(invoice=inv), metadata=self.service
        )
        return reply.credit_allocation

    async def release(self, invoice_id: str, customer_id: str = JENNY, request_id: str = ""):
        reply = await self.invoices.ReleaseInvoiceCredits(
            invoice_service_pb.ReleaseInvoiceCreditsRequest(
                request_id=request_id or f"release-{invoice_id}",
                invoice_id=invoice_id,
                customer_id=customer_id,
            ),
            metadata=self.service,
        )
        return reply.released_allocation

    async def reinstate(
        self, invoice_id: str, as_of: datetime, customer_id: str = JENNY, request_id: str = ""
    ):
        reply = await self.invoices.ReinstateInvoiceCredits(
            invoice_service_pb.ReinstateInvoiceCreditsRequest(
                request_id=request_id or f"void-{invoice_id}",
                invoice_id=invoice_id,
                customer_id=customer_id,
                as_of=timestamp_to_proto(as_of),
            ),
            metadata=self.service,
        )
        return list(reply.credit_balance_transactions)

    async def expire_due(self, as_of: datetime, request_id: str = "", **scope: object):
        return await self.invoices.ExpireDueCreditGrants(
            invoice_service_pb.ExpireDueCreditGrantsRequest(
                request_id=request_id or f"sweep-{as_of.isoformat()}",
                as_of=timestamp_to_proto(as_of),
                **scope,  # type: ignore[arg-type]
            ),
            metadata=self.service,
        )


@asynccontextmanager
async def clients_on_own_connections(suite: Suite, count: int) -> AsyncIterator[list[CreditsClient]]:
    """``count`` clients of the suite's credits server, each on a connection of its own
    (without ``use_local_subchannel_pool``, gRPC shares one connection among all the
    channels to an address)."""
    channels = [
        grpc.aio.insecure_channel(suite.address("credits"), options=[("grpc.use_local_subchannel_pool", 1)])
        for _ in range(count)
    ]
    try:
        yield [CreditsClient.on(suite, channel) for channel in channels]
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))
