"""Request ids by age, so that those older than 30 days are pruned cheaply (O-6).

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idempotency_keys_by_age", "idempotency_keys", ["created_at"], schema="metering")


def downgrade() -> None:
    op.drop_index("idempotency_keys_by_age", table_name="idempotency_keys", schema="metering")
