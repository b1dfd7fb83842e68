"""The credits schema's tables (SQLAlchemy Core) and its migration history.

Amounts are BIGINT minor units, bounded where they enter (``domain.limits``) so that
every sum fits. What the database can guarantee it does: positive amounts, priorities in
range, one scope per grant, and ``balance_minor >= 0`` (the cached ledger balance,
updated in the transaction that posts, C-23). The ledger is append-only: a trigger
(migration 0002) refuses UPDATE and DELETE on ``credit_transactions``.
"""

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB

from drawdown.db.idempotency import idempotency_table
from drawdown.db.migrations import MigrationSet
from drawdown.db.test_clocks import TestClockTables
from drawdown.events.outbox import EventTables

SCHEMA = "credits"
MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="credits_service.store:migrations")

metadata = sa.MetaData(schema=SCHEMA)
idempotency_keys = idempotency_table(metadata)

_TS = sa.DateTime(timezone=True)

# One row per customer that ever had a grant or an invoice draw: the lock every money
# movement of the customer takes first (C-14), before any grant row.
credit_customers = sa.Table(
    "credit_customers",
    metadata,
    sa.Column("customer_id", sa.Text, primary_key=True),
    sa.Column("create_time", _TS, nullable=False),
)

credit_grants = sa.Table(
    "credit_grants",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, sa.ForeignKey("credit_customers.customer_id"), nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("category", sa.Text, nullable=False),
    sa.Column("priority", sa.Integer, nullable=False),
    sa.Column("all_metered_prices", sa.Boolean, nullable=False),
    sa.Column("price_ids", ARRAY(sa.Text), nullable=False),
    sa.Column("effective_at", _TS, nullable=False),
    sa.Column("expires_at", _TS, nullable=True),
    sa.Column("metadata", JSONB, nullable=False),
    sa.Column("voided_at", _TS, nullable=True),
    # When the expiry was recorded (by ExpireCreditGrant or the sweep); NULL until then.
    sa.Column("expiry_posted_at", _TS, nullable=True),
    # The cached ledger balance: the signed sum of the grant's transactions (C-20).
    sa.Column("balance_minor", sa.BigInteger, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.Column("update_time", _TS, nullable=False),
    # {"expire_after_seconds": n, "max_amount_minor": m | "max_percent": "p"}; NULL: none.
    sa.Column("rollover", JSONB, nullable=True),
    # the grant whose unused balance this one continues.
    sa.Column("rolled_over_from", sa.Text, nullable=True),
    sa.CheckConstraint("amount_minor > 0", name="credit_grants_amount_positive"),
    sa.CheckConstraint("balance_minor >= 0", name="credit_grants_balance_not_negative"),
    sa.CheckConstraint("balance_minor <= amount_minor", name="credit_grants_balance_within_amount"),
    sa.CheckConstraint("priority BETWEEN 0 AND 100", name="credit_grants_priority"),
    sa.CheckConstraint("category IN ('paid', 'promotional')", name="credit_grants_category"),
    sa.CheckConstraint(
        "all_metered_prices = (cardinality(price_ids) = 0) AND cardinality(price_ids) <= 20",
        name="credit_grants_one_scope",
    ),
    # ExpireCreditGrant on a pending grant records an expiry before the start (C-3).
    sa.CheckConstraint(
        "expires_at IS NULL OR expires_at > effective_at OR expiry_posted_at IS NOT NULL",
        name="credit_grants_expiry_after_start",
    ),
)
sa.Index(
    "credit_grants_by_customer", credit_grants.c.customer_id, credit_grants.c.create_time, credit_grants.c.id
)
sa.Index(
    "credit_grants_expiry_due",
    credit_grants.c.expires_at,
    postgresql_where=sa.and_(credit_grants.c.expiry_posted_at.is_(None), credit_grants.c.voided_at.is_(None)),
)

# The append-only ledger (C-22): never updated, never deleted (trigger in 0002).
credit_transactions = sa.Table(
    "credit_transactions",
    metadata,
    sa.Column("id", sa.Text, primary_key=True),
    # Append order: ids (ULIDs) and create_time do not order rows posted in one call.
    sa.Column("seq", sa.BigInteger, sa.Identity(always=True), nullable=False, unique=True),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("grant_id", sa.Text, sa.ForeignKey("credit_grants.id"), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("effective_at", _TS, nullable=False),
    sa.Column("invoice_id", sa.Text, nullable=True),
    sa.Column("invoice_line_id", sa.Text, nullable=True),
    sa.Column("create_time", _TS, nullable=False),
    # a rollover's credits_expired debit and the credits_granted it became, each naming the other.
    sa.Column("linked_transaction_id", sa.Text, nullable=True),
    sa.CheckConstraint("amount_minor > 0", name="credit_transactions_amount_positive"),
    sa.CheckConstraint(
        "kind IN ('credits_granted', 'credits_application_invoice_voided', 'credits_applied', "
        "'credits_expired', 'credits_voided')",
        name="credit_transactions_kind",
    ),
)
sa.Index(
    "credit_transactions_by_customer",
    credit_transactions.c.customer_id,
    credit_transactions.c.create_time.desc(),
    credit_transactions.c.id.desc(),
)
sa.Index(
    "credit_transactions_by_grant",
    credit_transactions.c.grant_id,
    credit_transactions.c.create_time.desc(),
    credit_transactions.c.id.desc(),
)
sa.Index("credit_transactions_by_invoice", credit_transactions.c.invoice_id)

# Draft-invoice holds (C-13): lower the available balance, never the ledger. One row per
# grant per line, in allocation order; a new hold for an invoice replaces all its rows.
credit_holds = sa.Table(
    "credit_holds",
    metadata,
    sa.Column("invoice_id", sa.Text, primary_key=True),
    sa.Column("position", sa.Integer, primary_key=True),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("grant_id", sa.Text, sa.ForeignKey("credit_grants.id"), nullable=False),
    sa.Column("line_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("create_time", _TS, nullable=False),
    sa.CheckConstraint("amount_minor > 0", name="credit_holds_amount_positive"),
)
sa.Index("credit_holds_by_grant", credit_holds.c.grant_id)
sa.Index("credit_holds_by_customer", credit_holds.c.customer_id)

# Invoice draws recorded once each (C-14): the application (with its posted allocation,
# replayed to any later call) and the reinstatement (with the transactions it posted).
invoice_applications = sa.Table(
    "invoice_applications",
    metadata,
    sa.Column("invoice_id", sa.Text, primary_key=True),
    sa.Column("customer_id", sa.Text, nullable=False),
    sa.Column("currency", sa.Text, nullable=False),
    # [[line_id, grant_id, amount_minor, transaction_id], ...] in response order.
    sa.Column("allocation", JSONB, nullable=False),
    sa.Column("applied_at", _TS, nullable=False),
    sa.Column("reinstated_at", _TS, nullable=True),
    sa.Column("reinstatement_transaction_ids", ARRAY(sa.Text), nullable=True),
)

# Reservations of credits for usage about to happen (R-1..R-4): they lower the spendable
# balance while active (not ended, expire_time not passed), never the available or
# ledger balance. ``sources`` is [[grant_id, amount_minor], ...] in C-11 order.
credit_reservations = sa.Table(
    "credit_reservations",
    metadata,
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
)
sa.Index(
    "credit_reservations_active",
    credit_reservations.c.customer_id,
    credit_reservations.c.expire_time,
    postgresql_where=credit_reservations.c.end_time.is_(None),
)

# Test clocks (I-18), as invoicing tells them (TestClockTimeService): each clock's frozen
# time, which only moves forward, and the customers living on it, one clock each. A
# customer on a clock has its "now" (default effective times, statuses, balances,
# eligibility) judged at the clock's time, and the wall-clock expiry sweep skips it.
test_clocks = TestClockTables(metadata, prefix="credit_")
credit_test_clocks, credit_test_clock_customers = test_clocks.clocks, test_clocks.customers

# Events (E-1..E-3): the outbox of credits' changes.
EVENT_TABLES = EventTables(metadata, (test_clocks.customers, "customer_id", "test_clock_id"))
