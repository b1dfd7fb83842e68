"""Rollover of unused credits at expiry (R-8): the grant's policy, the grant it continues,
and the link between a rollover's two ledger entries.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


# 0002 creates its tables as ``schema`` declares them, so on a new database the columns
# exist already; on one migrated before this revision they are added here.
_ADD = """
ALTER TABLE credits.credit_grants ADD COLUMN IF NOT EXISTS rollover JSONB;
ALTER TABLE credits.credit_grants ADD COLUMN IF NOT EXISTS rolled_over_from TEXT;
ALTER TABLE credits.credit_transactions ADD COLUMN IF NOT EXISTS linked_transaction_id TEXT;
"""


def upgrade() -> None:
    op.execute(_ADD)


def downgrade() -> None:
    op.drop_column("credit_transactions", "linked_transaction_id", schema="credits")
    op.drop_column("credit_grants", "rolled_over_from", schema="credits")
    op.drop_column("credit_grants", "rollover", schema="credits")
