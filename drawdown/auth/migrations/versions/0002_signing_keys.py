"""Signing keys shared by every replica of the suite (page tokens, X-4).

Revision ID: 0002
Revises: 0001
"""

import os

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "signing_keys",
        sa.Column("name", sa.Text, primary_key=True),
        sa.Column("secret", sa.LargeBinary, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("length(secret) >= 32", name="signing_keys_secret_long_enough"),
        schema="auth",
    )
    op.bulk_insert(table, [{"name": "page_tokens", "secret": os.urandom(32)}])


def downgrade() -> None:
    op.drop_table("signing_keys", schema="auth")
