"""The outbox of invoicing's events (E-1..E-3) and webhook endpoints with their
deliveries (E-4, E-5).

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import ARRAY

from drawdown.events.migrations import create_event_tables, drop_event_tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "invoicing"
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    create_event_tables(SCHEMA)
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("event_types", ARRAY(sa.Text), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("secret", sa.Text, nullable=False),
        sa.Column("disabled_reason", sa.Text, nullable=False),
        sa.Column("failing_since", _TS, nullable=True),
        sa.Column("create_time", _TS, nullable=False),
        sa.Column("update_time", _TS, nullable=False),
        sa.CheckConstraint("status IN ('enabled', 'disabled')", name="webhook_endpoints_status"),
        schema=SCHEMA,
    )
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column(
            "endpoint_id",
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("event_id", sa.Text, nullable=False),
        sa.Column("event_type", sa.Text, nullable=False),
        sa.Column("body", sa.LargeBinary, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("next_attempt_time", _TS, nullable=True),
        sa.Column("create_time", _TS, nullable=False),
        sa.UniqueConstraint("endpoint_id", "event_id", name="webhook_deliveries_once_per_endpoint"),
        sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="webhook_deliveries_status"),
        sa.CheckConstraint(
            "(status = 'pending') = (next_attempt_time IS NOT NULL)",
            name="webhook_deliveries_due_when_pending",
        ),
        schema=SCHEMA,
    )
    op.create_index(
        "webhook_deliveries_due",
        "webhook_deliveries",
        ["next_attempt_time"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "webhook_deliveries_by_endpoint", "webhook_deliveries", ["endpoint_id", "id"], schema=SCHEMA
    )
    op.create_table(
        "webhook_delivery_attempts",
        sa.Column(
            "delivery_id",
            sa.Text,
            sa.ForeignKey(f"{SCHEMA}.webhook_deliveries.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("attempt", sa.Integer, primary_key=True),
        sa.Column("attempt_time", _TS, nullable=False),
        sa.Column("http_status", sa.Integer, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("duration_ms", sa.Integer, nullable=False),
        schema=SCHEMA,
    )
    op.create_table(
        "webhook_sources",
        sa.Column("source", sa.Text, primary_key=True),
        sa.Column("position", sa.BigInteger, nullable=False),
        sa.Column("update_time", _TS, nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    for table in ("webhook_sources", "webhook_delivery_attempts", "webhook_deliveries", "webhook_endpoints"):
        op.drop_table(table, schema=SCHEMA)
    drop_event_tables(SCHEMA)
