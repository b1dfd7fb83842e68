"""Credits' events through real servers (E-1..E-3): each grant change, each ledger
transaction and each grant an application depletes is recorded once, with its customer,
its test clock, its request id and the resource as the API shows it; refused and
replayed calls, holds and draws that post nothing record nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2

from drawdown.credits.v1 import credit_balance_pb2 as balance_pb
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import event_service_pb2 as events_pb
from drawdown.credits.v1 import event_service_pb2_grpc as events_grpc
from drawdown.credits.v1 import test_clock_time_service_pb2 as clock_pb
from drawdown.credits.v1 import test_clock_time_service_pb2_grpc as clock_grpc
from drawdown.rpc.convert import timestamp_to_proto
from drawdown.type.v1 import event_pb2
from tests.integration.credits.credit_api_builders import (
    JENNY,
    T0,
    CreditsClient,
    invoice,
    line,
    minor,
    new_grant,
    reason,
)
from tests.support.harness import Suite

GRANT_CREATED = "credit_grant.created"
GRANT_UPDATED = "credit_grant.updated"
GRANT_EXPIRED = "credit_grant.expired"
GRANT_VOIDED = "credit_grant.voided"
GRANT_DEPLETED = "credit_grant.depleted"
TRANSACTION_CREATED = "credit_balance_transaction.created"
CLOCKED = "cus_clocked"
CLOCK = "clock_1"


@pytest.fixture
def credits(running_suite: Suite) -> CreditsClient:
    return CreditsClient.on(running_suite)


@pytest.fixture
def events(running_suite: Suite) -> events_grpc.EventServiceStub:
    return events_grpc.EventServiceStub(running_suite.channel("credits"))


async def listed(events: events_grpc.EventServiceStub, credits: CreditsClient) -> list[event_pb2.Event]:
    """Every credits event so far, in commit order."""
    found: list[event_pb2.Event] = []
    token = ""
    while True:
        page = await events.ListEvents(
            events_pb.ListEventsRequest(page_size=100, page_token=token), metadata=credits.admin
        )
        found += page.events
        token = page.next_page_token
        if not token:
            return found


def grant_of(event: event_pb2.Event) -> grant_pb.CreditGrant:
    grant = grant_pb.CreditGrant()
    assert event.data.Unpack(grant), event.data.type_url
    return grant


def transaction_of(event: event_pb2.Event) -> balance_pb.CreditBalanceTransaction:
    transaction = balance_pb.CreditBalanceTransaction()
    assert event.data.Unpack(transaction), event.data.type_url
    return transaction


def subject_of(event: event_pb2.Event) -> tuple[str, str]:
    """The event's type and the id of the resource it carries."""
    if event.type == TRANSACTION_CREATED:
        return event.type, transaction_of(event).id
    return event.type, grant_of(event).id


async def test_e1_grant_changes_are_recorded_once_with_the_grant_and_its_transactions(
    credits: CreditsClient, events: events_grpc.EventServiceStub
) -> None:
    created = await credits.create(request_id="create-kept")
    assert await credits.create(request_id="create-kept") == created  # a replay records nothing
    updated = (
        await credits.grants.UpdateCreditGrant(
            grant_service_pb.UpdateCreditGrantRequest(
                credit_grant=grant_pb.CreditGrant(id=created.id, metadata={"plan": "pro"}),
                update_mask=field_mask_pb2.FieldMask(paths=["metadata"]),
                request_id="update-kept",
            ),
            metadata=credits.admin,
        )
    ).credit_grant
    to_void = await credits.create(request_id="create-to-void")
    voided = (
        await credits.grants.VoidCreditGrant(
            grant_service_pb.VoidCreditGrantRequest(id=to_void.id, request_id="void"), metadata=credits.admin
        )
    ).credit_grant
    to_expire = await credits.create(request_id="create-to-expire")
    expired = (
        await credits.grants.ExpireCreditGrant(
            grant_service_pb.ExpireCreditGrantRequest(id=to_expire.id, request_id="expire"),
            metadata=credits.admin,
        )
    ).credit_grant
    with pytest.raises(grpc.aio.AioRpcError) as again:  # expiring an expired grant changes nothing
        await credits.grants.ExpireCreditGrant(
            grant_service_pb.ExpireCreditGrantRequest(id=to_expire.id, request_id="expire-again"),
            metadata=credits.admin,
        )
    assert reason(again.value) == "GRANT_EXPIRED"
    with pytest.raises(grpc.aio.AioRpcError) as refused:  # refused under the customer's lock
        await credits.create(new_grant(expire_time=timestamp_to_proto(T0 - timedelta(days=1))), "refused")
    assert reason(refused.value) == "INVALID_EXPIRY"

    recorded = await listed(events, credits)
    ledgers = {  # each grant's transactions, oldest first
        g.id: [t.id for t in reversed(await credits.transactions(grant_id=g.id))]
        for g in (created, to_void, to_expire)
    }
    assert [(subject_of(e), e.request_id) for e in recorded] == [
        ((GRANT_CREATED, created.id), "create-kept"),
        ((TRANSACTION_CREATED, ledgers[created.id][0]), "create-kept"),
        ((GRANT_UPDATED, created.id), "update-kept"),
        ((GRANT_CREATED, to_void.id), "create-to-void"),
        ((TRANSACTION_CREATED, ledgers[to_void.id][0]), "create-to-void"),
        ((GRANT_VOIDED, to_void.id), "void"),
        ((TRANSACTION_CREATED, ledgers[to_void.id][1]), "void"),
        ((GRANT_CREATED, to_expire.id), "create-to-expire"),
        ((TRANSACTION_CREATED, ledgers[to_expire.id][0]), "create-to-expire"),
        ((GRANT_EXPIRED, to_expire.id), "expire"),
        ((TRANSACTION_CREATED, ledgers[to_expire.id][1]), "expire"),
    ]
    # The data is the resource as the call answered it, or as the ledger lists it.
    assert [grant_of(e) for e in recorded if e.type != TRANSACTION_CREATED] == [
        created,
        updated,
        to_void,
        voided,
        to_expire,
        expired,
    ]
    ledger = {t.id: t for t in await credits.transactions()}
    posted = [transaction_of(e) for e in recorded if e.type == TRANSACTION_CREATED]
    assert posted == [ledger[t.id] for t in posted]
    assert {(e.customer_id, e.test_clock_id) for e in recorded} == {(JENNY, "")}


