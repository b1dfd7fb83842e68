"""Meter events in weekly partitions, dropped whole once older than they are kept (O-6).

Design. ``metering.meter_events`` is partitioned by RANGE on ``week``: the Monday (UTC) of
the partition an event was *received* into. Not the event's timestamp: a retry of an
event sent without one has a new timestamp each time, a conflicting retry may carry any
other, and a test clock's events are stamped at the clock's time; the receipt week is
what bounds how long an identifier has been known. Weeks, not days: a new event is
looked for in every partition at ingest (below), so fewer partitions cost ingest less,
and an identifier is then kept between ``RAW_EVENT_RETENTION`` and a week more.

Identifiers stay unique per meter across partitions (M-13) although PostgreSQL enforces
a unique key only per partition (the key must hold the partition column: (meter_id,
identifier, week)):
- ingest inserts into one partition only, the *open* one (the newest row of
  ``meter_event_weeks`` with ``opened_at``), and skips staged events whose identifier an
  older partition already holds (``NOT EXISTS``: one probe of each older partition's
  primary key per event, the open one pruned away at run time). Within the open
  partition its primary key decides, as before partitioning: ``ON CONFLICT`` waits for a
  concurrent transaction inserting the same identifier and then sees its row.
- two transactions on different partitions cannot both be in flight: each ingest
  transaction takes ``INGEST_LOCK`` shared before it inserts and holds it until it ends,
  and opening the next week's partition takes it exclusively, so the switch waits for
  every transaction still writing the old partition to commit, and every transaction
  that writes the new one starts its INSERT (and its snapshot) after those commits: its
  ``NOT EXISTS`` sees their rows. A retry across the boundary is therefore a duplicate
  or a conflict exactly as within one week, also when both are concurrent.
So an insert never misses a partition (the open one exists before it opens: no DEFAULT
partition, which would have to be scanned whenever a partition is added), and the
switch, made by ``maintain`` at most an hour after the week begins, costs ingest a wait
for the transactions in flight, once a week.

Pruning drops a partition once the partition after it opened more than
``RAW_EVENT_RETENTION`` ago (all its events were received before that), so no event is
dropped sooner. That is 35 days for identifiers (M-13), plus what the other readers of raw
events need within their windows: a new event (stamped at most 35 days back, M-11)
rebuilds its hour or pre-aggregation window (at most a day, M-17) from the raw events
stamped in it, which were received at most 5 minutes before their timestamp; so 36 days
and 5 minutes. Cancellation (M-16, 24 h after receipt) needs less. Summaries of whole
hours read the rollups, which are kept; a summary's partial hours (ranges not on whole
hours, M-20) are read from raw events, so a partial hour of a dropped week counts nothing.
(Writing the dropped events' minute totals into rollups first was measured and dropped:
with events spread thin, nearly one row per event, 60 s for 2M events against 2.5 s for
a DELETE of them.)

Measured on the 2-core development machine, loaded by other work
(``benchmarks/metering_retention.py --events 2000000``, a month of 2,000,000 events in four
weekly partitions): ``DROP TABLE`` of the four partitions 0.015 s against 2.51 s for a
``DELETE`` of the same rows (168x), which also leaves 2M dead rows for VACUUM. Ingest
(``benchmarks/metering_ingest.py --events 200000 --single-events 5000``) costs PostgreSQL
the same CPU per event as before partitioning: stream 31.8 -> 29.4 us, batch 34.7 -> 32.5 us,
single events 184 -> 188 us (events/s are not comparable: the machine's load average went
from 2 to 6 between the runs, the COPY ceiling itself from 55,100 to 21,400 rows/s).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from drawdown.db.engine import Database

WEEK = timedelta(days=7)
RAW_EVENT_RETENTION = timedelta(days=36, minutes=5)
# Advisory lock keys (one bigint space per database): ingest (shared) against the switch
# to a new partition (exclusive), and the maintenance of one replica against another's.
INGEST_LOCK = 0x6D65746572_01  # "meter" 1
MAINTENANCE_LOCK = 0x6D65746572_02

# Taken by every ingest transaction before its INSERT (in an earlier statement, so that the
# INSERT's snapshot is taken once the lock is held).
TAKE_INGEST_LOCK = f"SELECT pg_advisory_xact_lock_shared({INGEST_LOCK})"

# The partition ingest writes into.
OPEN_WEEK = "(SELECT max(week) FROM metering.meter_event_weeks WHERE opened_at IS NOT NULL)"


def week_of(moment: datetime) -> date:
    """The Monday (UTC) of the week holding ``moment``."""
    day = moment.astimezone(UTC).date()
    return day - timedelta(days=day.weekday())


def partition_name(week: date) -> str:
    return f"meter_events_{week:%Y%m%d}"


# A table made like the parent, then attached: ATTACH takes only a SHARE UPDATE EXCLUSIVE
# lock on the parent, which ingest's locks do not conflict with (CREATE TABLE ... PARTITION
# OF would wait for every transaction on the table, and hold up all that come after).
# Attaching an empty table checks no row, and there is no DEFAULT partition to check.
_CREATE = (
    "CREATE TABLE metering.{name} (LIKE metering.meter_events INCLUDING DEFAULTS INCLUDING CONSTRAINTS)",
    "ALTER TABLE metering.meter_events ATTACH PARTITION metering.{name}"
    " FOR VALUES FROM ('{start}') TO ('{end}')",
)
# Dropping a partition locks the parent exclusively: if a long transaction holds it, give
# up rather than hold up ingest behind the wait, and try again at the next maintenance.
DROP_LOCK_TIMEOUT = "2s"


class EventPartitions:
    """Creates, opens and drops the weekly partitions of ``metering.meter_events``."""

    def __init__(self, database: Database, *, keep_for: timedelta = RAW_EVENT_RETENTION) -> None:
        self._database = database
        self._keep_for = keep_for

    async def maintain(self, now: datetime) -> int:
        """Create this week's and next week's partitions if missing, open this week's if a
        later one is not open yet, then drop the partitions kept long enough (``prune``);
        how many were dropped."""
        this_week = week_of(now)
        async with self._database.transaction() as tx:
            await tx.fetch(f"SELECT pg_advisory_xact_lock({MAINTENANCE_LOCK})")
            weeks = {
                row.week: row.opened_at
                for row in await tx.fetch("SELECT week, opened_at FROM metering.meter_event_weeks")
            }
            for week in (this_week, this_week + WEEK):
                if week not in weeks:
                    name = partition_name(week)
                    for statement in _CREATE:
                        await tx.fetch(statement.format(name=name, start=week, end=week + WEEK))
                    await tx.fetch(
                        "INSERT INTO metering.meter_event_weeks (week, partition) VALUES (%(week)s, %(name)s)",
                        {"week": week, "name": name},
                    )
            open_week = max(week for week, opened_at in weeks.items() if opened_at is not None)
            if this_week > open_week:
                # Waits for the ingest transactions writing the open partition (see above).
                await tx.fetch(f"SELECT pg_advisory_xact_lock({INGEST_LOCK})")
                await tx.fetch(
                    "UPDATE metering.meter_event_weeks SET opened_at = %(now)s WHERE week = %(week)s",
                    {"now": now, "week": this_week},
                )
            await tx.commit()
        return await self.prune(now)

    async def prune(self, now: datetime) -> int:
        """Drop every partition whose successor opened before ``now - keep_for``; how many
        were dropped."""
        dropped = 0
        async with self._database.transaction() as tx:
            await tx.fetch(f"SELECT pg_advisory_xact_lock({MAINTENANCE_LOCK})")
            await tx.fetch(f"SET LOCAL lock_timeout = '{DROP_LOCK_TIMEOUT}'")
            rows = await tx.fetch(
                """
                SELECT w.partition FROM metering.meter_event_weeks w
                WHERE (SELECT min(n.opened_at) FROM metering.meter_event_weeks n
                       WHERE n.week > w.week AND n.opened_at IS NOT NULL) < %(before)s
                ORDER BY w.week
                """,
                {"before": now - self._keep_for},
            )
            for row in rows:
                await tx.fetch(f"DROP TABLE metering.{row.partition}")
                await tx.fetch(
                    "DELETE FROM metering.meter_event_weeks WHERE partition = %(name)s",
                    {"name": row.partition},
                )
                dropped += 1
            await tx.commit()
        return dropped
