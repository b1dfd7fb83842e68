"""Meter events and their hourly rollups: set-based SQL, one round of statements per batch.

Ingestion (M-13..M-15) of a batch of validated events (:meth:`EventRepository.insert`), in
the transaction of the unit of work:
1. COPY the batch into a temporary staging table (one per connection, emptied at commit).
   The staging table draws each event's ``received_seq`` (receipt order: M-17 and ``last``
   ties) as the rows arrive. The caller can make the COPY and the INSERT of step 2 wait
   for those of the previous batch of a stream (``in_turn``), so that batches of a stream
   in the database at the same time are received, and claim identifiers, in sending order.
2. ``INSERT … SELECT … WHERE NOT EXISTS … ON CONFLICT (meter_id, identifier, week) DO
   NOTHING``, in (meter_id, identifier) order, into the open weekly partition
   (``store.partitions``, which explains how identifiers stay unique across partitions):
   the lookup and the primary key decide which events are new, also against concurrent
   batches (a conflicting insert waits for the other transaction and then sees
   its row), and every batch takes its row locks in the same order, so batches sharing
   identifiers wait for each other but never deadlock.
3. Only if fewer events were inserted than staged, the stored events holding the other
   identifiers are read back (fingerprint, timestamp, receipt) in one query, for the
   caller to tell duplicates from conflicts (``check_replay``).
4. Rollups: new events are merged into their hour buckets by one ``INSERT … ON CONFLICT DO
   UPDATE`` (in bucket order, byte-wise: one order for every batch, and the cheapest).
   When every meter of the batch only adds (``sum``/``count`` without pre-aggregation)
   this is part of the statement of step 2, so that a batch is one COPY and one
   statement. Otherwise pre-aggregated meters (M-17) recompute the touched
   windows from raw events instead, because a new event replaces an earlier one, and meters
   whose buckets may be rebuilt (:func:`recomputes`) first take an advisory lock per meter
   x customer (in sorted order, always after the event rows and before any rollup row, so
   no lock cycle is possible).

Cancellation (M-16) subtracts from ``sum``/``count`` buckets and recomputes the touched
bucket (or pre-aggregation window) for the other formulas, in the same transaction.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager, nullcontext
from datetime import datetime
from decimal import Decimal
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from metering_service.domain.events import MeterEvent
from metering_service.domain.meters import Aggregation, Meter, TimeWindow
from metering_service.domain.windows import WINDOW_LENGTHS, window_start
from metering_service.store.partitions import OPEN_WEEK, TAKE_INGEST_LOCK

# Events formatted between two returns to the event loop (see service.events.CHUNK).
_CHUNK = 500

_STAGING_DDL = """
CREATE TEMP TABLE IF NOT EXISTS staged_meter_events_v3 (
    ord integer NOT NULL,
    meter_id text NOT NULL,
    identifier text NOT NULL,
    customer_id text NOT NULL,
    value numeric(30, 15) NOT NULL,
    dimension_values text[] NOT NULL,
    payload jsonb NOT NULL,
    "timestamp" timestamptz NOT NULL,
    timestamp_sent boolean NOT NULL,
    fingerprint bytea NOT NULL,
    preaggregation_window timestamptz,
    clock_received_at timestamptz,
    received_seq bigint NOT NULL DEFAULT nextval('metering.meter_events_received_seq')
) ON COMMIT DELETE ROWS
"""

# One round trip: the staging table, and the ingest lock (store.partitions) taken before the INSERT.
_BEGIN_BATCH = f"{_STAGING_DDL};\n{TAKE_INGEST_LOCK}"

_COPY = (
    "COPY staged_meter_events_v3 (ord, meter_id, identifier, customer_id, value, dimension_values, payload,"
    ' "timestamp", timestamp_sent, fingerprint, preaggregation_window, clock_received_at) FROM STDIN'
)

# Rows in (meter_id, identifier) order: every batch locks the keys it inserts in one order.
# Into the open partition, and only identifiers no older partition holds (store.partitions);
# the open one's primary key is the arbiter of ON CONFLICT, which probes it anyway.
# OFFSET 0 keeps the lookup a probe of each partition's primary key per staged event: as
# a join, the planner may hash the whole table (a scan of every partition per batch)
# while the staging table's size is unknown to it.
_INSERT = f"""
INSERT INTO metering.meter_events
    (meter_id, identifier, customer_id, value, dimension_values, payload, "timestamp", timestamp_sent,
     received_at, received_seq, fingerprint, preaggregation_window, week)
