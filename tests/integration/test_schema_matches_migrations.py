"""Each schema's tables as the code declares them (``store/schema.py``) are the tables its
migrations build: a column, index, constraint or type changed on one side only fails here.

The code's tables drive the SQL the services send; the migrations build the databases
they run on. Alembic's autogenerate comparison reads the migrated database and lists
every difference from the declared metadata.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from credits_service.store import schema as credits_schema
from drawdown.auth import store as auth_store
from drawdown.db.urls import sqlalchemy_url
from invoicing_service.store import schema as invoicing_schema
from metering_service.store import schema as metering_schema

SCHEMAS = {
    "auth": auth_store.metadata,
    "metering": metering_schema.metadata,
    "credits": credits_schema.metadata,
    "invoicing": invoicing_schema.metadata,
}


@pytest.mark.parametrize("schema", SCHEMAS)
def test_the_declared_tables_are_the_migrated_tables(database_url: str, schema: str) -> None:
    metadata = SCHEMAS[schema]

    engine = sa.create_engine(sqlalchemy_url(database_url), poolclass=sa.NullPool)

    def include_name(name: str | None, type_: str, parent_names: dict) -> bool:
        if type_ == "schema":
            return name == schema
        if type_ == "table" and name in partitions or parent_names.get("table_name") in partitions:
            return False  # partitions are made as time passes; their parent is declared
        return name != "alembic_version"

    try:
        with engine.connect() as connection:
            partitions = set(
                connection.execute(
                    sa.text(
                        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                        " WHERE n.nspname = :schema AND c.relispartition"
                    ),
                    {"schema": schema},
                ).scalars()
            )
            context = MigrationContext.configure(
                connection,
                opts={"include_schemas": True, "include_name": include_name, "compare_type": True},
            )
            differences = compare_metadata(context, metadata)
    finally:
        engine.dispose()

    assert [_described(difference) for difference in differences] == []


def _described(difference: object) -> str:
    """One difference as ``operation name``, e.g. ``remove_index meters_newest_first``."""
    first = difference[0] if isinstance(difference, list) else difference
    operation, *objects = first  # type: ignore[misc]
    names = [getattr(item, "name", None) or str(item) for item in objects if item is not None]
    return " ".join([operation, *names])[:200]
