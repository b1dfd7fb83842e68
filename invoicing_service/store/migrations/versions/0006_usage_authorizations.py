"""Usage authorizations (R-1..R-5) and customers' overdraft allowances (R-2).

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

SCHEMA = "invoicing"
_TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column(
        "customers",
        sa.Column("overdraft_allowances", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
        schema=SCHEMA,
    )
    op.create_table(
        "usage_authorizations",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("customer_id", sa.Text, sa.ForeignKey("invoicing.customers.id"), nullable=False),
        sa.Column("test_clock_id", sa.Text, nullable=True),
        sa.Column("price_id", sa.Text, nullable=False),
        sa.Column("meter_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("currency", sa.Text, nullable=False),
        sa.Column("authorized_quantity", sa.Numeric, nullable=True),
        sa.Column("authorized_amount_minor", sa.BigInteger, nullable=False),
        sa.Column("sources", JSONB, nullable=False),
        sa.Column("spendable_after_minor", sa.BigInteger, nullable=False),
        sa.Column("request_fingerprint", sa.Text, nullable=False),
        sa.Column("captured_quantity", sa.Numeric, nullable=True),
        sa.Column("captured_amount_minor", sa.BigInteger, nullable=True),
        sa.Column("quantity_estimated", sa.Boolean, nullable=False),
        sa.Column("create_time", _TS, nullable=False),
        sa.Column("expire_time", _TS, nullable=False),
        sa.Column("end_time", _TS, nullable=True),
        sa.Column("update_time", _TS, nullable=False),
        sa.CheckConstraint(
            "status IN ('authorized', 'capturing', 'captured', 'released', 'expired')",
            name="usage_authorizations_status",
        ),
        sa.CheckConstraint("authorized_amount_minor >= 0", name="usage_authorizations_amount"),
        schema=SCHEMA,
    )
    op.create_index(
        "usage_authorizations_by_customer",
        "usage_authorizations",
        ["customer_id", sa.text("create_time DESC"), sa.text("id DESC")],
        schema=SCHEMA,
    )
    op.create_index(
        "usage_authorizations_due",
        "usage_authorizations",
        ["expire_time"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'authorized'"),
    )
    op.create_index(
        "usage_authorizations_capturing",
        "usage_authorizations",
        ["update_time"],
        schema=SCHEMA,
        postgresql_where=sa.text("status = 'capturing'"),
    )


def downgrade() -> None:
    op.drop_table("usage_authorizations", schema=SCHEMA)
    op.drop_column("customers", "overdraft_allowances", schema=SCHEMA)
