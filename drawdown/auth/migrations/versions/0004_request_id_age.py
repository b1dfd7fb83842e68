"""Request ids of the auth schema by age, as every schema's (O-6).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("idempotency_keys_by_age", "idempotency_keys", ["created_at"], schema="auth")


def downgrade() -> None:
    op.drop_index("idempotency_keys_by_age", table_name="idempotency_keys", schema="auth")
