"""The outbox of credits' events (E-1..E-3).

Revision ID: 0004
Revises: 0003
"""

from drawdown.events.migrations import create_event_tables, drop_event_tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

SCHEMA = "credits"


def upgrade() -> None:
    create_event_tables(SCHEMA)


def downgrade() -> None:
    drop_event_tables(SCHEMA)
