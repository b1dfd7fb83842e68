"""Balance watches: customers' auto top-ups (R-6) and balance alerts (R-7), and each
watch's state.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

SCHEMA = "invoicing"


def upgrade() -> None:
    for column in ("auto_top_ups", "balance_alerts"):
        op.add_column(
            "customers",
            sa.Column(column, JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
            schema=SCHEMA,
        )
    op.create_table(
        "balance_watch_states",
        sa.Column("customer_id", sa.Text, sa.ForeignKey("invoicing.customers.id"), primary_key=True),
        sa.Column("watch", sa.Text, primary_key=True),
        sa.Column("armed", sa.Boolean, nullable=False),
        sa.Column("month", sa.Text, nullable=False),
        sa.Column("topped_up_minor", sa.BigInteger, nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        schema=SCHEMA,
    )


def downgrade() -> None:
    op.drop_table("balance_watch_states", schema=SCHEMA)
    for column in ("balance_alerts", "auto_top_ups"):
        op.drop_column("customers", column, schema=SCHEMA)