async def test_e1_draws_record_their_transactions_and_the_grants_they_deplete(
    credits: CreditsClient, events: events_grpc.EventServiceStub
) -> None:
    grant = await credits.create(new_grant(1000), request_id="grant")
    before = len(await listed(events, credits))
    first, second = invoice("in_1", line("il_1", 600)), invoice("in_2", line("il_1", 900))
    await credits.hold(first)  # holds post nothing
    await credits.hold(second)
    await credits.apply(invoice("in_licensed", line("il_1", 500, metered=False)))  # no credit: nothing posted
    assert len(await listed(events, credits)) == before

    applied = await credits.apply(first, request_id="apply-1")
    assert await credits.apply(first, request_id="apply-1") == applied  # a replay
    assert await credits.apply(first, request_id="apply-1-later") == applied  # applied once per invoice
    emptied = await credits.apply(second, request_id="apply-2")
    # As GetCreditGrant shows the grant at the application's moment, before it gets credit back.
    shown_depleted = await credits.get(grant.id, as_of=second.as_of.ToDatetime(tzinfo=UTC))
    reinstated = await credits.reinstate("in_2", T0 + timedelta(days=40), request_id="void-2")
    assert await credits.reinstate("in_2", T0 + timedelta(days=40), request_id="void-2-later") == reinstated

    recorded = (await listed(events, credits))[before:]
    drawn = [entry.credit_balance_transaction_id for entry in (*applied.line_credits, *emptied.line_credits)]
    assert [(subject_of(e), e.request_id) for e in recorded] == [
        ((TRANSACTION_CREATED, drawn[0]), "apply-1"),
        ((TRANSACTION_CREATED, drawn[1]), "apply-2"),
        ((GRANT_DEPLETED, grant.id), "apply-2"),
        ((TRANSACTION_CREATED, reinstated[0].id), "void-2"),
    ]
    ledger = {t.id: t for t in await credits.transactions()}
    assert [transaction_of(e) for e in recorded if e.type == TRANSACTION_CREATED] == [
        ledger[drawn[0]],
        ledger[drawn[1]],
        reinstated[0],
    ]
    depleted = grant_of(recorded[2])
    assert depleted == shown_depleted
    assert depleted.status == grant_pb.CREDIT_GRANT_STATUS_DEPLETED
    assert (minor(depleted.ledger_balance), minor(depleted.available_balance)) == (0, 0)
    assert {(e.customer_id, e.test_clock_id) for e in recorded} == {(JENNY, "")}


