"""Concurrent clients with overlapping identifiers: each event counts exactly once (M-13, M-14)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from tests.integration.metering.metering_client import NOW, Metering, event

ACCEPTED = meter_event_pb2.METER_EVENT_RESULT_STATUS_ACCEPTED
DUPLICATE = meter_event_pb2.METER_EVENT_RESULT_STATUS_DUPLICATE
IDENTIFIERS = 300


def _event(number: int) -> meter_event_pb2.MeterEvent:
    # Same identifier, same content in every client; two customers and two hours of timestamps.
    return event(
        f"evt-{number}",
        str(number % 7 + 1),
        customer=f"cus_{number % 2}",
        timestamp=NOW - timedelta(minutes=number % 120),
    )


async def _client(metering: Metering, client: int) -> list[tuple[str, int]]:
    """Client i sends every identifier, starting at a different offset, by batch, stream or one by one."""
    order = [(client * 37 + step) % IDENTIFIERS for step in range(IDENTIFIERS)]
    outcomes: list[tuple[str, int]] = []
    if client % 3 == 0:
        for start in range(0, IDENTIFIERS, 40):
            reply = await metering.batch([_event(n) for n in order[start : start + 40]])
            outcomes += [(r.identifier, r.status) for r in reply.results]
    elif client % 3 == 1:
        call = metering.events.StreamMeterEvents(metadata=metering.metadata)
        for sequence, start in enumerate(range(0, IDENTIFIERS, 60)):
            chunk = order[start : start + 60]
            await call.write(
                event_pb.StreamMeterEventsRequest(sequence=sequence, events=[_event(n) for n in chunk])
            )
            reply = await call.read()
            not_accepted = {r.index: r.status for r in reply.results}
            outcomes += [(f"evt-{n}", not_accepted.get(i, ACCEPTED)) for i, n in enumerate(chunk)]
        await call.done_writing()
    else:
        replies = await asyncio.gather(*(metering.send(_event(n)) for n in order))
        outcomes += [(r.meter_event.identifier, DUPLICATE if r.duplicate else ACCEPTED) for r in replies]
    return outcomes


async def _client_on_own_connection(metering: Metering, client: int) -> list[tuple[str, int]]:
    async with metering.on_own_connection() as own:
        return await _client(own, client)


async def test_eight_clients_with_overlapping_identifiers_count_each_event_once(metering: Metering) -> None:
    meter = await metering.create_meter()
    results = await asyncio.gather(*(_client_on_own_connection(metering, client) for client in range(8)))
    accepted = Counter(
        identifier for outcomes in results for identifier, status in outcomes if status == ACCEPTED
    )
    statuses = {status for outcomes in results for _, status in outcomes}
    assert statuses <= {ACCEPTED, DUPLICATE}
    assert accepted == Counter({f"evt-{n}": 1 for n in range(IDENTIFIERS)})
    for customer in (0, 1):
        expected = sum(n % 7 + 1 for n in range(IDENTIFIERS) if n % 2 == customer)
        total = await metering.total(
            meter.id, NOW - timedelta(days=1), NOW + timedelta(days=1), f"cus_{customer}"
        )
        assert total == expected


async def test_concurrent_formula_meters_stay_exact_under_overlap(metering: Metering) -> None:
    meter = await metering.create_meter("peak", meter_pb2.AGGREGATION_FORMULA_MAX)
    batches = [
        [event(f"p-{(c + i) % 50}", str((c + i) % 50), event_name="peak") for i in range(25)]
        for c in range(8)
    ]
    await asyncio.gather(*(metering.batch(batch) for batch in batches))
    (row,) = await metering.summaries(meter.id, NOW - timedelta(days=1), NOW + timedelta(days=1))
    assert row.event_count == len({(c + i) % 50 for c in range(8) for i in range(25)})
    assert row.aggregated_value.value == str(max((c + i) % 50 for c in range(8) for i in range(25)))
