"""Test clocks in metering (I-18) through a real server: a customer on a clock sends usage
for the clock's time, events without a timestamp happen at it, other customers stay on
the wall clock, and only service keys may tell metering about clocks (X-9).

The suite's wall clock is frozen at ``NOW``; the test clock stands 40 days after it, so
an event at the clock's time is "in the future" for anyone judged by the wall clock.
"""

from __future__ import annotations

from datetime import timedelta

import grpc
import pytest

from drawdown.auth.roles import Role
from drawdown.metering.v1 import test_clock_time_service_pb2 as clock_pb
from drawdown.metering.v1 import test_clock_time_service_pb2_grpc as clock_grpc
from drawdown.rpc.convert import timestamp_to_proto
from tests.integration.metering.metering_client import JENNY, NOW, Metering, error_of, event
from tests.support.harness import bearer

CLOCK_TIME = NOW + timedelta(days=40)
CLOCK = "clock_1"
WALLED = "cus_walled"
DAY = timedelta(days=1)


@pytest.fixture
def clocks(metering: Metering) -> clock_grpc.TestClockTimeServiceStub:
    return clock_grpc.TestClockTimeServiceStub(metering.suite.channel("metering"))


@pytest.fixture
def service(metering: Metering) -> tuple[tuple[str, str], ...]:
    return bearer(metering.suite.key(Role.SERVICE))


async def set_time(clocks, service, clock_id=CLOCK, frozen_time=CLOCK_TIME, customers=(JENNY,)):
    return await clocks.SetTestClockTime(
        clock_pb.SetTestClockTimeRequest(
            test_clock_id=clock_id, frozen_time=timestamp_to_proto(frozen_time), customer_ids=customers
        ),
        metadata=service,
    )


async def test_i18_a_clock_customer_sends_usage_at_its_clock_time(
    metering: Metering, clocks, service
) -> None:
    meter = await metering.create_meter()
    await set_time(clocks, service)

    stamped = await metering.send(event("at-clock", "3", timestamp=CLOCK_TIME + timedelta(minutes=5)))
    unstamped = await metering.send(event("no-timestamp", "4"))
    with pytest.raises(grpc.aio.AioRpcError) as walled:
        await metering.send(event("walled", "1", customer=WALLED, timestamp=CLOCK_TIME))
    with pytest.raises(grpc.aio.AioRpcError) as too_old:
        await metering.send(event("wall-time", "1", timestamp=NOW))

    assert stamped.meter_event.timestamp.ToDatetime() == (CLOCK_TIME + timedelta(minutes=5)).replace(
        tzinfo=None
    )
    assert unstamped.meter_event.timestamp.ToDatetime() == CLOCK_TIME.replace(tzinfo=None)
    assert error_of(walled.value)[1] == "TIMESTAMP_TOO_FAR_IN_FUTURE"
    assert error_of(too_old.value)[1] == "TIMESTAMP_TOO_FAR_IN_PAST"
    assert await metering.total(meter.id, CLOCK_TIME - DAY, CLOCK_TIME + DAY) == 7


async def test_i18_batches_judge_each_customer_by_its_own_clock(metering: Metering, clocks, service) -> None:
    meter = await metering.create_meter()
    await set_time(clocks, service)

    reply = await metering.batch(
        [event("clocked", "2", timestamp=CLOCK_TIME), event("walled", "5", customer=WALLED, timestamp=NOW)]
    )

    assert (reply.accepted_count, reply.rejected_count) == (2, 0)
    assert await metering.total(meter.id, CLOCK_TIME - DAY, CLOCK_TIME + DAY) == 2
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY, customer_id=WALLED) == 5


async def test_i18_a_clock_only_moves_forward_and_a_customer_keeps_its_clock(clocks, service) -> None:
    await set_time(clocks, service)
    earlier = await set_time(clocks, service, frozen_time=CLOCK_TIME - DAY)
    with pytest.raises(grpc.aio.AioRpcError) as elsewhere:
        await set_time(clocks, service, clock_id="clock_2")

    assert earlier.frozen_time.ToDatetime() == CLOCK_TIME.replace(tzinfo=None)
    assert error_of(elsewhere.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "CUSTOMER_ON_OTHER_CLOCK")


async def test_i18_a_deleted_clock_puts_its_customers_back_on_the_wall_clock(
    metering: Metering, clocks, service
) -> None:
    await metering.create_meter()
    await set_time(clocks, service)
    request = clock_pb.DeleteTestClockTimeRequest(test_clock_id=CLOCK, request_id="delete-1")
    await clocks.DeleteTestClockTime(request, metadata=service)
    await clocks.DeleteTestClockTime(request, metadata=service)

    unstamped = await metering.send(event("after-delete", "1"))
    with pytest.raises(grpc.aio.AioRpcError) as future:
        await metering.send(event("at-old-clock", "1", timestamp=CLOCK_TIME))

    assert unstamped.meter_event.timestamp.ToDatetime() == NOW.replace(tzinfo=None)
    assert error_of(future.value)[1] == "TIMESTAMP_TOO_FAR_IN_FUTURE"


async def test_x9_only_service_keys_tell_metering_about_clocks(metering: Metering, clocks) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as admin:
        await set_time(clocks, metering.metadata)

    assert admin.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_i18_missing_fields_are_named(clocks, service) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as no_time:
        await clocks.SetTestClockTime(clock_pb.SetTestClockTimeRequest(test_clock_id=CLOCK), metadata=service)
    with pytest.raises(grpc.aio.AioRpcError) as too_many:
        await set_time(clocks, service, customers=[f"cus_{i}" for i in range(1_001)])

    assert error_of(no_time.value) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_ARGUMENT", ["frozen_time"])
    assert error_of(too_many.value) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ARGUMENT",
        ["customer_ids"],
    )


async def test_i18_a_clock_customers_events_are_received_and_cancelled_on_its_clock(
    metering: Metering, clocks, service
) -> None:
    meter = await metering.create_meter()
    await set_time(clocks, service)
    single = await metering.send(event("single", "2"))
    batch = await metering.batch([event("batched", "3"), event("walled", "5", customer=WALLED)])

    within = await metering.cancel(meter.event_name, "single")  # the wall clock has not moved
    await set_time(clocks, service, frozen_time=CLOCK_TIME + DAY + timedelta(seconds=1))
    with pytest.raises(grpc.aio.AioRpcError) as passed:
        await metering.cancel(meter.event_name, "batched")
    walled = await metering.cancel(meter.event_name, "walled")

    assert single.meter_event.create_time.ToDatetime() == CLOCK_TIME.replace(tzinfo=None)
    assert [r.create_time.ToDatetime() for r in batch.results] == [
        CLOCK_TIME.replace(tzinfo=None),
        NOW.replace(tzinfo=None),
    ]
    assert within.meter_event.cancel_time.ToDatetime() == CLOCK_TIME.replace(tzinfo=None)
    assert error_of(passed.value)[:2] == (grpc.StatusCode.FAILED_PRECONDITION, "CANCELLATION_WINDOW_PASSED")
    assert walled.meter_event.cancel_time.ToDatetime() == NOW.replace(tzinfo=None)
    assert await metering.total(meter.id, CLOCK_TIME - DAY, CLOCK_TIME + DAY) == 3
