"""Test clocks and the customers living on them (I-18).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from metering_service.store.schema import test_clock_customers, test_clocks

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_TABLES = [test_clocks, test_clock_customers]


def upgrade() -> None:
    bind = op.get_bind()
    for table in _TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(_TABLES):
        table.drop(bind)
