"""Metering's metrics through the real server (O-4): events accepted, duplicate and
rejected by reason, and the size of each ingestion transaction, by path."""

from __future__ import annotations

from datetime import timedelta

from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from tests.integration.metering.metering_client import NOW, Metering, event
from tests.support.scrape import delta, scrape

EVENTS = "drawdown_meter_events_total"
SIZES = "drawdown_meter_event_batch_size"


async def test_events_are_counted_by_outcome_and_reason_o4(metering: Metering) -> None:
    await metering.create_meter()
    before = scrape()
    await metering.batch(
        [
            event("m-1"),
            event("m-2"),
            event("m-3"),
            event("m-old", timestamp=NOW - timedelta(days=40)),
            event("m-typo", event_name="hypernian_input_tokenz"),
            event("m-1"),  # a replay within the batch
        ]
    )
    await metering.send(event("m-4"))
    await metering.send(event("m-4"))  # a replay of a stored event
    after = scrape()

    assert delta(before, after, EVENTS, outcome="accepted", reason="") == 4
    assert delta(before, after, EVENTS, outcome="duplicate", reason="") == 2
    assert delta(before, after, EVENTS, outcome="rejected", reason="TIMESTAMP_TOO_FAR_IN_PAST") == 1
    assert delta(before, after, EVENTS, outcome="rejected", reason="UNKNOWN_EVENT_NAME") == 1


async def test_each_ingestion_transaction_observes_its_size_by_path_o4(metering: Metering) -> None:
    await metering.create_meter()
    before = scrape()
    await metering.batch([event(f"b-{n}") for n in range(7)])
    await metering.send(event("s-1"))
    call = metering.events.StreamMeterEvents(metadata=metering.metadata)
    for sequence, size in ((1, 3), (2, 30)):
        await call.write(
            event_pb.StreamMeterEventsRequest(
                sequence=sequence, events=[event(f"st{sequence}-{n}") for n in range(size)]
            )
        )
        assert (await call.read()).sequence == sequence  # acknowledged: stored and counted
    await call.done_writing()
    after = scrape()

    assert delta(before, after, f"{SIZES}_count", path="batch") == 1
    assert delta(before, after, f"{SIZES}_sum", path="batch") == 7
    assert delta(before, after, f"{SIZES}_bucket", path="batch", le="5.0") == 0
    assert delta(before, after, f"{SIZES}_bucket", path="batch", le="10.0") == 1
    assert delta(before, after, f"{SIZES}_count", path="single") == 1
    assert delta(before, after, f"{SIZES}_sum", path="single") == 1
    assert delta(before, after, f"{SIZES}_count", path="stream") == 2
    assert delta(before, after, f"{SIZES}_sum", path="stream") == 33
    assert delta(before, after, EVENTS, outcome="accepted", reason="") == 7 + 1 + 33