SELECT meter_id, identifier, customer_id, value, dimension_values, payload, "timestamp", timestamp_sent,
       coalesce(clock_received_at, CAST(%(received_at)s AS timestamptz)), received_seq, fingerprint,
       preaggregation_window, {OPEN_WEEK}
FROM staged_meter_events_v3 s
WHERE NOT EXISTS (
    SELECT 1 FROM metering.meter_events e
    WHERE e.meter_id = s.meter_id AND e.identifier = s.identifier AND e.week < {OPEN_WEEK}
    OFFSET 0)
ORDER BY meter_id COLLATE "C", identifier COLLATE "C"
ON CONFLICT (meter_id, identifier, week) DO NOTHING
"""

# Meters that only add (sum, count, no pre-aggregation): events and rollups in one statement.
# Data-modifying CTEs run to completion; all event rows are inserted before the first
# bucket is touched, because the aggregate needs all of them.
_INSERT_EVENTS_AND_ADD = f"""
WITH new AS ({_INSERT} RETURNING meter_id, customer_id, "timestamp", dimension_values, value),
added AS (
    INSERT INTO metering.meter_rollups (meter_id, customer_id, hour, dimension_values, event_count, total)
    SELECT meter_id, customer_id, date_trunc('hour', "timestamp", 'UTC') AS hour, dimension_values,
           count(*), sum(value)
    FROM new
    GROUP BY meter_id, customer_id, hour, dimension_values
    ORDER BY meter_id COLLATE "C", customer_id COLLATE "C", hour, dimension_values COLLATE "C"
    ON CONFLICT (meter_id, customer_id, hour, dimension_values) DO UPDATE SET
        event_count = meter_rollups.event_count + excluded.event_count,
        total = meter_rollups.total + excluded.total
)
SELECT count(*) FROM new
"""

# The staged events that were not inserted, with the stored event that holds their
# identifier. A new statement: it sees the rows of the concurrent transactions the insert
# waited for (READ COMMITTED), and this batch's own rows carry its own receipt numbers.
_NOT_INSERTED = """
SELECT s.ord, e.fingerprint, e."timestamp", e.received_at, e.cancelled_at
FROM staged_meter_events_v3 s
JOIN metering.meter_events e ON e.meter_id = s.meter_id AND e.identifier = s.identifier
WHERE e.received_seq <> s.received_seq
"""

_LOCK_CUSTOMERS = """
SELECT pg_advisory_xact_lock(key) FROM (
    SELECT DISTINCT hashtextextended(m || ':' || c, 0) AS key
    FROM unnest(CAST(:meter_ids AS text[]), CAST(:customer_ids AS text[])) k(m, c)
    ORDER BY key
) keys
"""

# The partial state of one bucket (domain.aggregation.RollupState) from rows ``e`` of events
# with their formula ``agg``; only the columns the formula reads are filled.
_BUCKET_STATE = """
    count(*), sum(e.value),
    max(e.value) FILTER (WHERE agg IN ('max', 'min')),
    min(e.value) FILTER (WHERE agg IN ('max', 'min')),
    (array_agg(e."timestamp" ORDER BY e."timestamp" DESC, e.received_seq DESC) FILTER (WHERE agg = 'last'))[1],
    (array_agg(e.received_seq ORDER BY e."timestamp" DESC, e.received_seq DESC) FILTER (WHERE agg = 'last'))[1],
    (array_agg(e.value ORDER BY e."timestamp" DESC, e.received_seq DESC) FILTER (WHERE agg = 'last'))[1],
    array_agg(DISTINCT e.value) FILTER (WHERE agg = 'unique_count')
"""

_ROLLUP_COLUMNS = """
    (meter_id, customer_id, hour, dimension_values, event_count, total, maximum, minimum,
     last_timestamp, last_seq, last_value, distinct_values)
"""

# A bucket's partial state merged with ``excluded``'s (the states of more events).
_MERGE_STATES = """
    event_count = meter_rollups.event_count + excluded.event_count,
    total = meter_rollups.total + excluded.total,
    maximum = GREATEST(meter_rollups.maximum, excluded.maximum),
    minimum = LEAST(meter_rollups.minimum, excluded.minimum),
    last_timestamp = CASE WHEN {newer} THEN excluded.last_timestamp ELSE meter_rollups.last_timestamp END,
    last_seq = CASE WHEN {newer} THEN excluded.last_seq ELSE meter_rollups.last_seq END,
    last_value = CASE WHEN {newer} THEN excluded.last_value ELSE meter_rollups.last_value END,
    distinct_values = CASE WHEN excluded.distinct_values IS NULL THEN meter_rollups.distinct_values
        ELSE ARRAY(SELECT DISTINCT v FROM unnest(meter_rollups.distinct_values || excluded.distinct_values) v ORDER BY v)
    END
