"""Test clocks and the customers living on them (I-18).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from metering_service.store.schema import test_clocks

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in test_clocks.tables:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(test_clocks.tables):
        table.drop(bind)
