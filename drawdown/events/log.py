"""Reading a service's outbox (E-3): pages in commit order, a feed that wakes streams
when events commit, and pruning past the retention period.

Reads are constant SQL on the raw pooled connections (``Database.reading``): a stream
polls once per commit it is woken for, and most polls find one or two rows.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import psycopg
import structlog

from drawdown.db.engine import SESSION_OPTIONS, Database
from drawdown.events.outbox import EventTables

log = structlog.get_logger("drawdown.events")

# How long a stream waits for a commit's notification before it looks anyway (a lost
# LISTEN connection is reopened in the meantime).
POLL_SECONDS = 5.0
# How many events a follower reads per look at the table.
FOLLOW_BATCH = 100


@dataclass(frozen=True, slots=True)
class StoredEvent:
    position: int
    id: str
    type: str
    customer_id: str
    test_clock_id: str
    request_id: str
    create_time: datetime
    data_type: str
    data: bytes


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which events a list or a stream wants; empty fields match every event."""

    types: Sequence[str] = ()
    customer_id: str = ""
    created_from: datetime | None = None
    created_before: datetime | None = None


class EventLog:
    """The read side of one schema's outbox."""

    def __init__(self, database: Database, tables: EventTables) -> None:
        self._database = database
        self.tables = tables
        events = tables.events.fullname
        self._page_sql = f"""
            SELECT position, id, type, coalesce(customer_id, '') AS customer_id,
                   coalesce(test_clock_id, '') AS test_clock_id, coalesce(request_id, '') AS request_id,
                   create_time, data_type, data
              FROM {events}
             WHERE position > %(after)s
               AND (%(types)s::text[] IS NULL OR type = ANY(%(types)s::text[]))
               AND (%(customer_id)s::text IS NULL OR customer_id = %(customer_id)s::text)
               AND (%(created_from)s::timestamptz IS NULL OR create_time >= %(created_from)s::timestamptz)
               AND (%(created_before)s::timestamptz IS NULL OR create_time < %(created_before)s::timestamptz)
             ORDER BY position
             LIMIT %(limit)s"""
        self._last_sql = f"SELECT coalesce(max(position), 0) AS position FROM {events}"
        retention = tables.retention.fullname
        self._pruned_sql = f"SELECT coalesce(max(pruned_through), 0) AS position FROM {retention}"
        self._prune_sql = f"""
            WITH pruned AS (
                DELETE FROM {events} WHERE position IN (
                    SELECT position FROM {events} WHERE create_time < %(before)s
                     ORDER BY create_time LIMIT %(batch)s)
                RETURNING position),
            noted AS (
                INSERT INTO {retention} (singleton, pruned_through)
                SELECT true, max(position) FROM pruned HAVING count(*) > 0
                ON CONFLICT (singleton) DO UPDATE
                   SET pruned_through = greatest({retention}.pruned_through, excluded.pruned_through))
            SELECT count(*) AS deleted FROM pruned"""

    async def page(self, after: int, wanted: EventFilter, limit: int) -> tuple[list[StoredEvent], int]:
        """Up to ``limit`` events after position ``after`` that ``wanted`` matches, in
        order, and a position the page has covered: when fewer than ``limit`` came back,
        no event up to it that ``wanted`` matches is missing (a filtered stream moves on
        past the events it skips)."""
        params = {
            "after": after,
            "types": list(wanted.types) or None,
            "customer_id": wanted.customer_id or None,
            "created_from": wanted.created_from,
            "created_before": wanted.created_before,
            "limit": limit,
        }
        async with self._database.reading() as db:
            # The newest position first: the page's read, a moment later, sees all of it.
            [newest], rows = await db.fetch_many([(self._last_sql, None), (self._page_sql, params)])
        events = [StoredEvent(*row) for row in rows]
        if len(events) == limit:
            return events, events[-1].position
        return events, max(after, newest.position, *(event.position for event in events[-1:]))

    async def last_position(self) -> int:
        """The position of the newest event (0 when there is none): where "now" starts."""
        async with self._database.reading() as db:
            (row,) = await db.fetch(self._last_sql)
        return row.position

    async def pruned_through(self) -> int:
        """The last position pruned: cursors below it may have missed events."""
        async with self._database.reading() as db:
            (row,) = await db.fetch(self._pruned_sql)
        return row.position

    async def prune(self, before: datetime, *, batch: int = 10_000) -> int:
        """Delete events created before ``before``, oldest first, in batches of ``batch``
        (each its own short transaction); the number deleted."""
        deleted = 0
        while True:
            async with self._database.transaction() as tx:
                (row,) = await tx.fetch(self._prune_sql, {"before": before, "batch": batch})
                await tx.commit()
            deleted += row.deleted
            if row.deleted < batch:
                return deleted


async def follow(
    log: EventLog, feed: EventFeed, after: int, wanted: EventFilter
) -> AsyncIterator[StoredEvent]:
    """The events after position ``after`` that ``wanted`` matches, those there already and
    then each as it commits, in order, for as long as the caller reads."""
    while True:
        generation = feed.generation
        events, after = await log.page(after, wanted, FOLLOW_BATCH)
        for event in events:
            yield event
        if len(events) < FOLLOW_BATCH:
            await feed.wait_after(generation)


class EventFeed:
    """Wakes the streams of one process when its schema's outbox commits events: one
    LISTEN connection, opened on first need, reopened when it is lost."""

    def __init__(self, database: Database, tables: EventTables) -> None:
        self._conninfo = database.conninfo
        self._channel = tables.channel
        self._changed = asyncio.Condition()
        self._generation = 0
        self._listener: asyncio.Task[None] | None = None

    @property
    def generation(self) -> int:
        """Counts the notifications seen; a stream reads it before it looks at the table."""
        return self._generation

    async def wait_after(self, generation: int, timeout: float = POLL_SECONDS) -> None:
        """Return once a commit was notified after ``generation`` was read, or after ``timeout``."""
        if self._listener is None or self._listener.done():
            self._listener = asyncio.create_task(self._listen())
        async with self._changed:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._changed.wait_for(lambda: self._generation != generation), timeout
                )

    async def _listen(self) -> None:
        while True:
            try:
                connection = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, options=SESSION_OPTIONS
                )
                async with connection:
                    await connection.execute(f'LISTEN "{self._channel}"')
                    await self._bump()  # anything committed while not listening
                    async for _ in connection.notifies():
                        await self._bump()
            except psycopg.Error as error:
                log.warning("events.listen_lost", channel=self._channel, error=str(error))
                await asyncio.sleep(1.0)

    async def _bump(self) -> None:
        async with self._changed:
            self._generation += 1
            self._changed.notify_all()

    async def close(self) -> None:
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
