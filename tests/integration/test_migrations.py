"""Every schema's migrations apply on an empty database and are idempotent."""

from __future__ import annotations

import psycopg

from drawdown import suite
from drawdown.auth import store as auth_store
from drawdown.config import SERVICES
from drawdown.db.migrations import current_revision
from drawdown.db.urls import libpq_url


def _tables(url: str) -> set[tuple[str, str]]:
    with psycopg.connect(libpq_url(url)) as conn:
        rows = conn.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema IN ('auth', 'metering', 'credits', 'invoicing')"
        ).fetchall()
    return {(schema, table) for schema, table in rows}


def test_migrations_apply_on_an_empty_database_and_again_without_change(empty_database_url: str) -> None:
    assert _tables(empty_database_url) == set()
    suite.migrate_all(empty_database_url)
    after_first = _tables(empty_database_url)
    revisions = {s.schema: current_revision(empty_database_url, s) for s in _migration_sets()}

    suite.migrate_all(empty_database_url)

    assert _tables(empty_database_url) == after_first
    assert {s.schema: current_revision(empty_database_url, s) for s in _migration_sets()} == revisions
    assert ("auth", "api_keys") in after_first
    for service in SERVICES:
        assert (service, "idempotency_keys") in after_first
        assert revisions[service] is not None


def _migration_sets():
    return [auth_store.MIGRATIONS, *(m for s in SERVICES for m in suite.definition(s).migrations)]
