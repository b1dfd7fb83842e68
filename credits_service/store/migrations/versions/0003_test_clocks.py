"""Test clocks and the customers living on them (I-18).

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from credits_service.store.schema import credit_test_clock_customers, credit_test_clocks

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_TABLES = [credit_test_clocks, credit_test_clock_customers]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
