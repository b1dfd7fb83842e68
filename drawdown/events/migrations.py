"""The migration steps of the outbox tables, which every service's history applies to its
own schema. Each step is frozen once released: a later change to ``EventTables`` gets a
step of its own."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

_TS = sa.DateTime(timezone=True)


def create_event_tables(schema: str) -> None:
    """``<schema>.events`` and ``<schema>.event_retention`` (E-1..E-3)."""
    op.create_table(
        "events",
        sa.Column("position", sa.BigInteger, sa.Identity(always=True), primary_key=True),
        sa.Column("id", sa.Text, nullable=False, unique=True),
        sa.Column("type", sa.Text, nullable=False),
        sa.Column("customer_id", sa.Text),
        sa.Column("test_clock_id", sa.Text),
        sa.Column("request_id", sa.Text),
        sa.Column("create_time", _TS, nullable=False),
        sa.Column("data_type", sa.Text, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        schema=schema,
    )
    op.create_index("events_by_customer", "events", ["customer_id", "position"], schema=schema)
    op.create_index("events_by_create_time", "events", ["create_time"], schema=schema)
    op.create_table(
        "event_retention",
        sa.Column("singleton", sa.Boolean, primary_key=True, server_default=sa.true()),
        sa.Column("pruned_through", sa.BigInteger, nullable=False, server_default="0"),
        sa.CheckConstraint("singleton", name="event_retention_one_row"),
        schema=schema,
    )


def drop_event_tables(schema: str) -> None:
    op.drop_table("event_retention", schema=schema)
    op.drop_table("events", schema=schema)
