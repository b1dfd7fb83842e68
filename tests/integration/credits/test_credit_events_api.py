"""Credits' events through real servers (E-1..E-3): each grant change and each ledger
transaction is recorded once, with its customer, its request id and the resource as the
API shows it; refused and replayed calls record nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import grpc
import pytest
from google.protobuf import field_mask_pb2

from drawdown.credits.v1 import credit_balance_pb2 as balance_pb
from drawdown.credits.v1 import credit_grant_pb2 as grant_pb
from drawdown.credits.v1 import credit_grant_service_pb2 as grant_service_pb
from drawdown.credits.v1 import event_service_pb2 as events_pb
from drawdown.credits.v1 import event_service_pb2_grpc as events_grpc
from drawdown.rpc.convert import timestamp_to_proto
from drawdown.type.v1 import event_pb2
from tests.integration.credits.credit_api_builders import (
    JENNY,
    T0,
    CreditsClient,
    new_grant,
    reason,
)
from tests.support.harness import Suite

GRANT_CREATED = "credit_grant.created"
GRANT_UPDATED = "credit_grant.updated"
GRANT_EXPIRED = "credit_grant.expired"
GRANT_VOIDED = "credit_grant.voided"
TRANSACTION_CREATED = "credit_balance_transaction.created"


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
