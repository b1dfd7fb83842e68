"""Streams with several batches in the database at once, through a real server (M-13..M-17)."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

from drawdown.metering.v1 import meter_event_pb2, meter_pb2
from drawdown.metering.v1 import meter_event_service_pb2 as event_pb
from tests.integration.metering.metering_client import NOW, Metering, event

ACCEPTED = meter_event_pb2.METER_EVENT_RESULT_STATUS_ACCEPTED
DUPLICATE = meter_event_pb2.METER_EVENT_RESULT_STATUS_DUPLICATE
REJECTED = meter_event_pb2.METER_EVENT_RESULT_STATUS_REJECTED
DAY = timedelta(days=1)
IDENTIFIERS = 200


def _event(number: int) -> meter_event_pb2.MeterEvent:
    return event(f"evt-{number}", str(number % 5 + 1), customer=f"cus_{number % 3}")


async def _stream(
    metering: Metering, batches: list[list[meter_event_pb2.MeterEvent]]
) -> list[tuple[str, int]]:
    """Sends every batch before reading any answer, so that they are in the database together."""
    call = metering.events.StreamMeterEvents(metadata=metering.metadata)
    for sequence, batch in enumerate(batches):
        await call.write(event_pb.StreamMeterEventsRequest(sequence=sequence, events=batch))
    await call.done_writing()
    outcomes: list[tuple[str, int]] = []
    for sequence, batch in enumerate(batches):
        reply = await call.read()
        assert reply.sequence == sequence  # answered in the order sent
        not_accepted = {r.index: r.status for r in reply.results}
        assert [r.index for r in reply.results] == sorted(not_accepted)
        outcomes += [(e.identifier, not_accepted.get(i, ACCEPTED)) for i, e in enumerate(batch)]
    return outcomes


async def test_m13_batches_in_flight_together_with_shared_identifiers_count_each_event_once(
    metering: Metering,
) -> None:
    meter = await metering.create_meter()
    # Each stream sends every identifier in 4 batches, in its own order (ascending, descending,
    # interleaved), so batches of one stream and of different streams share identifiers
    # while they hold row locks in opposite orders of sending.
    orders = [
        list(range(IDENTIFIERS)),
        list(reversed(range(IDENTIFIERS))),
        [n for parity in (1, 0) for n in range(parity, IDENTIFIERS, 2)],
        [(n * 7) % IDENTIFIERS for n in range(IDENTIFIERS)],
    ]
    results = await asyncio.gather(
        *(
            _stream(
                metering,
                [[_event(n) for n in order[start : start + 50]] for start in range(0, IDENTIFIERS, 50)],
            )
            for order in orders
        )
    )
    statuses = Counter(status for outcomes in results for _, status in outcomes)
    assert set(statuses) <= {ACCEPTED, DUPLICATE}
    accepted = Counter(
        identifier for outcomes in results for identifier, status in outcomes if status == ACCEPTED
    )
    assert accepted == Counter({f"evt-{n}": 1 for n in range(IDENTIFIERS)})
    for customer in range(3):
        expected = sum(n % 5 + 1 for n in range(IDENTIFIERS) if n % 3 == customer)
        assert await metering.total(meter.id, NOW - DAY, NOW + DAY, f"cus_{customer}") == expected


async def test_m13_a_later_batch_of_the_stream_sees_the_earlier_one_as_stored(metering: Metering) -> None:
    meter = await metering.create_meter()
    # The first batch is long, so the second would overtake it if nothing kept their order.
    first = [event(f"e{i}", "2") for i in range(100)] + [event(f"f{i}", "1") for i in range(3_000)]
    # The second replays half of the first (duplicates) and changes one (a conflict).
    second = [event(f"e{i}", "2") for i in range(50)] + [event("e99", "3"), event("new", "5")]
    outcomes = await _stream(metering, [first, second])
    assert Counter(status for _, status in outcomes[: len(first)]) == Counter({ACCEPTED: len(first)})
    assert outcomes[len(first) :] == [(f"e{i}", DUPLICATE) for i in range(50)] + [
        ("e99", REJECTED),
        ("new", ACCEPTED),
    ]
    assert await metering.total(meter.id, NOW - DAY, NOW + DAY) == 100 * 2 + 3_000 + 5


async def test_m17_the_batch_sent_last_is_received_last_even_when_in_flight_together(
    metering: Metering,
) -> None:
    gauge = await metering.create_meter("gauge", window=meter_pb2.EVENT_TIME_WINDOW_HOUR)
    latest = await metering.create_meter("latest", meter_pb2.AGGREGATION_FORMULA_LAST)
    await metering.create_meter("filler")
    at = NOW.replace(minute=0) + timedelta(minutes=10)
    # The first batch is long (it takes longer to validate and format); the second, short,
    # would reach the database first if batches did not draw their receipt order in turn.
    first = [
        event("g1", "1", event_name="gauge", timestamp=at),
        event("l1", "1", event_name="latest", timestamp=at),
    ]
    first += [event(f"f{i}", "1", event_name="filler") for i in range(5_000)]
    second = [
        event("g2", "2", event_name="gauge", timestamp=at),
        event("l2", "2", event_name="latest", timestamp=at),
    ]
    await _stream(metering, [first, second])
    assert await metering.total(gauge.id, NOW - DAY, NOW + DAY) == 2
    assert await metering.total(latest.id, NOW - DAY, NOW + DAY) == 2
