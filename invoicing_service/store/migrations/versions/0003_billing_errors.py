"""Subscriptions and invoices set aside with the reason they could not be billed (X-6).

A period whose usage cannot be billed (an amount beyond what a line holds, a peer refusing
it) no longer holds up the scheduler: the subscription or invoice keeps its reason, message
and the time it was set aside, and the scheduler skips it until that time is an hour old.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = ("subscriptions", "invoices")


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("billing_error_reason", sa.Text(), nullable=True), schema="invoicing")
        op.add_column(table, sa.Column("billing_error_message", sa.Text(), nullable=True), schema="invoicing")
        op.add_column(
            table,
            sa.Column("billing_error_time", sa.DateTime(timezone=True), nullable=True),
            schema="invoicing",
        )
        op.create_check_constraint(
            f"{table}_billing_error",
            table,
            "(billing_error_reason IS NULL) = (billing_error_time IS NULL)",
            schema="invoicing",
        )


def downgrade() -> None:
    for table in _TABLES:
        op.drop_constraint(f"{table}_billing_error", table, schema="invoicing")
        for column in ("billing_error_time", "billing_error_message", "billing_error_reason"):
            op.drop_column(table, column, schema="invoicing")
