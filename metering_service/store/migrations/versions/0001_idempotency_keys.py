"""The request_id idempotency store of the metering schema.

Revision ID: 0001
Revises:
"""

from alembic import op

from drawdown.db.idempotency import idempotency_columns

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("idempotency_keys", *idempotency_columns(), schema="metering")


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="metering")
