"""The metering schema's tables (SQLAlchemy Core) and its migration history."""

import sqlalchemy as sa

from drawdown.db.idempotency import idempotency_table
from drawdown.db.migrations import MigrationSet

SCHEMA = "metering"
MIGRATIONS = MigrationSet(schema=SCHEMA, script_location="metering_service.store:migrations")

metadata = sa.MetaData(schema=SCHEMA)
idempotency_keys = idempotency_table(metadata)
