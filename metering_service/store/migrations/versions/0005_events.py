"""The outbox of metering's events (E-1..E-3).

Revision ID: 0005
Revises: 0004
"""

from drawdown.events.migrations import create_event_tables, drop_event_tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SCHEMA = "metering"


def upgrade() -> None:
    create_event_tables(SCHEMA)


def downgrade() -> None:
    drop_event_tables(SCHEMA)
