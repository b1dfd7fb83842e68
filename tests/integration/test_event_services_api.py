"""Each service's EventService through real channels (E-1..E-3): a change's event is
listed with its resource and request id, a stream resumed from a cursor misses nothing,
a stream from now gets only what commits later, and bad or expired cursors are refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import grpc
import pytest

from drawdown.db.engine import Database
from drawdown.events.log import EventLog
from drawdown.metering.v1 import event_service_pb2 as events_pb
from drawdown.metering.v1 import event_service_pb2_grpc as events_grpc
from drawdown.metering.v1 import meter_pb2
from drawdown.metering.v1 import meter_service_pb2 as meter_pb
from drawdown.metering.v1 import meter_service_pb2_grpc as meter_grpc
from drawdown.type.v1 import event_pb2
from metering_service.store.schema import EVENT_TABLES
from tests.support.harness import Suite, bearer

# Later than any event a test records, whatever today is.
EVERYTHING_BEFORE = datetime(9999, 1, 1, tzinfo=UTC)


def new_meter(event_name: str) -> meter_pb2.Meter:
    return meter_pb2.Meter(
        display_name=event_name,
        event_name=event_name,
        aggregation_formula=meter_pb2.AGGREGATION_FORMULA_SUM,
    )


async def create_meter(suite: Suite, event_name: str, request_id: str = "") -> meter_pb2.Meter:
    stub = meter_grpc.MeterServiceStub(suite.channel("metering"))
    response = await stub.CreateMeter(
        meter_pb.CreateMeterRequest(meter=new_meter(event_name), request_id=request_id),
        metadata=bearer(suite.admin_key),
    )
    return response.meter


def data_of(event: event_pb2.Event) -> meter_pb2.Meter:
    meter = meter_pb2.Meter()
    assert event.data.Unpack(meter)
    return meter


async def test_meter_changes_are_listed_once_each_with_the_meter_and_the_request_id(
    running_suite: Suite,
) -> None:
    auth = bearer(running_suite.admin_key)
    meters = meter_grpc.MeterServiceStub(running_suite.channel("metering"))
    events = events_grpc.EventServiceStub(running_suite.channel("metering"))
    meter = await create_meter(running_suite, "tokens_in", request_id="create-tokens-in")
    await create_meter(running_suite, "tokens_in", request_id="create-tokens-in")  # a retry
    for _ in range(2):  # the second deactivation changes nothing
        await meters.DeactivateMeter(meter_pb.DeactivateMeterRequest(meter_id=meter.id), metadata=auth)
    await meters.ReactivateMeter(meter_pb.ReactivateMeterRequest(meter_id=meter.id), metadata=auth)

    listed = (await events.ListEvents(events_pb.ListEventsRequest(page_size=100), metadata=auth)).events
    assert [e.type for e in listed] == ["meter.created", "meter.deactivated", "meter.reactivated"]
    assert [data_of(e).status for e in listed] == [
        meter_pb2.METER_STATUS_ACTIVE,
        meter_pb2.METER_STATUS_INACTIVE,
        meter_pb2.METER_STATUS_ACTIVE,
    ]
    assert {data_of(e).id for e in listed} == {meter.id}
    assert listed[0].request_id == "create-tokens-in"
    assert [e.customer_id for e in listed] == ["", "", ""]
    assert all(e.id.startswith("evt_") for e in listed)
    assert [int(e.cursor) for e in listed] == sorted(int(e.cursor) for e in listed)

    only = await events.ListEvents(
        events_pb.ListEventsRequest(types=["meter.deactivated"], page_size=100), metadata=auth
    )
    assert [e.type for e in only.events] == ["meter.deactivated"]
    first_page = await events.ListEvents(events_pb.ListEventsRequest(page_size=2), metadata=auth)
    second_page = await events.ListEvents(
        events_pb.ListEventsRequest(page_size=2, page_token=first_page.next_page_token), metadata=auth
    )
    assert [e.id for e in (*first_page.events, *second_page.events)] == [e.id for e in listed]
    assert second_page.next_page_token == ""
    after_first = await events.ListEvents(
        events_pb.ListEventsRequest(after_cursor=listed[0].cursor, page_size=100), metadata=auth
    )
    assert [e.id for e in after_first.events] == [e.id for e in listed[1:]]


async def test_a_stream_resumed_from_its_cursor_misses_nothing(running_suite: Suite) -> None:
    auth = bearer(running_suite.admin_key)
    events = events_grpc.EventServiceStub(running_suite.channel("metering"))
    before = await create_meter(running_suite, "m_before")

    stream = events.StreamEvents(events_pb.StreamEventsRequest(), metadata=auth)  # from now
    # "Now" is where the server stands when it takes the call, which may be after some
    # meters below commit: the stream gets a run of them, in order, and never m_before.
    created: list[str] = []
    enough = asyncio.Event()

    async def keep_creating() -> None:
        while not enough.is_set() and len(created) < 100:
            created.append((await create_meter(running_suite, f"m_{len(created)}")).id)

    creating = asyncio.create_task(keep_creating())
    received = [data_of((await asyncio.wait_for(stream.read(), 30)).event).id for _ in range(2)]
    stream.cancel()  # a client that disconnects after two events
    enough.set()
    await creating
    ids = list(created)
    assert before.id not in received
    first = ids.index(received[0])
    assert received == ids[first : first + 2]

    more = [await create_meter(running_suite, f"m_later_{n}") for n in range(2)]
    listed = await events.ListEvents(events_pb.ListEventsRequest(page_size=100), metadata=auth)
    cursor = next(e.cursor for e in listed.events if data_of(e).id == received[-1])
    resumed = events.StreamEvents(events_pb.StreamEventsRequest(after_cursor=cursor), metadata=auth)
    expected = [*ids[first + 2 :], *(m.id for m in more)]
    rest = [data_of((await asyncio.wait_for(resumed.read(), 30)).event).id for _ in expected]
    resumed.cancel()
    assert rest == expected


async def test_a_stream_filtered_by_type_gets_only_those_events(running_suite: Suite) -> None:
    auth = bearer(running_suite.admin_key)
    meters = meter_grpc.MeterServiceStub(running_suite.channel("metering"))
    events = events_grpc.EventServiceStub(running_suite.channel("metering"))
    stream = events.StreamEvents(
        events_pb.StreamEventsRequest(after_cursor="0", types=["meter.deactivated"]), metadata=auth
    )
    first = await create_meter(running_suite, "a_meter")
    second = await create_meter(running_suite, "b_meter")
    for meter in (first, second):
        await meters.DeactivateMeter(meter_pb.DeactivateMeterRequest(meter_id=meter.id), metadata=auth)
    received = [await asyncio.wait_for(stream.read(), 30) for _ in range(2)]
    stream.cancel()
    assert [(r.event.type, data_of(r.event).id) for r in received] == [
        ("meter.deactivated", first.id),
        ("meter.deactivated", second.id),
    ]


async def test_bad_and_expired_cursors_are_refused(running_suite: Suite) -> None:
    auth = bearer(running_suite.admin_key)
    events = events_grpc.EventServiceStub(running_suite.channel("metering"))
    with pytest.raises(grpc.aio.AioRpcError) as bad:
        await events.ListEvents(events_pb.ListEventsRequest(after_cursor="evt_1"), metadata=auth)
    assert bad.value.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert "after_cursor" in (bad.value.details() or "")

    for n in range(3):
        await create_meter(running_suite, f"old_{n}")
    database = Database(running_suite.database_url, pool_size=2)
    try:
        assert await EventLog(database, EVENT_TABLES).prune(EVERYTHING_BEFORE) == 3
    finally:
        await database.dispose()
    with pytest.raises(grpc.aio.AioRpcError) as expired:
        stream = events.StreamEvents(events_pb.StreamEventsRequest(after_cursor="1"), metadata=auth)
        await stream.read()
    assert expired.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert "CURSOR_EXPIRED" in str(expired.value.trailing_metadata())
