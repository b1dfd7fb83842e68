"""Meter events partitioned by the week of their receipt, so that identifiers are pruned
by dropping whole partitions (M-13, O-6); see ``store/partitions.py`` for the design.

The table as it was becomes the partition of everything received before this migration
(``meter_events_legacy``, its rows kept): a new column ``week`` (0001-01-01 for its rows,
which costs no rewrite), its primary key widened by that column, and attached below the
first weekly partition. The weekly partition of the migration's week is created and opened
(ingest writes into it at once) and the next week's ahead of it, so a fresh database
ingests without waiting for the service's maintenance.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# As 0002 made them, the CHECKs named as there: a partition must have its parent's.
_COLUMNS = """
    meter_id text NOT NULL REFERENCES metering.meters (id),
    identifier text NOT NULL
        CONSTRAINT meter_events_identifier_check CHECK (length(identifier) BETWEEN 1 AND 100),
    customer_id text NOT NULL,
    value numeric(30, 15) NOT NULL,
    dimension_values text[] NOT NULL,
    payload jsonb NOT NULL,
    "timestamp" timestamptz NOT NULL,
    timestamp_sent boolean NOT NULL,
    received_at timestamptz NOT NULL,
    received_seq bigint NOT NULL DEFAULT nextval('metering.meter_events_received_seq'),
    fingerprint bytea NOT NULL CONSTRAINT meter_events_fingerprint_check CHECK (length(fingerprint) = 16),
    preaggregation_window timestamptz,
    cancelled_at timestamptz"""

_INDEXES = """
CREATE INDEX meter_events_by_customer_time ON metering.meter_events (meter_id, customer_id, "timestamp");
CREATE INDEX meter_events_preaggregation
    ON metering.meter_events (meter_id, customer_id, preaggregation_window, received_seq)
    WHERE preaggregation_window IS NOT NULL;
"""


def upgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE metering.meter_events RENAME TO meter_events_legacy;
        ALTER INDEX metering.meter_events_pkey RENAME TO meter_events_legacy_pkey;
        ALTER INDEX metering.meter_events_by_customer_time RENAME TO meter_events_legacy_by_customer_time;
        ALTER INDEX metering.meter_events_preaggregation RENAME TO meter_events_legacy_preaggregation;
        ALTER TABLE metering.meter_events_legacy ADD COLUMN week date NOT NULL DEFAULT '0001-01-01';
        ALTER TABLE metering.meter_events_legacy ALTER COLUMN week DROP DEFAULT;
        ALTER TABLE metering.meter_events_legacy DROP CONSTRAINT meter_events_legacy_pkey;
        ALTER TABLE metering.meter_events_legacy ADD PRIMARY KEY (meter_id, identifier, week);

        CREATE TABLE metering.meter_events ({_COLUMNS},
            -- The week (Monday, UTC) of the partition the event was received into.
            week date NOT NULL,
            PRIMARY KEY (meter_id, identifier, week)
        ) PARTITION BY RANGE (week);
        {_INDEXES}

        -- One row per partition: ``opened_at`` is when ingest began writing into it (null
        -- while created ahead); every event of a partition was received before the next
        -- partition opened.
        CREATE TABLE metering.meter_event_weeks (
            week date PRIMARY KEY,
            partition text NOT NULL UNIQUE,
            opened_at timestamptz
        );

        DO $$
        DECLARE
            this_week date := date_trunc('week', now() AT TIME ZONE 'UTC')::date;
            week date;
        BEGIN
            EXECUTE format(
                'ALTER TABLE metering.meter_events ATTACH PARTITION metering.meter_events_legacy'
                ' FOR VALUES FROM (MINVALUE) TO (%L)', this_week);
            INSERT INTO metering.meter_event_weeks VALUES ('0001-01-01', 'meter_events_legacy', now());
            FOREACH week IN ARRAY ARRAY[this_week, this_week + 7] LOOP
                EXECUTE format(
                    'CREATE TABLE metering.%I PARTITION OF metering.meter_events FOR VALUES FROM (%L) TO (%L)',
                    'meter_events_' || to_char(week, 'YYYYMMDD'), week, week + 7);
                INSERT INTO metering.meter_event_weeks
                VALUES (week, 'meter_events_' || to_char(week, 'YYYYMMDD'),
                        CASE WHEN week = this_week THEN now() END);
            END LOOP;
        END $$;
        """
    )


def downgrade() -> None:
    op.execute(
        f"""
        ALTER TABLE metering.meter_events RENAME TO meter_events_partitioned;
        ALTER INDEX metering.meter_events_pkey RENAME TO meter_events_partitioned_pkey;
        ALTER INDEX metering.meter_events_by_customer_time RENAME TO meter_events_partitioned_by_customer_time;
        ALTER INDEX metering.meter_events_preaggregation RENAME TO meter_events_partitioned_preaggregation;
        CREATE TABLE metering.meter_events ({_COLUMNS},
            PRIMARY KEY (meter_id, identifier)
        );
        {_INDEXES}
        INSERT INTO metering.meter_events
        SELECT meter_id, identifier, customer_id, value, dimension_values, payload, "timestamp",
               timestamp_sent, received_at, received_seq, fingerprint, preaggregation_window, cancelled_at
        FROM metering.meter_events_partitioned;
        DROP TABLE metering.meter_events_partitioned;
        DROP TABLE metering.meter_event_weeks;
        """
    )
