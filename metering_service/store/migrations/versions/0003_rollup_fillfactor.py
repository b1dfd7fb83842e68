"""Free room on rollup pages, so that a batch's rollup upserts update rows in place.

Every ingested batch updates the rollup rows of its hours. With room left on the page
PostgreSQL rewrites such a row as a heap-only tuple (no primary-key index entry to add,
less to vacuum); only the counters change, never the key.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("ALTER TABLE metering.meter_rollups SET (fillfactor = 70)")


def downgrade() -> None:
    op.execute("ALTER TABLE metering.meter_rollups RESET (fillfactor)")
