"""Meters, meter events and hourly rollups (M-1..M-21).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE metering.meters (
            id text PRIMARY KEY,
            display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 250),
            event_name text NOT NULL CHECK (length(event_name) BETWEEN 1 AND 100),
            aggregation text NOT NULL
                CHECK (aggregation IN ('sum', 'count', 'last', 'max', 'min', 'unique_count')),
            customer_key text NOT NULL,
            value_key text NOT NULL,
            dimension_keys text[] NOT NULL DEFAULT '{}' CHECK (cardinality(dimension_keys) <= 10),
            event_time_window text CHECK (event_time_window IN ('hour', 'day')),
            status text NOT NULL CHECK (status IN ('active', 'inactive')),
            created_at timestamptz NOT NULL,
            updated_at timestamptz NOT NULL,
            deactivated_at timestamptz,
            CHECK ((status = 'inactive') = (deactivated_at IS NOT NULL))
        );
        CREATE UNIQUE INDEX meters_event_name_key ON metering.meters (event_name);
        CREATE INDEX meters_newest_first ON metering.meters (created_at DESC, id DESC);

        -- received_seq: receipt order (M-17, `last` ties), increasing per meter.
        CREATE SEQUENCE metering.meter_events_received_seq AS bigint;

        CREATE TABLE metering.meter_events (
            meter_id text NOT NULL REFERENCES metering.meters (id),
            identifier text NOT NULL CHECK (length(identifier) BETWEEN 1 AND 100),
            customer_id text NOT NULL,
            value numeric(30, 15) NOT NULL,
            dimension_values text[] NOT NULL,
            payload jsonb NOT NULL,
            "timestamp" timestamptz NOT NULL,
            timestamp_sent boolean NOT NULL,
            received_at timestamptz NOT NULL,
            received_seq bigint NOT NULL DEFAULT nextval('metering.meter_events_received_seq'),
            fingerprint bytea NOT NULL CHECK (length(fingerprint) = 16),
            preaggregation_window timestamptz,
            cancelled_at timestamptz,
            PRIMARY KEY (meter_id, identifier)
        );
        CREATE INDEX meter_events_by_customer_time
            ON metering.meter_events (meter_id, customer_id, "timestamp");
        CREATE INDEX meter_events_preaggregation
            ON metering.meter_events (meter_id, customer_id, preaggregation_window, received_seq)
            WHERE preaggregation_window IS NOT NULL;

        -- One row per meter x customer x UTC hour x dimension values, over counted events.
        CREATE TABLE metering.meter_rollups (
            meter_id text NOT NULL REFERENCES metering.meters (id),
            customer_id text NOT NULL,
            hour timestamptz NOT NULL,
            dimension_values text[] NOT NULL,
            event_count bigint NOT NULL CHECK (event_count >= 0),
            total numeric NOT NULL,
            maximum numeric,
            minimum numeric,
            last_timestamp timestamptz,
            last_seq bigint,
            last_value numeric,
            distinct_values numeric[],
            PRIMARY KEY (meter_id, customer_id, hour, dimension_values)
        );
        """
    )


def downgrade() -> None:
    op.execute(
        """
        DROP TABLE metering.meter_rollups;
        DROP TABLE metering.meter_events;
        DROP SEQUENCE metering.meter_events_received_seq;
        DROP TABLE metering.meters;
        """
    )
