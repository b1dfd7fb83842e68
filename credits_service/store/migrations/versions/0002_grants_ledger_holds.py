"""Grants, the append-only ledger, draft holds and invoice applications (C-1..C-23).

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from credits_service.store.schema import (
    credit_customers,
    credit_grants,
    credit_holds,
    credit_transactions,
    invoice_applications,
)

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TABLES = [credit_customers, credit_grants, credit_transactions, credit_holds, invoice_applications]

# C-22: the ledger is append-only. The database refuses any change to a posted row, so a
# bug (or a hand-typed UPDATE) cannot rewrite history.
_APPEND_ONLY = """
CREATE FUNCTION credits.refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'credits.credit_transactions is append-only (% refused)', TG_OP
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER credit_transactions_append_only
    BEFORE UPDATE OR DELETE ON credits.credit_transactions
    FOR EACH ROW EXECUTE FUNCTION credits.refuse_ledger_change();
CREATE TRIGGER credit_transactions_no_truncate
    BEFORE TRUNCATE ON credits.credit_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION credits.refuse_ledger_change();
"""


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)
    op.execute(_APPEND_ONLY)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
    op.execute("DROP FUNCTION credits.refuse_ledger_change()")
