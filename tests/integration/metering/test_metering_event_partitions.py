"""Meter events in weekly partitions (O-6, M-13), through real servers on a frozen clock.

Identifiers stay unique across partitions (a retry after the week changes is a duplicate
or a conflict, also when it races the first sending across the switch), every accepted
event lands in a partition, and pruning drops only the partitions wholly older than
their retention, leaving summaries of whole hours (read from the rollups) as they were.

Every moment derives from PERIOD, a fixed Monday far from any test run's date (the
migration opens the partition of the week it runs in, which PERIOD follows).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import grpc
import psycopg
import pytest

from drawdown.clock import FrozenClock
from drawdown.db.engine import Database
from drawdown.db.migrations import upgrade
from drawdown.db.urls import libpq_url
from drawdown.metering.v1 import meter_pb2
from metering_service.store.partitions import INGEST_LOCK, RAW_EVENT_RETENTION, EventPartitions, week_of
from metering_service.store.schema import MIGRATIONS
from tests.integration.metering.metering_client import Metering, error_of, event
from tests.support.harness import bearer, start_suite

PERIOD = datetime(2040, 1, 2, tzinfo=UTC)  # a Monday: the first week under test
WEEK = timedelta(days=7)
BOUNDARY = PERIOD + WEEK  # where the second week's partition begins
MINUTE = timedelta(minutes=1)


@pytest.fixture
def clock() -> FrozenClock:
    """The server's clock, a week before PERIOD: its maintenance opens that week at start."""
    return FrozenClock(PERIOD - WEEK)


@pytest.fixture
async def metering(database_url: str, clock: FrozenClock) -> AsyncIterator[Metering]:
    """Metering on ``clock``, once its maintenance has run at start (opened the week of
    ``clock`` and dropped the migration's partition of older events), so that it changes
    nothing under the test; the test then maintains the partitions itself."""
    async with start_suite(database_url, clock=clock) as suite:
        await _until(lambda: _started_maintenance_done(database_url))
        yield Metering(suite, bearer(suite.admin_key))


async def _started_maintenance_done(database_url: str) -> bool:
    weeks = dict(_rows(database_url, "SELECT week, opened_at IS NOT NULL FROM metering.meter_event_weeks"))
    return weeks.get((PERIOD - WEEK).date()) is True and all(week.year > 1 for week in weeks)


@pytest.fixture
async def partitions(database_url: str) -> AsyncIterator[EventPartitions]:
    database = Database(database_url, pool_size=2)
    try:
        yield EventPartitions(database)
    finally:
        await database.dispose()


def _rows(database_url: str, query: str, params: dict | None = None) -> list[tuple]:
    with psycopg.connect(libpq_url(database_url)) as conn:
        return conn.execute(query, params).fetchall()


def _weeks_of(database_url: str, identifier: str) -> list:
    return [
        row[0]
        for row in _rows(
            database_url, "SELECT week FROM metering.meter_events WHERE identifier = %(i)s", {"i": identifier}
        )
    ]


def _open_week(database_url: str):
    ((week,),) = _rows(
        database_url, "SELECT max(week) FROM metering.meter_event_weeks WHERE opened_at IS NOT NULL"
    )
    return week


async def _open(partitions: EventPartitions, clock: FrozenClock, at: datetime) -> None:
    clock.set(at)
    await partitions.maintain(at)


async def test_a_retry_after_the_week_changes_is_a_duplicate_or_a_conflict(
    metering: Metering, partitions: EventPartitions, clock: FrozenClock, database_url: str
) -> None:
    meter = await metering.create_meter()
    await _open(partitions, clock, BOUNDARY - MINUTE)
    first = await metering.send(event("e-1", "5", timestamp=BOUNDARY - 2 * MINUTE))
    untimed = await metering.send(event("e-2", "7"))  # stamped at receipt

    await _open(partitions, clock, BOUNDARY + MINUTE)
    assert _open_week(database_url) == BOUNDARY.date()

    again = await metering.send(event("e-1", "5", timestamp=BOUNDARY - 2 * MINUTE))
    assert again.duplicate and again.meter_event.create_time == first.meter_event.create_time
    untimed_again = await metering.send(event("e-2", "7"))
    assert untimed_again.duplicate and untimed_again.meter_event.timestamp == untimed.meter_event.timestamp
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await metering.send(event("e-1", "6"))
    assert error_of(raised.value)[:2] == (grpc.StatusCode.ALREADY_EXISTS, "EVENT_IDENTIFIER_CONFLICT")
    batch = await metering.batch([event("e-2", "8"), event("e-1", "5"), event("e-3", "1")])
    assert (batch.accepted_count, batch.duplicate_count, batch.rejected_count) == (1, 1, 1)

    assert _weeks_of(database_url, "e-1") == [PERIOD.date()]
    assert _weeks_of(database_url, "e-3") == [BOUNDARY.date()]
    assert await metering.total(meter.id, PERIOD, BOUNDARY + WEEK) == 5 + 7 + 1


