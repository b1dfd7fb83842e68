"""Reservations of credits for usage about to happen (R-1..R-4).

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "credit_reservations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, nullable=False),
        sa.Column("price_id", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("sources", JSONB, nullable=False),
        sa.Column("spendable_after_minor", sa.BigInteger, nullable=False),
        sa.Column("create_time", _TS, nullable=False),
        sa.Column("expire_time", _TS, nullable=False),
        sa.Column("end_time", _TS, nullable=True),
        sa.CheckConstraint("amount_minor > 0", name="credit_reservations_amount_positive"),
        schema="credits",
    )
    op.create_index(
        "credit_reservations_active",
        "credit_reservations",
        ["customer_id", "expire_time"],
        schema="credits",
        postgresql_where=sa.text("end_time IS NULL"),
    )


def downgrade() -> None:
    op.drop_table("credit_reservations", schema="credits")
