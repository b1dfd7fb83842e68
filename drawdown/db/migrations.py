"""Alembic migrations, one history per schema, applied on start or by ``drawdown migrate``.

Each owner of a schema (the auth store here, and each service) ships a migrations folder
whose ``env.py`` calls :func:`run_env`. Applying takes a PostgreSQL advisory lock so that
services starting together never race on the same history.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from alembic import command, context
from alembic.config import Config

from drawdown.db.urls import sqlalchemy_url


@dataclass(frozen=True)
class MigrationSet:
    """A schema and where its Alembic scripts live (``package:folder``)."""

    schema: str
    script_location: str


def upgrade(url: str, migration_set: MigrationSet, revision: str = "head") -> None:
    """Bring ``migration_set.schema`` to ``revision``; a no-op when it is there already."""
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": "drawdown.migrate"}
            )
            connection.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{migration_set.schema}"'))
            config = Config()
            config.set_main_option("script_location", migration_set.script_location)
            config.attributes["connection"] = connection
            config.attributes["schema"] = migration_set.schema
            command.upgrade(config, revision)
    finally:
        engine.dispose()


def current_revision(url: str, migration_set: MigrationSet) -> str | None:
    """The revision a schema is at, or None if it was never migrated."""
    engine = sa.create_engine(sqlalchemy_url(url), poolclass=sa.NullPool)
    try:
        with engine.connect() as connection:
            table = f'"{migration_set.schema}".alembic_version'
            exists = connection.execute(sa.text("SELECT to_regclass(:t)"), {"t": table}).scalar()
            if exists is None:
                return None
            return connection.execute(sa.text(f"SELECT version_num FROM {table}")).scalar()
    finally:
        engine.dispose()


def run_env() -> None:
    """The body of every migrations folder's ``env.py``: run on the connection ``upgrade`` opened."""
    connection = context.config.attributes["connection"]
    schema = context.config.attributes["schema"]
    context.configure(connection=connection, version_table_schema=schema, include_schemas=True)
    with context.begin_transaction():
        context.run_migrations()
