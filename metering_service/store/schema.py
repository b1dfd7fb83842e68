"""The metering schema's tables (SQLAlchemy Core) and its migration history.

Kept in step with ``migrations/versions``. What the database can guarantee it does:
event names unique among meters (M-1), identifiers unique per meter (M-13: the primary
key of each weekly partition of ``meter_events``, with a look into the older ones at
ingest, ``store/partitions.py``), values in ``NUMERIC(30, 15)`` (M-12). ``meter_rollups`` holds one
row per meter x customer x UTC hour x dimension values over the counted events, with the
partial state of ``domain.aggregation.RollupState`` (only the columns the meter's formula
reads are meaningful); summaries read it instead of raw events (M-20, M-21).
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, BYTEA, JSONB

from drawdown.db.idempotency import idempotency_table
from drawdown.db.migrations import MigrationSet
from drawdown.db.test_clocks import TestClockTables
from drawdown.events.outbox import EventTables

SCHEMA = "metering"
MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="metering_service.store:migrations")

metadata = sa.MetaData(schema=SCHEMA)
idempotency_keys = idempotency_table(metadata)

_TS = sa.DateTime(timezone=True)

meters = sa.Table(
    "meters",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("display_name", sa.Text, nullable=False),
    sa.Column("event_name", sa.Text, nullable=False),
    sa.Column("aggregation", sa.Text, nullable=False),
    sa.Column("customer_key", sa.Text, nullable=False),
    sa.Column("value_key", sa.Text, nullable=False),
    sa.Column("dimension_keys", ARRAY(sa.Text), nullable=False),
    sa.Column("event_time_window", sa.Text),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("created_at", _TS, nullable=False),
    sa.Column("updated_at", _TS, nullable=False),
    sa.Column("deactivated_at", _TS),
)

sa.Index("meters_event_name_key", meters.c.event_name, unique=True)
sa.Index("meters_newest_first", meters.c.created_at.desc(), meters.c.id.desc())

meter_events = sa.Table(
    "meter_events",
    metadata,
    sa.Column("meter_id", sa.Text, sa.ForeignKey("meters.id"), primary_key=True),
    sa.Column("identifier", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("value", sa.Numeric(30, 15), nullable=False),
    sa.Column("dimension_values", ARRAY(sa.Text), nullable=False),
    sa.Column("payload", JSONB, nullable=False),
    sa.Column("timestamp", _TS, nullable=False),
    sa.Column("timestamp_sent", sa.Boolean, nullable=False),
    sa.Column("received_at", _TS, nullable=False),
    sa.Column("received_seq", sa.BigInteger, nullable=False),
    sa.Column("fingerprint", BYTEA, nullable=False),
    sa.Column("preaggregation_window", _TS),
    sa.Column("cancelled_at", _TS),
    # The partition (a week of receipts) the event lives in: see ``store/partitions.py``.
    sa.Column("week", sa.Date, primary_key=True),
    postgresql_partition_by="RANGE (week)",
)

# The partitions of ``meter_events``, one row each (O-6).
meter_event_weeks = sa.Table(
    "meter_event_weeks",
    metadata,
    sa.Column("week", sa.Date, primary_key=True),
    sa.Column("partition", sa.Text, nullable=False, unique=True),
    sa.Column("opened_at", _TS),
)

sa.Index(
    "meter_events_by_customer_time",
    meter_events.c.meter_id,
    meter_events.c.customer_id,
    meter_events.c.timestamp,
)
sa.Index(
    "meter_events_preaggregation",
    meter_events.c.meter_id,
    meter_events.c.customer_id,
    meter_events.c.preaggregation_window,
    meter_events.c.received_seq,
    postgresql_where=meter_events.c.preaggregation_window.isnot(None),
)

meter_rollups = sa.Table(
    "meter_rollups",
    metadata,
    sa.Column("meter_id", sa.Text, sa.ForeignKey("meters.id"), primary_key=True),
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("hour", _TS, primary_key=True),
    sa.Column("dimension_values", ARRAY(sa.Text), primary_key=True),
    sa.Column("event_count", sa.BigInteger, nullable=False),
    sa.Column("total", sa.Numeric, nullable=False),
    sa.Column("maximum", sa.Numeric),
    sa.Column("minimum", sa.Numeric),
    sa.Column("last_timestamp", _TS),
    sa.Column("last_seq", sa.BigInteger),
    sa.Column("last_value", sa.Numeric),
    sa.Column("distinct_values", ARRAY(sa.Numeric)),
)

# Test clocks (I-18), as invoicing tells them: each clock's time and the customers on it.
test_clocks = TestClockTables(metadata)

# Events (E-1..E-3): the outbox of metering's changes.
EVENT_TABLES = EventTables(metadata, (test_clocks.customers, "customer_id", "test_clock_id"))
