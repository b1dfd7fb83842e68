"""The invoicing schema's tables (SQLAlchemy Core) and its migration history.

Amounts are BIGINT minor units, unit prices and quantities NUMERIC; the rules the
database can hold (statuses, ranges, one draft per subscription period) are constraints.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from drawdown.db.idempotency import idempotency_table
from drawdown.db.migrations import MigrationSet
from drawdown.events.outbox import EventTables

SCHEMA = "invoicing"
MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="invoicing_service.store:migrations")

metadata = sa.MetaData(schema=SCHEMA)
idempotency_keys = idempotency_table(metadata)

_TS = sa.DateTime(timezone=True)
_AMOUNT = sa.Numeric(38, 12)
_QUANTITY = sa.Numeric(60, 15)


def _billing_error(table: str) -> list[sa.Column | sa.CheckConstraint]:
    """Why a subscription or invoice was set aside and when (X-6); NULL while billable."""
    return [
        sa.Column("billing_error_reason", sa.Text, nullable=True),
        sa.Column("billing_error_message", sa.Text, nullable=True),
        sa.Column("billing_error_time", _TS, nullable=True),
        sa.CheckConstraint(
            "(billing_error_reason IS NULL) = (billing_error_time IS NULL)", name=f"{table}_billing_error"
        ),
    ]


test_clocks = sa.Table(
    "test_clocks",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("frozen_time", _TS, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    sa.CheckConstraint("status IN ('ready', 'advancing', 'internal_failure')", name="test_clocks_status"),
)

customers = sa.Table(
    "customers",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("metadata", JSONB, nullable=False),
    sa.Column("test_clock_id", sa.Text, sa.ForeignKey("test_clocks.id"), nullable=True),
    sa.Column("grace_period_seconds", sa.BigInteger, nullable=False),
    # currency → the overdraft allowance in minor units (none: no allowance).
    sa.Column("overdraft_allowances", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    # R-6, R-7: the balance watches' settings, as lists (store.customers converts them).
    sa.Column("auto_top_ups", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("balance_alerts", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    sa.CheckConstraint("grace_period_seconds BETWEEN 0 AND 259200", name="customers_grace_period"),
)

products = sa.Table(
    "products",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("metadata", JSONB, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
)

prices = sa.Table(
    "prices",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("product_id", sa.Text, sa.ForeignKey("products.id"), nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False),
    sa.Column("nickname", sa.Text, nullable=False),
    sa.Column("metadata", JSONB, nullable=False),
    sa.Column("usage_type", sa.Text, nullable=False),
    sa.Column("interval", sa.Text, nullable=False),
    sa.Column("interval_count", sa.Integer, nullable=False),
    sa.Column("meter_id", sa.Text, nullable=True),
    sa.Column("billing_scheme", sa.Text, nullable=False),
    sa.Column("unit_amount_decimal", _AMOUNT, nullable=True),
    sa.Column("tiers_mode", sa.Text, nullable=True),
    sa.Column("tiers", JSONB, nullable=False),
    sa.Column("transform_divide_by", sa.BigInteger, nullable=True),
    sa.Column("transform_round", sa.Text, nullable=True),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    sa.CheckConstraint("usage_type IN ('metered', 'licensed')", name="prices_usage_type"),
    sa.CheckConstraint("(usage_type = 'metered') = (meter_id IS NOT NULL)", name="prices_meter"),
    sa.CheckConstraint("unit_amount_decimal IS NULL OR unit_amount_decimal >= 0", name="prices_unit_amount"),
    sa.CheckConstraint("interval_count >= 1", name="prices_interval_count"),
)

subscriptions = sa.Table(
    "subscriptions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("interval", sa.Text, nullable=False),
    sa.Column("interval_count", sa.Integer, nullable=False),
    sa.Column("billing_cycle_anchor", _TS, nullable=False),
    sa.Column("current_period_start", _TS, nullable=False),
    sa.Column("current_period_end", _TS, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("cancel_at_period_end", sa.Boolean, nullable=False),
    sa.Column("cancel_time", _TS, nullable=True),
    sa.Column("grace_period_seconds", sa.BigInteger, nullable=True),
    sa.Column("latest_invoice_id", sa.Text, nullable=True),
    sa.Column("test_clock_id", sa.Text, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    sa.CheckConstraint("status IN ('active', 'canceled')", name="subscriptions_status"),
    sa.CheckConstraint("current_period_end > current_period_start", name="subscriptions_period"),
    sa.CheckConstraint(
        "grace_period_seconds IS NULL OR grace_period_seconds BETWEEN 0 AND 259200",
        name="subscriptions_grace",
    ),
    *_billing_error("subscriptions"),
)
sa.Index(
    "subscriptions_due",
    subscriptions.c.current_period_end,
    postgresql_where=sa.text("status = 'active' AND NOT deleted"),
)

subscription_items = sa.Table(
    "subscription_items",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("subscription_id", sa.Text, sa.ForeignKey("subscriptions.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("price_id", sa.Text, sa.ForeignKey("prices.id"), nullable=False),
    sa.Column("quantity", sa.BigInteger, nullable=True),
    sa.UniqueConstraint("subscription_id", "position", name="subscription_items_position"),
    sa.UniqueConstraint("subscription_id", "price_id", name="subscription_items_price"),
)

# Statuses: the five of I-12 plus three internal ones that mark a step of a saga whose
# outbound call may not have completed (finalizing → draft, voiding / paying → open on
# the API); the recovery sweep completes them.
invoices = sa.Table(
    "invoices",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, sa.ForeignKey("customers.id"), nullable=False),
    sa.Column("subscription_id", sa.Text, sa.ForeignKey("subscriptions.id"), nullable=True),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("billing_reason", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("period_start", _TS, nullable=False),
    sa.Column("period_end", _TS, nullable=False),
    sa.Column("subtotal", sa.BigInteger, nullable=False),
    sa.Column("total_credits_applied", sa.BigInteger, nullable=False),
    sa.Column("amount_due", sa.BigInteger, nullable=False),
    sa.Column("amount_paid", sa.BigInteger, nullable=False),
    sa.Column("credit_applications", JSONB, nullable=False),
    sa.Column("auto_finalize_time", _TS, nullable=True),
    sa.Column("finalize_time", _TS, nullable=True),
    sa.Column("paid_time", _TS, nullable=True),
    sa.Column("void_time", _TS, nullable=True),
    sa.Column("uncollectible_time", _TS, nullable=True),
    sa.Column("credit_purchase", JSONB(none_as_null=True), nullable=True),
    sa.Column("test_clock_id", sa.Text, nullable=True),
    sa.Column("deleted", sa.Boolean, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    # Wall-clock time of the last write (update_time follows the customer's clock, which
    # may be a test clock): the recovery sweep judges stuck sagas by it.
    sa.Column("touched_at", _TS, nullable=False, server_default=sa.func.now()),
    sa.CheckConstraint(
        "status IN ('draft', 'finalizing', 'open', 'paying', 'paid', 'voiding', 'void', 'uncollectible')",
        name="invoices_status",
    ),
    sa.CheckConstraint(
        "billing_reason IN ('subscription_cycle', 'subscription_cancel', 'subscription_create', 'credit_purchase')",
        name="invoices_billing_reason",
    ),
    sa.CheckConstraint("subtotal >= 0 AND total_credits_applied >= 0", name="invoices_amounts"),
    sa.CheckConstraint(
        "amount_due = subtotal - total_credits_applied AND amount_due >= 0", name="invoices_due"
    ),
    sa.CheckConstraint("amount_paid IN (0, amount_due)", name="invoices_paid"),
    sa.CheckConstraint("period_end >= period_start", name="invoices_period"),
    sa.CheckConstraint(
        "(billing_reason = 'credit_purchase') = (credit_purchase IS NOT NULL)", name="invoices_purchase"
    ),
    *_billing_error("invoices"),
)
# I-10: each subscription period is drafted once, whichever replica closes it.
sa.Index(
    "invoices_one_per_period",
    invoices.c.subscription_id,
    invoices.c.period_start,
    unique=True,
    postgresql_where=sa.text("billing_reason IN ('subscription_cycle', 'subscription_cancel')"),
)
sa.Index(
    "invoices_due_drafts",
    invoices.c.auto_finalize_time,
    postgresql_where=sa.text("status = 'draft' AND NOT deleted"),
)
sa.Index(
    "invoices_in_flight",
    invoices.c.touched_at,
    postgresql_where=sa.text("status IN ('finalizing', 'voiding', 'paying')"),
)
sa.Index("invoices_customer", invoices.c.customer_id, invoices.c.id)

invoice_lines = sa.Table(
    "invoice_lines",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("invoice_id", sa.Text, sa.ForeignKey("invoices.id"), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("price_id", sa.Text, nullable=True),
    sa.Column("subscription_item_id", sa.Text, nullable=True),
    sa.Column("quantity", _QUANTITY, nullable=False),
    sa.Column("usage_quantity", _QUANTITY, nullable=True),
    sa.Column("unit_amount_decimal", _AMOUNT, nullable=True),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("period_start", _TS, nullable=False),
    sa.Column("period_end", _TS, nullable=False),
    sa.Column("credits", JSONB, nullable=False),
    sa.Column("credits_applied", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("invoice_id", "position", name="invoice_lines_position"),
    sa.CheckConstraint("kind IN ('metered', 'licensed', 'credit_purchase')", name="invoice_lines_kind"),
    sa.CheckConstraint("amount >= 0 AND credits_applied BETWEEN 0 AND amount", name="invoice_lines_credits"),
)

# Usage authorizations (R-1..R-5); ``sources`` is [[grant_id, amount_minor], ...] as
# credits named them. ``test_clock_id`` is the customer's (fixed for life), so that the
# expiry sweeps find a clock's authorizations without a join.
usage_authorizations = sa.Table(
    "usage_authorizations",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, sa.ForeignKey("customers.id"), nullable=False),
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
)
sa.Index(
    "usage_authorizations_by_customer",
    usage_authorizations.c.customer_id,
    usage_authorizations.c.create_time.desc(),
    usage_authorizations.c.id.desc(),
)
sa.Index(
    "usage_authorizations_due",
    usage_authorizations.c.expire_time,
    postgresql_where=usage_authorizations.c.status == "authorized",
)
sa.Index(
    "usage_authorizations_capturing",
    usage_authorizations.c.update_time,
    postgresql_where=usage_authorizations.c.status == "capturing",
)

# Events (E-1..E-3): the outbox of invoicing's changes.
# per customer and watch (``domain.balance_watches`` keys), whether it is armed
# and what a top-up bought in ``month``. Read and written under the customer's row lock.
balance_watch_states = sa.Table(
    "balance_watch_states",
    metadata,
    sa.Column("customer_id", sa.Text, sa.ForeignKey("customers.id"), primary_key=True),
    sa.Column("watch", sa.Text, primary_key=True),
    sa.Column("armed", sa.Boolean, nullable=False),
    sa.Column("month", sa.Text, nullable=False),
    sa.Column("topped_up_minor", sa.BigInteger, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
)

EVENT_TABLES = EventTables(metadata)

# Webhooks (E-4, E-5): endpoints, one delivery per endpoint and event with its attempts,
# and how far the events of each service have been fanned out to the endpoints.
webhook_endpoints = sa.Table(
    "webhook_endpoints",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("event_types", ARRAY(sa.Text), nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("secret", sa.Text, nullable=False),
    sa.Column("disabled_reason", sa.Text, nullable=False),
    sa.Column("failing_since", _TS, nullable=True),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    sa.CheckConstraint("status IN ('enabled', 'disabled')", name="webhook_endpoints_status"),
)

webhook_deliveries = sa.Table(
    "webhook_deliveries",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column(
        "endpoint_id", sa.Text, sa.ForeignKey("webhook_endpoints.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("event_id", sa.Text, nullable=False),
    sa.Column("event_type", sa.Text, nullable=False),
    sa.Column("body", sa.LargeBinary, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("next_attempt_time", _TS, nullable=True),
    sa.Column("create_time", _TS, nullable=False),
    sa.UniqueConstraint("endpoint_id", "event_id", name="webhook_deliveries_once_per_endpoint"),
    sa.CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="webhook_deliveries_status"),
    sa.CheckConstraint(
        "(status = 'pending') = (next_attempt_time IS NOT NULL)", name="webhook_deliveries_due_when_pending"
    ),
)
sa.Index(
    "webhook_deliveries_due",
    webhook_deliveries.c.next_attempt_time,
    postgresql_where=webhook_deliveries.c.status == "pending",
)
sa.Index("webhook_deliveries_by_endpoint", webhook_deliveries.c.endpoint_id, webhook_deliveries.c.id)

webhook_delivery_attempts = sa.Table(
    "webhook_delivery_attempts",
    metadata,
    sa.Column(
        "delivery_id", sa.Text, sa.ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), primary_key=True
    ),
    sa.Column("attempt", sa.Integer, primary_key=True),
    sa.Column("attempt_time", _TS, nullable=False),
    sa.Column("http_status", sa.Integer, nullable=False),
    sa.Column("error", sa.Text, nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
)

webhook_sources = sa.Table(
    "webhook_sources",
    metadata,
    sa.Column("source", sa.Text, primary_key=True),
    sa.Column("position", sa.BigInteger, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
)
