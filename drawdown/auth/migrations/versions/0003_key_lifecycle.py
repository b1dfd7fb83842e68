"""API key lifecycle (O-3): expiry, last use, and request ids of the key mutations.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

from drawdown.db.idempotency import idempotency_columns

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("api_keys", sa.Column("expire_at", sa.DateTime(timezone=True)), schema="auth")
    op.add_column("api_keys", sa.Column("last_used_at", sa.DateTime(timezone=True)), schema="auth")
    op.create_index("api_keys_newest_first", "api_keys", ["created_at", "id"], schema="auth")
    op.create_table("idempotency_keys", *idempotency_columns(), schema="auth")


def downgrade() -> None:
    op.drop_table("idempotency_keys", schema="auth")
    op.drop_index("api_keys_newest_first", table_name="api_keys", schema="auth")
    op.drop_column("api_keys", "last_used_at", schema="auth")
    op.drop_column("api_keys", "expire_at", schema="auth")