""".replace(
    "{newer}",
    "(meter_rollups.last_timestamp IS NULL OR (excluded.last_timestamp, excluded.last_seq)"
    " > (meter_rollups.last_timestamp, meter_rollups.last_seq))",
)

_MERGE_NEW_EVENTS = f"""
INSERT INTO metering.meter_rollups {_ROLLUP_COLUMNS}
SELECT e.meter_id, e.customer_id, date_trunc('hour', e."timestamp", 'UTC') AS hour, e.dimension_values,
       {_BUCKET_STATE}
FROM (
    SELECT s.*, m.aggregation AS agg
    FROM staged_meter_events_v3 s
    JOIN metering.meters m ON m.id = s.meter_id
    WHERE s.preaggregation_window IS NULL AND s.ord <> ALL(CAST(:not_inserted AS integer[]))
) e
GROUP BY e.meter_id, e.customer_id, hour, e.dimension_values
ORDER BY e.meter_id COLLATE "C", e.customer_id COLLATE "C", hour, e.dimension_values COLLATE "C"
ON CONFLICT (meter_id, customer_id, hour, dimension_values) DO UPDATE SET {_MERGE_STATES}
"""

# An event counts (M-16, M-17) unless cancelled or superseded in its pre-aggregation window
# by a later received, not cancelled event of the same customer.
COUNTED = """
    e.cancelled_at IS NULL AND (e.preaggregation_window IS NULL OR NOT EXISTS (
        SELECT 1 FROM metering.meter_events l
        WHERE l.meter_id = e.meter_id AND l.customer_id = e.customer_id
          AND l.preaggregation_window = e.preaggregation_window
          AND l.received_seq > e.received_seq AND l.cancelled_at IS NULL))
"""

_RANGES = """
unnest(CAST(:meter_ids AS text[]), CAST(:customer_ids AS text[]), CAST(:starts AS timestamptz[]),
       CAST(:ends AS timestamptz[])) t(meter_id, customer_id, range_start, range_end)
"""

_DELETE_BUCKETS = f"""
DELETE FROM metering.meter_rollups r USING {_RANGES}
WHERE r.meter_id = t.meter_id AND r.customer_id = t.customer_id
  AND r.hour >= t.range_start AND r.hour < t.range_end
"""

_RECOMPUTE_BUCKETS = f"""
INSERT INTO metering.meter_rollups {_ROLLUP_COLUMNS}
SELECT e.meter_id, e.customer_id, date_trunc('hour', e."timestamp", 'UTC') AS hour, e.dimension_values,
       {_BUCKET_STATE}
FROM (SELECT DISTINCT * FROM {_RANGES}) t
JOIN metering.meter_events e
  ON e.meter_id = t.meter_id AND e.customer_id = t.customer_id
 AND e."timestamp" >= t.range_start AND e."timestamp" < t.range_end
JOIN LATERAL (SELECT aggregation AS agg FROM metering.meters m WHERE m.id = e.meter_id) m ON true
WHERE {COUNTED}
GROUP BY e.meter_id, e.customer_id, hour, e.dimension_values
"""

_CANCEL = """
UPDATE metering.meter_events SET cancelled_at = :now
WHERE meter_id = :meter_id AND identifier = :identifier
"""

_SUBTRACT = """
UPDATE metering.meter_rollups
SET event_count = event_count - 1, total = total - :value
WHERE meter_id = :meter_id AND customer_id = :customer_id
  AND hour = date_trunc('hour', CAST(:timestamp AS timestamptz), 'UTC') AND dimension_values = :dimension_values