async def _until(condition) -> None:
    """Return once ``condition()`` (a coroutine function) holds, asking the database back
    to back (a lock wait signals nothing to wait on)."""
    while not await condition():
        await asyncio.sleep(0)


@pytest.mark.parametrize(("retry_value", "outcome"), [("5", "duplicate"), ("6", "conflict")])
async def test_two_sendings_racing_across_the_switch_store_the_identifier_once(
    metering: Metering,
    partitions: EventPartitions,
    clock: FrozenClock,
    database_url: str,
    retry_value: str,
    outcome: str,
) -> None:
    meter = await metering.create_meter()
    await _open(partitions, clock, BOUNDARY - MINUTE)
    stamp = BOUNDARY - 2 * MINUTE
    await metering.send(event("warm", "1", timestamp=stamp))  # the hour's rollup row exists
    watcher = await psycopg.AsyncConnection.connect(libpq_url(database_url))
    try:
        # Hold the rollup row: the first sending inserts its event into the first week's
        # partition, then waits on that row, its transaction (and ingest lock) open.
        await watcher.execute("SELECT 1 FROM metering.meter_rollups FOR UPDATE")

        async def waiting(kind: str) -> bool:
            cursor = await watcher.execute(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = %(kind)s", {"kind": kind}
            )
            ((count,),) = await cursor.fetchall()
            return count > 0

        async with metering.on_own_connection() as first_client, metering.on_own_connection() as retry_client:
            # Batches: single events share one writer, which would queue the retry behind.
            first = asyncio.ensure_future(first_client.batch([event("race", "5", timestamp=stamp)]))
            await _until(lambda: waiting("transactionid"))
            clock.set(BOUNDARY + MINUTE)
            switch = asyncio.ensure_future(partitions.maintain(BOUNDARY + MINUTE))
            await _until(lambda: _switch_waits(watcher, switch))
            retry = asyncio.ensure_future(retry_client.batch([event("race", retry_value, timestamp=stamp)]))
            await _until(lambda: _retry_waits(watcher, retry, switch))
            await watcher.rollback()  # the first sending goes on and commits
            first_reply, _, retry_reply = await asyncio.gather(first, switch, retry)
    finally:
        await watcher.close()

    counts = (retry_reply.accepted_count, retry_reply.duplicate_count, retry_reply.rejected_count)
    assert first_reply.accepted_count == 1
    assert counts == ((0, 1, 0) if outcome == "duplicate" else (0, 0, 1))
    assert _open_week(database_url) == BOUNDARY.date()
    assert _weeks_of(database_url, "race") == [PERIOD.date()]
    assert await metering.total(meter.id, PERIOD, BOUNDARY + WEEK) == 1 + 5


async def _switch_waits(watcher: psycopg.AsyncConnection, switch: asyncio.Future) -> bool:
    """Whether the switch waits for the ingest lock (or is done: without that lock it
    would not wait, and the test's assertions then tell)."""
    return switch.done() or await _waiters_on_ingest_lock(watcher, 1)


async def _retry_waits(
    watcher: psycopg.AsyncConnection, retry: asyncio.Future, switch: asyncio.Future
) -> bool:
    """Whether the retry waits for a lock (behind the switch, or, were there no ingest
    lock, on the rollup row), beside the first sending and the switch if it still waits."""
    cursor = await watcher.execute("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")
    ((waiting,),) = await cursor.fetchall()
    return retry.done() or waiting >= 2 + (not switch.done())


async def _waiters_on_ingest_lock(watcher: psycopg.AsyncConnection, count: int) -> bool:
    cursor = await watcher.execute(
        "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = 'advisory'"
        " AND (classid::bigint << 32 | objid::bigint) = %(key)s",
        {"key": INGEST_LOCK},
    )
    ((waiting,),) = await cursor.fetchall()
    return waiting >= count


async def test_every_accepted_timestamp_lands_in_the_open_partition(
    metering: Metering, partitions: EventPartitions, clock: FrozenClock, database_url: str
) -> None:
    await metering.create_meter()
    now = BOUNDARY + 3 * WEEK + timedelta(hours=5)
    await _open(partitions, clock, now)
    stamps = {"oldest": now - timedelta(days=35), "newest": now + timedelta(minutes=5), "now": None}
    for identifier, stamp in stamps.items():
        await metering.send(event(identifier, "1", timestamp=stamp))
    for identifier in stamps:
        assert _weeks_of(database_url, identifier) == [week_of(now)]