async def test_e1_a_batch_records_each_entrys_events_and_a_refused_batch_none(
    credits: CreditsClient, events: events_grpc.EventServiceStub
) -> None:
    grants = {
        customer: await credits.create(new_grant(amount, customer_id=customer))
        for customer, amount in (("cus_a", 1000), ("cus_b", 300))
    }
    before = len(await listed(events, credits))
    batch = [
        invoice("in_a", line("il_1", 400), customer_id="cus_a"),
        invoice("in_b", line("il_1", 500), customer_id="cus_b"),
    ]
    await credits.batch_hold(batch)
    assert len(await listed(events, credits)) == before

    # The second entry repeats the first one's request id for another invoice: the whole
    # batch is refused, and the first entry's application, which would post, with it.
    refused_batch = [
        invoice("in_c", line("il_1", 100), customer_id="cus_a"),
        invoice("in_d", line("il_1", 100), customer_id="cus_a"),
    ]
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await credits.batch_apply(refused_batch, request_ids=["apply-c", "apply-c"])
    assert reason(refused.value) == "REQUEST_ID_REUSED"
    assert len(await listed(events, credits)) == before

    applied = await credits.batch_apply(batch, request_ids=["apply-a", "apply-b"])
    assert await credits.batch_apply(batch, request_ids=["apply-a", "apply-b"]) == applied  # replayed
    recorded = (await listed(events, credits))[before:]
    [a_debit], [b_debit] = ([e.credit_balance_transaction_id for e in a.line_credits] for a in applied)
    assert [(subject_of(e), e.customer_id, e.request_id) for e in recorded] == [
        ((TRANSACTION_CREATED, a_debit), "cus_a", "apply-a"),
        ((TRANSACTION_CREATED, b_debit), "cus_b", "apply-b"),
        ((GRANT_DEPLETED, grants["cus_b"].id), "cus_b", "apply-b"),
    ]
    assert grant_of(recorded[2]).status == grant_pb.CREDIT_GRANT_STATUS_DEPLETED
    assert minor(transaction_of(recorded[1]).debit.amount) == 300


async def test_e1_a_test_clock_customers_events_name_its_clock_and_the_sweep_records_expiries(
    running_suite: Suite, credits: CreditsClient, events: events_grpc.EventServiceStub
) -> None:
    clocks = clock_grpc.TestClockTimeServiceStub(running_suite.channel("credits"))
    await clocks.SetTestClockTime(
        clock_pb.SetTestClockTimeRequest(
            test_clock_id=CLOCK, frozen_time=timestamp_to_proto(T0), customer_ids=[CLOCKED]
        ),
        metadata=credits.service,
    )
    expires = T0 + timedelta(days=30)
    grant = await credits.create(
        new_grant(800, customer_id=CLOCKED, expire_time=timestamp_to_proto(expires)), "clocked"
    )
    await credits.apply(
        invoice("in_clocked", line("il_1", 300), customer_id=CLOCKED, period_end=T0 + timedelta(days=1))
    )
    sweep = expires + timedelta(minutes=1)
    assert (await credits.expire_due(sweep, customer_ids=[CLOCKED])).expired_grant_count == 1
    assert (await credits.expire_due(sweep, "sweep-again", customer_ids=[CLOCKED])).expired_grant_count == 0
    on_wall = await credits.create(new_grant(100, customer_id="cus_walled"))

    recorded = await listed(events, credits)
    assert [e.type for e in recorded] == [
        GRANT_CREATED,
        TRANSACTION_CREATED,
        TRANSACTION_CREATED,
        GRANT_EXPIRED,
        TRANSACTION_CREATED,
        GRANT_CREATED,
        TRANSACTION_CREATED,
    ]
    assert [(e.customer_id, e.test_clock_id) for e in recorded] == [(CLOCKED, CLOCK)] * 5 + [
        ("cus_walled", "")
    ] * 2
    assert recorded[3].request_id == f"sweep-{sweep.isoformat()}"
    assert grant_of(recorded[3]) == await credits.get(grant.id, as_of=sweep)
    assert grant_of(recorded[3]).status == grant_pb.CREDIT_GRANT_STATUS_EXPIRED
    expiry = transaction_of(recorded[4])
    assert (expiry.debit.type, minor(expiry.debit.amount)) == (
        balance_pb.CREDIT_BALANCE_TRANSACTION_DEBIT_TYPE_CREDITS_EXPIRED,
        500,
    )
    assert grant_of(recorded[5]).id == on_wall.id


async def test_e3_credits_streams_its_events_from_a_cursor_and_as_they_commit(
    credits: CreditsClient, events: events_grpc.EventServiceStub
) -> None:
    first = await credits.create()
    stream = events.StreamEvents(events_pb.StreamEventsRequest(after_cursor="0"), metadata=credits.admin)
    received = [await asyncio.wait_for(stream.read(), 30) for _ in range(2)]
    second = await credits.create()
    received += [await asyncio.wait_for(stream.read(), 30) for _ in range(2)]
    stream.cancel()
    assert [subject_of(r.event)[0] for r in received] == [GRANT_CREATED, TRANSACTION_CREATED] * 2
    assert [grant_of(r.event).id for r in received if r.event.type == GRANT_CREATED] == [first.id, second.id]
    assert [r.event.cursor for r in received] == [e.cursor for e in await listed(events, credits)]