"""


class StoredEvent(NamedTuple):
    """What replay detection and results need of an event already stored (M-13, M-16)."""

    fingerprint: bytes
    timestamp: datetime
    received_at: datetime
    cancelled_at: datetime | None


class StagedEvent(NamedTuple):
    """A validated event on its way into the store, with its meter and its position in the batch."""

    ord: int
    meter: Meter
    event: MeterEvent


# COPY's text format: backslash, tab, newline and carriage return are escaped in every field.
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_NULL = "\\N"
_ARRAY_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"'})
# Most text needs no escaping: a search is cheaper than a translation.
_copy_special = re.compile(r"[\\\t\n\r]").search
_array_special = re.compile(r'[\\"]').search
# A JSON string literal (the C encoder of the json module); JSON text never holds a raw tab,
# newline or carriage return, so of COPY's specials only its backslashes need escaping.
_json_string = json.encoder.encode_basestring


def _copy_text(
    staged: Sequence[StagedEvent],
    received_at: datetime,
    per_meter: dict[str, tuple[str, tuple[str, ...], TimeWindow | None, Meter]],
) -> str:
    """Staged events as COPY text format lines (one pass; joined, the batch is one write).

    Client-chosen text (identifier, customer, dimension values, payload) is escaped; the
    other fields are ids, numbers and times of our own making. What depends only on the
    meter (its id, dimension keys, window) is formatted once per meter, in ``per_meter``,
    and the receipt time (the timestamp of events sent without one) once.
    """
    received = received_at.isoformat()
    lines = []
    append = lines.append
    for ord_, meter, event in staged:
        facts = per_meter.get(meter.id)
        if facts is None:
            facts = per_meter[meter.id] = (
                f"\t{meter.id}\t",
                meter.dimension_keys,
                meter.event_time_window,
                meter,
            )
        head, dimension_keys, window, _ = facts
        identifier = event.identifier
        if _copy_special(identifier):
            identifier = identifier.translate(_COPY_ESCAPES)
        customer = event.customer_id
        if _copy_special(customer):
            customer = customer.translate(_COPY_ESCAPES)
        if dimension_keys:
            dimensions = event.dimensions
            values = [dimensions[key] for key in dimension_keys]
            if _array_special("".join(values)):
                values = [value.translate(_ARRAY_ESCAPES) for value in values]
            array = '"' + '","'.join(values) + '"'
            if _copy_special(array):
                array = array.translate(_COPY_ESCAPES)
        else:
            array = ""
        payload = (
            "{"
            + ",".join([f"{_json_string(key)}:{_json_string(text)}" for key, text in event.payload.items()])
            + "}"
        )
        if "\\" in payload:
            payload = payload.replace("\\", "\\\\")
        timestamp = event.timestamp
        append(
            f"{ord_}{head}{identifier}\t{customer}\t{event.value!s}\t{{{array}}}\t{payload}\t"
            f"{received if timestamp is received_at else timestamp.isoformat()}\t"
            f"{'t' if event.timestamp_sent else 'f'}\t\\\\x{event.fingerprint.hex()}\t"
            f"{_COPY_NULL if window is None else window_start(timestamp, window).isoformat()}\t"
            f"{_COPY_NULL if event.clock_received_at is None else event.clock_received_at.isoformat()}\n"
        )
    return "".join(lines)


def recomputes(meter: Meter) -> bool:
    """Whether some change of the meter's events rebuilds buckets from raw events (M-16, M-17).

    ``sum`` and ``count`` buckets of meters without pre-aggregation only ever add and
    subtract, which commute under row locks; every other meter's bucket changes take the
    customer's lock (:meth:`EventRepository.lock_customers`), so that a rebuild never
    misses or overwrites a concurrent change.
    """
    return meter.event_time_window is not None or meter.aggregation not in (
        Aggregation.SUM,
        Aggregation.COUNT,
    )


class EventRow(NamedTuple):
    """A stored event as CancelMeterEvent reports it."""

    meter_id: str
    identifier: str
    customer_id: str
    value: Decimal
    dimension_values: list[str]
    payload: dict[str, str]
    timestamp: datetime
    received_at: datetime
    cancelled_at: datetime | None


class EventRepository:
    """The meter events and rollups of one unit of work's transaction: its session, and
    the session's connection, whose driver connection COPYs the staged batches."""

    __slots__ = ("_connection", "_session")

    def __init__(self, session: AsyncSession, connection: AsyncConnection) -> None:
        self._session = session
        self._connection = connection

    async def insert(
        self,
        staged: Sequence[StagedEvent],
        received_at: datetime,
        *,
        in_turn: AbstractAsyncContextManager[object] | None = None,
    ) -> dict[int, StoredEvent]:
        """Store the new events of a batch and merge them into the rollups (see the module docstring).

        ``staged`` holds at most one event per (meter, identifier). Returns the stored rows of
        the staged events that were not inserted (their identifier was already taken), by
        position in the batch; every other staged event was inserted. The COPY, which draws
        the receipt order, and the INSERT, which claims the identifiers, run inside
        ``in_turn``: a stream passes a turn that waits until the previous batch has done both,
        so that of two of its batches in the database at once the one sent first is received
        first and keeps the identifiers they share (M-13, M-17).
        """
        raw = (await self._connection.get_raw_connection()).driver_connection
        per_meter: dict[str, tuple[str, tuple[str, ...], TimeWindow | None, Meter]] = {}
        parts = []
        for start in range(0, len(staged), _CHUNK):
            if start:
                await asyncio.sleep(0)  # other batches' commits wait for the event loop
            parts.append(_copy_text(staged[start : start + _CHUNK], received_at, per_meter))
        text = "".join(parts)
        only_adds = not any(recomputes(facts[3]) for facts in per_meter.values())
        async with raw.cursor() as cursor:
            await cursor.execute(_BEGIN_BATCH)
            async with in_turn or nullcontext():
                async with cursor.copy(_COPY) as copy:
                    await copy.write(text)
                if only_adds:
                    await cursor.execute(_INSERT_EVENTS_AND_ADD, {"received_at": received_at})
                    (inserted,) = await cursor.fetchone()  # type: ignore[misc]
                else:
                    await cursor.execute(_INSERT, {"received_at": received_at})
                    inserted = cursor.rowcount
            existing: dict[int, StoredEvent] = {}
            if inserted < len(staged):
                await cursor.execute(_NOT_INSERTED)
                existing = {row[0]: StoredEvent(*row[1:]) for row in await cursor.fetchall()}
        if only_adds or not inserted:
            return existing
        new_items = [item for item in staged if item.ord not in existing]
        await self.lock_customers(
            [(item.meter.id, item.event.customer_id) for item in new_items if recomputes(item.meter)]
        )
        await self._session.execute(sa.text(_MERGE_NEW_EVENTS), {"not_inserted": sorted(existing)})
        windows = set()
        for item in new_items:
            if item.meter.event_time_window is not None:
                start = window_start(item.event.timestamp, item.meter.event_time_window)
                end = start + WINDOW_LENGTHS[item.meter.event_time_window]
                windows.add((item.meter.id, item.event.customer_id, start, end))
        await self.recompute_buckets(sorted(windows))
        return existing

    async def lock_customers(self, keys: Sequence[tuple[str, str]]) -> None:
        """Serialise rollup changes per meter x customer until commit (sorted: no lock cycles)."""
        if not keys:
            return
        await self._session.execute(
            sa.text(_LOCK_CUSTOMERS),
            {
                "meter_ids": [meter_id for meter_id, _ in keys],
                "customer_ids": [customer for _, customer in keys],
            },
        )

    async def recompute_buckets(self, ranges: Sequence[tuple[str, str, datetime, datetime]]) -> None:
        """Rebuild the rollups of these meter x customer x [start, end) hour ranges from raw events.

        For formulas that cannot subtract (``last``, ``max``, ``min``, ``unique_count``) and for
        pre-aggregated meters, where a change can make another event count (M-16, M-17).
        The caller holds the customers' locks (:meth:`lock_customers`).
        """
        if not ranges:
            return
        params = {
            "meter_ids": [r[0] for r in ranges],
            "customer_ids": [r[1] for r in ranges],
            "starts": [r[2] for r in ranges],
            "ends": [r[3] for r in ranges],
        }
        await self._session.execute(sa.text(_DELETE_BUCKETS), params)
        await self._session.execute(sa.text(_RECOMPUTE_BUCKETS), params)

    async def get_for_update(self, meter_id: str, identifier: str) -> EventRow | None:
        row = (
            await self._session.execute(
                sa.text(
                    'SELECT meter_id, identifier, customer_id, value, dimension_values, payload, "timestamp",'
                    " received_at, cancelled_at FROM metering.meter_events"
                    " WHERE meter_id = :meter_id AND identifier = :identifier FOR UPDATE"
                ),
                {"meter_id": meter_id, "identifier": identifier},
            )
        ).first()
        return None if row is None else EventRow(*row)

    async def cancel(self, meter: Meter, event: EventRow, now: datetime) -> None:
        """Mark the event cancelled and take it out of its rollup bucket (M-16)."""
        await self._session.execute(
            sa.text(_CANCEL), {"now": now, "meter_id": meter.id, "identifier": event.identifier}
        )
        if not recomputes(meter):
            await self._session.execute(
                sa.text(_SUBTRACT),
                {
                    "value": event.value,
                    "meter_id": meter.id,
                    "customer_id": event.customer_id,
                    "timestamp": event.timestamp,
                    "dimension_values": event.dimension_values,
                },
            )
            return
        await self.lock_customers([(meter.id, event.customer_id)])
        window = TimeWindow.HOUR if meter.event_time_window is None else meter.event_time_window
        start = window_start(event.timestamp, window)
        await self.recompute_buckets([(meter.id, event.customer_id, start, start + WINDOW_LENGTHS[window])])