async def test_pruning_drops_only_partitions_wholly_older_than_their_retention(
    metering: Metering, partitions: EventPartitions, clock: FrozenClock, database_url: str
) -> None:
    meter = await metering.create_meter()
    last = await metering.create_meter("hypernian_peak", meter_pb2.AGGREGATION_FORMULA_LAST)
    opened = [PERIOD + n * WEEK + timedelta(hours=1) for n in range(3)]  # each week opens 1 h in
    for n, at in enumerate(opened):
        await _open(partitions, clock, at)
        clock.set(at + timedelta(minutes=50))  # received after their timestamps
        for minutes in (15, 45):
            stamp = at + timedelta(minutes=minutes)
            await metering.send(event(f"w{n}-{minutes}", f"{n + 1}{minutes}", timestamp=stamp))
            await metering.send(
                event(f"p{n}-{minutes}", f"{minutes}", event_name="hypernian_peak", timestamp=stamp)
            )
    first_week = (PERIOD + timedelta(hours=1), PERIOD + timedelta(hours=2))
    before = {
        "sum": await metering.total(meter.id, *first_week),
        "last": await metering.total(last.id, *first_week),
    }
    assert before == {"sum": 115 + 145, "last": 45}

    # The first week's partition holds events received until the second opened; the
    # migration's partitions and the server's first week, older, go at the first pruning.
    await partitions.prune(opened[1] + RAW_EVENT_RETENTION)
    assert _kept_weeks(database_url) == [(PERIOD + n * WEEK).date() for n in (0, 1, 2, 3)]
    assert _weeks_of(database_url, "w0-15") == [PERIOD.date()]
    assert await partitions.prune(opened[1] + RAW_EVENT_RETENTION + timedelta(microseconds=1)) == 1

    assert _kept_weeks(database_url) == [(PERIOD + n * WEEK).date() for n in (1, 2, 3)]
    assert _weeks_of(database_url, "w0-15") == []
    assert _weeks_of(database_url, "w1-15") == [(PERIOD + WEEK).date()]
    clock.set(opened[1] + RAW_EVENT_RETENTION + MINUTE)
    after = {
        "sum": await metering.total(meter.id, *first_week),
        "last": await metering.total(last.id, *first_week),
    }
    assert after == before
    # The dropped identifiers are forgotten: another event may take one; kept ones are not.
    assert not (await metering.send(event("w0-15", "9"))).duplicate
    assert (await metering.send(event("w2-15", "315", timestamp=opened[2] + timedelta(minutes=15)))).duplicate


def _kept_weeks(database_url: str) -> list:
    return [
        row[0] for row in _rows(database_url, "SELECT week FROM metering.meter_event_weeks ORDER BY week")
    ]


def test_the_migration_keeps_the_events_stored_before_it(empty_database_url: str) -> None:
    upgrade(empty_database_url, MIGRATIONS, "0006")
    with psycopg.connect(libpq_url(empty_database_url)) as conn:
        conn.execute(
            "INSERT INTO metering.meters VALUES ('mtr_1', 'Input', 'input', 'sum', 'customer_id', 'value',"
            " '{}', NULL, 'active', %(t)s, %(t)s, NULL)",
            {"t": PERIOD},
        )
        conn.execute(
            "INSERT INTO metering.meter_events (meter_id, identifier, customer_id, value, dimension_values,"
            " payload, timestamp, timestamp_sent, received_at, fingerprint)"
            " VALUES ('mtr_1', 'old', 'cus_1', 5, '{}', '{}', %(t)s, true, %(t)s, %(f)s)",
            {"t": PERIOD, "f": bytes(16)},
        )
    upgrade(empty_database_url, MIGRATIONS)

    assert _rows(empty_database_url, "SELECT identifier, value, week FROM metering.meter_events") == [
        ("old", Decimal("5.000000000000000"), date(1, 1, 1))
    ]
    partitions = [
        row[0]
        for row in _rows(empty_database_url, "SELECT partition FROM metering.meter_event_weeks ORDER BY week")
    ]
    assert partitions[0] == "meter_events_legacy" and len(partitions) == 3
    # The open partition takes new events; the legacy one still holds its identifier.
    with (
        psycopg.connect(libpq_url(empty_database_url)) as conn,
        pytest.raises(psycopg.errors.UniqueViolation),
    ):
        conn.execute(
            "INSERT INTO metering.meter_events (meter_id, identifier, customer_id, value, dimension_values,"
            " payload, timestamp, timestamp_sent, received_at, fingerprint, week)"
            " VALUES ('mtr_1', 'old', 'cus_1', 5, '{}', '{}', %(t)s, true, %(t)s, %(f)s, '0001-01-01')",
            {"t": PERIOD, "f": bytes(16)},
        )
