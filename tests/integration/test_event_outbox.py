"""The outbox every service keeps (E-1..E-3), against a real PostgreSQL: events commit
and roll back with their transaction, on both kinds of transaction handle, and a reader
following the positions misses none even when transactions commit in another order than
they began, which a plain sequence would let it miss."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from google.protobuf import wrappers_pb2

from drawdown.db.engine import Database
from drawdown.events.log import EventFilter, EventLog
from drawdown.events.outbox import EventTables, Outbox, current_request_id

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def encode(subject: object) -> wrappers_pb2.StringValue:
    return wrappers_pb2.StringValue(value=str(subject))


@pytest.fixture
async def outbox_db(database_url: str) -> AsyncIterator[tuple[Database, EventTables]]:
    metadata = sa.MetaData(schema="outbox_test")
    tables = EventTables(metadata)
    engine = sa.create_engine(database_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE SCHEMA outbox_test"))
        metadata.create_all(connection)
    engine.dispose()
    database = Database(database_url, pool_size=12)
    yield database, tables
    await database.dispose()


def outbox(tables: EventTables) -> Outbox:
    return Outbox(tables, encode, lambda: T0)


async def test_events_commit_with_their_transaction_and_not_without(
    outbox_db: tuple[Database, EventTables],
) -> None:
    database, tables = outbox_db
    log = EventLog(database, tables)
    async with database.transaction() as tx:
        events = outbox(tables)
        tx.before_commit(events.statements)
        events.record("thing.created", "kept", customer_id="cus_1")
        await tx.commit()
    async with database.transaction() as tx:
        events = outbox(tables)
        tx.before_commit(events.statements)
        events.record("thing.created", "rolled back")
    async with database.unit_of_work() as uow:
        events = outbox(tables)
        uow.before_commit(events.statements)
        token = current_request_id.set("req_1")
        try:
            events.record("thing.updated", "also kept")
        finally:
            current_request_id.reset(token)
        await uow.commit()
    async with database.unit_of_work() as uow:
        events = outbox(tables)
        uow.before_commit(events.statements)
        events.record("thing.updated", "never committed")

    page, covered = await log.page(0, EventFilter(), 10)
    assert [(e.type, e.customer_id, e.request_id) for e in page] == [
        ("thing.created", "cus_1", ""),
        ("thing.updated", "", "req_1"),
    ]
    assert [wrappers_pb2.StringValue.FromString(e.data).value for e in page] == ["kept", "also kept"]
    assert {e.data_type for e in page} == {"google.protobuf.StringValue"}
    assert covered == page[-1].position
    assert all(e.id.startswith("evt_") for e in page)
    only, _ = await log.page(0, EventFilter(types=["thing.updated"]), 10)
    assert [e.type for e in only] == ["thing.updated"]


async def test_a_reader_following_positions_sees_every_committed_event_once_in_commit_order(
    outbox_db: tuple[Database, EventTables],
) -> None:
    """Half the writers take their positions and then linger before COMMIT (as a slow
    network or a busy server makes them do); one in five transactions rolls back. A reader polling all along sees
    exactly the committed events, each once, in increasing positions, each transaction's
    events together."""
    database, tables = outbox_db
    log = EventLog(database, tables)
    rng = random.Random(7)
    committed: list[str] = []
    writers_done = asyncio.Event()

    async def writer(n: int) -> None:
        for round_ in range(6):
            async with database.transaction() as tx:
                events = outbox(tables)
                tx.before_commit(events.statements)
                names = [f"w{n}-r{round_}-e{k}" for k in range(rng.randint(1, 3))]
                for name in names:
                    events.record("thing.changed", name)
                if n % 2:
                    # Positions taken, then a slow COMMIT: the classic outbox gap.
                    await tx.fetch_many(events.statements())
                await asyncio.sleep(rng.random() / 200)
                if rng.random() < 0.2:
                    continue  # rolled back
                await tx.commit()
            committed.extend(names)

    seen: list[tuple[int, str]] = []

    async def reader() -> None:
        after = 0
        while True:
            finished = writers_done.is_set()
            page, after = await log.page(after, EventFilter(), 7)
            seen.extend((e.position, wrappers_pb2.StringValue.FromString(e.data).value) for e in page)
            if finished and not page:
                return

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(10)))
    writers_done.set()
    await asyncio.wait_for(reading, timeout=timedelta(seconds=60).total_seconds())

    positions = [position for position, _ in seen]
    names = [name for _, name in seen]
    assert positions == sorted(set(positions))
    assert sorted(names) == sorted(committed)
    transactions = [name.rsplit("-e", 1)[0] for name in names]
    runs = [t for i, t in enumerate(transactions) if i == 0 or transactions[i - 1] != t]
    assert len(runs) == len(set(runs)), "a transaction's events are contiguous"


async def test_pruning_deletes_old_events_in_batches_and_remembers_how_far(
    outbox_db: tuple[Database, EventTables],
) -> None:
    database, tables = outbox_db
    log = EventLog(database, tables)
    for day in range(5):
        async with database.transaction() as tx:
            events = Outbox(tables, encode, lambda day=day: T0 + timedelta(days=day))
            tx.before_commit(events.statements)
            events.record("thing.changed", f"day {day}")
            events.record("thing.changed", f"day {day} again")
            await tx.commit()
    assert await log.pruned_through() == 0
    assert await log.prune(T0 + timedelta(days=3), batch=4) == 6
    kept, _ = await log.page(0, EventFilter(), 10)
    assert [wrappers_pb2.StringValue.FromString(e.data).value for e in kept] == [
        "day 3",
        "day 3 again",
        "day 4",
        "day 4 again",
    ]
    assert await log.pruned_through() == kept[0].position - 1
    assert await log.prune(T0 + timedelta(days=3)) == 0
