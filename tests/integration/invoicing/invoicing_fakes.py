"""In-process stand-ins for metering and credits, for invoicing's own tests.

They serve the RPCs invoicing calls with the contracts' semantics, kept in memory, and
let a test inject faults (UNAVAILABLE before a call is served, or after it was served and
its answer lost) and count what happened (credits drawn per invoice). The real services
are exercised by the suite tests (``test_invoicing_suite.py``).
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

from drawdown import suite
from drawdown.auth import store as auth_store
from drawdown.auth.roles import Role
from drawdown.clock import Clock
from drawdown.credits.v1 import credit_balance_pb2, credit_grant_pb2, invoice_credit_pb2
from drawdown.credits.v1 import credit_balance_service_pb2 as balance_pb
from drawdown.credits.v1 import credit_balance_service_pb2_grpc as balance_grpc
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2_grpc as grant_grpc
from drawdown.credits.v1 import invoice_credit_service_pb2 as ic_pb
from drawdown.credits.v1 import invoice_credit_service_pb2_grpc as ic_grpc
from drawdown.invoicing.v1 import (
    catalog_service_pb2_grpc,
    customer_service_pb2_grpc,
    invoice_service_pb2_grpc,
    subscription_service_pb2_grpc,
    test_clock_service_pb2_grpc,
)
from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from drawdown.metering.v1 import meter_event_service_pb2_grpc as event_grpc
from drawdown.metering.v1 import meter_service_pb2 as meter_service_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.money import Money
from drawdown.rpc.convert import money_from_proto, money_to_proto
from drawdown.rpc.server import RunningServer, start_server
from tests.support.harness import bearer, test_settings

_ids = itertools.count(1)


def _next(prefix: str) -> str:
    return f"{prefix}_{next(_ids):026d}"


async def abort_with_reason(context: grpc.aio.ServicerContext, code: grpc.StatusCode, reason: str) -> None:
    """Fail the call the way the real services do: with an ErrorInfo reason."""
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.ErrorInfo(reason=reason, domain="drawdown.dev"))
    await context.abort_with_status(
        rpc_status.to_status(status_pb2.Status(code=code.value[0], message=reason, details=[detail]))
    )


class Faults:
    """Per-method fault plans: ``before`` fails the call unserved, ``after`` serves it and
    then fails it (the caller never learns it succeeded)."""

    def __init__(self) -> None:
        self.before: dict[str, int] = {}
        self.after: dict[str, int] = {}
        self.calls: dict[str, int] = {}

    async def enter(self, method: str, context: grpc.aio.ServicerContext) -> None:
        self.calls[method] = self.calls.get(method, 0) + 1
        if self.before.get(method, 0) > 0:
            self.before[method] -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{method}: injected fault")

    async def leave(self, method: str, context: grpc.aio.ServicerContext) -> None:
        if self.after.get(method, 0) > 0:
            self.after[method] -= 1
            await context.abort(grpc.StatusCode.UNAVAILABLE, f"{method}: injected fault after serving")


@dataclass
class FakeMetering:
    faults: Faults = field(default_factory=Faults)
    active: dict[str, bool] = field(default_factory=dict)
    events: list[tuple[str, str, datetime, Decimal]] = field(default_factory=list)

    def meter(self, active: bool = True) -> str:
        meter_id = _next("mtr")
        self.active[meter_id] = active
        return meter_id

    def record(self, meter_id: str, customer_id: str, at: datetime, value: str | int) -> None:
        self.events.append((meter_id, customer_id, at, Decimal(value)))


class _Meters(meter_grpc.MeterServiceServicer):
    def __init__(self, fake: FakeMetering) -> None:
        self.fake = fake

    async def GetMeter(self, request, context):
        await self.fake.faults.enter("GetMeter", context)
        if request.meter_id not in self.fake.active:
            await abort_with_reason(context, grpc.StatusCode.NOT_FOUND, "METER_NOT_FOUND")
        status = (
            meter_pb2.METER_STATUS_ACTIVE
            if self.fake.active[request.meter_id]
            else meter_pb2.METER_STATUS_INACTIVE
        )
        return meter_service_pb.GetMeterResponse(meter=meter_pb2.Meter(id=request.meter_id, status=status))


class _Events(event_grpc.MeterEventServiceServicer):
    def __init__(self, fake: FakeMetering) -> None:
        self.fake = fake

    async def ListMeterEventSummaries(self, request, context):
        await self.fake.faults.enter("ListMeterEventSummaries", context)
        start = request.start_time.ToDatetime().replace(tzinfo=None)
        end = request.end_time.ToDatetime().replace(tzinfo=None)
        assert start.second == 0 and end.second == 0 and not start.microsecond and not end.microsecond, (
            start,
            end,
        )
        total = sum(
            (
                value
                for meter_id, customer_id, at, value in self.fake.events
                if meter_id == request.meter_id
                and customer_id == request.customer_id
                and start <= at.replace(tzinfo=None) < end
            ),
            Decimal(0),
        )
        return event_pb.ListMeterEventSummariesResponse(
            meter_event_summaries=[
                meter_event_pb2.MeterEventSummary(
                    meter_id=request.meter_id,
                    customer_id=request.customer_id,
                    start_time=request.start_time,
                    end_time=request.end_time,
                    aggregated_value={"value": format(total, "f")},
                )
            ]
        )


@dataclass
class Grant:
    id: str
    customer_id: str
    currency: str
    amount: int
    ledger: int
    priority: int = 50
    price_ids: tuple[str, ...] = ()
    expire_time: datetime | None = None


@dataclass
class FakeCredits:
    faults: Faults = field(default_factory=Faults)
    grants: list[Grant] = field(default_factory=list)
    holds: dict[str, list[tuple[str, str, int]]] = field(default_factory=dict)
    applied: dict[str, list[tuple[str, str, int, str]]] = field(default_factory=dict)
    reinstated: dict[str, list[str]] = field(default_factory=dict)
    draws: dict[str, int] = field(default_factory=dict)
    created_grants: dict[str, str] = field(default_factory=dict)
    expiry_calls: list[tuple[datetime, tuple[str, ...]]] = field(default_factory=list)
    grant_limit_reached: bool = False

    def grant(self, customer_id: str, amount: int, currency: str = "USD", **kwargs: object) -> Grant:
        grant = Grant(_next("cg"), customer_id, currency, amount, amount, **kwargs)  # type: ignore[arg-type]
        self.grants.append(grant)
        return grant

    def available(self, grant: Grant, except_invoice: str = "") -> int:
        held = sum(
            a
            for inv, lines in self.holds.items()
            if inv != except_invoice
            for _, g, a in lines
            if g == grant.id
        )
        return grant.ledger - held

    def allocate(self, invoice: invoice_credit_pb2.InvoiceForCredits) -> list[tuple[str, str, int]]:
        period_end = invoice.period_end.ToDatetime()
        grants = sorted(
            (
                g
                for g in self.grants
                if g.customer_id == invoice.customer_id
                and g.currency == invoice.currency
                and (g.expire_time is None or period_end < g.expire_time.replace(tzinfo=None))
            ),
            key=lambda g: (g.priority, g.expire_time is None, g.expire_time or datetime.min, g.id),
        )
        left = {line.line_id: money_from_proto(line.amount, "amount").minor for line in invoice.lines}
        entries = []
        for grant in grants:
            available = self.available(grant, invoice.invoice_id)
            for line in invoice.lines:
                if available <= 0:
                    break
                if not line.metered or (grant.price_ids and line.price_id not in grant.price_ids):
                    continue
                amount = min(available, left[line.line_id])
                if amount > 0:
                    entries.append((line.line_id, grant.id, amount))
                    left[line.line_id] -= amount
                    available -= amount
        return entries

    def _allocation(self, invoice_id: str, currency: str, entries) -> invoice_credit_pb2.CreditAllocation:
        return invoice_credit_pb2.CreditAllocation(
            invoice_id=invoice_id,
            line_credits=[
                invoice_credit_pb2.LineCreditAllocation(
                    line_id=e[0],
                    credit_grant_id=e[1],
                    amount=money_to_proto(Money(currency, e[2])),
                    credit_balance_transaction_id=e[3] if len(e) > 3 else "",
                )
                for e in entries
            ],
            total=money_to_proto(Money(currency, sum(e[2] for e in entries))),
        )


class _InvoiceCredits(ic_grpc.InvoiceCreditServiceServicer):
    def __init__(self, fake: FakeCredits) -> None:
        self.fake = fake

    async def HoldInvoiceCredits(self, request, context):
        await self.fake.faults.enter("HoldInvoiceCredits", context)
        invoice = request.invoice
        entries = self.fake.allocate(invoice)
        self.fake.holds[invoice.invoice_id] = entries
        return ic_pb.HoldInvoiceCreditsResponse(
            credit_allocation=self.fake._allocation(invoice.invoice_id, invoice.currency, entries)
        )

    async def ApplyInvoiceCredits(self, request, context):
        await self.fake.faults.enter("ApplyInvoiceCredits", context)
        invoice = request.invoice
        if invoice.invoice_id not in self.fake.applied:
            entries = [(*e, _next("cbt")) for e in self.fake.allocate(invoice)]
            for _, grant_id, amount, _ in entries:
                next(g for g in self.fake.grants if g.id == grant_id).ledger -= amount
            self.fake.applied[invoice.invoice_id] = entries
            self.fake.holds.pop(invoice.invoice_id, None)
            self.fake.draws[invoice.invoice_id] = self.fake.draws.get(invoice.invoice_id, 0) + 1
        response = ic_pb.ApplyInvoiceCreditsResponse(
            credit_allocation=self.fake._allocation(
                invoice.invoice_id, invoice.currency, self.fake.applied[invoice.invoice_id]
            )
        )
        await self.fake.faults.leave("ApplyInvoiceCredits", context)
        return response

    async def PreviewInvoiceCredits(self, request, context):
        await self.fake.faults.enter("PreviewInvoiceCredits", context)
        entries = self.fake.allocate(request.invoice)
        return ic_pb.PreviewInvoiceCreditsResponse(
            credit_allocation=self.fake._allocation("", request.invoice.currency, entries)
        )

    async def ReinstateInvoiceCredits(self, request, context):
        await self.fake.faults.enter("ReinstateInvoiceCredits", context)
        if request.invoice_id not in self.fake.applied:
            await abort_with_reason(context, grpc.StatusCode.FAILED_PRECONDITION, "INVOICE_NOT_APPLIED")
        if request.invoice_id not in self.fake.reinstated:
            per_grant: dict[str, int] = {}
            for _, grant_id, amount, _ in self.fake.applied[request.invoice_id]:
                per_grant[grant_id] = per_grant.get(grant_id, 0) + amount
            for grant_id, amount in per_grant.items():
                next(g for g in self.fake.grants if g.id == grant_id).ledger += amount
            self.fake.reinstated[request.invoice_id] = [f"{g}:{_next('cbt')}" for g in per_grant]
        transactions = []
        for entry in self.fake.reinstated[request.invoice_id]:
            grant_id, transaction_id = entry.split(":")
            transactions.append(
                credit_balance_pb2.CreditBalanceTransaction(
                    id=transaction_id,
                    credit_grant_id=grant_id,
                    credit=credit_balance_pb2.CreditBalanceTransactionCredit(),
                )
            )
        return ic_pb.ReinstateInvoiceCreditsResponse(credit_balance_transactions=transactions)

    async def ExpireDueCreditGrants(self, request, context):
        await self.fake.faults.enter("ExpireDueCreditGrants", context)
        as_of = request.as_of.ToDatetime()
        self.fake.expiry_calls.append((as_of, tuple(request.customer_ids)))
        count = 0
        for grant in self.fake.grants:
            if request.customer_ids and grant.customer_id not in request.customer_ids:
                continue
            if (
                grant.expire_time is not None
                and grant.expire_time.replace(tzinfo=None) <= as_of
                and grant.ledger
            ):
                grant.ledger = 0
                count += 1
        return ic_pb.ExpireDueCreditGrantsResponse(expired_grant_count=count, transaction_count=count)


class _Grants(grant_grpc.CreditGrantServiceServicer):
    def __init__(self, fake: FakeCredits) -> None:
        self.fake = fake

    async def CreateCreditGrant(self, request, context):
        await self.fake.faults.enter("CreateCreditGrant", context)
        if self.fake.grant_limit_reached:
            await abort_with_reason(context, grpc.StatusCode.FAILED_PRECONDITION, "GRANT_LIMIT_REACHED")
        given = request.credit_grant
        if request.request_id not in self.fake.created_grants:
            amount = money_from_proto(given.amount, "amount")
            grant = self.fake.grant(
                given.customer_id,
                amount.minor,
                amount.currency,
                priority=given.priority,
                price_ids=tuple(given.applicability_config.prices.price_ids),
            )
            self.fake.created_grants[request.request_id] = grant.id
        response = grant_pb.CreateCreditGrantResponse(
            credit_grant=credit_grant_pb2.CreditGrant(id=self.fake.created_grants[request.request_id])
        )
        await self.fake.faults.leave("CreateCreditGrant", context)
        return response


class _Balances(balance_grpc.CreditBalanceServiceServicer):
    def __init__(self, fake: FakeCredits) -> None:
        self.fake = fake

    async def GetCreditBalanceSummary(self, request, context):
        per_currency: dict[str, list[int]] = {}
        for grant in self.fake.grants:
            if grant.customer_id == request.customer_id:
                entry = per_currency.setdefault(grant.currency, [0, 0])
                entry[0] += self.fake.available(grant)
                entry[1] += grant.ledger
        return balance_pb.GetCreditBalanceSummaryResponse(
            credit_balance_summary=credit_balance_pb2.CreditBalanceSummary(
                customer_id=request.customer_id,
                balances=[
                    credit_balance_pb2.CreditBalance(
                        available_balance=money_to_proto(Money(c, v[0])),
                        ledger_balance=money_to_proto(Money(c, v[1])),
                    )
                    for c, v in sorted(per_currency.items())
                ],
            )
        )


@dataclass
class Fakes:
    metering: FakeMetering
    credits: FakeCredits
    metering_address: str
    credits_address: str


@asynccontextmanager
async def serve_fakes() -> AsyncIterator[Fakes]:
    metering, credits = FakeMetering(), FakeCredits()
    metering_server, credits_server = grpc.aio.server(), grpc.aio.server()
    meter_grpc.add_MeterServiceServicer_to_server(_Meters(metering), metering_server)
    event_grpc.add_MeterEventServiceServicer_to_server(_Events(metering), metering_server)
    ic_grpc.add_InvoiceCreditServiceServicer_to_server(_InvoiceCredits(credits), credits_server)
    grant_grpc.add_CreditGrantServiceServicer_to_server(_Grants(credits), credits_server)
    balance_grpc.add_CreditBalanceServiceServicer_to_server(_Balances(credits), credits_server)
    metering_port = metering_server.add_insecure_port("127.0.0.1:0")
    credits_port = credits_server.add_insecure_port("127.0.0.1:0")
    await metering_server.start()
    await credits_server.start()
    try:
        yield Fakes(metering, credits, f"127.0.0.1:{metering_port}", f"127.0.0.1:{credits_port}")
    finally:
        await metering_server.stop(0)
        await credits_server.stop(0)


@dataclass
class Invoicing:
    """An invoicing server (one or more replicas) wired to the fakes, with stubs and a key."""

    fakes: Fakes
    servers: list[RunningServer]
    channel: grpc.aio.Channel
    metadata: tuple[tuple[str, str], ...]
    database_url: str

    @property
    def customers(self) -> customer_service_pb2_grpc.CustomerServiceStub:
        return customer_service_pb2_grpc.CustomerServiceStub(self.channel)

    @property
    def catalog(self) -> catalog_service_pb2_grpc.CatalogServiceStub:
        return catalog_service_pb2_grpc.CatalogServiceStub(self.channel)

    @property
    def subscriptions(self) -> subscription_service_pb2_grpc.SubscriptionServiceStub:
        return subscription_service_pb2_grpc.SubscriptionServiceStub(self.channel)

    @property
    def invoices(self) -> invoice_service_pb2_grpc.InvoiceServiceStub:
        return invoice_service_pb2_grpc.InvoiceServiceStub(self.channel)

    @property
    def clocks(self) -> test_clock_service_pb2_grpc.TestClockServiceStub:
        return test_clock_service_pb2_grpc.TestClockServiceStub(self.channel)


@asynccontextmanager
async def invoicing_on_fakes(
    database_url: str, *, clock: Clock | None = None, replicas: int = 1
) -> AsyncIterator[Invoicing]:
    """Invoicing replicas on 127.0.0.1 port 0, calling the fakes."""
    async with serve_fakes() as fakes:
        settings = test_settings(
            metering_address=fakes.metering_address, credits_address=fakes.credits_address
        )
        servers: list[RunningServer] = []
        try:
            for _ in range(replicas):
                servers.append(
                    await start_server(
                        suite.definition("invoicing"), settings, database_url, port=0, clock=clock
                    )
                )
            admin = auth_store.create_key(database_url, Role.ADMIN, label="invoicing test").token
            channel = grpc.aio.insecure_channel(servers[0].address)
            try:
                yield Invoicing(fakes, servers, channel, bearer(admin), database_url)
            finally:
                await channel.close()
        finally:
            for server in servers:
                await server.stop(grace=1)
