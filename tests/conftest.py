"""Fixtures shared by every test: a real PostgreSQL and real servers on loopback.

The database is ``DRAWDOWN_TEST_DATABASE_URL`` when set (any PostgreSQL the tests may
create databases on), else an embedded PostgreSQL started for the session. Each test
that asks for ``database_url`` gets its own database, cloned from a migrated template,
so tests never see each other's rows.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import psycopg
import pytest

from drawdown import suite
from drawdown.db.embedded import start_embedded_postgres
from drawdown.db.urls import libpq_url, with_database
from tests.support.harness import Suite, start_suite


@pytest.fixture(scope="session")
def server_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A URL of a database on the test server, used to create and drop test databases."""
    configured = os.environ.get("DRAWDOWN_TEST_DATABASE_URL")
    if configured:
        return configured
    return start_embedded_postgres(tmp_path_factory.mktemp("drawdown-home"), database="postgres")


def _admin(server_url: str) -> psycopg.Connection:
    return psycopg.connect(libpq_url(server_url), autocommit=True)


@pytest.fixture(scope="session")
def template_database(server_url: str) -> Iterator[str]:
    """A database with every migration applied, cloned for each test."""
    name = f"drawdown_template_{uuid.uuid4().hex[:8]}"
    with _admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    suite.migrate_all(with_database(server_url, name))
    yield name
    with _admin(server_url) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _scratch_database(server_url: str, template: str | None) -> Iterator[str]:
    name = f"drawdown_test_{uuid.uuid4().hex[:12]}"
    with _admin(server_url) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield with_database(server_url, name)
    finally:
        with _admin(server_url) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(server_url: str, template_database: str) -> Iterator[str]:
    """A fresh, fully migrated database for one test."""
    yield from _scratch_database(server_url, template_database)


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A fresh database with nothing in it (for migration tests)."""
    yield from _scratch_database(server_url, None)


@pytest.fixture
async def running_suite(database_url: str) -> AsyncIterator[Suite]:
    """The three services on 127.0.0.1 port 0 against one test database, with an admin key."""
    async with start_suite(database_url) as started:
        yield started
