"""Customers, test clocks, catalog, subscriptions and invoices (I-1..I-17).

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = [
    "invoice_lines",
    "invoices",
    "subscription_items",
    "subscriptions",
    "prices",
    "products",
    "customers",
    "test_clocks",
]


def upgrade() -> None:
    op.create_table(
        "test_clocks",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("frozen_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('ready', 'advancing', 'internal_failure')", name="test_clocks_status"),
        sa.PrimaryKeyConstraint("id"),
        schema="invoicing",
    )
    op.create_table(
        "customers",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("email", sa.Text(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), nullable=False),
        sa.Column("test_clock_id", sa.Text(), nullable=True),
        sa.Column("grace_period_seconds", sa.BigInteger(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("grace_period_seconds BETWEEN 0 AND 259200", name="customers_grace_period"),
        sa.ForeignKeyConstraint(
            ["test_clock_id"],
            ["invoicing.test_clocks.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="invoicing",
    )
    op.create_table(
        "products",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        schema="invoicing",
    )
    op.create_table(
        "prices",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("product_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("nickname", sa.Text(), nullable=False),
        sa.Column("metadata", postgresql.JSONB(), nullable=False),
        sa.Column("usage_type", sa.Text(), nullable=False),
        sa.Column("interval", sa.Text(), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("meter_id", sa.Text(), nullable=True),
        sa.Column("billing_scheme", sa.Text(), nullable=False),
        sa.Column("unit_amount_decimal", sa.Numeric(precision=38, scale=12), nullable=True),
        sa.Column("tiers_mode", sa.Text(), nullable=True),
        sa.Column("tiers", postgresql.JSONB(), nullable=False),
        sa.Column("transform_divide_by", sa.BigInteger(), nullable=True),
        sa.Column("transform_round", sa.Text(), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("(usage_type = 'metered') = (meter_id IS NOT NULL)", name="prices_meter"),
        sa.CheckConstraint("usage_type IN ('metered', 'licensed')", name="prices_usage_type"),
        sa.CheckConstraint("interval_count >= 1", name="prices_interval_count"),
        sa.CheckConstraint(
            "unit_amount_decimal IS NULL OR unit_amount_decimal >= 0", name="prices_unit_amount"
        ),
        sa.ForeignKeyConstraint(
            ["product_id"],
            ["invoicing.products.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="invoicing",
    )
    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("interval", sa.Text(), nullable=False),
        sa.Column("interval_count", sa.Integer(), nullable=False),
        sa.Column("billing_cycle_anchor", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("cancel_at_period_end", sa.Boolean(), nullable=False),
        sa.Column("cancel_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("grace_period_seconds", sa.BigInteger(), nullable=True),
        sa.Column("latest_invoice_id", sa.Text(), nullable=True),
        sa.Column("test_clock_id", sa.Text(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('active', 'canceled')", name="subscriptions_status"),
        sa.CheckConstraint("current_period_end > current_period_start", name="subscriptions_period"),
        sa.CheckConstraint(
            "grace_period_seconds IS NULL OR grace_period_seconds BETWEEN 0 AND 259200",
            name="subscriptions_grace",
        ),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["invoicing.customers.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="invoicing",
    )
    op.create_index(
        "subscriptions_due",
        "subscriptions",
        ["current_period_end"],
        unique=False,
        schema="invoicing",
        postgresql_where=sa.text("status = 'active' AND NOT deleted"),
    )
    op.create_table(
        "subscription_items",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("price_id", sa.Text(), nullable=False),
        sa.Column("quantity", sa.BigInteger(), nullable=True),
        sa.ForeignKeyConstraint(
            ["price_id"],
            ["invoicing.prices.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["invoicing.subscriptions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("subscription_id", "position", name="subscription_items_position"),
        sa.UniqueConstraint("subscription_id", "price_id", name="subscription_items_price"),
        schema="invoicing",
    )
    op.create_table(
        "invoices",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("customer_id", sa.Text(), nullable=False),
        sa.Column("subscription_id", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("billing_reason", sa.Text(), nullable=False),
        sa.Column("currency", sa.Text(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("subtotal", sa.BigInteger(), nullable=False),
        sa.Column("total_credits_applied", sa.BigInteger(), nullable=False),
        sa.Column("amount_due", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("credit_applications", postgresql.JSONB(), nullable=False),
        sa.Column("auto_finalize_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finalize_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paid_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("void_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("uncollectible_time", sa.DateTime(timezone=True), nullable=True),
        sa.Column("credit_purchase", postgresql.JSONB(), nullable=True),
        sa.Column("test_clock_id", sa.Text(), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("update_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("touched_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "(billing_reason = 'credit_purchase') = (credit_purchase IS NOT NULL)", name="invoices_purchase"
        ),
        sa.CheckConstraint(
            "billing_reason IN ('subscription_cycle', 'subscription_cancel', 'subscription_create', 'credit_purchase')",
            name="invoices_billing_reason",
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'finalizing', 'open', 'paying', 'paid', 'voiding', 'void', 'uncollectible')",
            name="invoices_status",
        ),
        sa.CheckConstraint(
            "amount_due = subtotal - total_credits_applied AND amount_due >= 0", name="invoices_due"
        ),
        sa.CheckConstraint("amount_paid IN (0, amount_due)", name="invoices_paid"),
        sa.CheckConstraint("period_end >= period_start", name="invoices_period"),
        sa.CheckConstraint("subtotal >= 0 AND total_credits_applied >= 0", name="invoices_amounts"),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["invoicing.customers.id"],
        ),
        sa.ForeignKeyConstraint(
            ["subscription_id"],
            ["invoicing.subscriptions.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        schema="invoicing",
    )
    op.create_index("invoices_customer", "invoices", ["customer_id", "id"], unique=False, schema="invoicing")
    op.create_index(
        "invoices_due_drafts",
        "invoices",
        ["auto_finalize_time"],
        unique=False,
        schema="invoicing",
        postgresql_where=sa.text("status = 'draft' AND NOT deleted"),
    )
    op.create_index(
        "invoices_in_flight",
        "invoices",
        ["touched_at"],
        unique=False,
        schema="invoicing",
        postgresql_where=sa.text("status IN ('finalizing', 'voiding', 'paying')"),
    )
    op.create_index(
        "invoices_one_per_period",
        "invoices",
        ["subscription_id", "period_start"],
        unique=True,
        schema="invoicing",
        postgresql_where=sa.text("billing_reason IN ('subscription_cycle', 'subscription_cancel')"),
    )
    op.create_table(
        "invoice_lines",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("invoice_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price_id", sa.Text(), nullable=True),
        sa.Column("subscription_item_id", sa.Text(), nullable=True),
        sa.Column("quantity", sa.Numeric(precision=60, scale=15), nullable=False),
        sa.Column("usage_quantity", sa.Numeric(precision=60, scale=15), nullable=True),
        sa.Column("unit_amount_decimal", sa.Numeric(precision=38, scale=12), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("period_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("credits", postgresql.JSONB(), nullable=False),
        sa.Column("credits_applied", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("kind IN ('metered', 'licensed', 'credit_purchase')", name="invoice_lines_kind"),
        sa.CheckConstraint(
            "amount >= 0 AND credits_applied BETWEEN 0 AND amount", name="invoice_lines_credits"
        ),
        sa.ForeignKeyConstraint(
            ["invoice_id"],
            ["invoicing.invoices.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("invoice_id", "position", name="invoice_lines_position"),
        schema="invoicing",
    )


def downgrade() -> None:
    for table in _TABLES:
        op.drop_table(table, schema="invoicing")
